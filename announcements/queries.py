"""Read-side queries shared by the public page, the feeds and the API."""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, and_, case, func, not_, select

from announcements.models import (
    PUBLIC_STATUSES,
    PUBLISHED,
    Announcement,
    announcement_districts,
)
from notifier.db import db
from notifier.directory import Department, District, department_by_slug


@dataclass
class Filters:
    """The public filters: district and department slugs (None = all)."""

    district: District | None = None
    department: Department | None = None

    @property
    def args(self) -> dict[str, str]:
        """Return the filters as query arguments for links."""
        args = {}
        if self.district:
            args["district"] = self.district.slug
        if self.department:
            args["department"] = self.department.slug
        return args


def resolve_filters(district_slug: str | None, department_slug: str | None) -> tuple[Filters, dict[str, str]]:
    """Turn slugs into a Filters; return field errors for unknown slugs."""
    filters, errors = Filters(), {}
    if district_slug:
        filters.district = db.session.scalar(select(District).where(District.slug == district_slug))
        if filters.district is None:
            errors["district"] = _("Unknown district: %(slugs)s.", slugs=district_slug)
    if department_slug:
        filters.department = department_by_slug(department_slug)
        if filters.department is None:
            errors["department"] = _("Unknown department.")
    return filters, errors


def _filtered(query: Select, filters: Filters) -> Select:
    if filters.department:
        query = query.where(Announcement.department_id == filters.department.id)
    if filters.district:
        query = query.where(
            Announcement.id.in_(
                select(announcement_districts.c.announcement_id).where(
                    announcement_districts.c.district_id == filters.district.id
                )
            )
        )
    return query


def public_query(filters: Filters, now: datetime) -> Select:
    """Return public announcements: current and upcoming first (soonest first), then the past (newest first)."""
    current = and_(Announcement.status == PUBLISHED, Announcement.ends_at >= now)
    query = select(Announcement).where(Announcement.status.in_(PUBLIC_STATUSES), Announcement.published_at.is_not(None))
    return _filtered(query, filters).order_by(
        case((current, 0), else_=1),
        case((current, Announcement.starts_at), else_=None).asc(),
        Announcement.ends_at.desc(),
        Announcement.id.desc(),
    )


def newest_public(filters: Filters, limit: int) -> list[Announcement]:
    """Return the latest public announcements by last change, newest first (for feeds)."""
    query = select(Announcement).where(Announcement.status.in_(PUBLIC_STATUSES), Announcement.published_at.is_not(None))
    query = _filtered(query, filters).order_by(Announcement.updated_at.desc(), Announcement.id.desc()).limit(limit)
    return list(db.session.scalars(query))


def newest_public_keys(filters: Filters, limit: int) -> list[tuple[int, int, datetime]]:
    """Return (id, version, updated_at) of the newest public announcements: what a feed shows."""
    query = select(Announcement.id, Announcement.version, Announcement.updated_at).where(
        Announcement.status.in_(PUBLIC_STATUSES), Announcement.published_at.is_not(None)
    )
    query = _filtered(query, filters).order_by(Announcement.updated_at.desc(), Announcement.id.desc()).limit(limit)
    return [tuple(row) for row in db.session.execute(query)]


class PublicPagination(Pagination):
    """The public list as two index-ordered queries: current and upcoming (soonest first), then the past."""

    def _parts(self):
        filters, now = self._query_args["filters"], self._query_args["now"]
        public = select(Announcement).where(
            Announcement.status.in_(PUBLIC_STATUSES), Announcement.published_at.is_not(None)
        )
        current = and_(Announcement.status == PUBLISHED, Announcement.ends_at >= now)
        return _filtered(public, filters), current

    def _query_items(self) -> list[Announcement]:
        public, current = self._parts()
        n_current = db.session.scalar(
            public.where(current).with_only_columns(func.count(Announcement.id)).order_by(None)
        )
        items = []
        if self._query_offset < n_current:
            query = public.where(current).order_by(
                Announcement.starts_at, Announcement.ends_at.desc(), Announcement.id.desc()
            )
            items = list(db.session.scalars(query.offset(self._query_offset).limit(self.per_page)))
        if len(items) < self.per_page:
            query = public.where(not_(current)).order_by(Announcement.ends_at.desc(), Announcement.id.desc())
            offset = max(0, self._query_offset - n_current)
            items += list(db.session.scalars(query.offset(offset).limit(self.per_page - len(items))))
        return items

    def _query_count(self) -> int:
        public, _current = self._parts()
        return db.session.scalar(public.with_only_columns(func.count(Announcement.id)).order_by(None))


def staff_query(department_id: int | None, status: str | None) -> Select:
    """Return announcements for the staff list, newest change first."""
    query = select(Announcement)
    if department_id:
        query = query.where(Announcement.department_id == department_id)
    if status:
        query = query.where(Announcement.status == status)
    return query.order_by(Announcement.updated_at.desc(), Announcement.id.desc())


def delivery_summary(ann) -> list[dict]:
    """Return, per SMS-bearing event of an announcement: counts by status, parts, cost and failure reasons."""
    from notifier.outbox_models import OutboxMessage

    event_ids = [e.id for e in ann.events]
    if not event_ids:
        return []
    rows = db.session.execute(
        select(
            OutboxMessage.event_id,
            OutboxMessage.status,
            OutboxMessage.reason,
            func.count(OutboxMessage.id),
            func.coalesce(func.sum(OutboxMessage.parts), 0),
        )
        .where(OutboxMessage.event_id.in_(event_ids))
        .group_by(OutboxMessage.event_id, OutboxMessage.status, OutboxMessage.reason)
    ).all()
    by_event: dict[int, dict] = {}
    for event_id, status, reason, count, parts in rows:
        entry = by_event.setdefault(event_id, {"counts": {}, "parts": 0, "recipients": 0, "reasons": {}})
        entry["counts"][status] = entry["counts"].get(status, 0) + count
        entry["recipients"] += count
        if status in ("sent", "delivered"):
            entry["parts"] += int(parts)
        if reason and status in ("failed", "cancelled"):
            entry["reasons"][reason] = entry["reasons"].get(reason, 0) + count
    summary = []
    for event in ann.events:
        if event.id in by_event:
            summary.append({"event": event, **by_event[event.id]})
    return summary
