"""CLI of the year-end appraisal: ``ledger appraisal …`` (open the year, scores, satisfaction,
close, objections, reopen, evaluations, indicators), the appraisal tables (terminal, JSON, CSV,
a real .xlsx spreadsheet) and the what-if ``simulate``; the demo prints the firm tables."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ledger.aggregates.appraisal_year import OC_CRITERIA
from ledger.application import GovernanceLedger
from ledger.cli import (
    DEMO_SECTIONS,
    NUMBER,
    NumbersCommand,
    add_aliases,
    cli,
    envelope,
    envelope_options,
    execute,
    json_option,
    renderer,
    state,
)
from ledger.complete import communities, firms
from ledger.handlers.appraisal import simulate
from ledger.indicators import indicator_table
from ledger.kernel.errors import LedgerError
from ledger.kernel.i18n import _, add_labels, t
from ledger.projections.appraisal import (
    community_table,
    firm_table,
    follow_up_list,
    objection_list,
    oc_table,
    year_row,
)
from ledger.render import Renderer

add_labels({
    "ap.rank": "rank",
    "ap.firm_code": "credit code",
    "ap.firm_name": "firm",
    "ap.score": "score",
    "ap.satisfaction": "satisfaction %",
    "ap.sample_size": "sample size",
    "ap.bottom_three": "bottom three",
    "ap.consecutive": "consecutive bottom-three years",
    "ap.eliminated": "eliminated",
    "ap.reasons": "reasons",
    "ap.oc": "owners' committee",
    "ap.community": "community",
    "ap.overall": "overall",
    "ap.safe_community_cooperation": "safe-community cooperation",
    "ap.maintenance_fund_use": "maintenance fund",
    "ap.public_revenue_use": "public revenue",
    "ap.firm_supervision": "firm supervision",
    "ap.dispute_mediation": "dispute mediation",
    "ap.comment": "comment",
    "ap.kind": "kind",
    "ap.subject": "subject",
    "ap.excellent": "excellent",
    "ap.good": "good",
    "ap.fair": "fair",
    "ap.poor": "poor",
    "ap.appraisers": "appraisers",
    "ap.detail": "detail",
    "ap.indicator": "indicator",
    "ap.indicator_code": "indicator code",
    "ap.unit": "unit",
    "ap.weight": "weight",
    "ap.source": "source",
    "ap.value": "value",
    "ap.note": "note",
    "ap.objection": "objection",
    "ap.text": "text",
    "ap.filed_at": "filed",
    "ap.decision": "decision",
    "ap.answer": "answer",
    "ap.task": "task",
    "ap.due": "due",
    "ap.status": "status",
    "ap.events": "source (events)",
    "ap.formula": "formula",
    "ap.run": "run",
    "ap.stale_note": "note: {because} was rerun after {year} was closed, so {year}'s outcomes may be "
                     "stale; run appraisal rerun --cascade",
    "ap.fu:open": "open",
    "ap.fu:completed": "completed",
    "ap.fu:cancelled": "cancelled",
    "ap.fu:overdue": "overdue by {days} day(s)",
    "ap.fu:on_time": "terminated in time",
    "ap.fu:late": "terminated late",
    "ap.fu:contested": "termination contested",
    "ap.legal_counsel": "legal counsel",
    "ap.recorded": "recorded",
    "ap.simulated": "simulated",
    "ap.added": "added",
    "ap.withdrawn": "withdrawn",
    "ap.yes": "yes",
    "ap.no": "no",
    "ap.firms_title": "Property firms: year-end appraisal",
    "ap.ocs_title": "Owners' committees: evaluation",
    "ap.communities_title": "Resident appraisal, commendations, rewards",
    "ap.indicators_title": "Safe-community governance indicators",
    "ap.objections_title": "Objections and answers",
    "ap.follow_ups_title": "Follow-up tasks after elimination",
    "ap.simulate_title": "What-if",
    "ap.no_changes": "no change against the recorded outcome",
    "ap.kind:resident_appraisal": "resident appraisal",
    "ap.kind:commendation": "three-heads commendation",
    "ap.kind:social_organisation": "social organisation",
    "ap.kind:reward": "reward",
    "ap.kind:penalty": "penalty",
    "ap.source:ledger": "from the ledger",
    "ap.source:entered": "entered",
    "ap.action:interview": "interview",
    "ap.action:written_warning": "written warning",
    "ap.action:elimination_list": "elimination list",
    # Credit-file entries the appraisal adds (shown by the owners' credit-file command).
    "owners.elimination_withdrawn": "elimination withdrawn",
    "owners.ban_lifted": "bidding ban lifted",
    "owners.correction": "appraisal correction",
})

KINDS = ("firms", "ocs", "communities", "indicators", "objections", "follow_ups")
Column = tuple[str, Callable[[dict[str, Any], str], Any]]


def _flag(value: Any, lang: str) -> str:
    if value is None:
        return ""
    return t("ap.yes" if value else "ap.no", lang)


def _reasons(row: dict[str, Any], lang: str) -> str:
    key = "zh" if lang == "zh" else "en"
    return ("；" if lang == "zh" else "; ").join(r[key] for r in row["reasons"])


def _criterion(name: str) -> Callable[[dict[str, Any], str], Any]:
    def cell(row: dict[str, Any], lang: str) -> Any:
        return row["criteria"][name]
    return cell



def follow_up_status(row: dict[str, Any], lang: str) -> str:
    """A follow-up task's state in words: overdue (days), completed (on time or late, with the
    termination event), contested."""
    text = t(f"ap.fu:{row['status']}", lang)
    if row.get("overdue"):
        text += " " + t("ap.fu:overdue", lang).format(days=row["days_overdue"])
    for st in row.get("steps", []):
        if st["step"] == "completed":
            when = t("ap.fu:on_time" if st["on_time"] else "ap.fu:late", lang)
            text += f"; {st['community']} {when} ({st['event']})"
        else:
            text += f"; {t('ap.fu:contested', lang)} ({st['event']})"
    return text


COLUMNS: dict[str, list[Column]] = {
    "firms": [
        ("ap.rank", lambda r, lang: r["rank"]),
        ("ap.firm_name", lambda r, lang: r["firm_name"]),
        ("ap.firm_code", lambda r, lang: r["firm"]),
        ("ap.score", lambda r, lang: r["score"]),
        ("ap.satisfaction", lambda r, lang: r["satisfaction"]),
        ("ap.sample_size", lambda r, lang: r["sample_size"]),
        ("ap.bottom_three", lambda r, lang: _flag(r["bottom_three"], lang)),
        ("ap.consecutive", lambda r, lang: r["consecutive_bottom_three_years"]),
        ("ap.eliminated", lambda r, lang: _flag(r["eliminated"], lang)),
        ("ap.reasons", _reasons),
    ],
    "ocs": [
        ("ap.oc", lambda r, lang: r["oc"]),
        ("ap.community", lambda r, lang: r["community"]),
        *[(f"ap.{c}", _criterion(c)) for c in OC_CRITERIA],
        ("ap.overall", lambda r, lang: r["overall"]),
        ("ap.comment", lambda r, lang: r["comment"]),
    ],
    "communities": [
        ("ap.community", lambda r, lang: r["community"]),
        ("ap.kind", lambda r, lang: t(f"ap.kind:{r['kind']}", lang)),
        ("ap.subject", lambda r, lang: t(f"body:{r['subject']}", lang)
         if r["kind"] == "resident_appraisal" else r["subject"]),
        ("ap.excellent", lambda r, lang: r["excellent"]),
        ("ap.good", lambda r, lang: r["good"]),
        ("ap.fair", lambda r, lang: r["fair"]),
        ("ap.poor", lambda r, lang: r["poor"]),
        ("ap.appraisers", lambda r, lang: r["appraisers"]),
        ("ap.detail", lambda r, lang: r["detail"]),
    ],
    "indicators": [
        ("ap.community", lambda r, lang: r["community"]),
        ("ap.indicator_code", lambda r, lang: r["code"]),
        ("ap.indicator", lambda r, lang: r["name_zh"] if lang == "zh" else r["name_en"]),
        ("ap.unit", lambda r, lang: r["unit"]),
        ("ap.weight", lambda r, lang: r["weight"]),
        ("ap.source", lambda r, lang: t(f"ap.source:{r['source']}", lang)),
        ("ap.value", lambda r, lang: r["value"]),
        ("ap.note", lambda r, lang: r["note"]),
    ],
    "objections": [
        ("ap.objection", lambda r, lang: r["objection"]),
        ("ap.firm_code", lambda r, lang: r["firm"]),
        ("ap.text", lambda r, lang: r["text"]),
        ("ap.filed_at", lambda r, lang: r["filed_at"]),
        ("ap.decision", lambda r, lang: r["decision"] or ""),
        ("ap.answer", lambda r, lang: r["answer"] or ""),
    ],
    "follow_ups": [
        ("ap.task", lambda r, lang: r["task"]),
        ("ap.firm_code", lambda r, lang: r["firm"]),
        ("ap.community", lambda r, lang: ", ".join(
            f"{c['community']} ({c['oc']}, {c['contract']})" for c in r["communities"])),
        ("ap.legal_counsel", lambda r, lang: ", ".join(r["legal_counsel"])),
        ("ap.due", lambda r, lang: r["due"]),
        ("ap.status", follow_up_status),
    ],
}


QUERIES: dict[str, Callable[[GovernanceLedger, str], list[dict[str, Any]]]] = {
    "firms": firm_table, "ocs": oc_table, "communities": community_table,
    "indicators": indicator_table, "objections": objection_list, "follow_ups": follow_up_list,
}


def table_rows(ledger: GovernanceLedger, key: str, kind: str,
               ) -> tuple[list[dict[str, Any]], list[str], list[list[Any]], str]:
    """The raw rows, header labels, rendered cells and title of one table, in the state's
    language."""
    lang = state().lang
    if year_row(ledger, key) is None:
        raise LedgerError(_("appraisal year {key!r} does not exist; open it first (appraisal "
                            "open-year)").format(
                              key=key))
    raw = QUERIES[kind](ledger, key)
    cols = COLUMNS[kind]
    headers = [t(c[0], lang) for c in cols]
    cells = [[fn(r, lang) for _, fn in cols] for r in raw]
    return raw, headers, cells, f"{t(f'ap.{kind}_title', lang)} {key}"


def _year_options(f: Any) -> Any:
    f = click.option("--town", default="ZQ", show_default=True, help="Town code.")(f)
    return click.option("--year", type=int, required=True, help="The appraisal year.")(f)


# ---------------------------------------------------------------------------- group
@cli.group()
def appraisal() -> None:
    """Year-end appraisal (年末考核): firm grading, bottom three, elimination list,
    evaluations, indicators and the appraisal tables."""


@appraisal.command("open-year")
@_year_options
@envelope_options
@json_option
def open_year(year: int, town: str, as_json: bool, **kw: Any) -> None:
    """Open the town's appraisal of a year.

    \b
    Example:
      ledger appraisal open-year --year 2025 --actor P-0001 --post town.ledger_admin@ZQ
    """
    execute({"type": "appraisal.open_year", "town": town, "year": year, **envelope(kw)},
            as_json)


@appraisal.command("record-firm-score", cls=NumbersCommand)
@click.argument("firm", shell_complete=firms)
@click.argument("score", type=NUMBER)
@_year_options
@click.option("--body", "appraising_body", required=True, help="The appraising body.")
@click.option("--note", default="", help="A note.")
@envelope_options
@json_option
def score(firm: str, score: str, year: int, town: str, appraising_body: str, note: str,
          as_json: bool, **kw: Any) -> None:
    """Record (or, while the year is open, correct) FIRM's annual SCORE (0-100, exact).

    \b
    Example:
      ledger appraisal record-firm-score 91310112MA1GB3K258 58.50 --year 2025 --body 镇房管办考核组 \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "appraisal.record_firm_score", "town": town, "year": year, "firm": firm,
             "score": score, "appraising_body": appraising_body, "note": note,
             **envelope(kw)}, as_json)


@appraisal.command("record-satisfaction")
@click.argument("firm", shell_complete=firms)
@click.argument("percent")
@_year_options
@click.option("--sample-size", type=int, required=True, help="Owners surveyed.")
@click.option("--survey", required=True, help="The survey (document or reference).")
@envelope_options
@json_option
def satisfaction(firm: str, percent: str, year: int, town: str, sample_size: int, survey: str,
                 as_json: bool, **kw: Any) -> None:
    """Record (or correct) FIRM's owners' satisfaction PERCENT with the survey's sample size.

    \b
    Example:
      ledger appraisal record-satisfaction 91310112MA1GB3K258 47 --year 2025 --sample-size 320 \\
          --survey 满意度测评2025 --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "appraisal.record_satisfaction", "town": town, "year": year,
             "firm": firm, "percent": percent, "sample_size": sample_size, "survey": survey,
             **envelope(kw)}, as_json)


@appraisal.command("close-year")
@_year_options
@envelope_options
@json_option
def close(year: int, town: str, as_json: bool, **kw: Any) -> None:
    """Close the year: run firm.appraisal@1 once and record the outcomes (interview and
    written warning for the bottom three; elimination list, follow-up task, credit record,
    ban and district report for the eliminated). After a reopening, records what changed.

    \b
    Example:
      ledger appraisal close-year --year 2025 --actor P-0010 --post town.housing_office.director@ZQ
    """
    result = execute({"type": "appraisal.close_year", "town": town, "year": year,
                      **envelope(kw)}, as_json, events=False)
    if not as_json:
        _print_outcome(result.detail)


def _firm_names(codes: list[str]) -> str:
    """``name (credit code)`` of each firm, as registered."""
    from ledger.aggregates.property_firm import PropertyFirm

    led = state().ledger()
    shown = []
    for code in codes:
        firm = led.load(PropertyFirm.id_for(code))
        name = getattr(firm, "name", "")
        shown.append(f"{name} ({code})" if name else code)
    return "; ".join(shown) or "—"


def _codes(items: list[Any]) -> list[str]:
    return [i if isinstance(i, str) else str(i.get("firm") or i.get("firm_id")) for i in items]


def _print_outcome(detail: dict[str, Any]) -> None:
    """The outcome of a closed year: who is in the bottom three, who was warned, who was
    eliminated (and, after a rerun, whose outcome changed)."""
    if not detail.get("appraisal"):
        return
    click.echo(_("appraisal {key}, run {run}: {n} firms graded").format(
        key=detail["appraisal"], run=detail.get("run"), n=detail.get("graded")))
    click.echo(_("  bottom three: {firms}").format(
        firms=_firm_names(_codes(detail.get("bottom_three", [])))))
    click.echo(_("  interview and written warning: {firms}").format(
        firms=_firm_names(_codes(detail.get("warned", [])))))
    click.echo(_("  eliminated (banned from the town's tenders): {firms}").format(
        firms=_firm_names(_codes(detail.get("eliminated", [])))))
    if detail.get("changed"):
        click.echo(_("  outcome changed by this run: {firms}").format(
            firms=_firm_names(_codes(detail["changed"]))))


@appraisal.command("record-grades")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                metavar="FILE.csv")
@_year_options
@click.option("--body", "appraising_body", required=True,
              help="The appraising body, e.g. 镇房管办考核组.")
@click.option("--survey", required=True, help="The satisfaction survey, e.g. 满意度测评2025.")
@envelope_options
@json_option
def record_grades(file: Path, year: int, town: str, appraising_body: str, survey: str,
                  as_json: bool, **kw: Any) -> None:
    """Record a year's grades from FILE.csv in one go: all rows or none.

    The file has a header row and the columns firm (credit code), score, satisfaction
    (percent) and sample (sample size); it may start with a byte-order mark. Every row
    becomes an appraisal.record_firm_score and an appraisal.record_satisfaction, checked
    by the ledger as one atomic write: if any row is refused, nothing is recorded.

    \b
    Example:
      ledger appraisal record-grades grades-2025.csv --year 2025 --body 镇房管办考核组 \\
          --survey 满意度测评2025 --actor P-0010 --post town.housing_office.director@ZQ
    """
    import csv
    import json

    from ledger.cli import signed_lines

    env = envelope(kw)
    dry_run = bool(click.get_current_context().meta.get("ledger.dry_run"))
    with file.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    wanted = ("firm", "score", "satisfaction", "sample")
    if not rows or any(c not in (rows[0] or {}) for c in wanted):
        raise click.UsageError(_("{file}: the header row must name the columns {columns}").format(
            file=file, columns=", ".join(wanted)))
    lines: list[str] = []
    for n, row in enumerate(rows, start=2):
        values = {c: (row.get(c) or "").strip() for c in wanted}
        if not all(values.values()):
            raise click.UsageError(_("{file} row {n}: every column needs a value "
                                     "(firm, score, satisfaction, sample)").format(file=file, n=n))
        common = {"town": town, "year": year, "firm": values["firm"], **env}
        lines.append(json.dumps({"type": "appraisal.record_firm_score", **common,
                                 "score": values["score"],
                                 "appraising_body": appraising_body}, ensure_ascii=False))
        sample = values["sample"]
        lines.append(json.dumps({"type": "appraisal.record_satisfaction", **common,
                                 "percent": values["satisfaction"],
                                 "sample_size": int(sample) if sample.isdigit() else sample,
                                 "survey": survey}, ensure_ascii=False))
    key = state().private_key()
    led = state().ledger()
    outcomes = list(led.apply(signed_lines(lines, key) if key is not None else lines,
                              dry_run=dry_run, atomic=not dry_run))
    refused = [{"row": (o.line + 1) // 2 + 1, "message": str(o.error)}
               for o in outcomes if o.error is not None]
    report = {"rows": len(rows), "written": not refused and not dry_run, "dry_run": dry_run,
              "refused": refused}
    if as_json:
        renderer(True).emit(report)
    else:
        for item in refused:
            click.echo(_("row {row}: refused: {message}").format(**item), err=True)
    if refused:
        click.echo(_("nothing recorded: a row was refused, and the grades go in all or "
                     "none"), err=True)
        sys.exit(1)
    if not as_json:
        click.echo((_("{n} firms' grades checked; nothing written") if dry_run else
                    _("{n} firms' grades recorded")).format(n=len(rows)))


@appraisal.command("reopen")
@_year_options
@click.option("--reason", required=True, help="Why the year is reopened.")
@envelope_options
@json_option
def reopen(year: int, town: str, reason: str, as_json: bool, **kw: Any) -> None:
    """Reopen a closed year for corrections (the reason is recorded).

    \b
    Example:
      ledger appraisal reopen --year 2025 --reason "异议成立,更正得分" \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "appraisal.reopen", "town": town, "year": year, "reason": reason,
             **envelope(kw)}, as_json)


@appraisal.command("rerun")
@_year_options
@click.option("--reason", required=True, help="Why the year is rerun.")
@click.option("--cascade", is_flag=True,
              help="Also rerun every later closed year, in order, under the new history.")
@envelope_options
@json_option
def rerun_cmd(year: int, town: str, reason: str, cascade: bool, as_json: bool,
              **kw: Any) -> None:
    """Rerun a closed year (reopen and close it again). Later closed years rest on its
    outcomes (two years running in the bottom three): without --cascade they are marked stale;
    with --cascade each is rerun in order and records what changed.

    \b
    Example:
      ledger appraisal rerun --year 2024 --reason "更正2024年满意度" --cascade \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    result = execute({"type": "appraisal.rerun", "town": town, "year": year,
                      "reason": reason, "cascade": cascade, **envelope(kw)}, as_json)
    if as_json:
        return
    r = renderer(False)
    d = result.detail
    lines = [(d["appraisal"], d["run"], d.get("changes", []))] + [
        (c["appraisal"], c["run"], c["changes"]) for c in d.get("cascade", [])]
    for key, run, changes in lines:
        what = "; ".join(f"{c['firm']} +{','.join(c['added']) or '-'} "
                         f"-{','.join(c['withdrawn']) or '-'}" for c in changes)
        r.line(_("{key} {t} {run}: {value}").format(
                   key=key, t=t('ap.run', r.lang), run=run,
                   value=what or t('ap.no_changes', r.lang)))
    for key in d.get("stale", []):
        r.line(t("ap.stale_note", r.lang).format(year=key, because=d["appraisal"]))


@appraisal.command("file-objection")
@click.argument("firm", shell_complete=firms)
@_year_options
@click.option("--text", required=True, help="The objection.")
@click.option("--community", shell_complete=communities,
              help="When a project manager files it: their community.")
@envelope_options
@json_option
def object_(firm: str, year: int, town: str, text: str, community: str | None, as_json: bool,
            **kw: Any) -> None:
    """File FIRM's objection to its outcome within the objection period.

    \b
    Example:
      ledger appraisal file-objection 91310112MA1GE5Q84D --year 2025 --text "满意度样本不足" \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "appraisal.file_objection", "town": town, "year": year, "firm": firm,
             "text": text, "community": community, **envelope(kw)}, as_json)


@appraisal.command("answer-objection")
@click.argument("objection")
@_year_options
@click.option("--decision", type=click.Choice(["upheld", "dismissed"]), required=True)
@click.option("--answer", required=True, help="The answer given.")
@envelope_options
@json_option
def answer(objection: str, year: int, town: str, decision: str, answer: str, as_json: bool,
           **kw: Any) -> None:
    """Answer an OBJECTION (upheld: reopen and correct; dismissed).

    \b
    Example:
      ledger appraisal answer-objection OBJ-2025-1 --year 2025 --decision dismissed --answer "样本符合要求" \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "appraisal.answer_objection", "town": town, "year": year,
             "objection": objection, "decision": decision, "answer": answer, **envelope(kw)},
            as_json)


@appraisal.command("finalise")
@_year_options
@envelope_options
@json_option
def finalise(year: int, town: str, as_json: bool, **kw: Any) -> None:
    """Finalise a closed year after its objection period.

    \b
    Example:
      ledger appraisal finalise --year 2025 --actor P-0002 --post town.party_committee.secretary@ZQ
    """
    execute({"type": "appraisal.finalise", "town": town, "year": year, **envelope(kw)},
            as_json)


@appraisal.command("evaluate-oc")
@click.argument("oc")
@_year_options
@click.option("--criterion", "criteria", multiple=True, required=True, metavar="NAME=SCORE",
              help="safe_community_cooperation, maintenance_fund_use, public_revenue_use, "
                   "firm_supervision, dispute_mediation (repeat).")
@click.option("--comment", default="")
@envelope_options
@json_option
def evaluate_oc(oc: str, year: int, town: str, criteria: tuple[str, ...], comment: str,
                as_json: bool, **kw: Any) -> None:
    """Evaluate owners' committee OC on the five criteria.

    \b
    Example:
      ledger appraisal evaluate-oc ZQ-001/2025 --year 2025 --criterion safe_community_cooperation=90 \\
          --criterion maintenance_fund_use=88 --criterion public_revenue_use=85 \\
          --criterion firm_supervision=80 --criterion dispute_mediation=92 \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    pairs = dict(c.split("=", 1) for c in criteria if "=" in c)
    execute({"type": "appraisal.evaluate_oc", "town": town, "year": year, "oc": oc,
             "criteria": pairs, "comment": comment, **envelope(kw)}, as_json)


@appraisal.command("resident-appraisal")
@click.argument("community", shell_complete=communities)
@click.argument("party")
@_year_options
@click.option("--rating", "ratings", multiple=True, required=True, metavar="PERSON=RATING",
              help="A representative's rating: excellent, good, fair or poor (repeat).")
@envelope_options
@json_option
def resident_appraisal(community: str, party: str, year: int, town: str,
                       ratings: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """Record the resident representatives' appraisal of PARTY in COMMUNITY.

    \b
    Example:
      ledger appraisal resident-appraisal ZQ-001 property_firm --year 2025 \\
          --rating P-1017=good --rating P-1018=fair \\
          --actor P-1001 --post party_org.secretary@ZQ-001
    """
    parsed = [dict(zip(("appraiser", "rating"), r.split("=", 1), strict=False))
              for r in ratings]
    execute({"type": "appraisal.resident_appraisal", "town": town, "year": year,
             "community": community, "party": party, "ratings": parsed, **envelope(kw)},
            as_json)


@appraisal.command("define-indicator")
@click.argument("code")
@_year_options
@click.option("--zh", "name_zh", required=True)
@click.option("--en", "name_en", required=True)
@click.option("--unit", required=True)
@click.option("--weight", required=True)
@click.option("--measure", help="A ledger calculator; without it the indicator is entered.")
@envelope_options
@json_option
def define_indicator(code: str, year: int, town: str, name_zh: str, name_en: str, unit: str,
                     weight: str, measure: str | None, as_json: bool, **kw: Any) -> None:
    """Define indicator CODE for the year (measured from the ledger with --measure, else
    entered).

    \b
    Example:
      ledger appraisal define-indicator i01_resolutions --year 2025 --zh 决议事项按期完成率 \\
          --en "resolutions on time" --unit % --weight 10 --measure resolution_completion_rate \\
          --actor P-0004 --post town.peace_office.director@ZQ
    """
    execute({"type": "appraisal.define_indicator", "town": town, "year": year, "code": code,
             "name_zh": name_zh, "name_en": name_en, "unit": unit, "weight": weight,
             "source": "ledger" if measure else "entered", "measure": measure,
             **envelope(kw)}, as_json)


@appraisal.command("record-indicator", cls=NumbersCommand)
@click.argument("code")
@click.argument("community", shell_complete=communities)
@click.argument("value", type=NUMBER)
@_year_options
@click.option("--note", default="")
@envelope_options
@json_option
def record_indicator(code: str, community: str, value: str, year: int, town: str, note: str,
                     as_json: bool, **kw: Any) -> None:
    """Record an entered indicator CODE's VALUE for COMMUNITY.

    \b
    Example:
      ledger appraisal record-indicator i05_patrols ZQ-001 48 --year 2025 \\
          --actor P-0004 --post town.peace_office.director@ZQ
    """
    execute({"type": "appraisal.record_indicator", "town": town, "year": year, "code": code,
             "community": community, "value": value, "note": note, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- tables
def _write_xlsx(path: str, title: str, headers: list[str], cells: list[list[Any]]) -> None:
    from pathlib import Path

    from ledger.render import xlsx

    try:
        Path(path).write_bytes(xlsx(title, headers, cells))
    except OSError as e:
        raise click.ClickException(_("cannot write {path}: {strerror}").format(
                                       path=path, strerror=e.strerror)) from None


@appraisal.command("table")
@_year_options
@click.option("--kind", type=click.Choice(KINDS), default="firms", show_default=True)
@click.option("--lang", "lang", type=click.Choice(["zh", "en"]),
              help="Header language (default: the global --lang).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--xlsx", "xlsx", metavar="FILE", help="Write an Excel workbook to FILE.")
@json_option
def table(year: int, town: str, kind: str, lang: str | None, as_csv: bool, xlsx: str | None,
          as_json: bool) -> None:
    """Print an appraisal table of the year: firms (rank, firm, score, satisfaction,
    bottom three, consecutive years, eliminated, reasons), ocs, communities, indicators,
    objections or follow_ups.

    \b
    Example:
      ledger appraisal table --year 2025
      ledger appraisal table --year 2025 --kind indicators --lang en --csv
      ledger appraisal table --year 2025 --xlsx 2025年度物业考核.xlsx
    """
    st = state()
    if lang:
        st.lang = lang
    key = f"{town}/{year}"
    raw, headers, cells, title = table_rows(st.ledger(), key, kind)
    stale = (year_row(st.ledger(), key) or {}).get("stale")
    note = t("ap.stale_note", st.lang).format(year=key, because=stale["because"]) \
        if stale else None
    if as_json:
        out: dict[str, Any] = {"appraisal": key, "kind": kind, "rows": raw}
        if stale:
            out["stale"] = stale
        renderer(True).emit(out)
        return
    if note and (as_csv or xlsx):
        click.echo(note, err=True)
    if as_csv:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(headers)
        w.writerows([["" if v is None else v for v in row] for row in cells])
        click.echo(buf.getvalue(), nl=False)
        return
    if xlsx:
        _write_xlsx(xlsx, title, headers, cells)
        click.echo(_("{title}: {count} rows written to {xlsx}").format(
                       title=title, count=len(cells), xlsx=xlsx))
        return
    r = renderer(False)
    _print(r, title, headers, cells)
    if note:
        r.note(note)


def _print(r: Renderer, title: str, headers: list[str], cells: list[list[Any]]) -> None:
    r.table_labelled(title, headers, cells)


@appraisal.command("simulate")
@_year_options
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="A parameter of firm.appraisal@1, e.g. firm.elimination.score_below=65 "
                   "(repeat).")
@json_option
def simulate_command(year: int, town: str, overrides: tuple[str, ...], as_json: bool) -> None:
    """Recompute the year under other parameters and show what would change; writes nothing.

    \b
    Example:
      ledger appraisal simulate --year 2025 --set firm.elimination.score_below=65
    """
    st = state()
    data = simulate(st.ledger(), f"{town}/{year}", list(overrides))
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
        return
    lang = st.lang
    r = Renderer(lang=lang, json=False)

    def actions(values: list[str]) -> str:
        return ", ".join(t(f"ap.action:{a}", lang) for a in values)

    rows = []
    for f in data["changes"]:
        rec, sim = f["recorded"] or {}, f["simulated"] or {}
        rows.append([f["firm_name"], f["firm"], rec.get("rank"), sim.get("rank"),
                     _flag(rec.get("eliminated"), lang), _flag(sim.get("eliminated"), lang),
                     actions(f["added"]), actions(f["withdrawn"])])
    title = f"{t('ap.simulate_title', lang)} {data['appraisal']}: {', '.join(overrides) or '-'}"
    headers = [t(k, lang) for k in ("ap.firm_name", "ap.firm_code")] + [
        f"{t('ap.rank', lang)} ({t('ap.recorded', lang)})",
        f"{t('ap.rank', lang)} ({t('ap.simulated', lang)})",
        f"{t('ap.eliminated', lang)} ({t('ap.recorded', lang)})",
        f"{t('ap.eliminated', lang)} ({t('ap.simulated', lang)})",
        t("ap.added", lang), t("ap.withdrawn", lang)]
    if rows:
        _print(r, title, headers, rows)
    else:
        r.line(_("{title}: {t}").format(title=title, t=t('ap.no_changes', lang)))


# ---------------------------------------------------------------------------- demo
def _demo_section(ledger: GovernanceLedger, r: Renderer) -> None:
    for key in ("ZQ/2024", "ZQ/2025"):
        if year_row(ledger, key) is None:
            continue
        _raw, headers, cells, title = table_rows(ledger, key, "firms")
        _print(r, title, headers, cells)
    if year_row(ledger, "ZQ/2025") is not None:
        headers, cells, title = indicator_summary(ledger, "ZQ/2025", r.lang)
        _print(r, title, headers, cells)


def indicator_summary(ledger: GovernanceLedger, key: str,
                      lang: str) -> tuple[list[str], list[list[Any]], str]:
    """The year-end indicator table: one row per indicator, with the events that feed it, its
    formula (fixed, the town's parameter set and its version, or entered), and its value in
    each community."""
    rows = indicator_table(ledger, key)
    comms = sorted({r["community"] for r in rows})
    by: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by.setdefault(row["code"], {**row, "values": {}})
        entry["values"][row["community"]] = row["value"]
    headers = [t("ap.indicator_code", lang), t("ap.indicator", lang), t("ap.unit", lang),
               t("ap.weight", lang), t("ap.events", lang), t("ap.formula", lang), *comms]
    cells = [[e["code"], e["name_zh"] if lang == "zh" else e["name_en"], e["unit"],
              e["weight"], e["events"], e["formula"],
              *[e["values"].get(c) if e["values"].get(c) is not None else "—" for c in comms]]
             for e in by.values()]
    return headers, cells, f"{t('ap.indicators_title', lang)} {key} ({len(cells)})"


DEMO_SECTIONS.append(_demo_section)

# Earlier names of the commands above, kept working (the names now follow the command types).
add_aliases(appraisal, {"score": "record-firm-score", "satisfaction": "record-satisfaction",
                       "close": "close-year", "object": "file-objection",
                       "answer": "answer-objection"})
