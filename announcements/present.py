"""Words and labels for announcements in the visitor's language."""

from datetime import datetime

from flask_babel import format_datetime, lazy_gettext

from announcements.models import CANCELLED, COMPLETED, DRAFT, PENDING, PUBLISHED, SCHEDULED, Announcement
from notifier.timeutil import to_local

KIND_LABELS = {
    "planned_outage": lazy_gettext("Planned outage"),
    "emergency_outage": lazy_gettext("Emergency outage"),
    "repair_works": lazy_gettext("Repair works"),
    "reform_notice": lazy_gettext("Reform notice"),
    "information": lazy_gettext("Information"),
}

STATUS_LABELS = {
    DRAFT: lazy_gettext("Draft"),
    PENDING: lazy_gettext("Pending approval"),
    SCHEDULED: lazy_gettext("Scheduled"),
    PUBLISHED: lazy_gettext("Published"),
    COMPLETED: lazy_gettext("Completed"),
    CANCELLED: lazy_gettext("Cancelled"),
}

EVENT_LABELS = {
    "created": lazy_gettext("Created"),
    "edited": lazy_gettext("Edited"),
    "submitted": lazy_gettext("Submitted for approval"),
    "returned": lazy_gettext("Returned to the author"),
    "approved": lazy_gettext("Approved"),
    "published": lazy_gettext("Published"),
    "extended": lazy_gettext("Extended"),
    "completed": lazy_gettext("Restored"),
    "cancelled": lazy_gettext("Cancelled"),
    "reminder": lazy_gettext("Reminder"),
}


def hm(value: datetime) -> str:
    """Return local HH:MM."""
    return f"{to_local(value):%H:%M}"


def when(value: datetime | None) -> str:
    """Return a local date and time in the visitor's language, e.g. «1 декабря 10:00»."""
    if value is None:
        return ""
    return format_datetime(value, "d MMMM yyyy, HH:mm")


def when_iso(value: str | None) -> str:
    """Return `when()` of an ISO string kept in an event's old/new values."""
    return when(datetime.fromisoformat(value)) if value else ""


def window_text(ann: Announcement) -> str:
    """Return the works window in local time in words."""
    start, end = to_local(ann.starts_at), to_local(ann.ends_at)
    if start.date() == end.date():
        return f"{when(ann.starts_at)}–{hm(ann.ends_at)}"
    return f"{when(ann.starts_at)} – {when(ann.ends_at)}"


def state_words(ann: Announcement, now: datetime) -> str:
    """Return the public state of an announcement in words ("extended until 20:00", …)."""
    if ann.status == CANCELLED:
        return str(lazy_gettext("Cancelled"))
    if ann.status == COMPLETED:
        at = hm(ann.completed_at or ann.ends_at)
        if ann.is_outage:
            return str(lazy_gettext("Restored at %(time)s", time=at))
        return str(lazy_gettext("Completed at %(time)s", time=at))
    if ann.status != PUBLISHED:
        return str(STATUS_LABELS[ann.status])
    if now < ann.starts_at:
        return str(lazy_gettext("Planned from %(when)s", when=when(ann.starts_at)))
    if now <= ann.ends_at:
        # Today's end reads as a time; a later day's needs its date.
        until = hm(ann.ends_at) if to_local(ann.ends_at).date() == to_local(now).date() else when(ann.ends_at)
        if ann.extended:
            return str(lazy_gettext("Extended until %(time)s", time=until))
        return str(lazy_gettext("In progress until %(time)s", time=until))
    return str(lazy_gettext("Planned end passed at %(time)s; awaiting confirmation", time=hm(ann.ends_at)))


def state_class(ann: Announcement, now: datetime) -> str:
    """Return a CSS modifier for the state badge."""
    if ann.status in (CANCELLED, COMPLETED):
        return ann.status
    if ann.status == PUBLISHED and ann.starts_at <= now <= ann.ends_at:
        return "active"
    return "upcoming" if ann.status == PUBLISHED else ann.status
