"""Fixtures: an app on a real database (SQLite or PostgreSQL), clients, demo staff."""

import pytest

from notifier import create_app
from notifier.cli import demo_staff, load_demo_data
from notifier.db import db
from notifier.limits import limiter
from tests import dbs
from tests.fake_smsc import fake_smsc  # noqa: F401 (a fixture, for every test module)


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


# Reference data every test starts from; it is loaded once and kept between tests.
KEPT_TABLES = {"departments", "districts"}


def _reset() -> None:
    """Empty every table but the reference data, and drop staff that tests added or changed."""
    demo = [email for email, _role, _dep in demo_staff()]
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            if table.name == "staff_users":
                conn.execute(table.delete().where(table.c.email.not_in(demo) | table.c.active.is_(False)))
            elif table.name not in KEPT_TABLES:
                conn.execute(table.delete())


@pytest.fixture(scope="session")
def _session_app(database_url):
    """Build the app once per run (route compilation dominates create_app) on a fresh schema."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(_session_app):
    """Return the app on a clean database with the demo reference data and staff."""
    app = _session_app
    saved = dict(app.config)
    limiter.reset()  # rate-limit counters are per test, like the database
    for cache in ("habarlama.feed_keys", "habarlama.feed_bodies", "habarlama.public_pages"):
        app.extensions.pop(cache, None)  # ids restart in an emptied database; cached bodies must not outlive it
    with app.app_context():
        load_demo_data()
        db.session.commit()
    yield app
    app.config.clear()
    app.config.update(saved)
    with app.app_context():
        db.session.remove()
        _reset()


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
