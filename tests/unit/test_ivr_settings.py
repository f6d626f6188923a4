from pathlib import Path

from contactcore.settings import load_settings


def test_ivr_settings_defaults_and_overrides(tmp_path: Path) -> None:
    s = load_settings(environ={})
    assert s.ivr.default_region == "US"  # the demo data is in the US
    assert (s.ivr.verify_max_attempts, s.ivr.verify_lock_seconds) == (3, 900.0)
    f = tmp_path / "c.toml"
    f.write_text('[ivr]\ndefault_region = "GB"\nverify_lock_seconds = 60\n')
    s = load_settings(f, environ={"CONTACTCORE_IVR__TTS_VOICE": "en-us"})
    assert (s.ivr.default_region, s.ivr.verify_lock_seconds, s.ivr.tts_voice) == ("GB", 60, "en-us")
