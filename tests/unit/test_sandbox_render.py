from pathlib import Path

import pytest

from contactcore.cli import main


def test_render_writes_every_file_with_settings_filled_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTACTCORE_ARI__PASSWORD", "rendered-secret")
    monkeypatch.setenv("CONTACTCORE_SANDBOX__SIP_PORT", "5099")
    monkeypatch.setenv("CONTACTCORE_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "none.toml").write_text("")
    assert main(["sandbox", "render", "--out", str(tmp_path / "etc")]) == 0
    files = {p.name: p.read_text() for p in (tmp_path / "etc").glob("*.conf")}
    assert {"asterisk.conf", "pjsip.conf", "ari.conf", "extensions.conf"} <= set(files)
    assert not [name for name, text in files.items() if "@@" in text]
    assert "password = rendered-secret" in files["ari.conf"]
    assert "bind = 127.0.0.1:5099" in files["pjsip.conf"]
