"""The staff Outbox page and the per-announcement delivery view."""

from datetime import UTC, datetime, timedelta

from notifier import dispatch
from notifier.db import db
from tests.factories import create_announcement, create_subscriber, login

NIGHT = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)  # 23:30 in Almaty


def test_outbox_lists_texts_statuses_and_holds(app, client):
    with app.app_context():
        create_subscriber("+77010000001", language="kk")
        ann = create_announcement(
            status="published",
            now=NIGHT,
            starts_at=(NIGHT + timedelta(days=1)).isoformat(),
            ends_at=(NIGHT + timedelta(days=1, hours=3)).isoformat(),
        )
        ann_id = ann.id
    login(client, "water.editor")
    html = client.get("/staff/outbox/?lang=ru").get_data(as_text=True)
    assert "+77010000001" in html
    assert "ждёт до" in html  # held for the quiet hours, and it says until when
    assert "Ожидает" in html
    with app.app_context():
        from notifier import outbox

        outbox.hold_and_release(NIGHT + timedelta(hours=9))
        dispatch.dispatch(NIGHT + timedelta(hours=9))
        db.session.commit()
    html = client.get("/staff/outbox/?status=sent&lang=kk").get_data(as_text=True)
    assert "Судың өшірілуі" in html  # the text as sent, in the subscriber's language
    assert client.get("/staff/outbox/?status=bogus").status_code == 404
    detail = client.get(f"/staff/announcements/{ann_id}?lang=ru").get_data(as_text=True)
    assert 'id="delivery-h"' in detail


def test_outbox_needs_staff(client):
    response = client.get("/staff/outbox/")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


def test_pause_banner_and_resume_only_for_admins(app, client):
    with app.app_context():
        dispatch._pause("no_money", datetime.now(UTC) + timedelta(minutes=15), "no money", datetime.now(UTC))
        db.session.commit()
    login(client, "water.editor")
    html = client.get("/staff/?lang=ru").get_data(as_text=True)
    assert "На счёте шлюза нет средств" in html
    assert client.post("/staff/outbox/resume/no_money").status_code == 403
    client.post("/staff/logout")
    login(client, "admin")
    assert client.post("/staff/outbox/resume/no_money").status_code == 302
    with app.app_context():
        assert dispatch.active_switches(datetime.now(UTC)) == []
