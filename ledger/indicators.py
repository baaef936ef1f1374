"""Indicators the ledger measures from its own events (平安社区协同治理指标).

The town defines its indicators (``appraisal.define_indicator``); one measured from the ledger
names a calculator registered here by its ``measure`` code. A calculator takes the ledger, the
town, the year and a community and returns a value (``Decimal``) or ``None`` when there is
nothing to measure (no items due that year, say). Domains register their calculators with
:func:`calculator` when they land — cases and warnings add ``case_closure_rate``,
``case_overdue_rate`` and ``warnings_<colour>`` this way, without touching this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from sqlalchemy import and_, select

if TYPE_CHECKING:
    from ledger.application import GovernanceLedger

Measure = Callable[["GovernanceLedger", str, int, str], "Decimal | None"]


@dataclass(frozen=True)
class Calculator:
    """One way of measuring an indicator from the ledger."""

    code: str
    unit: str
    zh: str
    en: str
    function: Measure


#: Every calculator, by measure code.
INDICATOR_CALCULATORS: dict[str, Calculator] = {}


def calculator(code: str, unit: str, zh: str, en: str) -> Callable[[Measure], Measure]:
    """Decorator: register a calculator under *code*."""

    def deco(fn: Measure) -> Measure:
        if code in INDICATOR_CALCULATORS:
            raise TypeError(f"indicator calculator {code!r} registered twice")
        INDICATOR_CALCULATORS[code] = Calculator(code, unit, zh, en, fn)
        return fn

    return deco


def percent(part: int, whole: int) -> Decimal | None:
    """*part* of *whole* in percent, two places (``None`` when *whole* is 0)."""
    if whole == 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def measure(ledger: GovernanceLedger, code: str, town: str, year: int,
            community: str) -> Decimal | None:
    """The value of calculator *code* for *community* in *year*."""
    return INDICATOR_CALCULATORS[code].function(ledger, town, year, community)


# ---------------------------------------------------------------------------- deliberation
def _items_due(ledger: GovernanceLedger, year: int, community: str) -> list[tuple[str, str | None]]:
    from ledger.projections.deliberation import items

    ledger.catch_up("deliberation")
    start, end = f"{year}-01-01", f"{year}-12-31"
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(items.c.due, items.c.completed_on).where(and_(
            items.c.community == community, items.c.due >= start, items.c.due <= end))).all()
    return [(r[0], r[1]) for r in rows]


@calculator("resolution_completion_rate", "%", "决议事项按期完成率",
            "resolution items completed on time")
def resolution_completion_rate(ledger: GovernanceLedger, town: str, year: int,
                               community: str) -> Decimal | None:
    """Items due in the year completed on or before their due date, in percent."""
    rows = _items_due(ledger, year, community)
    return percent(sum(1 for due, done in rows if done is not None and done <= due), len(rows))


@calculator("resolution_overdue_rate", "%", "决议事项逾期率", "resolution items overdue")
def resolution_overdue_rate(ledger: GovernanceLedger, town: str, year: int,
                            community: str) -> Decimal | None:
    """Items due in the year not completed by their due date (late or still open), in percent."""
    rows = _items_due(ledger, year, community)
    return percent(sum(1 for due, done in rows if done is None or done > due), len(rows))


def _four_in_one_days(ledger: GovernanceLedger, year: int, community: str) -> list[date]:
    from ledger.projections.deliberation import meetings

    ledger.catch_up("deliberation")
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(meetings.c.held_on).where(and_(
            meetings.c.community == community, meetings.c.kind == "four_in_one",
            meetings.c.held_on >= f"{year}-01-01", meetings.c.held_on <= f"{year}-12-31",
        )).order_by(meetings.c.held_on)).scalars().all()
    return [date.fromisoformat(d) for d in rows]


@calculator("four_in_one_meetings", "次", "四位一体会议召开次数", "four-in-one meetings held")
def four_in_one_meetings(ledger: GovernanceLedger, town: str, year: int,
                         community: str) -> Decimal | None:
    """Four-in-one meetings held in the year."""
    return Decimal(len(_four_in_one_days(ledger, year, community)))


@calculator("four_in_one_cadence_kept", "%", "四位一体会议按周期召开率",
            "four-in-one cadence kept")
def four_in_one_cadence_kept(ledger: GovernanceLedger, town: str, year: int,
                             community: str) -> Decimal | None:
    """Share of the year's cadence periods (town parameter ``meeting.four_in_one.cadence_days``,
    default 30; periods counted from 1 January) in which a four-in-one meeting was held."""
    from ledger.projections.deliberation import DEFAULT_CADENCE_DAYS, cadence

    ledger.catch_up("deliberation")
    with ledger.engine.connect() as conn:
        days = conn.execute(select(cadence.c.days).where(cadence.c.town == town)).scalar()
    every = int(days or DEFAULT_CADENCE_DAYS)
    first, last = date(year, 1, 1), date(year, 12, 31)
    periods = ((last - first).days // every) + 1
    held = {(d - first).days // every for d in _four_in_one_days(ledger, year, community)}
    return percent(len(held), periods)


# ---------------------------------------------------------------------------- cases, warnings
def _year_end_utc(year: int) -> str:
    from datetime import datetime

    from ledger.config import localize
    from ledger.projections.status import utc_key

    return utc_key(localize(datetime(year + 1, 1, 1)))


def _year_cases(ledger: GovernanceLedger, year: int, community: str,
                ) -> dict[str, list[dict[str, object]]]:
    """Cases received in *year* in *community* (not rejected or merged by the year's end), each
    with its state intervals up to the year's end, oldest first."""
    from ledger.projections.cases import case_intervals, cases

    ledger.catch_up("cases")
    end = _year_end_utc(year)
    with ledger.engine.connect() as conn:
        refs = conn.execute(select(cases.c.ref).where(and_(
            cases.c.community == community, cases.c.received_at >= f"{year}-01-01",
            cases.c.received_at < f"{year + 1}-01-01"))).scalars().all()
        rows = conn.execute(select(case_intervals).where(and_(
            case_intervals.c.ref.in_(refs), case_intervals.c.from_utc < end))
            .order_by(case_intervals.c.ref, case_intervals.c.seq)).all() if refs else []
    out: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        out.setdefault(r._mapping["ref"], []).append(dict(r._mapping))
    return {ref: ivs for ref, ivs in out.items()
            if ivs[-1]["status"] not in ("rejected", "merged")}


@calculator("case_closure_rate", "%", "问题案件结案率", "problem cases closed")
def case_closure_rate(ledger: GovernanceLedger, town: str, year: int,
                      community: str) -> Decimal | None:
    """Cases received in the year (not rejected or merged) closed by the year's end."""
    year_cases = _year_cases(ledger, year, community)
    closed = sum(1 for ivs in year_cases.values()
                 if ivs[-1]["status"] in ("closed", "called_back"))
    return percent(closed, len(year_cases))


@calculator("case_overdue_rate", "%", "问题案件超期率", "problem cases overdue")
def case_overdue_rate(ledger: GovernanceLedger, town: str, year: int,
                      community: str) -> Decimal | None:
    """Cases received in the year (not rejected or merged) closed after their deadline, or still
    open past it at the year's end."""
    year_cases = _year_cases(ledger, year, community)
    late = 0
    for ivs in year_cases.values():
        closing = next((iv for iv in ivs if iv["status"] == "closed"), None)
        if closing is not None:
            due = closing["due"]
            late += bool(due and str(closing["from_at"])[:10] > str(due))
        else:
            due = ivs[-1]["due"]
            late += bool(due and str(due) < f"{year}-12-31")
    return percent(late, len(year_cases))


def _warnings(colour: str) -> Measure:
    def count(ledger: GovernanceLedger, town: str, year: int, community: str) -> Decimal | None:
        from ledger.projections.cases import warning_levels

        ledger.catch_up("cases")
        with ledger.engine.connect() as conn:
            rows = conn.execute(select(warning_levels.c.key).where(and_(
                warning_levels.c.community == community, warning_levels.c.level == colour,
                warning_levels.c.from_at >= f"{year}-01-01",
                warning_levels.c.from_at < f"{year + 1}-01-01"))).all()
        return Decimal(len(rows))
    count.__doc__ = f"Warnings raised, escalated or lowered to {colour} in the year."
    return count


for _colour, _zh in (("orange", "橙色(关注级)"), ("red", "红色(警告级)"), ("black", "黑色(严重级)")):
    calculator(f"warnings_{_colour}", "次", f"{_zh}预警次数", f"{_colour} warnings")(
        _warnings(_colour))
