"""The project's ``asterisk/`` files, rendered for one instance.

The files are plain Asterisk configuration with ``@@NAME@@`` placeholders for the
few values that come from settings. Rendering is strict: an unknown placeholder or a
value that would corrupt an Asterisk config line is an error, not a silent blank.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from contactcore.errors import SandboxError
from contactcore.sandbox.paths import InstancePaths

_PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")
_SAFE_VALUE = re.compile(r"^[^;\n\r\[\]]+$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

# Files whose change only takes effect when Asterisk restarts (a reload is not enough).
RESTART_FILES = frozenset({"asterisk.conf", "modules.conf", "http.conf", "logger.conf"})
# pjsip.conf sections read at start-up only (the transport cannot be re-bound by reload).
RESTART_PJSIP_SECTIONS = frozenset({"global", "transport-udp"})


def default_config_dir() -> Path:
    """``asterisk/`` at the top of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "asterisk"


@dataclass(frozen=True)
class RenderValues:
    """The settings that reach Asterisk's configuration."""

    instance: str
    sip_port: int
    ari_port: int
    rtp_start: int
    rtp_end: int
    ari_username: str
    ari_password: str
    ari_app: str

    def check(self) -> None:
        if not self.rtp_start < self.rtp_end:
            raise SandboxError(
                f"sandbox: RTP range {self.rtp_start}-{self.rtp_end} is empty: set "
                "sandbox.rtp_start below sandbox.rtp_end (CONTACTCORE_SANDBOX__RTP_START/_END)"
            )
        ports = {"sip_port": self.sip_port, "ari_port": self.ari_port}
        for key, port in ports.items():
            if self.rtp_start <= port <= self.rtp_end:
                raise SandboxError(
                    f"sandbox: {key} {port} lies inside the RTP range "
                    f"{self.rtp_start}-{self.rtp_end}: move one of them"
                )
        for key, name in (("ari.username", self.ari_username), ("ari.app", self.ari_app)):
            if not _SAFE_NAME.match(name):
                raise SandboxError(
                    f"sandbox: {key} {name!r} cannot be used in Asterisk's configuration: "
                    "use letters, digits, '_', '.' and '-' only"
                )
        if (
            not _SAFE_VALUE.match(self.ari_password)
            or self.ari_password != self.ari_password.strip()
        ):
            raise SandboxError(
                "sandbox: ari.password cannot be written to ari.conf (it contains ';', "
                "'[', ']', a line break or surrounding spaces): choose another password"
            )


def placeholders(values: RenderValues, paths: InstancePaths) -> dict[str, str]:
    return {
        "INSTANCE": values.instance,
        "SIP_PORT": str(values.sip_port),
        "ARI_PORT": str(values.ari_port),
        "RTP_START": str(values.rtp_start),
        "RTP_END": str(values.rtp_end),
        "ARI_USERNAME": values.ari_username,
        "ARI_PASSWORD": values.ari_password,
        "ARI_APP": values.ari_app,
        "ETC_DIR": str(paths.chroot_etc),
        "RUN_DIR": str(paths.chroot_run),
        "LOG_DIR": str(paths.chroot_log),
        "SPOOL_DIR": str(paths.chroot_spool),
        "DB_DIR": str(paths.chroot_db),
        "CACHE_DIR": str(paths.chroot_cache),
        "DATA_DIR": str(paths.chroot_data),
    }


def render_text(name: str, text: str, mapping: Mapping[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in mapping:
            raise SandboxError(
                f"sandbox: asterisk/{name} uses unknown placeholder @@{key}@@: "
                f"known ones are {', '.join(sorted(mapping))}"
            )
        return mapping[key]

    return _PLACEHOLDER.sub(sub, text)


def render_config(config_dir: Path, values: RenderValues, paths: InstancePaths) -> dict[str, str]:
    """File name -> rendered text for every ``*.conf`` in ``config_dir``."""
    if not (config_dir / "asterisk.conf").is_file():
        raise SandboxError(
            f"sandbox: Asterisk configuration not found in {config_dir} (no asterisk.conf): "
            "run contactcore from its source checkout, which holds asterisk/"
        )
    values.check()
    mapping = placeholders(values, paths)
    return {
        f.name: render_text(f.name, f.read_text(), mapping)
        for f in sorted(config_dir.glob("*.conf"))
    }


def pjsip_sections(text: str) -> dict[str, str]:
    """Section name -> its lines (comments dropped), enough to compare two versions."""
    out: dict[str, str] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            current = line[1:].split("]", 1)[0]
            out.setdefault(current, "")
            continue
        out[current] = out.get(current, "") + line + "\n"
    return out


def needs_restart(old: Mapping[str, str], new: Mapping[str, str]) -> bool:
    """Whether moving from ``old`` to ``new`` config needs a restart, not a reload."""
    for name in set(old) | set(new):
        if old.get(name) == new.get(name):
            continue
        if name in RESTART_FILES:
            return True
        if name == "pjsip.conf":
            before = pjsip_sections(old.get(name, ""))
            after = pjsip_sections(new.get(name, ""))
            if any(before.get(s) != after.get(s) for s in RESTART_PJSIP_SECTIONS):
                return True
    return False


def installed_config(etc_dir: Path) -> dict[str, str]:
    if not etc_dir.is_dir():
        return {}
    return {f.name: f.read_text() for f in sorted(etc_dir.glob("*.conf")) if f.is_file()}
