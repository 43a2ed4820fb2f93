"""Public pages: subscribe, confirm the code, unsubscribe. Server-rendered; no script needed."""

import math

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from notifier.db import db, utcnow
from notifier.directory import all_departments, all_districts
from notifier.errors import ServiceError
from notifier.i18n import current_lang
from notifier.limits import retry_after
from subscribers import service
from subscribers.forms import ConfirmForm, SubscribeForm, UnsubscribeConfirmForm, UnsubscribeForm
from subscribers.phones import normalize_or_raw
from subscribers.service import SUBSCRIBE, UNSUBSCRIBE
from subscribers.throttle import limited

bp = Blueprint("subscribe", __name__)


@bp.errorhandler(429)
def too_many_requests(err):
    """Tell the visitor, in their language, that they must wait before trying again."""
    wait = retry_after()
    page = render_template("subscribers/too_many.html", minutes=math.ceil(wait / 60) if wait else None)
    response = make_response(page, 429)
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


def _refused(form, err: ServiceError, template: str, **context):
    """Render the form again with the service's messages, under the error's status."""
    form.show_errors(err.fields)
    if not err.fields:
        form.form_errors.append(err.message)
    return render_template(template, form=form, **context), err.status


def _subscribe_form() -> SubscribeForm:
    form = SubscribeForm()
    form.fill_choices(all_districts(), all_departments(), current_lang())
    return form


@bp.route("/subscribe", methods=["GET", "POST"])
@limited
def subscribe():
    """Show the subscription form; on POST send a code by SMS and ask for it."""
    form = _subscribe_form()
    if not form.is_submitted():
        form.language.data = current_lang()
        return render_template("subscribers/subscribe.html", form=form)
    data = form.data
    try:
        code = service.request_code(
            data["phone"], data["districts"], data["departments"], data["language"], SUBSCRIBE, utcnow()
        )
    except ServiceError as err:
        db.session.rollback()
        return _refused(form, err, "subscribers/subscribe.html")
    db.session.commit()
    return redirect(url_for(".confirm", phone=code.phone))


@bp.route("/subscribe/confirm", methods=["GET", "POST"])
@limited
def confirm():
    """Ask for the code sent by SMS; on POST check it and start the alerts."""
    form = ConfirmForm()
    if not form.is_submitted():
        form.phone.data = request.args.get("phone", "")
        return render_template("subscribers/confirm.html", form=form)
    try:
        subscriber = service.confirm(form.phone.data, form.code.data, utcnow(), SUBSCRIBE)
    except ServiceError as err:
        db.session.commit()  # a wrong code counts against the code's attempts
        return _refused(form, err, "subscribers/confirm.html")
    db.session.commit()
    return render_template("subscribers/subscribed.html", subscriber=subscriber)


@bp.route("/unsubscribe", methods=["GET", "POST"])
@limited
def unsubscribe():
    """Ask for the phone, send a code to it, then check the code and stop the alerts (one page)."""
    if request.method == "POST" and request.form.get("step") == "confirm":
        return _unsubscribe_confirm()
    form = UnsubscribeForm()
    if not form.is_submitted():
        return render_template("subscribers/unsubscribe.html", form=form)
    try:
        service.request_code(form.phone.data, None, None, current_lang(), UNSUBSCRIBE, utcnow())
    except ServiceError as err:
        db.session.rollback()
        return _refused(form, err, "subscribers/unsubscribe.html")
    db.session.commit()
    phone = normalize_or_raw(form.phone.data)
    code_form = UnsubscribeConfirmForm(formdata=None, data={"phone": phone})
    return render_template("subscribers/unsubscribe_code.html", form=code_form, phone=phone, sent=True)


def _unsubscribe_confirm():
    """Check the code typed on the unsubscribe page and stop the alerts."""
    form = UnsubscribeConfirmForm()
    phone = normalize_or_raw(form.phone.data or "")
    try:
        service.confirm(form.phone.data, form.code.data, utcnow(), UNSUBSCRIBE)
    except ServiceError as err:
        db.session.commit()  # a wrong code counts against the code's attempts
        if "phone" in err.fields:
            err.fields = {"code": _("Start again: enter your number.")}
        return _refused(form, err, "subscribers/unsubscribe_code.html", phone=phone, sent=False)
    db.session.commit()
    return render_template("subscribers/unsubscribed.html")
