"""Announcement records and the events of their lifecycle."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from notifier.auth import StaffUser
from notifier.db import UTCDateTime, db, utcnow
from notifier.directory import Department, District

DRAFT = "draft"
PENDING = "pending_approval"
SCHEDULED = "scheduled"
PUBLISHED = "published"
COMPLETED = "completed"
CANCELLED = "cancelled"
STATUSES = (DRAFT, PENDING, SCHEDULED, PUBLISHED, COMPLETED, CANCELLED)
PUBLIC_STATUSES = (PUBLISHED, COMPLETED, CANCELLED)

KINDS = ("planned_outage", "emergency_outage", "repair_works", "reform_notice", "information")
OUTAGE_KINDS = ("planned_outage", "emergency_outage")
LANGS = ("kk", "ru")

announcement_districts = Table(
    "announcement_districts",
    db.Model.metadata,
    Column("announcement_id", ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True),
    Column("district_id", ForeignKey("districts.id"), primary_key=True, index=True),
)


class Announcement(db.Model):
    """One structured record from which every channel is rendered."""

    __tablename__ = "announcements"
    __table_args__ = (
        Index("ix_announcements_status_starts_at", "status", "starts_at"),
        Index("ix_announcements_status_published_at", "status", "published_at"),
        Index("ix_announcements_ends_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    streets: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title_ru: Mapped[str] = mapped_column(String(200), default="")
    title_kk: Mapped[str] = mapped_column(String(200), default="")
    body_ru: Mapped[str] = mapped_column(Text, default="")
    body_kk: Mapped[str] = mapped_column(Text, default="")
    publish_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default=DRAFT, index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    # Claimed by the one worker that creates the evening-before reminder.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped on every change: iCal SEQUENCE and the feeds' ETag follow it.
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)
    districts: Mapped[list[District]] = relationship(
        secondary=announcement_districts, order_by=District.id, lazy="selectin"
    )
    author: Mapped[StaffUser] = relationship(foreign_keys=[author_id])
    approved_by: Mapped[StaffUser | None] = relationship(foreign_keys=[approved_by_id])
    events: Mapped[list["AnnouncementEvent"]] = relationship(
        back_populates="announcement", order_by="AnnouncementEvent.id", cascade="all, delete-orphan"
    )

    def title(self, lang: str) -> str:
        """Return the title in the language, falling back to the other one."""
        return (self.title_kk or self.title_ru) if lang == "kk" else (self.title_ru or self.title_kk)

    def body(self, lang: str) -> str:
        """Return the body in the language, falling back to the other one."""
        return (self.body_kk or self.body_ru) if lang == "kk" else (self.body_ru or self.body_kk)

    @property
    def is_public(self) -> bool:
        return self.published_at is not None and self.status in PUBLIC_STATUSES

    @property
    def is_outage(self) -> bool:
        return self.kind in OUTAGE_KINDS


class AnnouncementEvent(db.Model):
    """One step of an announcement's life: who, when, what changed and why."""

    __tablename__ = "announcement_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    old: Mapped[dict] = mapped_column(JSON, default=dict)
    new: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    # Events residents see on the public page and are told about by SMS.
    public: Mapped[bool] = mapped_column(Boolean, default=False)

    announcement: Mapped[Announcement] = relationship(back_populates="events")
    actor: Mapped[StaffUser | None] = relationship()
