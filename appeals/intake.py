"""Inbound SMS: the jobs that claim and poll them, and batches that answer keywords (keyword_replies) and
turn everything else into appeals."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy import text as sql

from appeals import keyword_replies, keywords, service
from appeals.keyword_replies import Turn
from appeals.keywords import CHOICE, CODE, START, SUBSCRIBE
from appeals.models import Appeal
from notifier import dispatch
from notifier.db import among, db
from notifier.directory import Department, departments_by_slug
from notifier.inbound_models import HANDLED, NEW, InboundSms
from notifier.lanes import lane_count, run_lanes
from notifier.sms.smsc import SmscError
from notifier.webhooks import store_inbound
from subscribers.phones import PhoneError, mask, normalize

log = logging.getLogger("habarlama.intake")

BATCH = 100  # messages handled in one transaction, each from a different phone
ROUNDS = 5  # batches a lane handles per run before the worker's other jobs get their turn
PHONE_LOCKS = 7301  # advisory-lock namespace: one worker at a time per resident's phone (PostgreSQL)
LOCK_PHONES = sql(
    "SELECT p FROM unnest(CAST(:phones AS text[])) AS p WHERE pg_try_advisory_xact_lock(:ns, hashtext(p))"
)
FAILURES = "_failures"  # kept in the row's raw payload: how often handling it failed


@dataclass
class Draft:
    """A new appeal waiting for its id (one INSERT for a whole batch), then numbered and acknowledged."""

    appeal: Appeal
    text: str
    inbound_id: int
    withheld: str  # why its acknowledgement is not sent, if it is not


@dataclass
class Batch:
    """Messages of different phones handled in one transaction: what is known of their phones, read for
    all of them at once, and the new appeals that will be inserted together."""

    now: datetime
    senders: dict[str, service.Sender]
    replies: dict[str, list[str]]  # purposes of the automatic SMS queued to each phone in the last hour, newest first
    departments: dict[str, Department]
    drafts: list[Draft] = field(default_factory=list)


def _appeal(turn: Turn, inbound_id: int, batch: Batch) -> str:
    """Add the message to the phone's open appeal, or draft a new one (the batch numbers it)."""
    if turn.sender.open_appeal is not None:
        service.add_to_thread(turn.sender.open_appeal, turn.text, turn.now, inbound_id)
        return "appeal_message"
    appeal = service.draft(turn.phone, turn.text, turn.now, "sms", turn.sender, departments=batch.departments)
    # Registered all the same past the hourly limit; only the acknowledgement is held back.
    batch.drafts.append(Draft(appeal, turn.text, inbound_id, "" if turn.may_reply else "auto_reply_limit"))
    return "appeal"


def _overtaken(inbound: InboundSms) -> bool:
    """A retried message the resident has since followed with another: replaying START would undo a STOP."""
    if not (inbound.raw or {}).get(FAILURES):
        return False
    newer = select(InboundSms.id).where(
        InboundSms.phone == inbound.phone, InboundSms.id > inbound.id, InboundSms.status == HANDLED
    )
    return db.session.scalar(newer.limit(1)) is not None


def handle(inbound: InboundSms, phone: str, batch: Batch) -> str:
    """Answer a keyword, or add the message to an appeal; return what happened. The caller commits."""
    text = (inbound.text or "").strip()
    if not text or keywords.looks_automatic(text):
        log.info("inbound %s from %s ignored: automatic or empty", inbound.id, mask(phone))
        return "ignored_auto"
    keyword = keywords.classify(text)
    if keyword and keyword.kind in (START, SUBSCRIBE, CHOICE, CODE) and _overtaken(inbound):
        log.info("inbound %s from %s not applied: a later message was handled first", inbound.id, mask(phone))
        return "overtaken"
    sender, replies = batch.senders[phone], batch.replies[phone]
    if sender.subscriber is not None:
        language = sender.subscriber.language
    else:
        kazakh = keywords.has_kazakh_letters(text) or (keyword is not None and keyword.language == "kk")
        language = "kk" if kazakh else "ru"
    may_reply = len(replies) < current_app.config["APPEAL_AUTO_REPLIES_PER_HOUR"]
    turn = Turn(phone, text, keyword, batch.now, sender, language, replies, may_reply)
    return keyword_replies.answer(turn) or _appeal(turn, inbound.id, batch)


def _answer(rows: list[InboundSms], now: datetime) -> list[tuple[int, str]]:
    """Handle messages from different phones together: each phone's state is read for all of them at once,
    and their new appeals are inserted, numbered and acknowledged together. The caller commits."""
    outcomes, phone_of = [], {}
    for row in rows:
        try:
            phone_of[row.id] = normalize(row.phone)
        except PhoneError as err:
            log.info("inbound %s from %s ignored: not a KZ mobile (%s)", row.id, mask(row.phone), err.reason)
            outcomes.append((row.id, "ignored_sender"))
    # Stored phones are "+" and digits (store_inbound): E.164 itself for every valid number, so a
    # batch's distinct stored phones are distinct residents.
    phones = list(phone_of.values())
    known, replies = service.senders(phones, now, lock=True), keyword_replies.recent_replies(phones, now)
    batch = Batch(now, known, replies, departments_by_slug())
    for row in rows:
        if row.id in phone_of:
            outcomes.append((row.id, handle(row, phone_of[row.id], batch)))
    if batch.drafts:
        db.session.flush()  # one INSERT gives every new appeal its id, hence its number
        for draft in batch.drafts:
            service.file(draft.appeal, draft.text, now, draft.inbound_id, withheld=draft.withheld)
    return outcomes


def _take(ids: list[int]) -> list[InboundSms]:
    """Claim the messages of `ids` that are new, not another worker's, and first in their phone's line.

    Locks them (SKIP LOCKED) and the phones (advisory locks, PostgreSQL) and marks them handled; the
    caller commits, or rolls back and they are new again.
    """
    rows = db.session.scalars(
        select(InboundSms)
        .where(among(InboundSms.id, ids), InboundSms.status == NEW)
        .order_by(InboundSms.id)
        .with_for_update(skip_locked=True)
    ).all()
    if rows and db.session.get_bind().dialect.name == "postgresql":  # one worker per phone at a time
        phones = sorted({row.phone for row in rows})
        locked = set(db.session.scalars(LOCK_PHONES, {"phones": phones, "ns": PHONE_LOCKS}))
        rows = [row for row in rows if row.phone in locked]
    if not rows:
        return []
    # Oldest first, per phone: STOP then START must not swap. Only a message that already failed
    # (see _record_failure) lets later ones past, so a broken one never holds up a STOP.
    first = {row.phone: row.id for row in reversed(rows)}
    older = db.session.execute(
        select(InboundSms.phone, InboundSms.id, InboundSms.raw).where(
            among(InboundSms.phone, list(first)), InboundSms.status == NEW, InboundSms.id < max(first.values())
        )
    )
    blocked = {phone for phone, row_id, raw in older if row_id < first[phone] and not (raw or {}).get(FAILURES)}
    rows = [row for row in rows if row.phone not in blocked]
    if not rows:
        return []
    moved = set(
        db.session.scalars(
            update(InboundSms)
            .where(among(InboundSms.id, [row.id for row in rows]), InboundSms.status == NEW)
            .values(status=HANDLED)
            .returning(InboundSms.id)
            .execution_options(synchronize_session=False)
        )
    )
    return [row for row in rows if row.id in moved]


def _record_failure(inbound_id: int) -> None:
    """Count a failed attempt on the message, which stays new; the table has no column for it."""
    try:
        row = db.session.get(InboundSms, inbound_id)
        if row is not None and row.status == NEW:
            row.raw = {**(row.raw or {}), FAILURES: int((row.raw or {}).get(FAILURES, 0)) + 1}
            db.session.commit()
    except Exception:  # the database itself may be why the message failed; the next run tries again
        db.session.rollback()


def _handle_batch(ids: list[int], now: datetime) -> int:
    """Handle the messages in one transaction; if that fails, each in its own, so one bad message
    only fails itself (it stays new, its failure counted, and is retried)."""
    try:
        outcomes = _answer(_take(ids), now)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if len(ids) > 1:
            log.warning("a batch of %d inbound SMS failed (%r); handling them one by one", len(ids), exc)
            return sum(_handle_batch([inbound_id], now) for inbound_id in ids)
        log.exception("inbound %s not handled; it stays new and is retried", ids[0])
        _record_failure(ids[0])
        return 0
    for inbound_id, outcome in outcomes:
        log.info("inbound %s: %s", inbound_id, outcome)
    return len(outcomes)


def _scan(lane: int, count: int, tried: set[int]) -> tuple[list[int], list[int]]:
    """Return the oldest new message of each of up to BATCH phones, oldest first, and up to BATCH that
    failed before (retried one at a time: they hold up nobody, see _take). A phone that floods us
    gets one message per batch like any other, so it never crowds the rest out. Messages tried
    earlier in this run wait for the next."""
    new = [InboundSms.status == NEW]
    if count > 1:  # lanes split by phone, so each phone's messages stay in order in one lane
        new.append(func.hashtext(InboundSms.phone).op("&")(0x7FFFFFFF) % count == lane)
    if tried:
        new.append(~among(InboundSms.id, sorted(tried)))
    failed = InboundSms.raw[FAILURES].as_string().is_not(None)
    first = func.min(InboundSms.id)
    batch = db.session.scalars(
        select(first).where(*new, ~failed).group_by(InboundSms.phone).order_by(first).limit(BATCH)
    )
    retry = db.session.scalars(select(InboundSms.id).where(*new, failed).order_by(InboundSms.id).limit(BATCH))
    return list(batch), list(retry)


def _process_lane(lane: int, count: int, now: datetime) -> int:
    """Handle the new inbound SMS of this lane's share of phones, a batch (one per phone) at a time."""
    handled, tried = 0, set()
    for _round in range(ROUNDS):
        batch, retry = _scan(lane, count, tried)
        db.session.commit()
        if not (batch or retry):
            break
        tried.update(batch, retry)
        handled += (_handle_batch(batch, now) if batch else 0) + sum(_handle_batch([i], now) for i in retry)
    return handled


def process_inbound(now: datetime) -> int:
    """Handle new inbound SMS in batches, each in its own transaction; a failure leaves that one new for a retry.

    On PostgreSQL APPEAL_INTAKE_LANES threads share the work by phone; other worker processes may
    run too (each message is claimed with SKIP LOCKED, each phone under an advisory lock).
    """
    return sum(run_lanes(lane_count("APPEAL_INTAKE_LANES"), _process_lane, now))


def _poll_cursor(now: datetime) -> int | None:
    """Return the newest gateway id stored before the overlap window, so a lost callback is never skipped."""
    overlap = timedelta(minutes=current_app.config["APPEAL_INBOUND_POLL_OVERLAP_MINUTES"])
    recent = db.session.scalars(
        select(InboundSms.gateway_id)
        .where(InboundSms.received_at <= now - overlap)
        .order_by(InboundSms.id.desc())
        .limit(100)
    )
    numbers = [int(g) for g in recent if g.isdigit()]
    return max(numbers, default=None)


def poll_inbound(now: datetime) -> int:
    """Fetch inbound SMS from SMSC (the fallback for lost callbacks) and store the ones we lack."""
    if current_app.config["SMS_GATEWAY"] != "smsc":
        return 0  # the log gateway receives nothing
    after = _poll_cursor(now)
    db.session.commit()  # no transaction open across the gateway call
    try:
        received = dispatch.gateway().fetch_inbound(after, hours=current_app.config["APPEAL_INBOUND_POLL_HOURS"])
    except SmscError as exc:
        log.warning("polling SMSC for inbound SMS failed: %s", exc)
        return 0
    stored = 0
    for start in range(0, len(received), 500):
        chunk = received[start : start + 500]
        ids = [str(sms.id) for sms in chunk]
        known = set(db.session.scalars(select(InboundSms.gateway_id).where(InboundSms.gateway_id.in_(ids))))
        for sms in chunk:
            raw = {"via": "poll", "id": str(sms.id), "phone": sms.phone, "to_phone": sms.to_phone}
            if str(sms.id) not in known and store_inbound(sms, raw | {"message": sms.text[:500]}):
                stored += 1
    db.session.commit()
    return stored
