"""Departments (with working hours) and districts: the region as data."""

from datetime import time

from sqlalchemy import String, Time, select
from sqlalchemy.orm import Mapped, mapped_column

from notifier.db import db


class Department(db.Model):
    """A department that publishes announcements and answers appeals."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_ru: Mapped[str] = mapped_column(String(200))
    name_kk: Mapped[str] = mapped_column(String(200))
    # ISO weekdays on which staff work, as digits: "123456" is Monday to Saturday.
    work_days: Mapped[str] = mapped_column(String(7), default="123456")
    work_start: Mapped[time] = mapped_column(Time, default=time(9))
    work_end: Mapped[time] = mapped_column(Time, default=time(19))

    def name(self, lang: str) -> str:
        """Return the name in the given language (kk or ru)."""
        return self.name_kk if lang == "kk" else self.name_ru


class District(db.Model):
    """A district residents subscribe to and announcements target."""

    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_ru: Mapped[str] = mapped_column(String(200))
    name_kk: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(40), default="shymkent")

    def name(self, lang: str) -> str:
        """Return the name in the given language (kk or ru)."""
        return self.name_kk if lang == "kk" else self.name_ru


def all_departments() -> list[Department]:
    """Return every department ordered by slug."""
    return list(db.session.scalars(select(Department).order_by(Department.id)))


def all_districts() -> list[District]:
    """Return every district ordered by slug."""
    return list(db.session.scalars(select(District).order_by(District.id)))


def department_by_slug(slug: str) -> Department | None:
    """Return the department with this slug, or None."""
    return db.session.scalar(select(Department).where(Department.slug == slug))


def departments_by_slug() -> dict[str, Department]:
    """Return every department keyed by its slug."""
    return {department.slug: department for department in all_departments()}


def districts_by_slugs(slugs: list[str]) -> tuple[list[District], list[str]]:
    """Return the districts found for the slugs and the slugs that were unknown."""
    found = list(db.session.scalars(select(District).where(District.slug.in_(slugs))))
    known = {d.slug for d in found}
    return found, [s for s in slugs if s not in known]


DEMO_DEPARTMENTS = [
    ("gas", "Газоснабжение", "Газбен жабдықтау", "123456", time(9), time(19)),
    ("electricity", "Электроснабжение", "Электрмен жабдықтау", "123456", time(9), time(19)),
    ("water", "Водоснабжение", "Сумен жабдықтау", "123456", time(9), time(19)),
    ("heating", "Теплоснабжение", "Жылумен жабдықтау", "123456", time(9), time(19)),
    (
        "housing",
        "Городской отдел ЖКХ",
        "Қалалық тұрғын үй-коммуналдық шаруашылық бөлімі",
        "123456",
        time(9),
        time(19),
    ),
    ("land", "Управление земельных отношений", "Жер қатынастары басқармасы", "1234567", time(8), time(20)),
]

DEMO_DISTRICTS = [
    ("abay", "Абайский", "Абай"),
    ("al-farabi", "Аль-Фарабийский", "Әл-Фараби"),
    ("enbekshi", "Енбекшинский", "Еңбекші"),
    ("karatau", "Каратауский", "Қаратау"),
    ("turan", "Туран", "Тұран"),
]


def ensure_reference_data() -> None:
    """Insert or update the demo departments and districts (idempotent)."""
    for slug, ru, kk, days, start, end in DEMO_DEPARTMENTS:
        dep = department_by_slug(slug) or Department(slug=slug)
        dep.name_ru, dep.name_kk, dep.work_days, dep.work_start, dep.work_end = ru, kk, days, start, end
        db.session.add(dep)
    for slug, ru, kk in DEMO_DISTRICTS:
        dist = db.session.scalar(select(District).where(District.slug == slug)) or District(slug=slug)
        dist.name_ru, dist.name_kk = ru, kk
        db.session.add(dist)
    db.session.flush()
