"""JSON API v1 for appeals: tokens, who sees what, filters, replies, status changes, deadlines, OpenAPI."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from appeals import service
from appeals.models import Appeal, AppealEvent, AppealMessage
from notifier.auth import issue_token
from notifier.db import db, utcnow
from notifier.directory import District, department_by_slug
from notifier.outbox_models import OutboxMessage
from tests.factories import staff
from tests.test_api import problems, response_schema

CALLERS = ("water.editor", "water.approver", "gas.editor", "operator", "admin")


@pytest.fixture
def tokens(app):
    with app.app_context():
        issued = {name: issue_token(staff(name)) for name in CALLERS}
        db.session.commit()
    return issued


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def make_appeal(app, phone: str, text: str, department: str | None = "water", days_ago: int = 0, district=None) -> str:
    """Register an appeal through the service (as an operator's phone call) and return its number."""
    with app.app_context():
        dep = department_by_slug(department) if department else None
        appeal, _new = service.register(
            phone, text, utcnow() - timedelta(days=days_ago), channel="phone", staff=staff("operator"), department=dep
        )
        if district:
            appeal.district_id = db.session.scalar(select(District.id).where(District.slug == district))
        db.session.commit()
        return appeal.number


def counts(app) -> tuple[int, ...]:
    with app.app_context():
        return tuple(
            db.session.scalar(select(func.count()).select_from(model))
            for model in (Appeal, AppealMessage, AppealEvent, OutboxMessage)
        )


def stored_status(app, number: str) -> str:
    with app.app_context():
        return db.session.scalar(select(Appeal.status).where(Appeal.number == number))


def sms_to(app, phone: str, purpose: str) -> list[str]:
    with app.app_context():
        rows = select(OutboxMessage.text).where(OutboxMessage.phone == phone, OutboxMessage.purpose == purpose)
        return list(db.session.scalars(rows))


@pytest.fixture
def appeals(app):
    """Three appeals: water (al-farabi), gas (overdue, abay) and one waiting for an operator."""
    return {
        "water": make_appeal(app, "+77010000001", "Воды нет третий день", "water", district="al-farabi"),
        "gas": make_appeal(app, "+77010000002", "Газ пахнет в подъезде", "gas", days_ago=40, district="abay"),
        "queue": make_appeal(app, "+77010000003", "Здравствуйте, вопрос", None),
    }


# Tokens


def test_every_appeal_call_needs_a_valid_token(app, client, appeals):
    number = appeals["water"]
    calls = [
        ("get", "/api/v1/appeals", None),
        ("get", f"/api/v1/appeals/{number}", None),
        ("post", f"/api/v1/appeals/{number}/replies", {"text": "Бригада выехала."}),
        ("post", f"/api/v1/appeals/{number}/status", {"status": "in_progress"}),
        ("post", f"/api/v1/appeals/{number}/deadline", {"days": 5, "reason": "Выезд комиссии"}),
    ]
    before = counts(app)
    for method, url, body in calls:
        missing = getattr(client, method)(url, json=body)
        assert missing.status_code == 401, url
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert missing.json["error"]["code"] == "unauthorized"
        for header in ("Bearer not-a-token", "Basic d2F0ZXI6d2F0ZXI="):
            bogus = getattr(client, method)(url, json=body, headers={"Authorization": header})
            assert bogus.status_code == 401, (url, header)
            assert bogus.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
            assert set(bogus.json) == {"error"}
    assert counts(app) == before
    assert stored_status(app, number) == "new"


# Who sees what


@pytest.mark.parametrize(
    ("caller", "visible"),
    [
        ("water.editor", {"water"}),
        ("water.approver", {"water"}),
        ("gas.editor", {"gas"}),
        ("operator", {"water", "gas", "queue"}),
        ("admin", {"water", "gas", "queue"}),
    ],
)
def test_department_staff_see_their_department_operators_and_admins_everything(
    client, tokens, appeals, caller, visible
):
    response = client.get("/api/v1/appeals", headers=bearer(tokens[caller]))
    assert response.status_code == 200
    assert {a["number"] for a in response.json["appeals"]} == {appeals[name] for name in visible}
    assert response.json["total"] == len(visible)
    for name, number in appeals.items():
        one = client.get(f"/api/v1/appeals/{number}", headers=bearer(tokens[caller]))
        assert one.status_code == (200 if name in visible else 403), (caller, name)
        if one.status_code == 403:
            assert one.json["error"]["code"] == "forbidden"


def test_unknown_appeal_is_404_and_another_departments_filter_is_403(client, tokens, appeals):
    unknown = client.get("/api/v1/appeals/99-999999", headers=bearer(tokens["admin"]))
    assert unknown.status_code == 404 and unknown.json["error"]["code"] == "not_found"
    water = bearer(tokens["water.editor"])
    assert client.post("/api/v1/appeals/99-999999/replies", json={"text": "x"}, headers=water).status_code == 404
    other = client.get("/api/v1/appeals?department=gas", headers=water)
    assert other.status_code == 403 and other.json["error"]["code"] == "forbidden"
    own = client.get("/api/v1/appeals?department=water", headers=water)
    assert [a["number"] for a in own.json["appeals"]] == [appeals["water"]]


def test_an_appeal_in_full_for_staff(client, tokens, appeals):
    response = client.get(f"/api/v1/appeals/{appeals['water']}", headers=bearer(tokens["water.editor"]))
    record = response.json
    assert set(record) == {
        "number", "status", "channel", "department", "district", "announcement_id", "phone", "language",
        "created_at", "due_at", "overdue", "first_answer_at", "closed_at", "messages", "history",
    }  # fmt: skip
    assert record["number"] == appeals["water"] and record["status"] == "new" and record["channel"] == "phone"
    assert (record["department"], record["district"], record["announcement_id"]) == ("water", "al-farabi", None)
    assert record["phone"] == "+77010000001" and record["language"] == "ru"
    created, due = datetime.fromisoformat(record["created_at"]), datetime.fromisoformat(record["due_at"])
    assert created.utcoffset() is not None and due > created + timedelta(days=15)
    assert record["overdue"] is False and record["first_answer_at"] is None and record["closed_at"] is None
    assert record["messages"] == [{"direction": "in", "text": "Воды нет третий день", "at": record["created_at"]}]
    [registered] = record["history"]
    assert registered["kind"] == "registered" and registered["actor"] == "operator@demo.habarlama.kz"
    assert set(registered) == {"kind", "at", "actor", "reason", "old", "new"}


# Filters


def test_filters_and_pages(app, client, tokens, appeals):
    admin = bearer(tokens["admin"])

    def numbers(query: str) -> set[str]:
        response = client.get(f"/api/v1/appeals?{query}", headers=admin)
        assert response.status_code == 200, response.json
        return {a["number"] for a in response.json["appeals"]}

    assert numbers("department=gas") == {appeals["gas"]}
    assert numbers("district=al-farabi") == {appeals["water"]}
    assert numbers("overdue=true") == {appeals["gas"]}
    assert numbers("overdue=false") == {appeals["water"], appeals["queue"]}
    assert numbers("status=new") == set(appeals.values())
    assert numbers("status=resolved") == set()
    assert numbers("department=water&status=new&overdue=false") == {appeals["water"]}
    first = client.get("/api/v1/appeals?per_page=2&page=1", headers=admin).json
    second = client.get("/api/v1/appeals?per_page=2&page=2", headers=admin).json
    assert (first["total"], first["per_page"], len(first["appeals"]), len(second["appeals"])) == (3, 2, 2, 1)
    # Newest first: the gas appeal was registered 40 days ago.
    assert second["appeals"][0]["number"] == appeals["gas"]
    assert {a["number"] for a in first["appeals"] + second["appeals"]} == set(appeals.values())
    overdue = client.get(f"/api/v1/appeals/{appeals['gas']}", headers=admin).json
    assert overdue["overdue"] is True


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("department=telecom", "department"),
        ("district=atlantis", "district"),
        ("status=lost", "status"),
        ("overdue=maybe", "overdue"),
        ("per_page=101", "per_page"),
        ("page=0", "page"),
        ("page=٣", "page"),
    ],
)
def test_bad_filters_are_400_with_fields(client, tokens, appeals, query, field):
    response = client.get(f"/api/v1/appeals?{query}", headers=bearer(tokens["water.editor"]))
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_query"
    assert field in response.json["error"]["fields"]


# Replies


def test_a_reply_is_201_answers_the_appeal_and_queues_an_sms_with_its_number(app, client, tokens, appeals):
    number = appeals["water"]
    response = client.post(
        f"/api/v1/appeals/{number}/replies", json={"text": "Бригада выехала."}, headers=bearer(tokens["water.editor"])
    )
    assert response.status_code == 201, response.json
    assert response.json["message"]["direction"] == "out"
    assert response.json["message"]["text"] == "Бригада выехала."
    appeal = response.json["appeal"]
    assert appeal["status"] == "answered" and appeal["first_answer_at"] and appeal["closed_at"]
    assert [m["direction"] for m in appeal["messages"]] == ["in", "out"]
    assert appeal["history"][-1]["kind"] == "answered"
    assert appeal["history"][-1]["actor"] == "water.editor@demo.habarlama.kz"
    [sms] = sms_to(app, "+77010000001", "appeal_reply")
    assert number in sms and "Бригада выехала." in sms
    assert stored_status(app, number) == "answered"


@pytest.mark.parametrize(
    ("caller", "kwargs", "status", "field"),
    [
        ("water.editor", {"json": {"text": "   "}}, 422, "text"),
        ("water.editor", {"json": {}}, 422, "text"),
        ("water.editor", {"json": {"text": 42}}, 422, "text"),
        ("water.editor", {"json": {"text": "Я" * 1001}}, 422, "text"),
        ("water.editor", {"json": ["Бригада выехала."]}, 400, None),
        ("water.editor", {"data": "{broken", "content_type": "application/json"}, 400, None),
        ("gas.editor", {"json": {"text": "Не моё"}}, 403, None),
    ],
    ids=["blank", "missing", "number", "too long", "array", "broken json", "other department"],
)
def test_a_refused_reply_writes_nothing(app, client, tokens, appeals, caller, kwargs, status, field):
    before = counts(app)
    response = client.post(f"/api/v1/appeals/{appeals['water']}/replies", headers=bearer(tokens[caller]), **kwargs)
    assert response.status_code == status
    assert set(response.json) == {"error"}
    if field:
        assert field in response.json["error"]["fields"]
    assert counts(app) == before
    assert stored_status(app, appeals["water"]) == "new"


# Status changes


def test_take_forward_and_reject_with_notices(app, client, tokens, appeals):
    number, url = appeals["water"], f"/api/v1/appeals/{appeals['water']}/status"
    taken = client.post(url, json={"status": "in_progress"}, headers=bearer(tokens["water.editor"]))
    assert taken.status_code == 200 and taken.json["status"] == "in_progress"
    assert taken.json["history"][-1]["actor"] == "water.editor@demo.habarlama.kz"
    assert taken.json["history"][-1]["old"] == {"status": "new"}
    forwarded = client.post(
        url, json={"status": "forwarded", "department": "heating", "reason": "Это отопление"},
        headers=bearer(tokens["water.editor"]),
    )  # fmt: skip
    assert forwarded.status_code == 200, forwarded.json
    assert (forwarded.json["status"], forwarded.json["department"]) == ("forwarded", "heating")
    [notice] = sms_to(app, "+77010000001", "appeal_reply")
    assert number in notice and "Теплоснабжение" in notice
    # The water department no longer works on it.
    assert client.get(f"/api/v1/appeals/{number}", headers=bearer(tokens["water.editor"])).status_code == 403
    rejected = client.post(
        url, json={"status": "rejected", "reason": "Не в компетенции акимата"}, headers=bearer(tokens["admin"])
    )
    assert rejected.status_code == 200 and rejected.json["status"] == "rejected" and rejected.json["closed_at"]
    assert any("Не в компетенции акимата" in t for t in sms_to(app, "+77010000001", "appeal_reply"))
    assert [e["kind"] for e in rejected.json["history"]] == ["registered", "take", "forward", "reject"]


def test_resolve_after_an_answer(client, tokens, appeals):
    water = bearer(tokens["water.editor"])
    url = f"/api/v1/appeals/{appeals['water']}"
    assert client.post(f"{url}/replies", json={"text": "Починили."}, headers=water).status_code == 201
    resolved = client.post(f"{url}/status", json={"status": "resolved"}, headers=water)
    assert resolved.status_code == 200 and resolved.json["status"] == "resolved"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"status": "rejected"}, 422, "reason"),
        ({"status": "rejected", "reason": "  "}, 422, "reason"),
        ({"status": "forwarded"}, 422, "department"),
        ({"status": "forwarded", "department": "telecom"}, 422, "department"),
        ({"status": "forwarded", "department": "water"}, 422, "department"),
        ({"status": "answered"}, 422, "status"),
        ({"status": "closed"}, 422, "status"),
        ({"status": ["rejected"]}, 422, "status"),
        ({}, 422, "status"),
        ({"status": "rejected", "reason": 5}, 422, "reason"),
        ({"status": "resolved"}, 409, None),
    ],
)
def test_a_refused_status_change_writes_nothing(app, client, tokens, appeals, body, status, field):
    before = counts(app)
    response = client.post(
        f"/api/v1/appeals/{appeals['water']}/status", json=body, headers=bearer(tokens["water.editor"])
    )
    assert response.status_code == status, response.json
    if field:
        assert response.json["error"]["code"] == "validation_error"
        assert field in response.json["error"]["fields"]
    assert counts(app) == before
    assert stored_status(app, appeals["water"]) == "new"


def test_status_of_another_departments_appeal_is_403(app, client, tokens, appeals):
    before = counts(app)
    response = client.post(
        f"/api/v1/appeals/{appeals['water']}/status",
        json={"status": "in_progress"},
        headers=bearer(tokens["gas.editor"]),
    )
    assert response.status_code == 403
    assert counts(app) == before


# Deadlines


def test_extending_the_deadline_needs_a_reason_and_tells_the_resident(app, client, tokens, appeals):
    url = f"/api/v1/appeals/{appeals['water']}/deadline"
    water = bearer(tokens["water.editor"])
    before = counts(app)
    for body, field in (
        ({"days": 5}, "reason"),
        ({"days": "5", "reason": "Выезд"}, "days"),
        ({"days": True, "reason": "Выезд"}, "days"),
        ({"days": 31, "reason": "Выезд"}, "days"),
        ({"days": 0, "reason": "Выезд"}, "days"),
    ):
        refused = client.post(url, json=body, headers=water)
        assert refused.status_code == 422 and field in refused.json["error"]["fields"], body
    assert counts(app) == before
    old_due = client.get(f"/api/v1/appeals/{appeals['water']}", headers=water).json["due_at"]
    extended = client.post(url, json={"days": 10, "reason": "Нужен выезд комиссии"}, headers=water)
    assert extended.status_code == 200, extended.json
    assert datetime.fromisoformat(extended.json["due_at"]) > datetime.fromisoformat(old_due)
    assert extended.json["history"][-1]["kind"] == "extended"
    assert extended.json["history"][-1]["reason"] == "Нужен выезд комиссии"
    [notice] = sms_to(app, "+77010000001", "appeal_reply")
    assert appeals["water"] in notice and "Нужен выезд комиссии" in notice


# The OpenAPI document


def test_appeal_answers_match_the_openapi_schemas(client, tokens, appeals):
    spec = client.get("/api/v1/openapi.json").json
    water, number = bearer(tokens["water.editor"]), appeals["water"]
    url = f"/api/v1/appeals/{number}"

    def write(action: str, body) -> object:
        return client.post(f"{url}/{action}", json=body, headers=water)

    checks = [
        ("/appeals", "get", client.get("/api/v1/appeals", headers=water)),
        ("/appeals", "get", client.get("/api/v1/appeals?status=lost", headers=water)),
        ("/appeals", "get", client.get("/api/v1/appeals")),
        ("/appeals", "get", client.get("/api/v1/appeals?department=gas", headers=water)),
        ("/appeals/{number}", "get", client.get(url, headers=water)),
        ("/appeals/{number}", "get", client.get("/api/v1/appeals/00-000000", headers=water)),
        ("/appeals/{number}/status", "post", write("status", {"status": "x"})),
        ("/appeals/{number}/status", "post", write("status", {"status": "in_progress"})),
        ("/appeals/{number}/status", "post", write("status", {"status": "in_progress"})),
        ("/appeals/{number}/deadline", "post", write("deadline", {"days": 3, "reason": "Выезд"})),
        ("/appeals/{number}/replies", "post", write("replies", {"text": "Готово."})),
        ("/appeals/{number}/replies", "post", write("replies", [])),
    ]
    assert [r.status_code for *_, r in checks] == [200, 400, 401, 403, 200, 404, 422, 200, 409, 200, 201, 400]
    for path, method, response in checks:
        schema = response_schema(spec, path, method, response.status_code)
        assert problems(response.json, schema, spec) == [], (path, method, response.status_code)
    documented = spec["paths"]["/appeals"]["get"]
    assert {"bearerAuth": []} not in documented["security"] and {} not in documented["security"]
