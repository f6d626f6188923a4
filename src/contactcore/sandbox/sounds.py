"""Custom prompts: the controller's wav files, copied where ``sound:contactcore/x`` finds them.

Each instance has its own data directory (``astdatadir``) of links to the shared data,
with a real ``sounds/contactcore`` of its own: instances started from different
checkouts never replace or delete each other's prompts.
"""

from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path, PurePosixPath

from contactcore.errors import SandboxError

RATE, CHANNELS, SAMPLE_WIDTH = 8000, 1, 2


def check_wav(path: Path) -> None:
    """Asterisk's wav format plays 8 kHz mono 16-bit only; anything else is refused here."""
    try:
        with wave.open(str(path), "rb") as w:
            shape = (w.getframerate(), w.getnchannels(), w.getsampwidth())
    except (wave.Error, EOFError, OSError) as exc:
        raise SandboxError(f"sandbox: prompt {path} is not a readable wav file ({exc})") from None
    if shape != (RATE, CHANNELS, SAMPLE_WIDTH):
        rate, channels, width = shape
        raise SandboxError(
            f"sandbox: prompt {path} is {rate} Hz, {channels} channel(s), {width * 8}-bit; "
            f"Asterisk needs 8000 Hz mono 16-bit: sox '{path}' -r 8000 -c 1 -b 16 OUT.wav"
        )


def sync_sounds(source: Path, target: Path, owner: tuple[int, int]) -> int:
    """Mirror ``source/*.wav`` into ``target``; returns how many files changed."""
    wavs = sorted(source.glob("*.wav")) if source.is_dir() else []
    for f in wavs:
        check_wav(f)
    changed = 0
    target.mkdir(parents=True, exist_ok=True)
    wanted = {f.name for f in wavs}
    for old in target.glob("*.wav"):
        if old.name not in wanted:
            old.unlink()
            changed += 1
    for f in wavs:
        dest = target / f.name
        data = f.read_bytes()
        if dest.is_file() and dest.read_bytes() == data:
            continue
        tmp = dest.with_suffix(".wav.tmp")
        tmp.write_bytes(data)
        shutil.chown(tmp, owner[0], owner[1])
        tmp.chmod(0o644)
        tmp.replace(dest)
        changed += 1
    return changed


def link_data_dir(shared: Path, chroot_shared: PurePosixPath, data: Path, own: str) -> None:
    """Fill an instance's data directory with links to ``shared`` (host path of the
    chroot's ``chroot_shared``), except ``sounds/<own>``, which is a real directory.

    Link targets are chroot paths (Asterisk resolves them inside the root filesystem);
    they are therefore compared by text, never followed from the host.
    """

    def link(entries: Path, chroot_dir: PurePosixPath, into: Path, skip: str) -> None:
        into.mkdir(parents=True, exist_ok=True)
        for entry in sorted(entries.iterdir()):
            if entry.name == skip:
                continue
            target, where = str(chroot_dir / entry.name), into / entry.name
            if where.is_symlink() and os.readlink(where) == target:
                continue
            if where.is_symlink():
                where.unlink()
            where.symlink_to(target)

    link(shared, chroot_shared, data, "sounds")
    link(shared / "sounds", chroot_shared / "sounds", data / "sounds", own)
    (data / "sounds" / own).mkdir(exist_ok=True)
