"""Parse and check announcement input; the web form and the JSON API share it."""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _

from announcements.models import KINDS, LANGS
from notifier.directory import Department, District, department_by_slug, districts_by_slugs
from notifier.errors import ServiceError
from notifier.timeutil import parse_datetime

MAX_TITLE, MAX_BODY, MAX_STREETS = 200, 4000, 1000


@dataclass
class AnnouncementInput:
    """Checked values ready to be written to an announcement."""

    department: Department
    kind: str
    urgent: bool
    districts: list[District]
    streets: str
    starts_at: datetime
    ends_at: datetime
    title: dict[str, str]
    body: dict[str, str]
    publish_at: datetime | None


def _text(value, limit: int, field: str, errors: dict) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field] = _("Must be text.")
        return ""
    value = value.replace("\r\n", "\n").strip()
    if len(value) > limit:
        errors[field] = _("At most %(n)d characters.", n=limit)
    return value


def _per_language(raw, limit: int, field: str, errors: dict) -> dict[str, str]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        errors[field] = _("Must be an object with kk and ru texts.")
        return {lang: "" for lang in LANGS}
    return {lang: _text(raw.get(lang), limit, f"{field}.{lang}", errors) for lang in LANGS}


def parse_when(raw, field: str, errors: dict, required: bool = True) -> datetime | None:
    try:
        value = parse_datetime(raw)
    except (TypeError, ValueError):
        errors[field] = _("Not a date and time (use 2026-12-01T10:00+05:00).")
        return None
    if value is None and required:
        errors[field] = _("Required.")
    return value


def _districts(raw, errors: dict) -> list[District]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        errors["districts"] = _("Must be a list of district slugs.")
        return []
    slugs = list(dict.fromkeys(s.strip() for s in raw if s.strip()))
    if not slugs:
        errors["districts"] = _("Choose at least one district.")
        return []
    found, unknown = districts_by_slugs(slugs)
    if unknown:
        errors["districts"] = _("Unknown district: %(slugs)s.", slugs=", ".join(unknown))
    return found


def parse_announcement(data: dict) -> AnnouncementInput:
    """Check raw input (strings as a form or JSON sends them) and return clean values."""
    if not isinstance(data, dict):
        raise ServiceError("validation_error", _("The body must be a JSON object."), 400)
    errors: dict[str, str] = {}
    department = department_by_slug(str(data.get("department") or ""))
    if department is None:
        errors["department"] = _("Unknown department.")
    kind = data.get("kind")
    if kind not in KINDS:
        errors["kind"] = _("Must be one of %(values)s.", values=", ".join(KINDS))
    urgent = data.get("urgent", False)
    if not isinstance(urgent, bool):
        errors["urgent"] = _("Must be true or false.")
    districts = _districts(data.get("districts"), errors)
    streets = _text(data.get("streets"), MAX_STREETS, "streets", errors)
    starts_at = parse_when(data.get("starts_at"), "starts_at", errors)
    ends_at = parse_when(data.get("ends_at"), "ends_at", errors)
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = _("The end must be after the start.")
    publish_at = parse_when(data.get("publish_at"), "publish_at", errors, required=False)
    if publish_at and ends_at and publish_at >= ends_at:
        errors["publish_at"] = _("Publish before the works end.")
    title = _per_language(data.get("title"), MAX_TITLE, "title", errors)
    body = _per_language(data.get("body"), MAX_BODY, "body", errors)
    if not any(title.values()) and "title.kk" not in errors and "title.ru" not in errors:
        errors["title"] = _("Give a title in at least one language.")
    if errors:
        raise ServiceError("validation_error", _("Some fields need attention."), 422, errors)
    return AnnouncementInput(department, kind, urgent, districts, streets, starts_at, ends_at, title, body, publish_at)


def require_complete(title: dict[str, str], body: dict[str, str]) -> None:
    """Refuse submission or publication unless both languages have a title and a body."""
    errors = {}
    for lang in LANGS:
        if not title.get(lang):
            errors[f"title.{lang}"] = _("Required before submission.")
        if not body.get(lang):
            errors[f"body.{lang}"] = _("Required before submission.")
    if errors:
        raise ServiceError("incomplete", _("Both Kazakh and Russian texts are needed."), 422, errors)
