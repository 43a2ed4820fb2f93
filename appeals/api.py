"""JSON API v1 for appeals (staff only): list, read, answer, change the status, extend the deadline."""

from datetime import datetime

from flask import Blueprint, current_app, request
from flask_babel import gettext as _
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from announcements.openapi import MAX_PAGE, MAX_PER_PAGE
from appeals import service
from appeals.models import CLOSED_STATUSES, OPEN_STATUSES, STATUSES, Appeal, AppealEvent
from appeals.serialize import appeal_json, message_json
from notifier.auth import ADMIN, OPERATOR, StaffUser, bearer_user
from notifier.db import db, utcnow
from notifier.directory import District, department_by_slug
from notifier.errors import ServiceError

bp = Blueprint("appeals_api", __name__, url_prefix="/api/v1")

# The status a client asks for, and the service action that leads there.
STATUS_ACTIONS = {"in_progress": "take", "resolved": "resolve", "forwarded": "forward", "rejected": "reject"}
BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
MAX_EXTENSION_DAYS = 30


@bp.after_request
def _challenge(response):
    """Tell a client refused for want of a valid token how to authenticate (RFC 6750)."""
    if response.status_code == 401:
        invalid = bool(request.headers.get("Authorization"))
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return response


def _staff() -> StaffUser:
    """Return the staff user of the bearer token; every appeal call needs one."""
    if not request.headers.get("Authorization"):
        raise ServiceError("unauthorized", _("Send an API token: Authorization: Bearer <token>."), 401)
    user = bearer_user()
    if user is None:
        raise ServiceError("unauthorized", _("The API token is not valid."), 401)
    return user


def _refused() -> ServiceError:
    return ServiceError("forbidden", _("Your role or department does not allow this."), 403)


def _appeal_for(user: StaffUser, number: str) -> Appeal:
    """Return the appeal (404 if unknown) when the user may work on it (403 otherwise)."""
    appeal = service.get_by_number(number)
    if not service.may_work_on(user, appeal):
        raise _refused()
    return appeal


def _body() -> dict:
    """Return the request body, which must be a JSON object."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ServiceError("bad_request", _("The body must be a JSON object (Content-Type: application/json)."), 400)
    return data


def _text(data: dict, name: str, errors: dict[str, str]) -> str | None:
    """Return an optional text field; note an error when it is there but not text."""
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        errors[name] = _("Must be text.")
        return None
    return value


def _invalid(errors: dict[str, str]) -> ServiceError:
    return ServiceError("validation_error", _("Some fields need attention."), 422, errors)


def _whole(name: str, default: int, top: int, errors: dict[str, str]) -> int:
    """Read a whole-number query argument from 1 to top, noting a field error."""
    raw = request.args.get(name, "")
    # ASCII digits only: int() takes other scripts' digits, and a huge page overflows the offset.
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 7 else (default if raw == "" else 0)
    if not 1 <= value <= top:
        errors[name] = _("A whole number from 1 to %(top)d.", top=top)
    return value


def _listing(user: StaffUser, now: datetime, errors: dict[str, str]) -> Select:
    """Return the appeals the caller may see, filtered by the query arguments; 400 or 403 when they are wrong."""
    args = request.args
    query = select(Appeal)
    department = None
    if args.get("department"):
        department = department_by_slug(args["department"])
        if department is None:
            errors["department"] = _("Unknown department.")
    if args.get("district"):
        district = db.session.scalar(select(District).where(District.slug == args["district"]))
        if district is None:
            errors["district"] = _("Unknown district: %(slugs)s.", slugs=args["district"])
        else:
            query = query.where(Appeal.district_id == district.id)
    status = args.get("status")
    if status:
        if status in STATUSES:
            query = query.where(Appeal.status == status)
        else:
            errors["status"] = _("Must be one of %(values)s.", values=", ".join(STATUSES))
    overdue = args.get("overdue", "").lower()
    if overdue:
        if overdue not in BOOLEANS:
            errors["overdue"] = _("Must be true or false.")
        elif BOOLEANS[overdue]:
            query = query.where(Appeal.status.in_(OPEN_STATUSES), Appeal.due_at < now)
        else:
            query = query.where(or_(Appeal.status.in_(CLOSED_STATUSES), Appeal.due_at >= now))
    if errors:
        raise ServiceError("invalid_query", _("Some query parameters need attention."), 400, errors)
    if user.role not in (ADMIN, OPERATOR):
        if department is not None and department.id != user.department_id:
            raise _refused()
        query = query.where(Appeal.department_id == user.department_id)
    if department is not None:
        query = query.where(Appeal.department_id == department.id)
    return query


@bp.get("/appeals")
def appeals():
    """List the appeals the caller works on, newest first, filtered and in pages."""
    user = _staff()
    now = utcnow()
    errors: dict[str, str] = {}
    page = _whole("page", 1, MAX_PAGE, errors)
    per_page = _whole("per_page", current_app.config["PAGE_SIZE"], MAX_PER_PAGE, errors)
    query = (
        _listing(user, now, errors)
        .order_by(Appeal.created_at.desc(), Appeal.id.desc())
        .options(
            selectinload(Appeal.department),
            selectinload(Appeal.district),
            selectinload(Appeal.messages),
            selectinload(Appeal.events).selectinload(AppealEvent.actor),
        )
    )
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    return {
        "appeals": [appeal_json(a, now) for a in pagination.items],
        "page": page,
        "per_page": per_page,
        "total": pagination.total,
    }


@bp.get("/appeals/<number>")
def appeal(number: str):
    """Return one appeal with its thread and history."""
    user = _staff()
    return appeal_json(_appeal_for(user, number), utcnow())


@bp.post("/appeals/<number>/replies")
def reply(number: str):
    """Answer the resident by SMS (queued through the outbox); the appeal becomes answered."""
    user = _staff()
    appeal = _appeal_for(user, number)
    data = _body()
    errors: dict[str, str] = {}
    text = _text(data, "text", errors)
    if errors:
        raise _invalid(errors)
    now = utcnow()
    message = service.reply(user, appeal, text or "", now)
    db.session.commit()
    return {"message": message_json(message), "appeal": appeal_json(appeal, now)}, 201


@bp.post("/appeals/<number>/status")
def change_status(number: str):
    """Take, resolve, forward (needs department) or reject (needs reason) the appeal."""
    user = _staff()
    appeal = _appeal_for(user, number)
    data = _body()
    errors: dict[str, str] = {}
    status = data.get("status")
    if not isinstance(status, str) or status not in STATUS_ACTIONS:
        errors["status"] = _("Must be one of %(values)s.", values=", ".join(STATUS_ACTIONS))
    reason = _text(data, "reason", errors)
    department = _text(data, "department", errors)
    if errors:
        raise _invalid(errors)
    now = utcnow()
    service.change_status(user, appeal, STATUS_ACTIONS[status], now, reason or "", department)
    db.session.commit()
    return appeal_json(appeal, now)


@bp.post("/appeals/<number>/deadline")
def extend_deadline(number: str):
    """Move the deadline by working days, with a reason the resident reads by SMS."""
    user = _staff()
    appeal = _appeal_for(user, number)
    data = _body()
    errors: dict[str, str] = {}
    days = data.get("days")
    if not isinstance(days, int) or isinstance(days, bool):
        errors["days"] = _("A whole number from 1 to %(top)d.", top=MAX_EXTENSION_DAYS)
    reason = _text(data, "reason", errors)
    if errors:
        raise _invalid(errors)
    now = utcnow()
    service.extend_deadline(user, appeal, days, reason or "", now)
    db.session.commit()
    return appeal_json(appeal, now)
