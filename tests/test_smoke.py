from tests.factories import create_announcement


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_public_page_shows_published(app, client):
    with app.app_context():
        create_announcement(status="published", title={"ru": "Вода по ул. Абая", "kk": "Абай көшесіндегі су"})
    page = client.get("/?lang=ru").get_data(as_text=True)
    assert "Вода по ул. Абая" in page
