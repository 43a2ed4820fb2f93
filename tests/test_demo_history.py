"""`flask demo-data --history`: a few months of believable history, added once, that the figures pages show."""

from sqlalchemy import func, select

from announcements.models import Announcement
from appeals.models import Appeal
from notifier.db import db
from notifier.directory import Department
from notifier.outbox_models import OutboxMessage
from subscribers.models import Subscriber
from tests.factories import login
from tests.test_dashboard import table

MODELS = (Subscriber, Announcement, OutboxMessage, Appeal)


def counts(app) -> dict[str, int]:
    with app.app_context():
        return {model.__tablename__: db.session.scalar(select(func.count(model.id))) for model in MODELS}


def test_history_is_added_once_in_the_contact_centres_proportions(app, runner):
    first = runner.invoke(args=["demo-data", "--history"])
    assert first.exit_code == 0, first.output
    for stage in ("subscribers:", "announcements:", "announcement SMS:", "appeals:"):
        assert stage in first.output
    added = counts(app)
    assert 300 <= added["subscribers"] <= 1000 and 100 <= added["announcements"] <= 200
    assert 400 <= added["appeals"] <= 800 and added["outbox"] > added["subscribers"]
    second = runner.invoke(args=["demo-data", "--history"])
    assert second.exit_code == 0 and "already loaded" in second.output
    assert counts(app) == added
    assert "Demo history" not in runner.invoke(args=["demo-data"]).output  # tests never get it unasked
    with app.app_context():
        per_department = dict(
            db.session.execute(
                select(Department.slug, func.count(Appeal.id))
                .select_from(Appeal)
                .join(Appeal.department)
                .group_by(Department.slug)
            ).all()
        )
        assert per_department["heating"] > per_department["electricity"] > per_department["water"]
        assert per_department["water"] > per_department["gas"] and per_department["housing"] > per_department["gas"]
        statuses = dict(
            db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
        )
        assert statuses.keys() == {"delivered", "sent", "failed"} and statuses["delivered"] > statuses["failed"]
        announcements = dict(
            db.session.execute(select(Announcement.status, func.count()).group_by(Announcement.status)).all()
        )
        assert announcements["completed"] > announcements["cancelled"] > 0 and announcements["published"] > 0
        numbers = db.session.scalars(select(Appeal.number)).all()
        assert all(n and n[2] == "-" and len(n) == 9 for n in numbers)


def test_history_refuses_a_real_gateway(app, runner):
    app.config["SMS_GATEWAY"] = "smsc"
    result = runner.invoke(args=["demo-data", "--history"])
    assert result.exit_code != 0 and "SMS_GATEWAY=log" in result.output
    assert counts(app)["appeals"] == 0


def test_dashboard_and_statistics_show_the_history(client, runner):
    assert runner.invoke(args=["demo-data", "--history"]).exit_code == 0
    login(client, "admin")
    page = client.get("/staff/dashboard?lang=ru").get_data(as_text=True)
    departments = table(page, "departments-table")
    assert int(departments["heating"]["received"]) > 0 and departments["heating"]["median_hours"] != "—"
    assert int(table(page, "sms-table")["water"]["delivered"]) > 0
    assert client.get("/staff/dashboard.csv").status_code == 200
    stats = client.get("/stats?days=365&lang=kk").get_data(as_text=True)
    outages = table(stats, "outages-table")
    assert any(float(row["planned_outage_365"].replace(",", ".").replace("\xa0", "")) > 0 for row in outages.values())
    assert table(stats, "departments-table")["heating"]["on_time_rate"] != "—"
