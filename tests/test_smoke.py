import pytest
from sqlalchemy import text

from notifier.db import db
from tests.factories import create_announcement


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_public_page_shows_published(app, client):
    with app.app_context():
        create_announcement(status="published", title={"ru": "Вода по ул. Абая", "kk": "Абай көшесіндегі су"})
    page = client.get("/?lang=ru").get_data(as_text=True)
    assert "Вода по ул. Абая" in page


def test_a_sqlite_file_runs_in_write_ahead_log_mode(app):
    """Web and worker share the file: readers must not wait for the worker's commits."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite only")
        assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert db.session.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL: a commit survives a power cut
