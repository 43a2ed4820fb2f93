"""The public announcements page and the page of one announcement."""

from flask import Blueprint, abort, current_app, render_template, request

from announcements import present
from announcements.queries import public_query, resolve_filters
from announcements.service import get_announcement
from notifier.db import db, utcnow
from notifier.directory import all_departments, all_districts

bp = Blueprint("public", __name__)


@bp.app_context_processor
def _helpers():
    return {
        "kind_label": lambda kind: present.KIND_LABELS.get(kind, kind),
        "status_label": lambda status: present.STATUS_LABELS.get(status, status),
        "event_label": lambda kind: present.EVENT_LABELS.get(kind, kind),
        "state_words": present.state_words,
        "state_class": present.state_class,
        "window_text": present.window_text,
        "when": present.when,
        "when_iso": present.when_iso,
    }


@bp.route("/")
def index():
    """List public announcements, current and upcoming first, with plain-link filters."""
    filters, errors = resolve_filters(request.args.get("district"), request.args.get("department"))
    if errors:
        abort(404, "; ".join(errors.values()))
    page = request.args.get("page", 1, type=int)
    if page < 1:
        abort(404)
    now = utcnow()
    pagination = db.paginate(
        public_query(filters, now), page=page, per_page=current_app.config["PAGE_SIZE"], error_out=False
    )
    if page > 1 and not pagination.items:
        abort(404)
    return render_template(
        "public/index.html",
        pagination=pagination,
        filters=filters,
        departments=all_departments(),
        districts=all_districts(),
        now=now,
    )


@bp.route("/announcements/<int:announcement_id>")
def detail(announcement_id: int):
    """Show one public announcement with its public history."""
    ann = get_announcement(announcement_id)
    if not ann.is_public:
        abort(404)
    history = [e for e in ann.events if e.public]
    return render_template("public/detail.html", ann=ann, history=history, now=utcnow())


@bp.route("/a/<int:announcement_id>")
def short(announcement_id: int):
    """Short link used in SMS: the same page, without a redirect on a slow phone."""
    return detail(announcement_id)
