"""Small create_* helpers that build data through the real services."""

from datetime import timedelta

from announcements import service
from notifier.auth import user_by_email
from notifier.cli import DEMO_DOMAIN, DEMO_PASSWORD
from notifier.db import db, utcnow

PASSWORD = DEMO_PASSWORD


def staff(name: str):
    """Return a demo staff user: staff('water.editor'), staff('admin'), …"""
    return user_by_email(f"{name}@{DEMO_DOMAIN}")


def email(name: str) -> str:
    return f"{name}@{DEMO_DOMAIN}"


def announcement_input(**overrides) -> dict:
    """Return a valid announcement body in the API's shape (starts tomorrow)."""
    start = utcnow().replace(microsecond=0) + timedelta(days=1)
    data = {
        "department": "water",
        "kind": "planned_outage",
        "urgent": False,
        "districts": ["al-farabi"],
        "streets": "ул. Байтурсынова 1–15",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=8)).isoformat(),
        "title": {"ru": "Отключение воды", "kk": "Судың өшірілуі"},
        "body": {"ru": "Плановый ремонт водопровода.", "kk": "Су құбырын жоспарлы жөндеу."},
        "publish_at": None,
    }
    data.update(overrides)
    return data


def create_announcement(author="water.editor", status="draft", now=None, **overrides):
    """Create an announcement and walk it to the wanted status through the service."""
    now = now or utcnow()
    user = staff(author) if isinstance(author, str) else author
    ann = service.create_draft(user, announcement_input(**overrides), now)
    dep = ann.department.slug
    approver = staff(f"{dep}.approver")
    if status in ("pending_approval", "scheduled", "published", "completed", "cancelled"):
        service.submit(user, ann, now)
    if status in ("scheduled", "published", "completed", "cancelled"):
        service.approve(approver, ann, now)
    if status in ("completed",):
        service.complete(user, ann, now)
    if status == "cancelled":
        service.cancel(user, ann, now, "Работы перенесены")
    db.session.commit()
    assert ann.status == status, (ann.status, status)
    return ann


def login(client, name: str):
    """Sign a demo staff member in through the real login form."""
    response = client.post("/staff/login", data={"email": email(name), "password": PASSWORD})
    assert response.status_code == 302, response.data[:500]
    return response


def create_subscriber(phone: str, districts=("al-farabi",), departments=None, language="ru", status="active"):
    """Add a confirmed subscriber directly (the web flow is tested on its own)."""
    from notifier.directory import all_departments, all_districts
    from subscribers.models import Subscriber

    deps = [d for d in all_departments() if departments is None or d.slug in departments]
    dists = [d for d in all_districts() if d.slug in districts]
    subscriber = Subscriber(phone=phone, language=language, status=status, districts=dists, departments=deps)
    db.session.add(subscriber)
    db.session.commit()
    return subscriber
