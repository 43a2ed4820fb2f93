"""The public announcements page and the page of one announcement."""

import time

from flask import Blueprint, abort, current_app, render_template, request, session
from flask_login import current_user

from announcements import present
from announcements.queries import PublicPagination, newest_public_keys, resolve_filters
from announcements.service import get_announcement
from notifier.db import utcnow
from notifier.directory import all_departments, all_districts
from notifier.i18n import current_lang

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
    ttl = current_app.config["PUBLIC_PAGE_CACHE_SECONDS"]
    cacheable = ttl > 0 and not current_user.is_authenticated and "_flashes" not in session
    key = (current_lang(), request.full_path, tuple(newest_public_keys(filters, 1)))
    pages = current_app.extensions.setdefault("habarlama.public_pages", {})  # per worker process
    hit = pages.get(key) if cacheable else None
    if hit and hit[0] > time.monotonic():
        return hit[1]
    now = utcnow()
    pagination = PublicPagination(
        page=page, per_page=current_app.config["PAGE_SIZE"], error_out=False, filters=filters, now=now
    )
    if page > 1 and not pagination.items:
        abort(404)
    html = render_template(
        "public/index.html",
        pagination=pagination,
        filters=filters,
        departments=all_departments(),
        districts=all_districts(),
        now=now,
    )
    if cacheable:
        if len(pages) > 500:
            pages.clear()
        pages[key] = (time.monotonic() + ttl, html)
    return html


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
