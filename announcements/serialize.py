"""Announcements, departments and districts in the JSON API's shapes."""

from datetime import datetime

from flask import current_app
from flask_babel import force_locale

from announcements import present
from announcements.models import LANGS, Announcement, AnnouncementEvent
from notifier.directory import Department, District
from notifier.timeutil import to_local

# The fields a client writes: POST takes them all, PATCH any of them.
INPUT_FIELDS = (
    "department",
    "kind",
    "urgent",
    "districts",
    "streets",
    "starts_at",
    "ends_at",
    "publish_at",
    "title",
    "body",
)


def iso(value: datetime | None) -> str | None:
    """Return ISO 8601 in local time with its offset, or None."""
    return to_local(value).isoformat() if value else None


def department_json(dep: Department) -> dict:
    """Return a department with its names and working hours."""
    return {
        "slug": dep.slug,
        "name": {lang: dep.name(lang) for lang in LANGS},
        "working_hours": {
            "days": [int(day) for day in dep.work_days],
            "start": f"{dep.work_start:%H:%M}",
            "end": f"{dep.work_end:%H:%M}",
        },
    }


def district_json(dist: District) -> dict:
    """Return a district with its names."""
    return {"slug": dist.slug, "name": {lang: dist.name(lang) for lang in LANGS}}


def event_json(event: AnnouncementEvent) -> dict:
    """Return one step of the history."""
    return {"kind": event.kind, "at": iso(event.at), "reason": event.reason, "old": event.old, "new": event.new}


def _state(ann: Announcement, now: datetime) -> dict[str, str]:
    words = {}
    for lang in LANGS:
        with force_locale(lang):
            words[lang] = present.state_words(ann, now)
    return words


def announcement_input_json(ann: Announcement) -> dict:
    """Return the writable fields of a record, in the shape POST takes."""
    return {
        "department": ann.department.slug,
        "kind": ann.kind,
        "urgent": ann.urgent,
        "districts": [d.slug for d in ann.districts],
        "streets": ann.streets,
        "starts_at": iso(ann.starts_at),
        "ends_at": iso(ann.ends_at),
        "publish_at": iso(ann.publish_at),
        "title": {lang: getattr(ann, f"title_{lang}") for lang in LANGS},
        "body": {lang: getattr(ann, f"body_{lang}") for lang in LANGS},
    }


def announcement_json(ann: Announcement, now: datetime, full_history: bool) -> dict:
    """Return the record; the history holds public events only unless full_history."""
    record = {"id": ann.id, **announcement_input_json(ann)}
    record.update(
        {
            "status": ann.status,
            "state": _state(ann, now),
            "published_at": iso(ann.published_at),
            "completed_at": iso(ann.completed_at),
            "cancelled_at": iso(ann.cancelled_at),
            "extended": ann.extended,
            "version": ann.version,
            "updated_at": iso(ann.updated_at),
            "url": f"{current_app.config['PUBLIC_BASE_URL']}/announcements/{ann.id}",
            "history": [event_json(e) for e in ann.events if full_history or e.public],
        }
    )
    return record
