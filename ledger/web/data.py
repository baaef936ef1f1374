"""What each page shows, assembled from the read models and queries the command line and the
feed already use. Nothing here decides anything the ledger's rules decide: it selects,
counts and groups for display (filters, age buckets, progress per community)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from ledger.application import GovernanceLedger
from ledger.feed.log import public_event
from ledger.integrity import sealer
from ledger.integrity.errors import IntegrityError, NotSealedError
from ledger.kernel.errors import NotFoundError
from ledger.kernel.i18n import _
from ledger.projections.appraisal import years as appraisal_year_rows
from ledger.projections.cases import case_board, case_documents, warning_board
from ledger.projections.deliberation import (
    cadence_report,
    item_progress,
    matter_list,
    resolution_items,
)
from ledger.projections.owners import (
    blacklist,
    contracts,
    credit_file,
    current_committees,
    ocs,
)
from ledger.projections.status import communities as community_rows
from ledger.projections.status import post_terms
from ledger.projections.supervision import escalation_list

#: The three stubborn problem types of the responsibility lists, always shown as columns.
PROBLEM_TYPES = ("illegal_construction", "group_renting", "unlicensed_business")
LEVELS = ("none", "orange", "red", "black")
#: Age buckets of open cases, in days since they were received: (key, up to and including).
AGE_BUCKETS = (("0-7", 7), ("8-30", 30), ("31-90", 90), ("90+", None))
FINISHED = frozenset({"closed", "called_back", "rejected", "merged"})


def person_names(ledger: GovernanceLedger) -> dict[str, str]:
    """Person id → name, from the roster's terms (who acted is shown by name and post)."""
    ledger.catch_up("status")
    with ledger.engine.connect() as conn:
        return {str(p): str(n) for p, n in conn.execute(
            select(post_terms.c.person, post_terms.c.person_name).distinct())}


# ------------------------------------------------------------------------------- overview
def overview(ledger: GovernanceLedger, *, cases: bool, when: datetime) -> dict[str, Any]:
    """One row per community: warning colours per problem type, overdue cases and items, the
    cadence flag, its owners' committee and its property firm. *cases*: the viewer may see
    cases and warnings (scope ``read:cases``)."""
    cadence = cadence_report(ledger, as_of=when.date())
    items = resolution_items(ledger, overdue=True, as_of=when.date())["items"]
    overdue_items = Counter(i["community"] for i in items)
    warnings: dict[str, dict[str, str]] = defaultdict(dict)
    overdue_cases: Counter[str] = Counter()
    if cases:
        for w in warning_board(ledger, as_of=when)["warnings"]:
            warnings[w["community"]][w["problem_type"]] = w["level"]
        overdue_cases.update(c["community"] for c in case_board(ledger, overdue=True,
                                                                 as_of=when)["cases"])
    committees = current_committees(ledger)
    firms = {c["community"]: c for c in contracts(ledger, as_of=when)["contracts"]}
    rows = []
    for c in cadence["communities"]:
        code = c["community"]
        rows.append({
            "code": code, "name": c["name"],
            "levels": {p: warnings[code].get(p, "none") for p in PROBLEM_TYPES},
            "other_levels": {p: lv for p, lv in warnings[code].items()
                             if p not in PROBLEM_TYPES},
            "overdue_cases": overdue_cases[code], "overdue_items": overdue_items[code],
            "cadence": c, "oc": committees.get(code),
            "firm": firms.get(code),
        })
    return {"as_of": when.isoformat(), "communities": rows,
            "totals": {"overdue_cases": sum(overdue_cases.values()),
                       "overdue_items": sum(overdue_items.values()),
                       "flagged": sum(1 for c in cadence["communities"] if c["flagged"])}}


# ------------------------------------------------------------------------------- warnings
def warnings(ledger: GovernanceLedger, when: datetime) -> dict[str, Any]:
    """The warning board, each warning with its measures; lapsed measures counted, and
    third-party patrols (black level) picked out."""
    board = warning_board(ledger, as_of=when)
    names = person_names(ledger)
    for w in board["warnings"]:
        w["decided_by_name"] = names.get(str(w["decided_by"]), "")
        w["third_party"] = [m for m in w["measures"] if m.get("third_party")
                            or m["code"].startswith("third_party")]
    return board


# ---------------------------------------------------------------------------------- cases
CASE_FILTERS = ("community", "channel", "problem_type", "status", "department", "escalation")


def age_bucket(row: dict[str, Any], day: date) -> str:
    """The age bucket of an open case (days since received), or ``closed``."""
    if row["status"] in FINISHED:
        return "closed"
    received = datetime.fromisoformat(row["received_at"]).date()
    age = (day - received).days
    for key, upto in AGE_BUCKETS:
        if upto is None or age <= upto:
            return key
    return AGE_BUCKETS[-1][0]  # pragma: no cover - the last bucket has no bound


def cases(ledger: GovernanceLedger, when: datetime, filters: dict[str, str]) -> dict[str, Any]:
    """The case board with the viewer's filters, each case's age and bucket, the bucket
    counts of the filtered list, and the values each filter can take."""
    board = case_board(ledger, as_of=when)["cases"]
    day = when.date()
    options: dict[str, set[str]] = {k: set() for k in CASE_FILTERS}
    for row in board:
        row["age_days"] = (day - datetime.fromisoformat(row["received_at"]).date()).days
        row["bucket"] = age_bucket(row, day)
        for k in ("community", "channel", "problem_type", "status", "escalation"):
            options[k].add(row[k])
        options["department"].update(row["departments"])

    def keep(row: dict[str, Any]) -> bool:
        for k, v in filters.items():
            if not v:
                continue
            if k == "department":
                if v not in row["departments"]:
                    return False
            elif k == "bucket":
                if row["bucket"] != v:
                    return False
            elif k == "overdue":
                if not row["overdue"]:
                    return False
            elif str(row.get(k)) != v:
                return False
        return True

    rows = [r for r in board if keep(r)]
    buckets = Counter(r["bucket"] for r in rows)
    return {"as_of": when.isoformat(), "cases": rows, "total": len(board),
            "buckets": [(k, buckets[k]) for k, _ in AGE_BUCKETS] + [("closed", buckets["closed"])],
            "options": {k: sorted(v) for k, v in options.items()}}


def event_proof_state(ledger: GovernanceLedger, position: int) -> dict[str, Any]:
    """Whether the event at *position* is proved included in the latest signed checkpoint
    (the proof is checked before it is given), not sealed yet, or does not check."""
    try:
        doc = sealer.inclusion_proof_document(ledger, position)
    except IntegrityError as e:
        kind = "unsealed" if isinstance(e, NotSealedError) else "failed"
        return {"state": kind, "detail": str(e)}
    return {"state": "verified", "tree_size": doc["tree_size"], "leaf_index": doc["leaf_index"]}


def event_timeline(ledger: GovernanceLedger, events: list[Any],
                   sealed_field: str) -> list[dict[str, Any]]:
    """A record's events as its page shows them: who (name and post), business and record
    time, basis, whether signed, the data, and the proof state; the personal data sealed in
    *sealed_field* is kept apart (``sealed``), for a viewer allowed to open it."""
    names = person_names(ledger)
    out = []
    for ev in events:
        pub = public_event(ev)
        env = pub["envelope"]
        data = dict(pub["data"])
        out.append({"position": pub["position"], "type": pub["type"],
                    "version": pub["version"], "recorded_at": pub["recorded_at"],
                    "occurred_at": env.get("occurred_at"), "actor": env.get("actor"),
                    "actor_name": names.get(str(env.get("actor")), ""),
                    "post": env.get("post"), "basis": env.get("basis"),
                    "command_id": env.get("command_id"), "signed": bool(env.get("signature")),
                    "sealed": data.pop(sealed_field, None), "sealed_as": sealed_field,
                    "data": data, "proof": event_proof_state(ledger, pub["position"])})
    return out


def case_page(ledger: GovernanceLedger, ref: str) -> dict[str, Any]:
    """One case: its row on the board, its events (who by name and post, business and
    record time, basis, data), the template documents filed on it and its escalations, each
    event with its proof state."""
    timeline = event_timeline(ledger, ledger.history(f"case:{ref}"), "caller")
    row = next((c for c in case_board(ledger)["cases"] if c["ref"] == ref), None)
    escalations = [e for e in escalation_list(ledger, kind="case")["escalations"]
                   if e["key"] == ref]
    return {"ref": ref, "row": row, "timeline": timeline,
            "documents": case_documents(ledger, ref), "escalations": escalations}


# ---------------------------------------------------------------------------- resolutions
def resolutions(ledger: GovernanceLedger, when: datetime) -> dict[str, Any]:
    """Resolution items per community with their progress (done / all), and each item's
    timeline: adopted, progress notes, done, lapsed or handed on."""
    items = resolution_items(ledger, as_of=when.date())["items"]
    per: dict[str, dict[str, Any]] = {}
    for it in items:
        c = per.setdefault(it["community"] or it["town"], {
            "community": it["community"] or it["town"], "done": 0, "overdue": 0, "open": 0,
            "total": 0, "items": []})
        c["total"] += 1
        if it["state"] in ("done", "done_late"):
            c["done"] += 1
        elif it["state"] == "overdue":
            c["overdue"] += 1
        else:
            c["open"] += 1
        steps = [{"on": it["adopted_on"], "what": "adopted", "by": it["adopted_by"],
                  "post": it["adopted_post"], "detail": it["title"]}]
        steps += [{"on": p["reported_on"], "what": "progress", "by": p["actor"],
                   "post": p["post"], "detail": p["note"]} for p in
                  (item_progress(ledger, it["ref"]) if it["progress_notes"] else [])]
        if it["completed_on"]:
            steps.append({"on": it["completed_on"], "what": "completed", "by": it["completed_by"],
                          "post": it["completed_post"], "detail": it["evidence"] or ""})
        if it["lapsed_on"]:
            steps.append({"on": it["lapsed_on"], "what": "lapsed", "by": None, "post": None,
                          "detail": ""})
        if it["handed_on"]:
            steps.append({"on": it["handed_on"], "what": "handed", "by": None, "post": None,
                          "detail": it["handed_to"] or ""})
        it["steps"] = steps
        c["items"].append(it)
    return {"as_of": when.date().isoformat(),
            "communities": [per[k] for k in sorted(per)]}


# -------------------------------------------------------------------------------- topics
#: A matter or topic reference (``ZQ-001-MT-2025-001``, ``ZQ-003-TP-2025-01``).
MATTER_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def topics(ledger: GovernanceLedger) -> dict[str, Any]:
    """Matters and deliberation topics per community: who raised them (by kind, never by
    name), their route and how far they have gone."""
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in matter_list(ledger):
        per[m["community"] or m["town"]].append(m)
    return {"communities": [{"community": k, "matters": per[k]} for k in sorted(per)]}


def topic_page(ledger: GovernanceLedger, ref: str) -> dict[str, Any]:
    """One matter or topic: its row and its events (who by name and post, both times, basis,
    proof state); a resident raiser's reference stays sealed here (``sealed_raiser``)."""
    timeline = event_timeline(ledger, ledger.history(f"matter:{ref}"), "resident")
    sealed_raiser = next((e["sealed"] for e in timeline if e["sealed"]), None)
    row = next((m for m in matter_list(ledger) if m["code"] == ref), None)
    return {"ref": ref, "row": row, "timeline": timeline, "sealed_raiser": sealed_raiser}


# --------------------------------------------------------------------------------- firms
def firms(ledger: GovernanceLedger) -> dict[str, Any]:
    """Credit files, the ban list with its district reports, and the owners' committees."""
    files = credit_file(ledger)
    for f in files:
        for e in f["entries"]:
            e["detail_text"] = json.dumps(e["detail"], ensure_ascii=False, sort_keys=True)
    return {"credit": files, "banned": blacklist(ledger), "committees": ocs(ledger)}


# --------------------------------------------------------------------------------- roster
CASE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def communities(ledger: GovernanceLedger) -> list[dict[str, Any]]:
    """Every registered community: code and name."""
    ledger.catch_up("status")
    with ledger.engine.connect() as conn:
        return [{"code": c, "name": n} for c, n in conn.execute(
            select(community_rows.c.code, community_rows.c.name).order_by(community_rows.c.code))]


# ------------------------------------------------------------------------------ appraisal
#: The appraisal tables the board shows and offers for download.
APPRAISAL_KINDS = ("firms", "ocs", "communities")
#: The what-if form's fields and the rule parameter each one overrides.
WHATIF_FIELDS = (("score_below", "elimination.score_below"),
                 ("satisfaction_below", "elimination.satisfaction_below"),
                 ("consecutive_years", "elimination.consecutive_years"),
                 ("bottom_size", "bottom_three.size"))


def appraisal_years(ledger: GovernanceLedger) -> list[dict[str, Any]]:
    """Every appraisal year, newest first, with its rule and parameters."""
    ledger.catch_up("appraisal")
    with ledger.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(
            select(appraisal_year_rows).order_by(appraisal_year_rows.c.year.desc()))]
    for r in rows:
        r["parameters"] = json.loads(r["parameters"]) if r.get("parameters") else None
    return rows


def appraisal_cells(ledger: GovernanceLedger, lang: str, year: int, kind: str,
                    town: str = "ZQ") -> tuple[list[str], list[list[Any]], str]:
    """Header labels, rendered cells and title of one appraisal table, as the command line
    prints them (``ledger appraisal table``)."""
    from ledger.commandline.appraisal import COLUMNS, QUERIES
    from ledger.kernel.i18n import t

    if kind not in APPRAISAL_KINDS:
        raise UnknownTableError(_("no appraisal table {kind!r}; one of {kinds}").format(
            kind=kind[:20], kinds=", ".join(APPRAISAL_KINDS)))
    key = f"{town}/{year}"
    if not any(y["code"] == key for y in appraisal_years(ledger)):
        raise UnknownTableError(_("appraisal year {key} does not exist").format(key=key))
    raw = QUERIES[kind](ledger, key)
    cols = COLUMNS[kind]
    return ([t(c[0], lang) for c in cols], [[fn(r, lang) for _, fn in cols] for r in raw],
            f"{t(f'ap.{kind}_title', lang)} {key}")


def appraisal(ledger: GovernanceLedger, lang: str, query: dict[str, str]) -> dict[str, Any]:
    """The appraisal page: the years, the chosen year's tables with its rule and parameters,
    and, when the what-if form was sent, the simulated outcome (nothing is written)."""
    from ledger.handlers.appraisal import simulate

    years = appraisal_years(ledger)
    if not years:
        return {"years": [], "year": None}
    wanted = query.get("year", "")
    year = next((y for y in years if str(y["year"]) == wanted), years[0])
    tables = {kind: appraisal_cells(ledger, lang, year["year"], kind, year["town"])
              for kind in APPRAISAL_KINDS}
    params = year["parameters"] or {}
    form = {f: query.get(f, "").strip() for f, _ in WHATIF_FIELDS}
    whatif = None
    if any(form.values()):
        overrides = [f"{p}={form[f]}" for f, p in WHATIF_FIELDS if form[f]]
        whatif = simulate(ledger, year["code"], overrides)
    return {"years": years, "year": year, "tables": tables, "params": params, "form": form,
            "whatif": whatif}


class UnknownTableError(NotFoundError):
    """Raised when the board is asked for an appraisal year or table that does not exist."""

    code = "not_found"


# ------------------------------------------------------------------------------ integrity
def checkpoint_view(latest: sealer.StoredCheckpoint | None) -> dict[str, Any] | None:
    """The latest checkpoint with who signed it: the log's own key and each witness."""
    if latest is None:
        return None
    from ledger.integrity.checkpoint import parse_checkpoint

    _body, signatures = parse_checkpoint(latest.note)
    log_name = latest.verifier_key.split("+", 1)[0]
    return {**latest.public(), "signers": [
        {"name": s.name, "key_id": s.key_id.hex(), "witness": s.name != log_name}
        for s in signatures]}
