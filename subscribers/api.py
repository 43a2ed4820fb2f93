"""JSON API v1 for residents' apps: ask for a code by SMS, then confirm it to subscribe."""

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _

from notifier.db import db, utcnow
from notifier.errors import ServiceError
from notifier.limits import retry_after
from subscribers import service
from subscribers.models import Subscriber
from subscribers.phones import mask
from subscribers.service import SUBSCRIBE
from subscribers.throttle import limited

bp = Blueprint("subscriptions_api", __name__, url_prefix="/api/v1")


def _error(err: ServiceError, wait: int | None):
    response = jsonify(err.as_json())
    response.status_code = err.status
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


@bp.errorhandler(ServiceError)
def service_error(err: ServiceError):
    """Answer a refusal as JSON, with Retry-After when the wait is known; nothing is half-written."""
    db.session.rollback()
    return _error(err, getattr(err, "retry_after", None))


@bp.errorhandler(429)
def too_many_requests(err):
    """Answer a breached rate limit as JSON with Retry-After."""
    wait = retry_after()
    message = _("Too many requests. Please wait and try again.")
    return _error(ServiceError("too_many_requests", message, 429), wait)


def _body() -> dict:
    """Return the request body, which must be a JSON object."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ServiceError("bad_request", _("The body must be a JSON object (Content-Type: application/json)."), 400)
    return data


def subscription_json(subscriber: Subscriber) -> dict:
    """Return a subscription as the API shows it: the phone masked, slugs, language and status."""
    return {
        "phone": mask(subscriber.phone),
        "districts": [d.slug for d in subscriber.districts],
        "departments": [d.slug for d in subscriber.departments],
        "language": subscriber.language,
        "status": subscriber.status,
        "confirmed_at": subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None,
    }


@bp.post("/subscriptions")
@limited
def request_subscription():
    """Send a confirmation code by SMS; the preferences apply once it is confirmed."""
    data = _body()
    code = service.request_code(
        data.get("phone"), data.get("districts"), data.get("departments"), data.get("language"), SUBSCRIBE, utcnow()
    )
    db.session.commit()
    return {"status": "code_sent", "expires_at": code.expires_at.isoformat()}, 202


@bp.post("/subscriptions/confirm")
@limited
def confirm_subscription():
    """Check the code and start (or change) the subscription."""
    data = _body()
    try:
        subscriber = service.confirm(data.get("phone"), data.get("code"), utcnow(), SUBSCRIBE)
    except ServiceError as err:
        db.session.commit()  # a wrong code counts against the code's attempts
        return _error(err, None)
    db.session.commit()
    return subscription_json(subscriber)
