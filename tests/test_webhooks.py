"""The SMSC callback URL: delivery statuses move messages forward; inbound SMS are stored once."""

import hashlib
import logging

from sqlalchemy import select

from notifier import dispatch
from notifier.db import db, utcnow
from notifier.inbound_models import InboundSms
from notifier.outbox_models import OutboxMessage, SmsBatch
from tests.factories import create_announcement, create_subscriber

URL = "/webhooks/smsc/test-webhook-token"


def _sent_message(app):
    with app.app_context():
        app.config["QUIET_HOURS"] = "off"
        create_subscriber("+77010000001")
        create_announcement(status="published")
        dispatch.dispatch(utcnow())
        db.session.commit()
        message = db.session.scalars(select(OutboxMessage)).one()
        return message.batch.request_id


def _status(app):
    with app.app_context():
        return db.session.scalars(select(OutboxMessage)).one().status


def test_wrong_or_missing_token_is_404(client):
    assert client.post("/webhooks/smsc/wrong", data={"id": "1", "phone": "1", "status": "1"}).status_code == 404
    assert client.get("/webhooks/smsc/").status_code == 404


def test_delivery_status_moves_forward_only(app, client):
    request_id = _sent_message(app)
    assert _status(app) == "sent"
    ok = client.post(URL, data={"id": request_id, "phone": "77010000001", "status": "1", "err": "0"})
    assert ok.status_code == 200 and ok.get_data(as_text=True) == "OK"
    assert _status(app) == "delivered"
    # A late "handed to operator" (0) or a failure after delivery never moves it back.
    client.post(URL, data={"id": request_id, "phone": "77010000001", "status": "0"})
    client.get(URL, query_string={"id": request_id, "phone": "+77010000001", "status": "20", "err": "1"})
    assert _status(app) == "delivered"


def test_final_failure_records_the_reason(app, client):
    request_id = _sent_message(app)
    client.get(URL, query_string={"id": request_id, "phone": "77010000001", "status": "22", "err": "249"})
    with app.app_context():
        message = db.session.scalars(select(OutboxMessage)).one()
        assert message.status == "failed" and message.reason


def test_after_the_first_sms_failed_the_next_one_says_how_to_stop(app, client):
    request_id = _sent_message(app)
    client.get(URL, query_string={"id": request_id, "phone": "77010000001", "status": "20", "err": "1"})
    with app.app_context():
        create_announcement(status="published", title={"ru": "Второе", "kk": "Екінші"})
        dispatch.dispatch(utcnow())
        db.session.commit()
        texts = [m.batch.text for m in db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
    assert len(texts) == 2 and "СТОП" in texts[0] and "СТОП" in texts[1]


def test_unknown_message_is_acknowledged(client):
    assert client.post(URL, data={"id": "nope", "phone": "77010000009", "status": "1"}).status_code == 200


def test_malformed_payloads_are_400_never_500(client):
    for form in ({}, {"id": "1"}, {"phone": "7701"}, {"id": "x", "phone": "77010000001", "status": "abc"}):
        assert client.post(URL, data=form).status_code == 400
    assert client.post(URL, data="x" * 300_000, content_type="application/x-www-form-urlencoded").status_code == 413


def test_signature_is_checked_when_configured(app, client):
    app.config["SMSC_CALLBACK_SECRET"] = "s3cret"
    request_id = _sent_message(app)
    form = {"id": request_id, "phone": "77010000001", "status": "1"}
    bad = client.post(URL, data={**form, "md5": "0" * 32})
    assert bad.status_code == 403 and _status(app) == "sent"
    signed = hashlib.md5(f"{request_id}:77010000001:1:s3cret".encode()).hexdigest()  # noqa: S324
    assert client.post(URL, data={**form, "md5": signed}).status_code == 200
    assert _status(app) == "delivered"


def test_inbound_sms_is_stored_once(app, client):
    form = {"id": "501", "phone": "77010000001", "mes": "воды нет уже 3 часа", "to": "7172000000", "sent": "1764576000"}
    assert client.post(URL, data=form).status_code == 200
    assert client.post(URL, data=form).status_code == 200
    with app.app_context():
        (stored,) = db.session.scalars(select(InboundSms)).all()
        assert (stored.gateway_id, stored.phone, stored.text) == ("501", "+77010000001", "воды нет уже 3 часа")


def test_token_is_masked_in_access_logs(caplog):
    from notifier.webhooks import MaskWebhookToken

    record = logging.LogRecord(
        "werkzeug", logging.INFO, "", 0, '"%s" 200', ("POST /webhooks/smsc/test-webhook-token HTTP/1.1",), None
    )
    MaskWebhookToken().filter(record)
    assert "test-webhook-token" not in record.getMessage()
    assert "/webhooks/smsc/***" in record.getMessage()


def test_batches_are_keyed_by_our_request_id(app):
    request_id = _sent_message(app)
    with app.app_context():
        assert db.session.scalar(select(SmsBatch.request_id)) == request_id
        assert len(request_id) <= 40


def test_database_down_answers_503_so_smsc_retries():
    from notifier import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    client = app.test_client()
    inbound = {"id": "77", "phone": "77010000001", "mes": "свет отключили"}
    assert client.post(URL, data=inbound).status_code == 503
    assert client.post(URL, data={"id": "h1", "phone": "77010000001", "status": "1"}).status_code == 503
    with app.app_context():
        db.engine.dispose()
