"""Custom prompts through the real espeak-ng + sox adapter."""

from __future__ import annotations

import asyncio
import subprocess
import wave
from pathlib import Path

import pytest

from contactcore.adapters.tts.espeak import EspeakSynthesizer
from contactcore.cli import main
from contactcore.ivr.model import PromptDef
from contactcore.ivr.prompts import PromptBuilder

pytestmark = pytest.mark.integration


def wav_format(path: Path) -> tuple[int, int, int, int]:
    with wave.open(str(path)) as w:
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()


def make_tone(path: Path) -> None:
    """A CD-quality stereo take, as a studio would deliver it."""
    argv = ["sox", "-n", "-r", "44100", "-c", "2", "-b", "16", str(path)]
    subprocess.run([*argv, "synth", "1.5", "sine", "440"], check=True)


def soxi(path: Path) -> dict[str, str]:
    out = subprocess.run(["soxi", str(path)], capture_output=True, text=True, check=True).stdout
    return {
        k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v
    }


async def test_prompts_are_generated_cached_and_overridden(tmp_path: Path) -> None:
    sounds, recorded = tmp_path / "sounds", tmp_path / "recorded"
    recorded.mkdir()
    builder = PromptBuilder(EspeakSynthesizer(), sounds, recorded, default_voice="en-gb")
    prompts = {
        "welcome": PromptDef(text="Welcome to Contact Core."),
        "closed": PromptDef(text="We are closed.", voice="en-us"),
    }
    report = await builder.build(prompts)
    assert sorted(report.generated) == ["closed", "welcome"]
    welcome = sounds / "welcome.wav"
    rate, channels, width, frames = wav_format(welcome)
    assert (rate, channels, width) == (8000, 1, 2)
    assert frames > 8000 * 0.5  # at least half a second of speech
    info = soxi(welcome)
    assert info["Sample Encoding"] == "16-bit Signed Integer PCM"
    assert info["Sample Rate"] == "8000"
    assert info["Channels"] == "1"
    assert not list(sounds.glob("*.tmp.wav"))

    # Second run: nothing changed, nothing generated.
    mtime = welcome.stat().st_mtime_ns
    report = await builder.build(prompts)
    assert sorted(report.cached) == ["closed", "welcome"]
    assert report.generated == []
    assert welcome.stat().st_mtime_ns == mtime

    # Changed text: only that prompt is made again.
    prompts["closed"] = PromptDef(text="We are closed today.", voice="en-us")
    report = await builder.build(prompts)
    assert (report.generated, report.cached) == (["closed"], ["welcome"])

    # A recording with the same name replaces the voice, converted to the same format.
    take = recorded / "welcome.wav"
    await asyncio.to_thread(make_tone, take)
    report = await builder.build(prompts)
    assert report.recorded == ["welcome"]
    assert (*wav_format(welcome)[:3], wav_format(welcome)[3]) == (8000, 1, 2, 12000)
    report = await builder.build(prompts)
    assert sorted(report.cached) == ["closed", "welcome"]

    # Removing the recording brings the generated voice back.
    take.unlink()
    report = await builder.build(prompts)
    assert report.generated == ["welcome"]
    assert wav_format(welcome)[3] != 12000


async def test_text_is_never_read_as_options(tmp_path: Path) -> None:
    out = tmp_path / "dash.wav"
    await EspeakSynthesizer().synthesize("--help me, -v 5", "en-gb", out)
    assert wav_format(out)[:3] == (8000, 1, 2)


DEMO = Path(__file__).resolve().parents[2] / "dialplans"


async def test_cli_generates_demo_prompts(tmp_path: Path) -> None:
    demo = DEMO
    sounds = tmp_path / "sounds"
    code = await asyncio.to_thread(
        main,
        [
            "flows",
            "prompts",
            str(demo),
            "--sounds-dir",
            str(sounds),
            "--recorded-dir",
            str(tmp_path / "none"),
        ],
    )
    assert code == 0
    names = sorted(p.stem for p in sounds.glob("*.wav"))
    assert {"welcome", "main-menu", "closed"} <= set(names)
