"""Migrations build the whole schema from empty, on SQLite and on PostgreSQL, matching the models."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from notifier import create_app
from notifier.db import db
from tests import dbs


@pytest.fixture
def empty_database(tmp_path):
    base = dbs.postgres_base_url()
    if base is None:
        yield f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
        return
    url = dbs.create_postgres_database(base)
    yield url
    dbs.drop_postgres_database(url)


def _diff(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_from_empty_matches_models_and_downgrades(empty_database):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"announcements", "announcement_events", "departments", "districts", "staff_users"} <= tables
        assert _diff(app) == []
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert _diff(app) == []
    with app.app_context():
        db.engine.dispose()


def test_cli_upgrade_and_demo_data_are_idempotent(empty_database):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": empty_database})
    runner = app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    first = runner.invoke(args=["demo-data"])
    second = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0 and second.exit_code == 0
    assert "water.editor@demo.habarlama.kz" in first.output
    assert first.output == second.output
    with app.app_context():
        from notifier.auth import StaffUser
        from notifier.directory import Department, District

        assert db.session.scalar(db.select(db.func.count(Department.id))) == 6
        assert db.session.scalar(db.select(db.func.count(District.id))) == 5
        assert db.session.scalar(db.select(db.func.count(StaffUser.id))) == 14
    with app.app_context():  # a fresh context: the one above returned its connection on exit
        db.engine.dispose()
