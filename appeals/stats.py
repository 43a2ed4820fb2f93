"""The dashboard's figures: SQL aggregates over appeals, announcements and their SMS.

Definitions (shown to readers on the pages too):
- received: appeals registered in the period, under the department they are with now;
- answered: the first SMS answer, or closing the appeal (resolved, rejected with a reason) if earlier;
- on time / late: of the appeals whose deadline falls in the period, answered by the deadline or not;
  an unanswered appeal past its deadline is late, one whose deadline is still ahead is not counted yet;
- overdue: received in the period, still open and past the deadline now (as `service.is_overdue`);
- outage hours: published or completed planned/emergency outages, from the start to the earliest of
  the planned end, the restoration and now, clipped to the window; cancelled ones do not count.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from statistics import median

from sqlalchemy import BigInteger, and_, case, cast, extract, func, literal_column, or_, select

from announcements.models import COMPLETED, OUTAGE_KINDS, PUBLISHED, Announcement, AnnouncementEvent
from announcements.models import announcement_districts as ann_districts
from appeals.models import CLOSED_STATUSES, STATUSES, Appeal
from notifier.db import db
from notifier.outbox_models import OutboxMessage
from notifier.timeutil import local_zone

WEEK_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Period:
    """Whole local days from `first` to `last`, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), tzinfo=local_zone()).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=local_zone()).astimezone(UTC)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def last_days(today: date, days: int) -> Period:
    """Return the period of `days` local days ending with today."""
    return Period(today - timedelta(days=days - 1), today)


@dataclass
class AppealFigures:
    """How one group of appeals (a department, a district, everything) fared."""

    received: int = 0
    open: int = 0
    overdue: int = 0
    on_time: int = 0
    late: int = 0
    median_hours: float | None = None

    @property
    def decided(self) -> int:
        return self.on_time + self.late

    @property
    def on_time_rate(self) -> float | None:
        """Return the share answered on time, in per cent, or None when no deadline has been decided."""
        return round(100.0 * self.on_time / self.decided, 1) if self.decided else None


def _seconds(column):
    """Return a timestamp as whole seconds since 1970 (PostgreSQL and SQLite alike)."""
    return cast(extract("epoch", column), BigInteger)


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _answered_at():
    return func.coalesce(Appeal.first_answer_at, Appeal.closed_at)


def _within(column, period: Period):
    return and_(column >= period.start, column < period.end)


def appeal_figures(period: Period, now: datetime, group=None) -> dict:
    """Return {group value: AppealFigures} (or {None: …} for everything when group is None)."""
    received, due = _within(Appeal.created_at, period), _within(Appeal.due_at, period)
    still_open = Appeal.status.not_in(CLOSED_STATUSES)
    answered = _answered_at()
    on_time = and_(due, answered.is_not(None), answered <= Appeal.due_at)
    late = and_(due, or_(answered > Appeal.due_at, and_(answered.is_(None), Appeal.due_at < now)))
    key = group if group is not None else literal_column("NULL")
    query = select(
        key,
        _count_if(received),
        _count_if(and_(received, still_open)),
        _count_if(and_(received, still_open, Appeal.due_at < now)),
        _count_if(on_time),
        _count_if(late),
    ).where(or_(received, due))
    if group is not None:
        query = query.group_by(group)
    figures = defaultdict(AppealFigures)
    for value, *counts in db.session.execute(query):
        figures[value] = AppealFigures(*(int(n) for n in counts))
    for value, hours in answer_medians(period, group).items():
        figures[value].median_hours = hours
    return figures


def answer_medians(period: Period, group=None) -> dict:
    """Return {group value: median hours from registration to answer} over appeals received in the period."""
    hours = (_seconds(_answered_at()) - _seconds(Appeal.created_at)) / 3600.0
    where = (_within(Appeal.created_at, period), _answered_at().is_not(None))
    key = group if group is not None else literal_column("NULL")
    if db.engine.dialect.name == "postgresql":
        query = select(key, func.percentile_cont(0.5).within_group(hours)).where(*where)
        if group is not None:
            query = query.group_by(group)
        return {value: round(float(m), 1) for value, m in db.session.execute(query) if m is not None}
    # SQLite has no percentile function: fetch the one column of durations and take the median here.
    durations = defaultdict(list)
    for value, h in db.session.execute(select(key, hours).where(*where)):
        durations[value].append(float(h))
    return {value: round(median(values), 1) for value, values in durations.items()}


def appeals_by_status(period: Period) -> dict[str, int]:
    """Return the number of appeals received in the period per current status, zeros included."""
    rows = db.session.execute(
        select(Appeal.status, func.count(Appeal.id)).where(_within(Appeal.created_at, period)).group_by(Appeal.status)
    )
    counts = dict.fromkeys(STATUSES, 0)
    counts.update({status: int(n) for status, n in rows})
    return counts


def weekly_received(period: Period) -> list[tuple[date, int]]:
    """Return (Monday, appeals received that local week) for every week the period touches."""
    monday = period.first - timedelta(days=period.first.weekday())
    week0 = int(datetime.combine(monday, time(0), tzinfo=local_zone()).timestamp())
    # A literal, not a bound parameter: PostgreSQL must see the same expression in SELECT and GROUP BY.
    # Weeks are counted as 7×24 h, which holds for a zone without daylight saving (Asia/Almaty).
    week = (_seconds(Appeal.created_at) - literal_column(str(week0), BigInteger)) // literal_column(
        str(WEEK_SECONDS), BigInteger
    )
    rows = db.session.execute(
        select(week, func.count(Appeal.id)).where(_within(Appeal.created_at, period)).group_by(week)
    )
    counts = {int(n): int(c) for n, c in rows}
    weeks = (period.last - monday).days // 7 + 1
    return [(monday + timedelta(weeks=i), counts.get(i, 0)) for i in range(weeks)]


def announcements_by_department_kind(period: Period) -> dict[tuple[int, str], int]:
    """Return {(department id, kind): announcements published in the period}, later cancellations included."""
    rows = db.session.execute(
        select(Announcement.department_id, Announcement.kind, func.count(Announcement.id))
        .where(_within(Announcement.published_at, period))
        .group_by(Announcement.department_id, Announcement.kind)
    )
    return {(dep, kind): int(n) for dep, kind, n in rows}


def sms_by_department(period: Period) -> dict[tuple[int, str], int]:
    """Return {(department id, message status): SMS of the announcement events in the period}."""
    # From the few events to their messages through the (event, subscriber) unique index: the outbox
    # holds millions of rows and has no index on created_at alone.
    rows = db.session.execute(
        select(Announcement.department_id, OutboxMessage.status, func.count(OutboxMessage.id))
        .select_from(AnnouncementEvent)
        .join(OutboxMessage, OutboxMessage.event_id == AnnouncementEvent.id)
        .join(Announcement, Announcement.id == AnnouncementEvent.announcement_id)
        .where(_within(AnnouncementEvent.at, period))
        .group_by(Announcement.department_id, OutboxMessage.status)
    )
    return {(dep, status): int(n) for dep, status, n in rows}


def _least(a, b):
    return case((a < b, a), else_=b)


def _greatest(a, b):
    return case((a > b, a), else_=b)


def outage_hours(now: datetime, windows: tuple[int, ...] = (30, 365)) -> dict[tuple[int, str], dict[int, float]]:
    """Return {(district id, kind): {days: hours of outage within the last `days` days}}."""
    now_s = int(now.timestamp())
    start, end = _seconds(Announcement.starts_at), _seconds(Announcement.ends_at)
    # Restored early ends the outage then; a late "restored" click does not stretch it past the planned end.
    stop = _least(_least(end, func.coalesce(_seconds(Announcement.completed_at), end)), now_s)
    sums = []
    for days in windows:
        begin = _greatest(start, now_s - days * 86400)
        sums.append(func.coalesce(func.sum(case((stop > begin, stop - begin), else_=0)), 0))
    rows = db.session.execute(
        select(ann_districts.c.district_id, Announcement.kind, *sums)
        .join(ann_districts, ann_districts.c.announcement_id == Announcement.id)
        .where(
            Announcement.kind.in_(OUTAGE_KINDS),
            Announcement.status.in_((PUBLISHED, COMPLETED)),
            Announcement.published_at.is_not(None),
            Announcement.starts_at < now,
            Announcement.ends_at > now - timedelta(days=max(windows)),
        )
        .group_by(ann_districts.c.district_id, Announcement.kind)
    )
    return {
        (district, kind): {days: round(float(s) / 3600, 1) for days, s in zip(windows, seconds, strict=True)}
        for district, kind, *seconds in rows
    }
