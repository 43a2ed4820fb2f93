"""JSON API v1: departments, districts and announcements; described by /api/v1/openapi.json."""

from flask import Blueprint, current_app, request, url_for
from flask_babel import gettext as _
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import selectinload

from announcements import service
from announcements.models import PUBLIC_STATUSES, STATUSES, Announcement
from announcements.openapi import MAX_PAGE, MAX_PER_PAGE
from announcements.openapi import document as openapi_document
from announcements.queries import Filters, public_query, resolve_filters
from announcements.serialize import (
    INPUT_FIELDS,
    announcement_input_json,
    announcement_json,
    department_json,
    district_json,
)
from notifier.auth import ADMIN, OPERATOR, StaffUser, bearer_user
from notifier.db import db, utcnow
from notifier.directory import District, all_departments, all_districts
from notifier.errors import ServiceError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.after_request
def _challenge(response):
    """Tell a client refused for want of a valid token how to authenticate (RFC 6750)."""
    if response.status_code == 401:
        invalid = bool(request.headers.get("Authorization"))
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return response


def _caller() -> StaffUser | None:
    """Return the staff user of the bearer token, None without one; refuse a token that is not valid."""
    if not request.headers.get("Authorization"):
        return None
    user = bearer_user()
    if user is None:
        raise ServiceError("unauthorized", _("The API token is not valid."), 401)
    return user


def _staff() -> StaffUser:
    """Return the caller, who must present a valid bearer token."""
    user = _caller()
    if user is None:
        raise ServiceError("unauthorized", _("Send an API token: Authorization: Bearer <token>."), 401)
    return user


def _sees_all(user: StaffUser | None) -> bool:
    return user is not None and user.role in (ADMIN, OPERATOR)


def _insider(user: StaffUser | None, ann: Announcement) -> bool:
    """Return whether the user sees the whole record: its department's staff, operators, admins."""
    return _sees_all(user) or (user is not None and user.acts_for(ann.department_id))


def _json_object(optional: bool = False) -> dict:
    """Return the request body, which must be a JSON object (an empty body is {} when optional)."""
    if optional and not request.get_data():
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ServiceError("bad_request", _("The body must be a JSON object (Content-Type: application/json)."), 400)
    return data


def _merge_patch(target, patch):
    """Apply an RFC 7396 JSON merge patch: objects merge, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _record(ann: Announcement, user: StaffUser | None) -> dict:
    return announcement_json(ann, utcnow(), full_history=_insider(user, ann))


def _visible(ann: Announcement, user: StaffUser | None) -> Announcement:
    """Return the announcement if the caller may read it; pretend it does not exist otherwise."""
    if ann.is_public or _insider(user, ann):
        return ann
    raise ServiceError("not_found", _("No such announcement."), 404)


def _page_args(errors: dict[str, str]) -> tuple[int, int]:
    """Read page and per_page, noting field errors."""
    values = {}
    for name, default, top in (("page", 1, MAX_PAGE), ("per_page", current_app.config["PAGE_SIZE"], MAX_PER_PAGE)):
        raw = request.args.get(name, "")
        # ASCII digits only: int() takes other scripts' digits, and a huge page overflows the offset.
        value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 7 else (default if raw == "" else 0)
        if not 1 <= value <= top:
            errors[name] = _("A whole number from 1 to %(top)d.", top=top)
        values[name] = value
    return values["page"], values["per_page"]


def _staff_listing(user: StaffUser, filters: Filters) -> Select:
    """Return what a staff user may list: everything public, plus their departments' other records."""
    query = select(Announcement)
    if not _sees_all(user):
        public = and_(Announcement.status.in_(PUBLIC_STATUSES), Announcement.published_at.is_not(None))
        query = query.where(or_(public, Announcement.department_id == user.department_id))
    if filters.department:
        query = query.where(Announcement.department_id == filters.department.id)
    if filters.district:
        query = query.where(Announcement.districts.any(District.id == filters.district.id))
    return query.order_by(Announcement.updated_at.desc(), Announcement.id.desc())


@bp.get("/departments")
def departments():
    """List departments with their names and working hours."""
    return {"departments": [department_json(d) for d in all_departments()]}


@bp.get("/districts")
def districts():
    """List districts with their names."""
    return {"districts": [district_json(d) for d in all_districts()]}


@bp.get("/announcements")
def announcements():
    """List announcements the caller may see, filtered by district, department and status."""
    user = _caller()
    filters, errors = resolve_filters(request.args.get("district"), request.args.get("department"))
    status = request.args.get("status") or None
    allowed = STATUSES if user else PUBLIC_STATUSES
    if status and status not in allowed:
        errors["status"] = _("Must be one of %(values)s.", values=", ".join(allowed))
    page, per_page = _page_args(errors)
    if errors:
        raise ServiceError("invalid_query", _("Some query parameters need attention."), 400, errors)
    now = utcnow()
    query = _staff_listing(user, filters) if user else public_query(filters, now)
    if status:
        query = query.where(Announcement.status == status)
    pagination = db.paginate(
        query.options(selectinload(Announcement.events)), page=page, per_page=per_page, error_out=False
    )
    return {
        "announcements": [announcement_json(a, now, full_history=_insider(user, a)) for a in pagination.items],
        "page": page,
        "per_page": per_page,
        "total": pagination.total,
    }


@bp.get("/announcements/<int:announcement_id>")
def announcement(announcement_id: int):
    """Return one announcement the caller may see."""
    user = _caller()
    return _record(_visible(service.get_announcement(announcement_id), user), user)


@bp.post("/announcements")
def create_announcement():
    """Create a draft; answer with the record and its SMS preview."""
    user = _staff()
    ann = service.create_draft(user, _json_object(), utcnow())
    db.session.commit()
    location = url_for(".announcement", announcement_id=ann.id, _external=True)
    return {**_record(ann, user), "sms_preview": service.sms_preview(ann)}, 201, {"Location": location}


@bp.patch("/announcements/<int:announcement_id>")
def edit_announcement(announcement_id: int):
    """Change a draft with a JSON merge patch; answer with the record and its SMS preview."""
    user = _staff()
    patch = _json_object()
    unknown = {key: _("Cannot be changed here.") for key in patch if key not in INPUT_FIELDS}
    if unknown:
        raise ServiceError("validation_error", _("Some fields need attention."), 422, unknown)
    ann = service.get_announcement(announcement_id)
    service.update_draft(user, ann, _merge_patch(announcement_input_json(ann), patch), utcnow())
    db.session.commit()
    return {**_record(ann, user), "sms_preview": service.sms_preview(ann)}


def act(announcement_id: int, action: str):
    """Run a lifecycle action (body: optional reason, ends_at for extend); answer with the record."""
    user = _staff()
    ann = service.get_announcement(announcement_id)
    service.run_action(action, user, ann, utcnow(), _json_object(optional=True))
    db.session.commit()
    return _record(ann, user)


for _action in service.ACTIONS:
    bp.add_url_rule(
        f"/announcements/<int:announcement_id>/{_action}",
        f"{_action}_announcement",
        act,
        methods=["POST"],
        defaults={"action": _action},
    )


@bp.get("/openapi.json")
def openapi():
    """Return the OpenAPI 3.1 description of this API."""
    return openapi_document()
