"""Deadline sweeps: flag each appeal that passed its deadline unanswered, once."""

from datetime import datetime

from sqlalchemy import select, update

from appeals.models import OPEN_STATUSES, Appeal, AppealEvent
from notifier.db import db

BATCH = 500


def _flag_batch(now: datetime) -> int:
    due = (
        select(Appeal.id)
        .where(Appeal.status.in_(OPEN_STATUSES), Appeal.due_at < now, Appeal.overdue_notified_at.is_(None))
        .order_by(Appeal.due_at, Appeal.id)
        .limit(BATCH)
        .scalar_subquery()
    )
    # The UPDATE checks IS NULL again: a row another worker flagged meanwhile is not flagged twice.
    claimed = db.session.execute(
        update(Appeal)
        .where(Appeal.id.in_(due), Appeal.overdue_notified_at.is_(None))
        .values(overdue_notified_at=now)
        .returning(Appeal.id, Appeal.due_at)
        .execution_options(synchronize_session=False)
    ).all()
    for appeal_id, due_at in claimed:
        db.session.add(AppealEvent(appeal_id=appeal_id, kind="overdue", at=now, new={"due_at": due_at.isoformat()}))
    db.session.flush()
    return len(claimed)


def notify_overdue(now: datetime) -> int:
    """Record an "overdue" event on each open appeal past its deadline, once per appeal; return how many."""
    # Staff have no e-mail here and SMS to staff would spend the residents' budget: approvers see
    # these in the appeal's history, the queue's overdue flag and filter, and the queue's banner.
    total = 0
    # Until a batch finds nothing: a short batch may only mean another worker took part of it.
    while flagged := _flag_batch(now):
        total += flagged
    return total
