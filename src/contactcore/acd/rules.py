"""Pure routing decisions: priority, aging, relaxation, eligibility, strategies, EWT.

The Redis scripts apply the same rules inside one atomic call (adapters/redis/acd.lua);
these functions are the specification the tests hold both to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from contactcore.acd.model import AgentConfig, QueueConfig, Strategy

NO_AGING_S = 10_000_000.0  # seconds per priority point when aging is off (mirrors acd.lua)

# Default priority rules: customer tier and task category add points.
TIER_POINTS: dict[str, float] = {"vip": 30.0, "a": 20.0, "b": 10.0}
CATEGORY_POINTS: dict[str, float] = {"complaint": 15.0, "cancellation": 12.0, "question": 0.0}


@dataclass(frozen=True)
class PriorityRules:
    """Priority from customer tier and category (VIP / A above B; complaints above questions)."""

    tiers: Mapping[str, float]
    categories: Mapping[str, float]
    base: float = 0.0

    @classmethod
    def default(cls) -> PriorityRules:
        return cls(TIER_POINTS, CATEGORY_POINTS)

    def priority(self, tier: str | None, category: str | None, explicit: float = 0.0) -> float:
        points = self.base + explicit
        if tier:
            points += self.tiers.get(tier.lower(), 0.0)
        if category:
            points += self.categories.get(category.lower(), 0.0)
        return points


def aging_s(queue: QueueConfig) -> float:
    return queue.aging_s_per_point if queue.aging_s_per_point > 0 else NO_AGING_S


def routing_score(priority: float, enqueued_at: float, queue: QueueConfig) -> float:
    """Lower is served first.

    With linear aging the effective priority is ``priority + waited / aging``; ordering by it
    is the same as ordering by ``enqueued_at - priority * aging``, which does not change while
    the task waits, so the queue can be a sorted set that is never re-scored. Equal priority
    means equal offset, so the earlier task is first; a task put back keeps its score and so
    its place.
    """
    return enqueued_at - priority * aging_s(queue)


def effective_priority(
    priority: float, enqueued_at: float, now: float, queue: QueueConfig
) -> float:
    if queue.aging_s_per_point <= 0:
        return priority
    return priority + (now - enqueued_at) / queue.aging_s_per_point


def relaxation_step(queue: QueueConfig, waited_s: float) -> tuple[int, int | None]:
    """The step reached (0 = none) and the level cap it sets (None = no cap)."""
    step, cap = 0, None
    for i, st in enumerate(queue.relaxation, start=1):
        if waited_s >= st.after_s and st.min_level is not None:
            step, cap = i, st.min_level
    return step, cap


def overflow_target(queue: QueueConfig) -> tuple[float, str] | None:
    """The first overflow step (after seconds, target queue), if any."""
    for st in queue.relaxation:
        if st.overflow_to is not None:
            return st.after_s, st.overflow_to
    return None


def requirements(
    queue: QueueConfig, task_skills: Mapping[str, int], waited_s: float
) -> tuple[int, dict[str, int]]:
    """Required skill levels after relaxation: levels are lowered, never below 1, and a skill
    is never dropped, so relaxation can never reach an agent who lacks it."""
    req = dict(queue.skills)
    for skill, level in task_skills.items():
        req[skill] = max(level, req.get(skill, 0))
    step, cap = relaxation_step(queue, waited_s)
    if cap is not None:
        req = {s: max(1, min(level, cap)) for s, level in req.items()}
    return step, req


def can_take(
    agent: AgentConfig, loads: Mapping[str, int], channel: str, presence_available: bool = True
) -> bool:
    """Capacity on the channel left, and no work in hand whose channel blocks this one."""
    if not presence_available:
        return False
    cap = agent.capacity.get(channel, 0)
    if cap <= 0 or loads.get(channel, 0) >= cap:
        return False
    for held, blocked in agent.blocks.items():
        if held != channel and loads.get(held, 0) > 0 and channel in blocked:
            return False
    return True


def skills_ok(agent: AgentConfig, required: Mapping[str, int]) -> bool:
    return all(agent.skills.get(s, 0) >= level for s, level in required.items())


def occupancy(agent: AgentConfig, loads: Mapping[str, int]) -> float:
    total = sum(agent.capacity.values())
    return 1.0 if total == 0 else sum(loads.get(c, 0) for c in agent.capacity) / total


@dataclass(frozen=True)
class Candidate:
    agent: AgentConfig
    loads: Mapping[str, int]
    free_since: float


def choose(
    strategy: Strategy, candidates: Sequence[Candidate], required: Mapping[str, int]
) -> Candidate | None:
    """The winner among eligible candidates.

    - longest_idle: the one whose work on the channel changed longest ago.
    - best_skill: highest sum of levels on the required skills, then longest idle.
    - least_occupied: lowest share of total capacity in use, then longest idle.
    """
    if not candidates:
        return None

    def key(c: Candidate) -> tuple[float, ...]:
        if strategy is Strategy.BEST_SKILL:
            levels = sum(c.agent.skills.get(s, 0) for s in required) if required else 1
            return (-levels, c.free_since)
        if strategy is Strategy.LEAST_OCCUPIED:
            return (occupancy(c.agent, c.loads), c.free_since)
        return (c.free_since,)

    return min(candidates, key=key)


@dataclass(frozen=True)
class EwtInputs:
    """What the estimate needs for one queue."""

    departures: Sequence[float]  # recent times tasks left the head, newest first
    handle_times: Sequence[float]  # recent handle times, newest first
    serving_agents: int  # agents logged in (not offline) who can serve the queue
    now: float


def ewt(position: int, inputs: EwtInputs, min_samples: int = 4) -> float | None:
    """Estimated wait for the task at ``position`` (1 = next); None when nobody serves it.

    Main method: position-weighted rolling gap between departures from the head of this
    queue. The mean gap of the last departures is the service rate this queue really gets,
    whatever share of the agents other queues take; the head waits one gap minus the time
    since the last departure, each further place one more gap. If the next departure is
    overdue the gap is stretched to the time since the last one. Cold start (too few
    departures): position x mean handle time / serving agents (Little's law with every
    serving agent busy).
    """
    deps = list(inputs.departures)
    if len(deps) >= min_samples:
        span = deps[0] - deps[-1]
        gap = span / (len(deps) - 1)
        since_last = max(0.0, inputs.now - deps[0])
        gap = max(gap, since_last)
        return max(position * gap - since_last, (position - 1) * gap)
    if inputs.serving_agents <= 0:
        return None
    if inputs.handle_times:
        aht = sum(inputs.handle_times) / len(inputs.handle_times)
        return position * aht / inputs.serving_agents
    return 0.0
