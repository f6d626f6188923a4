"""The demo data set is self-consistent, before any database is involved."""

from __future__ import annotations

import phonenumbers

from contactcore.adapters.db.demo import AGENTS, CUSTOMERS, DEMO_REGION, QUEUES, SKILLS


def test_phone_numbers_are_valid_e164_in_the_demo_region() -> None:
    numbers = [n for c in CUSTOMERS for n in c.phones]
    assert len(numbers) == len(set(numbers))
    for n in numbers:
        parsed = phonenumbers.parse(n, DEMO_REGION)
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == n
        assert phonenumbers.is_valid_number(parsed), n
        assert phonenumbers.region_code_for_number(parsed) == DEMO_REGION


def test_customers_cover_every_tier_with_distinct_accounts() -> None:
    assert {c.tier for c in CUSTOMERS} == {"vip", "a", "b"}
    assert len({c.account_number for c in CUSTOMERS}) == len(CUSTOMERS)
    assert all(c.pin.isdigit() and len(c.pin) == 4 for c in CUSTOMERS)


def test_agents_use_sandbox_endpoints_and_known_skills() -> None:
    desks = [a for a in AGENTS if a.role == "agent"]
    assert [a.sip_endpoint for a in desks] == [f"agent{n}" for n in range(1001, 1007)]
    assert all(a.username == a.sip_endpoint for a in desks)
    assert all(a.password == f"demo-{a.username}" for a in AGENTS)
    assert {a.role for a in AGENTS} == {"agent", "supervisor", "admin"}
    for a in desks:
        assert set(a.skills) <= set(SKILLS)
        assert all(1 <= level <= 10 for level in a.skills.values())
        assert a.capacities["voice"] == 1


def test_queues_are_servable_and_relax_monotonically() -> None:
    assert set(QUEUES) == {"general", "billing", "support", "vip"}
    assert QUEUES["general"][1]["entry_numbers"] == ["100"]
    for name, (_tz, config) in QUEUES.items():
        assert set(config["skills"]) <= set(SKILLS), name
        steps = config["relaxation"]
        assert [s["after_seconds"] for s in steps] == sorted(s["after_seconds"] for s in steps)
        assert [s["min_level"] for s in steps] == sorted(
            (s["min_level"] for s in steps), reverse=True
        )
        overflow = config["overflow"]
        assert overflow is None or overflow["queue"] in QUEUES
        # Every required skill is held by at least one demo agent at some level.
        for skill in config["skills"]:
            assert any(skill in a.skills for a in AGENTS), (name, skill)
