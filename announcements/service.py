"""Announcement lifecycle: drafting, the transition table, approval and publication."""

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import update

from announcements import notify, texts
from announcements.inputs import AnnouncementInput, parse_announcement, parse_when, require_complete
from announcements.models import (
    CANCELLED,
    COMPLETED,
    DRAFT,
    PENDING,
    PUBLISHED,
    SCHEDULED,
    Announcement,
    AnnouncementEvent,
)
from announcements.present import STATUS_LABELS
from notifier.auth import StaffUser
from notifier.db import db
from notifier.errors import ServiceError, forbidden, not_found
from subscribers import fanout

# For each action: the statuses it may start from, and where each may go.
ALLOWED_STATUS_TRANSITIONS = {
    "submit": {DRAFT: {PENDING}},
    "return": {PENDING: {DRAFT}},
    "approve": {PENDING: {SCHEDULED, PUBLISHED}},
    "publish": {DRAFT: {PUBLISHED}, PENDING: {PUBLISHED}, SCHEDULED: {PUBLISHED}},
    "extend": {PUBLISHED: {PUBLISHED}},
    "complete": {PUBLISHED: {COMPLETED}},
    "cancel": {DRAFT: {CANCELLED}, PENDING: {CANCELLED}, SCHEDULED: {CANCELLED}, PUBLISHED: {CANCELLED}},
}
ACTIONS = tuple(ALLOWED_STATUS_TRANSITIONS)


def get_announcement(announcement_id: int) -> Announcement:
    """Return the announcement or raise not found."""
    ann = db.session.get(Announcement, announcement_id)
    if ann is None:
        raise not_found(_("No such announcement."))
    return ann


def _snapshot(ann: Announcement) -> dict:
    return {
        "department": ann.department.slug if ann.department else None,
        "kind": ann.kind,
        "urgent": ann.urgent,
        "districts": [d.slug for d in ann.districts],
        "streets": ann.streets,
        "starts_at": ann.starts_at.isoformat() if ann.starts_at else None,
        "ends_at": ann.ends_at.isoformat() if ann.ends_at else None,
        "title": {"kk": ann.title_kk, "ru": ann.title_ru},
        "body": {"kk": ann.body_kk, "ru": ann.body_ru},
        "publish_at": ann.publish_at.isoformat() if ann.publish_at else None,
    }


def _record(ann, kind, actor, now, old=None, new=None, reason="", public=False) -> AnnouncementEvent:
    event = AnnouncementEvent(
        announcement=ann,
        kind=kind,
        actor_id=actor.id if actor else None,
        at=now,
        old=old or {},
        new=new or {},
        reason=reason,
        public=public,
    )
    db.session.add(event)
    return event


def apply_input(ann: Announcement, values: AnnouncementInput) -> None:
    ann.department_id = values.department.id
    ann.department = values.department
    ann.kind, ann.urgent, ann.streets = values.kind, values.urgent, values.streets
    ann.districts = values.districts
    ann.starts_at, ann.ends_at, ann.publish_at = values.starts_at, values.ends_at, values.publish_at
    ann.title_kk, ann.title_ru = values.title["kk"], values.title["ru"]
    ann.body_kk, ann.body_ru = values.body["kk"], values.body["ru"]


def create_draft(user: StaffUser, data: dict, now: datetime) -> Announcement:
    """Create a draft for the user's department from raw input."""
    values = parse_announcement(data)
    if not user.acts_for(values.department.id):
        raise forbidden(_("You may only write announcements for your own department."))
    ann = Announcement(author_id=user.id, status=DRAFT, version=0, created_at=now, updated_at=now)
    apply_input(ann, values)
    db.session.add(ann)
    db.session.flush()
    _record(ann, "created", user, now, new=_snapshot(ann))
    return ann


def update_draft(user: StaffUser, ann: Announcement, data: dict, now: datetime) -> Announcement:
    """Change a draft; only drafts can be edited, and only within the user's department."""
    if not user.acts_for(ann.department_id):
        raise forbidden()
    if ann.status != DRAFT:
        raise ServiceError("invalid_transition", _("Only drafts can be edited."), 409)
    values = parse_announcement(data)
    if not user.acts_for(values.department.id):
        raise forbidden(_("You may only write announcements for your own department."))
    old = _snapshot(ann)
    apply_input(ann, values)
    ann.version += 1
    ann.updated_at = now
    db.session.flush()
    new = _snapshot(ann)
    changed = {k for k in new if new[k] != old[k]}
    _record(ann, "edited", user, now, {k: old[k] for k in changed}, {k: new[k] for k in changed})
    return ann


def _move(ann: Announcement, action: str, new_status: str, now: datetime, **values) -> None:
    """Move the row by a conditional UPDATE: if another request moved it first, refuse."""
    if new_status not in ALLOWED_STATUS_TRANSITIONS[action].get(ann.status, ()):
        raise ServiceError(
            "invalid_transition",
            _("This is not possible for an announcement in status «%(status)s».", status=STATUS_LABELS[ann.status]),
            409,
        )
    db.session.flush()
    result = db.session.execute(
        update(Announcement)
        .where(Announcement.id == ann.id, Announcement.status == ann.status, Announcement.version == ann.version)
        .values(status=new_status, version=Announcement.version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ServiceError("conflict", _("Someone else changed this announcement; reload and try again."), 409)
    db.session.refresh(ann)


def _texts_of(ann: Announcement) -> tuple[dict, dict]:
    return {"kk": ann.title_kk, "ru": ann.title_ru}, {"kk": ann.body_kk, "ru": ann.body_ru}


def submit(user: StaffUser, ann: Announcement, now: datetime, reason: str = "") -> Announcement:
    """Send a complete draft for a colleague's approval."""
    if not user.acts_for(ann.department_id):
        raise forbidden()
    if ann.status == DRAFT:
        require_complete(*_texts_of(ann))
    _move(ann, "submit", PENDING, now)
    _record(ann, "submitted", user, now, {"status": DRAFT}, {"status": PENDING}, reason)
    return ann


def return_to_draft(user: StaffUser, ann: Announcement, now: datetime, reason: str = "") -> Announcement:
    """Send a pending announcement back to its author with a reason."""
    if not user.may_approve_for(ann.department_id):
        raise forbidden(_("Only an approver of the department can return it."))
    if not reason.strip():
        raise ServiceError("validation_error", _("Say why."), 422, {"reason": _("Required.")})
    _move(ann, "return", DRAFT, now)
    _record(ann, "returned", user, now, {"status": PENDING}, {"status": DRAFT}, reason.strip())
    return ann


def _publish_now(ann: Announcement, actor: StaffUser | None, now: datetime, old_status: str, reason="") -> None:
    _move(
        ann,
        "publish",
        PUBLISHED,
        now,
        published_at=now,
        approved_by_id=ann.approved_by_id or (actor.id if actor else None),
    )
    event = _record(ann, "published", actor, now, {"status": old_status}, {"status": PUBLISHED}, reason, public=True)
    notify.notify(ann, event, now)


def approve(user: StaffUser, ann: Announcement, now: datetime, reason: str = "") -> Announcement:
    """Approve a pending announcement: publish it now or schedule it for publish_at."""
    if not user.may_approve_for(ann.department_id):
        raise forbidden(_("Only an approver of the department can approve."))
    if ann.author_id == user.id:
        raise forbidden(_("You cannot approve your own announcement."))
    if ann.status != PENDING:
        raise ServiceError("invalid_transition", _("Only announcements pending approval can be approved."), 409)
    require_complete(*_texts_of(ann))
    if ann.publish_at and ann.publish_at > now:
        _move(ann, "approve", SCHEDULED, now, approved_by_id=user.id)
        _record(ann, "approved", user, now, {"status": PENDING}, {"status": SCHEDULED}, reason)
    else:
        ann.approved_by_id = user.id
        # The status change itself is the "published" event that follows.
        _record(ann, "approved", user, now, reason=reason)
        _publish_now(ann, user, now, PENDING)
    return ann


def publish(user: StaffUser, ann: Announcement, now: datetime, reason: str = "") -> Announcement:
    """Publish at once: a scheduled one early, or an urgent one without a second approver."""
    if not user.may_approve_for(ann.department_id):
        raise forbidden(_("Only an approver of the department can publish."))
    if ann.status in (DRAFT, PENDING) and not ann.urgent:
        raise ServiceError("approval_required", _("Only urgent announcements can be published without approval."), 409)
    require_complete(*_texts_of(ann))
    _publish_now(ann, user, now, ann.status, reason)
    return ann


def extend(user: StaffUser, ann: Announcement, now: datetime, ends_at_raw, reason: str = "") -> Announcement:
    """Move the planned end of a published announcement later, with a reason."""
    if not user.acts_for(ann.department_id):
        raise forbidden()
    if ann.status != PUBLISHED:
        raise ServiceError("invalid_transition", _("Only published announcements can be extended."), 409)
    errors: dict[str, str] = {}
    ends_at = parse_when(ends_at_raw, "ends_at", errors)
    if ends_at and ends_at <= ann.ends_at:
        errors["ends_at"] = _("The new end must be later than the current one.")
    if not reason.strip():
        errors["reason"] = _("Required.")
    if errors:
        raise ServiceError("validation_error", _("Some fields need attention."), 422, errors)
    old_end = ann.ends_at
    _move(ann, "extend", PUBLISHED, now, ends_at=ends_at, extended=True)
    event = _record(
        ann,
        "extended",
        user,
        now,
        {"ends_at": old_end.isoformat()},
        {"ends_at": ends_at.isoformat()},
        reason.strip(),
        public=True,
    )
    notify.notify(ann, event, now)
    return ann


def complete(user: StaffUser, ann: Announcement, now: datetime, reason: str = "") -> Announcement:
    """Mark the works finished and the service restored."""
    if not user.acts_for(ann.department_id):
        raise forbidden()
    if ann.status != PUBLISHED:
        raise ServiceError("invalid_transition", _("Only published announcements can be completed."), 409)
    _move(ann, "complete", COMPLETED, now, completed_at=now)
    event = _record(
        ann, "completed", user, now, {"status": PUBLISHED}, {"status": COMPLETED}, reason.strip(), public=True
    )
    notify.notify(ann, event, now)
    return ann


def cancel(user: StaffUser, ann: Announcement, now: datetime, reason: str = "") -> Announcement:
    """Cancel an announcement; a public one needs a reason residents will read."""
    if not user.acts_for(ann.department_id):
        raise forbidden()
    was_public = ann.status == PUBLISHED
    if was_public and not reason.strip():
        raise ServiceError("validation_error", _("Say why."), 422, {"reason": _("Required.")})
    old_status = ann.status
    _move(ann, "cancel", CANCELLED, now, cancelled_at=now)
    event = _record(
        ann, "cancelled", user, now, {"status": old_status}, {"status": CANCELLED}, reason.strip(), was_public
    )
    notify.notify(ann, event, now)
    return ann


def publish_due(now: datetime) -> int:
    """Publish scheduled announcements whose time has come; return how many."""
    due = db.session.scalars(
        db.select(Announcement)
        .where(Announcement.status == SCHEDULED, Announcement.publish_at <= now)
        .with_for_update(skip_locked=True, of=Announcement)
    ).all()
    for ann in due:
        _publish_now(ann, None, now, SCHEDULED)
    return len(due)


def recipients_by_language(ann: Announcement) -> dict[str, int]:
    """Return how many residents an announcement would reach, per language."""
    if not ann.department_id or not ann.districts:
        return {"kk": 0, "ru": 0}
    return fanout.audience_counts(ann.department_id, [d.id for d in ann.districts])


def sms_preview(ann: Announcement) -> dict:
    """Return the SMS preview: texts, parts, recipients and estimated cost."""
    return texts.preview(ann, recipients_by_language(ann))


def run_action(action: str, user: StaffUser, ann: Announcement, now: datetime, payload: dict) -> Announcement:
    """Dispatch a named lifecycle action with its payload (reason, ends_at)."""
    reason = payload.get("reason") or ""
    if not isinstance(reason, str):
        raise ServiceError("validation_error", _("Some fields need attention."), 422, {"reason": _("Must be text.")})
    if action == "extend":
        return extend(user, ann, now, payload.get("ends_at"), reason)
    handlers = {
        "submit": submit,
        "return": return_to_draft,
        "approve": approve,
        "publish": publish,
        "complete": complete,
        "cancel": cancel,
    }
    if action not in handlers:
        raise not_found(_("No such action."))
    return handlers[action](user, ann, now, reason)
