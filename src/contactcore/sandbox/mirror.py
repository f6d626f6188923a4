"""Which Debian mirror to build from: the one the machine's own apt sources name.

The project never names a mirror host itself; a setting (``sandbox.mirror``) wins,
otherwise the main Debian archive from ``/etc/apt/sources.list`` and
``/etc/apt/sources.list.d/*.{list,sources}`` is used (the security archive is not a
full mirror, so it is skipped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from contactcore.errors import SandboxError

APT_DIR = Path("/etc/apt")


def _is_debian_main(uri: str) -> bool:
    uri = uri.rstrip("/")
    if not uri.startswith(("http://", "https://", "file:/", "ftp://")):
        return False
    if "security" in uri.lower():
        return False
    # The main archive is served under .../debian (not debian-security, debian-ports, ...).
    return uri.endswith("/debian") or uri.rsplit("/", 1)[-1] == "debian"


def uris_from_deb822(text: str) -> list[str]:
    """``URIs:`` of the enabled ``Types: deb`` stanzas of a ``.sources`` file."""
    out: list[str] = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        out.extend(fields.get("uris", "").split())
    return out


def uris_from_list(text: str) -> list[str]:
    """URIs of the ``deb`` lines of a classic ``sources.list``."""
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        parts = line.split()
        if not parts or parts[0] != "deb":
            continue
        rest = parts[1:]
        if rest and rest[0].startswith("["):
            # Options such as [arch=amd64 signed-by=...] may span several words.
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if rest:
            out.append(rest[0])
    return out


def pick_mirror(uris: Iterable[str]) -> str | None:
    for uri in uris:
        if _is_debian_main(uri):
            return uri.rstrip("/")
    return None


def mirror_from_apt(apt_dir: Path = APT_DIR) -> str | None:
    uris: list[str] = []
    classic = apt_dir / "sources.list"
    if classic.is_file():
        uris += uris_from_list(classic.read_text(errors="replace"))
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for f in sorted(parts.iterdir()):
            if f.suffix == ".sources":
                uris += uris_from_deb822(f.read_text(errors="replace"))
            elif f.suffix == ".list":
                uris += uris_from_list(f.read_text(errors="replace"))
    return pick_mirror(uris)


def resolve_mirror(setting: str | None, apt_dir: Path = APT_DIR) -> str:
    if setting:
        return setting.rstrip("/")
    found = mirror_from_apt(apt_dir)
    if found is None:
        raise SandboxError(
            f"sandbox: no Debian mirror found in {apt_dir}/sources.list(.d): "
            "set sandbox.mirror in contactcore.toml or CONTACTCORE_SANDBOX__MIRROR "
            "(a Debian archive URL ending in /debian)"
        )
    return found
