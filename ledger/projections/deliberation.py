"""The deliberation read model: meetings, attendance, resolution items with their progress,
matters and topics, and the town's four-in-one cadence.

Whether an item is overdue is computed at query time for any as-of date, from its due date,
its adoption date and its completion date, so the list as of a past date is the list as it
stood then (an item done later was still overdue then).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    func,
    or_,
    select,
)

from ledger.kernel.config import ledger_tz, now
from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection
from ledger.projections.sql import KEY
from ledger.projections.status import communities, utc_key

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger


#: Town parameter: days between four-in-one meetings before a community is flagged.
CADENCE_PARAMETER = "meeting.four_in_one.cadence_days"
DEFAULT_CADENCE_DAYS = 30

meetings = Table(
    "rm_delib_meetings", metadata,
    Column("code", String(64), primary_key=True),
    Column("aggregate_id", String(36), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("town", String(32), nullable=False),
    Column("community", String(32), index=True),
    Column("title", String(200), nullable=False),
    Column("held_at", String(40), nullable=False),
    Column("held_on", String(10), nullable=False),
    Column("convened_by", String(64), nullable=False),
    Column("convener_post", String(200)),
    Column("attendees", Integer(), nullable=False, default=0),
    Column("resolutions", Integer(), nullable=False, default=0),
    Column("topics", Integer(), nullable=False, default=0),
    Column("closed_at", String(40)),
    Column("minutes_summary", Text()),
    Column("minutes_document", String(500)),
)
attendance = Table(
    "rm_delib_attendance", metadata,
    Column("position", ID, primary_key=True),
    Column("seq", Integer(), primary_key=True),
    Column("meeting", String(64), nullable=False, index=True),
    Column("body", String(80), nullable=False),
    Column("community", String(32)),
    Column("person", String(64), nullable=False),
    Column("person_name", String(200), nullable=False),
    Column("post", String(200)),
    Column("guest", Boolean(), nullable=False),
)
items = Table(
    "rm_delib_items", metadata,
    Column("ref", String(100), primary_key=True),
    Column("meeting", String(64), nullable=False, index=True),
    Column("resolution", String(16), nullable=False),
    Column("item", Integer(), nullable=False),
    Column("title", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("town", String(32), nullable=False),
    Column("community", String(32), index=True),
    Column("body", String(80), nullable=False, index=True),
    Column("post", String(200)),
    Column("task", Text(), nullable=False),
    Column("due", String(10), nullable=False),
    Column("adopted_on", String(10), nullable=False),
    Column("adopted_by", String(64), nullable=False),
    Column("adopted_post", String(200)),
    Column("absent_body", Boolean(), nullable=False),
    Column("matter", String(64)),
    Column("completed_on", String(10)),
    Column("evidence", String(500)),
    Column("completed_by", String(64)),
    Column("completed_post", String(200)),
    Column("lapsed_on", String(10)),
    Column("handed_to", String(64)),
    Column("handed_on", String(10)),
)
progress = Table(
    "rm_delib_progress", metadata,
    Column("position", ID, primary_key=True),
    Column("item", String(100), nullable=False, index=True),
    Column("reported_on", String(10), nullable=False),
    Column("note", Text(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("post", String(200)),
)
matters = Table(
    "rm_delib_matters", metadata,
    Column("code", String(64), primary_key=True),
    Column("aggregate_id", String(36), nullable=False, unique=True),
    Column("town", String(32), nullable=False),
    Column("community", String(32), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("raiser_kind", String(32), nullable=False),
    Column("resident_ref", String(40)),
    Column("raised_on", String(10), nullable=False),
    Column("route", String(40)),
    Column("rule", String(64)),
    Column("rule_route", String(40)),
    Column("rule_reason", String(64)),
    Column("override_reason", Text()),
    Column("steps", String(200), nullable=False, default=""),
    Column("meetings", String(500), nullable=False, default=""),
    Column("resolution", String(100)),
    Column("outcome", Text()),
    Column("published_on", String(10)),
)
cadence = Table(
    "rm_delib_cadence", metadata,
    Column("town", String(32), primary_key=True),
    Column("aggregate_id", String(36), nullable=False, unique=True),
    Column("days", Integer(), nullable=False),
)


def _day(iso: str) -> str:
    return iso[:10]


@projection
class DeliberationProjection(Projection):
    """Meetings, attendance, resolution items and their progress, matters, and cadence."""

    name = "deliberation"
    rebuild_cost = 1.86
    schema_version = 1
    tables = (meetings, attendance, items, progress, matters, cadence)
    topics = frozenset({
        "Meeting.Convened", "Meeting.AttendanceRecorded", "Meeting.Closed",
        "Meeting.ResolutionAdopted", "Meeting.ItemProgressReported", "Meeting.ItemCompleted",
        "Meeting.ItemLapsed", "Meeting.ItemHandedOver", "Meeting.FollowUpTaken",
        "Meeting.TopicHeard",
        "Matter.Raised", "Matter.Routed", "Matter.RouteOverridden",
        "Matter.ProcedureStepRecorded", "Matter.TakenUp", "Matter.OutcomePublished",
        "Town.Registered", "Town.ParameterSet",
    })

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        d, env = event.data, event.envelope
        kind, _, name = event.type.partition(".")
        if kind == "Town":
            self._town_event(event)
        elif kind == "Meeting":
            if name == "Convened":
                self.buffer(meetings).insert({
                    "code": d["code"], "aggregate_id": str(event.aggregate_id), "kind": d["kind"],
                    "town": d["town"], "community": d["community"], "title": d["title"],
                    "held_at": d["held_at"], "held_on": _day(d["held_at"]),
                    "convened_by": env.get("actor", ""), "convener_post": env.get("post"),
                    "attendees": 0, "resolutions": 0, "topics": 0, "closed_at": None,
                    "minutes_summary": None, "minutes_document": None})
                self.memo("meetings")[str(event.aggregate_id)] = {
                    "code": d["code"], "kind": d["kind"], "town": d["town"],
                    "community": d["community"], "attendees": 0, "resolutions": 0, "topics": 0}
                return
            self._meeting_event(conn, event, name)
        else:
            self._matter_event(conn, event, name)

    # -------------------------------------------------------------- helpers
    def _town_event(self, event: LoggedEvent) -> None:
        d = event.data
        agg = str(event.aggregate_id)
        if event.type == "Town.Registered":
            self.buffer(cadence, ("aggregate_id",)).insert(
                {"town": d["code"], "aggregate_id": agg, "days": DEFAULT_CADENCE_DAYS})
            return
        if d["name"] != CADENCE_PARAMETER:
            return
        try:
            days = int(d["value"])
        except (TypeError, ValueError):
            days = DEFAULT_CADENCE_DAYS
        self.buffer(cadence, ("aggregate_id",)).update((agg,), {"days": days})

    def _meeting(self, conn: Connection, agg: str) -> dict[str, Any] | None:
        """The meeting's working state (code, kind, town, community and its counters)."""
        memo = self.memo("meetings")
        m: dict[str, Any] | None = memo.get(agg)
        if m is None and not self.complete:
            row = conn.execute(_MEETING, {KEY: agg}).first()
            if row is not None:
                m = memo[agg] = dict(row._mapping)
        return m

    def _meeting_event(self, conn: Connection, event: LoggedEvent, name: str) -> None:
        d, env = event.data, event.envelope
        m = self._meeting(conn, str(event.aggregate_id))
        if m is None:  # pragma: no cover - Convened always comes first
            return
        code = m["code"]
        buf = self.buffer(meetings)
        if name == "AttendanceRecorded":
            add = self.appender(attendance, _ATTENDANCE).add
            position = event.position
            for seq, a in enumerate(d["attendees"]):
                add((position, seq, code, a["body"], a.get("community"), a["person"],
                     a["person_name"], a.get("post"), bool(a["guest"])))
            m["attendees"] += len(d["attendees"])
            buf.update((code,), {"attendees": m["attendees"]})
        elif name == "Closed":
            buf.update((code,), {"closed_at": d["closed_at"], "minutes_summary": d["summary"],
                                 "minutes_document": d["document"]})
        elif name == "ResolutionAdopted":
            its = self.buffer(items)
            for it in d["items"]:
                its.insert({
                    "ref": f"{code}/{d['resolution']}/{it['item']}", "meeting": code,
                    "resolution": d["resolution"], "item": it["item"], "title": d["title"],
                    "kind": m["kind"], "town": m["town"],
                    "community": m["community"] or it.get("community"), "body": it["body"],
                    "post": it.get("post"), "task": it["task"], "due": it["due"],
                    "adopted_on": _day(d["adopted_at"]), "adopted_by": env.get("actor", ""),
                    "adopted_post": env.get("post"), "absent_body": bool(it["absent_body"]),
                    "matter": d.get("matter"), "completed_on": None, "evidence": None,
                    "completed_by": None, "completed_post": None, "lapsed_on": None,
                    "handed_to": None, "handed_on": None})
            m["resolutions"] += 1
            buf.update((code,), {"resolutions": m["resolutions"]})
        elif name == "ItemProgressReported":
            ref = f"{code}/{d['resolution']}/{d['item']}"
            self.appender(progress, _PROGRESS).add((
                event.position, ref, d["reported_on"], d["note"], env.get("actor", ""),
                env.get("post")))
        elif name == "ItemCompleted":
            self.buffer(items).update((f"{code}/{d['resolution']}/{d['item']}",), {
                "completed_on": d["completed_on"], "evidence": d["evidence"],
                "completed_by": env.get("actor"), "completed_post": env.get("post")})
        elif name == "ItemLapsed":
            self.buffer(items).update((f"{code}/{d['resolution']}/{d['item']}",),
                                      {"lapsed_on": d["lapsed_on"]})
        elif name == "ItemHandedOver":
            self.buffer(items).update((f"{code}/{d['resolution']}/{d['item']}",), {
                "handed_to": d["to_meeting"], "handed_on": _day(env.get("occurred_at", ""))})
        elif name == "TopicHeard":
            m["topics"] += 1
            buf.update((code,), {"topics": m["topics"]})

    def _matter_event(self, conn: Connection, event: LoggedEvent, name: str) -> None:
        d, env = event.data, event.envelope
        agg = str(event.aggregate_id)
        memo = self.memo("matters")
        if name == "Raised":
            self.buffer(matters).insert({
                "code": d["code"], "aggregate_id": agg, "town": d["town"],
                "community": d["community"], "title": d["title"], "channel": d["channel"],
                "raiser_kind": d["raiser_kind"],
                "resident_ref": (d.get("resident") or {}).get("subject"),
                "raised_on": _day(env.get("occurred_at", "")), "route": None, "rule": None,
                "rule_route": None, "rule_reason": None, "override_reason": None,
                "steps": "", "meetings": "", "resolution": None, "outcome": None,
                "published_on": None})
            memo[agg] = {"code": d["code"], "steps": "", "meetings": ""}
            return
        m: dict[str, Any] | None = memo.get(agg)
        if m is None and not self.complete:
            row = conn.execute(_MATTER, {KEY: agg}).first()
            if row is not None:
                m = memo[agg] = dict(row._mapping)
        if m is None:  # pragma: no cover
            return
        buf = self.buffer(matters)
        key = (m["code"],)
        if name == "Routed":
            buf.update(key, {"route": d["route"], "rule": d["rule"],
                             "rule_route": d["decision"]["route"],
                             "rule_reason": d["decision"]["reason"]["code"]})
        elif name == "RouteOverridden":
            buf.update(key, {"route": d["route"], "override_reason": d["reason"]})
        elif name == "ProcedureStepRecorded":
            m["steps"] = ",".join(s for s in (m["steps"], d["step"]) if s)
            values: dict[str, Any] = {"steps": m["steps"]}
            if d["step"] == "publication":
                values |= {"outcome": d["summary"],
                           "published_on": _day(env.get("occurred_at", ""))}
            buf.update(key, values)
        elif name == "TakenUp":
            m["meetings"] = ",".join(s for s in (m["meetings"], d["meeting"]) if s)
            values = {"meetings": m["meetings"]}
            if d.get("resolution"):
                values["resolution"] = f"{d['meeting']}/{d['resolution']}"
            buf.update(key, values)
        elif name == "OutcomePublished":
            buf.update(key, {"outcome": d["summary"], "published_on": d["published_on"]})


#: Rows only ever inserted (one per attendee, one per report), as tuples in column order.
_ATTENDANCE = tuple(c.name for c in attendance.columns)
_PROGRESS = tuple(c.name for c in progress.columns)

_MEETING = select(meetings.c.code, meetings.c.kind, meetings.c.town, meetings.c.community,
                  meetings.c.attendees, meetings.c.resolutions, meetings.c.topics).where(
    meetings.c.aggregate_id == bindparam(KEY))
_MATTER = select(matters.c.code, matters.c.steps, matters.c.meetings).where(
    matters.c.aggregate_id == bindparam(KEY))


# ---------------------------------------------------------------------------- queries
def _pairs(rows: Any) -> dict[Any, Any]:
    return {r[0]: r[1] for r in rows}


def _as_of(as_of: date | None) -> date:
    return as_of or now().date()


def item_state(row: dict[str, Any], when: date) -> str:
    """An item's state on *when*: ``done``, ``done_late``, ``overdue`` or ``open``."""
    day = when.isoformat()
    done = row["completed_on"]
    if done is not None and done <= day:
        return "done_late" if done > row["due"] else "done"
    return "overdue" if row["due"] < day else "open"


def resolution_items(ledger: GovernanceLedger, *, community: str | None = None,
                     body: str | None = None, meeting: str | None = None,
                     overdue: bool = False, as_of: date | None = None) -> dict[str, Any]:
    """Resolution items as they stood on *as_of* (default today), with their state.

    Items adopted after *as_of* are left out; completion, lapse, hand-over and progress recorded
    after it are not counted.
    """
    ledger.catch_up("deliberation")
    when = _as_of(as_of)
    day = when.isoformat()
    q = select(items).where(items.c.adopted_on <= day)
    if community:
        q = q.where(items.c.community == community)
    if body:
        q = q.where(items.c.body == body)
    if meeting:
        q = q.where(items.c.meeting == meeting)
    if overdue:  # what item_state calls overdue, chosen by the database
        q = q.where(and_(items.c.due < day, or_(items.c.completed_on.is_(None),
                                                items.c.completed_on > day)))
    q = q.order_by(items.c.due, items.c.meeting, items.c.resolution, items.c.item)
    with ledger.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        notes = conn.execute(
            select(progress.c.item, func.count(), func.max(progress.c.reported_on))
            .where(progress.c.reported_on <= day).group_by(progress.c.item)).all()
    by_item = {n[0]: (int(n[1]), n[2]) for n in notes}
    from ledger.projections.supervision import levels

    escalated = levels(ledger, "resolution_item",
                       utc_key(datetime.combine(when, time(23, 59, 59), tzinfo=ledger_tz())))
    out = []
    for r in rows:
        r["escalation"] = escalated.get((r["ref"], r["ref"]), "none")
        r["state"] = item_state(r, when)
        if r["completed_on"] is not None and r["completed_on"] > day:
            r["completed_on"] = r["evidence"] = r["completed_by"] = r["completed_post"] = None
        if r["lapsed_on"] is not None and r["lapsed_on"] > day:
            r["lapsed_on"] = None
        if r["handed_on"] is not None and r["handed_on"] > day:
            r["handed_to"] = r["handed_on"] = None
        r["days_overdue"] = (when - date.fromisoformat(r["due"])).days \
            if r["state"] == "overdue" else 0
        r["progress_notes"], r["last_progress_on"] = by_item.get(r["ref"], (0, None))
        if overdue and r["state"] != "overdue":
            continue
        out.append(r)
    counts = {s: sum(1 for r in out if r["state"] == s)
              for s in ("open", "overdue", "done", "done_late")}
    return {"as_of": day, "items": out, "counts": counts}


def item_progress(ledger: GovernanceLedger, ref: str) -> list[dict[str, Any]]:
    """Every progress note of one item, oldest first."""
    ledger.catch_up("deliberation")
    with ledger.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(progress).where(progress.c.item == ref).order_by(progress.c.position))]


def meeting_list(ledger: GovernanceLedger, *, community: str | None = None,
                 kind: str | None = None) -> list[dict[str, Any]]:
    """Meetings, oldest first, with attendance and resolution counts."""
    ledger.catch_up("deliberation")
    q = select(meetings)
    if community:
        q = q.where(meetings.c.community == community)
    if kind:
        q = q.where(meetings.c.kind == kind)
    with ledger.engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(q.order_by(meetings.c.held_at,
                                                                  meetings.c.code))]
        absent: dict[str, int] = _pairs(conn.execute(
            select(items.c.meeting, func.count()).where(items.c.absent_body.is_(True))
            .group_by(items.c.meeting)).all())
        n_items: dict[str, int] = _pairs(conn.execute(
            select(items.c.meeting, func.count()).group_by(items.c.meeting)).all())
    for m in out:
        m.pop("aggregate_id", None)
        m["items"] = int(n_items.get(m["code"], 0))
        m["absent_body_items"] = int(absent.get(m["code"], 0))
        m["status"] = "closed" if m["closed_at"] else "open"
    return out


def attendance_of(ledger: GovernanceLedger, meeting: str) -> list[dict[str, Any]]:
    """Who attended *meeting*, for which body."""
    ledger.catch_up("deliberation")
    with ledger.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(attendance).where(attendance.c.meeting == meeting)
            .order_by(attendance.c.position, attendance.c.seq))]


def cadence_report(ledger: GovernanceLedger, *, as_of: date | None = None,
                   community: str | None = None) -> dict[str, Any]:
    """Each community's last four-in-one meeting on or before *as_of*, flagged when older than
    the town's cadence (``meeting.four_in_one.cadence_days``, default 30)."""
    ledger.catch_up("status")
    ledger.catch_up("deliberation")
    when = _as_of(as_of)
    day = when.isoformat()
    with ledger.engine.connect() as conn:
        q = select(communities.c.code, communities.c.name, communities.c.town,
                   communities.c.registered_at).order_by(communities.c.code)
        if community:
            q = q.where(communities.c.code == community)
        comms = [dict(r._mapping) for r in conn.execute(q)]
        days: dict[str, int] = _pairs(conn.execute(select(cadence.c.town, cadence.c.days)).all())
        last: dict[str, str] = _pairs(conn.execute(
            select(meetings.c.community, func.max(meetings.c.held_on))
            .where(and_(meetings.c.kind == "four_in_one", meetings.c.held_on <= day))
            .group_by(meetings.c.community)).all())
    out = []
    for c in comms:
        every = int(days.get(c["town"], DEFAULT_CADENCE_DAYS))
        held = last.get(c["code"])
        since = date.fromisoformat(held) if held else \
            date.fromisoformat(str(c["registered_at"])[:10])
        if since > when:
            continue
        gap = (when - since).days
        out.append({"community": c["code"], "name": c["name"], "last_four_in_one": held,
                    "days_since": gap, "cadence_days": every,
                    "next_due": (since + timedelta(days=every)).isoformat(),
                    "flagged": gap > every})
    return {"as_of": day, "communities": out}


def matter_list(ledger: GovernanceLedger, *, community: str | None = None,
                route: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
    """Matters and topics with their route (rule and override) and how they were decided."""
    ledger.catch_up("deliberation")
    q = select(matters)
    if community:
        q = q.where(matters.c.community == community)
    if route:
        q = q.where(matters.c.route == route)
    if channel:
        q = q.where(matters.c.channel == channel)
    with ledger.engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(q.order_by(matters.c.raised_on,
                                                                  matters.c.code))]
    for m in out:
        m.pop("aggregate_id", None)
        m["overridden"] = m["override_reason"] is not None
        m["status"] = _matter_status(m)
    return out


def _matter_status(m: dict[str, Any]) -> str:
    if m["published_on"]:
        return "published"
    if m["resolution"]:
        return "decided"
    if m["meetings"]:
        return "heard"
    if m["steps"]:
        return "in_procedure"
    if m["route"]:
        return "routed"
    return "raised"

