"""Which residents hear about each announcement event, what their SMS says, and evening reminders."""

from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import select, update

from announcements import texts
from announcements.models import PUBLISHED, Announcement, AnnouncementEvent
from notifier.db import db
from notifier.timeutil import local_zone, to_local
from subscribers import fanout

FOLLOW_UPS = ("extended", "completed", "cancelled", "reminder")
# After these, messages of the original that have not left yet are pointless.
ENDINGS = ("completed", "cancelled")


def _original(ann: Announcement) -> AnnouncementEvent | None:
    return next((e for e in ann.events if e.kind == "published"), None)


def notify(ann: Announcement, event: AnnouncementEvent, now: datetime) -> int:
    """Queue the SMS for one event, in the same transaction as the state change; return rows queued."""
    db.session.flush()
    if event.kind == "published":
        return fanout.publication(event.id, ann.department_id, [d.id for d in ann.districts], ann.urgent, now)
    if event.kind not in FOLLOW_UPS:
        return 0
    original = _original(ann)
    if original is None:
        return 0
    earlier = [e.id for e in ann.events if e.kind in FOLLOW_UPS and e.id != event.id]
    fanout.withdraw(earlier, "superseded")
    if event.kind in ENDINGS:
        fanout.withdraw([original.id], f"announcement {event.kind}")
    return fanout.follow_up(event.id, original.id, ann.urgent, now)


def render(event_id: int, language: str, with_stop_hint: bool) -> str:
    """Return the SMS for an event in a language, from the announcement as it is now."""
    event = db.session.get(AnnouncementEvent, event_id)
    return texts.event_sms(event.announcement, event.kind, language, with_stop_hint)


def reminder_moment(ann: Announcement) -> datetime:
    """Return when the evening-before reminder is due (REMINDER_TIME, local, the day before the start)."""
    day_before = to_local(ann.starts_at).date() - timedelta(days=1)
    at = time.fromisoformat(current_app.config["REMINDER_TIME"])
    return datetime.combine(day_before, at, tzinfo=local_zone())


def send_reminders(now: datetime) -> int:
    """Create the reminder event of planned outages whose evening has come; each once, whichever worker wins."""
    candidates = db.session.scalars(
        select(Announcement).where(
            Announcement.status == PUBLISHED,
            Announcement.kind == "planned_outage",
            Announcement.reminded_at.is_(None),
            Announcement.starts_at > now,
            Announcement.starts_at <= now + timedelta(days=2),
        )
    ).all()
    created = 0
    for ann in candidates:
        moment = reminder_moment(ann)
        if now < moment:
            continue
        won = db.session.execute(
            update(Announcement)
            .where(Announcement.id == ann.id, Announcement.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        # Published after the reminder moment: the first SMS already said "tomorrow"; no reminder.
        if not won or ann.published_at is None or ann.published_at >= moment:
            continue
        event = AnnouncementEvent(announcement=ann, kind="reminder", at=now, public=False)
        db.session.add(event)
        notify(ann, event, now)
        created += 1
    return created
