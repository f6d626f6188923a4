from pathlib import Path

import pytest

from contactcore.errors import SandboxError
from contactcore.sandbox.mirror import (
    mirror_from_apt,
    pick_mirror,
    resolve_mirror,
    uris_from_deb822,
    uris_from_list,
)

DEB822 = """\
Types: deb
# a comment line inside the stanza
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_lists_uris_of_deb_stanzas() -> None:
    assert uris_from_deb822(DEB822) == [
        "http://mirror.example.org/debian",
        "http://mirror.example.org/debian-security",
    ]


def test_deb822_skips_source_only_and_disabled_stanzas() -> None:
    text = (
        "Types: deb-src\nURIs: http://src.example.org/debian\n\n"
        "Types: deb\nEnabled: no\nURIs: http://off.example.org/debian\n\n"
        "Types: deb deb-src\nURIs: http://on.example.org/debian/\n"
    )
    assert uris_from_deb822(text) == ["http://on.example.org/debian/"]


def test_classic_list_with_options_and_comments() -> None:
    text = (
        "# deb http://commented.example.org/debian bookworm main\n"
        "deb-src http://src.example.org/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://opt.example.org/debian bookworm main\n"
        "deb http://plain.example.org/debian bookworm main # trailing\n"
    )
    assert uris_from_list(text) == [
        "http://opt.example.org/debian",
        "http://plain.example.org/debian",
    ]


def test_pick_skips_security_and_foreign_archives() -> None:
    uris = [
        "https://packages.example.com/apt",
        "http://sec.example.org/debian-security",
        "http://security.example.org/debian",
        "http://ftp.example.org/debian/",
    ]
    assert pick_mirror(uris) == "http://ftp.example.org/debian"
    assert pick_mirror(uris[:3]) is None


def test_mirror_from_apt_reads_both_formats(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "other.list").write_text(
        "deb https://packages.example.com/apt stable main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert mirror_from_apt(tmp_path) == "http://mirror.example.org/debian"


def test_classic_sources_list_wins_when_first(tmp_path: Path) -> None:
    (tmp_path / "sources.list").write_text("deb http://classic.example.org/debian sid main\n")
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    assert mirror_from_apt(tmp_path) == "http://classic.example.org/debian"


def test_setting_wins_and_missing_mirror_says_what_to_do(tmp_path: Path) -> None:
    assert resolve_mirror("http://set.example.org/debian/", tmp_path) == (
        "http://set.example.org/debian"
    )
    with pytest.raises(SandboxError, match="CONTACTCORE_SANDBOX__MIRROR"):
        resolve_mirror(None, tmp_path)
