"""Fixtures: an app on a real database (SQLite or PostgreSQL), clients, demo staff."""

import pytest

from notifier import create_app
from notifier.cli import load_demo_data
from notifier.db import db
from tests import dbs


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """Return the URL of a database made for this test session."""
    base = dbs.postgres_base_url()
    if base is None:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    url = dbs.create_postgres_database(base)
    yield url
    dbs.drop_postgres_database(url)


_schema_ready: set[str] = set()


@pytest.fixture
def app(database_url):
    """Return an app on a clean database with the demo reference data and staff."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        if database_url not in _schema_ready:
            db.drop_all()
            db.create_all()
            _schema_ready.add(database_url)
        load_demo_data()
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def ctx(app):
    """Push an app context for tests that call services directly."""
    with app.app_context():
        yield app
