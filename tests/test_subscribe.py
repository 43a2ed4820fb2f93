"""Subscribing by phone: normalisation, codes by SMS (read from the outbox), the pages, the API and rate limits."""

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from notifier import create_app, segments
from notifier.db import db, utcnow
from notifier.limits import limiter
from notifier.outbox_models import HELD, QUEUED, OutboxMessage
from subscribers import service
from subscribers.models import ACTIVE, STOPPED, ConfirmationCode, Subscriber
from subscribers.phones import PhoneError, mask, normalize
from tests.factories import create_subscriber
from tests.test_api import problems, response_schema

PHONE = "+77011234567"
ALL_SERVICES = ["gas", "electricity", "water", "heating", "housing", "land"]


@pytest.fixture(autouse=True)
def fresh_limits(app):
    """Start every test with empty rate-limit counters (the storage outlives one test)."""
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture
def roomy(app):
    """Raise the rate limits for tests about something else (the limit tests keep the defaults)."""
    app.config.update(SUBSCRIBE_RATE_PER_IP="1000/minute", SUBSCRIBE_RATE_PER_PHONE="1000/minute")


def sms_code(app, phone: str = PHONE) -> str:
    """Return the code in the latest SMS queued to the phone."""
    with app.app_context():
        text = db.session.scalar(
            select(OutboxMessage.text)
            .where(OutboxMessage.phone == phone, OutboxMessage.purpose == "code")
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    return re.search(r"\b(\d{6})\b", text).group(1)


def codes_sent(app, phone: str = PHONE) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.phone == phone))


def subscriber(app, phone: str = PHONE) -> dict | None:
    """Return what the database holds about the phone's subscription."""
    with app.app_context():
        row = db.session.scalar(select(Subscriber).where(Subscriber.phone == phone))
        if row is None:
            return None
        return {
            "status": row.status,
            "language": row.language,
            "districts": [d.slug for d in row.districts],
            "departments": [d.slug for d in row.departments],
            "confirmed_at": row.confirmed_at,
            "stopped_at": row.stopped_at,
        }


def subscribe(client, phone="8 701 123 45 67", districts=("al-farabi",), departments=(), language="ru", **kw):
    data = {"phone": phone, "districts": list(districts), "departments": list(departments), "language": language}
    return client.post("/subscribe", data=data, **kw)


def text(response) -> str:
    return response.get_data(as_text=True)


# Normalisation


@pytest.mark.parametrize(
    "raw",
    ["8 701 123 45 67", "+7 (701) 123-45-67", "87011234567", "7011234567", "8-701-123-45-67", " +7 701 123 45 67 "],
)
def test_kazakhstan_mobile_numbers_normalise_to_e164(raw):
    assert normalize(raw) == PHONE


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("+79161234567", "not_kz"),
        ("8 (727) 250-00-00", "not_mobile"),
        ("8701123456", "invalid"),
        ("hello", "invalid"),
        ("", "invalid"),
        ("<script>", "invalid"),
        ("7" * 200, "invalid"),
        (None, "invalid"),
    ],
)
def test_other_numbers_are_refused_with_a_reason(raw, reason):
    with pytest.raises(PhoneError) as caught:
        normalize(raw)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)


def test_masked_phone_shows_operator_code_and_last_digits():
    assert mask(PHONE) == "+7701***4567"


def test_every_code_sms_fits_one_part():
    for texts in service.CODE_SMS.values():
        for template in texts.values():
            assert segments.count(template.format(code="123456")).parts == 1, template


# Web flow


def test_subscribe_page_offers_districts_services_and_the_interface_language(client):
    page = text(client.get("/subscribe?lang=kk"))
    assert 'value="al-farabi"' in page and 'value="water"' in page
    assert re.search(r'<input[^>]*checked[^>]*value="kk"|<input[^>]*value="kk"[^>]*checked', page)
    assert 'aria-describedby="departments-hint"' in page


def test_subscribe_confirm_and_receive_exactly_the_chosen_alerts(app, client, roomy):
    response = subscribe(client, districts=["al-farabi", "abay"], departments=["water", "gas"], language="kk")
    assert response.status_code == 302
    assert response.headers["Location"] == "/subscribe/confirm?phone=%2B77011234567"
    assert subscriber(app) is None  # nothing changes before the code is confirmed
    with app.app_context():
        sms = db.session.scalars(select(OutboxMessage)).one()
        code_row = db.session.scalars(select(ConfirmationCode)).one()
        assert (sms.phone, sms.language, sms.urgent, sms.status) == (PHONE, "kk", True, QUEUED)
        assert sms.text.startswith("Хабарлама: растау коды ")
        assert sms_code(app) not in code_row.code_hash  # stored hashed
        assert code_row.expires_at - code_row.created_at == timedelta(minutes=10)
    page = text(client.get(response.headers["Location"]))
    assert 'value="+77011234567"' in page and 'autocomplete="one-time-code"' in page
    done = client.post("/subscribe/confirm?lang=ru", data={"phone": "8 701 123 45 67", "code": sms_code(app)})
    assert done.status_code == 200
    assert "СТОП" in text(done) and "/unsubscribe" in text(done)
    held = subscriber(app)
    assert held["status"] == ACTIVE and held["language"] == "kk" and held["confirmed_at"] is not None
    assert sorted(held["districts"]) == ["abay", "al-farabi"]
    assert sorted(held["departments"]) == ["gas", "water"]


def test_no_service_chosen_means_every_service(app, client, roomy):
    subscribe(client, departments=[])
    client.post("/subscribe/confirm", data={"phone": PHONE, "code": sms_code(app)})
    assert sorted(subscriber(app)["departments"]) == sorted(ALL_SERVICES)


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"phone": "+79161234567"}, "phone", "только с мобильного номера Казахстана"),
        ({"phone": "8 (727) 250-00-00"}, "phone", "Это городской номер"),
        ({"phone": "garbage"}, "phone", "например 8 701 123 45 67"),
        ({"districts": []}, "districts", "Выберите хотя бы один район"),
        ({"districts": ["atlantis"]}, "districts", "atlantis"),
        ({"departments": ["bakery"]}, "departments", "Неизвестная служба: bakery"),
        ({"language": "en"}, "language", "казахский или русский"),
    ],
)
def test_bad_input_is_explained_next_to_its_field(app, client, roomy, form, field, message):
    data = {"phone": PHONE, "districts": ["al-farabi"], "language": "ru", **form}
    response = client.post("/subscribe?lang=ru", data=data)
    assert response.status_code == 422
    page = text(response)
    assert f'id="{field}-error"' in page and message in page
    assert codes_sent(app) == 0


def test_subscribing_again_changes_preferences_only_once_confirmed(app, client, roomy):
    subscribe(client, districts=["abay"], departments=["gas"])
    client.post("/subscribe/confirm", data={"phone": PHONE, "code": sms_code(app)})
    subscribe(client, districts=["turan"], departments=["water"], language="kk")
    before = subscriber(app)
    assert (before["districts"], before["departments"], before["language"]) == (["abay"], ["gas"], "ru")
    client.post("/subscribe/confirm", data={"phone": PHONE, "code": sms_code(app)})
    after = subscriber(app)
    assert (after["districts"], after["departments"], after["language"]) == (["turan"], ["water"], "kk")
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 1


def test_five_wrong_codes_lock_the_code(app, client, roomy):
    subscribe(client)
    right = sms_code(app)
    wrong = "000000" if right != "000000" else "111111"
    statuses = [client.post("/subscribe/confirm", data={"phone": PHONE, "code": wrong}).status_code for _ in range(5)]
    assert statuses == [422, 422, 422, 422, 429]
    locked = client.post("/subscribe/confirm", data={"phone": PHONE, "code": right})
    assert locked.status_code == 429 and "Запросите новый код" in text(locked)
    assert subscriber(app) is None
    with app.app_context():
        assert db.session.scalar(select(ConfirmationCode.attempts)) == 5


def test_wrong_code_says_how_many_attempts_are_left(app, client, roomy):
    subscribe(client)
    wrong = "000000" if sms_code(app) != "000000" else "111111"
    response = client.post("/subscribe/confirm", data={"phone": PHONE, "code": wrong[:3] + " " + wrong[3:]})
    assert response.status_code == 422 and "Осталось попыток: 4" in text(response)
    malformed = client.post("/subscribe/confirm", data={"phone": PHONE, "code": "12 34 5x"})
    assert malformed.status_code == 422 and 'id="code-error"' in text(malformed)
    assert 'aria-describedby="code-error"' in text(malformed)


def test_expired_code_is_refused(app, client, roomy):
    subscribe(client)
    with app.app_context():
        row = db.session.scalars(select(ConfirmationCode)).one()
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    response = client.post("/subscribe/confirm", data={"phone": PHONE, "code": sms_code(app)})
    assert response.status_code == 422 and "Срок действия кода истёк" in text(response)
    assert subscriber(app) is None


def test_codes_expire_after_the_configured_minutes(ctx):
    start = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    service.request_code(PHONE, ["abay"], [], "ru", service.SUBSCRIBE, start)
    code = re.search(r"\d{6}", db.session.scalars(select(OutboxMessage.text)).one()).group(0)
    with pytest.raises(service.ServiceError) as caught:
        service.confirm(PHONE, code, start + timedelta(minutes=10))
    assert caught.value.code == "code_expired" and "code" in caught.value.fields
    assert service.confirm(PHONE, code, start + timedelta(minutes=9, seconds=59)).status == ACTIVE


def test_three_codes_a_local_day_then_tomorrow(ctx):
    morning = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # 10:00 in Almaty (UTC+5)
    for minute in range(3):
        service.request_code(PHONE, ["abay"], [], "ru", service.SUBSCRIBE, morning + timedelta(minutes=minute))
    with pytest.raises(service.LimitReached) as caught:
        service.request_code(PHONE, ["abay"], [], "ru", service.SUBSCRIBE, morning + timedelta(minutes=5))
    assert caught.value.status == 429 and caught.value.retry_after == 14 * 3600 - 300
    tomorrow = datetime(2026, 12, 1, 19, 1, tzinfo=UTC)  # 00:01 local
    assert service.request_code(PHONE, ["abay"], [], "ru", service.SUBSCRIBE, tomorrow) is not None


def test_fourth_code_of_the_day_is_refused_on_the_page(app, client, roomy):
    assert [subscribe(client).status_code for _ in range(3)] == [302, 302, 302]
    refused = subscribe(client)
    assert refused.status_code == 429 and "Попробуйте завтра" in text(refused)
    assert codes_sent(app) == 3


def test_codes_are_urgent_so_quiet_hours_do_not_hold_them(ctx):
    night = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)  # 23:30 local
    service.request_code(PHONE, ["abay"], [], "kk", service.SUBSCRIBE, night)
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.status != HELD and message.urgent
    payload = json.loads(db.session.scalars(select(ConfirmationCode.payload)).one())
    assert payload == {"districts": ["abay"], "departments": ALL_SERVICES, "language": "kk"}


def test_unsubscribe_by_code_stops_the_alerts(app, client, roomy):
    with app.app_context():
        create_subscriber(PHONE, language="kk")
    asked = client.post("/unsubscribe", data={"phone": "8 701 123 45 67"})
    assert asked.status_code == 200 and 'name="step" value="confirm"' in text(asked)
    with app.app_context():
        sms = db.session.scalars(select(OutboxMessage)).one()
        assert sms.language == "kk" and "бас тарту" in sms.text
    done = client.post("/unsubscribe", data={"step": "confirm", "phone": PHONE, "code": sms_code(app)})
    assert done.status_code == 200
    held = subscriber(app)
    assert held["status"] == STOPPED and held["stopped_at"] is not None


def test_unsubscribing_a_stranger_sends_nothing_and_reveals_nothing(app, client, roomy):
    with app.app_context():
        create_subscriber("+77021234567")
    stranger = client.post("/unsubscribe?lang=ru", data={"phone": PHONE})
    member = client.post("/unsubscribe?lang=ru", data={"phone": "+77021234567"})
    assert stranger.status_code == member.status_code == 200
    assert text(stranger).replace(PHONE, "X") == text(member).replace("+77021234567", "X")
    assert codes_sent(app) == 0 and codes_sent(app, "+77021234567") == 1
    wrong = client.post("/unsubscribe", data={"step": "confirm", "phone": PHONE, "code": "123456"})
    assert wrong.status_code == 422


def test_phone_input_is_escaped_where_it_is_shown_again(client, roomy):
    evil = '"><script>alert(1)</script>'
    for response in (
        client.get("/subscribe/confirm", query_string={"phone": evil}),
        client.post("/subscribe", data={"phone": evil, "districts": ["abay"], "language": "ru"}),
        client.post("/unsubscribe", data={"step": "confirm", "phone": evil, "code": "1"}),
    ):
        assert "<script>alert(1)</script>" not in text(response)
        assert "&lt;script&gt;" in text(response)


def test_forms_need_their_csrf_token_when_protection_is_on(app, client, roomy):
    app.config["WTF_CSRF_ENABLED"] = True
    assert subscribe(client).status_code == 400
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text(client.get("/subscribe"))).group(1)
    data = {"csrf_token": token, "phone": PHONE, "districts": ["abay"], "language": "ru"}
    assert client.post("/subscribe", data=data).status_code == 302


# JSON API


def api_subscribe(client, **body):
    data = {"phone": PHONE, "districts": ["al-farabi"], "departments": ["water"], "language": "ru", **body}
    return client.post("/api/v1/subscriptions", json=data)


def test_api_subscribe_and_confirm(app, client, roomy):
    spec = client.get("/api/v1/openapi.json").json
    sent = api_subscribe(client, phone="8 701 123 45 67", language="kk")
    assert sent.status_code == 202 and sent.json["status"] == "code_sent"
    assert datetime.fromisoformat(sent.json["expires_at"]) > utcnow()
    done = client.post("/api/v1/subscriptions/confirm", json={"phone": "87011234567", "code": sms_code(app)})
    assert done.status_code == 200
    assert done.json | {"confirmed_at": None} == {
        "phone": "+7701***4567",
        "districts": ["al-farabi"],
        "departments": ["water"],
        "language": "kk",
        "status": "active",
        "confirmed_at": None,
    }
    for path, response in (("/subscriptions", sent), ("/subscriptions/confirm", done)):
        assert problems(response.json, response_schema(spec, path, "post", response.status_code), spec) == []


@pytest.mark.parametrize(
    "body, status, code, fields",
    [
        ("not json", 400, "bad_request", None),
        ([1, 2], 400, "bad_request", None),
        ({"phone": "+79161234567", "districts": ["al-farabi"], "language": "ru"}, 422, "validation_error", ["phone"]),
        ({"phone": PHONE, "districts": [], "language": "xx"}, 422, "validation_error", ["districts", "language"]),
        ({"phone": PHONE, "districts": "abay", "departments": [3], "language": "ru"}, 422, "validation_error", None),
        ({"phone": 77011234567, "districts": ["abay"], "language": "ru"}, 422, "validation_error", ["phone"]),
    ],
)
def test_api_refuses_bad_requests_with_json_errors(app, client, roomy, body, status, code, fields):
    spec = client.get("/api/v1/openapi.json").json
    if isinstance(body, str):
        response = client.post("/api/v1/subscriptions", data=body, content_type="text/plain")
    else:
        response = client.post("/api/v1/subscriptions", json=body)
    assert response.status_code == status and response.json["error"]["code"] == code
    if fields is not None:
        assert sorted(response.json["error"]["fields"]) == fields
    assert problems(response.json, response_schema(spec, "/subscriptions", "post", status), spec) == []
    assert codes_sent(app) == 0


def test_api_confirm_errors(app, client, roomy):
    confirm = "/api/v1/subscriptions/confirm"
    assert client.post(confirm, json={"phone": PHONE, "code": "123456"}).json["error"]["code"] == "no_code"
    api_subscribe(client)
    wrong = "000000" if sms_code(app) != "000000" else "111111"
    answers = [client.post(confirm, json={"phone": PHONE, "code": wrong}) for _ in range(5)]
    assert [(r.status_code, r.json["error"]["code"]) for r in answers] == [(422, "wrong_code")] * 4 + [
        (429, "code_locked")
    ]
    assert client.post(confirm, json={"phone": PHONE, "code": "12"}).status_code == 422
    assert client.post(confirm, data="x", content_type="application/json").status_code == 400


def test_api_fourth_code_of_the_day_says_when_to_retry(client, roomy):
    assert [api_subscribe(client).status_code for _ in range(3)] == [202, 202, 202]
    refused = api_subscribe(client)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_codes"
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600


# Rate limits (defaults: 10/hour and 3/minute per IP, 5/hour per phone)


def test_per_ip_limit_answers_429_page_in_the_visitors_language(client):
    ip = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(3):
        assert subscribe(client, phone="garbage", environ_base=ip).status_code == 422
    refused = subscribe(client, phone="garbage", environ_base=ip, query_string={"lang": "kk"})
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert "Әрекет тым көп" in text(refused)
    assert client.get("/subscribe", environ_base=ip).status_code == 200  # reading the form is not limited
    assert client.get("/", environ_base=ip).status_code == 200
    assert subscribe(client, phone="garbage", environ_base={"REMOTE_ADDR": "10.0.0.2"}).status_code == 422


def test_per_ip_limit_is_shared_by_the_pages_and_the_api(client):
    ip = {"REMOTE_ADDR": "10.0.0.3"}
    client.post("/subscribe", data={"phone": "x"}, environ_base=ip)
    client.post("/subscribe/confirm", data={"phone": "x", "code": "1"}, environ_base=ip)
    client.post("/api/v1/subscriptions", json={"phone": "x"}, environ_base=ip)
    refused = client.post("/unsubscribe", data={"phone": "x"}, environ_base=ip)
    assert refused.status_code == 429


def test_per_phone_limit_counts_every_spelling_of_the_number(app, client):
    app.config["SUBSCRIBE_RATE_PER_IP"] = "1000/minute"
    spellings = ["8 701 123 45 67", "+7 (701) 123-45-67", "87011234567", "7011234567", PHONE]
    for n, phone in enumerate(spellings):
        body = {"phone": phone, "districts": [], "language": "ru"}  # refused (no district), but counted
        response = client.post("/api/v1/subscriptions", json=body, environ_base={"REMOTE_ADDR": f"10.1.0.{n}"})
        assert response.status_code == 422
    refused = client.post("/api/v1/subscriptions", json={"phone": "8-701-123-45-67"})
    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_requests"
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    other = client.post("/api/v1/subscriptions", json={"phone": "+77021234567", "districts": []})
    assert other.status_code == 422


def test_limits_come_from_the_configuration(app, client):
    app.config["SUBSCRIBE_RATE_PER_IP"] = "1/minute"
    assert subscribe(client, phone="x").status_code == 422
    assert subscribe(client, phone="x").status_code == 429


def test_behind_a_proxy_each_client_has_its_own_limit(app):
    settings = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "PROXY_FIX_X_FOR": 1}
    proxied = create_app(settings)
    client = proxied.test_client()
    proxy = {"REMOTE_ADDR": "10.9.9.9"}
    try:
        statuses = []
        for n, forwarded_for in enumerate(
            ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] + 3 * ["203.0.113.1"]
        ):
            data = {"phone": f"not a phone {n}"}  # a new "phone" each time: only the per-IP limit is at stake
            headers = {"X-Forwarded-For": forwarded_for}
            statuses.append(client.post("/subscribe", data=data, headers=headers, environ_base=proxy).status_code)
        assert statuses == [422] * 6 + [429]
    finally:
        with proxied.app_context():
            db.engine.dispose()
