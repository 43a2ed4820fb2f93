"""Inbound SMS: keywords answered, everything else an appeal; the jobs that claim and poll them."""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from appeals import keywords, service
from appeals.keywords import CHOICE, CODE, HELP, REPLIES, START, STOP, SUBSCRIBE, Keyword
from notifier import dispatch, outbox
from notifier.db import db
from notifier.directory import District, all_departments, all_districts, districts_by_slugs
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
CLAIM_LIMIT = 200
PHONE_LOCKS = 7301  # advisory-lock namespace: one worker at a time per resident's phone (PostgreSQL)
FAILURES = "_failures"  # kept in the row's raw payload: how often handling it failed


@dataclass
class Turn:
    """One message being answered: who sent it, what it asks, and whether we may answer by SMS."""

    phone: str
    text: str
    keyword: Keyword | None
    now: datetime
    subscriber: Subscriber | None
    language: str
    may_reply: bool

    def reply(self, key: str, language: str | None = None, always: bool = False, **values) -> None:
        """Queue one automatic answer, unless this number has had its share this hour."""
        if not (self.may_reply or always):
            log.info("no automatic reply to %s: APPEAL_AUTO_REPLIES_PER_HOUR reached", mask(self.phone))
            return
        language = language or self.language
        url = current_app.config["PUBLIC_BASE_URL"] + "/subscribe"
        text = REPLIES[language][key].format(url=url, **values)
        outbox.enqueue(self.phone, text, language, PURPOSES[self.keyword.kind], self.now, urgent=True)


def _names(districts: list[District], language: str) -> str:
    return ", ".join(d.name(language) for d in districts)


def _replies_this_hour(phone: str, purposes, now: datetime) -> list[str]:
    """Return the purposes of the automatic SMS queued to the phone in the last hour, newest first."""
    query = select(OutboxMessage.purpose).where(OutboxMessage.phone == phone, OutboxMessage.purpose.in_(purposes))
    since = OutboxMessage.created_at > now - timedelta(hours=1)
    return list(
        db.session.scalars(query.where(since, OutboxMessage.status != CANCELLED).order_by(OutboxMessage.id.desc()))
    )


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
    last = _replies_this_hour(turn.phone, (PURPOSES[STOP], PURPOSES[START]), turn.now)[:1]
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
    appeal, is_new = service.register(turn.phone, turn.text, turn.now, "sms", inbound_id=inbound_id)
    if is_new and not turn.may_reply:  # registered all the same; only the acknowledgement is held back
        _cancel_pending(turn.phone, "appeal_ack", "auto_reply_limit")
    return "appeal" if is_new else "appeal_message"


HANDLERS = {STOP: _stop, START: _start, HELP: _help, SUBSCRIBE: _subscribe, CHOICE: _choose, CODE: _confirm}


def _overtaken(inbound: InboundSms) -> bool:
    """A retried message the resident has since followed with another: replaying START would undo a STOP."""
    if not (inbound.raw or {}).get(FAILURES):
        return False
    newer = select(InboundSms.id).where(
        InboundSms.phone == inbound.phone, InboundSms.id > inbound.id, InboundSms.status == HANDLED
    )
    return db.session.scalar(newer.limit(1)) is not None


def handle(inbound: InboundSms, now: datetime) -> str:
    """Answer a keyword, or register the message as an appeal; return what happened. The caller commits."""
    try:
        phone = normalize(inbound.phone)
    except PhoneError as err:
        log.info("inbound %s from %s ignored: not a KZ mobile (%s)", inbound.id, mask(inbound.phone), err.reason)
        return "ignored_sender"
    text = (inbound.text or "").strip()
    if not text or keywords.looks_automatic(text):
        log.info("inbound %s from %s ignored: automatic or empty", inbound.id, mask(phone))
        return "ignored_auto"
    keyword = keywords.classify(text)
    if keyword and keyword.kind in (START, SUBSCRIBE, CHOICE, CODE) and _overtaken(inbound):
        log.info("inbound %s from %s not applied: a later message was handled first", inbound.id, mask(phone))
        return "overtaken"
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.phone == phone).with_for_update())
    if subscriber is not None:
        language = subscriber.language
    else:
        kazakh = keywords.has_kazakh_letters(text) or (keyword is not None and keyword.language == "kk")
        language = "kk" if kazakh else "ru"
    limit = current_app.config["APPEAL_AUTO_REPLIES_PER_HOUR"]
    may_reply = len(_replies_this_hour(phone, AUTO_REPLY_PURPOSES, now)) < limit
    turn = Turn(phone, text, keyword, now, subscriber, language, may_reply)
    outcome = HANDLERS[keyword.kind](turn) if keyword else None
    return outcome or _appeal(turn, inbound.id)


def _claim(inbound_id: int) -> InboundSms | None:
    """Take one new SMS for this transaction, or None when another worker has it or an older one comes first."""
    row = db.session.scalar(
        select(InboundSms)
        .where(InboundSms.id == inbound_id, InboundSms.status == NEW)
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return None
    postgres = db.session.get_bind().dialect.name == "postgresql"
    lock = select(func.pg_try_advisory_xact_lock(PHONE_LOCKS, func.hashtext(row.phone)))
    if postgres and not db.session.scalar(lock):  # one worker per phone at a time
        return None
    # Oldest first, per phone: STOP then START must not swap. Only a message that already failed
    # (see _record_failure) lets later ones past, so a broken one never holds up a STOP.
    older = db.session.scalars(
        select(InboundSms.raw).where(InboundSms.phone == row.phone, InboundSms.status == NEW, InboundSms.id < row.id)
    )
    if any(not (raw or {}).get(FAILURES) for raw in older):
        return None
    moved = db.session.execute(
        update(InboundSms).where(InboundSms.id == inbound_id, InboundSms.status == NEW).values(status=HANDLED)
    ).rowcount
    return row if moved == 1 else None


def _record_failure(inbound_id: int) -> None:
    """Count a failed attempt on the message, which stays new; the table has no column for it."""
    try:
        row = db.session.get(InboundSms, inbound_id)
        if row is not None and row.status == NEW:
            row.raw = {**(row.raw or {}), FAILURES: int((row.raw or {}).get(FAILURES, 0)) + 1}
            db.session.commit()
    except Exception:  # the database itself may be why the message failed; the next run tries again
        db.session.rollback()


def _process_lane(lane: int, count: int, now: datetime) -> int:
    """Handle the new inbound SMS of this lane's share of phones, each in its own transaction."""
    query = select(InboundSms.id).where(InboundSms.status == NEW)
    if count > 1:  # lanes split by phone, so each phone's messages stay in order in one lane
        query = query.where(func.hashtext(InboundSms.phone).op("&")(0x7FFFFFFF) % count == lane)
    ids = list(db.session.scalars(query.order_by(InboundSms.id).limit(CLAIM_LIMIT)))
    db.session.commit()
    handled = 0
    for inbound_id in ids:
        try:
            row = _claim(inbound_id)
            if row is None:
                db.session.rollback()
                continue
            outcome = handle(row, now)
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("inbound %s not handled; it stays new and is retried", inbound_id)
            _record_failure(inbound_id)
            continue
        handled += 1
        log.info("inbound %s: %s", inbound_id, outcome)
    return handled


def process_inbound(now: datetime) -> int:
    """Handle new inbound SMS, each in its own transaction; a failure leaves that one new for a retry.

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
