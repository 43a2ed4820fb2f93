"""Open311 GeoReport v2 (JSON): services, service definitions, requests, posting, errors, no personal data."""

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from appeals import service
from appeals.models import Appeal, AppealEvent, AppealMessage
from notifier.auth import ApiToken, issue_token
from notifier.db import db, utcnow
from notifier.directory import department_by_slug
from notifier.outbox_models import OutboxMessage
from tests.factories import staff

SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
REQUEST_FIELDS = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}  # fmt: skip
PHONE_DIGITS = re.compile(r"7010000\d{3}|701\D?000\D?00")


@pytest.fixture
def api_key(app):
    with app.app_context():
        key = issue_token(staff("operator"))
        db.session.commit()
    return key


def make_appeal(app, phone: str, text: str, department: str | None = "water", days_ago: int = 0) -> str:
    with app.app_context():
        dep = department_by_slug(department) if department else None
        appeal, _new = service.register(
            phone, text, utcnow() - timedelta(days=days_ago), channel="phone", department=dep
        )
        db.session.commit()
        return appeal.number


def counts(app) -> tuple[int, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Appeal, AppealMessage, AppealEvent, OutboxMessage)
        )


def assert_errors(response, status: int, *words: str) -> None:
    """The spec's error answer: the HTTP status and a list of {code, description}."""
    assert response.status_code == status
    assert response.is_json and isinstance(response.json, list) and response.json
    for error in response.json:
        assert set(error) == {"code", "description"} and error["code"] == status
        assert isinstance(error["description"], str) and error["description"]
    text = " ".join(e["description"] for e in response.json)
    for word in words:
        assert word in text


@pytest.fixture
def requests_(app):
    """A water appeal being worked on, a closed gas one, an old land one (100 days ago)."""
    water = make_appeal(app, "+77010000001", "Воды нет третий день", "water")
    gas = make_appeal(app, "+77010000002", "Газ пахнет в подъезде", "gas", days_ago=2)
    land = make_appeal(app, "+77010000003", "Вопрос по земельному участку", "land", days_ago=100)
    with app.app_context():
        appeal = service.get_by_number(gas)
        service.reply(staff("gas.editor"), appeal, "Аварийная бригада проверила, утечки нет.", utcnow())
        appeal = service.get_by_number(water)
        service.change_status(staff("water.editor"), appeal, "take", utcnow())
        db.session.commit()
    return {"water": water, "gas": gas, "land": land}


# Services


def test_services_are_the_departments_with_the_specs_fields(client):
    response = client.get("/open311/v2/services.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    services = {s["service_code"]: s for s in response.json}
    assert set(services) == {"gas", "electricity", "water", "heating", "housing", "land"}
    for item in services.values():
        assert set(item) == SERVICE_FIELDS
        assert item["metadata"] is False and item["type"] == "realtime"
        assert all(isinstance(item[k], str) and item[k] for k in ("service_name", "description", "keywords", "group"))
    water = services["water"]
    assert water["service_name"] == "Водоснабжение"
    assert "пн–сб 09:00–19:00" in water["description"]
    assert water["group"] == "Жилищно-коммунальное хозяйство"
    assert "water" in water["keywords"].split(", ") and "Сумен жабдықтау" in water["keywords"]
    assert services["land"]["group"] == "Земельные отношения"
    assert "ежедневно 08:00–20:00" in services["land"]["description"]


def test_services_in_kazakh(client):
    services = {s["service_code"]: s for s in client.get("/open311/v2/services.json?lang=kk").json}
    assert services["water"]["service_name"] == "Сумен жабдықтау"
    assert services["land"]["group"] == "Жер қатынастары"
    assert "дс–сн 09:00–19:00" in services["gas"]["description"]


def test_a_service_definition_has_no_extra_attributes(client):
    response = client.get("/open311/v2/services/water.json")
    assert response.status_code == 200
    assert response.json == {"service_code": "water", "attributes": []}
    assert_errors(client.get("/open311/v2/services/telecom.json"), 404, "telecom")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/open311/v2/services.xml"),
        ("get", "/open311/v2/services/water.xml"),
        ("get", "/open311/v2/requests.xml"),
        ("get", "/open311/v2/requests/26-000001.xml"),
        ("post", "/open311/v2/requests.xml"),
    ],
)
def test_only_json_is_served(app, client, method, url):
    before = counts(app)
    assert_errors(getattr(client, method)(url), 400, "JSON")
    assert counts(app) == before


# Requests


def test_a_request_field_by_field(app, client, requests_):
    response = client.get(f"/open311/v2/requests/{requests_['water']}.json")
    assert response.status_code == 200
    [item] = response.json
    assert set(item) == REQUEST_FIELDS
    assert item["service_request_id"] == requests_["water"]
    assert (item["status"], item["status_notes"]) == ("open", "in_progress")
    assert (item["service_code"], item["service_name"]) == ("water", "Водоснабжение")
    assert item["agency_responsible"] == "Водоснабжение"
    assert item["description"] == "Воды нет третий день"
    assert item["service_notice"].startswith("Ответ по SMS до ")
    with app.app_context():
        appeal = service.get_by_number(requests_["water"])
        due, created = appeal.due_at, appeal.created_at
    requested = datetime.fromisoformat(item["requested_datetime"])
    expected = datetime.fromisoformat(item["expected_datetime"])
    updated = datetime.fromisoformat(item["updated_datetime"])
    assert all(moment.utcoffset() is not None for moment in (requested, expected, updated))
    assert requested == created and expected == due and updated >= requested
    assert item["service_notice"].endswith(f"{expected:%d.%m.%Y}.")
    assert all(item[k] is None for k in ("address", "address_id", "zipcode", "lat", "long", "media_url"))
    kk = client.get(f"/open311/v2/requests/{requests_['water']}.json?lang=kk").json[0]
    assert kk["service_name"] == kk["agency_responsible"] == "Сумен жабдықтау"


def test_closed_requests_and_unknown_ones(client, requests_):
    [gas] = client.get(f"/open311/v2/requests/{requests_['gas']}.json").json
    assert (gas["status"], gas["status_notes"]) == ("closed", "answered")
    assert gas["description"] == "Газ пахнет в подъезде"  # the resident's message, not the staff answer
    assert_errors(client.get("/open311/v2/requests/99-999999.json"), 404)


def test_the_list_defaults_to_the_last_90_days_newest_first(client, requests_):
    response = client.get("/open311/v2/requests.json")
    assert response.status_code == 200
    assert [r["service_request_id"] for r in response.json] == [requests_["water"], requests_["gas"]]
    assert all(set(r) == REQUEST_FIELDS for r in response.json)


def ids(client, query: str) -> list[str]:
    response = client.get(f"/open311/v2/requests.json?{query}")
    assert response.status_code == 200, response.json
    return [r["service_request_id"] for r in response.json]


def test_filters(client, requests_):
    water, gas, land = requests_["water"], requests_["gas"], requests_["land"]
    assert ids(client, "status=open") == [water]
    assert ids(client, "status=closed") == [gas]
    assert ids(client, "status=open,closed") == [water, gas]
    assert ids(client, "service_code=gas") == [gas]
    assert ids(client, "service_code=gas,water") == [water, gas]
    old = (utcnow() - timedelta(days=120)).isoformat()
    assert ids(client, f"start_date={old}".replace("+", "%2B")) == [water, gas, land]
    assert ids(client, "start_date=2000-01-01T00:00:00Z&service_code=land") == [land]
    end = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(client, f"end_date={end}") == [gas]  # and 90 days before it: not the land appeal
    assert ids(client, f"start_date=2000-01-01T00:00:00Z&end_date={end}") == [gas, land]
    assert ids(client, "page_size=1") == [water]
    assert ids(client, "page_size=1&page=2") == [gas]
    assert ids(client, "page_size=1&page=3") == []


def test_a_list_of_ids_overrides_every_other_filter(client, requests_):
    water, gas, land = requests_["water"], requests_["gas"], requests_["land"]
    query = f"service_request_id={land},{gas},99-999999&status=open&service_code=water&start_date=2100-01-01"
    assert ids(client, query) == [gas, land]
    assert ids(client, f"service_request_id={water}") == [water]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=pending", "status"),
        ("status=open,lost", "status"),
        ("service_code=telecom", "service_code"),
        ("start_date=yesterday", "start_date"),
        ("end_date=2026-13-01", "end_date"),
        ("start_date=2026-12-02T00:00:00Z&end_date=2026-12-01T00:00:00Z", "end_date"),
        ("page_size=1001", "page_size"),
        ("page=0", "page"),
    ],
)
def test_bad_queries_are_400_lists_of_errors(client, requests_, query, field):
    assert_errors(client.get(f"/open311/v2/requests.json?{query}"), 400, field)


# Posting


def post(client, **fields):
    return client.post("/open311/v2/requests.json", data=fields)


def test_posting_with_a_staff_token_registers_an_appeal_and_acknowledges_by_sms(app, client, api_key):
    response = post(
        client, api_key=api_key, service_code="heating", description="Батареи холодные во всём доме",
        phone="8 701 555 12 34", address_string="ул. Байтурсынова 15", lat="42.3155", long="69.5869",
        email="resident@example.kz", first_name="Айгуль", last_name="Сапарова", jurisdiction_id="shymkent",
    )  # fmt: skip
    assert response.status_code == 201, response.json
    [answer] = response.json
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] is None and answer["service_notice"].startswith("Ответ по SMS до ")
    number = answer["service_request_id"]
    with app.app_context():
        appeal = service.get_by_number(number)
        assert (appeal.channel, appeal.department.slug, appeal.status) == ("api", "heating", "new")
        assert appeal.phone == "+77015551234" and appeal.registered_by_id == staff("operator").id
        assert [m.text for m in appeal.messages] == ["Батареи холодные во всём доме"]
        [registered] = appeal.events
        assert registered.new["first_name"] == "Айгуль" and registered.new["address"] == "ул. Байтурсынова 15"
        acks = db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "appeal_ack")).all()
    assert [(sms.phone, number in sms.text) for sms in acks] == [("+77015551234", True)]

    [item] = client.get(f"/open311/v2/requests/{number}.json").json
    assert (item["status"], item["service_code"], item["description"]) == (
        "open",
        "heating",
        "Батареи холодные во всём доме",
    )
    assert (item["address"], item["lat"], item["long"]) == ("ул. Байтурсынова 15", 42.3155, 69.5869)
    public = client.get("/open311/v2/requests.json").get_data(as_text=True)
    for private in ("5551234", "555 12 34", "Айгуль", "Сапарова", "resident@example.kz"):
        assert private not in public


def test_posting_needs_a_valid_api_key(app, client, api_key):
    fields = {"service_code": "water", "description": "Воды нет", "phone": "+77010000001"}
    before = counts(app)
    assert_errors(post(client, **fields), 403, "api_key")
    assert_errors(post(client, api_key="not-a-token", **fields), 403)
    with app.app_context():
        db.session.execute(db.update(ApiToken).values(revoked=True))
        db.session.commit()
    assert_errors(post(client, api_key=api_key, **fields), 403)
    bearer_only = client.post("/open311/v2/requests.json", data=fields, headers={"Authorization": f"Bearer {api_key}"})
    assert_errors(bearer_only, 403)
    assert counts(app) == before


WATER = {"service_code": "water", "description": "Воды нет", "phone": "+77010000001"}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({**WATER, "service_code": ""}, ["service_code"]),
        ({**WATER, "description": " "}, ["description"]),
        ({"phone": "+77010000001"}, ["service_code", "description"]),
        ({**WATER, "phone": ""}, ["phone"]),
        ({**WATER, "service_code": "telecom"}, ["service_code", "telecom"]),
        ({**WATER, "phone": "+74951234567"}, ["phone"]),
        ({**WATER, "lat": "42.3"}, ["lat"]),
        ({**WATER, "lat": "x", "long": "1"}, ["lat"]),
        ({**WATER, "lat": "91", "long": "69.5"}, ["lat"]),
        ({**WATER, "description": "Я" * 4001}, ["description"]),
        ({**WATER, "first_name": "Я" * 101}, ["first_name"]),
    ],
    ids=[
        "no service", "no description", "neither", "no phone", "unknown service", "russian phone", "lat only",
        "not a number", "off the globe", "too long", "long name",
    ],
)  # fmt: skip
def test_posting_incomplete_requests_is_a_400_list_and_writes_nothing(app, client, api_key, fields, words):
    before = counts(app)
    assert_errors(post(client, api_key=api_key, **fields), 400, *words)
    assert counts(app) == before


# Personal data


def test_no_phone_numbers_or_names_in_public_answers(app, client, requests_):
    texted = make_appeal(app, "+77010000009", "Перезвоните мне 8 701 000 00 09 или +77010000009, mail me@example.kz")
    [item] = client.get(f"/open311/v2/requests/{texted}.json").json
    assert item["description"] == "Перезвоните мне *** или ***, mail ***"
    for url in (
        "/open311/v2/requests.json",
        "/open311/v2/requests.json?start_date=2000-01-01T00:00:00Z",
        f"/open311/v2/requests/{requests_['water']}.json",
        f"/open311/v2/requests.json?service_request_id={texted},{requests_['gas']}",
    ):
        body = client.get(url).get_data(as_text=True)
        assert not PHONE_DIGITS.search(body), url
        assert "phone" not in body and "example.kz" not in body
