"""Open311 GeoReport v2, JSON only: departments as services, appeals as service requests.

Reading is public (no phone numbers or names in any answer); posting a request needs a staff API
token as `api_key`. Errors are a JSON list of `{code, description}` with a 4xx status.
"""

from datetime import datetime, timedelta

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import HTTPException

from announcements.openapi import MAX_PAGE
from appeals import service
from appeals.models import CLOSED_STATUSES, OPEN_STATUSES, Appeal, AppealEvent
from appeals.serialize import PRIVATE_DETAILS, PUBLIC_DETAILS, request_json, service_json, service_notice
from notifier.auth import user_for_token
from notifier.db import db, utcnow
from notifier.directory import Department, all_departments, department_by_slug
from notifier.errors import ServiceError
from notifier.timeutil import parse_datetime
from subscribers.phones import PhoneError, normalize

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

MAX_REQUESTS = 1000  # per answer, and service_request_id values per query (the spec's default)
DEFAULT_WINDOW = timedelta(days=90)
STATUS_GROUPS = {"open": OPEN_STATUSES, "closed": CLOSED_STATUSES}
MAX_DESCRIPTION = 4000
TEXT_LIMITS = {"address_string": 500, "email": 254, "first_name": 100, "last_name": 100}


def _errors(status: int, descriptions: list[str]):
    """Answer with Open311's list of errors."""
    return jsonify([{"code": status, "description": text} for text in descriptions]), status


@bp.errorhandler(ServiceError)
def _service_error(err: ServiceError):
    """Answer a refusal as Open311 errors, one per field; nothing is half-written."""
    db.session.rollback()
    fields = [f"{name}: {text}" for name, text in err.fields.items()]
    return _errors(err.status, fields or [err.message])


@bp.errorhandler(HTTPException)
def _http_error(err: HTTPException):
    db.session.rollback()
    return _errors(err.code or 400, [err.description or err.name])


def _json_only(fmt: str) -> None:
    if fmt != "json":
        raise ServiceError("format", _("Only JSON is supported: use .json."), 400)


def _lang() -> str:
    """Return the language of names and notices: ?lang=kk, else Russian."""
    return "kk" if request.values.get("lang") == "kk" else "ru"


def _values(raw: str | None) -> list[str]:
    """Return the values of a comma-separated argument, without blanks or repeats."""
    return list(dict.fromkeys(v.strip() for v in (raw or "").split(",") if v.strip()))


def _departments(codes: list[str], errors: dict[str, str]) -> list[Department]:
    found = [department_by_slug(code) for code in codes]
    unknown = [code for code, dep in zip(codes, found, strict=True) if dep is None]
    if unknown:
        errors["service_code"] = _("Unknown service: %(slugs)s.", slugs=", ".join(unknown))
    return [dep for dep in found if dep is not None]


def _moment(name: str, errors: dict[str, str]) -> datetime | None:
    try:
        return parse_datetime(request.args.get(name))
    except ValueError:
        errors[name] = _("Not a date and time (use 2026-12-01T10:00+05:00).")
        return None


def _whole(name: str, default: int, top: int, errors: dict[str, str]) -> int:
    raw = request.args.get(name, "")
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 7 else (default if raw == "" else 0)
    if not 1 <= value <= top:
        errors[name] = _("A whole number from 1 to %(top)d.", top=top)
    return value


def _bad_query(errors: dict[str, str]) -> ServiceError:
    return ServiceError("invalid_query", _("Some query parameters need attention."), 400, errors)


def _search(now: datetime, errors: dict[str, str]) -> Select:
    """Return the query the arguments ask for: the listed ids alone, or service, status and dates."""
    ids = _values(request.args.get("service_request_id"))
    if ids:  # the spec: a list of ids overrides every other filter
        if len(ids) > MAX_REQUESTS:
            errors["service_request_id"] = _("At most %(n)d values.", n=MAX_REQUESTS)
        return select(Appeal).where(Appeal.number.in_(ids))
    query = select(Appeal)
    departments = _departments(_values(request.args.get("service_code")), errors)
    if departments:
        query = query.where(Appeal.department_id.in_([d.id for d in departments]))
    statuses = _values(request.args.get("status"))
    if any(s not in STATUS_GROUPS for s in statuses):
        errors["status"] = _("Must be one of %(values)s.", values="open, closed")
    elif len(statuses) == 1:
        query = query.where(Appeal.status.in_(STATUS_GROUPS[statuses[0]]))
    start, end = _moment("start_date", errors), _moment("end_date", errors)
    if start and end and end < start:
        errors["end_date"] = _("The end must be after the start.")
    if start is None and "start_date" not in errors:  # the spec's default: the last 90 days
        start = (end or now) - DEFAULT_WINDOW
    if start is not None:
        query = query.where(Appeal.created_at >= start)
    if end is not None:
        query = query.where(Appeal.created_at <= end)
    return query


def _loaded(query: Select) -> Select:
    return query.options(
        selectinload(Appeal.department), selectinload(Appeal.messages), selectinload(Appeal.events)
    ).order_by(Appeal.created_at.desc(), Appeal.id.desc())


@bp.get("/services.<fmt>")
def services(fmt: str):
    """List the departments as Open311 services."""
    _json_only(fmt)
    lang = _lang()
    return jsonify([service_json(dep, lang) for dep in all_departments()])


@bp.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str):
    """Describe a service: no extra attributes beyond the description, the phone and the location."""
    _json_only(fmt)
    dep = department_by_slug(code)
    if dep is None:
        raise ServiceError("not_found", _("Unknown service: %(slugs)s.", slugs=code), 404)
    return jsonify({"service_code": dep.slug, "attributes": []})


@bp.get("/requests.<fmt>")
def requests(fmt: str):
    """List service requests, newest first: by ids, or by service, status and dates (default 90 days)."""
    _json_only(fmt)
    errors: dict[str, str] = {}
    query = _search(utcnow(), errors)
    page = _whole("page", 1, MAX_PAGE, errors)
    page_size = _whole("page_size", MAX_REQUESTS, MAX_REQUESTS, errors)
    if errors:
        raise _bad_query(errors)
    rows = db.session.scalars(_loaded(query).limit(page_size).offset((page - 1) * page_size))
    lang = _lang()
    return jsonify([request_json(appeal, lang) for appeal in rows])


@bp.get("/requests/<request_id>.<fmt>")
def service_request(request_id: str, fmt: str):
    """Return one service request, as the spec has it: a list of one."""
    _json_only(fmt)
    appeal = db.session.scalar(_loaded(select(Appeal).where(Appeal.number == request_id.strip())))
    if appeal is None:
        raise ServiceError("not_found", _("No such appeal."), 404)
    return jsonify([request_json(appeal, _lang())])


def _api_user():
    """Return the staff user whose API token is the api_key; 403 without a valid one."""
    key = (request.form.get("api_key") or "").strip()
    if not key:
        raise ServiceError("forbidden", _("Send api_key: a staff API token."), 403)
    user = user_for_token(key)
    if user is None:
        raise ServiceError("forbidden", _("The API token is not valid."), 403)
    return user


def _coordinates(form, errors: dict[str, str]) -> dict[str, float]:
    """Return lat and long when both are given as degrees; note an error otherwise."""
    raw = {name: (form.get(name) or "").strip() for name in ("lat", "long")}
    if not any(raw.values()):
        return {}
    try:
        lat, long = float(raw["lat"]), float(raw["long"])
    except ValueError:
        lat = long = float("nan")
    if not (-90 <= lat <= 90 and -180 <= long <= 180):
        errors["lat"] = _("Give lat and long as numbers (degrees).")
        return {}
    return {"lat": lat, "long": long}


def _submission(form) -> tuple[Department, str, str, dict]:
    """Read and check the posted fields: (department, phone, description, details); 400 when wrong."""
    errors: dict[str, str] = {}
    code = (form.get("service_code") or "").strip()
    departments = _departments([code], errors) if code else []
    description = (form.get("description") or "").strip()
    phone_raw = (form.get("phone") or "").strip()
    for name, value in (("service_code", code), ("description", description), ("phone", phone_raw)):
        if not value:
            errors[name] = _("Required.")
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = _("At most %(n)d characters.", n=MAX_DESCRIPTION)
    phone = ""
    if phone_raw:
        try:
            phone = normalize(phone_raw)
        except PhoneError:
            errors["phone"] = _("A Kazakhstan mobile number, for example 8 701 123 45 67.")
    details: dict = _coordinates(form, errors)
    for name, limit in TEXT_LIMITS.items():
        value = (form.get(name) or "").strip()
        if len(value) > limit:
            errors[name] = _("At most %(n)d characters.", n=limit)
        elif value:
            details["address" if name == "address_string" else name] = value
    if errors:
        raise ServiceError("validation_error", _("Some fields need attention."), 400, errors)
    return departments[0], phone, description, details


def _keep_details(appeal: Appeal, details: dict) -> None:
    """Keep the address, location and name given with the request on the appeal's "registered" event."""
    if not details:
        return
    event = db.session.scalar(
        select(AppealEvent).where(AppealEvent.appeal_id == appeal.id, AppealEvent.kind == "registered")
    )
    event.new = {**(event.new or {}), **{k: details[k] for k in PUBLIC_DETAILS + PRIVATE_DETAILS if k in details}}


@bp.post("/requests.<fmt>")
def create_request(fmt: str):
    """Register an appeal for a service (channel "api"); the resident is acknowledged and answered by SMS."""
    _json_only(fmt)
    user = _api_user()
    department, phone, description, details = _submission(request.form)
    now = utcnow()
    appeal, _new = service.register(phone, description, now, channel="api", staff=user, department=department)
    _keep_details(appeal, details)
    db.session.commit()
    answer = {
        "service_request_id": appeal.number,
        "service_notice": service_notice(appeal, _lang()),
        "account_id": None,
    }
    return jsonify([answer]), 201
