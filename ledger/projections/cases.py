"""Read models for cases, warnings, responsibility lists and template documents, and their queries.

Boards can be asked "as of" a past moment, so the tables keep history, not just the present:
every case state the case passed through is an interval (from, to) with the due date and the
assignment then in force; every warning level is an interval; every measure keeps when it was
created, fulfilled or ended, and every fulfilment of a recurring measure keeps its next due date.
Times compared in SQL are fixed-width UTC text (``*_utc``, see ``utc_key``).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

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

from ledger.kernel.config import local_day, now
from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection
from ledger.projections.sql import KEY, sel_by
from ledger.projections.status import utc_key

#: The states a case is finished in (no time limit runs). The read model's own copy of the
#: lifecycle's word, as read models never import aggregates; tests/unit/test_projection_topics.py
#: keeps it equal to ``ledger.aggregates.case.FINISHED``.
FINISHED = frozenset({"rejected", "closed", "called_back", "merged"})

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

case_keys = Table(
    "rm_case_keys", metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("key", String(40), nullable=False),
)
warning_keys = Table(
    "rm_warning_keys", metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("key", String(80), nullable=False),
)
duty_keys = Table(
    "rm_duty_keys", metadata,
    Column("aggregate_id", String(36), primary_key=True),
    Column("town", String(32), nullable=False),
)
cases = Table(
    "rm_cases", metadata,
    Column("ref", String(40), primary_key=True),
    Column("town", String(32), nullable=False),
    Column("community", String(32), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("problem_type", String(32), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("location", Text(), nullable=False),
    Column("description", Text(), nullable=False),
    Column("received_at", String(40), nullable=False),
    Column("received_by", String(64), nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_since", String(40), nullable=False),
    Column("due", String(10)),
    Column("mode", String(16)),
    Column("departments", Text(), nullable=False, default="[]"),
    Column("returns", Integer(), nullable=False, default=0),
    Column("reopens", Integer(), nullable=False, default=0),
    Column("supervisions", Integer(), nullable=False, default=0),
    Column("merged_into", String(40)),
    Column("satisfied", Boolean()),
)
case_intervals = Table(
    "rm_case_intervals", metadata,
    Column("ref", String(40), primary_key=True),
    Column("seq", Integer(), primary_key=True),
    Column("status", String(32), nullable=False),
    Column("since", String(40), nullable=False),
    Column("from_at", String(40), nullable=False),
    Column("from_utc", String(26), nullable=False, index=True),
    Column("to_utc", String(26), index=True),
    Column("due", String(10)),
    Column("mode", String(16)),
    Column("departments", Text(), nullable=False),
    Column("returns", Integer(), nullable=False),
    Column("reopens", Integer(), nullable=False),
    Column("supervisions", Integer(), nullable=False),
    Column("event", String(64), nullable=False),
    Column("actor", String(64)),
    Column("post", String(200)),
)
warning_levels = Table(
    "rm_warning_levels", metadata,
    Column("key", String(80), primary_key=True),
    Column("seq", Integer(), primary_key=True),
    Column("community", String(32), nullable=False, index=True),
    Column("problem_type", String(32), nullable=False),
    Column("level", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("suggested", String(16), nullable=False),
    Column("accepted_suggestion", Boolean(), nullable=False),
    Column("from_at", String(40), nullable=False),
    Column("from_utc", String(26), nullable=False),
    Column("to_utc", String(26)),
    Column("actor", String(64)),
    Column("post", String(200)),
)
warning_measures = Table(
    "rm_warning_measures", metadata,
    Column("key", String(80), primary_key=True),
    Column("measure_id", String(80), primary_key=True),
    Column("code", String(64), nullable=False),
    Column("level", String(16), nullable=False),
    Column("name_zh", Text(), nullable=False),
    Column("name_en", Text(), nullable=False),
    Column("first_due", String(10), nullable=False),
    Column("repeat_every_days", Integer()),
    Column("condition", String(64)),
    Column("created_utc", String(26), nullable=False),
    Column("fulfilled_utc", String(26)),
    Column("ended_utc", String(26)),
    Column("ended_status", String(16)),
)
measure_fulfilments = Table(
    "rm_warning_fulfilments", metadata,
    Column("position", ID, primary_key=True),
    Column("key", String(80), nullable=False, index=True),
    Column("measure_id", String(80), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("occurred_utc", String(26), nullable=False),
    Column("next_due", String(10)),
    Column("actor", String(64)),
    Column("person", String(64)),
    Column("outcome", String(16)),
    Column("third_party", Text()),
    Column("note", Text()),
)
duty_entries = Table(
    "rm_duties", metadata,
    Column("town", String(32), primary_key=True),
    Column("version", Integer(), primary_key=True),
    Column("problem_type", String(32), primary_key=True),
    Column("stage", String(32), primary_key=True),
    Column("party", String(80), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("text", Text(), nullable=False),
    Column("effective_from", String(10), nullable=False),
)
duty_versions = Table(
    "rm_duty_versions", metadata,
    Column("town", String(32), primary_key=True),
    Column("version", Integer(), primary_key=True),
    Column("effective_from", String(10), nullable=False),
    Column("issued_by", String(64)),
    Column("post", String(200)),
)
duty_failures = Table(
    "rm_duty_failures", metadata,
    Column("position", ID, primary_key=True),
    Column("town", String(32), nullable=False),
    Column("party", String(80), nullable=False, index=True),
    Column("community", String(32), nullable=False),
    Column("problem_type", String(32), nullable=False),
    Column("stage", String(32), nullable=False),
    Column("duty_code", String(64), nullable=False),
    Column("duty_text", Text(), nullable=False),
    Column("list_version", Integer(), nullable=False),
    Column("case_ref", String(40)),
    Column("description", Text(), nullable=False),
    Column("year", Integer(), nullable=False, index=True),
    Column("occurred_at", String(40), nullable=False),
    Column("actor", String(64)),
    Column("post", String(200)),
)
documents = Table(
    "rm_documents", metadata,
    Column("position", ID, primary_key=True),
    Column("target_kind", String(16), nullable=False),
    Column("target", String(40), nullable=False, index=True),
    Column("template", String(40), nullable=False),
    Column("problem_type", String(32)),
    Column("fields", Text(), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("actor", String(64)),
    Column("post", String(200)),
)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class _KeyedProjection(Projection):
    """A read model whose events name their aggregate by a readable key kept in its own key
    table (``key_table``), remembered across batches: an aggregate's key never changes (its
    id is derived from it)."""

    key_table: Table
    #: The key table's column holding the readable key.
    key_column: ClassVar[str] = "key"

    def __init__(self) -> None:
        super().__init__()
        self.keys: dict[UUID, str] = {}

    def remember(self, event: LoggedEvent, key: str) -> None:
        """Remember *key* as the readable key of the event's aggregate (which creates it)."""
        self.keys[event.aggregate_id] = key

    def key(self, conn: Connection, event: LoggedEvent) -> str:
        """The readable key of the event's aggregate."""
        found = self.keys.get(event.aggregate_id)
        if found is None:
            row = conn.execute(sel_by(self.key_table, "aggregate_id"),
                               {KEY: str(event.aggregate_id)}).one()
            found = self.keys[event.aggregate_id] = str(getattr(row, self.key_column))
        return found

    def flush(self, conn: Connection) -> None:
        super().flush(conn)
        # Only now, with the batch's key rows written, may remembered keys be forgotten: at
        # most KEY_LIMIT are kept (a rebuild of ten million events meets a million aggregates).
        if len(self.keys) > KEY_LIMIT:
            self.keys.clear()

    def discard(self) -> None:
        super().discard()
        self.keys.clear()


@projection
class CasesProjection(_KeyedProjection):
    """Cases now and as they were: current row plus one interval per state and due date."""

    name = "cases"
    key_table = case_keys
    rebuild_cost = 1.47
    schema_version = 1
    tables = (case_keys, cases, case_intervals, documents)
    topics = frozenset({f"Case.{name}" for name in (
        "Received", "Accepted", "Rejected", "Assessed", "Dispatched", "Acknowledged",
        "Returned", "JointPlanDrawnUp", "Inspected", "RectificationPlanned", "FeedbackReported",
        "Verified", "Closed", "CalledBack", "Reopened", "MergedInto", "DuplicateMerged",
        "Supervised", "DocumentFiled", "Escalated")} | {"ProblemFile.Opened",
                                                       "ProblemFile.DocumentFiled"})

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        agg, _, kind = event.type.partition(".")
        d, env = event.data, event.envelope
        if kind in ("Received", "Opened") and agg in ("Case", "ProblemFile"):
            self.buffer(case_keys).insert({"aggregate_id": str(event.aggregate_id),
                                           "key": d["code"]})
            self.remember(event, d["code"])
        if agg == "ProblemFile":
            if kind == "DocumentFiled":
                self._document(event, "community", self.key(conn, event))
            return
        if agg != "Case":
            return
        at = env.get("occurred_at", "")
        memo = self.memo("cases")
        if kind == "Received":
            self.buffer(cases).insert({
                "ref": d["code"], "town": d["town"], "community": d["community"],
                "channel": d["channel"], "problem_type": d["problem_type"], "stage": d["stage"],
                "location": d["location"], "description": d["description"], "received_at": at,
                "received_by": env.get("actor", ""), "status": d["status"], "status_since": at,
                "due": d["due"], "mode": None, "departments": "[]", "returns": 0, "reopens": 0,
                "supervisions": 0, "merged_into": None, "satisfied": None})
            memo[d["code"]] = _CaseState(
                {"status": d["status"], "status_since": at, "due": d["due"], "mode": None,
                 "departments": "[]", "returns": 0, "reopens": 0, "supervisions": 0},
                0, [])
        ref = self.key(conn, event)
        if kind == "DocumentFiled":
            self._document(event, "case", ref)
            return
        state: _CaseState | None = memo.get(ref)
        if state is None:
            state = memo[ref] = _load_case(conn, ref)
        row = state.row
        values: dict[str, Any] = {}
        if kind == "Assessed":
            values |= {"mode": d["mode"], "departments": "[]"}
        elif kind == "Dispatched":
            values["departments"] = _dumps(d["departments"])
        elif kind == "Returned":
            values |= {"returns": row["returns"] + 1, "departments": "[]"}
        elif kind == "JointPlanDrawnUp":
            values["departments"] = _dumps(sorted(d["subtasks"]))
        elif kind == "Reopened":
            values |= {"reopens": row["reopens"] + 1, "mode": None, "departments": "[]",
                       "satisfied": None}
        elif kind == "Supervised":
            values["supervisions"] = row["supervisions"] + 1
        elif kind == "CalledBack":
            values["satisfied"] = d["satisfied"]
        elif kind == "MergedInto":
            values["merged_into"] = d["target"]
        if "status" in d:
            if d["status"] != row["status"]:
                values["status_since"] = at
            values |= {"status": d["status"], "due": d["due"]}
        if values:
            self.buffer(cases).update((ref,), values)
            for k in _CASE_STATE:
                if k in values:
                    row[k] = values[k]
        if "status" not in d:
            return
        intervals = self.buffer(case_intervals)
        at_utc = utc_key(at)
        for seq in state.open:  # the interval in force ends now
            intervals.update((ref, seq), {"to_utc": at_utc})
        state.count += 1
        state.open = [state.count]
        intervals.insert({
            "ref": ref, "seq": state.count, "status": row["status"],
            "since": row["status_since"], "from_at": at, "from_utc": at_utc, "to_utc": None,
            "due": row["due"], "mode": row["mode"], "departments": row["departments"],
            "returns": row["returns"], "reopens": row["reopens"],
            "supervisions": row["supervisions"], "event": event.type, "actor": env.get("actor"),
            "post": env.get("post")})

    def _document(self, event: LoggedEvent, target_kind: str, target: str) -> None:
        env = event.envelope
        self.buffer(documents).insert({
            "position": event.position, "target_kind": target_kind, "target": target,
            "template": event.data["template"], "problem_type": event.data.get("problem_type"),
            "fields": _dumps(event.data["fields"]), "occurred_at": env.get("occurred_at", ""),
            "actor": env.get("actor"), "post": env.get("post")})


#: The columns of a case that later events read (the rest are only written).
_CASE_STATE = ("status", "status_since", "due", "mode", "departments", "returns", "reopens",
               "supervisions")


class _CaseState:
    """What applying a case's next event needs: its current row and its intervals."""

    __slots__ = ("count", "open", "row")

    def __init__(self, row: dict[str, Any], count: int, open_: list[int]) -> None:
        self.row = row
        self.count = count
        """Intervals so far (the next one is ``count + 1``)."""
        self.open = open_
        """Sequence numbers of intervals not yet ended."""


def _load_case(conn: Connection, ref: str) -> _CaseState:
    row = conn.execute(select(*(cases.c[k] for k in _CASE_STATE))
                       .where(cases.c.ref == bindparam(KEY)), {KEY: ref}).one()._mapping
    count = conn.execute(_COUNT_INTERVALS, {KEY: ref}).scalar_one()
    open_ = list(conn.execute(_OPEN_INTERVALS, {KEY: ref}).scalars())
    return _CaseState(dict(row), int(count), open_)


_COUNT_INTERVALS = (select(func.count()).select_from(case_intervals)
                    .where(case_intervals.c.ref == bindparam(KEY)))
_OPEN_INTERVALS = select(case_intervals.c.seq).where(and_(
    case_intervals.c.ref == bindparam(KEY), case_intervals.c.to_utc.is_(None)))


#: Readable keys a key-table read model remembers at most (see ``_KeyedProjection``).
KEY_LIMIT = 100_000


@projection
class WarningsProjection(_KeyedProjection):
    """Warning levels as intervals, measures with their lifecycle, fulfilments."""

    name = "warnings"
    key_table = warning_keys
    rebuild_cost = 0.11
    schema_version = 1
    tables = (warning_keys, warning_levels, warning_measures, measure_fulfilments)
    topics = frozenset({
        "CommunityWarning.Opened", "CommunityWarning.Raised", "CommunityWarning.Escalated",
        "CommunityWarning.Deescalated",
        "CommunityWarning.Lifted", "CommunityWarning.MeasureFulfilled",
        "CommunityWarning.ThirdPartyPatrolEngaged",
    })

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        d, env = event.data, event.envelope
        at = env.get("occurred_at", "")
        at_utc = utc_key(at)
        kind = event.type.partition(".")[2]
        if kind == "Opened":
            self.buffer(warning_keys).insert({"aggregate_id": str(event.aggregate_id),
                                              "key": d["code"]})
            self.remember(event, d["code"])
            return
        key = self.key(conn, event)
        measures = self.buffer(warning_measures)
        if kind in ("Raised", "Escalated", "Deescalated", "Lifted"):
            community, _, problem_type = key.partition("/")
            memo = self.memo("levels")
            state: list[Any] | None = memo.get(key)  # [count, open sequence numbers]
            if state is None:
                state = memo[key] = [0, []] if self.complete else [
                    conn.execute(select(func.count()).select_from(warning_levels)
                                 .where(warning_levels.c.key == key)).scalar_one(),
                    list(conn.execute(select(warning_levels.c.seq).where(and_(
                        warning_levels.c.key == key,
                        warning_levels.c.to_utc.is_(None)))).scalars())]
            levels = self.buffer(warning_levels)
            for seq in state[1]:
                levels.update((key, seq), {"to_utc": at_utc})
            state[0] += 1
            state[1] = [state[0]]
            levels.insert({
                "key": key, "seq": state[0], "community": community,
                "problem_type": problem_type, "level": d["level"], "action": kind.lower(),
                "reason": d["reason"], "suggested": d["suggestion"]["decision"]["level"],
                "accepted_suggestion": d["accepted_suggestion"], "from_at": at,
                "from_utc": at_utc, "to_utc": None, "actor": env.get("actor"),
                "post": env.get("post")})
            for mid in d["superseded"]:
                measures.update((key, mid), {"ended_utc": at_utc, "ended_status": "superseded"})
            for m in d["measures"]:
                measures.insert({
                    "key": key, "measure_id": m["id"], "code": m["code"], "level": m["level"],
                    "name_zh": m["name_zh"], "name_en": m["name_en"], "first_due": m["due"],
                    "repeat_every_days": m["repeat_every_days"], "condition": m["condition"],
                    "created_utc": at_utc,
                    "fulfilled_utc": at_utc if m["status"] == "fulfilled" else None,
                    "ended_utc": None, "ended_status": None})
        elif kind in ("MeasureFulfilled", "ThirdPartyPatrolEngaged"):
            self.buffer(measure_fulfilments).insert({
                "position": event.position, "key": key, "measure_id": d["measure"],
                "occurred_at": at, "occurred_utc": at_utc, "next_due": d.get("next_due"),
                "actor": env.get("actor"), "person": d.get("person"),
                "outcome": d.get("outcome"), "third_party": d.get("third_party"),
                "note": d.get("note")})
            if not d.get("next_due"):
                measures.update((key, d["measure"]), {"fulfilled_utc": at_utc})
            for mid in d.get("waived", []):
                measures.update((key, mid), {"ended_utc": at_utc, "ended_status": "not_required"})


@projection
class DutiesProjection(_KeyedProjection):
    """Responsibility lists by version and the duty failures recorded against each party."""

    name = "duties"
    key_table = duty_keys
    key_column = "town"
    rebuild_cost = 0.09
    schema_version = 1
    tables = (duty_keys, duty_versions, duty_entries, duty_failures)
    topics = frozenset({"ResponsibilityList.Started", "ResponsibilityList.Issued",
                        "ResponsibilityList.DutyFailureRecorded"})

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        d, env = event.data, event.envelope
        if event.type.endswith(".Started"):
            self.buffer(duty_keys).insert({"aggregate_id": str(event.aggregate_id),
                                           "town": d["code"]})
            self.remember(event, d["code"])
            return
        town = self.key(conn, event)
        if event.type.endswith(".Issued"):
            self.buffer(duty_versions).insert({
                "town": town, "version": d["version"], "effective_from": d["effective_from"],
                "issued_by": env.get("actor"), "post": env.get("post")})
            entries = self.buffer(duty_entries)
            for e in d["entries"]:
                for duty in e["duties"]:
                    entries.insert({
                        "town": town, "version": d["version"], "problem_type": e["problem_type"],
                        "stage": e["stage"], "party": e["party"], "code": duty["code"],
                        "text": duty["text"], "effective_from": d["effective_from"]})
        else:
            self.buffer(duty_failures).insert({
                "position": event.position, "town": town, "party": d["party"],
                "community": d["community"], "problem_type": d["problem_type"],
                "stage": d["stage"], "duty_code": d["duty_code"], "duty_text": d["duty_text"],
                "list_version": d["list_version"], "case_ref": d["case"],
                "description": d["description"], "year": d["year"],
                "occurred_at": env.get("occurred_at", ""), "actor": env.get("actor"),
                "post": env.get("post")})


# ---------------------------------------------------------------------------- queries
def _when(as_of: datetime | None) -> tuple[datetime, str, str]:
    when = as_of or now()
    return when, utc_key(when), local_day(when).isoformat()


def _active(table: Table, at_utc: str) -> Any:
    return and_(table.c.from_utc <= at_utc,
                or_(table.c.to_utc.is_(None), table.c.to_utc > at_utc))


def case_board(ledger: GovernanceLedger, *, community: str | None = None,
               status: str | None = None, overdue: bool = False,
               as_of: datetime | None = None) -> dict[str, Any]:
    """Every case as it stood at *as_of* (default now): state, due date, whether overdue."""
    ledger.catch_up("cases")
    when, at_utc, day = _when(as_of)
    q = (select(cases.c.ref, cases.c.community, cases.c.channel, cases.c.problem_type,
                cases.c.stage, cases.c.location, cases.c.received_at, case_intervals.c.status,
                case_intervals.c.since, case_intervals.c.due,
                case_intervals.c.mode, case_intervals.c.departments,
                case_intervals.c.returns, case_intervals.c.reopens,
                case_intervals.c.supervisions)
         .join(case_intervals, case_intervals.c.ref == cases.c.ref)
         .where(_active(case_intervals, at_utc)).order_by(cases.c.ref))
    if community:
        q = q.where(cases.c.community == community)
    if status:
        q = q.where(case_intervals.c.status == status)
    rows = []
    from ledger.projections.supervision import levels

    escalated = levels(ledger, "case", at_utc)
    with ledger.engine.connect() as conn:
        for r in conn.execute(q).all():
            row = dict(r._mapping)
            row["departments"] = json.loads(row["departments"])
            row["escalation"] = escalated.get((row["ref"], f"{row['status']}@{row['since']}"),
                                              "none")
            late = (row["status"] not in FINISHED and row["due"] is not None
                    and row["due"] < day)
            row["overdue"] = late
            row["days_overdue"] = ((date.fromisoformat(day) - date.fromisoformat(row["due"])).days
                                   if late else 0)
            if overdue and not late:
                continue
            rows.append(row)
    return {"as_of": when.isoformat(), "cases": rows}


def measure_status(m: dict[str, Any], fulfilments: list[dict[str, Any]], at_utc: str,
                   day: str) -> tuple[str, str | None]:
    """(status, due) of one measure at a moment: fulfilled, missed, due, conditional, or how it
    ended (superseded, not_required)."""
    if m["ended_utc"] and m["ended_utc"] <= at_utc:
        return m["ended_status"], None
    if m["fulfilled_utc"] and m["fulfilled_utc"] <= at_utc:
        return "fulfilled", None
    due = m["first_due"]
    done = [f for f in fulfilments if f["occurred_utc"] <= at_utc and f["next_due"]]
    if done:
        due = done[-1]["next_due"]
    if m["condition"]:
        return "conditional", due
    return ("missed" if due < day else "due"), due


def warning_board(ledger: GovernanceLedger, *, level: str | None = None,
                  community: str | None = None,
                  as_of: datetime | None = None) -> dict[str, Any]:
    """The colour of every community and problem type at *as_of*, with its measures."""
    ledger.catch_up("warnings")
    when, at_utc, day = _when(as_of)
    q = select(warning_levels).where(_active(warning_levels, at_utc)).where(
        warning_levels.c.level != "none").order_by(warning_levels.c.key)
    if level:
        q = q.where(warning_levels.c.level == level)
    if community:
        q = q.where(warning_levels.c.community == community)
    out = []
    from ledger.projections.supervision import levels

    escalated = levels(ledger, "measure", at_utc)
    with ledger.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q).all()]
        # every measure and fulfilment of these warnings in two queries, not two per warning
        keys = select(q.subquery().c.key)
        all_measures: dict[str, list[dict[str, Any]]] = {}
        for mr in conn.execute(select(warning_measures).where(and_(
                warning_measures.c.key.in_(keys), warning_measures.c.created_utc <= at_utc))
                .order_by(warning_measures.c.first_due, warning_measures.c.measure_id)):
            all_measures.setdefault(mr.key, []).append(dict(mr._mapping))
        all_fulfilments: dict[str, list[dict[str, Any]]] = {}
        for fr in conn.execute(select(measure_fulfilments).where(
                measure_fulfilments.c.key.in_(keys)).order_by(measure_fulfilments.c.position)):
            all_fulfilments.setdefault(fr.key, []).append(dict(fr._mapping))
        for row in rows:
            ms = [m for m in all_measures.get(row["key"], ())
                  if m["level"] == row["level"] and m["created_utc"] >= row["from_utc"]]
            fuls = all_fulfilments.get(row["key"], [])
            measures = []
            for m in ms:
                mine = [f for f in fuls if f["measure_id"] == m["measure_id"]]
                st, due = measure_status(m, mine, at_utc, day)
                last = next((f for f in reversed(mine) if f["occurred_utc"] <= at_utc), None)
                measures.append({
                    "id": m["measure_id"], "code": m["code"], "name_zh": m["name_zh"],
                    "name_en": m["name_en"], "status": st, "due": due,
                    "repeat_every_days": m["repeat_every_days"], "condition": m["condition"],
                    "last_done": last["occurred_at"] if last else None,
                    "outcome": last["outcome"] if last else None,
                    "third_party": last["third_party"] if last else None,
                    "escalation": escalated.get((row["key"], f"{m['measure_id']}@{due}"),
                                                "none"),
                })
            out.append({
                "key": row["key"], "community": row["community"],
                "problem_type": row["problem_type"], "level": row["level"],
                "since": row["from_at"], "action": row["action"], "reason": row["reason"],
                "suggested": row["suggested"], "accepted_suggestion": row["accepted_suggestion"],
                "decided_by": row["actor"], "post": row["post"], "measures": measures,
                "missed": sum(1 for m in measures if m["status"] == "missed"),
            })
    return {"as_of": when.isoformat(), "warnings": out}


def duty_lists(ledger: GovernanceLedger, town: str | None = None) -> dict[str, Any]:
    """The responsibility list in force per town: entries grouped by problem type and stage."""
    ledger.catch_up("duties")
    with ledger.engine.connect() as conn:
        vq = select(duty_versions.c.town, func.max(duty_versions.c.version)).group_by(
            duty_versions.c.town)
        if town:
            vq = vq.where(duty_versions.c.town == town)
        out = []
        for t, v in conn.execute(vq).all():
            meta = conn.execute(select(duty_versions).where(and_(
                duty_versions.c.town == t, duty_versions.c.version == v))).one()._mapping
            rows = [dict(r._mapping) for r in conn.execute(
                select(duty_entries).where(and_(duty_entries.c.town == t,
                                                duty_entries.c.version == v))
                .order_by(duty_entries.c.problem_type, duty_entries.c.stage,
                          duty_entries.c.party, duty_entries.c.code)).all()]
            out.append({"town": t, "version": v, "effective_from": meta["effective_from"],
                        "issued_by": meta["issued_by"], "entries": rows})
    return {"lists": out}


def duty_failure_counts(ledger: GovernanceLedger, year: int | None = None,
                        party: str | None = None) -> dict[str, Any]:
    """Duty failures per party (and year): what counts against a party at the year-end
    appraisal, with every failure listed."""
    ledger.catch_up("duties")
    q = select(duty_failures).order_by(duty_failures.c.party, duty_failures.c.position)
    if year is not None:
        q = q.where(duty_failures.c.year == year)
    if party is not None:
        q = q.where(duty_failures.c.party == party)
    with ledger.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q).all()]
    counts: dict[tuple[str, int], int] = {}
    for r in rows:
        counts[(r["party"], r["year"])] = counts.get((r["party"], r["year"]), 0) + 1
    return {"year": year,
            "parties": [{"party": p, "year": y, "failures": n}
                        for (p, y), n in sorted(counts.items())],
            "failures": rows}


def case_documents(ledger: GovernanceLedger, target: str | None = None) -> list[dict[str, Any]]:
    """Template documents filed (on a case reference or a community code, or all)."""
    ledger.catch_up("cases")
    q = select(documents).order_by(documents.c.position)
    if target:
        q = q.where(documents.c.target == target)
    with ledger.engine.connect() as conn:
        out = [dict(r._mapping) for r in conn.execute(q).all()]
    for d in out:
        d["fields"] = json.loads(d["fields"])
    return out
