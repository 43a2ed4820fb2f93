"""A fresh, migrated database with demo data and thousands of announcements, and its removal."""

import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Connection, make_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BATCH = 1_000

# Share of the generated rows per status; "current" are published works now or in the next two weeks.
MIX = {"completed": 0.755, "cancelled": 0.155, "current": 0.03, "scheduled": 0.005, "pending": 0.015, "draft": 0.04}
STREETS = [
    "ул. Байтурсынова",
    "пр. Тауке хана",
    "ул. Толе би",
    "мкр. Нурсат",
    "ул. Рыскулова",
    "ул. Жибек жолы",
    "мкр. Самал-1",
    "ул. Казыбек би",
    "пр. Республики",
    "мкр. Кайтпас",
]
TITLES = {
    "planned_outage": ("Плановое отключение", "Жоспарлы өшіру"),
    "emergency_outage": ("Аварийное отключение", "Апаттық өшіру"),
    "repair_works": ("Ремонтные работы", "Жөндеу жұмыстары"),
    "reform_notice": ("Изменение тарифа", "Тарифтің өзгеруі"),
    "information": ("Информация для жителей", "Тұрғындарға ақпарат"),
}
BODY_RU = "Работы на сетях по адресу {street}, дома {a}–{b}. Просим заранее сделать запас. Справки: 1414."
BODY_KK = (
    "{street} мекенжайы бойынша желілердегі жұмыстар, {a}–{b} үйлер. Алдын ала қор жасауды сұраймыз. Анықтама: 1414."
)


@dataclass
class Database:
    """A database made for one benchmark run: its URL and how to remove it."""

    url: str
    kind: str
    drop: Callable[[], None]


def _sqlite() -> Database:
    folder = Path(tempfile.mkdtemp(prefix="habarlama-bench-"))
    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    return Database(url, "sqlite", lambda: shutil.rmtree(folder, ignore_errors=True))


def _postgres(server_url: str) -> Database:
    server = make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = server.set(database=name).render_as_string(hide_password=False)
    return Database(url, "postgresql", drop)


@contextmanager
def fresh_database(postgres_url: str | None) -> Iterator[Database]:
    """Create an empty database (a SQLite file, or a new PostgreSQL database) and remove it afterwards."""
    database = _postgres(postgres_url) if postgres_url else _sqlite()
    try:
        yield database
    finally:
        database.drop()


def prepare(url: str, rows: int, analyze: bool = False, seed: int = 1, log: Callable[[str], None] = print):
    """Migrate, load demo data, bulk-insert `rows` announcements; return row counts per status.

    PostgreSQL is analyzed, as autovacuum would soon after a bulk load; SQLite only when `analyze` is
    set, because nothing analyzes it in a default deployment.
    """
    from flask_migrate import upgrade

    from notifier import create_app
    from notifier.cli import load_demo_data
    from notifier.db import db

    started = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        load_demo_data()
        db.session.commit()
        log(f"  migrated and loaded demo data in {time.perf_counter() - started:.1f} s")
        with db.engine.begin() as conn:
            counts = insert_announcements(conn, rows, random.Random(seed), log)
        if analyze or db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                # PostgreSQL's autovacuum does this within a minute of a bulk load: do it now.
                conn.execute(text("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE"))
            log("  analyzed")
        db.engine.dispose()
    log(f"  database ready in {time.perf_counter() - started:.1f} s")
    return counts


def insert_announcements(conn: Connection, rows: int, rng: random.Random, log: Callable[[str], None]) -> dict[str, int]:
    """Insert announcements, their districts and events in batches with executemany."""
    from announcements.models import Announcement, AnnouncementEvent, announcement_districts
    from notifier.auth import APPROVER, EDITOR, StaffUser
    from notifier.directory import Department, District

    departments = list(conn.scalars(select(Department.id).order_by(Department.id)))
    districts = list(conn.scalars(select(District.id).order_by(District.id)))
    staff = conn.execute(select(StaffUser.id, StaffUser.role, StaffUser.department_id)).all()
    editors = {dep: uid for uid, role, dep in staff if role == EDITOR}
    approvers = {dep: uid for uid, role, dep in staff if role == APPROVER}
    statuses = rng.choices(list(MIX), weights=list(MIX.values()), k=rows)
    now = datetime.now(UTC).replace(microsecond=0)
    ann_insert = insert(Announcement.__table__).returning(Announcement.__table__.c.id, sort_by_parameter_order=True)
    counts: dict[str, int] = {}
    started = time.perf_counter()
    for offset in range(0, rows, BATCH):
        records = []
        for label in statuses[offset : offset + BATCH]:
            department = rng.choice(departments)
            ann, events = _announcement(label, department, editors[department], approvers[department], now, rng)
            records.append((ann, events, rng.sample(districts, rng.choice((1, 1, 2)))))
            counts[ann["status"]] = counts.get(ann["status"], 0) + 1
        ids = conn.execute(ann_insert, [ann for ann, _e, _d in records]).scalars().all()
        links, events = [], []
        for ann_id, (_ann, ann_events, ann_districts) in zip(ids, records, strict=True):
            links += [{"announcement_id": ann_id, "district_id": d} for d in ann_districts]
            events += [{**event, "announcement_id": ann_id} for event in ann_events]
        conn.execute(insert(announcement_districts), links)
        conn.execute(insert(AnnouncementEvent.__table__), events)
        done = min(offset + BATCH, rows)
        log(f"  {done:>6,} / {rows:,} announcements ({time.perf_counter() - started:.1f} s)")
    return counts


def _announcement(label: str, department: int, author: int, approver: int, now: datetime, rng: random.Random):
    """Return one announcement row and its events, consistent with the lifecycle of `label`."""
    kind = rng.choices(list(TITLES), weights=(5, 2, 3, 1, 1))[0]
    hours = timedelta(hours=rng.randint(2, 12))
    if label in ("completed", "cancelled"):
        starts = now - timedelta(minutes=rng.randint(3 * 60, 365 * 24 * 60))
    elif label == "current":
        starts = now + timedelta(minutes=rng.randint(-2 * 24 * 60, 14 * 24 * 60))
        hours = max(hours, now - starts + timedelta(hours=1))  # the works have not ended yet
    else:
        starts = now + timedelta(minutes=rng.randint(24 * 60, 30 * 24 * 60))
    ends = starts + hours
    street = rng.choice(STREETS)
    a = rng.randint(1, 80)
    title_ru, title_kk = TITLES[kind]
    row = {
        "department_id": department,
        "kind": kind,
        "urgent": kind == "emergency_outage",
        "streets": f"{street}, {a}–{a + rng.randint(2, 30)}",
        "starts_at": starts,
        "ends_at": ends,
        "title_ru": f"{title_ru}: {street}",
        "title_kk": "" if rng.random() < 0.05 else f"{title_kk}: {street}",  # a few are Russian only
        "body_ru": BODY_RU.format(street=street, a=a, b=a + 20),
        "body_kk": BODY_KK.format(street=street, a=a, b=a + 20),
        "publish_at": None,
        "author_id": author,
        "approved_by_id": None,
        "published_at": None,
        "completed_at": None,
        "cancelled_at": None,
        "extended": False,
    }
    created = min(starts, now) - timedelta(days=rng.uniform(1, 5))
    steps = [("created", created, {}, {"kind": kind}, False)]
    status, version, at = "draft", 0, created
    if label == "draft":
        steps.append(("edited", created + timedelta(minutes=30), {}, {"streets": row["streets"]}, False))
        version, at = 1, created + timedelta(minutes=30)
    elif label == "cancelled" and rng.random() < 0.2:  # withdrawn before anyone published it
        at = created + timedelta(hours=2)
        steps.append(("cancelled", at, {"status": "draft"}, {"status": "cancelled"}, False))
        status, version, row["cancelled_at"] = "cancelled", 1, at
    else:
        at = created + timedelta(hours=1)
        steps.append(("submitted", at, {"status": "draft"}, {"status": "pending_approval"}, False))
        status, version = "pending_approval", 1
    if status == "pending_approval" and label != "pending":
        at = created + timedelta(hours=3)
        row["approved_by_id"] = approver
        if label == "scheduled":
            row["publish_at"] = starts - timedelta(days=1)
            steps.append(("approved", at, {"status": status}, {"status": "scheduled"}, False))
            status, version = "scheduled", 2
        else:
            steps.append(("approved", at, {"status": status}, {"status": "published"}, False))
            steps.append(("published", at, {"status": status}, {"status": "published"}, True))
            status, version, row["published_at"] = "published", 2, at
            at, version, status = _after_publication(label, row, steps, at, version, now, rng)
    row.update(status=status, version=version, created_at=created, updated_at=at)
    events = [
        {"kind": k, "actor_id": author if k in ("created", "edited", "submitted") else approver, "at": when}
        | {"old": old, "new": new, "reason": "", "public": public}
        for k, when, old, new, public in steps
    ]
    return row, events


def _after_publication(label, row, steps, at, version, now, rng):
    """Record an extension, the restoration or the cancellation; return (last change, version, status)."""
    if rng.random() < 0.1 and (label != "current" or row["starts_at"] < now):
        old_end, row["ends_at"] = row["ends_at"], row["ends_at"] + timedelta(hours=rng.randint(1, 4))
        at = min(old_end - timedelta(minutes=30), now)
        change = ({"ends_at": old_end.isoformat()}, {"ends_at": row["ends_at"].isoformat()})
        steps.append(("extended", at, *change, True))
        row["extended"], version = True, version + 1
    if label == "completed":
        at = row["completed_at"] = min(row["ends_at"] + timedelta(minutes=rng.randint(-60, 90)), now)
        steps.append(("completed", at, {"status": "published"}, {"status": "completed"}, True))
        return at, version + 1, "completed"
    if label == "cancelled":
        at = row["cancelled_at"] = min(row["starts_at"] - timedelta(hours=rng.randint(1, 20)), now)
        at = max(at, row["published_at"])
        row["cancelled_at"] = at
        steps.append(("cancelled", at, {"status": "published"}, {"status": "cancelled"}, True))
        return at, version + 1, "cancelled"
    return at, version, "published"
