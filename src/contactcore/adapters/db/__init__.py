"""Database: SQLAlchemy tables, repositories, Alembic migrations.

The composition root calls :func:`upgrade` then :func:`open_database`, and hands the
repositories of the returned :class:`Database` to the capabilities as their ports.
"""

from contactcore.adapters.db.database import Database, open_database
from contactcore.adapters.db.engine import build_engine, check_connection, mask_url
from contactcore.adapters.db.migrate import (
    current,
    downgrade,
    head_revision,
    require_head,
    upgrade,
)

__all__ = [
    "Database",
    "build_engine",
    "check_connection",
    "current",
    "downgrade",
    "head_revision",
    "mask_url",
    "open_database",
    "require_head",
    "upgrade",
]
