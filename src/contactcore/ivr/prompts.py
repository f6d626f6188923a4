"""Custom prompts: text from the flow files turned into sound files, cached.

A prompt ``name`` becomes ``<sounds_dir>/<name>.wav`` (played as
``sound:contactcore/<name>`` once the sounds directory is installed into
Asterisk as ``sounds/contactcore``). A file ``<recorded_dir>/<name>.wav`` replaces
the generated voice. Each output has a stamp holding the hash of what produced it
(text, voice and format, or the recording's bytes): unchanged prompts are not
generated again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from contactcore.core.tts import SpeechSynthesizer
from contactcore.ivr.model import PromptDef

log = logging.getLogger(__name__)


@dataclass
class PromptReport:
    generated: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)


def _stamp_matches(target: Path, stamp: Path, key: str) -> bool:
    return target.is_file() and stamp.is_file() and stamp.read_text() == key


class PromptBuilder:
    def __init__(
        self,
        synthesizer: SpeechSynthesizer,
        sounds_dir: Path,
        recorded_dir: Path | None = None,
        default_voice: str = "en-gb",
    ) -> None:
        self.synthesizer = synthesizer
        self.sounds_dir = sounds_dir
        self.recorded_dir = recorded_dir
        self.default_voice = default_voice

    def recording_for(self, name: str) -> Path | None:
        if self.recorded_dir is None:
            return None
        path = self.recorded_dir / f"{name}.wav"
        return path if path.is_file() else None

    def cache_key(self, name: str, prompt: PromptDef) -> str:
        digest = hashlib.sha256()
        digest.update(self.synthesizer.format_tag.encode())
        recording = self.recording_for(name)
        if recording is not None:
            digest.update(b"\0recorded\0" + recording.read_bytes())
        else:
            voice = prompt.voice or self.default_voice
            digest.update(b"\0tts\0" + voice.encode() + b"\0" + prompt.text.encode())
        return digest.hexdigest()

    def path_for(self, name: str) -> Path:
        return self.sounds_dir / f"{name}.wav"

    async def build(self, prompts: Mapping[str, PromptDef]) -> PromptReport:
        """Make every prompt's sound file that is missing or out of date."""
        report = PromptReport()
        self.sounds_dir.mkdir(parents=True, exist_ok=True)
        for name, prompt in sorted(prompts.items()):
            target = self.path_for(name)
            stamp = self.sounds_dir / f".{name}.sha256"
            # Hashing a recording reads the whole file: keep it off the event loop.
            key = await asyncio.to_thread(self.cache_key, name, prompt)
            if await asyncio.to_thread(_stamp_matches, target, stamp, key):
                report.cached.append(name)
                continue
            tmp = self.sounds_dir / f".{name}.tmp.wav"
            recording = self.recording_for(name)
            try:
                if recording is not None:
                    await self.synthesizer.convert(recording, tmp)
                else:
                    voice = prompt.voice or self.default_voice
                    await self.synthesizer.synthesize(prompt.text, voice, tmp)
                os.replace(tmp, target)  # players never see a half-written file
            finally:
                tmp.unlink(missing_ok=True)
            stamp.write_text(key)
            (report.recorded if recording is not None else report.generated).append(name)
            log.info("prompt %s: %s", name, "from recording" if recording else "generated")
        return report
