"""Typed declarative base, the `db` and `migrate` extensions, and UTC datetimes."""

from datetime import UTC, datetime

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, TypeDecorator, any_, bindparam, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with an Alembic-friendly naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator):
    """Store aware datetimes as UTC; always read them back aware (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def among(column, values: list):
    """`column IN values`; on PostgreSQL one array parameter, so the statement's text stays short and is
    prepared once, where 100 placeholders made a long text psycopg neither caches nor prepares."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def insert_on_conflict(table):
    """INSERT that takes this database's ON CONFLICT clauses (PostgreSQL's or SQLite's dialect insert)."""
    return (postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)


def use_wal(engine) -> None:
    """Put a SQLite file database in write-ahead-log mode, on every new connection.

    With the default rollback journal a commit fsyncs a journal and the database and blocks readers
    while it writes; in WAL mode readers (the web pages) never wait for the worker's writes, and a
    commit is one append (still fsynced: synchronous stays FULL, so what we answered 200 for survives
    a power cut). The embedded default runs web and worker as two processes on one file.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return

    @event.listens_for(engine, "connect")
    def _wal(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
