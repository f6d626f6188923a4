"""ID&V rules: E.164 normalisation and argon2 PIN hashes."""

from __future__ import annotations

import pytest

from contactcore.ivr.idv import hash_pin, normalise_e164, pin_matches


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("01632 960001", "GB", "+441632960001"),
        ("+44 1632 960001", "US", "+441632960001"),
        ("0044 1632 960001", "GB", "+441632960001"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("030 1234567", "DE", "+49301234567"),
        ("anonymous", "GB", None),
        ("12", "GB", None),
        ("", "GB", None),
        (None, "GB", None),
    ],
)
def test_normalise_e164(raw: str | None, region: str, e164: str | None) -> None:
    assert normalise_e164(raw, region) == e164


def test_pins_are_salted_argon2_hashes() -> None:
    first, second = hash_pin("1234"), hash_pin("1234")
    assert first.startswith("$argon2")
    assert first != second  # salted
    assert "1234" not in first
    assert pin_matches(first, "1234")
    assert not pin_matches(first, "1235")
    assert not pin_matches("not a hash", "1234")
