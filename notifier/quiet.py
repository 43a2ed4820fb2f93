"""Quiet hours (QUIET_HOURS in local TIMEZONE): when non-urgent SMS wait, and until when."""

from datetime import datetime, time, timedelta

from flask import current_app

from notifier.timeutil import local_zone


def _bounds() -> tuple[time, time] | None:
    spec = (current_app.config.get("QUIET_HOURS") or "").strip()
    if not spec or spec.lower() in ("off", "none"):
        return None
    start, _sep, end = spec.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def quiet_until(now: datetime) -> datetime | None:
    """Return when the current quiet period ends (aware), or None if now is not quiet."""
    bounds = _bounds()
    if bounds is None:
        return None
    start, end = bounds
    local = now.astimezone(local_zone())
    t = local.time()
    if start > end:  # overnight, e.g. 22:00-08:00
        if not (t >= start or t < end):
            return None
        end_day = local.date() if t < end else local.date() + timedelta(days=1)
    else:
        if not (start <= t < end):
            return None
        end_day = local.date()
    return datetime.combine(end_day, end, tzinfo=local_zone())
