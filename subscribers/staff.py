"""Staff pages: how many residents follow what, and an audited lookup of one phone."""

from dataclasses import dataclass

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from notifier.auth import ADMIN, OPERATOR, staff_required
from notifier.db import db, utcnow
from notifier.i18n import current_lang
from subscribers import reports
from subscribers.forms import LookupForm

bp = Blueprint("subscribers_staff", __name__, url_prefix="/staff/subscribers")

LOOKUP_ROLES = (ADMIN, OPERATOR)
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, CHART_WIDTH = 22, 8, 200, 480


@dataclass
class Bar:
    """One bar of a server-rendered SVG chart."""

    label: str
    value: int
    y: int
    width: int


def chart(rows: list[tuple[str, int]]) -> dict:
    """Lay out a horizontal bar chart: bars scaled to the largest value, and the SVG height."""
    top = max((value for _label, value in rows), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 60
    bars = [
        Bar(label, value, i * (BAR_HEIGHT + BAR_GAP), round(span * value / top))
        for i, (label, value) in enumerate(rows)
    ]
    return {
        "bars": bars,
        "height": max(len(bars) * (BAR_HEIGHT + BAR_GAP), BAR_HEIGHT),
        "width": CHART_WIDTH,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }


def _tables() -> list[dict]:
    """Return the three breakdowns (district, service, language) with their charts."""
    lang = current_lang()
    languages = reports.counts_by_language()
    districts = [(d.name(lang), n) for d, n in reports.counts_by_district()]
    services = [(d.name(lang), n) for d, n in reports.counts_by_department()]
    spoken = [(_("Kazakh"), languages["kk"]), (_("Russian"), languages["ru"])]
    breakdowns = [
        ("districts", _("By district"), _("District"), districts),
        ("departments", _("By service"), _("Service"), services),
        ("languages", _("By language"), _("Language"), spoken),
    ]
    return [
        {"id": key, "title": title, "column": column, "rows": rows, "chart": chart(rows)}
        for key, title, column, rows in breakdowns
    ]


@bp.get("")
@staff_required()
def index():
    """Show the counts of active subscribers as tables and bar charts."""
    return render_template(
        "subscribers/staff.html",
        tables=_tables(),
        total=reports.total_active(),
        form=LookupForm(formdata=None),
        may_lookup=current_user.role in LOOKUP_ROLES,
    )


@bp.get("/lookup")
@staff_required(*LOOKUP_ROLES)
def lookup():
    """Show one phone's subscription and latest messages; every lookup is recorded."""
    form = LookupForm(request.args)
    raw = (form.phone.data or "").strip()
    if not raw:
        form.phone.errors = [_("Enter a phone number.")]
        return render_template("subscribers/lookup.html", form=form, result=None), 422
    result = reports.lookup(current_user.id, raw, utcnow())
    db.session.commit()
    return render_template("subscribers/lookup.html", form=form, result=result)
