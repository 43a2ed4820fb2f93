"""Rate limits of the subscription forms and API: per client IP and per phone, shared by all of them."""

# Every POST that sends or checks a code counts against the same two buckets, whichever page or API
# route it came through, so switching between the form and the API buys an abuser nothing.

from flask import current_app, request
from flask_limiter.util import get_remote_address

from notifier.limits import limiter
from subscribers.phones import normalize_or_raw


def _phone_text() -> str:
    """Return the phone as sent in the form or the JSON body ('' when there is none)."""
    if request.form:
        return request.form.get("phone", "")
    body = request.get_json(silent=True)
    value = body.get("phone") if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def phone_key() -> str:
    """Key a request by the normalised phone (or its raw text); without one, by the client IP."""
    phone = normalize_or_raw(_phone_text())
    return f"phone:{phone}" if phone else f"no-phone:{get_remote_address()}"


per_ip = limiter.shared_limit(
    lambda: current_app.config["SUBSCRIBE_RATE_PER_IP"], scope="subscriptions-ip", methods=["POST"]
)
per_phone = limiter.shared_limit(
    lambda: current_app.config["SUBSCRIBE_RATE_PER_PHONE"],
    scope="subscriptions-phone",
    key_func=phone_key,
    methods=["POST"],
)


def limited(view):
    """Apply both subscription limits to a view (POST requests only)."""
    return per_ip(per_phone(view))
