"""Local time of the region: parsing staff input and formatting for SMS."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def local_zone() -> ZoneInfo:
    """Return the configured TIMEZONE (Asia/Almaty by default)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def to_local(value: datetime) -> datetime:
    """Return an aware datetime in local time."""
    return value.astimezone(local_zone())


def parse_datetime(raw: str | None) -> datetime | None:
    """Parse ISO 8601 (with an offset, or naive meaning local time) into aware UTC.

    Raises ValueError on text that is not a date and time.
    """
    if raw is None or str(raw).strip() == "":
        return None
    text = str(raw).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=local_zone())
    if value.year < 2000 or value.year > 2100:
        raise ValueError("year out of range")
    return value.astimezone(UTC)
