"""Appeal registration, threading, linking, routing and deadlines (the core the rest builds on)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from appeals import deadlines, service
from appeals.models import Appeal
from notifier import dispatch
from notifier.db import db
from notifier.outbox_models import OutboxMessage
from tests.factories import create_announcement, create_subscriber, staff


def at(local: str) -> datetime:
    return datetime.fromisoformat(local + "+05:00").astimezone(UTC)


@pytest.mark.parametrize(
    ("registered", "due"),
    [
        # 15 working days: weekends skipped.
        ("2026-11-02", "2026-11-23"),
        # Independence Day (Wed 16 December) is not a working day.
        ("2026-12-07", "2026-12-29"),
        # Nauryz 21–23 March 2026 fall on Sat–Mon; the observed days 24–25 March are off too.
        ("2026-03-16", "2026-04-09"),
        # 8 March 2026 is a Sunday: the holiday moves to Monday 9 March.
        ("2026-03-02", "2026-03-27"),
    ],
)
def test_answer_deadline_skips_weekends_and_kazakh_holidays(ctx, registered, due):
    result = deadlines.answer_due(at(registered + "T10:00"))
    assert result.astimezone(deadlines.local_zone()).date() == date.fromisoformat(due)


def test_forwarding_is_due_in_three_working_days(ctx):
    assert deadlines.forward_due(at("2026-12-11T10:00")).date() == date(2026, 12, 17)  # skips Sat, Sun, 16 Dec


def test_reply_after_an_outage_sms_is_linked_to_it(ctx):
    ctx.config["QUIET_HOURS"] = "off"
    create_subscriber("+77010000001", districts=("al-farabi", "abay"))
    now = at("2026-12-01T11:00")
    ann = create_announcement(status="published", now=now, districts=["al-farabi"])
    dispatch.dispatch(now)
    db.session.commit()
    appeal, new = service.register("+77010000001", "воды нет уже 3 часа", now + timedelta(hours=5))
    db.session.commit()
    assert new and appeal.announcement_id == ann.id
    assert appeal.department.slug == "water" and appeal.district.slug == "al-farabi"
    assert appeal.number and appeal.number.startswith("26-")
    ack = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "appeal_ack")).one()
    assert appeal.number in ack.text and ack.urgent


def test_no_link_after_72_hours_then_keywords_route(ctx):
    ctx.config["QUIET_HOURS"] = "off"
    create_subscriber("+77010000001")
    now = at("2026-12-01T11:00")
    create_announcement(status="published", now=now)
    dispatch.dispatch(now)
    db.session.commit()
    appeal, _ = service.register("+77010000001", "газ пахнет в подъезде", now + timedelta(hours=73))
    assert appeal.announcement_id is None and appeal.department.slug == "gas"
    other, _ = service.register("+77010000009", "здравствуйте, вопрос", now)
    assert other.department_id is None  # waits in the contact-centre queue


def test_further_messages_join_the_open_appeal_and_a_reply_reopens(ctx):
    now = at("2026-12-01T11:00")
    first, new = service.register("+77010000001", "воды нет", now)
    second, again = service.register("+77010000001", "и горячей тоже", now + timedelta(hours=1))
    assert new and not again and first.id == second.id
    assert [m.text for m in first.messages] == ["воды нет", "и горячей тоже"]
    service.reply(staff("water.editor"), first, "Бригада выехала.", now + timedelta(hours=2))
    db.session.commit()
    assert first.status == "answered" and first.first_answer_at == now + timedelta(hours=2)
    service.register("+77010000001", "до сих пор нет", now + timedelta(hours=5))
    db.session.commit()
    assert db.session.get(Appeal, first.id).status == "in_progress"
    assert [e.kind for e in first.events][-1] == "reopened"


def test_acknowledgement_outside_working_hours_says_when_it_will_be_read(ctx):
    sunday_night = at("2026-12-06T23:00")
    appeal, _ = service.register("+77010000001", "газ не горит", sunday_night)
    db.session.commit()
    ack = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "appeal_ack")).one()
    assert "07.12 09:00" in ack.text  # Monday 09:00, gas works Mon–Sat 09–19


def test_lifecycle_permissions_and_notices(ctx):
    now = at("2026-12-01T11:00")
    appeal, _ = service.register("+77010000001", "воды нет", now)
    db.session.commit()
    with pytest.raises(Exception) as err:
        service.change_status(staff("gas.editor"), appeal, "take", now)
    assert getattr(err.value, "status", None) == 403
    db.session.rollback()
    appeal = db.session.get(Appeal, appeal.id)
    service.change_status(staff("water.editor"), appeal, "take", now)
    service.change_status(staff("water.editor"), appeal, "forward", now, "не наш участок", "heating")
    assert appeal.status == "forwarded" and appeal.department.slug == "heating"
    with pytest.raises(Exception) as err:
        service.change_status(staff("water.editor"), appeal, "reject", now, "")
    service.change_status(staff("heating.editor"), appeal, "reject", now, "Не в компетенции акимата")
    db.session.commit()
    notices = [m.text for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert any("передано" in t or "жіберілді" in t for t in notices)
    assert any("Не в компетенции акимата" in t for t in notices)


def test_extension_needs_a_reason_and_tells_the_resident(ctx):
    now = at("2026-12-01T11:00")
    appeal, _ = service.register("+77010000001", "земельный участок", now)
    before = appeal.due_at
    service.extend_deadline(staff("land.editor"), appeal, 10, "Нужен выезд комиссии", now)
    db.session.commit()
    assert appeal.due_at > before and appeal.department.slug == "land"
    texts = [m.text for m in db.session.scalars(select(OutboxMessage))]
    assert any("Нужен выезд комиссии" in t for t in texts)
    assert service.is_overdue(appeal, appeal.due_at + timedelta(minutes=1))
