"""The appeals issue's 'done means', end to end through the real URLs: a reply to an outage SMS becomes
an appeal of that department, linked to the outage and acknowledged with its number; the editor answers
from the appeal page and the resident receives it by SMS; СТОП stops everything with one confirmation;
the dashboard and /stats count it, in charts."""

from datetime import timedelta

import pytest
from lxml import html
from sqlalchemy import select

from appeals.intake import process_inbound
from appeals.models import Appeal
from notifier import dispatch
from notifier.db import db, utcnow
from notifier.outbox_models import OutboxMessage
from subscribers.models import Subscriber
from tests.factories import create_announcement, create_subscriber, login
from tests.test_dashboard import table

PHONE = "+77015551234"
WEBHOOK = "/webhooks/smsc/test-webhook-token"


def text_us(client, gateway_id: int, text: str) -> None:
    """The resident's SMS, as SMSC's callback delivers it."""
    form = {"id": str(gateway_id), "phone": PHONE[1:], "mes": text, "to": "7172000000"}
    assert client.post(WEBHOOK, data=form).status_code == 200


def received(fake, gateway) -> list[str]:
    """Return the texts that reached the resident's phone, oldest first."""
    if gateway == "smsc":
        return [m.text for m in fake.sent_messages if m.phone.lstrip("+") == PHONE[1:]]
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.phone == PHONE).order_by(OutboxMessage.id))
    return [(row.text or row.batch.text) for row in rows if row.status in ("sent", "delivered")]


def worker(now) -> None:
    """What the worker's intake and dispatch jobs do at this moment."""
    process_inbound(now)
    dispatch.dispatch(now)
    db.session.commit()


@pytest.mark.parametrize("gateway", ["log", "smsc"])
def test_a_reply_to_an_outage_sms_is_answered_and_stop_stops_everything(app, client, fake_smsc, gateway):
    app.config["QUIET_HOURS"] = "off"
    if gateway == "smsc":
        app.config.update(fake_smsc.config(), SMS_GATEWAY="smsc")
    now = utcnow()
    with app.app_context():
        create_subscriber(PHONE, districts=("al-farabi",))
        outage_id = create_announcement(status="published", now=now, districts=["al-farabi"]).id
        worker(now)
        assert len(received(fake_smsc, gateway)) == 1  # the outage SMS

    # An hour later the resident answers it; the appeal is the water department's, linked to the outage.
    text_us(client, 7001, "воды нет уже 3 часа")
    later = now + timedelta(hours=1)
    with app.app_context():
        worker(later)
        appeal = db.session.scalars(select(Appeal)).one()
        assert (appeal.department.slug, appeal.announcement_id, appeal.district.slug) == (
            "water",
            outage_id,
            "al-farabi",
        )
        number = appeal.number
        ack = received(fake_smsc, gateway)[-1]
        assert f"№ {number}" in ack and "зарегистрировано" in ack

    # The water editor answers from the appeal page; the answer reaches the resident by SMS.
    login(client, "water.editor")
    assert "воды нет уже 3 часа" in client.get(f"/staff/appeals/{number}").get_data(as_text=True)
    answer = "Бригада на месте, вода будет к 18:00."
    assert client.post(f"/staff/appeals/{number}/reply", data={"reply-text": answer}).status_code == 302
    with app.app_context():
        worker(later)
        assert received(fake_smsc, gateway)[-1] == f"Ответ на обращение № {number}: {answer}"
        assert db.session.scalars(select(Appeal)).one().status == "answered"

    # СТОП: one confirmation, and nothing more (a second СТОП is not confirmed again, a new outage not sent).
    text_us(client, 7002, "СТОП")
    text_us(client, 7003, "стоп!")
    with app.app_context():
        worker(later)
        before = received(fake_smsc, gateway)
        assert db.session.scalar(select(Subscriber.status).where(Subscriber.phone == PHONE)) == "stopped"
        create_announcement(status="published", now=later, districts=["al-farabi"], title={"ru": "Ещё", "kk": "Тағы"})
        worker(later)
        after = received(fake_smsc, gateway)
    assert len(before) == 4 and "СТАРТ" in before[-1]  # outage, acknowledgement, answer, confirmation
    assert after == before

    # The dashboard and /stats count the appeal, in charts.
    dashboard = client.get("/staff/dashboard?lang=ru").get_data(as_text=True)
    assert table(dashboard, "departments-table")["water"]["received"] == "1"
    client.post("/staff/logout")
    public = client.get("/stats?lang=ru").get_data(as_text=True)
    assert table(public, "departments-table")["water"]["received"] == "1"
    for page in (dashboard, public):
        assert html.fromstring(page).xpath("//svg[@role='img']")
