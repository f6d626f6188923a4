"""The demo data set: small, realistic, and idempotent to load.

Rows are matched by natural key (skill and queue name, username, account number) and
updated in place, and a stored argon2 hash is kept while it still matches the demo
secret, so seeding twice changes nothing. Phone numbers are E.164 in the demo region
US, from the fictional range 555-0100..0199 (never a real subscriber). Not the UK
drama range +44 7700 900xxx: libphonenumber (``phonenumbers``) reports those numbers
as invalid, so validation in ID&V and callbacks would refuse them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher

from contactcore.adapters.db.database import Database
from contactcore.adapters.db.hashing import verify_secret_async

log = logging.getLogger(__name__)

DEMO_REGION = "US"

# The demo secrets are printed for everyone to try, so a slow hash protects nothing:
# cheap argon2id parameters keep seeding quick. Verification reads the parameters
# from the hash, so these verify like any other.
_DEMO_HASHER = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)


async def hash_secret_async(secret: str) -> str:
    return await asyncio.to_thread(_DEMO_HASHER.hash, secret)


SKILLS = ("billing", "tech_support", "sales", "english", "german")

_ALWAYS_OPEN = {
    day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
}
_RELAXATION = [
    {"after_seconds": 0, "min_level": 7},
    {"after_seconds": 30, "min_level": 4},
    {"after_seconds": 90, "min_level": 1},
]


def _queue_config(
    skills: dict[str, int], *, entry_numbers: list[str] | None = None, **overrides: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "entry_numbers": entry_numbers or [],
        "channels": ["voice", "callback", "chat", "email"],
        "skills": skills,
        "strategy": "longest_idle",
        "relaxation": _RELAXATION,
        "service_level": {"percent": 80, "seconds": 20},
        "offer_timeout_seconds": 15,
        "wrap_up_seconds": 10,
        "max_wait_seconds": 600,
        "overflow": None,
        "announce": {"position": True, "wait_time": True, "every_seconds": 30},
        "moh_class": "default",
        "recording": False,
        "callback": {"offer_above_ewt_seconds": 120, "max_attempts": 3, "retry_seconds": 120},
        "hours": _ALWAYS_OPEN,
        "holidays": [],
    }
    config.update(overrides)
    return config


# name -> (timezone, config)
QUEUES: dict[str, tuple[str, dict[str, Any]]] = {
    "general": (
        "America/New_York",
        _queue_config({"english": 1}, entry_numbers=["100"]),
    ),
    "billing": (
        "America/New_York",
        _queue_config(
            {"billing": 1, "english": 1},
            overflow={"after_seconds": 180, "queue": "general"},
        ),
    ),
    "support": (
        "America/New_York",
        _queue_config(
            {"tech_support": 1, "english": 1},
            strategy="best_skill",
            overflow={"after_seconds": 180, "queue": "general"},
        ),
    ),
    "vip": (
        "America/New_York",
        _queue_config(
            {"english": 1},
            strategy="best_skill",
            relaxation=[
                {"after_seconds": 0, "min_level": 8},
                {"after_seconds": 20, "min_level": 5},
                {"after_seconds": 60, "min_level": 1},
            ],
            service_level={"percent": 90, "seconds": 10},
            recording=True,
            callback={"offer_above_ewt_seconds": 60, "max_attempts": 5, "retry_seconds": 60},
        ),
    ),
}


@dataclass(frozen=True)
class DemoAgent:
    username: str
    name: str
    sip_endpoint: str | None
    role: str
    password: str
    skills: dict[str, int]
    capacities: dict[str, int]


def _desk(n: int, name: str, skills: dict[str, int], caps: dict[str, int]) -> DemoAgent:
    user = f"agent{n}"
    return DemoAgent(user, name, user, "agent", f"demo-{user}", skills, caps)


AGENTS: tuple[DemoAgent, ...] = (
    _desk(
        1001,
        "Alice Morgan",
        {"billing": 9, "english": 9, "sales": 3},
        {"voice": 1, "callback": 1, "chat": 3, "email": 2},
    ),
    _desk(
        1002,
        "Ben Carter",
        {"tech_support": 8, "english": 7},
        {"voice": 1, "callback": 1, "chat": 2, "email": 2},
    ),
    _desk(
        1003,
        "Clara Schmidt",
        {"german": 9, "billing": 6, "english": 6},
        {"voice": 1, "callback": 1, "chat": 3, "email": 2},
    ),
    _desk(
        1004,
        "Dev Patel",
        {"sales": 8, "billing": 4, "english": 9},
        {"voice": 1, "callback": 1, "chat": 1, "email": 3},
    ),
    _desk(
        1005,
        "Emma Wilson",
        {"tech_support": 5, "billing": 7, "english": 8},
        {"voice": 1, "callback": 1, "chat": 2, "email": 3},
    ),
    _desk(
        1006,
        "Felix Braun",
        {"german": 8, "tech_support": 6, "english": 4},
        {"voice": 1, "callback": 1, "chat": 0, "email": 2},
    ),
    DemoAgent("supervisor", "Sam Rivera", None, "supervisor", "demo-supervisor", {}, {}),
    DemoAgent("admin", "Ada Admin", None, "admin", "demo-admin", {}, {}),
)


@dataclass(frozen=True)
class DemoCustomer:
    account_number: str
    pin: str
    name: str
    tier: str
    phones: tuple[str, ...]


CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer("10000001", "2468", "Victoria Hale", "vip", ("+12025550101",)),
    DemoCustomer("10000002", "4242", "Arthur Dent", "a", ("+12025550102", "+12025550112")),
    DemoCustomer("10000003", "1357", "Beth Jones", "b", ("+12025550103",)),
    DemoCustomer("10000004", "9876", "Carlos Diaz", "b", ("+12025550104",)),
    DemoCustomer("10000005", "1111", "Greta Vogel", "a", ("+12025550105",)),
)


@dataclass
class SeedReport:
    """How many rows of each kind were created, updated or already right."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, outcome: str) -> None:
        bucket = {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}
        bucket[outcome][kind] = bucket[outcome].get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


async def _needs_hash(stored: str | None, secret: str) -> bool:
    return stored is None or not await verify_secret_async(stored, secret)


async def _seed_agent(db: Database, spec: DemoAgent) -> str:
    found = await db.agents.credentials(spec.username)
    if found is None:
        await db.agents.create(
            spec.name,
            spec.username,
            sip_endpoint=spec.sip_endpoint,
            role=spec.role,
            capacities=spec.capacities,
            skills=spec.skills,
            password_hash=await hash_secret_async(spec.password),
        )
        return "created"
    agent, stored = found
    changed = False
    if (agent.name, agent.sip_endpoint, agent.role, agent.capacities) != (
        spec.name,
        spec.sip_endpoint,
        spec.role,
        spec.capacities,
    ):
        await db.agents.update(
            agent.id,
            name=spec.name,
            sip_endpoint=spec.sip_endpoint,
            role=spec.role,
            capacities=spec.capacities,
        )
        changed = True
    if agent.skills != spec.skills:
        await db.agents.set_skills(agent.id, spec.skills)
        changed = True
    if await _needs_hash(stored, spec.password):
        await db.agents.set_password_hash(agent.id, await hash_secret_async(spec.password))
        changed = True
    return "updated" if changed else "unchanged"


async def _seed_customer(db: Database, cust: DemoCustomer) -> str:
    customer = await db.customers.find_by_account(cust.account_number)
    if customer is None:
        await db.customers.create(
            cust.name,
            tier=cust.tier,
            phones=cust.phones,
            account_number=cust.account_number,
            pin_hash=await hash_secret_async(cust.pin),
        )
        return "created"
    changed = False
    if (customer.name, customer.tier) != (cust.name, cust.tier):
        await db.customers.update(customer.id, name=cust.name, tier=cust.tier)
        changed = True
    if set(customer.phones) != set(cust.phones):
        await db.customers.set_phones(customer.id, cust.phones)
        changed = True
    if await _needs_hash(await db.customers.pin_hash(customer.id), cust.pin):
        await db.customers.set_pin_hash(customer.id, await hash_secret_async(cust.pin))
        changed = True
    return "updated" if changed else "unchanged"


async def seed_demo(db: Database) -> SeedReport:
    """Load (or bring back) the demo data; safe to run any number of times."""
    report = SeedReport()
    for name in SKILLS:
        existed = await db.skills.get_by_name(name)
        await db.skills.ensure(name)
        report.count("skills", "unchanged" if existed else "created")

    for name, (tz, config) in QUEUES.items():
        queue = await db.queues.get_by_name(name)
        if queue is None:
            await db.queues.create(name, timezone=tz, config=config, open=True)
            report.count("queues", "created")
        elif queue.timezone != tz or queue.config != config or not queue.open:
            await db.queues.update(queue.id, timezone=tz, config=config, open=True)
            report.count("queues", "updated")
        else:
            report.count("queues", "unchanged")

    # Concurrently: each agent and customer costs an argon2 hash or check (~0.25 s).
    for outcome in await asyncio.gather(*(_seed_agent(db, a) for a in AGENTS)):
        report.count("agents", outcome)
    for outcome in await asyncio.gather(*(_seed_customer(db, c) for c in CUSTOMERS)):
        report.count("customers", outcome)
    log.info("demo seed: created %s, updated %s", report.created, report.updated)
    return report
