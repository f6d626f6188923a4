"""Custom prompts: the controller's wav files, copied where ``sound:contactcore/x`` finds them."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

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
