"""Fresh test databases: a SQLite file, or a new PostgreSQL database from TEST_DATABASE_URL."""

import os
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def postgres_base_url() -> str | None:
    """Return the PostgreSQL server URL tests should use, or None for SQLite."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


def create_postgres_database(base_url: str) -> str:
    """Create an empty database next to base_url's and return its URL."""
    base = make_url(base_url).set(drivername="postgresql+psycopg")
    name = f"habarlama_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    """Drop a database made by create_postgres_database."""
    target = make_url(url)
    engine = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    engine.dispose()
