"""Prompts, SIPp helpers and port checks (no Asterisk needed)."""

import os
import socket
import wave
from pathlib import Path, PurePosixPath

import pytest

from contactcore.errors import SandboxError
from contactcore.sandbox import process, rootfs
from contactcore.sandbox.sipp import _last_stats, dtmf_pcap, with_digit
from contactcore.sandbox.sounds import check_wav, link_data_dir, sync_sounds

SIPP_DIR = Path(__file__).resolve().parents[1] / "e2e" / "sipp"


def _wav(path: Path, rate: int = 8000, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes(rate * width * channels // 10))
    return path


def test_wrong_wav_format_says_how_to_convert(tmp_path: Path) -> None:
    check_wav(_wav(tmp_path / "ok.wav"))
    with pytest.raises(SandboxError, match=r"sox .* -r 8000 -c 1 -b 16"):
        check_wav(_wav(tmp_path / "wide.wav", rate=16000))
    (tmp_path / "junk.wav").write_bytes(b"not a wav")
    with pytest.raises(SandboxError, match="not a readable wav"):
        check_wav(tmp_path / "junk.wav")


def test_sync_sounds_mirrors_the_directory(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    _wav(src / "welcome.wav")
    owner = (os.getuid(), os.getgid())
    assert sync_sounds(src, dst, owner) == 1
    assert sync_sounds(src, dst, owner) == 0
    (src / "welcome.wav").unlink()
    _wav(src / "menu.wav")
    assert sync_sounds(src, dst, owner) == 2
    assert [f.name for f in dst.iterdir()] == ["menu.wav"]
    assert sync_sounds(tmp_path / "absent", dst, owner) == 1


def test_dtmf_copy_plays_the_chosen_digit(tmp_path: Path) -> None:
    copy = with_digit(SIPP_DIR / "caller_dtmf.xml", "7", tmp_path)
    text = copy.read_text()
    assert "/usr/share/sip-tester/dtmf_2833_7.pcap" in text
    assert "dtmf_2833_1.pcap" not in text
    assert dtmf_pcap("#").name == "dtmf_2833_pound.pcap"
    with pytest.raises(SandboxError, match="0-9"):
        dtmf_pcap("12")
    with pytest.raises(SandboxError, match="plays no"):
        with_digit(SIPP_DIR / "caller_basic.xml", "7", tmp_path)


def test_statistics_are_read_from_the_last_line(tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    f.write_text("StartTime;SuccessfulCall(C);FailedCall(C);\nt0;0;0;\nt1;49;1;\n")
    stats = _last_stats(f)
    assert stats["SuccessfulCall(C)"] == "49"
    assert stats["FailedCall(C)"] == "1"
    assert _last_stats(tmp_path / "absent.csv") == {}


def test_port_owner_names_the_process() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert not process.port_free("udp", "127.0.0.1", port)
        owner = process.port_owner("udp", port)
        assert owner is not None
        assert owner[0] == os.getpid()
    assert process.port_free("udp", "127.0.0.1", port)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not process.port_free("tcp", "127.0.0.1", port)
        assert process.port_owner("tcp", port) == (
            os.getpid(),
            process.PROC.joinpath("self", "comm").read_text().strip(),
        )


def test_no_server_is_found_in_an_empty_root(tmp_path: Path) -> None:
    assert process.find_servers(tmp_path, "/etc/asterisk-x/asterisk.conf") == []
    assert process.uptime_seconds(os.getpid()) is not None


def test_missing_debootstrap_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rootfs, "SBIN_DIRS", ())
    with pytest.raises(SandboxError, match="apt-get install debootstrap"):
        rootfs.build(
            tmp_path / "rootfs", suite="forky", mirror="http://m.example.org/debian", uid=64060,
            progress=print,
        )  # fmt: skip
    assert not (tmp_path / "rootfs").exists()


def test_debootstrap_lines_become_phases() -> None:
    assert rootfs._phase("I: Retrieving libc6 2.43-7") == "downloading packages"
    assert rootfs._phase("I: Unpacking asterisk...") == "unpacking packages"
    assert rootfs._phase("I: Configuring asterisk...") == "configuring packages"
    assert rootfs._phase("W: something odd") is None


def test_nothing_is_mounted_under_a_fresh_directory(tmp_path: Path) -> None:
    assert rootfs.mounts_under(tmp_path) == []
    (tmp_path / "partial" / "etc").mkdir(parents=True)
    rootfs.remove_tree(tmp_path / "partial")
    assert not (tmp_path / "partial").exists()


def test_a_foreign_directory_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SandboxError, match="not a sandbox root filesystem"):
        rootfs.build(
            tmp_path, suite="forky", mirror="http://m.example.org/debian", uid=64060,
            progress=print,
        )  # fmt: skip
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_each_instance_gets_its_own_prompts_beside_links_to_the_shared_data(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "usr/share/asterisk"
    (shared / "moh").mkdir(parents=True)
    (shared / "sounds/en").mkdir(parents=True)
    (shared / "sounds/contactcore").mkdir()  # an old shared prompt folder: not linked
    chroot = PurePosixPath("/usr/share/asterisk")
    a, b = tmp_path / "usr/share/asterisk-a", tmp_path / "usr/share/asterisk-b"
    for data in (a, b):
        link_data_dir(shared, chroot, data, "contactcore")
    assert os.readlink(a / "moh") == "/usr/share/asterisk/moh"
    assert os.readlink(a / "sounds/en") == "/usr/share/asterisk/sounds/en"
    assert not (a / "sounds").is_symlink()
    own = a / "sounds/contactcore"
    assert own.is_dir()
    assert not own.is_symlink()
    (own / "welcome.wav").write_bytes(b"x")
    assert not (b / "sounds/contactcore/welcome.wav").exists()  # b has its own
    (a / "moh").unlink()
    (a / "moh").symlink_to("/elsewhere")
    link_data_dir(shared, chroot, a, "contactcore")  # again: links put right, prompts kept
    assert os.readlink(a / "moh") == "/usr/share/asterisk/moh"
    assert (own / "welcome.wav").read_bytes() == b"x"
