"""Indicators the ledger measures from its own events (平安社区协同治理指标).

The town defines its indicators (``appraisal.define_indicator``); one measured from the ledger
names a calculator registered here by its ``measure`` code. A calculator takes the ledger, the
town, the year and a community and returns a value (``Decimal``) or ``None`` when there is
nothing to measure (no items due that year, say). Domains register their calculators with
:func:`calculator`.

Each calculator says which events feed it (``events``). Where the seed gives no formula, the
calculator's formula has parameters the town sets (``indicator.<measure>.<name>`` town
parameters, audited events like any other): :func:`formula` returns them with their version —
``defaults``, or the log position of the last town event that set one of them — and the
indicator table shows both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

Measure = Callable[["GovernanceLedger", str, int, str], "Decimal | None"]


@dataclass(frozen=True)
class Calculator:
    """One way of measuring an indicator from the ledger."""

    code: str
    unit: str
    zh: str
    en: str
    function: Measure
    events: str = ""
    """Which events feed it (for the table and docs/appraisal.md)."""
    parameters: tuple[tuple[str, Any], ...] = ()
    """The town-set formula's parameters and their defaults (empty: no town-set formula)."""


#: Every calculator, by measure code.
INDICATOR_CALCULATORS: dict[str, Calculator] = {}


def calculator(code: str, unit: str, zh: str, en: str, *, events: str = "",
               parameters: dict[str, Any] | None = None) -> Callable[[Measure], Measure]:
    """Decorator: register a calculator under *code*, with the events that feed it and the
    parameters of a town-set formula (name → default)."""

    def deco(fn: Measure) -> Measure:
        if code in INDICATOR_CALCULATORS:
            raise TypeError(f"indicator calculator {code!r} registered twice")
        INDICATOR_CALCULATORS[code] = Calculator(
            code, unit, zh, en, fn, events, tuple(sorted((parameters or {}).items())))
        return fn

    return deco


def formula(ledger: GovernanceLedger, town: str, code: str) -> tuple[dict[str, Any], str]:
    """The town-set formula of calculator *code*: its parameters (defaults overridden by the
    town parameters ``indicator.<code>.<name>``) and their version (``defaults``, or
    ``town event #<position>``: the last event that set one of them)."""
    from ledger.aggregates.town import Town

    calc = INDICATOR_CALCULATORS[code]
    values = dict(calc.parameters)
    if not values:
        return {}, ""
    prefix = f"indicator.{code}."
    agg = ledger.load(Town.id_for(town))
    params = agg.parameters if isinstance(agg, Town) else {}
    for name, value in params.items():
        if name.startswith(prefix) and name[len(prefix):] in values:
            values[name[len(prefix):]] = value
    version = "defaults"
    if any(name.startswith(prefix) for name in params):
        positions = [e.position for e in ledger.history(f"town:{town}")
                     if e.type == "Town.ParameterSet"
                     and str(e.data.get("name", "")).startswith(prefix)]
        version = f"town event #{positions[-1]}" if positions else "defaults"
    return values, version


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
            "resolution items completed on time",
            events="Meeting.ResolutionAdopted (items, due dates), Meeting.ItemCompleted")
def resolution_completion_rate(ledger: GovernanceLedger, town: str, year: int,
                               community: str) -> Decimal | None:
    """Items due in the year completed on or before their due date, in percent."""
    rows = _items_due(ledger, year, community)
    return percent(sum(1 for due, done in rows if done is not None and done <= due), len(rows))


@calculator("resolution_overdue_rate", "%", "决议事项逾期率", "resolution items overdue",
            events="Meeting.ResolutionAdopted (items, due dates), Meeting.ItemCompleted")
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


@calculator("four_in_one_meetings", "次", "四位一体会议召开次数", "four-in-one meetings held",
            events="Meeting.Convened (kind four_in_one)")
def four_in_one_meetings(ledger: GovernanceLedger, town: str, year: int,
                         community: str) -> Decimal | None:
    """Four-in-one meetings held in the year."""
    return Decimal(len(_four_in_one_days(ledger, year, community)))


@calculator("four_in_one_cadence_kept", "%", "四位一体会议按周期召开率",
            "four-in-one cadence kept",
            events="Meeting.Convened (kind four_in_one); Town.ParameterSet "
                   "meeting.four_in_one.cadence_days")
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

    from ledger.kernel.config import localize
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


@calculator("case_closure_rate", "%", "问题案件结案率", "problem cases closed",
            events="Case.Received, Case.Closed, Case.CalledBack (state intervals)")
def case_closure_rate(ledger: GovernanceLedger, town: str, year: int,
                      community: str) -> Decimal | None:
    """Cases received in the year (not rejected or merged) closed by the year's end."""
    year_cases = _year_cases(ledger, year, community)
    closed = sum(1 for ivs in year_cases.values()
                 if ivs[-1]["status"] in ("closed", "called_back"))
    return percent(closed, len(year_cases))


@calculator("case_overdue_rate", "%", "问题案件超期率", "problem cases overdue",
            events="Case.Received and every state change (due dates), Case.Closed")
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
    calculator(f"warnings_{_colour}", "次", f"{_zh}预警次数", f"{_colour} warnings",
               events="CommunityWarning.Raised, .Escalated, .Deescalated")(_warnings(_colour))


# ---------------------------------------------------------------------------- the other six
# The seed names no formula for these; each is the ledger's reading, with the choices a town
# may make as its parameters (``indicator.<measure>.<name>``).
PATROL_MEASURES = ("spot_check_patrol", "onsite_supervision", "supervision_team_stationed",
                   "third_party_patrol_control")


@calculator("safety_patrols", "次", "平安巡查次数", "safety patrols",
            events="Case.Inspected (cases of the community), CommunityWarning.MeasureFulfilled "
                   "(spot checks and patrols, on-site supervision, stationed team, third-party "
                   "patrol)",
            parameters={"count_case_inspections": True, "count_warning_patrols": True})
def safety_patrols(ledger: GovernanceLedger, town: str, year: int,
                   community: str) -> Decimal | None:
    """Inspections of the community's cases and patrol measures of its warnings, in the year."""
    from ledger.projections.cases import case_intervals, cases, measure_fulfilments

    params, _version = formula(ledger, town, "safety_patrols")
    ledger.catch_up("cases")
    ledger.catch_up("warnings")
    start, end = f"{year}-01-01", f"{year + 1}-01-01"
    n = 0
    with ledger.engine.connect() as conn:
        if params["count_case_inspections"]:
            n += len(conn.execute(select(case_intervals.c.ref).join(
                cases, cases.c.ref == case_intervals.c.ref).where(and_(
                    cases.c.community == community,
                    case_intervals.c.event == "Case.Inspected",
                    case_intervals.c.from_at >= start, case_intervals.c.from_at < end))).all())
        if params["count_warning_patrols"]:
            rows = conn.execute(select(measure_fulfilments.c.measure_id).where(and_(
                measure_fulfilments.c.key.like(f"{community}/%"),
                measure_fulfilments.c.occurred_at >= start,
                measure_fulfilments.c.occurred_at < end))).scalars().all()
            n += sum(1 for m in rows if m.split(".", 1)[-1] in PATROL_MEASURES)
    return Decimal(n)


def _cleared(problem_type: str) -> Measure:
    def rate(ledger: GovernanceLedger, town: str, year: int, community: str) -> Decimal | None:
        from ledger.projections.cases import cases

        params, _version = formula(ledger, town, f"cleared_{problem_type}")
        year_cases = _year_cases(ledger, year, community)
        with ledger.engine.connect() as conn:
            kinds: dict[str, bool | None] = {
                r[0]: r[1] for r in conn.execute(select(cases.c.ref, cases.c.satisfied).where(
                    and_(cases.c.community == community,
                         cases.c.problem_type == problem_type))).all()}
        mine = {ref: ivs for ref, ivs in year_cases.items() if ref in kinds}
        done = 0
        for ref, ivs in mine.items():
            closed = ivs[-1]["status"] in ("closed", "called_back")
            if closed and params["require_satisfied_callback"]:
                closed = kinds[ref] is True
            done += closed
        return percent(done, len(mine))
    rate.__doc__ = (f"Cases of {problem_type} received in the year (not rejected or merged) "
                    "closed by the year's end (with a satisfied callback, if the town says so).")
    return rate


for _ptype, _pzh in (("illegal_construction", "违法建筑"), ("group_renting", "群租"),
                     ("unlicensed_business", "无证无照经营")):
    calculator(f"cleared_{_ptype}", "%", f"{_pzh}整治完成率", f"{_ptype.replace('_', ' ')} cleared",
               events=f"Case.Received (problem type {_ptype}), Case.Closed, Case.CalledBack",
               parameters={"require_satisfied_callback": False})(_cleared(_ptype))


@calculator("volunteer_service_hours", "小时", "志愿者服务时长", "volunteer service hours",
            events="Meeting.AttendanceRecorded (volunteer teams), Meeting.ItemCompleted "
                   "(items of volunteer teams)",
            parameters={"hours_per_attendance": 2, "hours_per_item": 4})
def volunteer_service_hours(ledger: GovernanceLedger, town: str, year: int,
                            community: str) -> Decimal | None:
    """Volunteer teams' meeting attendances and completed resolution items in the year, each
    worth the hours the town sets (the ledger records no hours itself)."""
    from ledger.projections.deliberation import attendance, items, meetings

    params, _version = formula(ledger, town, "volunteer_service_hours")
    ledger.catch_up("deliberation")
    start, end = f"{year}-01-01", f"{year}-12-31"
    with ledger.engine.connect() as conn:
        attended = len(conn.execute(select(attendance.c.person).join(
            meetings, meetings.c.code == attendance.c.meeting).where(and_(
                attendance.c.body == "volunteer_team",
                or_(attendance.c.community == community, and_(
                    attendance.c.community.is_(None), meetings.c.community == community)),
                meetings.c.held_on >= start, meetings.c.held_on <= end))).all())
        done = len(conn.execute(select(items.c.ref).where(and_(
            items.c.body == "volunteer_team", items.c.community == community,
            items.c.completed_on >= start, items.c.completed_on <= end))).all())
    hours = Decimal(str(params["hours_per_attendance"])) * attended + \
        Decimal(str(params["hours_per_item"])) * done
    return hours


@calculator("dispute_mediation_success", "%", "矛盾纠纷调解成功率",
            "disputes mediated successfully",
            events="OwnersCommittee.DisputeMediated (outcome settled, not_settled, referred)",
            parameters={"count_referred_as_success": False})
def dispute_mediation_success(ledger: GovernanceLedger, town: str, year: int,
                              community: str) -> Decimal | None:
    """Owners' disputes the community's committees mediated in the year that were settled."""
    from ledger.aggregates.owners_committee import OwnersCommittee
    from ledger.audit import events_at
    from ledger.projections.owners import committees

    params, _version = formula(ledger, town, "dispute_mediation_success")
    ledger.catch_up("owners")
    t = ledger.events_table
    with ledger.engine.connect() as conn:
        keys = conn.execute(select(committees.c.key).where(
            committees.c.community == community)).scalars().all()
        # The committees' own events (their aggregate's index), the mediations among them.
        positions = conn.execute(select(t.c.id).where(and_(
            t.c.originator_id.in_([OwnersCommittee.id_for(k) for k in keys]),
            t.c.topic.endswith(":OwnersCommittee.DisputeMediated")))
            .order_by(t.c.id)).scalars().all() if keys else []
    outcomes = [e.data["outcome"] for e in events_at(ledger, positions)
                if f"{year}-01-01" <= str(e.envelope.get("occurred_at") or "")
                < f"{year + 1}-01-01"]
    good = {"settled", "referred"} if params["count_referred_as_success"] else {"settled"}
    return percent(sum(1 for o in outcomes if o in good), len(outcomes))


@calculator("sense_of_safety", "%", "居民安全感满意度", "residents' sense of safety",
            events="Case.CalledBack (satisfied or not) of the community's cases received in "
                   "the year",
            parameters={"minimum_callbacks": 1})
def sense_of_safety(ledger: GovernanceLedger, town: str, year: int,
                    community: str) -> Decimal | None:
    """Callbacks (回访) satisfied among the year's cases called back, the residents' own word
    on how their reports were handled (``None`` below the town's minimum of callbacks)."""
    from ledger.projections.cases import cases

    params, _version = formula(ledger, town, "sense_of_safety")
    ledger.catch_up("cases")
    with ledger.engine.connect() as conn:
        answers = conn.execute(select(cases.c.satisfied).where(and_(
            cases.c.community == community, cases.c.satisfied.is_not(None),
            cases.c.received_at >= f"{year}-01-01",
            cases.c.received_at < f"{year + 1}-01-01"))).scalars().all()
    if len(answers) < int(params["minimum_callbacks"]):
        return None
    return percent(sum(1 for a in answers if a), len(answers))


def indicator_table(ledger: GovernanceLedger, key: str) -> list[dict[str, Any]]:
    """Every indicator of year *key* for every community of the town: entered values as
    recorded, ledger-measured values computed now from the read models."""
    from ledger.projections.appraisal import _dump, _rows, indicator_defs, indicator_values, years
    from ledger.projections.status import communities

    ledger.catch_up("appraisal")
    ledger.catch_up("status")
    with ledger.engine.connect() as conn:
        year = conn.execute(select(years.c.town, years.c.year)
                            .where(years.c.code == key)).first()
        if year is None:
            return []
        defs = _rows(conn, select(indicator_defs).where(indicator_defs.c.year_code == key)
                     .order_by(indicator_defs.c.ord))
        values = {(r["code"], r["community"]): r for r in _rows(
            conn, select(indicator_values).where(indicator_values.c.year_code == key))}
        comms = conn.execute(select(communities.c.code).where(communities.c.town == year[0])
                             .order_by(communities.c.code)).scalars().all()
    out = []
    feeds: dict[str, tuple[str, str]] = {}
    for d in defs:
        calc = INDICATOR_CALCULATORS.get(d["measure"] or "")
        if d["source"] == "ledger" and calc is not None:
            params, version = formula(ledger, year[0], calc.code)
            how = (f"indicator.{calc.code} ({version}): {_dump(params)}" if params
                   else "fixed")
            feeds[d["code"]] = (calc.events, how)
        else:
            feeds[d["code"]] = ("AppraisalYear.IndicatorValueRecorded (entered)", "entered")
    for c in comms:
        for d in defs:
            if d["source"] == "ledger" and d["measure"] in INDICATOR_CALCULATORS:
                v = measure(ledger, d["measure"], year[0], int(year[1]), c)
                value, note = (None if v is None else f"{v:f}"), ""
            else:
                rec = values.get((d["code"], c))
                value, note = (rec["value"], rec["note"]) if rec else (None, "")
            out.append({"community": c, "code": d["code"], "name_zh": d["name_zh"],
                        "name_en": d["name_en"], "unit": d["unit"], "weight": d["weight"],
                        "source": d["source"], "measure": d["measure"],
                        "events": feeds[d["code"]][0], "formula": feeds[d["code"]][1],
                        "value": value, "note": note})
    return out
