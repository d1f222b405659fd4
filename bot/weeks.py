"""ISO weeks in a schedule's time zone, and the scheduled minute of a week (DST through zoneinfo)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@dataclass(frozen=True)
class Week:
    year: int
    week: int

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def bounds(self, tz: str = "UTC") -> tuple[datetime, datetime]:
        """[Monday 00:00, next Monday 00:00) in `tz`, as UTC datetimes."""
        zone = ZoneInfo(tz)
        start = datetime.combine(self.monday(), time(0), tzinfo=zone)
        end = datetime.combine(self.monday() + timedelta(days=7), time(0), tzinfo=zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def previous(self, n: int = 1) -> Week:
        return week_of(self.monday() - timedelta(weeks=n))

    def next(self) -> Week:
        return week_of(self.monday() + timedelta(weeks=1))

    def span_label(self) -> str:
        mon = self.monday()
        sun = mon + timedelta(days=6)
        if mon.month == sun.month:
            return f"{mon:%b} {mon.day}–{sun.day}"
        return f"{mon:%b} {mon.day}–{sun:%b} {sun.day}"


def week_of(d: date) -> Week:
    y, w, _ = d.isocalendar()
    return Week(y, w)


def week_at(now: datetime, tz: str = "UTC") -> Week:
    """The ISO week `now` falls in, in zone `tz`."""
    return week_of(now.astimezone(ZoneInfo(tz)).date())


def parse_week(text: str) -> Week:
    """'2026-W47' -> Week; ValueError with a clear message otherwise."""
    m = re.fullmatch(r"(\d{4})-?W(\d{1,2})", text.strip(), re.IGNORECASE)
    if not m:
        raise ValueError(f"“{text}” is not an ISO week: write it as YYYY-Www, e.g. 2026-W47")
    y, w = int(m.group(1)), int(m.group(2))
    try:
        date.fromisocalendar(y, w, 1)
    except ValueError:
        raise ValueError(f"{y} has no week {w}") from None
    return Week(y, w)


def valid_tz(name: str) -> bool:
    if not re.fullmatch(r"[A-Za-z_+\-0-9/]+", name):
        return False
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def scheduled_at(week: Week, weekday: int, hour: int, minute: int, tz: str) -> datetime:
    """The UTC moment of the schedule's minute in `week` (wall-clock time in `tz`)."""
    day = week.monday() + timedelta(days=weekday)
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(tz)).astimezone(UTC)
