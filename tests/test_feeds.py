"""Public RSS, Atom and iCal feeds: what a feed reader or calendar app receives."""

from datetime import UTC, datetime, timedelta

import feedparser
import pytest
from icalendar import Calendar
from lxml import etree
from sqlalchemy import event

from announcements import service
from announcements.models import Announcement
from notifier.db import db, utcnow
from tests.factories import create_announcement, staff

BASE = "http://localhost:5000"
KINDS = ("rss", "atom", "ics")
XML_KINDS = ("rss", "atom")
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "ics": "text/calendar; charset=utf-8",
}
XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"


def make(app, status="published", **overrides) -> int:
    """Create an announcement through the lifecycle service and return its id."""
    with app.app_context():
        return create_announcement(status=status, **overrides).id


def snapshot(app, ann_id: int) -> dict:
    """Return the fields of the record the feeds are checked against."""
    with app.app_context():
        ann = db.session.get(Announcement, ann_id)
        return {"starts_at": ann.starts_at, "ends_at": ann.ends_at, "version": ann.version}


def extend(app, ann_id: int, minutes_later: int = 5) -> datetime:
    """Extend the works by two hours, a few minutes from now; return the new end."""
    with app.app_context():
        ann = db.session.get(Announcement, ann_id)
        new_end = ann.ends_at + timedelta(hours=2)
        now = utcnow() + timedelta(minutes=minutes_later)
        service.extend(staff("water.editor"), ann, now, new_end.isoformat(), "Замена задвижки")
        db.session.commit()
        return new_end


def cancel(app, ann_id: int) -> None:
    with app.app_context():
        ann = db.session.get(Announcement, ann_id)
        service.cancel(staff("water.editor"), ann, utcnow() + timedelta(minutes=5), "Работы перенесены")
        db.session.commit()


def get(client, kind: str, query: str = "", **kwargs):
    response = client.get(f"/feeds/announcements.{kind}{query}", **kwargs)
    assert response.status_code == 200, response.data[:300]
    return response


def parsed(client, kind: str, query: str = ""):
    feed = feedparser.parse(get(client, kind, query).data)
    assert not feed.bozo, feed.get("bozo_exception")
    return feed


def calendar(client, query: str = "") -> Calendar:
    return Calendar.from_ical(get(client, "ics", query).data)


def events(client, query: str = "") -> dict[str, object]:
    return {str(ev["UID"]): ev for ev in calendar(client, query).walk("VEVENT")}


def ids(client, kind: str, query: str = "") -> list[int]:
    """Return the announcement ids in the feed, in the feed's order."""
    if kind == "ics":
        uids = [str(ev["UID"]) for ev in calendar(client, query).walk("VEVENT")]
        return [int(uid.split("@")[0].removeprefix("announcement-")) for uid in uids]
    return [int(entry.id.rsplit("/", 1)[1]) for entry in parsed(client, kind, query).entries]


def xml(response):
    return etree.fromstring(response.data, etree.XMLParser(resolve_entities=False, no_network=True))


def localname(element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


@pytest.mark.parametrize("kind", KINDS)
def test_content_type_and_cache_headers(app, client, kind):
    make(app)
    response = get(client, kind)
    assert response.headers["Content-Type"] == CONTENT_TYPES[kind]
    assert response.cache_control.public and response.cache_control.max_age == 60
    assert response.headers["ETag"].startswith('"')  # strong, not W/"…"
    assert response.last_modified is not None


@pytest.mark.parametrize("kind", XML_KINDS)
@pytest.mark.parametrize(
    ("lang", "title", "district", "department"),
    [
        pytest.param("kk", "Судың өшірілуі ңғүұқөһі ӘҒҚҢӨҰҮҺІ", "Әл-Фараби", "Сумен жабдықтау", id="kk"),
        pytest.param("ru", "Отключение воды: ёЁъЪ", "Аль-Фарабийский", "Водоснабжение", id="ru"),
    ],
)
def test_feed_text_is_in_the_chosen_language(app, client, kind, lang, title, district, department):
    make(app, title={"kk": "Судың өшірілуі ңғүұқөһі ӘҒҚҢӨҰҮҺІ", "ru": "Отключение воды: ёЁъЪ"})
    response = get(client, kind, f"?lang={lang}")
    feed = feedparser.parse(response.data)
    assert not feed.bozo
    assert feed.feed.language == lang
    (entry,) = feed.entries
    assert title in entry.title
    assert district in entry.summary and department in entry.summary
    assert title.encode() in response.data  # UTF-8 letters, not character references


@pytest.mark.parametrize(
    ("lang", "text"), [pytest.param("kk", "Судың өшірілуі", id="kk"), pytest.param("ru", "Отключение воды", id="ru")]
)
def test_ical_text_is_in_the_chosen_language(app, client, lang, text):
    make(app)
    response = get(client, "ics", f"?lang={lang}")
    (vevent,) = Calendar.from_ical(response.data).walk("VEVENT")
    assert text in str(vevent["SUMMARY"])
    assert ("Әл-Фараби" if lang == "kk" else "Аль-Фарабийский") in str(vevent["LOCATION"])


def test_language_from_the_cookie_varies_the_response(app, client):
    make(app)
    russian = get(client, "atom", "?lang=ru")
    client.set_cookie("lang", "kk")
    kazakh = get(client, "atom")
    assert "Судың өшірілуі" in feedparser.parse(kazakh.data).entries[0].title
    assert kazakh.headers["ETag"] != russian.headers["ETag"]
    assert "Cookie" in kazakh.headers["Vary"] and "Accept-Language" in kazakh.headers["Vary"]


@pytest.mark.parametrize("kind", KINDS)
def test_filters_by_district_and_department(app, client, kind):
    water_farabi = make(app)
    gas_abay = make(app, author="gas.editor", department="gas", districts=["abay"])
    water_abay = make(app, districts=["abay"])
    assert set(ids(client, kind)) == {water_farabi, gas_abay, water_abay}
    assert ids(client, kind, "?district=al-farabi") == [water_farabi]
    assert ids(client, kind, "?department=gas") == [gas_abay]
    assert ids(client, kind, "?district=abay&department=water") == [water_abay]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("query", ["?district=atlantis", "?department=magic", "?district=abay&department=magic"])
def test_unknown_filter_is_not_found(client, kind, query):
    assert client.get(f"/feeds/announcements.{kind}{query}").status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_only_public_announcements_appear(app, client, kind):
    public = {make(app), make(app, status="completed"), make(app, status="cancelled")}
    make(app, status="draft")
    make(app, status="pending_approval")
    make(app, status="scheduled", publish_at=(utcnow() + timedelta(hours=2)).isoformat())
    assert set(ids(client, kind)) == public


def test_newest_first_and_at_most_fifty(app, client):
    start = utcnow()
    created = [make(app, now=start + timedelta(minutes=i)) for i in range(52)]
    newest_fifty = list(reversed(created))[:50]
    assert ids(client, "rss") == newest_fifty
    assert ids(client, "atom") == newest_fifty
    assert sorted(ids(client, "ics")) == sorted(newest_fifty)


@pytest.mark.parametrize("kind", XML_KINDS)
def test_guid_is_the_stable_absolute_permalink(app, client, kind):
    ann_id = make(app)
    first = parsed(client, kind).entries[0]
    assert first.id == f"{BASE}/announcements/{ann_id}"
    assert first.link == f"{BASE}/announcements/{ann_id}"
    extend(app, ann_id)
    assert parsed(client, kind).entries[0].id == first.id


def test_rss_guid_is_marked_as_permalink(app, client):
    make(app)
    (guid,) = xml(get(client, "rss")).iter("guid")
    assert guid.get("isPermaLink") == "true"


@pytest.mark.parametrize("kind", XML_KINDS)
def test_links_are_absolute_whatever_the_request_host(app, client, kind):
    make(app)
    response = get(client, kind, "?district=al-farabi", base_url="http://attacker.example")
    urls = []
    for element in xml(response).iter():
        if element.get("href"):
            urls.append(element.get("href"))
        if localname(element) in ("link", "guid", "id") and element.text and element.text.strip():
            urls.append(element.text.strip())
    assert urls and all(url.startswith(f"{BASE}/") for url in urls), urls


def test_rss_channel_link_is_the_page_and_self_link_is_the_feed(app, client):
    make(app)
    feed = parsed(client, "rss", "?district=al-farabi&lang=kk")
    assert feed.feed.link == f"{BASE}/?district=al-farabi&lang=kk"
    self_links = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_links == [f"{BASE}/feeds/announcements.rss?district=al-farabi&lang=kk"]


@pytest.mark.parametrize("kind", XML_KINDS)
def test_feed_has_an_author(app, client, kind):
    make(app)
    assert parsed(client, kind, "?lang=ru").feed.author == "Хабарлама"
    assert parsed(client, kind, "?lang=kk").feed.author == "Хабарлама"


def test_atom_author_element_is_present(app, client):
    root = xml(get(client, "atom"))
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert root.findtext("a:author/a:name", namespaces=ns) == "Хабарлама"


def test_updated_moves_when_the_record_changes(app, client):
    ann_id = make(app)
    before = parsed(client, "atom")
    extend(app, ann_id)
    after = parsed(client, "atom")
    entry_before, entry_after = before.entries[0], after.entries[0]
    assert datetime.fromisoformat(entry_after.updated) > datetime.fromisoformat(entry_before.updated)
    assert entry_after.published == entry_before.published
    assert datetime.fromisoformat(after.feed.updated) > datetime.fromisoformat(before.feed.updated)


def test_empty_feed_is_stable(client):
    first, second = get(client, "atom"), get(client, "atom")
    assert first.data == second.data
    assert first.headers["ETag"] == second.headers["ETag"]
    assert first.last_modified == datetime(2026, 1, 1, tzinfo=UTC)
    assert feedparser.parse(first.data).entries == []


@pytest.mark.parametrize("kind", KINDS)
def test_conditional_get_answers_304_until_the_record_changes(app, client, kind):
    ann_id = make(app)
    first = get(client, kind, "?lang=ru")
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]

    same = client.get(f"/feeds/announcements.{kind}?lang=ru", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.data == b""
    assert same.headers["ETag"] == etag
    since = client.get(f"/feeds/announcements.{kind}?lang=ru", headers={"If-Modified-Since": last_modified})
    assert since.status_code == 304
    other = client.get(
        f"/feeds/announcements.{kind}?lang=ru", headers={"If-None-Match": '"other"', "If-Modified-Since": last_modified}
    )
    assert other.status_code == 200  # a mismatching ETag wins over the date

    extend(app, ann_id)
    changed = get(client, kind, "?lang=ru", headers={"If-None-Match": etag})
    assert changed.headers["ETag"] != etag and changed.data
    get(client, kind, "?lang=ru", headers={"If-Modified-Since": last_modified})


def test_etag_differs_by_feed_language_and_filters(app, client):
    make(app)
    tags = {
        get(client, kind, query).headers["ETag"]
        for kind in KINDS
        for query in ("?lang=ru", "?lang=kk", "?lang=ru&district=al-farabi", "?lang=ru&department=water")
    }
    assert len(tags) == 12


def test_not_modified_reads_only_the_fingerprint(app, client):
    make(app)
    url = "/feeds/announcements.rss?district=al-farabi&department=water"
    etag = get(client, "rss", "?district=al-farabi&department=water").headers["ETag"]
    with app.app_context():
        engine = db.engine
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.lower())

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(url, headers={"If-None-Match": etag})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert response.status_code == 304
    reading_announcements = [s for s in statements if "from announcements" in s]
    assert len(reading_announcements) == 1 and "limit" in reading_announcements[0]


def test_ical_event_is_the_works_window(app, client):
    ann_id = make(app)
    record = snapshot(app, ann_id)
    response = get(client, "ics", "?lang=ru")
    cal = Calendar.from_ical(response.data)
    assert str(cal["VERSION"]) == "2.0" and str(cal["METHOD"]) == "PUBLISH" and str(cal["PRODID"])
    assert str(cal["X-WR-CALNAME"]) == "Хабарлама — Объявления"
    (vevent,) = cal.walk("VEVENT")
    assert str(vevent["UID"]) == f"announcement-{ann_id}@localhost"
    assert vevent.decoded("DTSTART") == record["starts_at"] and vevent.decoded("DTSTART").tzinfo is not None
    assert vevent.decoded("DTEND") == record["ends_at"]
    assert str(vevent["URL"]) == f"{BASE}/announcements/{ann_id}"
    assert "ул. Байтурсынова" in str(vevent["LOCATION"])
    assert "Плановый ремонт водопровода." in str(vevent["DESCRIPTION"])
    assert int(vevent["SEQUENCE"]) == record["version"]
    assert str(vevent["STATUS"]) == "CONFIRMED"
    assert "DTSTAMP" in vevent and "LAST-MODIFIED" in vevent


def test_ical_extension_keeps_uid_and_raises_sequence(app, client):
    ann_id = make(app)
    uid = f"announcement-{ann_id}@localhost"
    before = events(client)[uid]
    new_end = extend(app, ann_id)
    after = events(client)[uid]
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTEND") == new_end
    assert after.decoded("LAST-MODIFIED") > before.decoded("LAST-MODIFIED")


def test_ical_cancellation_is_status_cancelled(app, client):
    ann_id = make(app)
    uid = f"announcement-{ann_id}@localhost"
    before = events(client)[uid]
    cancel(app, ann_id)
    after = events(client)[uid]
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])


@pytest.mark.parametrize("kind", XML_KINDS)
def test_markup_in_texts_stays_text(app, client, kind):
    make(app, title={"ru": XSS, "kk": XSS}, body={"ru": XSS, "kk": XSS}, streets=XSS)
    response = get(client, kind, "?lang=ru")
    assert b"<script" not in response.data and b"<img" not in response.data
    root = xml(response)
    assert not [el for el in root.iter() if localname(el) in ("script", "img")]
    titles = [el.text for el in root.iter() if localname(el) == "title" and el.text and XSS in el.text]
    assert titles, "the title should arrive as literal text"
