"""The SMSC callback: delivery statuses and inbound SMS on one secret URL."""

import hmac
import logging
import re

from flask import Blueprint, abort, current_app, request
from sqlalchemy import JSON, bindparam
from sqlalchemy import text as sql
from sqlalchemy.exc import OperationalError

from notifier import dispatch
from notifier.db import UTCDateTime, db, utcnow
from notifier.inbound_models import NEW
from notifier.sms.smsc import parse_callback, verify_signature

bp = Blueprint("webhooks", __name__)
log = logging.getLogger("habarlama.webhooks")


def _token_ok(token: str) -> bool:
    expected = current_app.config.get("SMSC_WEBHOOK_TOKEN") or ""
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


# Text, not the dialects' insert(): SQLAlchemy compiles a PostgreSQL insert() anew on every call (it has
# no cache key), which cost the webhook ~0.8 ms per SMS. Both databases take this statement as it is.
STORE = sql(
    "INSERT INTO inbound_sms (gateway_id, phone, text, to_phone, sent_at, received_at, status, raw) "
    "VALUES (:gateway_id, :phone, :text, :to_phone, :sent_at, :received_at, :status, :raw) "
    "ON CONFLICT (gateway_id) DO NOTHING RETURNING id"
).bindparams(
    bindparam("sent_at", type_=UTCDateTime()),
    bindparam("received_at", type_=UTCDateTime()),
    bindparam("raw", type_=JSON()),
)


def store_inbound(sms, raw: dict, connection=None) -> bool:
    """Store an inbound SMS once (by the gateway's id); return whether it was new.

    In the session (the caller commits), or on the given connection.
    """
    values = {
        "gateway_id": str(sms.id),
        "phone": "+" + re.sub(r"\D", "", sms.phone),
        "text": sms.text[:2000],
        "to_phone": sms.to_phone[:20],
        "sent_at": sms.sent_at,
        "received_at": utcnow(),
        "status": NEW,
        "raw": raw,
    }
    # RETURNING yields a row only when this call inserted it: one statement on the webhook's hot path.
    return (connection or db.session).execute(STORE, values).first() is not None


@bp.route("/webhooks/smsc/<token>", methods=["GET", "POST"])
def smsc(token: str):
    """Accept a status or inbound callback: 404 for a wrong token, 400 for nonsense, 503 if we cannot store it."""
    if not _token_ok(token):
        abort(404)
    form = request.form.to_dict() if request.method == "POST" else request.args.to_dict()
    try:
        event = parse_callback(form)
    except ValueError as exc:
        log.warning("malformed SMSC callback: %s", exc)
        return {"error": {"code": "bad_request", "message": str(exc)}}, 400
    secret = current_app.config.get("SMSC_CALLBACK_SECRET")
    if secret and (form.get("md5") or form.get("sha1")) and not verify_signature(form, secret):
        log.warning("SMSC callback with a wrong signature")
        return {"error": {"code": "bad_signature", "message": "signature mismatch"}}, 403
    try:
        if event.kind == "status":
            dispatch.apply_callback(event.request_id, event.status, utcnow())
            db.session.commit()
        else:  # one statement, committed as it runs: no BEGIN and COMMIT round trips
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                store_inbound(event.inbound, {k: str(v)[:500] for k, v in form.items()}, connection)
    except OperationalError:
        db.session.rollback()
        log.exception("SMSC callback not stored; asking SMSC to retry")
        return "database unavailable", 503
    return "OK", 200


class MaskWebhookToken(logging.Filter):
    """Hide the secret part of the callback URL in access logs."""

    pattern = re.compile(r"(/webhooks/smsc/)[^/\s?\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.pattern.sub(r"\1***", record.msg)
        if record.args:
            record.args = tuple(self.pattern.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


def mask_access_logs() -> None:
    """Install the token mask on the development server's and gunicorn's access loggers."""
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskWebhookToken) for f in logger.filters):
            logger.addFilter(MaskWebhookToken())
