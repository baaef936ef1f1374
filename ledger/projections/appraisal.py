"""The year-end appraisal read model and its tables (firms, owners' committees, communities,
indicators).

Rows come only from ``AppraisalYear`` events; firm names are joined from the owners read model
at query time, and indicators measured from the ledger are computed at query time by the
calculators of :mod:`ledger.indicators`.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
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
    select,
)

from ledger.kernel.config import local_day, now
from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger


years = Table(
    "rm_appraisal_years", metadata,
    Column("code", String(40), primary_key=True),
    Column("aggregate_id", String(36), nullable=False, unique=True),
    Column("town", String(32), nullable=False),
    Column("year", Integer(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("runs", Integer(), nullable=False),
    Column("opened_at", String(40), nullable=False),
    Column("closed_at", String(40)),
    Column("objection_until", String(40)),
    Column("finalised_at", String(40)),
    Column("reopened", Integer(), nullable=False),
    Column("last_reopen_reason", Text()),
    Column("rule", String(64)),
    Column("parameters", Text()),
    Column("inputs_digest", String(64)),
    Column("bottom_three_applies", Boolean()),
)
firm_rows = Table(
    "rm_appraisal_firms", metadata,
    Column("year_code", String(40), primary_key=True),
    Column("firm", String(18), primary_key=True),
    Column("score", String(8)),
    Column("appraising_body", String(200)),
    Column("score_by", String(64)),
    Column("satisfaction", String(8)),
    Column("sample_size", Integer()),
    Column("survey", String(500)),
    Column("satisfaction_by", String(64)),
    Column("rank", Integer()),
    Column("bottom_three", Boolean()),
    Column("consecutive", Integer()),
    Column("eliminated", Boolean()),
    Column("reasons", Text()),
    Column("actions", Text()),
    Column("run", Integer()),
)
oc_rows = Table(
    "rm_appraisal_ocs", metadata,
    Column("year_code", String(40), primary_key=True),
    Column("oc", String(40), primary_key=True),
    Column("community", String(32), nullable=False),
    Column("criteria", Text(), nullable=False),
    Column("overall", String(8), nullable=False),
    Column("comment", Text(), nullable=False),
    Column("evaluated_by", String(64), nullable=False),
)
party_rows = Table(
    "rm_appraisal_parties", metadata,
    Column("year_code", String(40), primary_key=True),
    Column("community", String(32), primary_key=True),
    Column("party", String(80), primary_key=True),
    Column("excellent", Integer(), nullable=False),
    Column("good", Integer(), nullable=False),
    Column("fair", Integer(), nullable=False),
    Column("poor", Integer(), nullable=False),
    Column("appraisers", Text(), nullable=False),
)
records = Table(
    "rm_appraisal_records", metadata,
    Column("position", ID, primary_key=True),
    Column("year_code", String(40), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("community", String(32)),
    Column("subject", String(200), nullable=False),
    Column("detail", Text(), nullable=False),
)
indicator_defs = Table(
    "rm_appraisal_indicators", metadata,
    Column("year_code", String(40), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("ord", Integer(), nullable=False),
    Column("name_zh", String(200), nullable=False),
    Column("name_en", String(200), nullable=False),
    Column("unit", String(20), nullable=False),
    Column("weight", String(12), nullable=False),
    Column("source", String(10), nullable=False),
    Column("measure", String(64)),
)
indicator_values = Table(
    "rm_appraisal_indicator_values", metadata,
    Column("year_code", String(40), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("community", String(32), primary_key=True),
    Column("value", String(40), nullable=False),
    Column("note", Text(), nullable=False),
)
objections = Table(
    "rm_appraisal_objections", metadata,
    Column("year_code", String(40), primary_key=True),
    Column("objection", String(24), primary_key=True),
    Column("firm", String(18), nullable=False),
    Column("text", Text(), nullable=False),
    Column("filed_at", String(40), nullable=False),
    Column("filed_by", String(64), nullable=False),
    Column("decision", String(16)),
    Column("answer", Text()),
    Column("answered_by", String(64)),
)
follow_ups = Table(
    "rm_appraisal_follow_ups", metadata,
    Column("year_code", String(40), primary_key=True),
    Column("task", String(24), primary_key=True),
    Column("firm", String(18), nullable=False),
    Column("communities", Text(), nullable=False),
    Column("legal_counsel", Text(), nullable=False),
    Column("due", String(10), nullable=False),
    Column("status", String(16), nullable=False),
)

#: What happened to each follow-up task: a community's termination (completed, on time or
#: late, linked to the termination event) or a contested termination. No event of these kinds
#: existed before this table, so it needs no rebuild of earlier ledgers.
follow_up_steps = Table(
    "rm_appraisal_follow_up_steps", metadata,
    Column("position", ID, primary_key=True),
    Column("year_code", String(40), nullable=False, index=True),
    Column("task", String(24), nullable=False),
    Column("step", String(16), nullable=False),
    Column("community", String(32)),
    Column("contract", String(64), nullable=False),
    Column("on_time", Boolean()),
    Column("event", String(64), nullable=False),
    Column("detail", Text(), nullable=False),
    Column("occurred_at", String(40), nullable=False),
)

#: Runs, stale marks and cascades, in log order: a year is stale while its latest row is a
#: stale mark (an earlier year rerun after it closed). Events of these kinds are new with this
#: table, except ``Closed``, whose earlier rows are not needed: a year can only be stale after
#: a ``MarkedStale``, and only a later ``Closed`` clears it.
reruns = Table(
    "rm_appraisal_reruns", metadata,
    Column("position", ID, primary_key=True),
    Column("year_code", String(40), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("because", String(40)),
    Column("run", Integer(), nullable=False),
    Column("detail", Text(), nullable=False),
    Column("occurred_at", String(40), nullable=False),
)

TABLES = (years, firm_rows, oc_rows, party_rows, records, indicator_defs, indicator_values,
          objections, follow_ups, follow_up_steps, reruns)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@projection
class AppraisalProjection(Projection):
    """Appraisal years, firm grades and outcomes, evaluations, indicators, objections."""

    name = "appraisal"
    rebuild_cost = 0.12
    schema_version = 1
    tables = TABLES

    #: Every ``AppraisalYear`` event (others are skipped without decoding); named here, not
    #: read off the aggregate, so that read models never import aggregates' behaviour
    #: (tests/unit/test_projection_topics.py keeps the list complete).
    topics = frozenset(f"AppraisalYear.{name}" for name in (
        "CascadeRerun", "Closed", "Created", "Finalised", "FirmScoreRecorded",
        "FollowUpAssigned", "FollowUpCancelled", "FollowUpCompleted", "FollowUpContested",
        "IndicatorDefined", "IndicatorValueRecorded", "MarkedStale", "ObjectionAnswered",
        "ObjectionFiled", "Opened", "OutcomeChanged", "OwnersCommitteeEvaluated", "Reopened",
        "ResidentAppraisalRecorded", "RewardOrPenaltyRecorded", "SatisfactionRecorded",
        "SocialOrganisationEvaluated", "ThreeHeadsCommended"
    ))

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        kind, _, name = event.type.partition(".")
        if kind != "AppraisalYear":
            return
        d, env = event.data, event.envelope
        agg = str(event.aggregate_id)
        memo = self.memo("years")
        if name == "Opened":
            self.buffer(years).insert({
                "code": d["code"], "aggregate_id": agg, "town": d["town"],
                "year": d["year"], "status": "open", "runs": 0,
                "opened_at": env.get("occurred_at", ""), "closed_at": None,
                "objection_until": None, "finalised_at": None, "reopened": 0,
                "last_reopen_reason": None, "rule": None, "parameters": None,
                "inputs_digest": None, "bottom_three_applies": None})
            memo[agg] = {"code": d["code"], "reopened": 0}
            return
        year = memo.get(agg)
        if year is None and not self.complete:
            row = conn.execute(_YEAR, {"agg": agg}).first()
            if row is not None:
                year = memo[agg] = dict(row._mapping)
        if year is None:  # pragma: no cover - Opened always comes first
            return
        handler = getattr(self, f"_on_{name}", None)
        if handler is not None:
            handler(conn, year["code"], d, env, event)

    # -------------------------------------------------------------- firms
    def _firm(self, conn: Connection, code: str, firm: str, values: dict[str, Any]) -> None:
        """Insert the firm's row of the year, or update it when there is one."""
        known = self.memo("firm_rows")
        pk = (code, firm)
        exists = known.get(pk)
        if exists is None:
            exists = known[pk] = (not self.complete and conn.execute(
                _FIRM_ROW, {"code": code, "firm": firm}).first() is not None)
        if exists:
            self.buffer(firm_rows).update(pk, values)
        else:
            self.buffer(firm_rows).insert({"year_code": code, "firm": firm, **values})
            known[pk] = True

    def _on_FirmScoreRecorded(self, conn: Connection, code: str, d: dict[str, Any],  # noqa: N802
                              env: dict[str, Any], event: LoggedEvent) -> None:
        self._firm(conn, code, d["firm"], {"score": d["score"], "appraising_body": d["body"],
                                           "score_by": env.get("actor")})

    def _on_SatisfactionRecorded(self, conn: Connection, code: str,  # noqa: N802
                                 d: dict[str, Any], env: dict[str, Any],
                                 event: LoggedEvent) -> None:
        self._firm(conn, code, d["firm"], {"satisfaction": d["percent"],
                                           "sample_size": d["sample_size"],
                                           "survey": d["survey"],
                                           "satisfaction_by": env.get("actor")})

    def _on_MarkedStale(self, conn: Connection, code: str, d: dict[str, Any],  # noqa: N802
                        env: dict[str, Any], event: LoggedEvent) -> None:
        self.buffer(reruns).insert({
            "position": event.position, "year_code": code, "kind": "stale",
            "because": d["because"], "run": d["run"], "detail": "{}",
            "occurred_at": env.get("occurred_at", "")})

    def _on_CascadeRerun(self, conn: Connection, code: str, d: dict[str, Any],  # noqa: N802
                         env: dict[str, Any], event: LoggedEvent) -> None:
        self.buffer(reruns).insert({
            "position": event.position, "year_code": code, "kind": "cascade",
            "because": d["trigger"], "run": d["run"], "detail": _dump(d["changed"]),
            "occurred_at": env.get("occurred_at", "")})

    def _on_Closed(self, conn: Connection, code: str, d: dict[str, Any],  # noqa: N802
                   env: dict[str, Any], event: LoggedEvent) -> None:
        self.buffer(reruns).insert({
            "position": event.position, "year_code": code, "kind": "run", "because": None,
            "run": d["run"], "detail": "{}", "occurred_at": env.get("occurred_at", "")})
        decision = d["evaluation"]["decision"]
        self.buffer(years).update((code,), {
            "status": "closed", "runs": d["run"], "closed_at": env.get("occurred_at"),
            "objection_until": d["objection_until"], "rule": d["rule"]["key"],
            "parameters": _dump(d["rule"]["parameters"]),
            "inputs_digest": d["rule"]["inputs_digest"],
            "bottom_three_applies": bool(decision["bottom_three"]["applies"])})
        for f in decision["elimination"]["firms"]:
            self._firm(conn, code, f["firm_id"], {
                "rank": f["rank"], "bottom_three": f["bottom_three"],
                "consecutive": f["consecutive_bottom_three_years"],
                "eliminated": f["eliminated"], "reasons": _dump(f["reasons"]),
                "actions": _dump(f["actions"]), "run": d["run"]})

    def _on_Reopened(self, conn: Connection, code: str, d: dict[str, Any],  # noqa: N802
                     env: dict[str, Any], event: LoggedEvent) -> None:
        year = self.memo("years")[str(event.aggregate_id)]
        year["reopened"] = int(year["reopened"] or 0) + 1
        self.buffer(years).update((code,), {
            "status": "open", "objection_until": None, "finalised_at": None,
            "reopened": year["reopened"], "last_reopen_reason": d["reason"]})

    def _on_Finalised(self, conn: Connection, code: str, d: dict[str, Any],  # noqa: N802
                      env: dict[str, Any], event: LoggedEvent) -> None:
        self.buffer(years).update((code,), {"status": "finalised",
                                            "finalised_at": env.get("occurred_at")})

    def _on_FollowUpAssigned(self, conn: Connection, code: str,  # noqa: N802
                             d: dict[str, Any], env: dict[str, Any],
                             event: LoggedEvent) -> None:
        self.buffer(follow_ups).insert({
            "year_code": code, "task": d["task"], "firm": d["firm"],
            "communities": _dump(d["communities"]), "legal_counsel": _dump(d["legal_counsel"]),
            "due": d["due"], "status": "open"})

    def _on_FollowUpCompleted(self, conn: Connection, code: str,  # noqa: N802
                              d: dict[str, Any], env: dict[str, Any],
                              event: LoggedEvent) -> None:
        self.buffer(follow_ups).update((code, d["task"]), {"status": d["status"]})
        self.buffer(follow_up_steps).insert({
            "position": event.position, "year_code": code, "task": d["task"],
            "step": "completed", "community": d["community"], "contract": d["contract"],
            "on_time": d["on_time"], "event": d["termination"]["event"],
            "detail": _dump(d["termination"]), "occurred_at": env.get("occurred_at", "")})

    def _on_FollowUpContested(self, conn: Connection, code: str,  # noqa: N802
                              d: dict[str, Any], env: dict[str, Any],
                              event: LoggedEvent) -> None:
        self.buffer(follow_up_steps).insert({
            "position": event.position, "year_code": code, "task": d["task"],
            "step": "contested", "community": None, "contract": d["contract"],
            "on_time": None, "event": d["contest"]["event"], "detail": _dump(d["contest"]),
            "occurred_at": env.get("occurred_at", "")})

    def _on_FollowUpCancelled(self, conn: Connection, code: str,  # noqa: N802
                              d: dict[str, Any], env: dict[str, Any],
                              event: LoggedEvent) -> None:
        self.buffer(follow_ups).update((code, d["task"]), {"status": "cancelled"})

    def _on_ObjectionFiled(self, conn: Connection, code: str,  # noqa: N802
                           d: dict[str, Any], env: dict[str, Any],
                           event: LoggedEvent) -> None:
        self.buffer(objections).insert({
            "year_code": code, "objection": d["objection"], "firm": d["firm"],
            "text": d["text"], "filed_at": env.get("occurred_at", ""),
            "filed_by": env.get("actor", ""), "decision": None, "answer": None,
            "answered_by": None})

    def _on_ObjectionAnswered(self, conn: Connection, code: str,  # noqa: N802
                              d: dict[str, Any], env: dict[str, Any],
                              event: LoggedEvent) -> None:
        self.buffer(objections).update((code, d["objection"]), {
            "decision": d["decision"], "answer": d["answer"], "answered_by": env.get("actor")})

    # -------------------------------------------------------------- evaluations
    def _replace(self, table: Table, row: dict[str, Any]) -> None:
        """Delete the row with *row*'s primary key (if any), then insert *row*."""
        buf = self.buffer(table)
        buf.delete(tuple(row[k] for k in buf.key))
        buf.insert(row)

    def _on_OwnersCommitteeEvaluated(self, conn: Connection, code: str,  # noqa: N802
                                     d: dict[str, Any], env: dict[str, Any],
                                     event: LoggedEvent) -> None:
        self._replace(oc_rows, {
            "year_code": code, "oc": d["oc"], "community": d["community"],
            "criteria": _dump(d["criteria"]), "overall": d["overall"], "comment": d["comment"],
            "evaluated_by": env.get("actor", "")})

    def _on_ResidentAppraisalRecorded(self, conn: Connection, code: str,  # noqa: N802
                                      d: dict[str, Any], env: dict[str, Any],
                                      event: LoggedEvent) -> None:
        self._replace(party_rows, {
            "year_code": code, "community": d["community"], "party": d["party"],
            "appraisers": _dump([r["appraiser"] for r in d["ratings"]]), **d["counts"]})

    def _record(self, code: str, event: LoggedEvent, kind: str, community: str | None,
                subject: str, detail: dict[str, Any]) -> None:
        self.buffer(records).insert({
            "position": event.position, "year_code": code, "kind": kind,
            "community": community, "subject": subject, "detail": _dump(detail)})

    def _on_ThreeHeadsCommended(self, conn: Connection, code: str,  # noqa: N802
                                d: dict[str, Any], env: dict[str, Any],
                                event: LoggedEvent) -> None:
        self._record(code, event, "commendation", d["community"],
                     f"{d['person_name']} ({d['post']})", {"title": d["title"],
                                                            "reason": d["reason"]})

    def _on_SocialOrganisationEvaluated(self, conn: Connection, code: str,  # noqa: N802
                                        d: dict[str, Any], env: dict[str, Any],
                                        event: LoggedEvent) -> None:
        self._record(code, event, "social_organisation", d["community"],
                     d["organisation"], {"rating": d["rating"], "funding": d["funding"],
                                         "honour": d["honour"], "comment": d["comment"]})

    def _on_RewardOrPenaltyRecorded(self, conn: Connection, code: str,  # noqa: N802
                                    d: dict[str, Any], env: dict[str, Any],
                                    event: LoggedEvent) -> None:
        self._record(code, event, d["kind"], d["community"], d["party"],
                     {"measure": d["measure"], "reason": d["reason"]})

    def _on_IndicatorDefined(self, conn: Connection, code: str,  # noqa: N802
                             d: dict[str, Any], env: dict[str, Any],
                             event: LoggedEvent) -> None:
        s = d["spec"]
        self.buffer(indicator_defs).insert({
            "year_code": code, "code": s["code"], "ord": s["order"], "name_zh": s["name_zh"],
            "name_en": s["name_en"], "unit": s["unit"], "weight": s["weight"],
            "source": s["source"], "measure": s["measure"]})

    def _on_IndicatorValueRecorded(self, conn: Connection, code: str,  # noqa: N802
                                   d: dict[str, Any], env: dict[str, Any],
                                   event: LoggedEvent) -> None:
        self._replace(indicator_values, {
            "year_code": code, "code": d["code"], "community": d["community"],
            "value": d["value"], "note": d["note"]})


_YEAR = select(years.c.code, years.c.reopened).where(years.c.aggregate_id == bindparam("agg"))
_FIRM_ROW = select(firm_rows.c.firm).where(and_(firm_rows.c.year_code == bindparam("code"),
                                                firm_rows.c.firm == bindparam("firm")))


# ---------------------------------------------------------------------------- queries
def _rows(conn: Connection, q: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(q)]


def year_row(ledger: GovernanceLedger, key: str) -> dict[str, Any] | None:
    """The appraisal year *key* as the read model holds it, with ``stale`` (``None``, or the
    earlier year whose rerun after this year's last run may have changed its history)."""
    ledger.catch_up("appraisal")
    with ledger.engine.connect() as conn:
        rows = _rows(conn, select(years).where(years.c.code == key))
        last = _rows(conn, select(reruns).where(reruns.c.year_code == key)
                     .order_by(reruns.c.position.desc()).limit(1))
    if not rows:
        return None
    row = rows[0]
    row["stale"] = ({"because": last[0]["because"], "run": last[0]["run"],
                     "at": last[0]["occurred_at"]}
                    if last and last[0]["kind"] == "stale" else None)
    return row


def rerun_history(ledger: GovernanceLedger, key: str) -> list[dict[str, Any]]:
    """Year *key*'s runs, stale marks and cascade reruns (with what changed), oldest first."""
    ledger.catch_up("appraisal")
    with ledger.engine.connect() as conn:
        rows = _rows(conn, select(reruns).where(reruns.c.year_code == key)
                     .order_by(reruns.c.position))
    for r in rows:
        r.pop("year_code")
        r["detail"] = json.loads(r["detail"])
    return rows


def firm_table(ledger: GovernanceLedger, key: str) -> list[dict[str, Any]]:
    """The firm table of year *key*: rank, firm, score, satisfaction, bottom-three flag,
    consecutive bottom-three years, eliminated, reasons; best first (ungraded last)."""
    from ledger.projections.owners import firms

    ledger.catch_up("appraisal")
    ledger.catch_up("owners")
    with ledger.engine.connect() as conn:
        rows = _rows(conn, select(firm_rows).where(firm_rows.c.year_code == key))
        names = {r[0]: r[1] for r in conn.execute(select(firms.c.code, firms.c.name))}
    out = []
    for r in rows:
        reasons = json.loads(r["reasons"]) if r["reasons"] else []
        out.append({
            "rank": r["rank"], "firm": r["firm"], "firm_name": names.get(r["firm"], ""),
            "score": r["score"], "satisfaction": r["satisfaction"],
            "sample_size": r["sample_size"], "appraising_body": r["appraising_body"],
            "bottom_three": r["bottom_three"], "consecutive_bottom_three_years": r["consecutive"],
            "eliminated": r["eliminated"],
            "reasons": [{"code": x["code"], "zh": x["zh"], "en": x["en"]} for x in reasons],
            "actions": json.loads(r["actions"]) if r["actions"] else [],
            "score_by": r["score_by"], "satisfaction_by": r["satisfaction_by"], "run": r["run"],
        })
    out.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["firm"]))
    return out


def oc_table(ledger: GovernanceLedger, key: str) -> list[dict[str, Any]]:
    """Owners'-committee evaluations of year *key*, best overall first."""
    ledger.catch_up("appraisal")
    with ledger.engine.connect() as conn:
        rows = _rows(conn, select(oc_rows).where(oc_rows.c.year_code == key))
    for r in rows:
        r["criteria"] = json.loads(r["criteria"])
        r.pop("year_code")
    rows.sort(key=lambda r: (-Decimal(r["overall"]), r["oc"]))
    return rows


def community_table(ledger: GovernanceLedger, key: str) -> list[dict[str, Any]]:
    """Per community: the resident representatives' appraisal of each party, commendations,
    social-organisation evaluations, rewards and penalties of year *key*."""
    ledger.catch_up("appraisal")
    with ledger.engine.connect() as conn:
        parties = _rows(conn, select(party_rows).where(party_rows.c.year_code == key)
                        .order_by(party_rows.c.community, party_rows.c.party))
        recs = _rows(conn, select(records).where(records.c.year_code == key)
                     .order_by(records.c.position))
    out: list[dict[str, Any]] = []
    for p in parties:
        total = p["excellent"] + p["good"] + p["fair"] + p["poor"]
        out.append({"community": p["community"], "kind": "resident_appraisal",
                    "subject": p["party"], "excellent": p["excellent"], "good": p["good"],
                    "fair": p["fair"], "poor": p["poor"], "appraisers": total, "detail": ""})
    for r in recs:
        detail = json.loads(r["detail"])
        out.append({"community": r["community"], "kind": r["kind"], "subject": r["subject"],
                    "excellent": None, "good": None, "fair": None, "poor": None,
                    "appraisers": None,
                    "detail": "; ".join(f"{k}={v}" for k, v in sorted(detail.items())
                                        if v not in (None, ""))})
    out.sort(key=lambda r: (r["community"] or "", r["kind"], r["subject"]))
    return out


def objection_list(ledger: GovernanceLedger, key: str) -> list[dict[str, Any]]:
    """Objections of year *key* and their answers."""
    ledger.catch_up("appraisal")
    with ledger.engine.connect() as conn:
        rows = _rows(conn, select(objections).where(objections.c.year_code == key)
                     .order_by(objections.c.filed_at, objections.c.objection))
    for r in rows:
        r.pop("year_code")
    return rows


def follow_up_list(ledger: GovernanceLedger, key: str,
                   as_of: date | None = None) -> list[dict[str, Any]]:
    """Follow-up tasks of year *key* (committees to terminate eliminated firms' contracts),
    each with what was done (``steps``: terminations, linked to their event, and contests),
    and, for a task still open after its due date on *as_of* (default today), ``overdue``
    and ``days_overdue``."""
    ledger.catch_up("appraisal")
    day = as_of or local_day(now())
    with ledger.engine.connect() as conn:
        rows = _rows(conn, select(follow_ups).where(follow_ups.c.year_code == key)
                     .order_by(follow_ups.c.task))
        steps = _rows(conn, select(follow_up_steps).where(follow_up_steps.c.year_code == key)
                      .order_by(follow_up_steps.c.position))
    for r in rows:
        r.pop("year_code")
        r["communities"] = json.loads(r["communities"])
        r["legal_counsel"] = json.loads(r["legal_counsel"])
        r["steps"] = [{**{k: v for k, v in st.items() if k not in ("year_code", "task")},
                       "detail": json.loads(st["detail"])}
                      for st in steps if st["task"] == r["task"]]
        r["contested"] = any(st["step"] == "contested" for st in r["steps"])
        late = r["status"] == "open" and r["due"] < day.isoformat()
        r["overdue"] = late
        r["days_overdue"] = (day - date.fromisoformat(r["due"])).days if late else 0
    return rows


def all_tables(ledger: GovernanceLedger) -> dict[str, list[dict[str, Any]]]:
    """Every appraisal table row, for comparing a rebuilt read model with an incremental one."""
    ledger.catch_up("appraisal")
    out: dict[str, list[dict[str, Any]]] = {}
    with ledger.engine.connect() as conn:
        for table in TABLES:
            cols = [c for c in table.columns if c.name != "aggregate_id"]
            rows = _rows(conn, select(*cols).order_by(*table.primary_key.columns))
            out[table.name] = rows
    return out


def district_report(ledger: GovernanceLedger, town: str = "ZQ",
                    as_of: date | None = None) -> dict[str, Any]:
    """What the town reports to the district housing bureau: firms banned town-wide (with the
    report to the district credit platform), and every elimination follow-up task with its
    state on *as_of* (default today), overdue tasks flagged."""
    from ledger.projections.owners import blacklist

    day = as_of or local_day(now())
    ledger.catch_up("appraisal")
    with ledger.engine.connect() as conn:
        keys = [r[0] for r in conn.execute(select(years.c.code).where(years.c.town == town)
                                           .order_by(years.c.year))]
    tasks = []
    for key in keys:
        for row in follow_up_list(ledger, key, day):
            tasks.append({"appraisal": key, **row})
    bans = [b for b in blacklist(ledger) if b["town"] == town]
    return {"town": town, "as_of": day.isoformat(), "bans": bans, "follow_ups": tasks,
            "overdue_follow_ups": sum(1 for t in tasks if t["overdue"]),
            "contested_follow_ups": sum(1 for t in tasks if t["contested"])}
