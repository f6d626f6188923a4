import re
from dataclasses import replace
from pathlib import Path

import pytest

from contactcore.errors import SandboxError
from contactcore.sandbox.config import (
    RenderValues,
    default_config_dir,
    needs_restart,
    pjsip_sections,
    render_config,
    render_text,
)
from contactcore.sandbox.paths import InstancePaths
from contactcore.sandbox.service import SandboxConfig
from contactcore.settings import load_settings

VALUES = RenderValues(
    instance="test",
    sip_port=5062,
    ari_port=8090,
    rtp_start=21000,
    rtp_end=21999,
    ari_username="ccuser",
    ari_password="s3cret-pass",
    ari_app="ccapp",
)
PATHS = InstancePaths(Path("/srv/rootfs"), "test")


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return render_config(default_config_dir(), VALUES, PATHS)


def _settings_of(text: str, section: str) -> dict[str, str]:
    body = pjsip_sections(text)[section]
    return dict(
        (k.strip(), v.strip()) for k, _, v in (line.partition("=") for line in body.splitlines())
    )


def test_every_placeholder_is_filled(files: dict[str, str]) -> None:
    assert {"asterisk.conf", "modules.conf", "pjsip.conf", "extensions.conf", "ari.conf"} <= set(
        files
    )
    for name, text in files.items():
        assert "@@" not in text, name


def test_ports_and_credentials_come_from_settings(files: dict[str, str]) -> None:
    assert _settings_of(files["http.conf"], "general")["bindport"] == "8090"
    assert _settings_of(files["http.conf"], "general")["bindaddr"] == "127.0.0.1"
    assert _settings_of(files["pjsip.conf"], "transport-udp")["bind"] == "127.0.0.1:5062"
    rtp = _settings_of(files["rtp.conf"], "general")
    assert (rtp["rtpstart"], rtp["rtpend"]) == ("21000", "21999")
    user = _settings_of(files["ari.conf"], "ccuser")
    assert user == {
        "type": "user",
        "read_only": "no",
        "password_format": "plain",
        "password": "s3cret-pass",
    }
    assert "Stasis(ccapp,incoming)" in files["extensions.conf"]


def test_instance_directories_in_asterisk_conf(files: dict[str, str]) -> None:
    dirs = _settings_of(files["asterisk.conf"].replace("=>", "="), "directories")
    assert dirs["astetcdir"] == "/etc/asterisk-test"
    assert dirs["astrundir"] == "/run/asterisk-test"
    assert dirs["astlogdir"] == "/var/log/asterisk-test"
    assert dirs["astspooldir"] == "/var/spool/asterisk-test"
    assert dirs["astdbdir"] == "/var/lib/asterisk-test"


def test_pjsip_identifies_agents_before_the_caller_address(files: dict[str, str]) -> None:
    pjsip = files["pjsip.conf"]
    assert _settings_of(pjsip, "global")["endpoint_identifier_order"] == "username,ip,anonymous"
    caller = _settings_of(pjsip, "caller-identify")
    assert caller == {"type": "identify", "endpoint": "caller", "match": "127.0.0.1"}
    media = _settings_of(pjsip, "media-loopback")
    assert media["direct_media"] == "no"
    assert media["dtmf_mode"] == "rfc4733"
    assert media["media_address"] == "127.0.0.1"


def test_thirty_agents_with_digest_auth(files: dict[str, str]) -> None:
    agents = files["pjsip_agents.conf"]
    names = re.findall(r"^\[(agent\d+)\]\(agent-endpoint\)$", agents, re.M)
    assert names == [f"agent{n}" for n in range(1001, 1031)]
    for n in (1001, 1006, 1030):
        assert f"username = agent{n}\npassword = pw-agent{n}\n" in agents
    aor = _settings_of(files["pjsip.conf"], "agent-aor")
    assert aor["max_contacts"] == "1"
    assert aor["remove_existing"] == "yes"


def test_modules_are_listed_explicitly(files: dict[str, str]) -> None:
    loads = set(re.findall(r"^load = (\S+)$", files["modules.conf"], re.M))
    assert "autoload = no" in files["modules.conf"]
    must = {
        "chan_pjsip.so", "res_pjsip_pubsub.so", "res_ari.so", "res_stasis.so", "app_stasis.so",
        "res_http_websocket.so", "res_rtp_asterisk.so", "res_musiconhold.so",
        "res_stasis_recording.so", "res_stasis_snoop.so", "bridge_softmix.so",
        "codec_ulaw.so", "format_wav.so", "pbx_config.so", "res_ari_channels.so",
    }  # fmt: skip
    assert must <= loads


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(SandboxError, match="@@NOPE@@"):
        render_text("x.conf", "a = @@NOPE@@\n", {"SIP_PORT": "5060"})


@pytest.mark.parametrize("password", ["semi;colon", "new\nline", " padded ", "br[ack]et"])
def test_password_that_would_break_ari_conf(password: str) -> None:
    with pytest.raises(SandboxError, match=r"ari\.password"):
        replace(VALUES, ari_password=password).check()


def test_ports_inside_the_rtp_range_are_refused() -> None:
    with pytest.raises(SandboxError, match="sip_port 21500 lies inside"):
        replace(VALUES, sip_port=21500).check()
    with pytest.raises(SandboxError, match="RTP range"):
        replace(VALUES, rtp_start=21999, rtp_end=21000).check()


def test_missing_config_dir(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match=r"asterisk\.conf"):
        render_config(tmp_path, VALUES, PATHS)


def test_reload_or_restart(files: dict[str, str]) -> None:
    assert not needs_restart(files, dict(files))
    other_agents = {**files, "pjsip_agents.conf": files["pjsip_agents.conf"] + "\n; note\n"}
    assert not needs_restart(files, other_agents)
    new_dialplan = {**files, "extensions.conf": files["extensions.conf"] + "\n[more]\n"}
    assert not needs_restart(files, new_dialplan)
    moved = render_config(default_config_dir(), replace(VALUES, sip_port=5064), PATHS)
    assert needs_restart(files, moved)
    new_http = render_config(default_config_dir(), replace(VALUES, ari_port=8094), PATHS)
    assert needs_restart(files, new_http)


def test_config_from_settings_and_env() -> None:
    settings = load_settings(
        environ={
            "CONTACTCORE_SANDBOX__SIP_PORT": "5062",
            "CONTACTCORE_SANDBOX__ARI_PORT": "8090",
            "CONTACTCORE_SANDBOX__INSTANCE": "test",
        }
    )
    config = SandboxConfig.from_settings(settings)
    assert (config.instance, config.sip_port, config.ari_port) == ("test", 5062, 8090)
    assert config.sandbox_ari_url == "http://127.0.0.1:8090"
    assert SandboxConfig.from_settings(settings, "other").instance == "other"
