"""Working days and legal deadlines: 15 working days to answer, Kazakhstan public holidays excluded."""

from datetime import date, datetime, time, timedelta
from functools import lru_cache

import holidays
from flask import current_app

from notifier.timeutil import local_zone


@lru_cache(maxsize=32)
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("KZ", years=year)


def is_working_day(day: date) -> bool:
    """Return whether the day is a working day (Monday–Friday, not a public holiday or its substitute)."""
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """Return the date `days` working days after `start` (start itself does not count)."""
    day = start
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return day


def due_after(registered: datetime, days: int) -> datetime:
    """Return the end (23:59 local) of the `days`-th working day after registration."""
    local = registered.astimezone(local_zone())
    last = add_working_days(local.date(), days)
    return datetime.combine(last, time(23, 59), tzinfo=local_zone())


def answer_due(registered: datetime) -> datetime:
    """Return the deadline to answer an appeal (APPEAL_ANSWER_DAYS working days, 15 by law)."""
    return due_after(registered, current_app.config["APPEAL_ANSWER_DAYS"])


def forward_due(registered: datetime) -> datetime:
    """Return the deadline to forward an appeal to the competent department (3 working days)."""
    return due_after(registered, current_app.config["APPEAL_FORWARD_DAYS"])


def next_opening(department, now: datetime) -> datetime | None:
    """Return when the department's staff next read appeals, or None if they are at work now."""
    local = now.astimezone(local_zone())
    for offset in range(0, 15):
        day = local.date() + timedelta(days=offset)
        if str(day.isoweekday()) not in department.work_days or day in _holidays(day.year):
            continue
        start = datetime.combine(day, department.work_start, tzinfo=local_zone())
        end = datetime.combine(day, department.work_end, tzinfo=local_zone())
        if offset == 0 and start <= local < end:
            return None
        if local < start:
            return start
    return None
