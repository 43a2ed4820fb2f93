"""Queued SMS, the gateway requests that carry them, and the dispatch switch staff can see."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Boolean, Index, Integer, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from notifier.db import UTCDateTime, db, utcnow

# Message statuses. Rows move by conditional UPDATE; only forward (see ALLOWED below).
QUEUED, HELD, SENDING, SENT, DELIVERED, FAILED, CANCELLED = (
    "queued",
    "held",
    "sending",
    "sent",
    "delivered",
    "failed",
    "cancelled",
)
PENDING_STATUSES = (QUEUED, HELD)
FINAL_STATUSES = (DELIVERED, FAILED, CANCELLED)
ALLOWED_STATUS_TRANSITIONS = {
    QUEUED: {HELD, SENDING, CANCELLED, FAILED},
    HELD: {QUEUED, CANCELLED},
    SENDING: {SENT, FAILED, QUEUED, DELIVERED},
    SENT: {DELIVERED, FAILED},
    DELIVERED: set(),
    FAILED: set(),
    CANCELLED: set(),
}

# Batch (gateway request) statuses.
B_SENDING, B_SENT, B_UNCERTAIN, B_FAILED, B_HALTED = "sending", "sent", "uncertain", "failed", "halted"


class SmsBatch(db.Model):
    """One gateway request: one text to up to N phones, under our own unique request id."""

    __tablename__ = "sms_batches"
    __table_args__ = (Index("ix_sms_batches_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(40), unique=True)
    gateway: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=B_SENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(60), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    parts: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxMessage(db.Model):
    """One SMS to one phone. For announcement events, (event, subscriber) is unique: never twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("event_id", "subscriber_id", name="uq_outbox_event_subscriber"),
        # Only messages still to go (hold, release, retry); sent ones leave it. Partial on PostgreSQL
        # only: SQLite cannot tell that status = 'held' implies the IN list, and would not use it.
        Index(
            "ix_outbox_pending",
            "status",
            "next_attempt_at",
            postgresql_where=text("status IN ('queued', 'held')"),
        ),
        # The daily budget (before every dispatch) and the status poller: "sent since …".
        Index(
            "ix_outbox_sent_at",
            "sent_at",
            postgresql_where=text("sent_at IS NOT NULL"),
            sqlite_where=text("sent_at IS NOT NULL"),
        ),
        # The claim's order, only over the queue: without it each claim sorted the whole backlog.
        Index(
            "ix_outbox_queued",
            "urgent",
            "id",
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
        Index("ix_outbox_batch", "batch_id"),
        Index("ix_outbox_phone_created", "phone", "created_at"),
        # One entry per resident ever: "has this resident been told how to stop?" (not if it was
        # cancelled or failed: the status is here so that is answered from the index alone). Query it
        # with the bare column: each predicate is what SQLAlchemy renders for it on that database.
        Index(
            "ix_outbox_stop_hint",
            "subscriber_id",
            "status",
            postgresql_where=text("with_stop_hint"),
            sqlite_where=text("with_stop_hint = 1"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # No foreign keys on these two: PostgreSQL checks them with a trigger per row, which made a
    # 200,000-row fan-out ~1.8× slower. Events and subscribers are never deleted (residents stop).
    event_id: Mapped[int | None] = mapped_column(Integer)
    subscriber_id: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2), default="ru")
    purpose: Mapped[str] = mapped_column(String(20), default="announcement")
    # Direct messages carry their text; announcement rows get theirs when claimed (from the current record).
    text: Mapped[str | None] = mapped_column(Text)
    with_stop_hint: Mapped[bool] = mapped_column(Boolean, default=False)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # No foreign key either (migration 0008): a trigger per row made claiming a third slower. A request's
    # row is written before its messages point at it, and never deleted.
    batch_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    parts: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    batch: Mapped[SmsBatch | None] = relationship(primaryjoin="foreign(OutboxMessage.batch_id) == SmsBatch.id")


class DispatchSwitch(db.Model):
    """Why dispatch is paused (auth, no money, IP blocked, budget), until when; one row per cause."""

    __tablename__ = "dispatch_switches"

    cause: Mapped[str] = mapped_column(String(20), primary_key=True)
    paused_until: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[str] = mapped_column(Text, default="")
    since: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GatewaySlot(db.Model):
    """A gateway limit every worker shares: when the next call of its kind is allowed (one row per kind)."""

    __tablename__ = "gateway_slots"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    free_at: Mapped[datetime] = mapped_column(UTCDateTime)
