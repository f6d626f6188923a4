"""Domain events: everything that happens is one of these.

An event carries a type, a time, the ids it concerns and a small payload. It is
what goes on the Redis stream and what history, dashboards and planning read.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contactcore.core.ids import new_id


class DomainEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    at: float
    id: str = Field(default_factory=lambda: new_id("ev_"))
    interaction_id: str | None = None
    task_id: str | None = None
    agent_id: str | None = None
    queue_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
