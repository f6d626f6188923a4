"""The SQL schema (SQLAlchemy Core tables), shared by SQLite and PostgreSQL.

Schema decisions:

- **Ids** are strings: the 26-character time-ordered ids of ``core.ids.new_id`` with a
  short prefix (``cu_``, ``ag_``, ``q_``, ``sk_``, ``ix_``, ``ev_``, ``tk_``, ``cb_``), so a
  row's id says what it is and sorts by creation time. ``String(40)`` leaves room for
  the prefix. Natural keys (skill and queue names, usernames, SIP endpoints, account
  numbers, E.164 numbers) are unique columns, not primary keys, so they can change.
- **Time** is float epoch seconds (``Double``) everywhere, never ``DateTime``: it is
  what ``Clock.now()`` and ``DomainEvent.at`` carry, it compares and subtracts the same
  on both backends, and there is no time zone to get wrong. Display code converts.
- **JSON** (SQLAlchemy's portable ``JSON`` type) only for open-ended settings and
  payloads that the owning capability validates itself: queue config, agent
  capacities, interaction attributes, event payloads, task and callback data. Anything
  queried or joined on is a real column.
- **Foreign keys** hold within an aggregate (a customer's phones, an agent's skills and
  session). History and durability rows (interactions, their events, tasks, callbacks)
  refer to queues and agents by id *without* a foreign key: history must outlive a
  deleted agent, and the stream consumer may write an event before the call owner has
  written its interaction.
- **Ordering of a timeline** is ``(at, seq)``: ``seq`` is an autoincrement tie-breaker in
  insertion order; ``id`` (the event id) is unique so a redelivered event is stored once.
- Constraint names follow one naming convention so Alembic's batch mode on SQLite
  can find and alter them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(40)
ROLES = ("agent", "supervisor", "admin")
# A callback in one of these states is closed; any other state counts as pending.
CALLBACK_CLOSED_STATES = ("done", "failed", "cancelled")

# SQLite only makes INTEGER PRIMARY KEY an autoincrementing rowid alias.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")

skills = Table(
    "skills",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
)

queues = Table(
    "queues",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("config", JSON, nullable=False),
    Column("open", Boolean, nullable=False, server_default=text("true")),
)

agents = Table(
    "agents",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("sip_endpoint", String(64), unique=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255)),
    Column("role", String(16), nullable=False, server_default="agent"),
    Column("capacities", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    # cross-channel rules: channel in hand -> channels it blocks; NULL: the ACD's default
    Column("blocks", JSON),
    CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role"),
)

agent_skills = Table(
    "agent_skills",
    metadata,
    Column("agent_id", ID, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("skill_id", ID, ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True),
    Column("level", Integer, nullable=False),
    CheckConstraint("level BETWEEN 1 AND 10", name="level"),
)

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("agent_id", ID, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("presence", String(32), nullable=False),
    Column("reason", String(128)),
    Column("updated_at", Double, nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("tier", String(16), nullable=False, server_default="b"),
    Column("account_number", String(32), unique=True),
    Column("pin_hash", String(255)),
    Column("created_at", Double, nullable=False),
)

customer_phones = Table(
    "customer_phones",
    metadata,
    Column("e164", String(20), primary_key=True),
    Column(
        "customer_id",
        ID,
        ForeignKey("customers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)

verification_locks = Table(
    "verification_locks",
    metadata,
    Column("account_number", String(32), primary_key=True),
    Column("failed_attempts", Integer, nullable=False, server_default="0"),
    Column("locked_until", Double),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("direction", String(16), nullable=False, server_default="inbound"),
    Column("caller", String(64)),
    Column("called", String(64)),
    Column("customer_id", ID, ForeignKey("customers.id", ondelete="SET NULL")),
    Column("queue_id", ID),
    Column("agent_id", ID),
    Column("started_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("outcome", String(32)),
    Column("recording", String(255)),
    Column("attributes", JSON, nullable=False),
    Index("ix_interactions_started_at", "started_at"),
    Index("ix_interactions_queue_started", "queue_id", "started_at"),
    Index("ix_interactions_customer_id", "customer_id"),
)

interaction_events = Table(
    "interaction_events",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False, unique=True),
    Column("interaction_id", ID),
    Column("type", String(64), nullable=False),
    Column("at", Double, nullable=False),
    Column("task_id", ID),
    Column("agent_id", ID),
    Column("queue_id", ID),
    Column("payload", JSON, nullable=False),
    Index("ix_interaction_events_timeline", "interaction_id", "at", "seq"),
    Index("ix_interaction_events_at", "at"),
    Index("ix_interaction_events_task_id", "task_id"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("queue_id", ID, nullable=False),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False),
    Column("enqueued_at", Double, nullable=False),
    Column("deadline", Double),
    Column("customer_id", ID),
    Column("data", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index("ix_tasks_queue_id", "queue_id"),
)

_CALLBACK_OPEN = text("state NOT IN ('done', 'failed', 'cancelled')")

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", ID, primary_key=True),
    Column("task_id", ID, nullable=False),
    Column("queue_id", ID, nullable=False),
    Column("number", String(20), nullable=False),
    Column("requested_at", Double, nullable=False),
    Column("window_start", Double, nullable=False),
    Column("window_end", Double),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("last_reason", Text),
    Column("data", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
    # One open callback per number and queue: a partial unique index, which both
    # SQLite and PostgreSQL support.
    Index(
        "uq_callbacks_open_number_queue",
        "number",
        "queue_id",
        unique=True,
        sqlite_where=_CALLBACK_OPEN,
        postgresql_where=_CALLBACK_OPEN,
    ),
    Index("ix_callbacks_queue_state", "queue_id", "state"),
)

# Workforce planning: counters per queue, channel and interval (see core.wfm.IntervalStat).
# Totals, not averages, so that increments add up; the interval is the one the work was
# offered in.
interval_stats = Table(
    "interval_stats",
    metadata,
    Column("queue_id", ID, primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("start", Double, primary_key=True),
    Column("seconds", Integer, nullable=False),
    Column("offered", Integer, nullable=False, server_default="0"),
    Column("answered", Integer, nullable=False, server_default="0"),
    Column("abandoned", Integer, nullable=False, server_default="0"),
    Column("answered_in_sl", Integer, nullable=False, server_default="0"),
    Column("handle_seconds", Double, nullable=False, server_default="0"),
    Column("answer_wait_seconds", Double, nullable=False, server_default="0"),
    Column("abandon_wait_seconds", Double, nullable=False, server_default="0"),
    Column("backlog", Integer, nullable=False, server_default="0"),
    Index("ix_interval_stats_start", "start"),
)

# Browser sessions and bearer tokens: only a SHA-256 of the secret is kept (the
# secrets are 256-bit random, so a slow hash buys nothing), and the CSRF token of a
# session the same way.
auth_credentials = Table(
    "auth_credentials",
    metadata,
    Column("secret_hash", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("agent_id", ID, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_hash", String(64)),
    Column("label", String(128), nullable=False, server_default=""),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    CheckConstraint("kind IN ('session', 'token')", name="kind"),
    Index("ix_auth_credentials_agent_id", "agent_id"),
)

# Who did what to what, when, with the state before and after. No foreign key: the
# log must outlive the people in it.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("at", Double, nullable=False),
    Column("actor_id", ID, nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False),
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
    Index("ix_audit_log_at", "at"),
)
