"""Database: SQLAlchemy tables, repositories, Alembic migrations."""
