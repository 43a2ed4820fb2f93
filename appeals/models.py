"""Appeals, their messages and their history."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from announcements.models import Announcement
from notifier.auth import StaffUser
from notifier.db import UTCDateTime, db, utcnow
from notifier.directory import Department, District

NEW, IN_PROGRESS, ANSWERED, RESOLVED, FORWARDED, REJECTED = (
    "new",
    "in_progress",
    "answered",
    "resolved",
    "forwarded",
    "rejected",
)
STATUSES = (NEW, IN_PROGRESS, ANSWERED, RESOLVED, FORWARDED, REJECTED)
OPEN_STATUSES = (NEW, IN_PROGRESS, FORWARDED)
CLOSED_STATUSES = (ANSWERED, RESOLVED, REJECTED)
CHANNELS = ("sms", "phone", "in_person", "web", "api")


class Appeal(db.Model):
    """One resident's question or complaint, with its registration number and legal deadline."""

    __tablename__ = "appeals"
    __table_args__ = (
        Index("ix_appeals_phone_status", "phone", "status"),
        Index("ix_appeals_department_status", "department_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)  # set from the id right after insert
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2), default="ru")
    channel: Mapped[str] = mapped_column(String(10), default="sms")
    status: Mapped[str] = mapped_column(String(12), default=NEW, index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"))
    announcement_id: Mapped[int | None] = mapped_column(ForeignKey("announcements.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    extended_reason: Mapped[str] = mapped_column(Text, default="")
    first_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    department: Mapped[Department | None] = relationship()
    district: Mapped[District | None] = relationship()
    announcement: Mapped[Announcement | None] = relationship()
    assigned_to: Mapped[StaffUser | None] = relationship(foreign_keys=[assigned_to_id])
    messages: Mapped[list["AppealMessage"]] = relationship(back_populates="appeal", order_by="AppealMessage.id")
    events: Mapped[list["AppealEvent"]] = relationship(back_populates="appeal", order_by="AppealEvent.id")


class AppealMessage(db.Model):
    """A message in an appeal's thread: from the resident (in) or from staff (out)."""

    __tablename__ = "appeal_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_sms.id"), unique=True)
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    appeal: Mapped[Appeal] = relationship(back_populates="messages")
    staff: Mapped[StaffUser | None] = relationship()


class AppealEvent(db.Model):
    """One step of an appeal's life: who, when, what and why."""

    __tablename__ = "appeal_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    appeal_id: Mapped[int] = mapped_column(ForeignKey("appeals.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    old: Mapped[dict] = mapped_column(JSON, default=dict)
    new: Mapped[dict] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")

    appeal: Mapped[Appeal] = relationship(back_populates="events")
    actor: Mapped[StaffUser | None] = relationship()
