"""Inbound SMS: keywords answered, everything else an appeal; the jobs that claim and poll them."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy import text as sql

from appeals import keywords, service
from appeals.keywords import CHOICE, CODE, HELP, REPLIES, START, STOP, SUBSCRIBE, Keyword
from appeals.models import Appeal
from notifier import dispatch, outbox
from notifier.db import among, db
from notifier.directory import (
    Department,
    District,
    all_departments,
    all_districts,
    departments_by_slug,
    districts_by_slugs,
)
from notifier.errors import ServiceError
from notifier.inbound_models import HANDLED, NEW, InboundSms
from notifier.lanes import lane_count, run_lanes
from notifier.outbox_models import CANCELLED, PENDING_STATUSES, OutboxMessage
from notifier.sms.smsc import SmscError
from notifier.webhooks import store_inbound
from subscribers import service as subscriptions
from subscribers.models import ACTIVE, STOPPED, ConfirmationCode, Subscriber
from subscribers.phones import PhoneError, mask, normalize

log = logging.getLogger("habarlama.intake")

PURPOSES = {kind: f"kw_{kind}" for kind in (STOP, START, HELP, SUBSCRIBE, CODE, CHOICE)}
AUTO_REPLY_PURPOSES = (*PURPOSES.values(), "appeal_ack")
CHOICE_PURPOSE, CHOICE_TTL, MAX_CHOICES = "choice", timedelta(hours=1), 9
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


@dataclass
class Turn:
    """One message being answered: who sent it, what it asks, and whether we may answer by SMS."""

    phone: str
    text: str
    keyword: Keyword | None
    language: str
    may_reply: bool
    batch: Batch

    @property
    def now(self) -> datetime:
        return self.batch.now

    @property
    def sender(self) -> service.Sender:
        return self.batch.senders[self.phone]

    @property
    def subscriber(self) -> Subscriber | None:
        return self.sender.subscriber

    @property
    def replies(self) -> list[str]:
        return self.batch.replies[self.phone]

    def reply(self, key: str, language: str | None = None, always: bool = False, **values) -> None:
        """Queue one automatic answer, unless this number has had its share this hour."""
        if not (self.may_reply or always):
            log.info("no automatic reply to %s: APPEAL_AUTO_REPLIES_PER_HOUR reached", mask(self.phone))
            return
        language = language or self.language
        url = current_app.config["PUBLIC_BASE_URL"] + "/subscribe"
        text = REPLIES[language][key].format(url=url, **values)
        purpose = PURPOSES[self.keyword.kind]
        db.session.add(outbox.new_message(self.phone, text, language, purpose, self.now, urgent=True))
        self.replies.insert(0, purpose)


def _names(districts: list[District], language: str) -> str:
    return ", ".join(d.name(language) for d in districts)


def _recent_replies(phones: list[str], now: datetime) -> dict[str, list[str]]:
    """Return, per phone, the purposes of the automatic SMS queued to it in the last hour, newest first."""
    found = {phone: [] for phone in phones}
    rows = db.session.execute(
        select(OutboxMessage.phone, OutboxMessage.purpose)
        .where(among(OutboxMessage.phone, phones), OutboxMessage.purpose.in_(AUTO_REPLY_PURPOSES))
        .where(OutboxMessage.created_at > now - timedelta(hours=1), OutboxMessage.status != CANCELLED)
        .order_by(OutboxMessage.id.desc())
    )
    for phone, purpose in rows:
        found[phone].append(purpose)
    return found


def _cancel_pending(phone: str, purpose: str, reason: str) -> None:
    """Cancel the phone's messages of this purpose that have not left yet; staff see the reason."""
    pending = (
        OutboxMessage.phone == phone,
        OutboxMessage.purpose == purpose,
        OutboxMessage.status.in_(PENDING_STATUSES),
    )
    db.session.execute(
        update(OutboxMessage)
        .where(*pending)
        .values(status=CANCELLED, reason=reason)
        .execution_options(synchronize_session=False)
    )


def _stop(turn: Turn) -> str:
    subscriber = turn.subscriber
    if subscriber is not None and subscriber.status != STOPPED:
        subscriber.status, subscriber.stopped_at = STOPPED, turn.now
    # Announcement SMS still held for the quiet hours would reach them after they said stop.
    _cancel_pending(turn.phone, "announcement", "stopped")
    last = [purpose for purpose in turn.replies if purpose in (PURPOSES[STOP], PURPOSES[START])][:1]
    if last != [PURPOSES[STOP]]:  # a repeated STOP within the hour is not confirmed twice
        # Opt-out is always confirmed (PRODUCT.md); repeats within the hour are not, so no loop.
        turn.reply("stopped" if subscriber is not None else "stopped_unknown", always=True)
    return "stopped"


def _start(turn: Turn) -> str:
    subscriber = turn.subscriber
    if subscriber is None or not subscriber.districts:
        turn.reply("not_subscribed")
        return "not_subscribed"
    if subscriber.status != ACTIVE:
        subscriber.status, subscriber.stopped_at = ACTIVE, None
        subscriber.confirmed_at = subscriber.confirmed_at or turn.now
    turn.reply("started", districts=_names(subscriber.districts, turn.language))
    return "started"


def _help(turn: Turn) -> str:
    turn.reply("help")
    return "help"


def _subscribe_to(turn: Turn, district: District, language: str) -> str:
    """Subscribe the phone to the district for every service: texting us proved the number is theirs."""
    subscriber = turn.subscriber
    if subscriber is None:
        subscriber = Subscriber(phone=turn.phone, created_at=turn.now, districts=[])
        db.session.add(subscriber)
    if district not in subscriber.districts:
        subscriber.districts = sorted([*subscriber.districts, district], key=lambda d: d.id)
    subscriber.departments = all_departments()
    subscriber.language = language
    subscriber.status, subscriber.stopped_at = ACTIVE, None
    subscriber.confirmed_at = subscriber.confirmed_at or turn.now
    turn.reply("subscribed", language, districts=district.name(language))
    return "subscribed"


def _subscribe(turn: Turn) -> str:
    keyword = turn.keyword
    language = keyword.language or (turn.subscriber.language if turn.subscriber else "ru")
    found = keywords.match_districts(keyword.argument) if keyword.argument else []
    if len(found) == 1:
        return _subscribe_to(turn, found[0], language)
    if found:
        found = found[:MAX_CHOICES]
        payload = {"districts": [d.slug for d in found], "language": language}
        db.session.add(
            ConfirmationCode(phone=turn.phone, purpose=CHOICE_PURPOSE, code_hash="", payload=json.dumps(payload),
                             attempts=0, created_at=turn.now, expires_at=turn.now + CHOICE_TTL)
        )  # fmt: skip
        options = "; ".join(f"{n} — {d.name(language)}" for n, d in enumerate(found, 1))
        turn.reply("choose", language, options=options)
        return "choice_sent"
    known = all_districts()
    example = known[0].name(language) if known else ""
    turn.reply("no_district", language, names=_names(known, language), example=example)
    return "no_district"


def _pending(phone: str, purpose: str, now: datetime) -> ConfirmationCode | None:
    return db.session.scalar(
        select(ConfirmationCode)
        .where(
            ConfirmationCode.phone == phone,
            ConfirmationCode.purpose == purpose,
            ConfirmationCode.used_at.is_(None),
            ConfirmationCode.expires_at > now,
        )
        .order_by(ConfirmationCode.id.desc())
        .limit(1)
        .with_for_update()
    )


def _choose(turn: Turn) -> str | None:
    choice = _pending(turn.phone, CHOICE_PURPOSE, turn.now)
    if choice is None:
        return None  # a lone digit with no question asked: something for staff to read
    payload = json.loads(choice.payload or "{}")
    slugs, number = payload.get("districts", []), int(turn.keyword.argument)
    language = payload.get("language", turn.language)
    if number > len(slugs):
        turn.reply("choose_again", language, count=len(slugs))
        return "choice_invalid"
    choice.used_at = turn.now
    found, _unknown = districts_by_slugs([slugs[number - 1]])
    return _subscribe_to(turn, found[0], language) if found else None


def _confirm(turn: Turn) -> str | None:
    pending = _pending(turn.phone, subscriptions.SUBSCRIBE, turn.now)
    if pending is None:
        return None  # six digits nobody asked for (an account number?): an appeal
    language = json.loads(pending.payload or "{}").get("language", turn.language)  # the form's choice
    try:
        subscriber = subscriptions.confirm(turn.phone, turn.keyword.argument, turn.now, subscriptions.SUBSCRIBE)
    except ServiceError as err:  # the attempt was counted; the caller commits
        log.info("code typed back by %s refused: %s", mask(turn.phone), err.code)
        turn.reply("wrong_code", language)
        return "code_refused"
    turn.reply("subscribed", language, districts=_names(subscriber.districts, language))
    return "confirmed"


def _appeal(turn: Turn, inbound_id: int) -> str:
    """Add the message to the phone's open appeal, or draft a new one (the batch numbers it)."""
    if turn.sender.open_appeal is not None:
        service.add_to_thread(turn.sender.open_appeal, turn.text, turn.now, inbound_id)
        return "appeal_message"
    appeal = service.draft(turn.phone, turn.text, turn.now, "sms", turn.sender, departments=turn.batch.departments)
    # Registered all the same past the hourly limit; only the acknowledgement is held back.
    turn.batch.drafts.append(Draft(appeal, turn.text, inbound_id, "" if turn.may_reply else "auto_reply_limit"))
    return "appeal"


HANDLERS = {STOP: _stop, START: _start, HELP: _help, SUBSCRIBE: _subscribe, CHOICE: _choose, CODE: _confirm}


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
    subscriber = batch.senders[phone].subscriber
    if subscriber is not None:
        language = subscriber.language
    else:
        kazakh = keywords.has_kazakh_letters(text) or (keyword is not None and keyword.language == "kk")
        language = "kk" if kazakh else "ru"
    may_reply = len(batch.replies[phone]) < current_app.config["APPEAL_AUTO_REPLIES_PER_HOUR"]
    turn = Turn(phone, text, keyword, language, may_reply, batch)
    outcome = HANDLERS[keyword.kind](turn) if keyword else None
    return outcome or _appeal(turn, inbound.id)


def _answer(rows: list[InboundSms], now: datetime) -> list[tuple[int, str]]:
    """Handle messages from different phones together: each phone's state is read for all of them at once,
    and their new appeals are inserted, numbered and acknowledged together. The caller commits."""
    outcomes, senders = [], {}
    for row in rows:
        try:
            senders[row.id] = normalize(row.phone)
        except PhoneError as err:
            log.info("inbound %s from %s ignored: not a KZ mobile (%s)", row.id, mask(row.phone), err.reason)
            outcomes.append((row.id, "ignored_sender"))
    # Stored phones are "+" and digits (store_inbound): E.164 itself for every valid number, so a
    # batch's distinct stored phones are distinct residents.
    phones = list(senders.values())
    batch = Batch(now, service.senders(phones, now, lock=True), _recent_replies(phones, now), departments_by_slug())
    for row in rows:
        if row.id in senders:
            outcomes.append((row.id, handle(row, senders[row.id], batch)))
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
