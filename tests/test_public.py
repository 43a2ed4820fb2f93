"""The public page: order, filters, states in words, language choice, health."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from announcements import service
from notifier import create_app
from notifier.db import db, utcnow
from tests.factories import create_announcement, staff


def _titles_in_order(html, titles):
    positions = [html.index(t) for t in titles]
    return positions == sorted(positions)


def test_current_and_upcoming_first_then_recent_past(app, client):
    now = utcnow()
    with app.app_context():
        create_announcement(status="completed", title={"ru": "Прошедшее", "kk": "Өткен"})
        create_announcement(
            status="published",
            title={"ru": "Послезавтра", "kk": "Бүрсігүні"},
            starts_at=(now + timedelta(days=2)).isoformat(),
            ends_at=(now + timedelta(days=2, hours=5)).isoformat(),
        )
        create_announcement(
            status="published",
            title={"ru": "Идёт сейчас", "kk": "Қазір жүріп жатыр"},
            starts_at=(now - timedelta(hours=1)).isoformat(),
            ends_at=(now + timedelta(hours=3)).isoformat(),
        )
        create_announcement(status="draft", title={"ru": "Черновик", "kk": "Жоба"})
    html = client.get("/?lang=ru").get_data(as_text=True)
    assert _titles_in_order(html, ["Идёт сейчас", "Послезавтра", "Прошедшее"])
    assert "Черновик" not in html


def test_filters_are_plain_links_and_narrow_the_list(app, client):
    with app.app_context():
        create_announcement(status="published", title={"ru": "Вода Аль-Фараби", "kk": "Су"})
        create_announcement(
            author="gas.editor",
            department="gas",
            districts=["abay"],
            status="published",
            title={"ru": "Газ Абай", "kk": "Газ"},
        )
    html = client.get("/?district=abay").get_data(as_text=True)
    assert "Газ Абай" in html and "Вода Аль-Фараби" not in html
    html = client.get("/?department=water").get_data(as_text=True)
    assert "Вода Аль-Фараби" in html and "Газ Абай" not in html
    assert 'href="/?district=al-farabi"' in html.replace("&amp;", "&") or "district=al-farabi" in html
    assert client.get("/?district=atlantis").status_code == 404


def test_state_words_follow_the_record(app, client):
    now = utcnow().replace(second=0, microsecond=0)
    with app.app_context():
        ann = create_announcement(
            status="published",
            starts_at=(now - timedelta(hours=1)).isoformat(),
            ends_at=(now + timedelta(days=3)).isoformat(),
        )
        ann_id = ann.id
    assert "Работы идут до" in client.get(f"/announcements/{ann_id}?lang=ru").get_data(as_text=True)
    with app.app_context():
        from announcements.models import Announcement

        ann = db.session.get(Announcement, ann_id)
        service.extend(staff("water.editor"), ann, now, (ann.ends_at + timedelta(days=1)).isoformat(), "Порыв трубы")
        db.session.commit()
    ru = client.get(f"/announcements/{ann_id}?lang=ru").get_data(as_text=True)
    kk = client.get(f"/announcements/{ann_id}?lang=kk").get_data(as_text=True)
    assert "Продлено до" in ru and "Порыв трубы" in ru
    assert "дейін ұзартылды" in kk
    with app.app_context():
        ann = db.session.get(Announcement, ann_id)
        service.complete(staff("water.editor"), ann, now)
        db.session.commit()
        restored_at = ann.completed_at.astimezone(ZoneInfo("Asia/Almaty")).strftime("%H:%M")
    ru = client.get(f"/a/{ann_id}?lang=ru").get_data(as_text=True)
    assert f"Восстановлено в {restored_at}" in ru
    assert "Қалпына келтірілді: " + restored_at in client.get(f"/a/{ann_id}?lang=kk").get_data(as_text=True)
    with app.app_context():
        other = create_announcement(status="cancelled")
    assert "Отменено" in client.get(f"/announcements/{other.id}?lang=ru").get_data(as_text=True)


def test_language_choice_is_remembered(client):
    response = client.get("/lang/kk?next=/announcements/1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/announcements/1"
    assert 'lang="kk"' in client.get("/").get_data(as_text=True)
    client.get("/lang/ru")
    assert 'lang="ru"' in client.get("/").get_data(as_text=True)


def test_language_switch_never_redirects_off_site(client):
    assert client.get("/lang/kk?next=https://evil.example/").headers["Location"] == "/"
    assert client.get("/lang/kk?next=//evil.example/").headers["Location"] == "/"


def test_browser_language_is_the_default(client):
    html = client.get("/", headers={"Accept-Language": "kk-KZ,kk;q=0.9"}).get_data(as_text=True)
    assert 'lang="kk"' in html
    html = client.get("/", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    assert 'lang="ru"' in html


def test_pagination(app, client):
    app.config["PAGE_SIZE"] = 2
    with app.app_context():
        for i in range(5):
            create_announcement(status="published", title={"ru": f"Объявление {i}", "kk": f"Хабарландыру {i}"})
    assert client.get("/?page=3").status_code == 200
    assert client.get("/?page=4").status_code == 404
    assert client.get("/?page=0").status_code == 404
    assert 'rel="next"' in client.get("/?page=1").get_data(as_text=True)


def test_draft_and_missing_announcements_are_404(app, client):
    with app.app_context():
        ann_id = create_announcement(status="pending_approval").id
    assert client.get(f"/announcements/{ann_id}").status_code == 404
    assert client.get("/announcements/424242").status_code == 404
    assert client.get("/a/424242").status_code == 404


def test_healthz_is_503_when_the_database_is_unreachable():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    with app.app_context():
        db.engine.dispose()


def test_security_headers(client):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_livez_answers_without_the_database():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    response = app.test_client().get("/livez")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "OK")
