"""Appeals: registration, threading and linking, the transition table, replies and deadlines."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from announcements.models import AnnouncementEvent
from appeals import deadlines, texts
from appeals.models import (
    ANSWERED,
    CLOSED_STATUSES,
    FORWARDED,
    IN_PROGRESS,
    NEW,
    REJECTED,
    RESOLVED,
    Appeal,
    AppealEvent,
    AppealMessage,
)
from appeals.routing import guess_department
from notifier import outbox
from notifier.auth import ADMIN, OPERATOR, StaffUser
from notifier.db import among, db
from notifier.directory import Department, department_by_slug, departments_by_slug
from notifier.errors import ServiceError, forbidden, not_found
from notifier.outbox_models import DELIVERED, SENT, OutboxMessage
from subscribers.models import Subscriber
from subscribers.phones import PhoneError, caller_phone

# For each action: the statuses it may start from, and where it goes.
ALLOWED_STATUS_TRANSITIONS = {
    "take": {NEW: IN_PROGRESS, FORWARDED: IN_PROGRESS},
    "answer": {NEW: ANSWERED, IN_PROGRESS: ANSWERED, FORWARDED: ANSWERED, ANSWERED: ANSWERED},
    "resolve": {IN_PROGRESS: RESOLVED, ANSWERED: RESOLVED},
    "forward": {NEW: FORWARDED, IN_PROGRESS: FORWARDED, FORWARDED: FORWARDED},
    "reject": {NEW: REJECTED, IN_PROGRESS: REJECTED, FORWARDED: REJECTED},
    "reopen": {ANSWERED: IN_PROGRESS, RESOLVED: IN_PROGRESS},
}
LINK_WINDOW = timedelta(hours=72)
LANDLINE = _l("No SMS reaches this landline number: call the resident back, then resolve.")


def get_by_number(number: str) -> Appeal:
    """Return the appeal with this registration number, or raise not found."""
    appeal = db.session.scalar(select(Appeal).where(Appeal.number == number.strip()))
    if appeal is None:
        raise not_found(_("No such appeal."))
    return appeal


def may_work_on(user: StaffUser, appeal: Appeal) -> bool:
    """Operators and admins work on every appeal; department staff on their department's."""
    if user.role in (ADMIN, OPERATOR):
        return True
    return appeal.department_id is not None and user.acts_for(appeal.department_id)


def _record(appeal: Appeal, kind: str, actor: StaffUser | None, now: datetime, old=None, new=None, reason=""):
    db.session.add(
        AppealEvent(
            appeal=appeal,
            kind=kind,
            actor_id=actor.id if actor else None,
            at=now,
            old=old or {},
            new=new or {},
            reason=reason,
        )  # fmt: skip
    )


def _move(appeal: Appeal, action: str, now: datetime, **values) -> str:
    """Move the appeal by a conditional UPDATE; refuse what the table does not allow."""
    target = ALLOWED_STATUS_TRANSITIONS[action].get(appeal.status)
    if target is None:
        raise ServiceError("invalid_transition", _("Not possible for an appeal in this status."), 409)
    db.session.flush()
    moved = db.session.execute(
        update(Appeal)
        .where(Appeal.id == appeal.id, Appeal.status == appeal.status)
        .values(status=target, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise ServiceError("conflict", _("Someone else changed this appeal; reload and try again."), 409)
    old = appeal.status
    db.session.refresh(appeal)
    return old


@dataclass
class Sender:
    """What registering a resident's SMS needs to know of their phone."""

    subscriber: Subscriber | None = None
    open_appeal: Appeal | None = None  # the latest one still in the threading window
    recent_event: AnnouncementEvent | None = None  # whose SMS the phone got in the last 72 hours


def senders(phones: list[str], now: datetime, lock: bool = False) -> dict[str, Sender]:
    """Look up the subscriber, open appeal and recent announcement SMS of each phone: three queries for all.

    `lock` takes the subscribers FOR UPDATE, for a caller that may change them (keywords).
    """
    found = {phone: Sender() for phone in phones}
    subscribers = select(Subscriber).where(among(Subscriber.phone, phones)).options(selectinload(Subscriber.districts))
    for subscriber in db.session.scalars(subscribers.with_for_update(of=Subscriber) if lock else subscribers):
        found[subscriber.phone].subscriber = subscriber
    window = now - timedelta(days=current_app.config["APPEAL_THREAD_DAYS"])
    appeals = db.session.scalars(
        select(Appeal)
        .where(among(Appeal.phone, phones), Appeal.status != REJECTED, Appeal.last_message_at >= window)
        .order_by(Appeal.last_message_at, Appeal.id)
    )
    for appeal in appeals:  # oldest first: the latest one is left
        found[appeal.phone].open_appeal = appeal
    events = db.session.execute(
        select(OutboxMessage.phone, AnnouncementEvent)
        .join(AnnouncementEvent, OutboxMessage.event_id == AnnouncementEvent.id)
        .where(
            among(OutboxMessage.phone, phones),
            OutboxMessage.status.in_((SENT, DELIVERED)),
            OutboxMessage.sent_at >= now - LINK_WINDOW,
        )
        .order_by(OutboxMessage.sent_at, OutboxMessage.id)
    )
    for phone, event in events:
        found[phone].recent_event = event
    return found


def _district_for(subscriber: Subscriber | None, announcement) -> int | None:
    if announcement is None:
        return None
    for district in subscriber.districts if subscriber else ():
        if district in announcement.districts:
            return district.id
    return announcement.districts[0].id if announcement.districts else None


def add_to_thread(appeal: Appeal, text: str, now: datetime, inbound_id: int | None = None) -> None:
    """Add a resident's further message to their appeal; an answered or resolved one reopens."""
    db.session.add(AppealMessage(appeal_id=appeal.id, direction="in", text=text, at=now, inbound_id=inbound_id))
    appeal.last_message_at = now
    if appeal.status in CLOSED_STATUSES:
        old = _move(appeal, "reopen", now, closed_at=None)
        _record(appeal, "reopened", None, now, {"status": old}, {"status": IN_PROGRESS}, _("The resident replied."))


def draft(
    phone: str,
    text: str,
    now: datetime,
    channel: str,
    sender: Sender,
    staff: StaffUser | None = None,
    department: Department | None = None,
    departments: dict[str, Department] | None = None,
) -> Appeal:
    """Build a new appeal, routed by the announcement the phone answers or by its words; add it to the session.

    It has no id nor number until flushed; `file` completes it. Drafts of a batch, given the departments by
    slug, query nothing, so nothing flushes them one by one: they go in one INSERT.
    """
    event = sender.recent_event if channel == "sms" else None
    announcement = event.announcement if event else None
    if department is None and announcement is not None:
        department = announcement.department
    elif department is None:
        departments = departments if departments is not None else departments_by_slug()
        department = departments.get(guess_department(text) or "")
    subscriber = sender.subscriber
    kazakh = any(ch in text.lower() for ch in "әғқңөұүһі")
    appeal = Appeal(
        phone=phone, language=subscriber.language if subscriber else ("kk" if kazakh else "ru"), channel=channel,
        status=NEW, department=department,
        district_id=_district_for(subscriber, announcement),
        announcement_id=announcement.id if announcement else None,
        registered_by_id=staff.id if staff else None,
        summary=text[:500], created_at=now, last_message_at=now, due_at=deadlines.answer_due(now),
    )  # fmt: skip
    db.session.add(appeal)
    return appeal


def file(
    appeal: Appeal,
    text: str,
    now: datetime,
    inbound_id: int | None = None,
    staff: StaffUser | None = None,
    acknowledge: bool = True,
    withheld: str = "",
) -> None:
    """Number a flushed draft, store its first message and history, and queue the acknowledgement.

    `acknowledge` is False for a landline caller an operator registers (no SMS can reach them);
    `withheld` names why the acknowledgement is stored cancelled instead of sent.
    """
    appeal.number = f"{now.astimezone(deadlines.local_zone()):%y}-{appeal.id:06d}"
    db.session.add(AppealMessage(appeal_id=appeal.id, direction="in", text=text, at=now, inbound_id=inbound_id))
    department = appeal.department
    where = {"department": department.slug if department else None, "announcement": appeal.announcement_id}
    _record(appeal, "registered", staff, now, new={**where, "channel": appeal.channel})
    if acknowledge:
        ack = texts.acknowledgement(appeal, now)
        db.session.add(outbox.new_message(appeal.phone, ack, appeal.language, "appeal_ack", now, True, withheld))


def register(
    phone: str,
    text: str,
    now: datetime,
    channel: str = "sms",
    inbound_id: int | None = None,
    staff: StaffUser | None = None,
    department: Department | None = None,
    acknowledge: bool = True,
) -> tuple[Appeal, bool]:
    """Thread a resident's message into their open appeal, or open a new one; return (appeal, is_new)."""
    sender = senders([phone], now)[phone]  # the subscriber's language counts on every channel
    if channel == "sms" and sender.open_appeal is not None:
        add_to_thread(sender.open_appeal, text, now, inbound_id)
        return sender.open_appeal, False
    appeal = draft(phone, text, now, channel, sender, staff, department)
    db.session.flush()
    file(appeal, text, now, inbound_id, staff, acknowledge)
    db.session.flush()
    return appeal, True


def reachable_by_sms(appeal: Appeal) -> bool:
    """Return whether SMS can reach the appeal's phone (it wrote to us, or it is a mobile)."""
    if appeal.channel == "sms":
        return True
    try:
        return caller_phone(appeal.phone)[1]
    except PhoneError:
        return False


def _notify(appeal: Appeal, text: str, now: datetime, purpose: str = "appeal_reply") -> OutboxMessage | None:
    """Queue a notice to the resident; none for a landline caller (staff call them back)."""
    if not reachable_by_sms(appeal):
        return None
    return outbox.enqueue(appeal.phone, text, appeal.language, purpose, now, urgent=True)


def reply(user: StaffUser, appeal: Appeal, text: str, now: datetime) -> AppealMessage:
    """Answer the resident by SMS; the appeal becomes answered."""
    if not may_work_on(user, appeal):
        raise forbidden()
    text = (text or "").strip()
    if not text:
        raise ServiceError("validation_error", _("Write the answer."), 422, {"text": _("Required.")})
    if len(text) > 1000:
        raise ServiceError("validation_error", _("At most %(n)d characters.", n=1000), 422, {"text": _("Too long.")})
    if not reachable_by_sms(appeal):
        raise ServiceError("not_reachable", str(LANDLINE), 409)
    first = appeal.first_answer_at or now
    old = _move(appeal, "answer", now, first_answer_at=first, closed_at=now)
    sms = _notify(appeal, texts.answer(appeal, text), now)
    message = AppealMessage(appeal=appeal, direction="out", text=text, at=now, outbox_id=sms.id, staff_id=user.id)
    db.session.add(message)
    _record(appeal, "answered", user, now, {"status": old}, {"status": ANSWERED})
    return message


def change_status(
    user: StaffUser, appeal: Appeal, action: str, now: datetime, reason: str = "", department_slug: str | None = None
) -> Appeal:
    """Take, resolve, forward or reject an appeal, with the resident told where the law asks for it."""
    if not may_work_on(user, appeal):
        raise forbidden()
    reason = (reason or "").strip()
    if action == "take":
        old = _move(appeal, "take", now, assigned_to_id=user.id)
    elif action == "resolve":
        old = _move(appeal, "resolve", now, closed_at=now)
    elif action == "reject":
        if not reason:
            raise ServiceError("validation_error", _("Say why."), 422, {"reason": _("Required.")})
        old = _move(appeal, "reject", now, closed_at=now)
        _notify(appeal, texts.rejected(appeal, reason), now)
    elif action == "forward":
        target = department_by_slug(department_slug or "")
        if target is None or target.id == appeal.department_id:
            raise ServiceError("validation_error", _("Choose another department."), 422,
                               {"department": _("Choose another department.")})  # fmt: skip
        old = _move(appeal, "forward", now, department_id=target.id, assigned_to_id=None)
        _notify(appeal, texts.forwarded(appeal, target), now)
    else:
        raise not_found(_("No such action."))
    _record(appeal, action, user, now, {"status": old}, {"status": appeal.status}, reason)
    return appeal


def extend_deadline(user: StaffUser, appeal: Appeal, days: int, reason: str, now: datetime) -> Appeal:
    """Move the deadline by working days, with a recorded reason and an SMS to the resident."""
    if not may_work_on(user, appeal):
        raise forbidden()
    if appeal.status in CLOSED_STATUSES:
        raise ServiceError("invalid_transition", _("Not possible for an appeal in this status."), 409)
    if not (reason or "").strip():
        raise ServiceError("validation_error", _("Say why."), 422, {"reason": _("Required.")})
    if not 1 <= days <= 30:
        raise ServiceError("validation_error", _("From 1 to 30 working days."), 422, {"days": _("From 1 to 30.")})
    old = appeal.due_at
    appeal.due_at = deadlines.due_after(appeal.due_at, days)
    appeal.extended_reason = reason.strip()
    appeal.overdue_notified_at = None  # missing the new deadline is flagged again
    _notify(appeal, texts.extended(appeal), now)
    _record(appeal, "extended", user, now, {"due_at": old.isoformat()}, {"due_at": appeal.due_at.isoformat()}, reason)
    return appeal


def is_overdue(appeal: Appeal, now: datetime) -> bool:
    """Return whether the appeal is still unanswered past its deadline."""
    return appeal.status not in CLOSED_STATUSES and appeal.due_at < now
