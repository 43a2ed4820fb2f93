"""Queued messages: enqueue, hold for quiet hours, claim into gateway requests, record results."""

import secrets
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, func, select, update

from notifier import segments
from notifier.db import db
from notifier.outbox_models import (
    B_FAILED,
    B_SENDING,
    DELIVERED,
    FAILED,
    HELD,
    QUEUED,
    SENDING,
    SENT,
    OutboxMessage,
    SmsBatch,
)
from notifier.quiet import quiet_until
from notifier.timeutil import local_zone

# Renders the text of an announcement row: (event_id, language, with_stop_hint) -> text.
Renderer = Callable[[int, str, bool], str]


def initial_status(urgent: bool, now: datetime) -> tuple[str, datetime]:
    """Return (status, next_attempt_at) for a new message: held until the quiet hours end, unless urgent."""
    until = None if urgent else quiet_until(now)
    return (HELD, until) if until else (QUEUED, now)


def enqueue(phone: str, text: str, language: str, purpose: str, now: datetime, urgent: bool = False) -> OutboxMessage:
    """Queue one direct message (a code, a confirmation, a reply); the caller commits."""
    status, due = initial_status(urgent, now)
    message = OutboxMessage(
        phone=phone,
        text=text,
        language=language,
        purpose=purpose,
        urgent=urgent,
        status=status,
        next_attempt_at=due,
        created_at=now,
        parts=segments.count(text).parts,
    )
    db.session.add(message)
    db.session.flush()
    return message


def hold_and_release(now: datetime) -> int:
    """Hold non-urgent queued messages during quiet hours; release held ones whose time has come."""
    until = quiet_until(now)
    if until is not None:
        held = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == QUEUED, OutboxMessage.urgent.is_(False))
            .values(status=HELD, next_attempt_at=until)
        ).rowcount
        return held
    return db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == HELD, OutboxMessage.next_attempt_at <= now)
        .values(status=QUEUED)
    ).rowcount


def parts_sent_today(now: datetime) -> int:
    """Return the SMS parts handed to the gateway since local midnight."""
    midnight = now.astimezone(local_zone()).replace(hour=0, minute=0, second=0, microsecond=0)
    total = db.session.scalar(
        select(func.coalesce(func.sum(OutboxMessage.parts), 0)).where(
            OutboxMessage.sent_at >= midnight, OutboxMessage.status.in_((SENT, DELIVERED))
        )
    )
    return int(total or 0)


def _new_request_id() -> str:
    # Unique across workers and restarts, within SMSC's 40 characters of [A-Za-z0-9._-].
    return "h" + secrets.token_hex(12)


def claim(now: datetime, limit: int, urgent_only: bool, render: Renderer, gateway: str) -> list[SmsBatch]:
    """Claim due queued messages into gateway requests (same text, up to SMS_BATCH_SIZE phones); commit.

    Rows are locked with SKIP LOCKED, so workers sharing PostgreSQL never claim the same message.
    """
    rows = []
    # Urgent first, then the rest, each oldest first: both read ix_outbox_queued in order, where one
    # ORDER BY urgent DESC, id sorted the whole backlog on every claim.
    for urgent in (True,) if urgent_only else (True, False):
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.status == QUEUED,
                OutboxMessage.urgent == urgent,  # "= true", which an index can serve; "IS TRUE" cannot
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(limit - len(rows))
            .with_for_update(skip_locked=True)
        )
        if len(rows) < limit:
            rows += db.session.scalars(query).all()
    groups: dict[tuple, list[OutboxMessage]] = defaultdict(list)
    texts: dict[tuple, str] = {}
    for row in rows:
        key = (row.event_id, row.language, row.with_stop_hint) if row.text is None else ("text", row.text)
        if key not in texts:
            texts[key] = row.text if row.text is not None else render(row.event_id, row.language, row.with_stop_hint)
        groups[key].append(row)
    size = current_app.config["SMS_BATCH_SIZE"]
    batches = []
    for key, members in groups.items():
        text = texts[key]
        parts = segments.count(text).parts
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            batch = SmsBatch(request_id=_new_request_id(), gateway=gateway, text=text, status=B_SENDING, created_at=now)
            db.session.add(batch)
            db.session.flush()
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([m.id for m in chunk]), OutboxMessage.status == QUEUED)
                .values(status=SENDING, batch_id=batch.id, parts=parts)
                .execution_options(synchronize_session=False)
            )
            batches.append(batch)
    db.session.commit()
    return batches


def batch_phones(batch: SmsBatch, statuses=(SENDING,)) -> list[str]:
    """Return the phones of a batch's messages in the given statuses."""
    return list(
        db.session.scalars(
            select(OutboxMessage.phone).where(OutboxMessage.batch_id == batch.id, OutboxMessage.status.in_(statuses))
        )
    )


def move(
    batch: SmsBatch,
    phones: list[str] | None,
    new_status: str,
    now: datetime,
    reason: str = "",
    from_statuses=(SENDING,),
) -> int:
    """Move a batch's messages (all, or those phones) forward; return how many moved."""
    values: dict = {"status": new_status}
    if reason:
        values["reason"] = reason[:60]
    if new_status == SENT:
        values["sent_at"] = now
    if new_status == DELIVERED:
        values["delivered_at"] = now
    if new_status == QUEUED:
        values.update(batch_id=None, next_attempt_at=now)
    conditions = [OutboxMessage.batch_id == batch.id, OutboxMessage.status.in_(from_statuses)]
    if phones is not None:
        conditions.append(OutboxMessage.phone.in_(phones))
    return db.session.execute(
        update(OutboxMessage).where(and_(*conditions)).values(**values).execution_options(synchronize_session=False)
    ).rowcount


def fail_batch(batch: SmsBatch, reason: str, detail: str, now: datetime) -> None:
    """Mark a request and its unsent messages failed, with the reason staff will read."""
    batch.status, batch.reason, batch.detail = B_FAILED, reason, detail[:2000]
    move(batch, None, FAILED, now, reason, from_statuses=(SENDING,))
