"""Keywords answered by SMS: stop, start, help, subscribing by SMS, a district choice, a code typed back."""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from appeals import keywords
from appeals.keywords import CHOICE, CODE, HELP, REPLIES, START, STOP, SUBSCRIBE, Keyword
from appeals.service import Sender
from notifier import outbox
from notifier.db import among, db
from notifier.directory import District, all_departments, all_districts, districts_by_slugs
from notifier.errors import ServiceError
from notifier.outbox_models import CANCELLED, PENDING_STATUSES, OutboxMessage
from subscribers import service as subscriptions
from subscribers.models import ACTIVE, STOPPED, ConfirmationCode, Subscriber
from subscribers.phones import mask

log = logging.getLogger("habarlama.intake")

PURPOSES = {kind: f"kw_{kind}" for kind in (STOP, START, HELP, SUBSCRIBE, CODE, CHOICE)}
AUTO_REPLY_PURPOSES = (*PURPOSES.values(), "appeal_ack")
CHOICE_PURPOSE, CHOICE_TTL, MAX_CHOICES = "choice", timedelta(hours=1), 9


@dataclass
class Turn:
    """One message being answered: who sent it, what it asks, and whether we may answer by SMS."""

    phone: str
    text: str
    keyword: Keyword | None
    now: datetime
    sender: Sender
    language: str
    replies: list[str]  # purposes of the automatic SMS queued to the phone in the last hour, newest first
    may_reply: bool

    @property
    def subscriber(self) -> Subscriber | None:
        return self.sender.subscriber

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


def recent_replies(phones: list[str], now: datetime) -> dict[str, list[str]]:
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


def _names(districts: list[District], language: str) -> str:
    return ", ".join(d.name(language) for d in districts)


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


HANDLERS = {STOP: _stop, START: _start, HELP: _help, SUBSCRIBE: _subscribe, CHOICE: _choose, CODE: _confirm}


def answer(turn: Turn) -> str | None:
    """Answer the message's keyword; return what happened, or None when it is for staff to read (an appeal)."""
    return HANDLERS[turn.keyword.kind](turn) if turn.keyword else None
