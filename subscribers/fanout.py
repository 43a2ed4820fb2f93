"""Set-based fan-out: one INSERT … SELECT per announcement event, never a loop over subscribers."""

from datetime import datetime

from sqlalchemy import and_, exists, func, literal, select, update
from sqlalchemy.orm import aliased

from notifier.db import db, insert_on_conflict
from notifier.outbox import NOT_TOLD, hinted_subscribers, initial_status, pass_on_stop_hints
from notifier.outbox_models import CANCELLED, DELIVERED, PENDING_STATUSES, SENDING, SENT, OutboxMessage
from subscribers.models import ACTIVE, Subscriber, subscriber_departments, subscriber_districts

COLUMNS = [
    "event_id",
    "subscriber_id",
    "phone",
    "language",
    "purpose",
    "with_stop_hint",
    "urgent",
    "status",
    "next_attempt_at",
    "reason",
    "created_at",
]
TOLD = (SENDING, SENT, DELIVERED)


def _audience(department_id: int, district_ids: list[int]):
    """Active subscribers following the department in any of the districts."""
    in_district = exists().where(
        subscriber_districts.c.subscriber_id == Subscriber.id, subscriber_districts.c.district_id.in_(district_ids)
    )
    follows = exists().where(
        subscriber_departments.c.subscriber_id == Subscriber.id,
        subscriber_departments.c.department_id == department_id,
    )
    return and_(Subscriber.status == ACTIVE, in_district, follows)


def audience_counts(department_id: int, district_ids: list[int]) -> dict[str, int]:
    """Return how many active subscribers an announcement would reach, per language."""
    rows = db.session.execute(
        select(Subscriber.language, func.count(Subscriber.id))
        .where(_audience(department_id, district_ids))
        .group_by(Subscriber.language)
    ).all()
    counts = {"kk": 0, "ru": 0}
    counts.update({lang: n for lang, n in rows})
    return counts


def _constants(status: str, due: datetime, now: datetime) -> tuple:
    """Return the status, next_attempt_at, reason and created_at columns, typed for the INSERT … SELECT."""
    return (
        literal(status),
        literal(due, OutboxMessage.next_attempt_at.type),
        literal(""),
        literal(now, OutboxMessage.created_at.type),
    )


def _insert_ignoring_duplicates(event_id: int, source) -> int:
    """Insert the rows, skipping (event, subscriber) pairs already queued; return the event's row count."""
    # (event, subscriber) is unique: a retried job or a second worker inserts nothing twice.
    stmt = insert_on_conflict(OutboxMessage.__table__).from_select(COLUMNS, source)
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["event_id", "subscriber_id"]))
    # INSERT's rowcount is not reliable across drivers (psycopg reports -1), so count what is there.
    return db.session.scalar(select(func.count()).where(OutboxMessage.event_id == event_id))


def _told_subscribers():
    """Subscribers who already had an SMS saying how to stop, read once before the INSERT.

    MATERIALIZED matters: the INSERT writes into the table this reads, and without it PostgreSQL
    re-scanned the growing outbox for every subscriber (minutes for 200,000 instead of seconds).
    """
    told = aliased(OutboxMessage)
    return (
        select(told.subscriber_id.label("subscriber_id"))
        .where(told.with_stop_hint, told.status.not_in(NOT_TOLD))  # withdrawn or failed: not told
        .cte("told")
        .prefix_with("MATERIALIZED")
    )


def publication(event_id: int, department_id: int, district_ids: list[int], urgent: bool, now: datetime) -> int:
    """Queue the first SMS of an announcement for everyone it concerns; return how many are queued for it."""
    status, due = initial_status(urgent, now)
    told = _told_subscribers()
    source = (
        select(
            literal(event_id),
            Subscriber.id,
            Subscriber.phone,
            Subscriber.language,
            literal("announcement"),
            told.c.subscriber_id.is_(None),
            literal(urgent),
            *_constants(status, due, now),
        )
        .outerjoin(told, told.c.subscriber_id == Subscriber.id)
        .where(_audience(department_id, district_ids))
    )
    return _insert_ignoring_duplicates(event_id, source)


def follow_up(event_id: int, original_event_id: int, urgent: bool, now: datetime) -> int:
    """Queue a follow-up (extended, restored, cancelled, reminder) only to those told about the original."""
    status, due = initial_status(urgent, now)
    source = (
        select(
            literal(event_id),
            Subscriber.id,
            Subscriber.phone,
            Subscriber.language,
            literal("announcement"),
            literal(False),
            literal(urgent),
            *_constants(status, due, now),
        )
        .join(OutboxMessage, OutboxMessage.subscriber_id == Subscriber.id)
        .where(
            OutboxMessage.event_id == original_event_id,
            OutboxMessage.status.in_(TOLD),
            Subscriber.status == ACTIVE,
        )
    )
    return _insert_ignoring_duplicates(event_id, source)


def withdraw(event_ids: list[int], reason: str) -> int:
    """Cancel messages of these events that have not left yet (superseded, or the works are over).

    A withdrawn SMS that carried the "how to stop" line passes it to the resident's next waiting one.
    """
    if not event_ids:
        return 0
    waiting = (OutboxMessage.event_id.in_(event_ids), OutboxMessage.status.in_(PENDING_STATUSES))
    hinted = hinted_subscribers(*waiting)
    cancelled = db.session.execute(
        update(OutboxMessage)
        .where(*waiting)
        .values(status=CANCELLED, reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    pass_on_stop_hints(hinted)
    return cancelled
