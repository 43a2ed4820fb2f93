"""The staff Outbox page: every SMS we queued, what it said, where it stands; dispatch pauses."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from notifier import dispatch
from notifier.auth import ADMIN, staff_required
from notifier.db import db, utcnow
from notifier.outbox_models import ALLOWED_STATUS_TRANSITIONS, OutboxMessage

bp = Blueprint("outbox", __name__, url_prefix="/staff/outbox")
STATUSES = tuple(ALLOWED_STATUS_TRANSITIONS)


def status_counts(*conditions) -> dict[str, int]:
    """Return message counts per status (for the page header and delivery views)."""
    rows = db.session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id)).where(*conditions).group_by(OutboxMessage.status)
    ).all()
    return {status: count for status, count in rows}


@bp.route("/")
@staff_required()
def index():
    """List the latest messages, filterable by status and phone digits."""
    status = request.args.get("status") or None
    if status and status not in STATUSES:
        abort(404)
    phone = "".join(ch for ch in request.args.get("phone", "") if ch.isdigit())
    query = select(OutboxMessage).options(joinedload(OutboxMessage.batch)).order_by(OutboxMessage.id.desc())
    if status:
        query = query.where(OutboxMessage.status == status)
    if phone:
        query = query.where(OutboxMessage.phone.contains(phone))
    pagination = db.paginate(query, per_page=current_app.config["PAGE_SIZE"] * 2, error_out=False)
    now = utcnow()
    return render_template(
        "staff/outbox.html",
        pagination=pagination,
        status=status,
        statuses=STATUSES,
        counts=status_counts(),
        gateway=current_app.config["SMS_GATEWAY"],
        phone=request.args.get("phone", ""),
        now=now,
    )


@bp.route("/resume/<cause>", methods=["POST"])
@staff_required(ADMIN)
def resume(cause: str):
    """Lift a dispatch pause once its cause is fixed (admins only)."""
    dispatch.resume(cause)
    db.session.commit()
    flash(_("Dispatch resumed."), "success")
    return redirect(url_for("outbox.index"))


MESSAGE_STATUS_LABELS = {
    "queued": _l("Queued"),
    "held": _l("Held"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "delivered": _l("Delivered"),
    "failed": _l("Failed"),
    "cancelled": _l("Withdrawn"),
}
SWITCH_LABELS = {
    "auth": _l("The gateway refused our login"),
    "no_money": _l("The gateway account has no money"),
    "ip_blocked": _l("The gateway blocked our address"),
    "budget": _l("Daily SMS budget reached"),
}


def text_of(message: OutboxMessage) -> str:
    """Return what the message says (announcement rows get their text when they are sent)."""
    return message.text or (message.batch.text if message.batch else "")


@bp.app_context_processor
def _helpers():
    return {
        "message_status_label": lambda status: MESSAGE_STATUS_LABELS.get(status, status),
        "switch_label": lambda cause: SWITCH_LABELS.get(cause, _l("The gateway refused to send")),
        "outbox_text": text_of,
        "dispatch_switches": lambda: dispatch.active_switches(utcnow()),
    }
