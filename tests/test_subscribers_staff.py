"""Staff views of subscribers: counts and charts, the audited phone lookup, and real recipient counts in previews."""

import pytest
from lxml import html
from sqlalchemy import select

from notifier import outbox
from notifier.auth import issue_token
from notifier.db import db, utcnow
from notifier.limits import limiter
from subscribers.models import PhoneLookup
from tests.factories import announcement_input, create_subscriber, login, staff

LOOKUP = "/staff/subscribers/lookup"


@pytest.fixture(autouse=True)
def fresh_limits(app):
    """Start with empty rate-limit counters, whatever ran before."""
    limiter.reset()


@pytest.fixture
def dataset(app):
    """Three active subscribers and a stopped one (who must not be counted)."""
    with app.app_context():
        create_subscriber("+77011111111", ("al-farabi", "abay"), ("water", "gas"), "kk")
        create_subscriber("+77012222222", ("al-farabi",), None, "ru")
        create_subscriber("+77013333333", ("turan",), ("water",), "ru")
        create_subscriber("+77014444444", ("al-farabi",), ("water",), "kk", status="stopped")


def table(page: str, table_id: str) -> dict[str, int]:
    """Return the rows of a counts table as {name: number}."""
    rows = html.fromstring(page).get_element_by_id(table_id).findall(".//tbody/tr")
    return {row.find("th").text_content().strip(): int(row.find("td").text_content()) for row in rows}


def audits(app) -> list[tuple[str, str, bool]]:
    with app.app_context():
        rows = db.session.scalars(select(PhoneLookup).order_by(PhoneLookup.id))
        return [(row.staff.email.split("@")[0], row.phone, row.found) for row in rows]


def test_counts_of_active_subscribers_by_district_service_and_language(client, dataset):
    login(client, "gas.editor")
    response = client.get("/staff/subscribers?lang=ru")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert table(page, "districts-table") == {
        "Абайский": 1,
        "Аль-Фарабийский": 2,
        "Енбекшинский": 0,
        "Каратауский": 0,
        "Туран": 1,
    }
    departments = table(page, "departments-table")
    assert (departments["Газоснабжение"], departments["Водоснабжение"], departments["Электроснабжение"]) == (2, 3, 1)
    assert table(page, "languages-table") == {"Казахский": 1, "Русский": 2}
    assert "Активные подписчики: <strong>3</strong>" in page


def test_charts_are_inline_svg_with_a_text_alternative(client, dataset):
    login(client, "operator")
    tree = html.fromstring(client.get("/staff/subscribers?lang=ru").get_data(as_text=True))
    charts = tree.xpath("//svg")
    assert len(charts) == 3
    for svg in charts:
        assert svg.get("role") == "img"
        title = tree.get_element_by_id(svg.get("aria-labelledby"))
        assert title.tag == "title" and title.text_content()
    assert "Аль-Фарабийский 2" in tree.get_element_by_id("districts-chart-title").text_content()
    assert "<script" not in html.tostring(tree, encoding="unicode")


def test_counts_page_is_for_signed_in_staff_only(client):
    response = client.get("/staff/subscribers")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]


@pytest.mark.parametrize("who", ["water.editor", "water.approver", "gas.approver"])
def test_lookup_is_refused_to_editors_and_approvers(app, client, dataset, who):
    login(client, who)
    assert client.get(LOOKUP, query_string={"phone": "+77011111111"}).status_code == 403
    assert "/staff/subscribers/lookup" not in client.get("/staff/subscribers").get_data(as_text=True)
    assert audits(app) == []


@pytest.mark.parametrize("who", ["operator", "admin"])
def test_lookup_shows_the_subscription_and_records_every_lookup(app, client, dataset, who):
    login(client, who)
    found = client.get(LOOKUP, query_string={"phone": "8 701 111 11 11", "lang": "ru"})
    assert found.status_code == 200
    page = found.get_data(as_text=True)
    assert "+77011111111" in page and "Получает уведомления" in page and "Казахский" in page
    assert "Абайский" in page and "Водоснабжение" in page
    missing = client.get(LOOKUP, query_string={"phone": "+77019999999"})
    assert missing.status_code == 200
    not_a_phone = client.get(LOOKUP, query_string={"phone": "12345"})
    assert not_a_phone.status_code == 200
    assert audits(app) == [(who, "+77011111111", True), (who, "+77019999999", False), (who, "12345", False)]


def test_lookup_without_a_phone_asks_for_one_and_records_nothing(app, client):
    login(client, "operator")
    response = client.get(LOOKUP, query_string={"phone": "  "})
    assert response.status_code == 422 and 'id="phone-error"' in response.get_data(as_text=True)
    assert audits(app) == []


def test_lookup_lists_the_latest_twenty_messages(app, client, dataset):
    with app.app_context():
        for n in range(25):
            outbox.enqueue("+77012222222", f"reply {n}", "ru", f"purpose-{n:02d}", utcnow(), urgent=True)
        outbox.enqueue("+77013333333", "someone else", "ru", "purpose-other", utcnow(), urgent=True)
        db.session.commit()
    login(client, "admin")
    page = client.get(LOOKUP, query_string={"phone": "+77012222222"}).get_data(as_text=True)
    assert page.count("purpose-") == 20
    assert "purpose-24" in page and "purpose-04" not in page and "purpose-other" not in page


def test_lookup_escapes_what_was_typed(client):
    login(client, "operator")
    page = client.get(LOOKUP, query_string={"phone": "<script>x</script>"}).get_data(as_text=True)
    assert "<script>x</script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_sms_preview_counts_the_real_audience_and_its_cost(app, client):
    with app.app_context():
        for n in range(2):
            create_subscriber(f"+7701000000{n}", ("al-farabi",), ("water",), "kk")
        for n in range(3):
            create_subscriber(f"+7702000000{n}", ("al-farabi", "abay"), ("water", "gas"), "ru")
        create_subscriber("+77030000001", ("abay",), ("water",), "ru")  # another district
        create_subscriber("+77030000002", ("al-farabi",), ("gas",), "kk")  # another service
        create_subscriber("+77030000003", ("al-farabi",), ("water",), "ru", status="stopped")
        token = issue_token(staff("water.editor"))
        db.session.commit()
    created = client.post(
        "/api/v1/announcements", json=announcement_input(), headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status_code == 201
    preview = created.json["sms_preview"]
    languages = preview["languages"]
    assert preview["recipients"] == 5
    assert (languages["kk"]["recipients"], languages["ru"]["recipients"]) == (2, 3)
    price = preview["price_per_part"]
    expected = 2 * languages["kk"]["parts"] * price + 3 * languages["ru"]["parts"] * price
    assert preview["estimated_cost"] == pytest.approx(round(expected, 2))
    login(client, "water.editor")
    page = client.get(f"/staff/announcements/{created.json['id']}").get_data(as_text=True)
    section = html.fromstring(page).xpath("//section[@class='preview']")[0]
    assert section.find(".//p/strong").text_content() == "5"
    assert f"{expected:.2f}" in section.text_content()
