from datetime import UTC, datetime

import pytest

from notifier.quiet import quiet_until

ALMATY = "+05:00"


def at(local: str) -> datetime:
    return datetime.fromisoformat(local + ALMATY).astimezone(UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        ("2026-12-01T21:59", None),
        ("2026-12-01T22:00", "2026-12-02T08:00"),
        ("2026-12-01T23:30", "2026-12-02T08:00"),
        ("2026-12-02T00:10", "2026-12-02T08:00"),
        ("2026-12-02T07:59", "2026-12-02T08:00"),
        ("2026-12-02T08:00", None),
        ("2026-12-02T13:00", None),
    ],
)
def test_overnight_quiet_hours(ctx, now, until):
    result = quiet_until(at(now))
    assert result == (at(until) if until else None)


def test_daytime_window_and_switched_off(ctx):
    ctx.config["QUIET_HOURS"] = "13:00-14:00"
    assert quiet_until(at("2026-12-01T13:30")) == at("2026-12-01T14:00")
    assert quiet_until(at("2026-12-01T14:00")) is None
    ctx.config["QUIET_HOURS"] = "off"
    assert quiet_until(at("2026-12-01T23:00")) is None
