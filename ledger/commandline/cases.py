"""CLI for problem cases, warnings, responsibility lists and template documents."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from ledger.aggregates.case import CHANNELS, PROBLEM_TYPES, STAGES, STATES, TRANSITIONS
from ledger.application import GovernanceLedger
from ledger.cli import (
    DEMO_SECTIONS,
    LedgerGroup,
    _parse_when_option,
    add_aliases,
    cli,
    envelope,
    envelope_options,
    execute,
    json_option,
    renderer,
    state,
)
from ledger.commands.cases import TEMPLATES
from ledger.complete import case_or_community, case_refs, communities, posts
from ledger.kernel.fields import payload_text
from ledger.kernel.i18n import _, add_labels
from ledger.kernel.i18n import t as label_for
from ledger.projections.cases import (
    case_board,
    case_documents,
    duty_failure_counts,
    duty_lists,
    warning_board,
)
from ledger.render import Renderer, short_time

add_labels({
    # Case states.
    "case:received": "received",
    "case:accepted": "awaiting assessment",
    "case:rejected": "rejected",
    "case:assessed": "assessed",
    "case:dispatched": "dispatched",
    "case:acknowledged": "acknowledged",
    "case:planned": "joint plan drawn up",
    "case:inspecting": "inspecting",
    "case:rectifying": "rectifying",
    "case:feedback_reported": "feedback reported",
    "case:verified": "verified",
    "case:closed": "closed",
    "case:called_back": "called back",
    "case:reopened": "reopened",
    "case:merged": "merged",
    # Channels, problem types, stages, modes.
    "channel:hotline": "hotline",
    "channel:street_patrol": "street patrol",
    "channel:rc_report": "residents' committee report",
    "problem:illegal_construction": "illegal construction",
    "problem:group_renting": "group renting",
    "problem:unlicensed_business": "unlicensed business",
    "problem:other": "other",
    "stage:source_control": "source control",
    "stage:classified_management": "classified management",
    "stage:consolidation": "long-term consolidation",
    "mode:single": "single department",
    "mode:multi": "multi-department",
    # Warning levels and measure states.
    "level:none": "none",
    "level:orange": "orange (attention)",
    "level:red": "red (warning)",
    "level:black": "black (severe)",
    "measure:due": "due",
    "measure:missed": "MISSED",
    "measure:fulfilled": "fulfilled",
    "measure:conditional": "depends on review",
    "measure:not_required": "not required",
    "measure:superseded": "superseded",
    # Templates.
    "template:analysis_review": "analysis and review",
    "template:assessment_warning": "assessment and warning",
    "template:advice_guidance": "advice and guidance",
    "template:coordination_supervision": "coordination and supervision",
    "template:notification_feedback": "notification and feedback",
    # Columns and titles.
    "cases.ref": "case",
    "cases.channel": "channel",
    "cases.problem_type": "problem type",
    "cases.stage": "stage",
    "cases.status": "status",
    "cases.due": "due",
    "cases.overdue": "overdue",
    "cases.mode": "mode",
    "cases.departments_col": "departments",
    "cases.returns": "returns",
    "cases.reopens": "reopens",
    "cases.supervisions": "supervised",
    "cases.level": "level",
    "cases.suggested": "suggested",
    "cases.decided_by": "decided by",
    "cases.measures": "measures",
    "cases.measure": "measure",
    "cases.missed": "missed",
    "cases.party": "party",
    "cases.duty": "duty",
    "cases.failures": "duty failures",
    "cases.template": "template",
    "cases.target": "target",
    "cases.cases_title": "Case board",
    "cases.overdue_title": "Overdue cases",
    "cases.warnings_title": "Three-colour warnings",
    "cases.duties_title": "Responsibility list",
    "cases.failures_title": "Duty failures",
    "cases.documents_title": "Template documents",
    "cases.yes": "yes",
    "cases.year": "year",
    "cases.failure_counts": "Duty failures per party (year-end appraisal)",
    "cases.cycle": "cycle",
    "cases.escalation": "escalation",
    "ladder:none": "none",
    "ladder:remind": "remind",
    "ladder:supervise": "supervise",
    "ladder:notify": "notify",
    "cases.escalations_title": "Escalations (automatic supervision)",
    "cases.kind": "kind",
    "cases.key": "item",
    "cases.step_col": "step",
    "cases.days_overdue": "days overdue",
    "cases.reason": "reason",
    "cases.nothing_to_escalate": "nothing to escalate",
    "cases.calendar": "time limits counted in",
    "cases.next_title": "Steps allowed now",
    "cases.step": "step",
    "cases.leads_to": "leads to",
})


def _lbl(r: Renderer, prefix: str, value: str | None) -> str:
    return r.label(f"{prefix}:{value}") if value else ""


def _as_of(value: str | None) -> datetime | None:
    return _parse_when_option(value, "--as-of") if value else None


def _case_cmd(type_: str, ref: str, kw: dict[str, Any], as_json: bool, **fields: Any) -> None:
    execute({"type": type_, "ref": ref, **fields, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- case
def lifecycle_lines() -> list[str]:
    """The case lifecycle as lines of text, drawn from the transitions table itself
    (``ledger.aggregates.case.TRANSITIONS``), so it cannot drift from what the ledger allows:
    for each state, each command that leaves it and the state it leads to."""
    lang = state().lang

    def name(s: str | None) -> str:
        if s is None:
            return _("(no case yet)")
        shown = label_for(f"case:{s}", lang)
        return s if shown == s.replace("_", " ") else f"{shown} ({s})"

    leaving: dict[str | None, list[tuple[str, str]]] = {}
    for (before, command), after in TRANSITIONS.items():
        if command != "supervise":  # every open state; shown once below
            leaving.setdefault(before, []).append((command, after))
    lines = [_("Lifecycle (each state, then: command → next state):")]
    for before in (None, *STATES):
        if before in leaving:
            lines.append(f"  {name(before)}")
            lines += [f"      {command} → {name(after)}" for command, after in leaving[before]]
    lines += [_("  supervise (督办): in any open state, recording an escalation; the state stays."),
              _("  With the town parameter case.callback_step = before_close, callback follows "
                "verified (and close needs it) instead of following closed.")]
    return lines


class CaseGroup(LedgerGroup):
    """The ``case`` group: its help ends with the lifecycle, drawn in the reader's language."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_epilog(ctx, formatter)
        formatter.write("\n")
        for line in lifecycle_lines():
            formatter.write(f"{' ' * formatter.current_indent}{line}\n")


@cli.group(cls=CaseGroup)
def case() -> None:
    """Problem cases (案件): intake, assessment, dispatch, handling, closure, callback."""


@case.command("receive")
@click.argument("ref", required=False, metavar="[REF]")
@click.option("--community", shell_complete=communities, required=True, help="Community code, e.g. ZQ-001.")
@click.option("--channel", type=click.Choice(CHANNELS), required=True, help="How it arrived.")
@click.option("--problem-type", type=click.Choice(PROBLEM_TYPES), required=True)
@click.option("--stage", type=click.Choice(STAGES), default="classified_management",
              show_default=True)
@click.option("--location", default="", help="Where (address, building, shop).")
@click.option("--description", required=True, help="What was reported.")
@click.option("--caller-name", help="Hotline caller's name (personal data).")
@click.option("--caller-phone", help="Hotline caller's phone (personal data).")
@envelope_options
@json_option
def case_receive(ref: str | None, community: str, channel: str, problem_type: str, stage: str,
                 location: str, description: str, caller_name: str | None,
                 caller_phone: str | None, as_json: bool, **kw: Any) -> None:
    """Receive a case: REF (e.g. ZQ-2025-000123), or without it the next number of the
    town's sequence for the year, printed.

    \b
    Example:
      ledger case receive --community ZQ-001 --channel hotline \\
          --problem-type group_renting --description 疑似群租 \\
          --actor P-0005 --post town.peace_office.staff@ZQ
      ledger --profile clerk case receive ZQ-2025-000123 --community ZQ-001 \\
          --channel street_patrol --problem-type illegal_construction --description 违建
    """
    caller = {k: v for k, v in (("name", caller_name), ("phone", caller_phone)) if v}
    result = execute({"type": "case.receive", "ref": ref, "community": community,
                      "channel": channel, "problem_type": problem_type, "stage": stage,
                      "location": location, "description": description,
                      "caller": caller or None, **envelope(kw)}, as_json)
    if ref is None and not as_json and result.detail.get("case"):
        click.echo(_("case number: {ref}").format(ref=result.detail["case"]))


@case.command("accept")
@click.argument("ref", shell_complete=case_refs)
@click.option("--note", default="")
@envelope_options
@json_option
def case_accept(ref: str, note: str, as_json: bool, **kw: Any) -> None:
    """Accept case REF at intake.

    \b
    Example:
      ledger case accept ZQ-2025-000123 --actor P-0005 --post town.peace_office.staff@ZQ
    """
    _case_cmd("case.accept", ref, kw, as_json, note=note)


@case.command("reject")
@click.argument("ref", shell_complete=case_refs)
@click.option("--reason", required=True)
@envelope_options
@json_option
def case_reject(ref: str, reason: str, as_json: bool, **kw: Any) -> None:
    """Reject case REF at intake, with the reason.

    \b
    Example:
      ledger case reject ZQ-2025-000124 --reason 不属于本镇管辖 \\
          --actor P-0005 --post town.peace_office.staff@ZQ
    """
    _case_cmd("case.reject", ref, kw, as_json, reason=reason)


@case.command("assess")
@click.argument("ref", shell_complete=case_refs)
@click.option("--mode", type=click.Choice(["single", "multi"]), required=True)
@click.option("--reason", default="")
@envelope_options
@json_option
def case_assess(ref: str, mode: str, reason: str, as_json: bool, **kw: Any) -> None:
    """Assess (研判) case REF as single- or multi-department.

    \b
    Example:
      ledger case assess ZQ-2025-000123 --mode multi --reason 涉及房管与公安 \\
          --actor P-0006 --post town.joint_enforcement_office.director@ZQ
    """
    _case_cmd("case.assess", ref, kw, as_json, mode=mode, reason=reason)


@case.command("dispatch")
@click.argument("ref", shell_complete=case_refs)
@click.option("--department", "departments", multiple=True, required=True,
              help="Department code; repeat for a multi-department case.")
@click.option("--note", default="")
@envelope_options
@json_option
def case_dispatch(ref: str, departments: tuple[str, ...], note: str, as_json: bool,
                  **kw: Any) -> None:
    """Dispatch case REF to its department(s).

    \b
    Example:
      ledger case dispatch ZQ-2025-000123 --department housing --department police \\
          --actor P-0004 --post town.peace_office.director@ZQ
    """
    _case_cmd("case.dispatch", ref, kw, as_json, departments=list(departments), note=note)


@case.command("acknowledge")
@click.argument("ref", shell_complete=case_refs)
@envelope_options
@json_option
def case_acknowledge(ref: str, as_json: bool, **kw: Any) -> None:
    """Acknowledge dispatched case REF (the department or the joint-enforcement office).

    \b
    Example:
      ledger case acknowledge ZQ-2025-000123 --actor P-0007 \\
          --post town.joint_enforcement_office.staff@ZQ
    """
    _case_cmd("case.acknowledge", ref, kw, as_json)


@case.command("return")
@click.argument("ref", shell_complete=case_refs)
@click.option("--reason", required=True)
@envelope_options
@json_option
def case_return(ref: str, reason: str, as_json: bool, **kw: Any) -> None:
    """Return dispatched case REF as not your department's (back to assessment).

    \b
    Example:
      ledger case return ZQ-2025-000125 --reason 属市场监管职责 \\
          --actor P-0041 --post department.urban_management.staff@ZQ
    """
    _case_cmd("case.return", ref, kw, as_json, reason=reason)


@case.command("plan")
@click.argument("ref", shell_complete=case_refs)
@click.option("--task", "tasks", multiple=True, required=True, metavar="DEPT=TASK",
              help="One sub-task per dispatched department.")
@envelope_options
@json_option
def case_plan(ref: str, tasks: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """Record the joint plan of multi-department case REF.

    \b
    Example:
      ledger case plan ZQ-2025-000123 --task housing=核查租赁备案 --task police=人员登记 \\
          --actor P-0006 --post town.joint_enforcement_office.director@ZQ
    """
    subtasks = {}
    for t in tasks:
        dept, sep, text = t.partition("=")
        if not sep:
            raise click.BadParameter(_("{t!r} is not DEPT=TASK").format(t=t), param_hint="--task")
        subtasks[dept.strip()] = text.strip()
    _case_cmd("case.plan", ref, kw, as_json, subtasks=subtasks)


@case.command("inspect")
@click.argument("ref", shell_complete=case_refs)
@click.option("--findings", required=True)
@click.option("--evidence", multiple=True, help="Evidence reference; repeatable.")
@envelope_options
@json_option
def case_inspect(ref: str, findings: str, evidence: tuple[str, ...], as_json: bool,
                 **kw: Any) -> None:
    """Record an inspection of case REF.

    \b
    Example:
      ledger case inspect ZQ-2025-000123 --findings 一套房隔成8间 --evidence photo:0312-1 \\
          --actor P-0042 --post department.housing.staff@ZQ
    """
    _case_cmd("case.inspect", ref, kw, as_json, findings=findings, evidence=list(evidence))


@case.command("rectify")
@click.argument("ref", shell_complete=case_refs)
@click.option("--plan", "plan_text", required=True)
@click.option("--deadline", required=True, metavar="DATE")
@envelope_options
@json_option
def case_rectify(ref: str, plan_text: str, deadline: str, as_json: bool, **kw: Any) -> None:
    """Record the rectification plan of case REF and its deadline.

    \b
    Example:
      ledger case rectify ZQ-2025-000123 --plan 恢复原始格局 --deadline 2025-04-15 \\
          --actor P-0042 --post department.housing.staff@ZQ
    """
    _case_cmd("case.rectify", ref, kw, as_json, plan=plan_text, deadline=deadline)


@case.command("feedback")
@click.argument("ref", shell_complete=case_refs)
@click.option("--result", required=True)
@click.option("--evidence", multiple=True)
@envelope_options
@json_option
def case_feedback(ref: str, result: str, evidence: tuple[str, ...], as_json: bool,
                  **kw: Any) -> None:
    """Report the result of case REF.

    \b
    Example:
      ledger case feedback ZQ-2025-000123 --result 已恢复原状 --evidence photo:0414-2 \\
          --actor P-0007 --post town.joint_enforcement_office.staff@ZQ
    """
    _case_cmd("case.feedback", ref, kw, as_json, result=result, evidence=list(evidence))


@case.command("verify")
@click.argument("ref", shell_complete=case_refs)
@click.option("--note", default="")
@envelope_options
@json_option
def case_verify(ref: str, note: str, as_json: bool, **kw: Any) -> None:
    """Verify the result of case REF (not by one of its handlers).

    \b
    Example:
      ledger case verify ZQ-2025-000123 --note 现场复核属实 \\
          --actor P-0008 --post town.supervision_team.leader@ZQ
    """
    _case_cmd("case.verify", ref, kw, as_json, note=note)


@case.command("close")
@click.argument("ref", shell_complete=case_refs)
@click.option("--note", default="")
@envelope_options
@json_option
def case_close(ref: str, note: str, as_json: bool, **kw: Any) -> None:
    """Close verified case REF (not by one of its handlers).

    \b
    Example:
      ledger case close ZQ-2025-000123 --actor P-0004 --post town.peace_office.director@ZQ
    """
    _case_cmd("case.close", ref, kw, as_json, note=note)


@case.command("callback")
@click.argument("ref", shell_complete=case_refs)
@click.option("--satisfied/--dissatisfied", required=True)
@click.option("--note", default="")
@envelope_options
@json_option
def case_callback(ref: str, satisfied: bool, note: str, as_json: bool, **kw: Any) -> None:
    """Record the callback to the reporter of case REF.

    \b
    Example:
      ledger case callback ZQ-2025-000123 --dissatisfied --note 又有人入住 \\
          --actor P-0005 --post town.peace_office.staff@ZQ
    """
    _case_cmd("case.callback", ref, kw, as_json, satisfied=satisfied, note=note)


@case.command("reopen")
@click.argument("ref", shell_complete=case_refs)
@click.option("--reason", required=True)
@envelope_options
@json_option
def case_reopen(ref: str, reason: str, as_json: bool, **kw: Any) -> None:
    """Reopen closed case REF.

    \b
    Example:
      ledger case reopen ZQ-2025-000123 --reason 回访不满意，问题反弹 \\
          --actor P-0004 --post town.peace_office.director@ZQ
    """
    _case_cmd("case.reopen", ref, kw, as_json, reason=reason)


@case.command("merge")
@click.argument("ref", shell_complete=case_refs)
@click.option("--into", required=True, metavar="REF", shell_complete=case_refs,
              help="The case it duplicates.")
@envelope_options
@json_option
def case_merge(ref: str, into: str, as_json: bool, **kw: Any) -> None:
    """Merge duplicate report REF into another open case.

    \b
    Example:
      ledger case merge ZQ-2025-000130 --into ZQ-2025-000123 \\
          --actor P-0005 --post town.peace_office.staff@ZQ
    """
    _case_cmd("case.merge", ref, kw, as_json, into=into)


@case.command("supervise")
@click.argument("ref", shell_complete=case_refs)
@click.option("--instruction", required=True)
@click.option("--deadline", metavar="DATE", help="New deadline for the current step.")
@envelope_options
@json_option
def case_supervise(ref: str, instruction: str, deadline: str | None, as_json: bool,
                   **kw: Any) -> None:
    """Record coordination and supervision (督办) of case REF, typically an overdue one.

    \b
    Example:
      ledger case supervise ZQ-2025-000123 --instruction 限三日内签收 --deadline 2025-03-20 \\
          --actor P-0008 --post town.supervision_team.leader@ZQ
    """
    _case_cmd("case.supervise", ref, kw, as_json, instruction=instruction, deadline=deadline)


@case.command("next")
@click.argument("ref", shell_complete=case_refs)
@click.option("--as-of", metavar="DATETIME", help="Which steps were allowed then (default now).")
@json_option
def case_next_cmd(ref: str, as_of: str | None, as_json: bool) -> None:
    """List the steps case REF may take next, each with the state it leads to.

    The steps follow the case lifecycle under the town's parameters (when the callback comes,
    the return window, the calendar); a refused case command names the same list.

    \b
    Example:
      ledger case next ZQ-2025-000123
      ledger --lang en case next ZQ-2025-000123 --json
    """
    from ledger.casesteps import case_next

    data = case_next(state().ledger(), ref, _as_of(as_of))
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    r.line(f"{data['case']}: {_lbl(r, 'case', data['status'])} ({data['status']}) "
           f"{r.label('since')} {short_time(data['since'])}"
           + (f", {r.label('cases.due')} {data['due']}" if data["due"] else "")
           + f"; {r.label('cases.cycle')} {data['cycle']}")
    if data["calendar"]:
        r.line(_("{label}: {calendar}").format(
                   label=r.label('cases.calendar'), calendar=data['calendar']))
    r.table(r.label("cases.next_title"), ("cases.step", "cases.leads_to"),
            [[s["command"], s["to"]] for s in data["next"]])


@cli.command("supervise")
@click.option("--town", default="ZQ", show_default=True, help="The town whose work is supervised.")
@click.option("--as-of", metavar="DATETIME",
              help="Run as of this moment (default now): days overdue are counted to its day.")
@click.option("--actor", default="system:rules", show_default=True, metavar="PERSON",
              help="Who runs it: system:rules (cron, the scheduler) or a person.")
@click.option("--post", "acting_post", metavar="POST", shell_complete=posts,
              help="The post a person runs it in, e.g. town.supervision_team.leader@ZQ.")
@click.option("--dry-run", is_flag=True, help="Show what would be escalated; write nothing.")
@json_option
def supervise_cmd(town: str, as_of: str | None, actor: str, acting_post: str | None,
                  dry_run: bool, as_json: bool) -> None:
    """Escalate overdue work: remind → 督办 → 通报 (rule case.supervision@1).

    Overdue case steps, lapsed warning measures and overdue resolution items are escalated
    one rung per threshold of days overdue (town parameters case.supervision.grace_days,
    .remind_after_days, .supervise_after_days, .notify_after_days). Each escalation is an
    event with the rule's inputs; 通报 are filed as a notification-and-feedback document on
    the community. A second run over the same state writes nothing.

    \b
    Example:
      ledger supervise --as-of 2025-12-31
      ledger supervise --dry-run --json
    """
    from ledger.supervision import plan, run

    led = state().ledger()
    when = _as_of(as_of)
    data = plan(led, town, when) if dry_run else run(led, town, when, actor=actor,
                                                     post=acting_post)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    if not data["escalations"]:
        r.line(_("{town} {as_of}: {label} ({looked_at})").format(
                   town=data['town'], as_of=data['as_of'],
                   label=r.label('cases.nothing_to_escalate'), looked_at=data['looked_at']))
        return
    r.table(f"{r.label('cases.escalations_title')} — {data['town']} {data['as_of']}",
            ("cases.kind", "cases.key", "cases.step_col", "cases.due", "cases.days_overdue",
             "cases.escalation"),
            [[e["kind"], e["key"], e["step"], e["due"], e["days_overdue"],
              _lbl(r, "ladder", e["level"])] for e in data["escalations"]])
    if not dry_run:
        r.line(_("{label}: supervision.run [{command_id}]").format(
                   label=r.label('accepted'), command_id=data['result']['command_id']))


@cli.command("escalations")
@click.option("--town", help="Only this town.")
@click.option("--community", shell_complete=communities, help="Only this community.")
@click.option("--kind", type=click.Choice(["case", "measure", "resolution_item"]),
              help="Only this kind of work.")
@click.option("--as-of", metavar="DATETIME", help="As recorded by then (default now).")
@json_option
def escalations_cmd(town: str | None, community: str | None, kind: str | None,
                    as_of: str | None, as_json: bool) -> None:
    """Show the escalations automatic supervision recorded (提醒, 督办, 通报).

    \b
    Example:
      ledger escalations --community ZQ-003
      ledger --lang en escalations --kind case --json
    """
    from ledger.projections.supervision import escalation_list

    data = escalation_list(state().ledger(), town=town, community=community, kind=kind,
                           as_of=_as_of(as_of))
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    r.table(f"{r.label('cases.escalations_title')} — {r.label('as_of')} "
            f"{short_time(data['as_of'])}",
            ("cases.kind", "cases.key", "community", "cases.step_col", "cases.due",
             "cases.days_overdue", "cases.escalation", "cases.reason"),
            [[e["kind"], e["key"], e["community"] or "", e["step"], e["due"],
              e["days_overdue"], _lbl(r, "ladder", e["level"]),
              e["reason_zh"] if r.lang == "zh" else e["reason_en"]]
             for e in data["escalations"]])


# ---------------------------------------------------------------------------- boards
def _case_rows(r: Renderer, rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [[c["ref"], c["community"], _lbl(r, "channel", c["channel"]),
             _lbl(r, "problem", c["problem_type"]), _lbl(r, "case", c["status"]),
             short_time(c["since"]), c["due"] or "",
             f"{c['days_overdue']}d" if c["overdue"] else "",
             _lbl(r, "mode", c["mode"]), ",".join(c["departments"]),
             c["returns"] or "", c["reopens"] or "", c["supervisions"] or ""]
            + ([_lbl(r, "ladder", c["escalation"]) if c["escalation"] != "none" else ""]
               if _escalated(rows) else [])
            for c in rows]


def _escalated(rows: list[dict[str, Any]]) -> bool:
    """Whether any case on the board was escalated (the column is shown only then)."""
    return any(c.get("escalation", "none") != "none" for c in rows)


def _case_columns(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    return CASE_COLUMNS + (("cases.escalation",) if _escalated(rows) else ())


CASE_COLUMNS = ("cases.ref", "community", "cases.channel", "cases.problem_type", "cases.status",
                "since", "cases.due", "cases.overdue", "cases.mode", "cases.departments_col",
                "cases.returns", "cases.reopens", "cases.supervisions")


@cli.command("cases")
@click.option("--community", shell_complete=communities, help="Only this community.")
@click.option("--status", type=click.Choice(STATES), help="Only cases in this state.")
@click.option("--overdue", is_flag=True, help="Only cases past their time limit.")
@click.option("--as-of", metavar="DATETIME", help="The board as it was then (default now).")
@json_option
def cases_cmd(community: str | None, status: str | None, overdue: bool, as_of: str | None,
              as_json: bool) -> None:
    """Show the case board: each case's state, time limit and whether it is overdue.

    \b
    Example:
      ledger cases --overdue --as-of 2025-06-30
      ledger --lang en cases --community ZQ-003 --json
    """
    data = case_board(state().ledger(), community=community, status=status, overdue=overdue,
                      as_of=_as_of(as_of))
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    title = r.label("cases.overdue_title" if overdue else "cases.cases_title")
    r.table(f"{title} — {r.label('as_of')} {short_time(data['as_of'])}",
            _case_columns(data["cases"]), _case_rows(r, data["cases"]))


def _measure_text(r: Renderer, m: dict[str, Any]) -> str:
    name = m["name_zh"] if r.lang == "zh" else m["name_en"]
    text = f"{name}: {r.label('measure:' + m['status'])}"
    if m["due"]:
        text += f" ({r.label('cases.due')} {m['due']})"
    if m.get("third_party") and m["status"] == "fulfilled":
        text += f" [{m['third_party']}]"
    if m.get("outcome"):
        text += f" [{m['outcome']}]"
    if m.get("escalation", "none") != "none":
        text += f" ({r.label('ladder:' + m['escalation'])})"
    return text


@cli.command("warnings")
@click.option("--level", type=click.Choice(["orange", "red", "black"]), help="Only this colour.")
@click.option("--community", shell_complete=communities, help="Only this community.")
@click.option("--as-of", metavar="DATETIME", help="The board as it was then (default now).")
@json_option
def warnings_cmd(level: str | None, community: str | None, as_of: str | None,
                 as_json: bool) -> None:
    """Show the colour of each community and problem type, with its measures due or missed.

    \b
    Example:
      ledger warnings
      ledger warnings --level black --as-of 2025-08-31 --json
    """
    data = warning_board(state().ledger(), level=level, community=community,
                         as_of=_as_of(as_of))
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    rows = [[w["community"], _lbl(r, "problem", w["problem_type"]), _lbl(r, "level", w["level"]),
             short_time(w["since"]), _lbl(r, "level", w["suggested"]),
             f"{w['decided_by']} {w['post']}",
             "\n".join(_measure_text(r, m) for m in w["measures"]), w["missed"] or ""]
            for w in data["warnings"]]
    r.table(f"{r.label('cases.warnings_title')} — {r.label('as_of')} {short_time(data['as_of'])}",
            ("community", "cases.problem_type", "cases.level", "since", "cases.suggested",
             "cases.decided_by", "cases.measures", "cases.missed"), rows)


@cli.command("duties")
@click.option("--town", help="Only this town.")
@click.option("--year", type=int, help="Duty failures of this year only.")
@json_option
def duties_cmd(town: str | None, year: int | None, as_json: bool) -> None:
    """Show the responsibility list in force and the duty failures per party.

    \b
    Example:
      ledger duties
      ledger duties --year 2025 --json
    """
    led = state().ledger()
    lists, failures = duty_lists(led, town), duty_failure_counts(led, year)
    r = renderer(as_json)
    if as_json:
        r.emit({"lists": lists["lists"], "failures": failures})
        return
    for lst in lists["lists"]:
        r.table(f"{r.label('cases.duties_title')} {lst['town']} v{lst['version']} "
                f"({lst['effective_from']})",
                ("cases.problem_type", "cases.stage", "cases.party", "code", "cases.duty"),
                [[_lbl(r, "problem", e["problem_type"]), _lbl(r, "stage", e["stage"]),
                  e["party"], e["code"], e["text"]] for e in lst["entries"]])
    r.table(r.label("cases.failure_counts"), ("cases.party", "cases.year", "cases.failures"),
            [[p["party"], p["year"], p["failures"]] for p in failures["parties"]])
    r.table(r.label("cases.failures_title"),
            ("occurred_at", "cases.party", "community", "cases.problem_type", "cases.duty",
             "cases.ref", "actor", "detail"),
            [[short_time(f["occurred_at"]), f["party"], f["community"],
              _lbl(r, "problem", f["problem_type"]), f"{f['duty_code']} (v{f['list_version']})",
              f["case_ref"] or "", f["actor"], f["description"]] for f in failures["failures"]])


@cli.command("documents")
@click.argument("target", required=False, metavar="[CASE-REF|COMMUNITY]",
                shell_complete=case_or_community)
@json_option
def documents_cmd(target: str | None, as_json: bool) -> None:
    """List the template documents filed (on a case, a community, or all).

    \b
    Example:
      ledger documents ZQ-2025-000003
    """
    docs = case_documents(state().ledger(), target)
    r = renderer(as_json)
    if as_json:
        r.emit(docs)
        return
    r.table(r.label("cases.documents_title"),
            ("occurred_at", "cases.template", "cases.target", "actor", "data"),
            [[short_time(d["occurred_at"]), _lbl(r, "template", d["template"]), d["target"],
              f"{d['actor']} {d['post']}", payload_text(d["fields"], r.lang)]
             for d in docs])


# ---------------------------------------------------------------------------- warning
@cli.group()
def warning() -> None:
    """Three-level, three-colour warnings (三级三色预警) and their mandated measures."""


def _warning_cmd(type_: str, community: str, problem_type: str, reason: str,
                 evidence: tuple[str, ...], kw: dict[str, Any], as_json: bool,
                 **fields: Any) -> None:
    execute({"type": type_, "community": community, "problem_type": problem_type,
             "reason": reason, "evidence": list(evidence), **fields, **envelope(kw)}, as_json)


def _warning_options(f: Any) -> Any:
    for option in reversed([
        click.argument("community", shell_complete=communities),
        click.argument("problem_type", type=click.Choice(PROBLEM_TYPES)),
        click.option("--reason", default="", help="Why (required)."),
        click.option("--evidence", multiple=True, help="Evidence reference (required); repeat."),
    ]):
        f = option(f)
    return f


@warning.command("raise")
@_warning_options
@click.option("--level", type=click.Choice(["orange", "red", "black"]), required=True)
@envelope_options
@json_option
def warning_raise(community: str, problem_type: str, reason: str, evidence: tuple[str, ...],
                  level: str, as_json: bool, **kw: Any) -> None:
    """Raise a warning on COMMUNITY for PROBLEM_TYPE.

    \b
    Example:
      ledger warning raise ZQ-003 group_renting --level orange --reason 群租投诉集中 \\
          --evidence case:ZQ-2025-000010 --actor P-0004 --post town.peace_office.director@ZQ
    """
    _warning_cmd("warning.raise", community, problem_type, reason, evidence, kw, as_json,
                 level=level)


@warning.command("escalate")
@_warning_options
@click.option("--level", type=click.Choice(["red", "black"]), required=True)
@envelope_options
@json_option
def warning_escalate(community: str, problem_type: str, reason: str, evidence: tuple[str, ...],
                     level: str, as_json: bool, **kw: Any) -> None:
    """Escalate the warning on COMMUNITY for PROBLEM_TYPE to a more severe colour.

    \b
    Example:
      ledger warning escalate ZQ-003 group_renting --level red --reason 整改无进展 \\
          --evidence inspection:0501 --actor P-0008 --post town.supervision_team.leader@ZQ
    """
    _warning_cmd("warning.escalate", community, problem_type, reason, evidence, kw, as_json,
                 level=level)


@warning.command("deescalate")
@_warning_options
@click.option("--level", type=click.Choice(["orange", "red"]), required=True)
@envelope_options
@json_option
def warning_deescalate(community: str, problem_type: str, reason: str,
                       evidence: tuple[str, ...], level: str, as_json: bool,
                       **kw: Any) -> None:
    """De-escalate the warning on COMMUNITY for PROBLEM_TYPE to a milder colour.

    \b
    Example:
      ledger warning deescalate ZQ-003 group_renting --level orange --reason 明显改善 \\
          --evidence review:0701 --actor P-0004 --post town.peace_office.director@ZQ
    """
    _warning_cmd("warning.deescalate", community, problem_type, reason, evidence, kw, as_json,
                 level=level)


@warning.command("lift")
@_warning_options
@envelope_options
@json_option
def warning_lift(community: str, problem_type: str, reason: str, evidence: tuple[str, ...],
                 as_json: bool, **kw: Any) -> None:
    """Lift the warning on COMMUNITY for PROBLEM_TYPE.

    \b
    Example:
      ledger warning lift ZQ-003 group_renting --reason 连续两月无新增 \\
          --evidence review:0901 --actor P-0004 --post town.peace_office.director@ZQ
    """
    _warning_cmd("warning.lift", community, problem_type, reason, evidence, kw, as_json)


@warning.command("measure")
@click.argument("community", shell_complete=communities)
@click.argument("problem_type", type=click.Choice(PROBLEM_TYPES))
@click.argument("measure")
@click.option("--note", default="")
@click.option("--evidence", multiple=True, help="Evidence reference (required); repeat.")
@click.option("--person", help="Who was sent (on-site supervision, stationed team).")
@click.option("--outcome", type=click.Choice(["improved", "not_improved"]),
              help="Review of a black warning.")
@click.option("--third-party", help="Third-party force engaged for patrol control.")
@envelope_options
@json_option
def warning_measure(community: str, problem_type: str, measure: str, note: str,
                    evidence: tuple[str, ...], person: str | None, outcome: str | None,
                    third_party: str | None, as_json: bool, **kw: Any) -> None:
    """Record that MEASURE of the warning on COMMUNITY for PROBLEM_TYPE was taken.

    \b
    Example:
      ledger warning measure ZQ-005 illegal_construction improvement_review \\
          --outcome not_improved --third-party 上海安保巡查服务公司 --evidence review:0915 \\
          --actor P-0008 --post town.supervision_team.leader@ZQ
    """
    execute({"type": "warning.measure", "community": community, "problem_type": problem_type,
             "measure": measure, "note": note, "evidence": list(evidence), "person": person,
             "outcome": outcome, "third_party": third_party, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- duty, document
@cli.group()
def duty() -> None:
    """Responsibility lists (工作清单) and duty failures (履责不力)."""


@duty.command("issue")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--town", required=True)
@click.option("--effective-from", metavar="DATE")
@envelope_options
@json_option
def duty_issue(file: Path, town: str, effective_from: str | None, as_json: bool,
               **kw: Any) -> None:
    """Issue a new version of the town's responsibility list from FILE (a JSON array of
    {problem_type, stage, party, duties: [{code, text}]}).

    \b
    Example:
      ledger duty issue duties.json --town ZQ --actor P-0003 --post town.government.mayor@ZQ
    """
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise click.ClickException(_("cannot read {file}: {e}").format(file=file, e=e)) from None
    execute({"type": "duty.issue", "town": town, "entries": entries,
             "effective_from": effective_from, **envelope(kw)}, as_json)


@duty.command("record-failure")
@click.argument("party")
@click.option("--community", shell_complete=communities, required=True)
@click.option("--problem-type", type=click.Choice(PROBLEM_TYPES), required=True)
@click.option("--stage", type=click.Choice(STAGES), required=True)
@click.option("--duty", "duty_code", required=True, help="Duty code in the list in force.")
@click.option("--case", "case_ref", shell_complete=case_refs, help="The case where it showed.")
@click.option("--description", required=True)
@envelope_options
@json_option
def duty_fail(party: str, community: str, problem_type: str, stage: str, duty_code: str,
              case_ref: str | None, description: str, as_json: bool, **kw: Any) -> None:
    """Record that PARTY (department:<code> or residents_committee) failed a listed duty.

    \b
    Example:
      ledger duty record-failure residents_committee --community ZQ-003 --problem-type group_renting \\
          --stage source_control --duty rental_registration --description 未登记出租房屋 \\
          --actor P-0008 --post town.supervision_team.leader@ZQ
    """
    execute({"type": "duty.record_failure", "party": party, "community": community,
             "problem_type": problem_type, "stage": stage, "duty": duty_code,
             "case": case_ref, "description": description, **envelope(kw)}, as_json)


@cli.group()
def document() -> None:
    """The five template documents (五大制度模板) filed on a case or a community."""


@document.command("file")
@click.argument("template", type=click.Choice(sorted(TEMPLATES)))
@click.option("--case", "case_ref", shell_complete=case_refs, help="Case reference.")
@click.option("--community", shell_complete=communities, help="Community code.")
@click.option("--problem-type", type=click.Choice(PROBLEM_TYPES))
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE", required=True,
              help="A field of the template; repeat.")
@envelope_options
@json_option
def document_file(template: str, case_ref: str | None, community: str | None,
                  problem_type: str | None, fields: tuple[str, ...], as_json: bool,
                  **kw: Any) -> None:
    """File a TEMPLATE document (its required fields as NAME=VALUE).

    \b
    Example:
      ledger document file coordination_supervision --case ZQ-2025-000123 \\
          --field supervised_party=department:housing --field matter=超期未签收 \\
          --field requirement=三日内签收 --field deadline=2025-03-20 \\
          --actor P-0008 --post town.supervision_team.leader@ZQ
    """
    values: dict[str, Any] = {}
    for f in fields:
        name, sep, value = f.partition("=")
        if not sep:
            raise click.BadParameter(_("{f!r} is not NAME=VALUE").format(f=f), param_hint="--field")
        if name in values and isinstance(values[name], list):
            values[name].append(value)
        else:
            values[name] = value
    execute({"type": "document.file", "template": template, "case": case_ref,
             "community": community, "problem_type": problem_type, "fields": values,
             **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- demo
def demo_section(ledger: GovernanceLedger, r: Renderer) -> None:
    """Demo output: the warnings board and the overdue cases at the end of the sample year."""
    from ledger.kernel.config import localize

    end = localize(datetime(2025, 12, 31, 18, 0))
    warnings = warning_board(ledger, as_of=end)
    title = f"{r.label('cases.warnings_title')} — {r.label('as_of')}"
    r.table(f"{title} {short_time(warnings['as_of'])}",
            ("community", "cases.problem_type", "cases.level", "since", "cases.measures",
             "cases.missed"),
            [[w["community"], _lbl(r, "problem", w["problem_type"]),
              _lbl(r, "level", w["level"]), short_time(w["since"]),
              "\n".join(_measure_text(r, m) for m in w["measures"]), w["missed"] or ""]
             for w in warnings["warnings"]])
    overdue = case_board(ledger, overdue=True, as_of=end)
    r.table(f"{r.label('cases.overdue_title')} — {r.label('as_of')} {short_time(overdue['as_of'])}",
            _case_columns(overdue["cases"]), _case_rows(r, overdue["cases"]))


DEMO_SECTIONS.append(demo_section)

# Earlier names of the commands above, kept working (the names now follow the command types).
add_aliases(duty, {"fail": "record-failure"})
