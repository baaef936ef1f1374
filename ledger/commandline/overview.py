"""The town at a glance: the first screen of ``ledger demo``.

One screen, for a person: the colour of each community per problem type, the overdue cases,
the resolution items (done of all, overdue), the year's appraisal outcome (bottom three,
eliminated) and whether the log verified. Assembled from the read models' queries the
command line and the supervision board already use (``ledger/web/data.py`` ``overview()``
counts the same facts); nothing here decides what the ledger's rules decide.
"""

from __future__ import annotations

import base64
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from ledger.application import GovernanceLedger
from ledger.kernel.i18n import _, add_labels
from ledger.projections.appraisal import firm_table
from ledger.projections.appraisal import years as appraisal_years
from ledger.projections.cases import case_board, warning_board
from ledger.projections.deliberation import resolution_items
from ledger.projections.status import communities as community_rows
from ledger.projections.status import towns as town_rows
from ledger.render import Renderer

#: The three stubborn problem types of the responsibility lists, always shown as columns.
PROBLEM_TYPES = ("illegal_construction", "group_renting", "unlicensed_business")
DONE = frozenset({"done", "done_late"})

add_labels({
    "ov.title": "The town at a glance",
    "ov.communities": "Warnings, overdue cases and resolution items per community",
    "ov.overdue_cases": "Overdue cases",
    "ov.appraisal": "Appraisal outcome",
    "ov.name": "name",
    "ov.overdue_cases_col": "overdue cases",
    "ov.items_done": "items done / all",
    "ov.items_overdue": "overdue items",
    "ov.days_overdue": "days overdue",
    "ov.rank": "rank",
    "ov.firm": "firm",
    "ov.credit_code": "credit code",
    "ov.score": "score",
    "ov.satisfaction": "satisfaction %",
    "ov.outcome": "outcome",
    "ov.reasons": "reasons",
    "ov.bottom_three": "bottom three",
    "ov.eliminated": "eliminated",
})


def town_overview(ledger: GovernanceLedger, when: datetime) -> dict[str, Any]:
    """The facts of the first screen at *when*: per community the warning level of each
    problem type, its overdue cases and its resolution items; the overdue cases; the latest
    closed appraisal year's bottom three and eliminated firms."""
    day = when.date()
    ledger.catch_up("status")
    with ledger.engine.connect() as conn:
        towns = {str(c): str(n) for c, n in conn.execute(select(town_rows.c.code, town_rows.c.name))}
        names = {str(c): str(n) for c, n in conn.execute(
            select(community_rows.c.code, community_rows.c.name))}
    levels: dict[str, dict[str, str]] = defaultdict(dict)
    for w in warning_board(ledger, as_of=when)["warnings"]:
        levels[w["community"]][w["problem_type"]] = w["level"]
    overdue = case_board(ledger, overdue=True, as_of=when)["cases"]
    overdue_per = Counter(c["community"] for c in overdue)
    items = resolution_items(ledger, as_of=day)["items"]
    done: Counter[str] = Counter()
    total: Counter[str] = Counter()
    late: Counter[str] = Counter()
    for it in items:
        scope = it["community"] or it["town"]
        total[scope] += 1
        done[scope] += it["state"] in DONE
        late[scope] += it["state"] == "overdue"
    scopes = sorted(names) + sorted(s for s in total if s not in names)
    rows = [{"code": s, "name": names.get(s) or towns.get(s, ""),
             "levels": dict(levels.get(s, {})), "overdue_cases": overdue_per[s],
             "items_done": done[s], "items": total[s], "items_overdue": late[s]}
            for s in scopes]
    return {
        "as_of": when.isoformat(), "town": ", ".join(towns.values()), "communities": rows,
        "overdue_cases": [{k: c[k] for k in ("ref", "community", "problem_type", "status",
                                            "due", "days_overdue")} for c in overdue],
        "resolutions": {"done": sum(done.values()), "all": sum(total.values()),
                        "overdue": sum(late.values())},
        "appraisal": appraisal_outcome(ledger, day),
    }


def appraisal_outcome(ledger: GovernanceLedger, day: date) -> dict[str, Any] | None:
    """The latest appraisal year closed by *day*: its bottom three and the eliminated firms
    (None when no year is closed)."""
    ledger.catch_up("appraisal")
    with ledger.engine.connect() as conn:
        closed = [(y, c) for y, c, at in conn.execute(
            select(appraisal_years.c.year, appraisal_years.c.code, appraisal_years.c.closed_at))
            if at and at[:10] <= day.isoformat()]
    if not closed:
        return None
    year, key = max(closed)
    firms = firm_table(ledger, key)
    outcome = [{"rank": f["rank"], "firm": f["firm"], "firm_name": f["firm_name"],
                "score": f["score"], "satisfaction": f["satisfaction"],
                "bottom_three": bool(f["bottom_three"]), "eliminated": bool(f["eliminated"]),
                "reasons": [r for r in f["reasons"] if r["code"] != "bottom_three"]}
               for f in firms if f["bottom_three"] or f["eliminated"]]
    return {"appraisal": key, "year": year, "graded": sum(1 for f in firms if f["rank"]),
            "firms": outcome}


def verification(ledger: GovernanceLedger) -> dict[str, Any]:
    """``verify`` with the ledger's published verifier key (what ``ledger key export``
    prints): the whole log against its tree, checkpoints and officials' signatures."""
    from ledger.integrity import sealer
    from ledger.integrity.verifier import verify

    result = verify(ledger, verifier_key=sealer.verifier_key(ledger))
    signed = result.signatures.signed if result.signatures is not None else 0
    return {"ok": result.ok, "events": result.events, "tree_size": result.tree_size,
            "checkpoints": result.checkpoints, "unsealed": result.unsealed,
            "signed": signed, "root": base64.b64encode(result.root).decode(),
            "findings": [f.public() for f in result.findings]}


_LATIN_SUFFIX = re.compile(r"\s*\([A-Za-z][A-Za-z0-9 .,&'’-]*\)\s*$")


def firm_name(name: str, lang: str) -> str:
    """A firm's registered name in *lang*: in Chinese without the English name registered
    beside it in brackets (``金桥物业管理有限公司 (Golden Bridge Property)``)."""
    return _LATIN_SUFFIX.sub("", name) if lang == "zh" else name


def render(r: Renderer, data: dict[str, Any], checked: dict[str, Any]) -> None:
    """Print the first screen: a table per fact, then the verification in two lines."""
    lang = r.lang
    as_of = data["as_of"][:10]
    r.line(_("{title}: {town} — as of {day}").format(
        title=r.label("ov.title"), town=data["town"], day=as_of))
    rows = data["communities"]
    shown = list(PROBLEM_TYPES) + sorted({p for c in rows for p in c["levels"]}
                                         - set(PROBLEM_TYPES))
    none = "—"
    r.table_labelled(
        r.label("ov.communities"),
        [r.label("community"), r.label("ov.name"),
         *(r.label(f"problem:{p}") for p in shown),
         r.label("ov.overdue_cases_col"), r.label("ov.items_done"), r.label("ov.items_overdue")],
        [[c["code"], c["name"],
          *(r.label(f"level:{c['levels'][p]}") if c["levels"].get(p, "none") != "none" else none
            for p in shown),
          c["overdue_cases"], f"{c['items_done']}/{c['items']}", c["items_overdue"]]
         for c in rows],
        keys=["community", "name", *shown, "overdue_cases", "items_done", "items_overdue"])
    cases = data["overdue_cases"]
    r.table(f"{r.label('ov.overdue_cases')} ({len(cases)})",
            ("cases.ref", "community", "cases.problem_type", "cases.status", "cases.due",
             "ov.days_overdue"),
            [[c["ref"], c["community"], r.label(f"problem:{c['problem_type']}"),
              r.label(f"case:{c['status']}"), c["due"] or "", c["days_overdue"]]
             for c in cases])
    res = data["resolutions"]
    r.line(_("Resolution items: {done} of {all} done, {overdue} overdue.").format(**res))
    ap = data["appraisal"]
    if ap is None:
        r.line(_("Appraisal: no year closed yet."))
    else:
        def outcome(f: dict[str, Any]) -> str:
            words = [r.label("ov.bottom_three")] if f["bottom_three"] else []
            words += [r.label("ov.eliminated")] if f["eliminated"] else []
            return "、".join(words) if lang == "zh" else ", ".join(words)

        r.table(_("{title} {key}: {graded} firms graded").format(
                    title=r.label("ov.appraisal"), key=ap["appraisal"], graded=ap["graded"]),
                ("ov.rank", "ov.firm", "ov.credit_code", "ov.score", "ov.satisfaction",
                 "ov.outcome", "ov.reasons"),
                [[f["rank"], firm_name(f["firm_name"], lang), f["firm"], f["score"],
                  f["satisfaction"], outcome(f),
                  ("；" if lang == "zh" else "; ").join(x[lang] for x in f["reasons"])]
                 for f in ap["firms"]])
    if checked["ok"]:
        r.line(_("Verified: {events} events against {checkpoints} signed checkpoint(s), tree size "
                 "{tree_size}; {signed} events signed by their officials.").format(**checked))
        r.line(_("Root: {root}").format(root=checked["root"]))
    else:
        r.line(_("Verification FAILED: {n} finding(s); run 'ledger verify' to list "
                 "them.").format(n=len(checked["findings"])))
