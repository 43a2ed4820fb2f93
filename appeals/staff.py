"""Staff pages for appeals: the queue, one appeal with its thread and actions, registering a call."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from appeals import service, texts
from appeals.forms import (
    CONTACT_CENTRE,
    ActionForm,
    ExtendForm,
    ForwardForm,
    QueueForm,
    RegisterForm,
    RejectForm,
    ReplyForm,
)
from appeals.models import ANSWERED, CLOSED_STATUSES, FORWARDED, IN_PROGRESS, NEW, REJECTED, RESOLVED
from appeals.queries import Queue, last_messages, overdue_count, queue_query, reply_statuses
from notifier import segments
from notifier.auth import ADMIN, APPROVER, OPERATOR, staff_required
from notifier.db import db, utcnow
from notifier.directory import all_departments, all_districts, department_by_slug, districts_by_slugs
from notifier.errors import ServiceError
from notifier.i18n import current_lang
from subscribers.phones import mask

bp = Blueprint("appeals_staff", __name__, url_prefix="/staff/appeals")

# Operators and admins see every queue (the contact centre's too), search by phone and see full numbers.
PRIVILEGED = (ADMIN, OPERATOR)

STATUS_LABELS = {
    NEW: _l("New"),
    IN_PROGRESS: _l("In progress"),
    ANSWERED: _l("Answered"),
    RESOLVED: _l("Resolved"),
    FORWARDED: _l("Forwarded"),
    REJECTED: _l("Rejected"),
}
EVENT_LABELS = {
    "registered": _l("Registered"),
    "reopened": _l("Reopened by the resident's reply"),
    "answered": _l("Answered by SMS"),
    "take": _l("Taken into work"),
    "resolve": _l("Resolved"),
    "forward": _l("Forwarded"),
    "reject": _l("Rejected"),
    "extended": _l("Deadline extended"),
    "overdue": _l("Deadline missed"),
}
CHANNEL_LABELS = {
    "sms": _l("SMS"),
    "phone": _l("Phone call"),
    "in_person": _l("In person"),
    "web": _l("Website"),
    "api": _l("API"),
}
DONE = {
    "take": _l("The appeal is assigned to you."),
    "reply": _l("The answer is queued for sending by SMS."),
    "resolve": _l("Marked as resolved."),
    "forward": _l("Forwarded; the resident is told by SMS."),
    "reject": _l("Rejected; the resident is told by SMS."),
    "extend": _l("Deadline extended; the resident is told by SMS."),
}
# Each action of the appeal page: its form, and the one service call it makes.
ACTIONS = {
    "take": (ActionForm, lambda user, appeal, form, now: service.change_status(user, appeal, "take", now)),
    "resolve": (ActionForm, lambda user, appeal, form, now: service.change_status(user, appeal, "resolve", now)),
    "reply": (ReplyForm, lambda user, appeal, form, now: service.reply(user, appeal, form.text.data, now)),
    "forward": (
        ForwardForm,
        lambda user, appeal, form, now: service.change_status(
            user, appeal, "forward", now, form.reason.data, form.department.data
        ),
    ),
    "reject": (
        RejectForm,
        lambda user, appeal, form, now: service.change_status(user, appeal, "reject", now, form.reason.data),
    ),
    "extend": (
        ExtendForm,
        lambda user, appeal, form, now: service.extend_deadline(user, appeal, form.days.data, form.reason.data, now),
    ),
}


@bp.context_processor
def _helpers():
    lang = current_lang()
    return {
        "appeal_status_label": lambda status: STATUS_LABELS.get(status, status),
        "appeal_event_label": lambda kind: EVENT_LABELS.get(kind, kind),
        "channel_label": lambda channel: CHANNEL_LABELS.get(channel, channel),
        "department_name": lambda dep: dep.name(lang) if dep else _("Contact centre"),
        "is_overdue": service.is_overdue,
    }


def _privileged() -> bool:
    return current_user.role in PRIVILEGED


def _banner(now) -> str | None:
    """Return the overdue notice for approvers (their department) and admins (all), if any are overdue."""
    if current_user.role == APPROVER:
        count = overdue_count(current_user.department_id, now)
        return _("Overdue appeals in your department: %(n)d", n=count) if count else None
    if current_user.role == ADMIN:
        count = overdue_count(None, now)
        return _("Overdue appeals in all departments: %(n)d", n=count) if count else None
    return None


def _queue_of(form: QueueForm) -> Queue:
    slug = form.department.data
    if _privileged():
        department = department_by_slug(slug) if slug and slug != CONTACT_CENTRE else None
    else:
        department = current_user.department
    districts, _unknown = districts_by_slugs([form.district.data] if form.district.data else [])
    return Queue(
        department=department,
        contact_centre=_privileged() and slug == CONTACT_CENTRE,
        status=form.status.data or None,
        overdue=bool(form.overdue.data),
        district=districts[0] if districts else None,
        number=form.number.data or "",
        phone=(form.phone.data or "") if _privileged() else "",
    )


@bp.get("/")
@staff_required()
def queue():
    """List the appeals the user may work on, with filters, search and the overdue flag."""
    if request.args.get("phone", "").strip() and not _privileged():
        abort(403)
    form = QueueForm(request.args)
    departments = all_departments() if _privileged() else [current_user.department]
    form.fill_choices(departments, all_districts(), STATUS_LABELS, current_lang(), with_queue=_privileged())
    if not _privileged() and form.department.data not in ("", current_user.department.slug):
        abort(403)
    now = utcnow()
    pagination, snippets, status = None, {}, 422
    if form.validate():
        query = queue_query(_queue_of(form), now)
        pagination = db.paginate(query, per_page=current_app.config["PAGE_SIZE"], error_out=False)
        snippets, status = last_messages([a.id for a in pagination.items]), 200
    args = {key: value for key, value in request.args.items() if key != "page" and value}
    return render_template(
        "appeals/queue.html",
        form=form,
        pagination=pagination,
        snippets=snippets,
        args=args,
        banner=_banner(now),
        privileged=_privileged(),
        now=now,
    ), status


def _appeal(number: str):
    appeal = service.get_by_number(number)
    if not service.may_work_on(current_user, appeal):
        abort(403)
    return appeal


def _preview(appeal, text: str) -> dict:
    """Return the answer as the resident will receive it, with its characters, encoding, parts and cost."""
    sms = texts.answer(appeal, text.strip())
    count = segments.count(sms)
    cost = count.parts * current_app.config["SMS_PRICE"]
    return {"text": sms, "chars": count.chars, "encoding": count.encoding, "parts": count.parts, "cost": cost}


def _possible(appeal) -> dict[str, bool]:
    """Return which actions the appeal's status allows (the service has the last word)."""
    table = service.ALLOWED_STATUS_TRANSITIONS
    can = {action: appeal.status in table[action] for action in ("take", "resolve", "forward", "reject")}
    return {**can, "reply": appeal.status in table["answer"], "extend": appeal.status not in CLOSED_STATUSES}


def _page(appeal, status: int = 200, preview: dict | None = None, **bound):
    """Render the appeal page; `bound` holds the submitted form (with its errors) by action."""
    forms = {action: form_class(formdata=None, prefix=action) for action, (form_class, _run) in ACTIONS.items()}
    forms.update(bound)
    forms["forward"].fill_choices(all_departments(), appeal.department_id, current_lang())
    return render_template(
        "appeals/detail.html",
        appeal=appeal,
        forms=forms,
        can=_possible(appeal),
        preview=preview,
        reachable=service.reachable_by_sms(appeal),
        sms_statuses=reply_statuses(appeal),
        phone=appeal.phone if _privileged() else mask(appeal.phone),
        now=utcnow(),
    ), status


@bp.get("/<number>")
@staff_required()
def detail(number: str):
    """Show the thread, the deadline, the history and the actions of one appeal."""
    return _page(_appeal(number))


@bp.post("/<number>/<action>")
@staff_required()
def act(number: str, action: str):
    """Take, answer (or preview the answer), resolve, forward, reject or extend, then come back."""
    if action not in ACTIONS:
        abort(404)
    appeal = _appeal(number)
    form_class, run = ACTIONS[action]
    form = form_class(prefix=action)
    if not form.validate_on_submit():
        return _page(appeal, 422, **{action: form})
    if action == "reply" and not service.reachable_by_sms(appeal):
        form.form_errors.append(str(service.LANDLINE))
        return _page(appeal, 422, reply=form)
    if action == "reply" and "preview" in request.form:
        return _page(appeal, preview=_preview(appeal, form.text.data), reply=form)
    try:
        run(current_user._get_current_object(), appeal, form, utcnow())
        db.session.commit()
    except ServiceError as err:
        db.session.rollback()
        if err.status == 403:
            abort(403)
        form.show_errors(err.fields)
        form.form_errors.append(err.message)
        return _page(_appeal(number), err.status, **{action: form})
    flash(str(DONE[action]), "success")
    if service.may_work_on(current_user, appeal):
        return redirect(url_for(".detail", number=appeal.number))
    return redirect(url_for(".queue"))  # forwarded out of the user's department


@bp.route("/new", methods=["GET", "POST"])
@staff_required()
def new():
    """Register an appeal that arrived by phone or in person (department staff: for their own department)."""
    departments = all_departments() if _privileged() else [current_user.department]
    form = RegisterForm()
    form.fill_choices(departments, all_districts(), current_lang(), with_queue=_privileged())
    if request.method == "POST" and not _privileged() and form.department.data != current_user.department.slug:
        abort(403)
    if form.validate_on_submit():
        slug = form.department.data
        department = department_by_slug(slug) if slug else None
        if slug and department is None:
            form.department.errors = [_("Unknown department.")]
            return render_template("appeals/new.html", form=form), 422
        appeal, _new = service.register(
            form.e164,
            form.text.data.strip(),
            utcnow(),
            channel=form.channel.data,
            staff=current_user._get_current_object(),
            department=department,
            acknowledge=form.mobile,
        )
        districts, _unknown = districts_by_slugs([form.district.data] if form.district.data else [])
        if districts:
            appeal.district_id = districts[0].id
        db.session.commit()
        flash(_("Appeal No. %(number)s is registered.", number=appeal.number), "success")
        if not form.mobile:
            flash(_("A landline number: no SMS was sent. Tell the caller the appeal number."), "warning")
        return redirect(url_for(".detail", number=appeal.number))
    return render_template("appeals/new.html", form=form), 422 if form.errors else 200
