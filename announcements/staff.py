"""Staff pages: the announcement list, the form, the record with its history and actions."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from announcements import service, texts
from announcements.forms import ActionForm, AnnouncementForm
from announcements.models import STATUSES, Announcement
from announcements.queries import delivery_summary, staff_query
from notifier.auth import ADMIN, OPERATOR, staff_required
from notifier.db import db, utcnow
from notifier.directory import all_departments, all_districts
from notifier.errors import ServiceError
from notifier.i18n import current_lang

bp = Blueprint("staff", __name__, url_prefix="/staff")

ACTION_MESSAGES = {
    "submit": _l("Submitted for approval."),
    "return": _l("Returned to the author."),
    "approve": _l("Approved."),
    "publish": _l("Published."),
    "extend": _l("Extended."),
    "complete": _l("Marked as restored."),
    "cancel": _l("Cancelled."),
}


def _writable_departments():
    if current_user.role == ADMIN:
        return all_departments()
    return [d for d in all_departments() if current_user.acts_for(d.id)]


def _visible(ann: Announcement) -> Announcement:
    if current_user.role in (ADMIN, OPERATOR) or current_user.acts_for(ann.department_id):
        return ann
    abort(403)


def _form() -> AnnouncementForm:
    form = AnnouncementForm()
    form.fill_choices(_writable_departments(), all_districts(), current_lang())
    return form


@bp.route("/")
@staff_required()
def index():
    """List announcements the user may see, newest change first."""
    status = request.args.get("status") or None
    if status and status not in STATUSES:
        abort(404)
    own = None if current_user.role in (ADMIN, OPERATOR) else current_user.department_id
    pagination = db.paginate(staff_query(own, status), per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_template("staff/index.html", pagination=pagination, status=status, statuses=STATUSES)


def _preview_of(form: AnnouncementForm) -> dict | None:
    """Build an unsaved record from the form and preview its SMS; None if the input is not valid yet."""
    try:
        values = service.parse_announcement(form.as_input())
    except ServiceError as err:
        form.show_errors(err.fields)
        return None
    ann = Announcement(id=(db.session.scalar(db.select(db.func.max(Announcement.id))) or 0) + 1)
    service.apply_input(ann, values)
    return texts.preview(ann, service.recipients_by_language(ann))


@bp.route("/announcements/new", methods=["GET", "POST"])
@staff_required()
def new():
    """Draft a new announcement (with an SMS preview before saving)."""
    if not _writable_departments():
        abort(403)
    form = _form()
    preview = None
    if form.validate_on_submit():
        if "preview" in request.form:
            preview = _preview_of(form)
        else:
            try:
                ann = service.create_draft(current_user, form.as_input(), utcnow())
                db.session.commit()
            except ServiceError as err:
                db.session.rollback()
                if err.status == 403:
                    abort(403)
                form.show_errors(err.fields)
                form.form_errors.append(err.message)
            else:
                flash(_("Draft saved."), "success")
                return redirect(url_for("staff.detail", announcement_id=ann.id))
    elif request.method == "GET" and current_user.department:
        form.department.data = current_user.department.slug
    return render_template("staff/form.html", form=form, ann=None, preview=preview)


@bp.route("/announcements/<int:announcement_id>")
@staff_required()
def detail(announcement_id: int):
    """Show the record, its SMS preview, its history and the actions the user may take."""
    ann = _visible(service.get_announcement(announcement_id))
    return render_template(
        "staff/detail.html",
        ann=ann,
        preview=service.sms_preview(ann),
        delivery=delivery_summary(ann),
        form=ActionForm(),
        now=utcnow(),
    )


@bp.route("/announcements/<int:announcement_id>/edit", methods=["GET", "POST"])
@staff_required()
def edit(announcement_id: int):
    """Edit a draft."""
    ann = service.get_announcement(announcement_id)
    if not current_user.acts_for(ann.department_id):
        abort(403)
    form = _form()
    preview = None
    if form.validate_on_submit():
        if "preview" in request.form:
            preview = _preview_of(form)
        else:
            try:
                service.update_draft(current_user, ann, form.as_input(), utcnow())
                db.session.commit()
            except ServiceError as err:
                db.session.rollback()
                if err.status == 403:
                    abort(403)
                form.show_errors(err.fields)
                form.form_errors.append(err.message)
                ann = service.get_announcement(announcement_id)
            else:
                flash(_("Draft saved."), "success")
                return redirect(url_for("staff.detail", announcement_id=ann.id))
    elif request.method == "GET":
        form.fill_from(ann)
    return render_template("staff/form.html", form=form, ann=ann, preview=preview)


@bp.route("/announcements/<int:announcement_id>/<action>", methods=["POST"])
@staff_required()
def act(announcement_id: int, action: str):
    """Take a lifecycle action and come back to the record."""
    if action not in service.ACTIONS:
        abort(404)
    ann = service.get_announcement(announcement_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    payload = {"reason": form.reason.data or "", "ends_at": form.ends_at.data}
    try:
        service.run_action(action, current_user, ann, utcnow(), payload)
        db.session.commit()
    except ServiceError as err:
        db.session.rollback()
        if err.status == 403:
            abort(403, err.message)
        details = " ".join(f"{v}" for v in err.fields.values())
        flash(f"{err.message} {details}".strip(), "error")
    else:
        flash(str(ACTION_MESSAGES[action]), "success")
    return redirect(url_for("staff.detail", announcement_id=announcement_id))
