"""What staff see about subscribers: counts of active ones, and an audited lookup of one phone."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import selectinload

from notifier.db import db
from notifier.directory import Department, District
from notifier.outbox_models import OutboxMessage
from subscribers.models import ACTIVE, PhoneLookup, Subscriber, subscriber_departments, subscriber_districts
from subscribers.phones import normalize_or_raw

LOOKUP_MESSAGES = 20


def _active_per(model, link, column) -> list[tuple[object, int]]:
    """Return (row, active subscribers) for every row of a reference table, zeros included."""
    joined = and_(Subscriber.id == link.c.subscriber_id, Subscriber.status == ACTIVE)
    counted = (
        select(link.c[column], func.count(Subscriber.id).label("n"))
        .join(Subscriber, joined)
        .group_by(link.c[column])
        .subquery()
    )
    rows = db.session.execute(
        select(model, func.coalesce(counted.c.n, 0))
        .outerjoin(counted, counted.c[column] == model.id)
        .order_by(model.id)
    )
    return [(row, int(n)) for row, n in rows]


def counts_by_district() -> list[tuple[District, int]]:
    """Return every district with its number of active subscribers."""
    return _active_per(District, subscriber_districts, "district_id")


def counts_by_department() -> list[tuple[Department, int]]:
    """Return every department (service) with its number of active subscribers."""
    return _active_per(Department, subscriber_departments, "department_id")


def counts_by_language() -> dict[str, int]:
    """Return the number of active subscribers per language (kk, ru)."""
    rows = db.session.execute(
        select(Subscriber.language, func.count(Subscriber.id))
        .where(Subscriber.status == ACTIVE)
        .group_by(Subscriber.language)
    )
    counts = {"kk": 0, "ru": 0}
    counts.update({lang: int(n) for lang, n in rows})
    return counts


def total_active() -> int:
    """Return the number of active subscribers."""
    return int(db.session.scalar(select(func.count(Subscriber.id)).where(Subscriber.status == ACTIVE)) or 0)


@dataclass
class Lookup:
    """What a staff lookup of one phone found."""

    phone: str
    subscriber: Subscriber | None
    messages: list[OutboxMessage]


def lookup(staff_id: int, phone_raw: str, now: datetime) -> Lookup:
    """Find the subscriber and the latest messages of a phone, and record who looked (found or not)."""
    phone = normalize_or_raw(phone_raw)
    subscriber = db.session.scalar(
        select(Subscriber)
        .where(Subscriber.phone == phone)
        .options(selectinload(Subscriber.districts), selectinload(Subscriber.departments))
    )
    messages = list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.phone == phone)
            .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
            .limit(LOOKUP_MESSAGES)
        )
    )
    db.session.add(PhoneLookup(staff_id=staff_id, phone=phone, found=subscriber is not None, at=now))
    return Lookup(phone=phone, subscriber=subscriber, messages=messages)
