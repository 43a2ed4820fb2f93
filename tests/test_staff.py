"""Staff pages: login, the permission matrix over every staff route, forms and escaping."""

from datetime import timedelta

import pytest

from announcements.models import Announcement
from notifier.db import db, utcnow
from tests.factories import announcement_input, create_announcement, login, staff

ROLES = ["anonymous", "water.editor", "water.approver", "gas.editor", "gas.approver", "operator", "admin"]


def _form_data(**overrides):
    data = announcement_input(**overrides)
    local = lambda iso: iso[:16]  # noqa: E731 - datetime-local takes "YYYY-MM-DDTHH:MM"
    form = {
        "department": data["department"],
        "kind": data["kind"],
        "districts": data["districts"],
        "streets": data["streets"],
        "starts_at": local(data["starts_at"]),
        "ends_at": local(data["ends_at"]),
        "publish_at": "",
        "title_kk": data["title"]["kk"],
        "title_ru": data["title"]["ru"],
        "body_kk": data["body"]["kk"],
        "body_ru": data["body"]["ru"],
    }
    if data["urgent"]:
        form["urgent"] = "y"
    return form


def _as(client, who):
    if who != "anonymous":
        login(client, who)
    return client


def test_login_rejects_wrong_password(client):
    response = client.post("/staff/login", data={"email": "water.editor@demo.habarlama.kz", "password": "nope"})
    assert response.status_code == 200
    assert "/staff/logout" not in response.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302


def test_login_only_redirects_to_local_paths(client):
    response = client.post(
        "/staff/login?next=https://evil.example/",
        data={"email": "water.editor@demo.habarlama.kz", "password": "habarlama-demo"},
    )
    assert response.headers["Location"] == "/staff/"


def test_logout_needs_post_and_ends_the_session(client):
    login(client, "water.editor")
    assert client.get("/staff/").status_code == 200
    assert client.get("/staff/logout").status_code == 405
    client.post("/staff/logout")
    assert client.get("/staff/").status_code == 302


def test_session_is_permanent_with_a_lifetime(app, client):
    login(client, "water.editor")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=8)


# Expected status codes per route and role, for a *water* announcement in the right state.
MATRIX = {
    # route: {role: status}; 302 to login for anonymous everywhere.
    "list": {
        "water.editor": 200,
        "water.approver": 200,
        "gas.editor": 200,
        "gas.approver": 200,
        "operator": 200,
        "admin": 200,
    },
    "new_get": {
        "water.editor": 200,
        "water.approver": 200,
        "gas.editor": 200,
        "gas.approver": 200,
        "operator": 403,
        "admin": 200,
    },
    "detail": {
        "water.editor": 200,
        "water.approver": 200,
        "gas.editor": 403,
        "gas.approver": 403,
        "operator": 200,
        "admin": 200,
    },
    "edit_get": {
        "water.editor": 200,
        "water.approver": 200,
        "gas.editor": 403,
        "gas.approver": 403,
        "operator": 403,
        "admin": 200,
    },
    "edit_post": {
        "water.editor": 302,
        "water.approver": 302,
        "gas.editor": 403,
        "gas.approver": 403,
        "operator": 403,
        "admin": 302,
    },
    "submit": {
        "water.editor": 302,
        "water.approver": 302,
        "gas.editor": 403,
        "gas.approver": 403,
        "operator": 403,
        "admin": 302,
    },
    "approve": {
        "water.editor": 403,
        "water.approver": 302,
        "gas.editor": 403,
        "gas.approver": 403,
        "operator": 403,
        "admin": 302,
    },
    "extend": {
        "water.editor": 302,
        "water.approver": 302,
        "gas.editor": 403,
        "gas.approver": 403,
        "operator": 403,
        "admin": 302,
    },
    "complete": {
        "water.editor": 302,
        "water.approver": 302,
        "gas.editor": 403,
        "gas.approver": 403,
        "operator": 403,
        "admin": 302,
    },
    "cancel": {
        "water.editor": 302,
        "water.approver": 302,
        "gas.editor": 403,
        "gas.approver": 403,
        "operator": 403,
        "admin": 302,
    },
}
STATE_FOR = {
    "detail": "draft",
    "edit_get": "draft",
    "edit_post": "draft",
    "submit": "draft",
    "approve": "pending_approval",
    "extend": "published",
    "complete": "published",
    "cancel": "published",
}
EXPECTED_STATUS_AFTER = {
    "submit": "pending_approval",
    "approve": "published",
    "complete": "completed",
    "cancel": "cancelled",
    "extend": "published",
    "edit_post": "draft",
}


@pytest.mark.parametrize("route", list(MATRIX))
@pytest.mark.parametrize("who", ROLES)
def test_permission_matrix(app, client, route, who):
    ann_id = None
    if route in STATE_FOR:
        with app.app_context():
            ann = create_announcement(status=STATE_FOR[route])
            ann_id, ends = ann.id, ann.ends_at
    _as(client, who)
    reason = {"reason": "Причина"}
    requests = {
        "list": lambda: client.get("/staff/"),
        "new_get": lambda: client.get("/staff/announcements/new"),
        "detail": lambda: client.get(f"/staff/announcements/{ann_id}"),
        "edit_get": lambda: client.get(f"/staff/announcements/{ann_id}/edit"),
        "edit_post": lambda: client.post(f"/staff/announcements/{ann_id}/edit", data=_form_data()),
        "submit": lambda: client.post(f"/staff/announcements/{ann_id}/submit", data=reason),
        "approve": lambda: client.post(f"/staff/announcements/{ann_id}/approve", data=reason),
        "extend": lambda: client.post(
            f"/staff/announcements/{ann_id}/extend",
            data={**reason, "ends_at": f"{(ends + timedelta(days=1)).astimezone():%Y-%m-%dT%H:%M}"},
        ),
        "complete": lambda: client.post(f"/staff/announcements/{ann_id}/complete", data=reason),
        "cancel": lambda: client.post(f"/staff/announcements/{ann_id}/cancel", data=reason),
    }
    response = requests[route]()
    if who == "anonymous":
        assert response.status_code == 302
        assert "/staff/login" in response.headers["Location"]
        return
    expected = MATRIX[route][who]
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    if ann_id and route in EXPECTED_STATUS_AFTER:
        with app.app_context():
            status = db.session.get(Announcement, ann_id).status
        if expected == 302:
            assert status == EXPECTED_STATUS_AFTER[route]
            # The redirect lands on the record with a success message, not an error.
            page = client.get(response.headers["Location"]).get_data(as_text=True)
            assert "flash-error" not in page
        else:
            assert status == STATE_FOR[route]


def test_draft_form_creates_and_shows_preview(app, client):
    login(client, "water.editor")
    preview = client.post("/staff/announcements/new", data={**_form_data(), "preview": "1"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "UCS-2" in html
    assert "/a/" in html
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Announcement.id))) == 0
    saved = client.post("/staff/announcements/new", data={**_form_data(), "save": "1"})
    assert saved.status_code == 302
    with app.app_context():
        ann = db.session.scalars(db.select(Announcement)).one()
        assert ann.status == "draft"
        assert [d.slug for d in ann.districts] == ["al-farabi"]
        assert ann.author.email == "water.editor@demo.habarlama.kz"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"districts": []}, "districts"),
        ({"ends_at": "2026-01-01T00:00"}, "ends_at"),
        ({"starts_at": "not a date"}, "starts_at"),
        ({"title_kk": "", "title_ru": ""}, "title_ru"),
        ({"kind": "party"}, "kind"),
    ],
)
def test_form_shows_field_errors_and_writes_nothing(app, client, change, field):
    login(client, "water.editor")
    response = client.post("/staff/announcements/new", data={**_form_data(), **change, "save": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'id="{field}-error"' in html or f'id="{field}-error"'.replace("_ru", "") in html
    assert 'aria-invalid="true"' in html or "has-error" in html
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Announcement.id))) == 0


def test_editor_cannot_post_for_another_department(app, client):
    login(client, "water.editor")
    response = client.post("/staff/announcements/new", data={**_form_data(department="gas"), "save": "1"})
    assert response.status_code in (200, 403)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Announcement.id))) == 0


def test_refused_action_shows_a_message_and_changes_nothing(app, client):
    with app.app_context():
        ann_id = create_announcement(status="published").id
    login(client, "water.editor")
    response = client.post(f"/staff/announcements/{ann_id}/cancel", data={"reason": ""})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "flash-error" in page
    with app.app_context():
        assert db.session.get(Announcement, ann_id).status == "published"


def test_unknown_action_and_record_are_404(app, client):
    with app.app_context():
        ann_id = create_announcement().id
    login(client, "admin")
    assert client.post(f"/staff/announcements/{ann_id}/explode").status_code == 404
    assert client.get("/staff/announcements/999999").status_code == 404


XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


def test_titles_and_bodies_are_escaped_in_staff_and_public_pages(app, client):
    with app.app_context():
        ann = create_announcement(
            status="published",
            title={"ru": XSS, "kk": XSS},
            body={"ru": XSS, "kk": XSS},
            streets=XSS,
        )
        ann_id = ann.id
    pages = [client.get("/"), client.get(f"/announcements/{ann_id}"), client.get(f"/a/{ann_id}")]
    login(client, "water.editor")
    pages += [client.get("/staff/"), client.get(f"/staff/announcements/{ann_id}")]
    for page in pages:
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "<script>alert(1)" not in html
        assert "onerror=" not in html.replace("onerror=&#34;", "").replace("onerror=&quot;", "")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_csrf_is_enforced_when_enabled(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/staff/login", data={"email": "water.editor@demo.habarlama.kz", "password": "x"})
    assert response.status_code == 400


def test_staff_list_shows_only_own_department(app, client):
    with app.app_context():
        create_announcement(title={"ru": "Водная", "kk": "Су"})
        create_announcement(author="gas.editor", department="gas", title={"ru": "Газовая", "kk": "Газ"})
    login(client, "water.editor")
    html = client.get("/staff/").get_data(as_text=True)
    assert "Водная" in html and "Газовая" not in html
    client.post("/staff/logout")
    login(client, "admin")
    html = client.get("/staff/").get_data(as_text=True)
    assert "Водная" in html and "Газовая" in html


def test_scheduled_announcement_is_not_public_until_published(app, client):
    now = utcnow()
    with app.app_context():
        ann = create_announcement(status="pending_approval", publish_at=(now + timedelta(hours=1)).isoformat())
        from announcements import service

        service.approve(staff("water.approver"), ann, now)
        db.session.commit()
        ann_id = ann.id
    assert client.get(f"/announcements/{ann_id}").status_code == 404
    assert "Отключение воды" not in client.get("/?lang=ru").get_data(as_text=True)
