"""Queued messages: enqueue, hold for quiet hours, claim into gateway requests, record results."""

import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import and_, exists, func, insert, select, update

from notifier import segments
from notifier.db import among, db
from notifier.outbox_models import (
    B_SENDING,
    CANCELLED,
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

TABLE = OutboxMessage.__table__
# Renders the text of an announcement row: (event_id, language, with_stop_hint) -> text.
Renderer = Callable[[int, str, bool], str]


def initial_status(urgent: bool, now: datetime) -> tuple[str, datetime]:
    """Return (status, next_attempt_at) for a new message: held until the quiet hours end, unless urgent."""
    until = None if urgent else quiet_until(now)
    return (HELD, until) if until else (QUEUED, now)


def new_message(
    phone: str, text: str, language: str, purpose: str, now: datetime, urgent: bool = False, withheld: str = ""
) -> OutboxMessage:
    """Build one direct message (a code, a confirmation, a reply) without adding it to the session.

    `withheld` names why it must not go (it is stored cancelled, so staff see that and why).
    """
    status, due = initial_status(urgent, now)
    return OutboxMessage(
        phone=phone,
        text=text,
        language=language,
        purpose=purpose,
        urgent=urgent,
        status=CANCELLED if withheld else status,
        reason=withheld,
        next_attempt_at=due,
        created_at=now,
        parts=segments.count(text).parts,
    )


def enqueue(phone: str, text: str, language: str, purpose: str, now: datetime, urgent: bool = False) -> OutboxMessage:
    """Queue one direct message and give it its id; the caller commits."""
    message = new_message(phone, text, language, purpose, now, urgent)
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


def anything_due(now: datetime) -> bool:
    """Whether any queued message is due to go (one row of the pending index)."""
    due = select(TABLE.c.id).where(TABLE.c.status == QUEUED, TABLE.c.next_attempt_at <= now).limit(1)
    return db.session.scalar(due) is not None


def _new_request_id() -> str:
    # Unique across workers and restarts, within SMSC's 40 characters of [A-Za-z0-9._-].
    return "h" + secrets.token_hex(12)


@dataclass
class Claimed:
    """One gateway request, ready to go: its sms_batches row, our request id, the text and its messages."""

    batch_id: int
    request_id: str
    text: str
    ids: list[int]
    phones: list[str]
    attempts: int = 0  # earlier attempts of this request (a reconcile resends after some)


@dataclass
class ClaimRun:
    """What one lane keeps between its claims in one dispatch run."""

    texts: dict = field(default_factory=dict)  # rendered announcement texts, by (event, language, hint)
    # urgent -> the id up to which this run has claimed or passed by every due queued message. Right
    # after a fan-out the statistics say nearly every row is queued, so PostgreSQL reads the queue in
    # primary-key order and filters: a claim reading from the start stepped over everything the run
    # had claimed so far (1,000 rows read 2,000 buffers at first, 95,000 after 80 claims). A message
    # queued again below this mark (released by a halt, or by another worker that died while
    # claiming) is taken by the next run.
    read_to: dict = field(default_factory=dict)

    def advance(self, rows: list, taken: set[int]) -> None:
        """Move the marks past the rows read, but not past a row left queued (a partial tail)."""
        read: dict[bool, int] = {}
        left: dict[bool, int] = {}
        for id_, urgent, *_rest in rows:  # ids ascend within each urgency
            read[urgent] = id_
            if id_ not in taken and urgent not in left:
                left[urgent] = id_
        for urgent, last in read.items():
            self.read_to[urgent] = left[urgent] - 1 if urgent in left else last


def _queued(now: datetime, limit: int, urgent_only: bool, read_to: dict) -> list:
    """Lock up to `limit` due queued messages, urgent first, then the rest, each oldest first."""
    columns = (
        OutboxMessage.id,
        OutboxMessage.urgent,
        OutboxMessage.phone,
        OutboxMessage.event_id,
        OutboxMessage.language,
        OutboxMessage.with_stop_hint,
        OutboxMessage.text,
    )
    rows: list = []
    # Both reads follow ix_outbox_queued in order, where one ORDER BY urgent DESC, id sorted the
    # whole backlog on every claim. Only the columns a request needs: no ORM objects for 1,000 rows.
    for urgent in (True,) if urgent_only else (True, False):
        if len(rows) >= limit:
            break
        query = (
            select(*columns)
            .where(
                OutboxMessage.status == QUEUED,
                OutboxMessage.urgent == urgent,  # "= true", which an index can serve; "IS TRUE" cannot
                OutboxMessage.next_attempt_at <= now,
                OutboxMessage.id > read_to.get(urgent, 0),
            )
            .order_by(OutboxMessage.id)
            .limit(limit - len(rows))
            .with_for_update(skip_locked=True)
        )
        rows += db.session.execute(query).all()
    return rows


def claim(
    now: datetime, limit: int, urgent_only: bool, render: Renderer, gateway: str, run: ClaimRun | None = None
) -> list[Claimed]:
    """Claim due queued messages into gateway requests (same text, up to SMS_BATCH_SIZE phones); commit.

    Rows are locked with SKIP LOCKED, so workers sharing PostgreSQL never claim the same message.
    `run` carries rendered texts and how far the queue was read between claims of one dispatch run.
    """
    run = ClaimRun() if run is None else run
    texts = run.texts
    rows = _queued(now, limit, urgent_only, run.read_to)
    size = current_app.config["SMS_BATCH_SIZE"]
    groups: dict[tuple, list] = defaultdict(list)
    for row in rows:
        _id, _urgent, _phone, event_id, language, hint, text = row
        key = (event_id, language, hint) if text is None else ("text", text)
        if key not in texts:
            texts[key] = text if text is not None else render(event_id, language, hint)
        groups[key].append(row)
    chunks: list[tuple[str, list]] = []
    for key, members in groups.items():
        full = len(rows) == limit and len(members) > size
        # A full claim cut this text's run short: leave its partial tail queued, so the next claim
        # sends it in a full request with what follows (1,000 requests for 100,000 messages, not 1,100).
        # A text with fewer than `size` messages is never held back, so nothing waits for ever.
        end = len(members) - len(members) % size if full else len(members)
        chunks += [(texts[key], members[start : start + size]) for start in range(0, end, size)]
    run.advance(rows, {member[0] for _text, members in chunks for member in members})
    if not chunks:
        db.session.commit()
        return []
    request_ids = [_new_request_id() for _chunk in chunks]
    created = db.session.execute(
        insert(SmsBatch).returning(SmsBatch.id, SmsBatch.request_id),
        [
            {"request_id": r, "gateway": gateway, "text": text, "status": B_SENDING, "created_at": now}
            for r, (text, _members) in zip(request_ids, chunks, strict=True)
        ],
    ).all()
    batch_ids = dict((request_id, batch_id) for batch_id, request_id in created)
    claimed = []
    for request_id, (text, members) in zip(request_ids, chunks, strict=True):
        request = Claimed(batch_ids[request_id], request_id, text, [m.id for m in members], [m.phone for m in members])
        db.session.execute(
            update(TABLE)
            .where(among(TABLE.c.id, request.ids), TABLE.c.status == QUEUED)
            .values(status=SENDING, batch_id=request.batch_id, parts=segments.count(text).parts)
        )
        claimed.append(request)
    db.session.commit()
    return claimed


def pending_requests(batches: list[SmsBatch]) -> list[Claimed]:
    """Return each request with its messages still 'sending', ready to ask about or resend (one query)."""
    requests = {b.id: Claimed(b.id, b.request_id, b.text, [], [], b.attempts) for b in batches}
    rows = db.session.execute(
        select(OutboxMessage.batch_id, OutboxMessage.id, OutboxMessage.phone)
        .where(among(OutboxMessage.batch_id, list(requests)), OutboxMessage.status == SENDING)
        .order_by(OutboxMessage.id)
    )
    for batch_id, id_, phone in rows:
        requests[batch_id].ids.append(id_)
        requests[batch_id].phones.append(phone)
    return list(requests.values())


# A hinted SMS that will not reach the resident does not count as having told them how to stop.
NOT_TOLD = (CANCELLED, FAILED)


def hinted_subscribers(*conditions) -> list[int]:
    """Return the residents whose SMS matching the conditions carry the "how to stop" line."""
    hinted = select(TABLE.c.subscriber_id).where(*conditions, TABLE.c.with_stop_hint)
    return list(db.session.scalars(hinted.where(TABLE.c.subscriber_id.is_not(None)).distinct()))


def pass_on_stop_hints(subscriber_ids: list[int]) -> int:
    """Give the "how to stop" line to the next waiting SMS of each resident whose hinted one will not reach
    them (withdrawn or failed), unless another hinted one is on its way or arrived; return how many."""
    if not subscriber_ids:
        return 0
    waiting, hinted = TABLE.alias("waiting"), TABLE.alias("hinted")
    still_told = exists().where(
        hinted.c.subscriber_id == waiting.c.subscriber_id,
        hinted.c.with_stop_hint,
        hinted.c.status.not_in(NOT_TOLD),
    )
    first = (
        select(func.min(waiting.c.id))
        .where(among(waiting.c.subscriber_id, subscriber_ids), waiting.c.status.in_((QUEUED, HELD)))
        .where(waiting.c.event_id.is_not(None), ~still_told)
        .group_by(waiting.c.subscriber_id)
    )
    return db.session.execute(update(TABLE).where(TABLE.c.id.in_(first)).values(with_stop_hint=True)).rowcount


def move(
    batch_id: int,
    phones: list[str] | None,
    new_status: str,
    now: datetime,
    reason: str = "",
    from_statuses=(SENDING,),
    ids: list[int] | None = None,
) -> int:
    """Move a request's messages (all, those phones, or those ids) forward; return how many moved."""
    values: dict = {"status": new_status}
    if reason:
        values["reason"] = reason[:60]
    if new_status == SENT:
        values["sent_at"] = now
    if new_status == DELIVERED:
        values["delivered_at"] = now
    if new_status == QUEUED:
        values.update(batch_id=None, next_attempt_at=now)
    # By primary key when the ids are known (the dispatch path): cheaper than the batch_id index.
    where = [among(TABLE.c.id, ids)] if ids is not None else []
    conditions = [*where, TABLE.c.batch_id == batch_id, TABLE.c.status.in_(from_statuses)]
    if phones is not None:
        conditions.append(TABLE.c.phone.in_(phones))
    hinted = hinted_subscribers(*conditions) if new_status == FAILED else []
    # Core, not ORM-enabled UPDATE: nothing of these rows lives in the session.
    moved = db.session.execute(update(TABLE).where(and_(*conditions)).values(**values)).rowcount
    pass_on_stop_hints(hinted)
    return moved


def update_batch(batch_id: int, **values) -> None:
    """Change a request's row without loading it."""
    if "detail" in values:
        values["detail"] = values["detail"][:2000]
    if "reason" in values:
        values["reason"] = values["reason"][:60]
    batches = SmsBatch.__table__
    db.session.execute(update(batches).where(batches.c.id == batch_id).values(**values))
