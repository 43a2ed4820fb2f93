"""Read-side queries for the staff appeals queue and the appeal page."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from appeals.models import OPEN_STATUSES, Appeal, AppealMessage
from notifier.db import db
from notifier.directory import Department, District
from notifier.outbox_models import OutboxMessage

KZ_NATIONAL_DIGITS = 10  # +7 and ten digits: "8 701 123 45 67" and "+7 701 …" end in the same ten


@dataclass
class Queue:
    """What the queue shows: one department or the contact-centre queue (or all), and the filters."""

    department: Department | None = None
    contact_centre: bool = False
    status: str | None = None
    overdue: bool = False
    district: District | None = None
    number: str = ""
    phone: str = ""


def _overdue(now: datetime):
    return Appeal.status.in_(OPEN_STATUSES) & (Appeal.due_at < now)


def queue_query(queue: Queue, now: datetime) -> Select:
    """Return the appeals matching the queue's filters, newest first."""
    query = select(Appeal).options(
        joinedload(Appeal.department), joinedload(Appeal.district), joinedload(Appeal.assigned_to)
    )
    if queue.contact_centre:
        query = query.where(Appeal.department_id.is_(None))
    elif queue.department is not None:
        query = query.where(Appeal.department_id == queue.department.id)
    if queue.status:
        query = query.where(Appeal.status == queue.status)
    if queue.overdue:
        query = query.where(_overdue(now))
    if queue.district is not None:
        query = query.where(Appeal.district_id == queue.district.id)
    if queue.number.strip():
        query = query.where(Appeal.number.contains(queue.number.strip(), autoescape=True))
    digits = "".join(ch for ch in queue.phone if ch.isdigit())
    if digits:
        query = query.where(Appeal.phone.contains(digits[-KZ_NATIONAL_DIGITS:], autoescape=True))
    return query.order_by(Appeal.created_at.desc(), Appeal.id.desc())


def last_messages(appeal_ids: list[int]) -> dict[int, AppealMessage]:
    """Return the latest message of each appeal, by appeal id (one query for a page of the queue)."""
    if not appeal_ids:
        return {}
    latest = (
        select(func.max(AppealMessage.id))
        .where(AppealMessage.appeal_id.in_(appeal_ids))
        .group_by(AppealMessage.appeal_id)
        .scalar_subquery()
    )
    rows = db.session.scalars(select(AppealMessage).where(AppealMessage.id.in_(latest)))
    return {message.appeal_id: message for message in rows}


def overdue_count(department_id: int | None, now: datetime) -> int:
    """Return how many open appeals are past their deadline, in one department or (None) in all."""
    query = select(func.count(Appeal.id)).where(_overdue(now))
    if department_id is not None:
        query = query.where(Appeal.department_id == department_id)
    return db.session.scalar(query) or 0


def reply_statuses(appeal: Appeal) -> dict[int, str]:
    """Return the outbox status of each SMS answer in the thread, by outbox id."""
    ids = [m.outbox_id for m in appeal.messages if m.outbox_id]
    if not ids:
        return {}
    rows = db.session.execute(select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.id.in_(ids)))
    return {outbox_id: status for outbox_id, status in rows}
