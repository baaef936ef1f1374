"""Read models of owners' committees, property firms, tenders, contracts and the credit file,
with the queries the CLI and other services use (:func:`ocs`, :func:`contracts`,
:func:`credit_file`, :func:`blacklist`).

Amounts are kept as decimal text and summed as :class:`~decimal.Decimal`, never as floats.
Contract periods are stored as fixed-width UTC text so "who served where at time T" is a
string comparison in SQL.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
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
from sqlalchemy.exc import NoResultFound

from ledger.kernel.config import now
from ledger.kernel.errors import CommandValidationError, NotFoundError
from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.i18n import _
from ledger.kernel.reasons import render_reason
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection
from ledger.projections.sql import KEY
from ledger.projections.status import post_terms, utc_key

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

committees = Table(
    "rm_owners_committees", metadata,
    Column("key", String(48), primary_key=True),
    Column("agg_id", String(36), nullable=False, unique=True),
    Column("community", String(32), nullable=False, index=True),
    Column("town", String(32), nullable=False),
    Column("term", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("previous", String(48)),
    Column("formed_at", String(40), nullable=False),
    Column("group_members", Text(), nullable=False),
    Column("temporary_party_org", Text(), nullable=False),
    Column("candidates", Text(), nullable=False),
    Column("assembly_date", String(40)),
    Column("owners_total", Integer()),
    Column("owners_voted", Integer()),
    Column("turnout", String(16)),
    Column("votes", Text()),
    Column("elected", Text()),
    Column("director", String(64)),
    Column("term_start", String(40)),
    Column("planned_end", String(40)),
    Column("term_end", String(40)),
    Column("rules", Text(), nullable=False),
    Column("mediations", Integer(), nullable=False),
)
oc_money = Table(
    "rm_oc_money", metadata,
    Column("position", ID, primary_key=True),
    Column("oc", String(48), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("amount", String(40), nullable=False),
    Column("source", Text()),
    Column("purpose", Text(), nullable=False),
    Column("decision", Text(), nullable=False),
    Column("occurred_at", String(40), nullable=False),
)
tenders = Table(
    "rm_tenders", metadata,
    Column("oc", String(48), primary_key=True),
    Column("tender", String(64), primary_key=True),
    Column("community", String(32), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("launched_at", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("bids", Text(), nullable=False),
    Column("winner", String(18)),
    Column("contract", String(64)),
)
firms = Table(
    "rm_firms", metadata,
    Column("code", String(18), primary_key=True),
    Column("agg_id", String(36), nullable=False, unique=True),
    Column("town", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("head", String(64), nullable=False),
    Column("head_name", String(200), nullable=False),
    Column("registered_at", String(40), nullable=False),
    Column("banned", Boolean(), nullable=False),
)
contracts_table = Table(
    "rm_contracts", metadata,
    Column("contract", String(64), primary_key=True),
    Column("firm", String(18), nullable=False, index=True),
    Column("community", String(32), nullable=False, index=True),
    Column("oc", String(48), nullable=False),
    Column("tender", String(64), nullable=False),
    Column("start_at", String(40), nullable=False),
    Column("end_at", String(40), nullable=False),
    Column("start_utc", String(26), nullable=False),
    Column("stop_utc", String(26), nullable=False),
    Column("annual_fee", String(40), nullable=False),
    Column("manager", String(64), nullable=False),
    Column("manager_name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("terminated_at", String(40)),
    Column("termination_kind", String(16)),
    Column("termination_reason", Text()),
    Column("decision", Text()),
    Column("legal_counsel", String(64)),
    Column("renewals", Integer(), nullable=False),
    Column("signed_position", ID, nullable=False),
)
contract_periods = Table(
    "rm_contract_periods", metadata,
    Column("contract", String(64), primary_key=True),
    Column("seq", Integer(), primary_key=True),
    Column("from_at", String(40), nullable=False),
    Column("to_at", String(40), nullable=False),
    Column("from_utc", String(26), nullable=False, index=True),
    Column("to_utc", String(26), nullable=False, index=True),
    Column("annual_fee", String(40), nullable=False),
)
"""Each contract's periods at one fee: signing, then each renewal (from the previous end);
a termination cuts them short. As-of queries read these."""
credit_entries = Table(
    "rm_credit_file", metadata,
    Column("position", ID, primary_key=True),
    Column("firm", String(18), nullable=False, index=True),
    Column("entry", String(24), nullable=False),
    Column("ref", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("community", String(32)),
    Column("detail", Text(), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("actor", String(64)),
    Column("command_id", String(128)),
)

_OC = "OwnersCommittee."
_FIRM = "PropertyFirm."


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@projection
class OwnersProjection(Projection):
    """Committees, tenders, firms, contracts (with periods for as-of queries), credit file."""

    name = "owners"
    rebuild_cost = 0.20
    schema_version = 1
    tables = (committees, oc_money, tenders, firms, contracts_table, contract_periods,
              credit_entries)
    #: Every event of the two aggregates (so other events are skipped without decoding); named
    #: here, not read off the aggregates (tests/unit/test_projection_topics.py keeps it whole).
    topics = frozenset({f"{_OC}{name}" for name in (
        "BidReceived", "CandidateNominated", "ContractConcluded", "Created", "DisputeMediated",
        "ElectionRecorded", "FundUseRecorded", "GroupFormed", "RevenueRecorded", "RulesAdopted",
        "TenderAwarded", "TenderLaunched", "TermEnded", "TermStarted"
    )} | {f"{_FIRM}{name}" for name in (
        "AppraisalActionWithdrawn", "AppraisalOutcomeRecorded", "BanLifted", "BiddingBanned",
        "ContractRenewed", "ContractSigned", "ContractTerminated", "Created", "CreditRecorded",
        "EliminationWithdrawn", "InterviewRequired", "PutOnEliminationList", "Registered",
        "ReportedToDistrict", "TerminationContested", "WrittenWarningIssued"
    )})

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        if event.type.startswith(_OC):
            self._committee(conn, event)
        elif event.type.startswith(_FIRM):
            self._firm(conn, event)

    def _load(self, conn: Connection, memo: str, key: Any, q: Any,
              params: dict[str, Any]) -> Any:
        """The working state *memo*[*key*]: from memory, else the row *q* selects (``None``
        when there is none)."""
        m = self.memo(memo)
        got = m.get(key)
        if got is None and not self.complete:
            row = conn.execute(q, params).first()
            if row is not None:
                got = m[key] = dict(row._mapping)
        return got

    # ------------------------------------------------------------------ committees
    def _committee(self, conn: Connection, event: LoggedEvent) -> None:
        d, env = event.data, event.envelope
        name = event.type.removeprefix(_OC)
        agg = str(event.aggregate_id)
        if name == "GroupFormed":
            self.buffer(committees).insert({
                "key": d["code"], "agg_id": agg, "community": d["community"],
                "town": d["town"], "term": d["term"], "kind": d["kind"], "previous": d["previous"],
                "formed_at": env["occurred_at"], "group_members": _dump(d["group"]),
                "temporary_party_org": _dump(d["temporary_party_org"]), "candidates": "{}",
                "assembly_date": None, "owners_total": None, "owners_voted": None,
                "turnout": None, "votes": None, "elected": None, "director": None,
                "term_start": None, "planned_end": None, "term_end": None,
                "rules": "{}", "mediations": 0})
            self.memo("committees")[agg] = {"key": d["code"], "community": d["community"],
                                            "candidates": "{}", "rules": "{}",
                                            "mediations": 0}
            return
        row = self._load(conn, "committees", agg, _COMMITTEE, {KEY: agg})
        if row is None:
            raise NoResultFound(f"no owners' committee row for aggregate {agg}")
        key = row["key"]
        buf = self.buffer(committees)
        if name == "CandidateNominated":
            cands = json.loads(row["candidates"])
            cands[d["person"]] = {"name": d["person_name"], "role": d["role"],
                                  "recommended_by_town": d["recommended_by_town"],
                                  "recommendation": d["recommendation"]}
            row["candidates"] = _dump(cands)
            buf.update((key,), {"candidates": row["candidates"]})
        elif name == "ElectionRecorded":
            director = next(p for p, r in d["elected"].items() if r == "director")
            buf.update((key,), {
                "assembly_date": d["assembly_date"], "owners_total": d["owners_total"],
                "owners_voted": d["owners_voted"], "turnout": d["turnout"],
                "votes": _dump(d["votes"]), "elected": _dump(d["elected"]),
                "director": director})
        elif name == "TermStarted":
            buf.update((key,), {"term_start": d["start"], "planned_end": d["planned_end"]})
        elif name == "TermEnded":
            buf.update((key,), {"term_end": d["end"]})
        elif name == "RulesAdopted":
            rules = json.loads(row["rules"])
            rules[d["document"]] = {"ref": d["ref"], "decision": d["decision"],
                                    "adopted_at": env["occurred_at"]}
            row["rules"] = _dump(rules)
            buf.update((key,), {"rules": row["rules"]})
        elif name in ("FundUseRecorded", "RevenueRecorded"):
            self.buffer(oc_money).insert({
                "position": event.position, "oc": key,
                "kind": "fund_use" if name == "FundUseRecorded" else "revenue",
                "amount": d["amount"], "source": d.get("source"), "purpose": d["purpose"],
                "decision": d["decision"], "occurred_at": env["occurred_at"]})
        elif name == "DisputeMediated":
            row["mediations"] += 1
            buf.update((key,), {"mediations": row["mediations"]})
        elif name == "TenderLaunched":
            self.buffer(tenders).insert({
                "oc": key, "tender": d["tender"], "community": row["community"],
                "title": d["title"], "launched_at": env["occurred_at"], "status": "open",
                "bids": "{}", "winner": None, "contract": None})
            self.memo("tenders")[(key, d["tender"])] = {"bids": "{}"}
        else:
            self._tender(conn, key, name, d)

    def _tender(self, conn: Connection, key: str, name: str, d: dict[str, Any]) -> None:
        pk = (key, d["tender"])
        buf = self.buffer(tenders)
        if name == "BidReceived":
            row = self._load(conn, "tenders", pk, _TENDER, {"oc": key, "tender": d["tender"]})
            if row is None:
                raise NoResultFound(f"no tender {d['tender']!r} of {key!r}")
            bids = json.loads(row["bids"])
            bids[d["firm"]] = d["annual_fee"]
            row["bids"] = _dump(bids)
            buf.update(pk, {"bids": row["bids"]})
        elif name == "TenderAwarded":
            buf.update(pk, {"status": "awarded", "winner": d["firm"]})
        elif name == "ContractConcluded":
            buf.update(pk, {"status": "contracted", "contract": d["contract"]})

    # ------------------------------------------------------------------ firms
    def _firm(self, conn: Connection, event: LoggedEvent) -> None:
        d, env = event.data, event.envelope
        name = event.type.removeprefix(_FIRM)
        agg = str(event.aggregate_id)
        if name == "Registered":
            self.buffer(firms).insert({
                "code": d["code"], "agg_id": agg, "town": d["town"], "name": d["name"],
                "head": d["head"], "head_name": d["head_name"],
                "registered_at": env["occurred_at"], "banned": False})
            self.memo("firms")[agg] = {"code": d["code"]}
            return
        firm = self._load(conn, "firms", agg, _FIRM_CODE, {KEY: agg})
        if firm is None:
            raise NoResultFound(f"no firm row for aggregate {agg}")
        code = firm["code"]
        if name == "ContractSigned":
            self.buffer(contracts_table).insert({
                "contract": d["contract"], "firm": code, "community": d["community"],
                "oc": d["oc"], "tender": d["tender"], "start_at": d["start"], "end_at": d["end"],
                "start_utc": utc_key(d["start"]), "stop_utc": utc_key(d["end"]),
                "annual_fee": d["annual_fee"], "manager": d["manager"],
                "manager_name": d["manager_name"], "status": "active", "terminated_at": None,
                "termination_kind": None, "termination_reason": None, "decision": None,
                "legal_counsel": None, "renewals": 0, "signed_position": event.position})
            self.memo("contracts")[d["contract"]] = {
                "end_at": d["end"], "annual_fee": d["annual_fee"], "renewals": 0}
            self._period(conn, d["contract"], {
                "contract": d["contract"], "seq": 0, "from_at": d["start"], "to_at": d["end"],
                "from_utc": utc_key(d["start"]), "to_utc": utc_key(d["end"]),
                "annual_fee": d["annual_fee"]})
        elif name == "ContractRenewed":
            row = self._load(conn, "contracts", d["contract"], _CONTRACT, {KEY: d["contract"]})
            if row is None:
                raise NoResultFound(f"no contract {d['contract']!r}")
            values: dict[str, Any] = {"end_at": d["end"], "stop_utc": utc_key(d["end"]),
                                      "renewals": row["renewals"] + 1}
            if d["annual_fee"] is not None:
                values["annual_fee"] = d["annual_fee"]
            self.buffer(contracts_table).update((d["contract"],), values)
            self._period(conn, d["contract"], {
                "contract": d["contract"], "seq": row["renewals"] + 1, "from_at": row["end_at"],
                "to_at": d["end"], "from_utc": utc_key(row["end_at"]),
                "to_utc": utc_key(d["end"]),
                "annual_fee": values["annual_fee"] if "annual_fee" in values
                else row["annual_fee"]})
            row.update({k: values[k] for k in ("end_at", "renewals", "annual_fee")
                        if k in values})
        elif name == "ContractTerminated":
            self.buffer(contracts_table).update((d["contract"],), {
                "status": "terminated", "terminated_at": d["effective"],
                "stop_utc": utc_key(d["effective"]), "termination_kind": d["kind"],
                "termination_reason": d["reason"], "decision": d["decision"],
                "legal_counsel": d["legal_counsel"]})
            cut = utc_key(d["effective"])
            periods = self._periods(conn, d["contract"])
            buf = self.buffer(contract_periods)
            for p in list(periods):
                if p["from_utc"] >= cut:
                    buf.delete((d["contract"], p["seq"]))
                    periods.remove(p)
                elif p["to_utc"] > cut:
                    buf.update((d["contract"], p["seq"]), {"to_at": d["effective"],
                                                           "to_utc": cut})
                    p["to_utc"] = cut
        else:
            self._credit(conn, code, name, event)

    def _periods(self, conn: Connection, contract: str) -> list[dict[str, Any]]:
        """The contract's periods (sequence number and UTC bounds), loaded once."""
        memo = self.memo("periods")
        got: list[dict[str, Any]] | None = memo.get(contract)
        if got is None:
            got = memo[contract] = [] if self.complete else [
                dict(r._mapping) for r in conn.execute(_PERIODS, {KEY: contract})]
        return got

    def _period(self, conn: Connection, contract: str, row: dict[str, Any]) -> None:
        self._periods(conn, contract).append(
            {"seq": row["seq"], "from_utc": row["from_utc"], "to_utc": row["to_utc"]})
        self.buffer(contract_periods).insert(row)

    def _credit(self, conn: Connection, code: str, name: str, event: LoggedEvent) -> None:
        d, env = event.data, event.envelope
        entry = {"PutOnEliminationList": "elimination", "CreditRecorded": "credit_record",
                 "BiddingBanned": "ban", "ReportedToDistrict": "district_report",
                 "EliminationWithdrawn": "elimination_withdrawn",
                 "BanLifted": "ban_lifted"}.get(name)
        if entry is None:
            return
        ref = {"elimination": f"EL-{d.get('year')}", "credit_record": d.get("record"),
               "ban": d.get("ban"), "district_report": d.get("report"),
               "elimination_withdrawn": f"EL-{d.get('year')}", "ban_lifted": d.get("ban")}[entry]
        kind = d.get("kind") or ("correction" if entry in ("elimination_withdrawn", "ban_lifted")
                                 else "elimination")
        detail = {k: v for k, v in d.items() if k not in ("reason",)}
        if entry in ("ban", "ban_lifted"):
            bans = self._bans(conn, code)  # loaded before this entry is added
            bans.append((entry, str(ref)))
        self.buffer(credit_entries).insert({
            "position": event.position, "firm": code, "entry": entry, "ref": str(ref),
            "kind": kind, "reason": d.get("reason", ""), "community": d.get("community"),
            "detail": _dump(detail), "occurred_at": env["occurred_at"],
            "actor": env.get("actor"), "command_id": env.get("command_id")})
        if entry == "ban":
            self.buffer(firms).update((code,), {"banned": True})
        elif entry == "ban_lifted":
            # A ban lifted after an appraisal correction: banned while any other ban stands.
            standing = {r for e, r in bans if e == "ban"} - {r for e, r in bans
                                                               if e == "ban_lifted"}
            self.buffer(firms).update((code,), {"banned": bool(standing)})

    def _bans(self, conn: Connection, code: str) -> list[tuple[str, str]]:
        """The firm's ban and ban-lifted entries (entry, ref), loaded once."""
        memo = self.memo("bans")
        got: list[tuple[str, str]] | None = memo.get(code)
        if got is None:
            got = memo[code] = [] if self.complete else [
                (str(r[0]), str(r[1])) for r in conn.execute(_BANS, {KEY: code})]
        return got


_COMMITTEE = select(committees.c.key, committees.c.community, committees.c.candidates,
                    committees.c.rules, committees.c.mediations).where(
    committees.c.agg_id == bindparam(KEY))
_TENDER = select(tenders.c.bids).where(and_(tenders.c.oc == bindparam("oc"),
                                            tenders.c.tender == bindparam("tender")))
_FIRM_CODE = select(firms.c.code).where(firms.c.agg_id == bindparam(KEY))
_CONTRACT = select(contracts_table.c.end_at, contracts_table.c.annual_fee,
                   contracts_table.c.renewals).where(
    contracts_table.c.contract == bindparam(KEY))
_PERIODS = select(contract_periods.c.seq, contract_periods.c.from_utc,
                  contract_periods.c.to_utc).where(contract_periods.c.contract == bindparam(KEY))
_BANS = select(credit_entries.c.entry, credit_entries.c.ref).where(and_(
    credit_entries.c.firm == bindparam(KEY), credit_entries.c.entry.in_(("ban", "ban_lifted"))))


# ---------------------------------------------------------------------------- queries
def _rows(conn: Connection, q: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(q)]


def total(items: list[dict[str, Any]]) -> str:
    """The exact sum of the items' ``amount`` (decimal text), as decimal text."""
    return f"{sum((Decimal(i['amount']) for i in items), Decimal('0.00')):f}"


def _members(row: dict[str, Any],
             terms: dict[tuple[str, str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The elected, each with votes and the other community posts they held concurrently
    (兼任) at the start of the term — e.g. a two-committee member serving as director.
    *terms*: the post terms by (community, person)."""
    elected: dict[str, str] = row["elected"] or {}
    if not elected:
        return []
    key = utc_key(row["term_start"] or row["assembly_date"])
    out = []
    for person, role in elected.items():
        also = sorted(t["post"] for t in terms.get((row["community"], person), ())
                      if t["from_utc"] <= key and (t["to_utc"] is None or t["to_utc"] > key)
                      and not t["post"].startswith("owners_committee."))
        out.append({"person": person, "name": (row["candidates"] or {}).get(person, {})
                    .get("name"), "role": role, "votes": (row["votes"] or {}).get(person),
                    "also_holds": also})
    order = {"director": 0, "deputy_director": 1, "member": 2}
    return sorted(out, key=lambda m: (order[m["role"]], m["person"]))


def _grouped(conn: Connection, q: Any, key: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in _rows(conn, q):
        out.setdefault(r[key], []).append(r)
    return out


def ocs(ledger: GovernanceLedger, community: str | None = None) -> list[dict[str, Any]]:
    """Every owners' committee term (of one community), with its election, members, rules,
    money totals (decimal text) and tenders. A fixed number of queries whatever the number
    of committees (the town overview reads every one)."""
    ledger.catch_up("owners")
    ledger.catch_up("status")
    with ledger.engine.connect() as conn:
        q = select(committees).order_by(committees.c.community, committees.c.term)
        mq = select(oc_money).order_by(oc_money.c.position)
        tq = select(tenders).order_by(tenders.c.launched_at)
        pq = select(post_terms.c.community, post_terms.c.person, post_terms.c.post,
                    post_terms.c.from_utc, post_terms.c.to_utc).where(
                        post_terms.c.community.is_not(None))
        if community:
            q = q.where(committees.c.community == community)
            mq = mq.where(oc_money.c.oc.in_(select(committees.c.key).where(
                committees.c.community == community)))
            tq = tq.where(tenders.c.oc.in_(select(committees.c.key).where(
                committees.c.community == community)))
            pq = pq.where(post_terms.c.community == community)
        rows = _rows(conn, q)
        money = _grouped(conn, mq, "oc")
        offered = _grouped(conn, tq, "oc")
        terms: dict[tuple[str, str], list[dict[str, Any]]] = {}
        if any(r["elected"] for r in rows):
            for t in _rows(conn, pq):
                terms.setdefault((t["community"], t["person"]), []).append(t)
    out = []
    for row in rows:
        row.pop("agg_id")
        for k in ("group_members", "temporary_party_org", "candidates", "rules", "votes",
                  "elected"):
            row[k] = json.loads(row[k]) if row[k] else None
        mine = money.get(row["key"], [])
        row["fund_uses"] = [m for m in mine if m["kind"] == "fund_use"]
        row["revenues"] = [m for m in mine if m["kind"] == "revenue"]
        row["fund_total"] = total(row["fund_uses"])
        row["revenue_total"] = total(row["revenues"])
        row["members"] = _members(row, terms)
        ts = offered.get(row["key"], [])
        for t in ts:
            t["bids"] = json.loads(t["bids"])
        row["tenders"] = ts
        out.append(row)
    return out


def current_committees(ledger: GovernanceLedger) -> dict[str, dict[str, Any]]:
    """Each community's owners' committee as the town overview shows it: the term in office
    (else the latest), its key and its director's name; one query, only what is shown."""
    ledger.catch_up("owners")
    with ledger.engine.connect() as conn:
        rows = conn.execute(select(
            committees.c.community, committees.c.key, committees.c.term, committees.c.term_end,
            committees.c.elected, committees.c.candidates).order_by(
                committees.c.community, committees.c.term)).all()
    chosen: dict[str, Any] = {}
    for r in rows:
        if r.term_end is None or r.community not in chosen:
            chosen[r.community] = r
    out = {}
    for community, r in chosen.items():
        elected = json.loads(r.elected) if r.elected else {}
        director = next((p for p, role in elected.items() if role == "director"), None)
        names = json.loads(r.candidates) if (director and r.candidates) else {}
        out[community] = {"key": r.key, "term": r.term,
                          "director": (names.get(director) or {}).get("name")}
    return out


def contracts(ledger: GovernanceLedger, firm: str | None = None, community: str | None = None,
              as_of: datetime | None = None) -> dict[str, Any]:
    """Contracts (of a firm, of a community); with *as_of*, only those in force then — which
    firm served which community at that moment."""
    ledger.catch_up("owners")
    with ledger.engine.connect() as conn:
        q = (select(contracts_table, firms.c.name.label("firm_name"))
             .join(firms, firms.c.code == contracts_table.c.firm)
             .order_by(contracts_table.c.community, contracts_table.c.start_utc))
        if firm:
            q = q.where(contracts_table.c.firm == firm)
        if community:
            q = q.where(contracts_table.c.community == community)
        if as_of is not None:
            key = utc_key(as_of)
            q = (q.add_columns(contract_periods.c.annual_fee.label("fee_then"))
                 .join(contract_periods, contract_periods.c.contract == contracts_table.c.contract)
                 .where(and_(contract_periods.c.from_utc <= key,
                             contract_periods.c.to_utc > key)))
        rows = _rows(conn, q)
    for r in rows:
        for k in ("start_utc", "stop_utc", "signed_position"):
            r.pop(k)
        if "fee_then" in r:
            r["annual_fee"] = r.pop("fee_then")
        r["last_day"] = (datetime.fromisoformat(r["end_at"]) - timedelta(days=1)).date().isoformat()
    return {"as_of": as_of.isoformat() if as_of else None, "contracts": rows}


def _reason(detail: dict[str, Any], reason: str) -> str:
    """A credit entry's reason in the reader's language (from its code and parameters; as
    written for entries of earlier releases)."""
    return render_reason(detail.get("reason_code"), detail.get("reason_params"), reason)


#: A unified social credit code: 18 digits and capital letters.
CREDIT_CODE = re.compile(r"^[0-9A-Z]{18}$")
#: The shortest part of a credit code that names a firm (as a short commit id names a commit).
MIN_CODE_PART = 4


def find_firm(ledger: GovernanceLedger, text: str) -> str:
    """The credit code of the firm *text* names: its 18-character credit code, its registered
    name, a part of its name (``常青``, ``evergreen``) or of its credit code (at least four
    characters, e.g. its last six) that no other firm shares. Raises :class:`NotFoundError`
    when no firm matches and :class:`CommandValidationError` when several do, naming them."""
    wanted = text.strip()
    if CREDIT_CODE.match(wanted):
        return wanted
    ledger.catch_up("owners")
    with ledger.engine.connect() as conn:
        rows: list[tuple[str, str]] = [(str(c), str(n)) for c, n in conn.execute(
            select(firms.c.code, firms.c.name).order_by(firms.c.code))]
    folded = wanted.casefold()
    exact = [code for code, name in rows if name.casefold() == folded]
    if exact:
        return exact[0]
    hits = [(code, name) for code, name in rows
            if folded and (folded in name.casefold()
                           or (len(wanted) >= MIN_CODE_PART and wanted.upper() in code))]
    if len(hits) == 1:
        return hits[0][0]
    if not hits:
        raise NotFoundError(_(
            "no firm is named {text!r}: give its credit code (18 characters), its name, a part "
            "of its name, or at least {n} characters of its credit code; 'ledger credit-file' "
            "lists them").format(text=wanted[:60], n=MIN_CODE_PART))
    raise CommandValidationError(_(
        "{text!r} names {n} firms: {firms}; give more of the name or the credit code").format(
            text=wanted[:60], n=len(hits),
            firms="; ".join(f"{code} {name}" for code, name in hits[:8])))


def credit_file(ledger: GovernanceLedger, firm: str | None = None) -> list[dict[str, Any]]:
    """Each firm (or one: *firm* as :func:`find_firm` reads it) with its registration,
    contracts and credit-file entries (eliminations, credit records, bans, district reports),
    oldest first."""
    if firm:
        firm = find_firm(ledger, firm)
    ledger.catch_up("owners")
    with ledger.engine.connect() as conn:
        q = select(firms).order_by(firms.c.code)
        if firm:
            q = q.where(firms.c.code == firm)
        out = []
        for row in _rows(conn, q):
            row.pop("agg_id")
            entries = _rows(conn, select(credit_entries).where(credit_entries.c.firm == row["code"])
                            .order_by(credit_entries.c.position))
            for e in entries:
                e["detail"] = json.loads(e["detail"])
                e["reason"] = _reason(e["detail"], e["reason"])
            row["entries"] = entries
            row["contracts"] = [c["contract"] for c in _rows(
                conn, select(contracts_table.c.contract).where(
                    contracts_table.c.firm == row["code"]).order_by(
                    contracts_table.c.start_utc))]
            out.append(row)
    return out


def blacklist(ledger: GovernanceLedger) -> list[dict[str, Any]]:
    """Firms with a town-wide bidding ban: the ban (ref, since, kind, reason), the event
    position that imposed it, and whether it was reported to the district. A ban lifted after
    an appraisal correction (``PropertyFirm.BanLifted``) is left out."""
    ledger.catch_up("owners")
    with ledger.engine.connect() as conn:
        bans = _rows(conn, select(credit_entries, firms.c.name.label("firm_name"),
                                  firms.c.town)
                     .join(firms, firms.c.code == credit_entries.c.firm)
                     .where(credit_entries.c.entry == "ban")
                     .order_by(credit_entries.c.position))
        reported = {(r["firm"], r["detail"]) for r in _rows(
            conn, select(credit_entries.c.firm, credit_entries.c.detail)
            .where(credit_entries.c.entry == "district_report"))}
        lifted = {(r[0], r[1]) for r in conn.execute(
            select(credit_entries.c.firm, credit_entries.c.ref)
            .where(credit_entries.c.entry == "ban_lifted"))}
    reported_records = {(f, json.loads(detail).get("record")) for f, detail in reported}
    out = []
    for b in bans:
        if (b["firm"], b["ref"]) in lifted:
            continue
        detail = json.loads(b["detail"])
        out.append({"firm": b["firm"], "firm_name": b["firm_name"], "town": b["town"],
                    "ban": b["ref"], "since": detail.get("since"), "kind": b["kind"],
                    "reason": _reason(detail, b["reason"]), "record": detail.get("record"),
                    "position": b["position"], "command_id": b["command_id"],
                    "reported": (b["firm"], detail.get("record")) in reported_records})
    return out


def in_force(row: dict[str, Any], when: datetime | None = None) -> bool:
    """Whether a contract row is in force at *when* (default now)."""
    key = utc_key(when or now())
    stop = row.get("terminated_at") or row["end_at"]
    return utc_key(row["start_at"]) <= key < utc_key(stop)


