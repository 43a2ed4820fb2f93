"""Subscribers, what they follow, confirmation codes and the audit of phone lookups."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from notifier.db import UTCDateTime, db, utcnow
from notifier.directory import Department, District

PENDING, ACTIVE, STOPPED = "pending", "active", "stopped"

subscriber_districts = Table(
    "subscriber_districts",
    db.Model.metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("district_id", ForeignKey("districts.id"), primary_key=True),
    # Fan-out starts from the district: "who follows al-farabi?"
    Index("ix_subscriber_districts_district", "district_id", "subscriber_id"),
)

subscriber_departments = Table(
    "subscriber_departments",
    db.Model.metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("department_id", ForeignKey("departments.id"), primary_key=True),
    Index("ix_subscriber_departments_department", "department_id", "subscriber_id"),
)


class Subscriber(db.Model):
    """One resident's phone (E.164), language and state."""

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    language: Mapped[str] = mapped_column(String(2), default="ru")
    status: Mapped[str] = mapped_column(String(10), default=PENDING, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    districts: Mapped[list[District]] = relationship(secondary=subscriber_districts, order_by=District.id)
    departments: Mapped[list[Department]] = relationship(secondary=subscriber_departments, order_by=Department.id)


class ConfirmationCode(db.Model):
    """A 6-digit code sent by SMS, with the preferences it will apply when confirmed."""

    __tablename__ = "confirmation_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str] = mapped_column(String(12))  # subscribe | unsubscribe
    code_hash: Mapped[str] = mapped_column(String(64))
    # The preferences to apply on confirmation: {"districts": [...], "departments": [...], "language": "kk"}
    payload: Mapped[str] = mapped_column(Text, default="{}")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PhoneLookup(db.Model):
    """Audit log: which staff member looked up which phone, when."""

    __tablename__ = "phone_lookups"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    phone: Mapped[str] = mapped_column(String(40))
    found: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    staff = relationship("StaffUser")
