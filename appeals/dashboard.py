"""The staff dashboard (with a CSV export) and the public statistics page.

The CSV is in long format, one figure per line: `section,key,name,metric,value`, where `key` is a
stable slug (department, district, status, week's Monday) and `name` its label in the reader's
language. Sections: period, summary, departments, districts, statuses, weeks, announcements, sms.
"""

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from announcements.models import KINDS, OUTAGE_KINDS
from announcements.present import KIND_LABELS
from appeals import charts, stats
from appeals.charts import Chart
from appeals.models import STATUSES, Appeal
from notifier.auth import staff_required
from notifier.db import utcnow
from notifier.directory import all_departments, all_districts
from notifier.i18n import current_lang
from notifier.outbox_models import DELIVERED, FAILED, SENT
from notifier.outbox_views import MESSAGE_STATUS_LABELS
from notifier.timeutil import to_local

bp = Blueprint("dashboard", __name__)

DEFAULT_DAYS, MAX_DAYS, PUBLIC_WINDOWS = 30, 366, (30, 365)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STATUS_LABELS = {
    "new": _l("New"),
    "in_progress": _l("In progress"),
    "answered": _l("Answered"),
    "resolved": _l("Resolved"),
    "forwarded": _l("Forwarded"),
    "rejected": _l("Rejected"),
}


@dataclass
class Row:
    key: str
    label: str
    values: dict[str, float | None]


@dataclass
class Section:
    """A table of figures (label column plus metrics) and the chart drawn from it."""

    id: str
    title: str
    head: str
    columns: list[tuple[str, str, str]]  # metric, heading, unit
    rows: list[Row]
    charts: list[Chart] = field(default_factory=list)


def _today() -> date:
    return to_local(utcnow()).date()


def parse_period(args, today: date) -> tuple[stats.Period | None, dict[str, str]]:
    """Read ?from=&to= (local dates, both included); default: the last 30 days."""
    errors, values = {}, {}
    for name in ("from", "to"):
        raw = (args.get(name) or "").strip()
        if not raw:
            continue
        try:
            if not ISO_DATE.match(raw):
                raise ValueError(raw)
            values[name] = date.fromisoformat(raw)
        except ValueError:
            errors[name] = _("Enter a date as YYYY-MM-DD, for example %(example)s.", example=today.isoformat())
    if errors:
        return None, errors
    last = values.get("to", today)
    first = values.get("from", stats.last_days(last, DEFAULT_DAYS).first)
    if first > last:
        return None, {"from": _("The start must not be after the end.")}
    if (last - first).days + 1 > MAX_DAYS:
        return None, {"from": _("Choose at most %(n)d days.", n=MAX_DAYS)}
    return stats.Period(first, last), {}


def _department_keys() -> list[tuple[str, str, int | None]]:
    """Return (slug, label, id) for every department, then the contact centre's queue of unrouted appeals."""
    lang = current_lang()
    rows = [(d.slug, d.name(lang), d.id) for d in all_departments()]
    return rows + [("queue", _("Contact centre queue"), None)]


def _district_keys() -> list[tuple[str, str, int | None]]:
    lang = current_lang()
    return [(d.slug, d.name(lang), d.id) for d in all_districts()] + [("none", _("District not known"), None)]


def _appeal_rows(figures: dict, keys, metrics: tuple[str, ...]) -> list[Row]:
    empty = stats.AppealFigures()
    return [
        Row(slug, label, {m: getattr(figures.get(ident, empty), m) for m in metrics}) for slug, label, ident in keys
    ]


def _bars(section: Section, metrics: list[str], title="", unit="", chart_id="", series=None, top=None) -> Section:
    """Draw the section's metrics as bars (stacked when there are several), one bar per row."""
    series = series or [heading for metric, heading, _unit in section.columns if metric in metrics]
    rows = [(row.label, [row.values[m] for m in metrics]) for row in section.rows]
    chart_id = chart_id or f"{section.id}-chart"
    section.charts.append(charts.bars(chart_id, title or section.title, rows, series, unit, top))
    return section


def _pairs(counts: dict, keys, series: list[tuple[str, str]], total: str) -> list[Row]:
    rows = []
    for slug, label, ident in keys:
        values = {metric: counts.get((ident, metric), 0) for metric, _heading in series}
        values[total] = sum(values.values())
        rows.append(Row(slug, label, values))
    return rows


def _appeal_sections(period: stats.Period, now) -> list[Section]:
    received = ("received", _("Received"), "")
    columns = [
        received,
        ("open", _("Open"), ""),
        ("overdue", _("Overdue"), ""),
        ("on_time", _("Due in the period: answered on time"), ""),
        ("late", _("Due in the period: late"), ""),
        ("on_time_rate", _("On time, %"), "%"),
        ("median_hours", _("Median time to answer, hours"), ""),
    ]
    metrics = tuple(m for m, _h, _u in columns)
    by_dep = stats.appeal_figures(period, now, Appeal.department_id)
    by_district = stats.appeal_figures(period, now, Appeal.district_id)
    statuses = stats.appeals_by_status(period)
    weeks = stats.weekly_received(period)
    # The first and last weeks may be cut by the period: their labels say so, rather than look like a dip.
    days = [(max(monday, period.first), min(monday + timedelta(days=6), period.last)) for monday, _n in weeks]
    week_rows = [
        Row(monday.isoformat(), f"{first:%d.%m}–{last:%d.%m.%Y}", {"received": n})
        for (monday, n), (first, last) in zip(weeks, days, strict=True)
    ]
    sections = [
        Section("departments", _("Appeals by department"), _("Department"), columns,
                _appeal_rows(by_dep, _department_keys(), metrics)),
        Section("districts", _("Appeals by district"), _("District"), columns[:3],
                _appeal_rows(by_district, _district_keys(), metrics[:3])),
        Section("statuses", _("Appeals by status now"), _("Status"), [("received", _("Appeals"), "")],
                [Row(s, str(STATUS_LABELS[s]), {"received": statuses[s]}) for s in STATUSES]),
        Section("weeks", _("Appeals received per week"), _("Week"), [received], week_rows),
    ]  # fmt: skip
    for section in sections[:3]:
        _bars(section, ["received"])
    axis = [
        (row.label, f"{first:%d.%m}", row.values["received"]) for row, (first, _l) in zip(week_rows, days, strict=True)
    ]
    cut = {
        i for i, (monday, _n) in enumerate(weeks) if monday < period.first or monday + timedelta(days=6) > period.last
    }
    week_chart = charts.columns("weeks-chart", sections[3].title, axis, partial=cut, partial_label=_("Part of a week"))
    sections[3].charts.append(week_chart)
    return sections


def _announcement_sections(period: stats.Period) -> list[Section]:
    departments = _department_keys()[:-1]  # announcements always have a department
    total = ("total", _("Total"), "")
    kinds = [(kind, str(KIND_LABELS[kind])) for kind in KINDS]
    published = Section(
        "announcements", _("Announcements published, by department and kind"), _("Department"),
        [(k, label, "") for k, label in kinds] + [total],
        _pairs(stats.announcements_by_department_kind(period), departments, kinds, "total"),
    )  # fmt: skip
    shown = (DELIVERED, SENT, FAILED)
    statuses = [(s, str(MESSAGE_STATUS_LABELS[s])) for s in shown]
    counts = stats.sms_by_department(period)
    other: dict = {}
    for (dep, status), n in counts.items():
        if status not in shown:
            other[(dep, "other")] = other.get((dep, "other"), 0) + n
    sms = Section(
        "sms", _("Announcement SMS, by department"), _("Department"),
        [(s, label, "") for s, label in statuses] + [("other", _("Queued or withdrawn"), ""), total],
        _pairs(counts | other, departments, [*statuses, ("other", "")], "total"),
    )  # fmt: skip
    _bars(published, [k for k, _label in kinds])
    _bars(sms, list(shown))
    return [published, sms]


def staff_sections(period: stats.Period, now) -> tuple[stats.AppealFigures, list[Section]]:
    """Return the overall figures and every table of the staff dashboard for the period."""
    total = stats.appeal_figures(period, now)[None]
    return total, _appeal_sections(period, now) + _announcement_sections(period)


def _public_appeals(days: int, now) -> Section:
    figures = stats.appeal_figures(stats.last_days(to_local(now).date(), days), now, Appeal.department_id)
    columns = [
        ("received", _("Appeals received"), ""),
        ("decided", _("Deadline in the period"), ""),
        ("on_time", _("Answered by the deadline"), ""),
        ("on_time_rate", _("On time, %"), "%"),
        ("median_hours", _("Median time to answer, hours"), ""),
    ]
    rows = _appeal_rows(figures, _department_keys(), tuple(m for m, _h, _u in columns))
    section = Section("departments", _("How departments answer appeals"), _("Department"), columns, rows)
    return _bars(section, ["on_time_rate"], _("Share of appeals answered on time, %"), "%", top=100)


def _outages(now) -> Section:
    hours = stats.outage_hours(now, PUBLIC_WINDOWS)
    metrics = [(kind, window, f"{kind}_{window}") for window in PUBLIC_WINDOWS for kind in OUTAGE_KINDS]
    rows = [
        Row(slug, label, {metric: hours.get((ident, kind), {}).get(window, 0.0) for kind, window, metric in metrics})
        for slug, label, ident in _district_keys()[:-1]
    ]
    columns = [
        (metric, _("%(kind)s, last %(n)d days", kind=str(KIND_LABELS[kind]), n=window), "")
        for kind, window, metric in metrics
    ]
    section = Section("outages", _("Hours without service, by district"), _("District"), columns, rows)
    series = [str(KIND_LABELS[k]) for k in OUTAGE_KINDS]
    for window in PUBLIC_WINDOWS:
        title = _("Outage hours in the last %(n)d days", n=window)
        shown = [f"{kind}_{window}" for kind in OUTAGE_KINDS]
        _bars(section, shown, title, chart_id=f"outages-{window}-chart", series=series)
    return section


def public_sections(days: int, now) -> list[Section]:
    """Return the public tables: appeals per department over `days` days, outage hours per district."""
    return [_public_appeals(days, now), _outages(now)]


def csv_lines(period: stats.Period, total: stats.AppealFigures, sections: list[Section]) -> str:
    """Return the dashboard as UTF-8 CSV with a BOM (so Excel reads Cyrillic), one figure per line."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "key", "name", "metric", "value"])
    writer.writerow(["period", "", "", "from", period.first.isoformat()])
    writer.writerow(["period", "", "", "to", period.last.isoformat()])
    for metric in ("received", "open", "overdue", "on_time", "late", "on_time_rate", "median_hours"):
        writer.writerow(["summary", "", "", metric, _plain(getattr(total, metric))])
    for section in sections:
        for row in section.rows:
            for metric, _heading, _unit in section.columns:
                writer.writerow([section.id, row.key, _cell(row.label), metric, _plain(row.values[metric])])
    return out.getvalue()


def _plain(value) -> str:
    return "" if value is None else str(value)


def _cell(text: str) -> str:
    """Keep spreadsheet programs from reading a name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@bp.get("/staff/dashboard")
@staff_required()
def staff_dashboard():
    """Show the staff dashboard for a period: appeals, announcements and SMS, as tables and charts."""
    period, errors = parse_period(request.args, _today())
    if errors:
        values = {name: request.args.get(name, "") for name in ("from", "to")}
        return render_template("dashboard/staff.html", errors=errors, values=values, period=None), 400
    total, sections = staff_sections(period, utcnow())
    values = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    return render_template(
        "dashboard/staff.html", errors={}, values=values, period=period, total=total, sections=sections,
        number=charts.number,
    )  # fmt: skip


@bp.get("/staff/dashboard.csv")
@staff_required()
def staff_dashboard_csv():
    """Download the dashboard's figures for the same period as CSV."""
    period, errors = parse_period(request.args, _today())
    if errors:
        abort(400, " ".join(errors.values()))
    total, sections = staff_sections(period, utcnow())
    name = f"habarlama-dashboard-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return Response(
        csv_lines(period, total, sections),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/stats")
def public_stats():
    """Show the public statistics: how quickly each department answers, and outage hours per district."""
    days = request.args.get("days", PUBLIC_WINDOWS[0], type=int)
    if days not in PUBLIC_WINDOWS:
        abort(404)
    sections = public_sections(days, utcnow())
    return render_template(
        "dashboard/public.html", sections=sections, days=days, windows=PUBLIC_WINDOWS, number=charts.number
    )
