"""Port for turning prompt text into telephone audio.

Capabilities may not run external programs; an adapter (espeak-ng + sox) does,
behind this interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class SpeechSynthesizer(Protocol):
    @property
    def format_tag(self) -> str:
        """Identifies the output format and engine version, so a change invalidates caches."""
        ...

    async def synthesize(self, text: str, voice: str, out_path: Path) -> None:
        """Write ``text`` spoken with ``voice`` to ``out_path`` as telephone WAV."""
        ...

    async def convert(self, source: Path, out_path: Path) -> None:
        """Convert a recorded audio file to the same telephone WAV format."""
        ...
