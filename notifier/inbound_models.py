"""Inbound SMS as they reached us: stored before we answer the gateway, unique on its id."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from notifier.db import UTCDateTime, db, utcnow

NEW, HANDLED = "new", "handled"


class InboundSms(db.Model):
    """One SMS a resident sent us; the gateway's id makes a repeated callback or poll a no-op."""

    __tablename__ = "inbound_sms"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    gateway_id: Mapped[str] = mapped_column(String(40), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    text: Mapped[str] = mapped_column(Text)
    to_phone: Mapped[str] = mapped_column(String(20), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default=NEW, index=True)
    raw: Mapped[dict] = mapped_column(JSON, default=dict)
