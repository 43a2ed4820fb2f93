"""Fan-out and follow-up rules: who gets which SMS, once, at a decent hour (log gateway)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, select

from announcements import service
from announcements.models import Announcement
from announcements.notify import send_reminders
from notifier import dispatch, outbox
from notifier.db import db
from notifier.outbox_models import OutboxMessage
from tests.factories import create_announcement, create_subscriber, staff

# 2026-12-01 12:00 in Almaty (UTC+5): daytime, outside quiet hours.
NOON = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


def local(iso: str) -> datetime:
    return datetime.fromisoformat(iso + "+05:00").astimezone(UTC)


def rows(event_kind=None, phone=None):
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    found = db.session.scalars(query).all()
    if event_kind:
        from announcements.models import AnnouncementEvent

        found = [r for r in found if r.event_id and db.session.get(AnnouncementEvent, r.event_id).kind == event_kind]
    if phone:
        found = [r for r in found if r.phone == phone]
    return found


def publish(now=NOON, **overrides):
    defaults = {
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=1, hours=8)).isoformat(),
    }
    return create_announcement(status="published", now=now, **{**defaults, **overrides})


def sent_texts(now):
    dispatch.dispatch(now)
    db.session.commit()
    return {(r.phone, r.status): r.batch.text for r in rows() if r.batch}


def test_overlapping_subscriptions_give_one_sms_per_event(ctx):
    create_subscriber("+77010000001", districts=("al-farabi", "abay"))
    create_subscriber("+77010000002", districts=("abay",), departments=("gas",))  # other service
    create_subscriber("+77010000003", districts=("turan",))  # other district
    create_subscriber("+77010000004", status="stopped")
    publish(districts=["al-farabi", "abay"])
    assert [r.phone for r in rows()] == ["+77010000001"]
    assert rows()[0].status == "queued"


def test_each_subscriber_gets_their_language_and_the_first_sms_says_how_to_stop(ctx):
    create_subscriber("+77010000001", language="kk")
    create_subscriber("+77010000002", language="ru")
    publish()
    texts = sent_texts(NOON)
    kk = texts[("+77010000001", "sent")]
    ru = texts[("+77010000002", "sent")]
    assert "Судың өшірілуі" in kk and "ТОҚТАТ" in kk and "/a/" in kk
    assert "Отключение воды" in ru and "СТОП" in ru
    publish(title={"ru": "Второе", "kk": "Екінші"})
    texts = sent_texts(NOON)
    second = [r for r in rows() if "Второе" in (r.batch.text if r.batch else "")]
    assert len(second) == 1 and "СТОП" not in second[0].batch.text


def test_how_to_stop_moves_to_the_next_waiting_sms_when_the_first_is_withdrawn(ctx):
    create_subscriber("+77010000001")
    night = local("2026-12-01T23:00")
    first = publish(now=night)  # held until 08:00, with the "how to stop" line
    publish(now=night, title={"ru": "Второе", "kk": "Екінші"})  # held too, without it
    service.cancel(staff("water.editor"), first, night + timedelta(minutes=5), "Опубликовано по ошибке")
    db.session.commit()
    morning = local("2026-12-02T08:00")
    outbox.hold_and_release(morning)
    texts = sent_texts(morning)
    (second,) = [text for text in texts.values() if "Второе" in text]
    assert "СТОП" in second  # the first SMS they actually get says how to stop
    publish(now=morning, title={"ru": "Третье", "kk": "Үшінші"})
    (third,) = [text for text in sent_texts(morning).values() if "Третье" in text]
    assert "СТОП" not in third


def test_how_to_stop_comes_with_the_next_announcement_when_nothing_else_waits(ctx):
    create_subscriber("+77010000001")
    night = local("2026-12-01T23:00")
    service.cancel(staff("water.editor"), publish(now=night), night + timedelta(minutes=5), "Ошибка")
    db.session.commit()
    publish(title={"ru": "Второе", "kk": "Екінші"})
    (second,) = [text for text in sent_texts(NOON).values() if "Второе" in text]
    assert "СТОП" in second


def test_repeated_jobs_never_queue_or_send_twice(ctx):
    create_subscriber("+77010000001")
    ann = publish()
    event = next(e for e in ann.events if e.kind == "published")
    from subscribers import fanout

    # A retried fan-out of the same event inserts nothing.
    assert fanout.publication(event.id, ann.department_id, [d.id for d in ann.districts], False, NOON) == 1
    assert len(rows()) == 1
    dispatch.dispatch(NOON)
    dispatch.dispatch(NOON)
    db.session.commit()
    assert len(rows()) == 1 and rows()[0].status == "sent"


def test_quiet_hours_hold_non_urgent_and_release_at_eight(ctx):
    create_subscriber("+77010000001")
    night = local("2026-12-01T23:30")
    publish(now=night)
    (row,) = rows()
    assert row.status == "held"
    assert row.next_attempt_at == local("2026-12-02T08:00")
    assert dispatch.dispatch(night) == 0
    outbox.hold_and_release(local("2026-12-02T07:59"))
    assert rows()[0].status == "held"
    outbox.hold_and_release(local("2026-12-02T08:00"))
    db.session.commit()
    assert rows()[0].status == "queued"
    dispatch.dispatch(local("2026-12-02T08:00"))
    db.session.commit()
    assert rows()[0].status == "sent"


def test_urgent_goes_at_once_even_at_night(ctx):
    create_subscriber("+77010000001")
    night = local("2026-12-01T02:00")
    ann = create_announcement(author="water.approver", urgent=True, kind="emergency_outage", now=night)
    service.publish(staff("water.approver"), ann, night)
    db.session.commit()
    assert rows()[0].status == "queued"
    dispatch.dispatch(night)
    db.session.commit()
    assert rows()[0].status == "sent"


def test_queued_messages_are_held_when_quiet_hours_begin(ctx):
    create_subscriber("+77010000001")
    publish(now=local("2026-12-01T21:59"))
    assert rows()[0].status == "queued"
    outbox.hold_and_release(local("2026-12-01T22:00"))
    db.session.commit()
    assert rows()[0].status == "held"


def test_follow_ups_only_to_those_told_and_nothing_after_cancellation(ctx):
    create_subscriber("+77010000001")
    ann = publish()
    dispatch.dispatch(NOON)
    db.session.commit()
    create_subscriber("+77010000002")  # subscribed after the original went out
    later = NOON + timedelta(hours=1)
    service.extend(staff("water.editor"), ann, later, (ann.ends_at + timedelta(hours=2)).isoformat(), "Порыв")
    db.session.commit()
    extended = rows("extended")
    assert [r.phone for r in extended] == ["+77010000001"]
    texts = sent_texts(later)
    assert any(t.startswith("Продлено до") for t in texts.values())
    service.cancel(staff("water.editor"), ann, later, "Работы перенесены")
    db.session.commit()
    assert [r.phone for r in rows("cancelled")] == ["+77010000001"]
    assert service.ALLOWED_STATUS_TRANSITIONS["complete"].get(ann.status) is None
    assert send_reminders(local("2026-12-01T18:30")) == 0  # nothing more after a cancellation


def test_restoration_notice_and_pending_originals_withdrawn(ctx):
    create_subscriber("+77010000001")
    night = local("2026-12-01T23:00")
    ann = publish(now=night)  # held until 08:00
    service.complete(staff("water.editor"), ann, night + timedelta(minutes=30))
    db.session.commit()
    (original,) = rows()  # the original never left, and nobody was told, so no "restored" either
    assert (original.status, original.reason) == ("cancelled", "announcement completed")


def test_extension_before_the_original_left_updates_the_original_text(ctx):
    create_subscriber("+77010000001")
    night = local("2026-12-01T23:00")
    ann = publish(
        now=night, starts_at=local("2026-12-02T10:00").isoformat(), ends_at=local("2026-12-02T18:00").isoformat()
    )
    service.extend(staff("water.editor"), ann, night, local("2026-12-02T20:00").isoformat(), "Порыв")
    db.session.commit()
    assert rows("extended") == []  # nobody was told yet
    outbox.hold_and_release(local("2026-12-02T08:00"))
    texts = sent_texts(local("2026-12-02T08:00"))
    assert "10:00–20:00" in texts[("+77010000001", "sent")]


def test_reminder_the_evening_before_once(ctx):
    create_subscriber("+77010000001")
    ann = publish(
        now=local("2026-12-01T12:00"),
        starts_at=local("2026-12-02T10:00").isoformat(),
        ends_at=local("2026-12-02T18:00").isoformat(),
    )
    dispatch.dispatch(local("2026-12-01T12:00"))
    db.session.commit()
    assert send_reminders(local("2026-12-01T17:59")) == 0
    assert send_reminders(local("2026-12-01T18:00")) == 1
    assert send_reminders(local("2026-12-01T18:01")) == 0
    db.session.commit()
    (reminder,) = rows("reminder")
    assert reminder.status == "queued"
    texts = sent_texts(local("2026-12-01T18:01"))
    assert any(t.startswith("Напоминание, завтра") for t in texts.values())
    assert db.session.get(Announcement, ann.id).reminded_at == local("2026-12-01T18:00")


def test_no_reminder_when_published_after_the_reminder_moment(ctx):
    create_subscriber("+77010000001")
    publish(
        now=local("2026-12-01T19:00"),
        starts_at=local("2026-12-02T10:00").isoformat(),
        ends_at=local("2026-12-02T18:00").isoformat(),
    )
    assert send_reminders(local("2026-12-01T19:05")) == 0
    db.session.commit()
    assert rows("reminder") == []


def test_stopped_subscriber_gets_no_follow_up(ctx):
    subscriber = create_subscriber("+77010000001")
    ann = publish()
    dispatch.dispatch(NOON)
    subscriber.status = "stopped"
    db.session.commit()
    service.complete(staff("water.editor"), ann, NOON + timedelta(hours=2))
    db.session.commit()
    assert rows("completed") == []


def test_an_idle_dispatch_run_does_not_add_up_the_days_parts(ctx):
    create_subscriber("+77010000001")
    publish()
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert dispatch.dispatch(NOON) == 1  # something to send: the budget is checked
        db.session.commit()
        budget_checks = sum("sum(outbox.parts)" in s for s in statements)
        assert dispatch.dispatch(NOON + timedelta(seconds=3)) == 0  # the next run finds nothing due
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert budget_checks == 1 and sum("sum(outbox.parts)" in s for s in statements) == 1


def test_daily_budget_pauses_non_urgent_and_staff_see_why(ctx):
    ctx.config["SMS_DAILY_BUDGET"] = 3  # parts; one Cyrillic announcement SMS is 2–3 parts
    for i in range(3):
        create_subscriber(f"+7701000000{i}")
    publish()
    dispatch.dispatch(NOON)
    db.session.commit()
    publish(title={"ru": "Второе", "kk": "Екінші"})
    dispatch.dispatch(NOON)
    db.session.commit()
    waiting = [r for r in rows() if r.status == "queued"]
    assert len(waiting) == 3
    (switch,) = dispatch.active_switches(NOON)
    assert switch.cause == "budget" and "budget" in switch.detail
    ann = create_announcement(author="water.approver", urgent=True, kind="emergency_outage", now=NOON)
    service.publish(staff("water.approver"), ann, NOON)
    db.session.commit()
    dispatch.dispatch(NOON)
    db.session.commit()
    urgent = [r for r in rows() if r.urgent]
    assert urgent and all(r.status == "sent" for r in urgent)
    assert len([r for r in rows() if r.status == "queued"]) == 3
