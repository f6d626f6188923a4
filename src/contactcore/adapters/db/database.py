"""One object the composition root opens: the engine plus every repository."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from contactcore.adapters.db.agents import AgentRepository, AgentSessionRepository
from contactcore.adapters.db.customers import CustomerRepository, VerificationLockRepository
from contactcore.adapters.db.engine import build_engine, check_connection
from contactcore.adapters.db.interactions import InteractionRepository
from contactcore.adapters.db.queues import QueueRepository, SkillRepository
from contactcore.adapters.db.tasks import CallbackRepository, OpenTaskRepository
from contactcore.core.clock import Clock, SystemClock

if TYPE_CHECKING:
    from contactcore.core.directory import CustomerDirectory, VerificationLockStore
    from contactcore.core.ports import InteractionRecorder


@dataclass(frozen=True, slots=True)
class Database:
    engine: AsyncEngine
    customers: CustomerRepository
    locks: VerificationLockRepository
    skills: SkillRepository
    queues: QueueRepository
    agents: AgentRepository
    sessions: AgentSessionRepository
    interactions: InteractionRepository
    tasks: OpenTaskRepository
    callbacks: CallbackRepository

    @classmethod
    def from_engine(cls, engine: AsyncEngine, clock: Clock | None = None) -> Database:
        clock = clock or SystemClock()
        return cls(
            engine=engine,
            customers=CustomerRepository(engine, clock),
            locks=VerificationLockRepository(engine, clock),
            skills=SkillRepository(engine, clock),
            queues=QueueRepository(engine, clock),
            agents=AgentRepository(engine, clock),
            sessions=AgentSessionRepository(engine, clock),
            interactions=InteractionRepository(engine, clock),
            tasks=OpenTaskRepository(engine, clock),
            callbacks=CallbackRepository(engine, clock),
        )

    async def close(self) -> None:
        await self.engine.dispose()


async def open_database(url: str, *, echo: bool = False, clock: Clock | None = None) -> Database:
    """Build the engine and check the database answers (DependencyUnavailable if not)."""
    engine = build_engine(url, echo=echo)
    try:
        await check_connection(engine, url)
    except BaseException:
        await engine.dispose()
        raise
    return Database.from_engine(engine, clock)


if TYPE_CHECKING:

    def _implements_the_ports(
        db: Database,
    ) -> tuple[CustomerDirectory, VerificationLockStore, InteractionRecorder]:
        """mypy proves here that the repositories satisfy the core ports."""
        return db.customers, db.locks, db.interactions
