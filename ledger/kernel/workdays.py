"""Counting days as China does: calendar days, or working days.

A town chooses with the parameter ``case.calendar``:

- ``calendar`` (default): every day counts;
- ``working_days``: Monday to Friday, minus the dates the town lists in ``case.holidays``
  (the rule of earlier releases: it misses the weekend make-up working days, 调休);
- ``china``: the State Council's statutory holidays **and** make-up working days (调休上班),
  from the ``chinese-calendar`` package (data for 2004 to its last published year), plus the
  town's own additions: ``case.holidays`` (extra days off) and ``case.workdays`` (extra
  working days). For a year the package has no data for, Monday to Friday is used with the
  town's lists, and the calendar's label says so.

Every due date a case records carries the label of the calendar that counted it
(:attr:`WorkCalendar.label`), so an auditor can tell which calendar a limit was counted in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

CALENDARS = ("calendar", "working_days", "china")


@lru_cache(maxsize=1)
def _package() -> tuple[Any, str, int, int] | None:
    """The chinese-calendar module, its version and the years it has data for; or None."""
    try:
        import chinese_calendar
        from chinese_calendar import constants
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    years = sorted({d.year for d in constants.holidays} | {d.year for d in constants.workdays})
    version = str(getattr(chinese_calendar, "__version__", "?"))
    return chinese_calendar, version, years[0], years[-1]


def _dates(raw: Any) -> frozenset[date]:
    text = ",".join(raw) if isinstance(raw, list) else str(raw or "")
    return frozenset(date.fromisoformat(d.strip()) for d in text.split(",") if d.strip())


@dataclass(frozen=True)
class WorkCalendar:
    """How days are counted for time limits."""

    kind: str
    """``calendar``, ``working_days`` or ``china``."""
    holidays: frozenset[date] = frozenset()
    """The town's own days off."""
    workdays: frozenset[date] = frozenset()
    """The town's own extra working days (``china`` only)."""

    def is_working_day(self, day: date) -> bool:
        """Whether *day* counts towards a limit."""
        if self.kind == "calendar":
            return True
        if day in self.holidays:
            return False
        if self.kind == "china":
            if day in self.workdays:
                return True
            package = _package()
            if package is not None and package[2] <= day.year <= package[3]:
                return bool(package[0].is_workday(day))
        return day.weekday() < 5

    def add(self, start: date, days: int) -> date:
        """*start* plus *days* counted days (the day after *start* is the first)."""
        if self.kind == "calendar":
            return start + timedelta(days=days)
        day, left = start, days
        while left > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def count_between(self, start: date, end: date) -> int:
        """Counted days after *start* up to and including *end* (0 if *end* ≤ *start*)."""
        n, day = 0, start
        while day < end:
            day += timedelta(days=1)
            n += 1 if self.is_working_day(day) else 0
        return n

    @property
    def label(self) -> str:
        """Which calendar this is, in words an auditor can check."""
        extra = (f"; town holidays: {len(self.holidays)}" if self.holidays else "") + (
            f"; town working days: {len(self.workdays)}" if self.workdays else "")
        if self.kind == "calendar":
            return "calendar days"
        if self.kind == "working_days":
            return f"working days: Monday-Friday{extra}"
        package = _package()
        source = (f"chinese-calendar {package[1]} ({package[2]}-{package[3]}; other years "
                  "Monday-Friday)" if package else "Monday-Friday (chinese-calendar missing)")
        return f"working days: China statutory holidays and make-up days, {source}{extra}"


def calendar_of(parameters: dict[str, Any]) -> WorkCalendar:
    """The calendar a town's parameters select (see the module)."""
    kind = str(parameters.get("case.calendar") or "calendar")
    if kind not in CALENDARS:
        kind = "calendar"
    return WorkCalendar(kind, _dates(parameters.get("case.holidays")),
                        _dates(parameters.get("case.workdays")) if kind == "china"
                        else frozenset())
