"""Automatic supervision (``supervision.run``): ``case.supervision@1`` over a town's overdue
work, each escalation recorded on the case, warning or meeting it concerns, with the rule's
record (rule, parameters, inputs, digest, decision) for that item; escalations that reach 通报
are notified in a 通报反馈 (notification and feedback) document on each community's file.

:func:`gather` and :func:`decide` are shared with the read-only planner
(:mod:`ledger.supervision`), so a plan and a run see the same thing.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypeVar

from ledger.aggregates.base import LedgerAggregate
from ledger.aggregates.case import OPEN_STATES, Case
from ledger.aggregates.meeting import Meeting, parse_item_ref
from ledger.aggregates.problems import ProblemFile
from ledger.aggregates.warning import CommunityWarning
from ledger.commands.cases import NotificationFeedback
from ledger.commands.supervision import RunSupervision
from ledger.handlers import Context, handles
from ledger.handlers.cases import rule_parameters
from ledger.kernel.config import local_day
from ledger.kernel.errors import ImplausibleTimeError, LedgerError, RuleViolationError
from ledger.kernel.i18n import _
from ledger.rules import Evaluation, get_rule
from ledger.rules.supervision import LADDER_ZH, OverdueItem, SupervisionDecision, SupervisionInputs

SUPERVISION_RULE = "case.supervision@1"
#: The longest 通报 text filed in one document (the template's limit is 4000 characters).
MAX_NOTICE = 3800

A = TypeVar("A", bound=LedgerAggregate)


def _loaded(ctx: Context, cls: type[A], key: str) -> A:
    agg = ctx.find(cls, key)
    if agg is None:  # pragma: no cover - gathered from the same context just before
        raise LedgerError(_("internal: {name} {key} vanished during a supervision run").format(
                              name=cls.__name__, key=key))
    return agg


class NothingToEscalateError(RuleViolationError):
    """Raised when a supervision run finds nothing to escalate (nothing is written, so a second
    run over the same state writes nothing)."""

    code = "nothing_to_escalate"


def gather(find: Any, town: str, targets: list[dict[str, str]]) -> list[OverdueItem]:
    """The rule's inputs for *targets*: each still-open step with a due date, with the level
    already recorded for it. Targets in another town, closed or without a due date are left
    out."""
    items: dict[tuple[str, str, str], OverdueItem] = {}

    def add(**fields: Any) -> None:
        item = OverdueItem.model_validate(fields)
        items[(item.kind, item.key, item.step)] = item

    for t in targets:
        kind, key = t["kind"], t["key"]
        if kind == "case":
            case = find(Case, key)
            if case is None or case.town != town or case.status not in OPEN_STATES \
                    or case.due is None:
                continue
            step = case.current_step
            add(kind="case", key=key, step=step, community=case.community, due=case.due,
                current_level=case.escalation_level(step))
        elif kind == "measure":
            warning = find(CommunityWarning, key)
            if warning is None or warning.town != town:
                continue
            for m in warning.overdue_measures():
                step = CommunityWarning.measure_step(m)
                add(kind="measure", key=key, step=step, community=warning.community,
                    due=m["due"], current_level=warning.escalation_level(step))
        else:
            code = parse_item_ref(key)[0]
            meeting = find(Meeting, code)
            if meeting is None or meeting.town != town:
                continue
            open_items = dict(meeting.open_items())
            if key not in open_items:
                continue
            it = open_items[key]
            add(kind="resolution_item", key=key, step=key,
                community=it.get("community") or meeting.community, due=it["due"],
                current_level=meeting.escalation_level(key))
    return list(items.values())


def decide(find: Any, town: str, parameters: dict[str, Any], as_of: date,
           targets: list[dict[str, str]]) -> tuple[Any, SupervisionInputs, SupervisionDecision]:
    """(rule parameters, inputs, decision) of ``case.supervision@1`` for *targets* as of
    *as_of*, under the town's *parameters* (``case.supervision.<name>``)."""
    rule = get_rule(SUPERVISION_RULE)
    params = rule_parameters(rule, parameters)
    inputs = SupervisionInputs(town=town, as_of=as_of, items=gather(find, town, targets))
    decision: SupervisionDecision = rule.decide(inputs, params)
    return params, inputs, decision


def item_evaluation(inputs: SupervisionInputs, params: Any, kind: str, key: str,
                    step: str) -> Evaluation:
    """The rule's record for one item: its inputs are that item alone, so an auditor can
    recompute exactly the escalation it led to (``ledger.rules.reproduce``)."""
    item = next(i for i in inputs.items if (i.kind, i.key, i.step) == (kind, key, step))
    return get_rule(SUPERVISION_RULE).evaluate(
        SupervisionInputs(town=inputs.town, as_of=inputs.as_of, items=[item]), params)


def notice_text(escalations: list[dict[str, Any]]) -> str:
    """The 通报 content: one line per escalated item (shortened to fit the template)."""
    lines = []
    names = {"case": "案件", "measure": "预警措施", "resolution_item": "决议事项"}
    for e in escalations:
        lines.append(f"{names[e['kind']]} {e['key']} ({e['step']}): {e['reason']['zh']}")
    text = "\n".join(lines)
    if len(text) > MAX_NOTICE:
        text = text[:MAX_NOTICE].rsplit("\n", 1)[0] + f"\n……共{len(lines)}项"
    return text


@handles(RunSupervision)
def run_supervision(ctx: Context, cmd: RunSupervision) -> dict[str, Any]:
    """Escalate overdue work of the town as of ``as_of``; refuse (writing nothing) when there
    is nothing to escalate."""
    town = ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    if cmd.as_of > local_day(ctx.at):
        raise ImplausibleTimeError(
            _("supervision.run: field 'as_of': {as_of} is after the run's own date {local_day}; work is "
              "escalated as of a day that has come").format(
                as_of=cmd.as_of, local_day=local_day(ctx.at)))
    targets = [t.model_dump() for t in cmd.targets]
    params, inputs, decision = decide(ctx.find, cmd.town, town.parameters, cmd.as_of, targets)
    if not decision.escalations:
        raise NothingToEscalateError(
            _("supervision of {town} as of {as_of}: nothing to escalate ({count} open item(s) looked at, "
              "none above the level already recorded); nothing written").format(
                town=cmd.town, as_of=cmd.as_of, count=len(inputs.items)))
    notices: dict[str, list[dict[str, Any]]] = {}
    done = []
    for esc in decision.escalations:
        e = esc.model_dump(mode="json")
        record = item_evaluation(inputs, params, esc.kind, esc.key, esc.step).model_dump(
            mode="json")
        # The event that set the due date: who entered the rule's input, for an auditor.
        if esc.kind == "case":
            case = _loaded(ctx, Case, esc.key)
            case.escalate(e, record, [case.step_event], ctx.envelope)
            ctx.add(case)
        elif esc.kind == "measure":
            warning = _loaded(ctx, CommunityWarning, esc.key)
            owed = next(m for m in warning.overdue_measures()
                        if CommunityWarning.measure_step(m) == esc.step)
            warning.escalate_measure(e, record, [warning.due_event(owed)], ctx.envelope)
            ctx.add(warning)
        else:
            meeting = _loaded(ctx, Meeting, parse_item_ref(esc.key)[0])
            meeting.escalate_item(e, record, [meeting.adoption_event(esc.key)], ctx.envelope)
            ctx.add(meeting)
        if esc.level == "notify" and esc.community:
            notices.setdefault(esc.community, []).append(e)
        done.append({"kind": esc.kind, "key": esc.key, "step": esc.step, "level": esc.level,
                     "days_overdue": esc.days_overdue})
    for community, escs in sorted(notices.items()):
        problems = ctx.find(ProblemFile, community)
        if problems is None:
            problems = ProblemFile(code=community, town=cmd.town, envelope=ctx.envelope)
        fields = NotificationFeedback(
            audience=f"{community} 各责任单位 (responsible parties of {community})",
            content=(f"{LADDER_ZH['notify']}({SUPERVISION_RULE},{cmd.as_of}):\n"
                     + notice_text(escs)),
            feedback="").model_dump(mode="json")
        problems.file_document("notification_feedback", None, fields, ctx.envelope)
        ctx.add(problems)
    return {"town": cmd.town, "as_of": cmd.as_of.isoformat(), "rule": SUPERVISION_RULE,
            "escalations": done, "notified_communities": sorted(notices)}
