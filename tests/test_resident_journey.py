"""The delivery issue's 'done means', end to end: a resident subscribes on the web form and hears
about one outage exactly once in their language, then the reminder, the extension and the restoration."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from announcements.notify import send_reminders
from notifier import dispatch, outbox
from notifier.db import db
from notifier.outbox_models import OutboxMessage
from tests.factories import login

PHONE_TYPED, PHONE = "8 (701) 555-12-34", "+77015551234"


def at(local: str) -> datetime:
    return datetime.fromisoformat(local + "+05:00").astimezone(UTC)


def run_worker(now):
    """What the worker's jobs do at this moment (time injected; nobody sleeps)."""
    outbox.hold_and_release(now)
    send_reminders(now)
    dispatch.dispatch(now)
    db.session.commit()


def messages_to(fake, gateway):
    """Return the texts this resident received, oldest first."""
    if gateway == "smsc":
        return [m.text for m in fake.sent_messages if m.phone.lstrip("+") == PHONE[1:]]
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.phone == PHONE).order_by(OutboxMessage.id))
    return [(r.text or r.batch.text) for r in rows if r.status in ("sent", "delivered")]


@pytest.mark.parametrize("gateway", ["log", "smsc"])
def test_resident_journey(app, client, fake_smsc, gateway):
    if gateway == "smsc":
        app.config.update(fake_smsc.config(), SMS_GATEWAY="smsc")
    # 1. The resident subscribes on the web form, in Kazakh, to water in Al-Farabi.
    form = {"phone": PHONE_TYPED, "districts": ["al-farabi"], "departments": ["water"], "language": "kk"}
    assert client.post("/subscribe", data=form).status_code == 302
    with app.app_context():
        run_worker(datetime.now(UTC))  # the code goes out at once, whatever the hour
        (code_sms,) = messages_to(fake_smsc, gateway)
    code = re.search(r"\b(\d{6})\b", code_sms).group(1)
    done = client.post("/subscribe/confirm", data={"phone": PHONE_TYPED, "code": code})
    assert done.status_code == 200

    # 2. The water editor drafts a planned outage for Al-Farabi; the approver approves it.
    published = at("2026-12-01T11:00")
    api = app.test_client()
    with app.app_context():
        from notifier.auth import issue_token
        from tests.factories import staff

        editor = issue_token(staff("water.editor"))
        db.session.commit()
    body = {
        "department": "water", "kind": "planned_outage", "urgent": False, "districts": ["al-farabi"],
        "streets": "ул. Байтурсынова 1–15", "starts_at": "2026-12-02T10:00:00+05:00",
        "ends_at": "2026-12-02T18:00:00+05:00", "publish_at": None,
        "title": {"ru": "Отключение воды", "kk": "Судың өшірілуі"},
        "body": {"ru": "Ремонт водопровода.", "kk": "Су құбырын жөндеу."},
    }  # fmt: skip
    created = api.post("/api/v1/announcements", json=body, headers={"Authorization": f"Bearer {editor}"})
    ann_id = created.json["id"]
    assert created.json["sms_preview"]["languages"]["kk"]["recipients"] == 1
    api.post(f"/api/v1/announcements/{ann_id}/submit", headers={"Authorization": f"Bearer {editor}"})
    with app.app_context():
        from announcements import service
        from announcements.models import Announcement

        ann = db.session.get(Announcement, ann_id)
        service.approve(staff("water.approver"), ann, published)  # at a known hour
        db.session.commit()
        run_worker(published)
        run_worker(published + timedelta(minutes=1))  # a second pass sends nothing more
        texts = messages_to(fake_smsc, gateway)
        assert len(texts) == 2 and "Судың өшірілуі" in texts[1] and "ТОҚТАТ" in texts[1]

        # 3. The evening before: one reminder.
        run_worker(at("2026-12-01T18:00"))
        run_worker(at("2026-12-01T18:05"))
        texts = messages_to(fake_smsc, gateway)
        assert len(texts) == 3 and texts[2].startswith("Еске салу, ертең")

        # 4. The end moves: "extended"; then the water is back: "restored".
        ann = db.session.get(Announcement, ann_id)
        service.extend(staff("water.editor"), ann, at("2026-12-02T15:00"), "2026-12-02T20:00:00+05:00", "Құбыр")
        db.session.commit()
        run_worker(at("2026-12-02T15:00"))
        ann = db.session.get(Announcement, ann_id)
        service.complete(staff("water.editor"), ann, at("2026-12-02T19:40"))
        db.session.commit()
        run_worker(at("2026-12-02T19:40"))
        texts = messages_to(fake_smsc, gateway)
        assert len(texts) == 5
        assert texts[3].startswith("02.12 20:00 дейін ұзартылды")
        assert texts[4].startswith("Қалпына келтірілді")
        assert len(set(texts)) == 5  # never twice
    # The code SMS and every alert are on the staff Outbox page.
    login(client, "water.editor")
    page = client.get("/staff/outbox/?phone=7015551234").get_data(as_text=True)
    assert code in page and "Қалпына келтірілді" in page
