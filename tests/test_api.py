"""JSON API v1: reference data, announcements, permissions, visibility and the OpenAPI document."""

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from announcements.models import Announcement, AnnouncementEvent
from notifier.auth import ApiToken, issue_token
from notifier.db import db, utcnow
from tests.factories import announcement_input, create_announcement, staff

ANONYMOUS = "anonymous"
CALLERS = (ANONYMOUS, "water.editor", "water.approver", "gas.editor", "gas.approver", "operator", "admin")


@pytest.fixture
def tokens(app):
    """Return an API token for every demo caller (None for the anonymous one)."""
    with app.app_context():
        issued = {name: issue_token(staff(name)) for name in CALLERS if name != ANONYMOUS}
        db.session.commit()
    return {ANONYMOUS: None, **issued}


def bearer(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def make(app, **kwargs) -> int:
    """Create an announcement through the service and return its id."""
    with app.app_context():
        return create_announcement(**kwargs).id


def row_counts(app) -> tuple[int, int]:
    with app.app_context():
        announcements = db.session.scalar(select(func.count(Announcement.id)))
        return announcements, db.session.scalar(select(func.count(AnnouncementEvent.id)))


def stored(app, announcement_id: int) -> tuple[str, int]:
    """Return the status and version the database holds."""
    with app.app_context():
        ann = db.session.get(Announcement, announcement_id)
        return ann.status, ann.version


def later(iso: str, hours: int) -> str:
    return (datetime.fromisoformat(iso) + timedelta(hours=hours)).isoformat()


# Reference data


def test_departments_list_slugs_names_and_working_hours(client):
    response = client.get("/api/v1/departments")
    assert response.status_code == 200
    departments = {d["slug"]: d for d in response.json["departments"]}
    assert set(departments) == {"gas", "electricity", "water", "heating", "housing", "land"}
    assert departments["water"]["name"] == {"ru": "Водоснабжение", "kk": "Сумен жабдықтау"}
    assert departments["water"]["working_hours"] == {"days": [1, 2, 3, 4, 5, 6], "start": "09:00", "end": "19:00"}
    assert departments["land"]["working_hours"] == {"days": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "20:00"}


def test_districts_list_slugs_and_names(client):
    response = client.get("/api/v1/districts")
    assert response.status_code == 200
    districts = {d["slug"]: d["name"] for d in response.json["districts"]}
    assert set(districts) == {"abay", "al-farabi", "enbekshi", "karatau", "turan"}
    assert districts["al-farabi"] == {"ru": "Аль-Фарабийский", "kk": "Әл-Фараби"}


# Creating


def test_create_answers_201_with_the_record_and_an_sms_preview(app, client, tokens):
    data = announcement_input()
    response = client.post("/api/v1/announcements", json=data, headers=bearer(tokens["water.editor"]))
    assert response.status_code == 201, response.json
    record = response.json
    assert record["status"] == "draft"
    assert response.headers["Location"].endswith(f"/api/v1/announcements/{record['id']}")
    assert record["url"] == f"http://localhost:5000/announcements/{record['id']}"
    assert (record["department"], record["kind"], record["urgent"]) == ("water", "planned_outage", False)
    assert record["districts"] == ["al-farabi"]
    assert record["title"] == data["title"] and record["body"] == data["body"]
    starts_at = datetime.fromisoformat(record["starts_at"])
    assert starts_at == datetime.fromisoformat(data["starts_at"]) and starts_at.utcoffset() is not None
    assert [event["kind"] for event in record["history"]] == ["created"]

    preview = record["sms_preview"]
    assert preview["recipients"] == 0 and preview["estimated_cost"] == 0
    for lang in ("ru", "kk"):
        sms = preview["languages"][lang]
        assert sms["encoding"] == "UCS-2" and sms["parts"] >= 1 and sms["recipients"] == 0
        assert f"/a/{record['id']}" in sms["text"]

    again = client.get(response.headers["Location"], headers=bearer(tokens["water.editor"]))
    assert again.status_code == 200
    assert {k: v for k, v in again.json.items() if k != "state"} == {
        k: v for k, v in record.items() if k not in ("state", "sms_preview")
    }
    assert row_counts(app) == (1, 1)


BAD_INPUTS = {
    "missing district": ({"districts": []}, "districts"),
    "no districts key": ({"districts": None}, "districts"),
    "unknown district": ({"districts": ["atlantis"]}, "districts"),
    "end before start": ({"ends_at": "2026-12-01T09:00:00+05:00", "starts_at": "2026-12-01T10:00:00+05:00"}, "ends_at"),
    "unknown department": ({"department": "telecom"}, "department"),
    "bad datetime": ({"starts_at": "tomorrow morning"}, "starts_at"),
    "number for a datetime": ({"ends_at": 1733032800}, "ends_at"),
    "unknown kind": ({"kind": "party"}, "kind"),
    "text for urgent": ({"urgent": "yes"}, "urgent"),
    "text for title": ({"title": "Отключение"}, "title"),
    "number for streets": ({"streets": 15}, "streets"),
    "number for districts": ({"districts": 5}, "districts"),
    "no title": ({"title": {"ru": "", "kk": ""}}, "title"),
    "too long title": ({"title": {"ru": "Я" * 201, "kk": "Су"}}, "title.ru"),
}


@pytest.mark.parametrize("overrides, field", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_invalid_input_is_422_with_fields_and_writes_nothing(app, client, tokens, overrides, field):
    response = client.post(
        "/api/v1/announcements", json=announcement_input(**overrides), headers=bearer(tokens["water.editor"])
    )
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_error"
    assert field in response.json["error"]["fields"]
    assert row_counts(app) == (0, 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": ["water"]},
        {"json": "water"},
        {"data": "{not json", "content_type": "application/json"},
        {"data": {"department": "water"}},
        {},
    ],
    ids=["array", "string", "broken json", "form", "empty"],
)
def test_a_body_that_is_not_a_json_object_is_400(app, client, tokens, kwargs):
    response = client.post("/api/v1/announcements", headers=bearer(tokens["water.editor"]), **kwargs)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert row_counts(app) == (0, 0)


def test_writing_needs_a_valid_token(app, client, tokens):
    url = "/api/v1/announcements"
    missing = client.post(url, json=announcement_input())
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.json["error"]["code"] == "unauthorized"
    for header in ("Bearer not-a-token", "Basic d2F0ZXI6d2F0ZXI=", "Bearer "):
        bogus = client.post(url, json=announcement_input(), headers={"Authorization": header})
        assert bogus.status_code == 401, header
        assert bogus.headers["WWW-Authenticate"].startswith("Bearer")
    with app.app_context():
        db.session.execute(db.update(ApiToken).values(revoked=True))
        db.session.commit()
    revoked = client.post(url, json=announcement_input(), headers=bearer(tokens["water.editor"]))
    assert revoked.status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert row_counts(app) == (0, 0)


# Who may do what to a water announcement


def _calls(app, tokens):
    """Yield (name, method, url, body, announcement id or None) for every API write, on a fresh record."""
    yield "create", "post", "/api/v1/announcements", announcement_input(), None
    draft = make(app)
    yield "edit", "patch", f"/api/v1/announcements/{draft}", {"streets": "ул. Абая 5"}, draft
    for action, status, body, overrides in (
        ("submit", "draft", None, {}),
        ("return", "pending_approval", {"reason": "Уточните улицы"}, {}),
        ("approve", "pending_approval", None, {}),
        ("publish", "draft", None, {"urgent": True, "kind": "emergency_outage"}),
        ("extend", "published", {"reason": "Трубы", "ends_at": None}, {}),
        ("complete", "published", None, {}),
        ("cancel", "draft", None, {}),
    ):
        ann_id = make(app, status=status, **overrides)
        if action == "extend":
            with app.app_context():
                body["ends_at"] = (db.session.get(Announcement, ann_id).ends_at + timedelta(hours=2)).isoformat()
        yield action, "post", f"/api/v1/announcements/{ann_id}/{action}", body, ann_id


ALL_WATER = {"create": 201, **dict.fromkeys(("edit", "submit", "extend", "complete", "cancel"), 200)}
APPROVER_ONLY = dict.fromkeys(("return", "approve", "publish"), 200)
WRITES = ("create", "edit", "submit", "return", "approve", "publish", "extend", "complete", "cancel")
REFUSED = dict.fromkeys(WRITES, 403)
EXPECTED = {
    ANONYMOUS: dict.fromkeys(WRITES, 401),
    "water.editor": {**ALL_WATER, **dict.fromkeys(APPROVER_ONLY, 403)},
    "water.approver": {**ALL_WATER, **APPROVER_ONLY},
    "gas.editor": REFUSED,
    "gas.approver": REFUSED,
    "operator": REFUSED,
    "admin": {**ALL_WATER, **APPROVER_ONLY},
}


@pytest.mark.parametrize("caller", CALLERS)
def test_permission_matrix(app, client, tokens, caller):
    seen = {}
    for name, method, url, body, ann_id in _calls(app, tokens):
        before = stored(app, ann_id) if ann_id else None
        counts = row_counts(app)
        response = getattr(client, method)(url, json=body, headers=bearer(tokens[caller]))
        seen[name] = response.status_code
        if response.status_code >= 400:
            assert set(response.json) == {"error"}
            assert row_counts(app) == counts, name
            if ann_id:
                assert stored(app, ann_id) == before, name
    assert seen == EXPECTED[caller]


def test_nobody_approves_their_own_announcement(app, client, tokens):
    ann_id = make(app, author="water.approver", status="pending_approval")
    url = f"/api/v1/announcements/{ann_id}/approve"
    own = client.post(url, headers=bearer(tokens["water.approver"]))
    assert own.status_code == 403 and own.json["error"]["code"] == "forbidden"
    assert stored(app, ann_id)[0] == "pending_approval"
    assert client.post(url, headers=bearer(tokens["admin"])).json["status"] == "published"


# Lifecycle through the API


def test_draft_submitted_approved_is_published_and_public(app, client, tokens):
    editor, approver = bearer(tokens["water.editor"]), bearer(tokens["water.approver"])
    created = client.post("/api/v1/announcements", json=announcement_input(), headers=editor).json
    url = f"/api/v1/announcements/{created['id']}"
    assert client.get(url).status_code == 404

    submitted = client.post(f"{url}/submit", headers=editor)
    assert submitted.status_code == 200 and submitted.json["status"] == "pending_approval"
    approved = client.post(f"{url}/approve", json={}, headers=approver)
    assert approved.status_code == 200 and approved.json["status"] == "published"
    assert approved.json["published_at"] is not None

    public = client.get(url)
    assert public.status_code == 200
    assert public.json["status"] == "published"
    assert public.json["state"]["ru"] and public.json["state"]["kk"]
    assert [e["kind"] for e in public.json["history"]] == ["published"]
    listed = client.get("/api/v1/announcements").json
    assert [a["id"] for a in listed["announcements"]] == [created["id"]]


def test_approving_with_a_future_publish_at_schedules(app, client, tokens):
    publish_at = (utcnow() + timedelta(hours=3)).isoformat()
    ann_id = make(app, status="pending_approval", publish_at=publish_at)
    url = f"/api/v1/announcements/{ann_id}"
    approved = client.post(f"{url}/approve", headers=bearer(tokens["water.approver"]))
    assert approved.json["status"] == "scheduled"
    assert client.get(url).status_code == 404
    early = client.post(f"{url}/publish", headers=bearer(tokens["water.approver"]))
    assert early.json["status"] == "published"


def test_an_approver_publishes_an_urgent_draft_directly_but_not_a_planned_one(app, client, tokens):
    approver = bearer(tokens["water.approver"])
    urgent = announcement_input(urgent=True, kind="emergency_outage")
    created = client.post("/api/v1/announcements", json=urgent, headers=approver).json
    published = client.post(f"/api/v1/announcements/{created['id']}/publish", headers=approver)
    assert published.status_code == 200 and published.json["status"] == "published"

    planned = client.post("/api/v1/announcements", json=announcement_input(), headers=approver).json
    refused = client.post(f"/api/v1/announcements/{planned['id']}/publish", headers=approver)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "approval_required"
    assert stored(app, planned["id"])[0] == "draft"


def test_extend_then_complete(app, client, tokens):
    editor = bearer(tokens["water.editor"])
    ann_id = make(app, status="published")
    url = f"/api/v1/announcements/{ann_id}"
    ends_at = client.get(url).json["ends_at"]
    before = stored(app, ann_id)
    for body, field in (
        ({"ends_at": later(ends_at, 2)}, "reason"),
        ({"ends_at": later(ends_at, -1), "reason": "Трубы"}, "ends_at"),
        ({"ends_at": "soon", "reason": "Трубы"}, "ends_at"),
        ({"ends_at": later(ends_at, 2), "reason": 5}, "reason"),
    ):
        refused = client.post(f"{url}/extend", json=body, headers=editor)
        assert refused.status_code == 422 and field in refused.json["error"]["fields"], body
    assert stored(app, ann_id) == before

    extended = client.post(f"{url}/extend", json={"ends_at": later(ends_at, 2), "reason": "Трубы"}, headers=editor)
    assert extended.status_code == 200
    assert extended.json["extended"] is True
    assert datetime.fromisoformat(extended.json["ends_at"]) == datetime.fromisoformat(later(ends_at, 2))

    completed = client.post(f"{url}/complete", headers=editor)
    assert completed.json["status"] == "completed" and completed.json["completed_at"]
    again = client.post(f"{url}/cancel", json={"reason": "Поздно"}, headers=editor)
    assert again.status_code == 409 and again.json["error"]["code"] == "invalid_transition"
    public_kinds = [e["kind"] for e in client.get(url).json["history"]]
    assert public_kinds == ["published", "extended", "completed"]


def test_cancelling_a_published_announcement_needs_a_reason_residents_read(app, client, tokens):
    editor = bearer(tokens["water.editor"])
    ann_id = make(app, status="published")
    url = f"/api/v1/announcements/{ann_id}"
    no_reason = client.post(f"{url}/cancel", headers=editor)
    assert no_reason.status_code == 422 and "reason" in no_reason.json["error"]["fields"]
    cancelled = client.post(f"{url}/cancel", json={"reason": "Работы перенесены"}, headers=editor)
    assert cancelled.json["status"] == "cancelled" and cancelled.json["cancelled_at"]
    history = client.get(url).json["history"]
    assert history[-1]["kind"] == "cancelled" and history[-1]["reason"] == "Работы перенесены"


def test_edit_merges_a_patch_into_a_draft(app, client, tokens):
    editor = bearer(tokens["water.editor"])
    ann_id = make(app, publish_at=(utcnow() + timedelta(hours=1)).isoformat())
    url = f"/api/v1/announcements/{ann_id}"
    patch = {"title": {"kk": "Су жоқ"}, "publish_at": None, "districts": ["abay", "turan"]}
    edited = client.patch(url, json=patch, headers=editor)
    assert edited.status_code == 200, edited.json
    assert edited.json["title"] == {"kk": "Су жоқ", "ru": "Отключение воды"}
    assert edited.json["publish_at"] is None
    assert edited.json["districts"] == ["abay", "turan"]
    assert edited.json["version"] == 1 and edited.json["sms_preview"]["recipients"] == 0
    assert edited.json["history"][-1]["kind"] == "edited"

    merge = client.patch(
        url, data='{"streets": "ул. Абая"}', content_type="application/merge-patch+json", headers=editor
    )
    assert merge.status_code == 200 and merge.json["streets"] == "ул. Абая"
    for body, status, field in (
        ({"status": "published"}, 422, "status"),
        ({"department": "gas"}, 403, None),
        ({"ends_at": "2001-01-01T00:00:00+05:00"}, 422, "ends_at"),
    ):
        refused = client.patch(url, json=body, headers=editor)
        assert refused.status_code == status, body
        assert field is None or field in refused.json["error"]["fields"]
    assert stored(app, ann_id) == ("draft", 2)

    client.post(f"{url}/submit", headers=editor)
    assert client.patch(url, json={"streets": "—"}, headers=editor).status_code == 409


def test_unknown_actions_and_records_are_json_404(client, app, tokens):
    ann_id = make(app)
    headers = bearer(tokens["admin"])
    for method, url in (
        ("post", f"/api/v1/announcements/{ann_id}/delete"),
        ("post", "/api/v1/announcements/999999/submit"),
        ("get", "/api/v1/announcements/999999"),
        ("patch", "/api/v1/announcements/999999"),
        ("get", "/api/v1/nothing-here"),
    ):
        response = getattr(client, method)(url, json={}, headers=headers)
        assert response.status_code == 404, url
        assert response.is_json and response.json["error"]["code"] == "not_found"
    assert client.delete(f"/api/v1/announcements/{ann_id}", headers=headers).status_code == 405


# Reading: visibility, filters, history


def test_drafts_are_visible_only_to_their_department_operators_and_admins(app, client, tokens):
    ann_id = make(app, status="pending_approval")
    url = f"/api/v1/announcements/{ann_id}"
    seen = {caller: client.get(url, headers=bearer(tokens[caller])).status_code for caller in CALLERS}
    assert seen == {
        ANONYMOUS: 404,
        "water.editor": 200,
        "water.approver": 200,
        "gas.editor": 404,
        "gas.approver": 404,
        "operator": 200,
        "admin": 200,
    }
    listed = {
        caller: [
            a["id"] for a in client.get("/api/v1/announcements", headers=bearer(tokens[caller])).json["announcements"]
        ]
        for caller in CALLERS
    }
    assert listed == {caller: [ann_id] if code == 200 else [] for caller, code in seen.items()}


def test_anonymous_callers_cannot_filter_by_a_non_public_status(client, tokens):
    refused = client.get("/api/v1/announcements?status=draft")
    assert refused.status_code == 400
    assert "status" in refused.json["error"]["fields"]
    assert client.get("/api/v1/announcements?status=draft", headers=bearer(tokens["gas.editor"])).status_code == 200
    assert client.get("/api/v1/announcements?status=lost", headers=bearer(tokens["admin"])).status_code == 400


def test_filters_and_pages(app, client, tokens):
    a = make(app, status="published", districts=["al-farabi"])
    b = make(app, author="gas.editor", status="published", department="gas", districts=["abay"])
    c = make(app, status="completed", districts=["abay", "turan"])
    make(app, status="draft", districts=["abay"])

    def ids(query: str, caller: str = ANONYMOUS) -> set[int]:
        response = client.get(f"/api/v1/announcements?{query}", headers=bearer(tokens[caller]))
        assert response.status_code == 200, response.json
        return {item["id"] for item in response.json["announcements"]}

    assert ids("") == {a, b, c}
    assert ids("department=water") == {a, c}
    assert ids("district=abay") == {b, c}
    assert ids("department=water&district=abay") == {c}
    assert ids("status=completed") == {c}
    assert ids("status=published&district=turan") == set()
    assert len(ids("district=abay", "water.editor")) == 3

    first = client.get("/api/v1/announcements?per_page=2").json
    second = client.get("/api/v1/announcements?per_page=2&page=2").json
    assert (first["page"], first["per_page"], first["total"]) == (1, 2, 3)
    assert len(first["announcements"]) == 2 and len(second["announcements"]) == 1
    assert {x["id"] for x in first["announcements"] + second["announcements"]} == {a, b, c}
    assert client.get("/api/v1/announcements?page=9").json["announcements"] == []

    for query, field in (
        ("district=atlantis", "district"),
        ("department=telecom", "department"),
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("page=two", "page"),
        ("page=-1", "page"),
        ("page=²", "page"),
        ("page=99999999999999999999", "page"),
    ):
        response = client.get(f"/api/v1/announcements?{query}")
        assert response.status_code == 400, query
        assert field in response.json["error"]["fields"], query


def test_history_shows_internal_steps_only_to_the_department_and_overseers(app, client, tokens):
    ann_id = make(app, status="published")
    everything = ["created", "submitted", "approved", "published"]
    for caller, kinds in (
        (ANONYMOUS, ["published"]),
        ("gas.editor", ["published"]),
        ("water.editor", everything),
        ("operator", everything),
        ("admin", everything),
    ):
        record = client.get(f"/api/v1/announcements/{ann_id}", headers=bearer(tokens[caller])).json
        assert [event["kind"] for event in record["history"]] == kinds, caller
        listed = client.get("/api/v1/announcements", headers=bearer(tokens[caller])).json["announcements"]
        assert [event["kind"] for event in listed[0]["history"]] == kinds, caller
        assert all(datetime.fromisoformat(event["at"]).utcoffset() is not None for event in record["history"])


# The OpenAPI document


def resolve(spec: dict, ref: str) -> dict:
    node = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
    "null": type(None),
}


def problems(value, schema: dict, spec: dict, where: str = "$") -> list[str]:
    """Check a response against a schema, strictly: every key the API sends must be described."""
    if "$ref" in schema:
        return problems(value, resolve(spec, schema["$ref"]), spec, where)
    if "allOf" in schema:
        parts = [resolve(spec, s["$ref"]) if "$ref" in s else s for s in schema["allOf"]]
        merged = {"type": "object", "properties": {}, "required": []}
        for part in parts:
            merged["properties"] |= part.get("properties", {})
            merged["required"] += part.get("required", [])
        return problems(value, merged, spec, where)
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if types and not any(
        isinstance(value, JSON_TYPES[t]) and not (t in ("integer", "number") and isinstance(value, bool)) for t in types
    ):
        return [f"{where}: {value!r} is not {types}"]
    found = []
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not in enum")
    if isinstance(value, dict) and "properties" in schema:
        found += [f"{where}: {key} missing" for key in schema.get("required", []) if key not in value]
        found += [f"{where}: {key} undocumented" for key in value if key not in schema["properties"]]
        for key, item in value.items():
            if key in schema["properties"]:
                found += problems(item, schema["properties"][key], spec, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            found += problems(item, schema["items"], spec, f"{where}[{i}]")
    return found


def response_schema(spec: dict, path: str, method: str, status: int) -> dict:
    response = spec["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = resolve(spec, response["$ref"])
    return response["content"]["application/json"]["schema"]


# Writes residents make without a token (subscribing); every other write needs one.
RESIDENT_WRITES = {("/subscriptions", "post"), ("/subscriptions/confirm", "post")}


def test_openapi_describes_exactly_the_routes_that_exist(app, client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.1")
    assert spec["servers"] == [{"url": "/api/v1"}]
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            routes |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    verbs = {"get", "put", "post", "patch", "delete"}
    documented = {(path, verb) for path, item in spec["paths"].items() for verb in item if verb in verbs}
    assert routes == documented
    for path, item in spec["paths"].items():
        for verb in verbs & set(item):
            params = [resolve(spec, p["$ref"]) if "$ref" in p else p for p in item[verb].get("parameters", [])]
            in_path = {p["name"] for p in params if p["in"] == "path"}
            assert in_path == set(re.findall(r"{([^}]+)}", path)), (path, verb)
            security = item[verb].get("security", [])
            needs_token = verb != "get" and (path, verb) not in RESIDENT_WRITES
            assert needs_token == ({"bearerAuth": []} in security and {} not in security), (path, verb)
    for ref in refs(spec):
        assert resolve(spec, ref) is not None, ref
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token.",
    }


def test_responses_match_the_openapi_schemas(app, client, tokens):
    spec = client.get("/api/v1/openapi.json").json
    editor = bearer(tokens["water.editor"])
    make(app, status="published")
    checks = [
        ("/departments", "get", client.get("/api/v1/departments")),
        ("/districts", "get", client.get("/api/v1/districts")),
        ("/announcements", "post", client.post("/api/v1/announcements", json=announcement_input(), headers=editor)),
        ("/announcements", "get", client.get("/api/v1/announcements", headers=editor)),
        ("/announcements", "get", client.get("/api/v1/announcements?status=lost")),
        ("/announcements", "post", client.post("/api/v1/announcements", json={}, headers=editor)),
        ("/announcements", "post", client.post("/api/v1/announcements", json={})),
    ]
    created = checks[2][2].json
    url = f"/api/v1/announcements/{created['id']}"
    checks += [
        ("/announcements/{announcement_id}", "get", client.get(url, headers=editor)),
        ("/announcements/{announcement_id}", "patch", client.patch(url, json={"urgent": True}, headers=editor)),
        ("/announcements/{announcement_id}/submit", "post", client.post(f"{url}/submit", headers=editor)),
        ("/announcements/{announcement_id}/submit", "post", client.post(f"{url}/submit", headers=editor)),
    ]
    assert [response.status_code for *_, response in checks] == [200, 200, 201, 200, 400, 422, 401, 200, 200, 200, 409]
    for path, method, response in checks:
        schema = response_schema(spec, path, method, response.status_code)
        assert problems(response.json, schema, spec) == [], (path, method, response.status_code)
