"""Prompt audio with espeak-ng and sox, as Asterisk plays best.

Output is 8 kHz mono 16-bit signed-linear WAV: for ulaw/alaw calls Asterisk
converts it with a cheap table lookup instead of resampling each playback.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from contactcore.errors import ContactcoreError, DependencyUnavailable

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
_SOX_OUTPUT = ["-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer"]


class SpeechSynthesisFailed(ContactcoreError):
    error_id = "tts.failed"


class EspeakSynthesizer:
    """Implements ``core.tts.SpeechSynthesizer`` by running espeak-ng and sox."""

    def __init__(
        self,
        *,
        speed: int = 160,
        timeout: float = 30.0,
        espeak: str = "espeak-ng",
        sox: str = "sox",
    ) -> None:
        self.speed = speed
        self.timeout = timeout
        self.espeak = espeak
        self.sox = sox

    @property
    def format_tag(self) -> str:
        return f"espeak-ng:s{self.speed}/wav-{SAMPLE_RATE}-mono-s16"

    async def synthesize(self, text: str, voice: str, out_path: Path) -> None:
        raw = out_path.with_name(out_path.name + ".espeak.wav")
        try:
            # Text goes on stdin so that nothing in it is read as an option.
            await self._run(
                [self.espeak, "-v", voice, "-s", str(self.speed), "--stdin", "-w", str(raw)],
                stdin=text.encode("utf-8"),
            )
            await self._run([self.sox, str(raw), *_SOX_OUTPUT, str(out_path)])
        finally:
            raw.unlink(missing_ok=True)

    async def convert(self, source: Path, out_path: Path) -> None:
        await self._run([self.sox, str(source), *_SOX_OUTPUT, str(out_path)])

    async def _run(self, argv: list[str], stdin: bytes | None = None) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env={**os.environ, "LC_ALL": "C.UTF-8"},
            )
        except FileNotFoundError:
            raise DependencyUnavailable(
                f"tts: '{argv[0]}' is not installed (apt-get install espeak-ng sox)"
            ) from None
        try:
            async with asyncio.timeout(self.timeout):
                _, err = await proc.communicate(stdin)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise SpeechSynthesisFailed(
                f"tts: {argv[0]} took longer than {self.timeout:.0f} s"
            ) from None
        if proc.returncode != 0:
            detail = err.decode("utf-8", "replace").strip().splitlines()
            raise SpeechSynthesisFailed(
                f"tts: {argv[0]} failed ({proc.returncode}): {detail[-1] if detail else ''}"
            )
        log.debug("tts: ran %s", argv[0])
