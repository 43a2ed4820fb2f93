"""The staff dashboard, its CSV and the public statistics, against a small dataset built here."""

import csv
import io
import re
from collections import Counter
from datetime import timedelta

import pytest
from lxml import html

from announcements.models import Announcement, AnnouncementEvent
from appeals import stats
from appeals.models import Appeal
from notifier.db import db, utcnow
from notifier.directory import department_by_slug
from notifier.outbox_models import OutboxMessage
from notifier.timeutil import to_local
from tests.factories import login, staff

DAY, HOUR = timedelta(days=1), timedelta(hours=1)
PHONES = ("+77011110001", "+77011110002", "+77011110003")


def _district_id(slug):
    from notifier.directory import districts_by_slugs

    return districts_by_slugs([slug])[0][0].id if slug else None


def create_appeal(now, n, department, district, status, created, due, answered=None, closed=None, phone=PHONES[0]):
    """Add an appeal with exact times, offsets from now; `answered`/`closed` are offsets from creation."""
    dep = department_by_slug(department) if department else None
    at = now + created
    appeal = Appeal(
        number=f"26-9{n:05d}", phone=phone, status=status, department_id=dep.id if dep else None,
        district_id=_district_id(district), created_at=at, last_message_at=at, due_at=now + due,
        first_answer_at=at + answered if answered is not None else None,
        closed_at=at + closed if closed is not None else None,
    )  # fmt: skip
    db.session.add(appeal)
    return appeal


def create_outage(now, department, kind, districts, status, starts, hours, published, completed=None):
    """Add an announcement in a given state, times as offsets from now; `completed` is an offset from its end."""
    ends = now + starts + timedelta(hours=hours)
    ann = Announcement(
        department_id=department_by_slug(department).id, kind=kind, starts_at=now + starts, ends_at=ends,
        title_ru="Работы", title_kk="Жұмыс", body_ru="Текст", body_kk="Мәтін", status=status,
        author_id=staff(f"{department}.editor").id, published_at=now + published,
        completed_at=ends + completed if completed is not None else None,
        cancelled_at=now if status == "cancelled" else None,
    )  # fmt: skip
    from notifier.directory import districts_by_slugs

    ann.districts = districts_by_slugs(list(districts))[0]
    db.session.add(ann)
    db.session.flush()
    return ann


def create_sms(ann, now, statuses, created=-DAY):
    """Add the announcement's 'published' event and one outbox row per status."""
    event = AnnouncementEvent(announcement_id=ann.id, kind="published", at=now + created, public=True)
    db.session.add(event)
    db.session.flush()
    for i, status in enumerate(statuses):
        db.session.add(
            OutboxMessage(
                event_id=event.id,
                subscriber_id=1000 + i,
                phone=PHONES[1],
                status=status,
                created_at=now + created,
                next_attempt_at=now + created,
            )  # fmt: skip
        )


@pytest.fixture
def dataset(app):
    """Eight appeals, seven outages and announcements, and their SMS; returns the `now` they are relative to."""
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        create_appeal(now, 1, "gas", "abay", "answered", -25 * DAY, -4 * DAY, answered=2 * HOUR, closed=2 * HOUR)
        create_appeal(now, 2, "gas", "abay", "resolved", -28 * DAY, -8 * DAY, answered=22 * DAY, closed=23 * DAY)
        create_appeal(now, 3, "gas", "turan", "new", -3 * DAY, 18 * DAY)
        create_appeal(now, 4, "water", "turan", "in_progress", -26 * DAY, -5 * DAY)  # overdue, late
        create_appeal(now, 5, "water", None, "rejected", -15 * DAY, 6 * DAY, closed=5 * HOUR)
        create_appeal(now, 6, "heating", "abay", "answered", -40 * DAY, -19 * DAY, answered=4 * HOUR, closed=4 * HOUR)
        create_appeal(now, 7, None, None, "new", -DAY, 20 * DAY, phone=PHONES[2])
        create_appeal(now, 8, "heating", "turan", "answered", -2 * DAY, 19 * DAY, answered=10 * HOUR, closed=10 * HOUR)
        o1 = create_outage(now, "water", "planned_outage", ["abay"], "completed", -10 * DAY, 6, -11 * DAY, -HOUR)
        create_outage(now, "gas", "emergency_outage", ["abay", "turan"], "completed", -30 * DAY - 2 * HOUR, 5,
                      -31 * DAY, 5 * HOUR)  # fmt: skip
        o3 = create_outage(now, "electricity", "planned_outage", ["turan"], "published", -2 * HOUR, 6, -DAY)
        create_outage(now, "heating", "planned_outage", ["abay"], "cancelled", -5 * DAY, 8, -6 * DAY)
        create_outage(now, "water", "planned_outage", ["abay"], "completed", -365 * DAY - HOUR, 3, -366 * DAY, -HOUR)
        create_outage(now, "water", "planned_outage", ["turan"], "published", DAY, 4, -2 * HOUR)
        create_outage(now, "water", "repair_works", ["abay"], "completed", -3 * DAY, 4, -4 * DAY, 0 * HOUR)
        create_sms(o1, now, ["delivered"] * 3 + ["sent", "failed", "failed", "queued"])
        create_sms(o1, now, ["delivered"], created=-40 * DAY)  # before the period
        create_sms(o3, now, ["delivered", "failed"])
        db.session.add(OutboxMessage(phone=PHONES[0], purpose="appeal_ack", status="delivered", created_at=now - DAY))
        db.session.commit()
    return now


def period_of(now):
    return stats.last_days(to_local(now).date(), 30)


def test_appeal_figures_by_department_district_status(ctx, dataset):
    now, period = dataset, period_of(dataset)
    total = stats.appeal_figures(period, now)[None]
    assert (total.received, total.open, total.overdue, total.on_time, total.late) == (7, 3, 1, 2, 2)
    assert total.on_time_rate == 50.0 and total.median_hours == 7.5
    by_dep = {(d.slug if d else None): f for d, f in _by_department(period, now).items()}
    figures = {k: (f.received, f.open, f.overdue, f.on_time, f.late, f.median_hours) for k, f in by_dep.items()}
    assert figures == {
        "gas": (3, 1, 0, 1, 1, 265.0),
        "water": (2, 1, 1, 0, 1, 5.0),
        "heating": (1, 0, 0, 1, 0, 10.0),
        None: (1, 1, 0, 0, 0, None),
    }
    by_district = stats.appeal_figures(period, now, Appeal.district_id)
    assert {k: f.received for k, f in by_district.items() if f.received} == {
        _district_id("abay"): 2, _district_id("turan"): 3, None: 2,
    }  # fmt: skip
    assert stats.appeals_by_status(period) == {
        "new": 2, "in_progress": 1, "answered": 2, "resolved": 1, "forwarded": 0, "rejected": 1,
    }  # fmt: skip


def _by_department(period, now):
    from notifier.directory import Department

    figures = stats.appeal_figures(period, now, Appeal.department_id)
    return {(db.session.get(Department, k) if k else None): f for k, f in figures.items()}


def test_weekly_counts_follow_local_weeks(ctx, dataset):
    period = period_of(dataset)
    created = [a.created_at for a in db.session.scalars(db.select(Appeal)) if a.created_at >= period.start]
    expected = Counter(to_local(at).date() - timedelta(days=to_local(at).weekday()) for at in created)
    weeks = stats.weekly_received(period)
    assert {monday: n for monday, n in weeks if n} == expected
    assert weeks[0][0] <= period.first < weeks[0][0] + timedelta(days=7) and weeks[-1][0] <= period.last
    assert all(monday.weekday() == 0 for monday, _n in weeks)


def test_announcements_and_sms_by_department(ctx, dataset):
    period = period_of(dataset)
    ids = {slug: department_by_slug(slug).id for slug in ("water", "electricity", "heating")}
    assert stats.announcements_by_department_kind(period) == {
        (ids["water"], "planned_outage"): 2, (ids["water"], "repair_works"): 1,
        (ids["electricity"], "planned_outage"): 1, (ids["heating"], "planned_outage"): 1,
    }  # fmt: skip
    assert stats.sms_by_department(period) == {
        (ids["water"], "delivered"): 3, (ids["water"], "sent"): 1, (ids["water"], "failed"): 2,
        (ids["water"], "queued"): 1, (ids["electricity"], "delivered"): 1, (ids["electricity"], "failed"): 1,
    }  # fmt: skip


def test_outage_hours_are_clipped_to_the_windows_and_skip_cancelled(ctx, dataset):
    hours = stats.outage_hours(dataset)
    abay, turan = _district_id("abay"), _district_id("turan")
    assert hours == {
        (abay, "planned_outage"): {30: 5.0, 365: 6.0},  # restored an hour early; a year-old one clipped to 1 h
        (abay, "emergency_outage"): {30: 3.0, 365: 5.0},  # cut by the 30-day edge; a late "restored" adds nothing
        (turan, "emergency_outage"): {30: 3.0, 365: 5.0},  # one outage, two districts: counted for each
        (turan, "planned_outage"): {30: 2.0, 365: 2.0},  # going on: counted until now
    }


def table(page: str, table_id: str) -> dict[str, dict[str, str]]:
    """Return a figures table as {row key: {metric: shown text}}."""
    rows = html.fromstring(page).get_element_by_id(table_id).findall(".//tbody/tr")
    return {
        row.get("data-key"): {td.get("data-metric"): td.text_content().strip() for td in row.findall("td")}
        for row in rows
    }


def test_staff_dashboard_shows_the_figures(client, dataset):
    login(client, "water.editor")
    response = client.get("/staff/dashboard?lang=ru")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    departments = table(page, "departments-table")
    assert departments["gas"] == {
        "received": "3", "open": "1", "overdue": "0", "on_time": "1", "late": "1", "on_time_rate": "50",
        "median_hours": "265",
    }  # fmt: skip
    assert departments["queue"]["received"] == "1" and departments["land"]["on_time_rate"] == "—"
    assert departments["water"]["median_hours"] == "5" and departments["heating"]["on_time_rate"] == "100"
    assert {k: v["received"] for k, v in table(page, "districts-table").items()} == {
        "abay": "2", "al-farabi": "0", "enbekshi": "0", "karatau": "0", "turan": "3", "none": "2",
    }  # fmt: skip
    assert table(page, "statuses-table")["in_progress"] == {"received": "1"}
    assert table(page, "sms-table")["water"] == {
        "delivered": "3",
        "sent": "1",
        "failed": "2",
        "other": "1",
        "total": "7",
    }
    assert table(page, "announcements-table")["water"]["total"] == "3"
    tree = html.fromstring(page)
    kpis = {key: tree.get_element_by_id(f"kpi-{key}").text_content().strip() for key in ("received", "overdue")}
    assert kpis == {"received": "7", "overdue": "1"}
    assert "50 %" in tree.get_element_by_id("kpi-on-time").text_content()
    assert "7,5" in tree.get_element_by_id("kpi-median").text_content()
    weeks = table(page, "weeks-table")
    assert sum(int(v["received"]) for v in weeks.values()) == 7


def test_charts_are_inline_svg_images_with_their_numbers(client, dataset):
    login(client, "operator")
    for url, count in (("/staff/dashboard?lang=ru", 6), ("/stats?lang=ru", 3)):
        tree = html.fromstring(client.get(url).get_data(as_text=True))
        charts = tree.xpath("//svg")
        assert len(charts) == count
        for svg in charts:
            assert svg.get("role") == "img"
            title = tree.get_element_by_id(svg.get("aria-labelledby"))
            assert title.tag == "title" and re.search(r"\d", title.text_content())
        assert not tree.xpath("//script")
    dashboard = html.fromstring(client.get("/staff/dashboard?lang=ru").get_data(as_text=True))
    assert "Газоснабжение 3" in dashboard.get_element_by_id("departments-chart-title").text_content()


def test_csv_has_a_bom_and_one_figure_per_line(app, client, dataset):
    login(client, "operator")
    with app.app_context():
        today = to_local(dataset).date()
    first, last = (today - timedelta(days=29)).isoformat(), today.isoformat()
    response = client.get(f"/staff/dashboard.csv?from={first}&to={last}&lang=ru")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0] == ["section", "key", "name", "metric", "value"]
    assert ["period", "", "", "from", first] in rows and ["period", "", "", "to", last] in rows
    assert ["summary", "", "", "median_hours", "7.5"] in rows
    assert ["departments", "gas", "Газоснабжение", "received", "3"] in rows
    assert ["departments", "land", "Управление земельных отношений", "on_time_rate", ""] in rows
    assert ["sms", "water", "Водоснабжение", "failed", "2"] in rows
    assert ["districts", "turan", "Туран", "overdue", "1"] in rows
    assert all(len(row) == 5 for row in rows)


def test_staff_pages_need_a_login_and_statistics_do_not(client, dataset):
    for url in ("/staff/dashboard", "/staff/dashboard.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert client.get("/stats").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-02-30", "from"),
        ("to=yesterday", "to"),
        ("from=2026-05-01&to=2026-04-01", "from"),  # the start after the end
        ("from=2020-01-01&to=2026-01-01", "from"),  # more than 366 days
    ],
)
def test_a_bad_period_is_a_form_error(client, query, field):
    login(client, "gas.editor")
    response = client.get(f"/staff/dashboard?{query}&lang=ru")
    assert response.status_code == 400
    tree = html.fromstring(response.get_data(as_text=True))
    assert tree.get_element_by_id(f"period-{field}").get("aria-invalid") == "true"
    assert tree.get_element_by_id(f"period-{field}-error").text_content().strip()
    assert not tree.xpath("//svg") and not tree.xpath("//table")
    assert client.get(f"/staff/dashboard.csv?{query}").status_code == 400


def test_public_statistics_in_both_languages_without_personal_data(client, dataset):
    for lang, name in (("ru", "Газоснабжение"), ("kk", "Газбен жабдықтау")):
        page = client.get(f"/stats?lang={lang}").get_data(as_text=True)
        assert f'lang="{lang}"' in page and name in page
        assert not re.search(r"\+?7\d{10}", page) and not any(p in page for p in PHONES)
    page = client.get("/stats?lang=ru").get_data(as_text=True)
    assert table(page, "departments-table")["gas"] == {
        "received": "3", "decided": "2", "on_time": "1", "on_time_rate": "50", "median_hours": "265",
    }  # fmt: skip
    outages = table(page, "outages-table")
    assert outages["abay"] == {
        "planned_outage_30": "5", "emergency_outage_30": "3", "planned_outage_365": "6", "emergency_outage_365": "5",
    }  # fmt: skip
    assert outages["turan"]["planned_outage_30"] == "2" and outages["karatau"]["planned_outage_365"] == "0"
    assert client.get("/stats?days=365").status_code == 200
    assert client.get("/stats?days=7").status_code == 404
