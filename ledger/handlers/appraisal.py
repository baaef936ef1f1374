"""Handlers of the year-end appraisal.

Closing a year runs ``firm.appraisal@1`` once under the town's parameters (town parameters named
``firm.<rule parameter>``, e.g. ``firm.elimination.score_below``) on this year's grades and the
firms' bottom-three outcomes in earlier appraisal years of the same town, and records:

- on the year: ``Closed`` (rule, parameters, inputs, digest, decision, the log positions of the
  score and satisfaction events that entered it) and, on a rerun, ``OutcomeChanged`` per firm
  whose outcome changed (actions added and withdrawn);
- on each firm: ``AppraisalOutcomeRecorded`` (with who entered each input), for the bottom three
  ``InterviewRequired`` and ``WrittenWarningIssued``, for the elimination list
  ``PutOnEliminationList`` with the credit record, ban and district report (owners' domain), and
  on the year a ``FollowUpAssigned`` task for the committees it serves with the legal counsel.

A rerun that no longer eliminates a firm withdraws the entry (``EliminationWithdrawn``), lifts
the ban that entry imposed (``BanLifted``), reports the correction to the district and cancels
the follow-up task; withdrawn interviews and warnings are recorded as ``AppraisalActionWithdrawn``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, select

from ledger.aggregates.appraisal_year import (
    AppraisalYear,
    AppraisalYearExistsError,
    AppraisalYearNotFoundError,
    AppraisalYearStateError,
    IndicatorError,
    ObjectionError,
)
from ledger.aggregates.base import check_not_before
from ledger.aggregates.town import Town
from ledger.commands.appraisal import (
    AnswerObjection,
    CloseYear,
    CommendThreeHeads,
    DefineIndicator,
    EvaluateOwnersCommittee,
    EvaluateSocialOrganisation,
    FileObjection,
    FinaliseYear,
    OpenYear,
    RecordFirmScore,
    RecordIndicatorValue,
    RecordResidentAppraisal,
    RecordRewardOrPenalty,
    RecordSatisfaction,
    ReopenYear,
    RerunYear,
)
from ledger.handlers import Context, handles
from ledger.handlers.owners import firm_of, oc_of, record_elimination
from ledger.kernel.errors import CommandValidationError, PostNotHeldError, RuleViolationError
from ledger.kernel.i18n import _
from ledger.kernel.posts import parse_post
from ledger.rules import RuleError, parse_overrides
from ledger.rules.firm import FIRM_APPRAISAL, AppraisalInputs, FirmAppraisalParameters

#: Town parameters named ``firm.<name>`` set ``firm.appraisal@1``'s parameter ``<name>``.
FIRM_PARAMETER_PREFIX = "firm."
#: Town parameter: days after closing in which a firm may object (default 10).
OBJECTION_DAYS = "appraisal.objection_days"
DEFAULT_OBJECTION_DAYS = 10
#: Town parameter: days the committees have to act on an elimination (default 30).
FOLLOW_UP_DAYS = "appraisal.follow_up_days"
DEFAULT_FOLLOW_UP_DAYS = 30
#: How many earlier years are read for a bottom-three run.
MAX_HISTORY_YEARS = 20
THREE_HEADS = ("party_group_leader", "resident_group_leader", "building_leader")


class AppraisalParameterError(RuleViolationError):
    """Raised when a town parameter or a what-if override does not fit ``firm.appraisal@1``
    (unknown name or bad value)."""

    code = "appraisal_parameter"


# ---------------------------------------------------------------------------- shared helpers
def firm_parameters(town_parameters: dict[str, Any],
                    overrides: list[str] | None = None) -> FirmAppraisalParameters:
    """``firm.appraisal@1``'s parameters: defaults, then the town's ``firm.*`` parameters,
    then *overrides* (``NAME=VALUE``, names with or without the ``firm.`` prefix)."""
    town_set = [
        f"{name.removeprefix(FIRM_PARAMETER_PREFIX)}="
        f"{value if isinstance(value, str) else json.dumps(value)}"
        for name, value in sorted(town_parameters.items())
        if name.startswith(FIRM_PARAMETER_PREFIX)
    ]
    try:
        params = parse_overrides(FIRM_APPRAISAL, town_set)
    except RuleError as e:
        raise AppraisalParameterError(_("town parameter for {key}: {e}").format(
                                          key=FIRM_APPRAISAL.key, e=e)) from None
    if overrides:
        given = [o.strip().removeprefix(FIRM_PARAMETER_PREFIX) for o in overrides]
        try:
            params = parse_overrides(FIRM_APPRAISAL, given, base=params)
        except RuleError as e:
            raise AppraisalParameterError(str(e)) from None
    return params


def int_parameter(town_parameters: dict[str, Any], name: str, default: int) -> int:
    """An integer town parameter (e.g. ``appraisal.objection_days``) or its default."""
    value = town_parameters.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise AppraisalParameterError(_("town parameter {name}={value!r} is not a whole "
                                        "number of days").format(
                                          name=name, value=value)) from None


def past_outcome(year: AppraisalYear | None, firm: str) -> str | None:
    """A firm's bottom-three outcome in an earlier year (``None`` when that year was never
    closed: it is then not listed, which breaks a run)."""
    if year is None or year.runs == 0 or year.evaluation is None:
        return None
    outcome = year.outcomes.get(firm)
    if outcome is None:
        return "not_graded"
    if outcome["bottom_three"]:
        return "bottom_three"
    applies = year.evaluation["decision"]["bottom_three"]["applies"]
    return "not_bottom_three" if applies else "not_applicable"


def build_inputs(year: AppraisalYear,
                 load: Callable[[str], AppraisalYear | None]) -> AppraisalInputs:
    """The rule's inputs: this year's grades and each graded firm's earlier outcomes, read from
    the earlier appraisal years of the same town (back to the first year never closed)."""
    grades = year.grades()
    firms = [g["firm_id"] for g in grades]
    history: dict[str, list[dict[str, Any]]] = {f: [] for f in firms}
    for back in range(1, MAX_HISTORY_YEARS + 1):
        earlier = load(AppraisalYear.key_for(year.town, year.year - back))
        if earlier is None or earlier.runs == 0:
            break
        for firm in firms:
            outcome = past_outcome(earlier, firm)
            if outcome is not None:
                history[firm].append({"year": earlier.year, "outcome": outcome})
    return AppraisalInputs.model_validate({
        "year": year.year, "grades": grades,
        "history": [{"firm_id": f, "years": ys} for f, ys in history.items() if ys],
    })


def _positions(ctx: Context, year: AppraisalYear, versions: list[int]) -> dict[int, int]:
    """Log positions of this year's events with the given versions (already stored)."""
    table = ctx.ledger.events_table
    q = select(table.c.originator_version, table.c.id).where(and_(
        table.c.originator_id == year.id, table.c.originator_version.in_(versions)))
    if ctx.txn is not None:
        rows = ctx.txn.connection.execute(q).all()
    else:
        with ctx.ledger.engine.connect() as conn:
            rows = conn.execute(q).all()
    return {int(v): int(p) for v, p in rows}


def entered_by(ctx: Context, year: AppraisalYear) -> dict[str, list[dict[str, Any]]]:
    """Per graded firm: who entered its score and its satisfaction, with the log positions."""
    versions = [year.scores[f]["version"] for f in year.scores] + \
        [year.satisfaction[f]["version"] for f in year.satisfaction]
    where = _positions(ctx, year, versions)
    out: dict[str, list[dict[str, Any]]] = {}
    for firm in sorted(year.scores):
        s, p = year.scores[firm], year.satisfaction.get(firm)
        rows = [{"input": "score", "position": where.get(s["version"]), "value": s["score"],
                 "appraising_body": s["body"], "actor": s["actor"], "post": s.get("post"),
                 "occurred_at": s.get("occurred_at")}]
        if p is not None:
            rows.append({"input": "satisfaction", "position": where.get(p["version"]),
                         "value": p["percent"], "sample_size": p["sample_size"],
                         "survey": p["survey"], "actor": p["actor"], "post": p.get("post"),
                         "occurred_at": p.get("occurred_at")})
        out[firm] = rows
    return out


def year_of(ctx: Context, key: str) -> AppraisalYear:
    """The appraisal year *key* (``<town>/<year>``); a command dated before the year was
    opened is refused (:class:`ImplausibleTimeError`, naming both dates)."""
    year = ctx.get(AppraisalYear, key, AppraisalYearNotFoundError, "appraisal year")
    ctx.check_once_authorized(lambda: check_not_before(
        ctx.at, getattr(year, "opened_at", None), f"appraisal year {key} was opened"))
    return year


def _two_places(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01'), ROUND_HALF_UP):f}"


# ---------------------------------------------------------------------------- opening, inputs
@handles(OpenYear)
def open_year(ctx: Context, cmd: OpenYear) -> dict[str, Any]:
    """Open the appraisal year."""
    ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    if ctx.find(AppraisalYear, cmd.key) is not None:
        raise AppraisalYearExistsError(_("appraisal year {key} is already open or closed").format(
                                           key=cmd.key))
    year = AppraisalYear(code=cmd.key, town=cmd.town, year=cmd.year, envelope=ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code}


def _firm_in_town(ctx: Context, code: str, year: AppraisalYear) -> Any:
    firm = firm_of(ctx, code)
    firm.check_registered_by(ctx.at)
    if firm.town != year.town:
        raise RuleViolationError(_("firm {code} is registered in town {town}, not {town2}; it is appraised "
                                   "there").format(code=code, town=firm.town, town2=year.town))
    return firm


@handles(RecordFirmScore)
def record_score(ctx: Context, cmd: RecordFirmScore) -> dict[str, Any]:
    """Record a firm's annual score."""
    year = year_of(ctx, cmd.key)
    ctx.authorize(town=year.town)
    _firm_in_town(ctx, cmd.firm, year)
    year.record_score(cmd.firm, f"{cmd.score:f}", cmd.appraising_body, cmd.note, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "firm": cmd.firm, "score": f"{cmd.score:f}"}


@handles(RecordSatisfaction)
def record_satisfaction(ctx: Context, cmd: RecordSatisfaction) -> dict[str, Any]:
    """Record a firm's owners' satisfaction."""
    year = year_of(ctx, cmd.key)
    ctx.authorize(town=year.town)
    _firm_in_town(ctx, cmd.firm, year)
    year.record_satisfaction(cmd.firm, f"{cmd.percent:f}", cmd.sample_size, cmd.survey,
                             ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "firm": cmd.firm, "percent": f"{cmd.percent:f}"}


# ---------------------------------------------------------------------------- closing
def _follow_up(ctx: Context, year: AppraisalYear, town: Town, firm: Any,
               follow_up_days: int) -> str | None:
    served = [{"community": c["community"], "contract": c["contract"], "oc": c["oc"]}
              for c in sorted(firm.contracts_at(ctx.at), key=lambda c: c["contract"])]
    if not served:
        return None
    counsel = [t["person"] for t in town.roster.holders(f"town.legal_counsel@{town.code}",
                                                          ctx.at)]
    due = (ctx.at + timedelta(days=follow_up_days)).date().isoformat()
    return year.assign_follow_up(firm.code, served, counsel, due, ctx.envelope)


def _eliminate(ctx: Context, year: AppraisalYear, town: Town, outcome: dict[str, Any],
               evaluation: dict[str, Any], record: dict[str, Any],
               follow_up_days: int) -> dict[str, Any]:
    code = outcome["firm_id"]
    history = next((h for h in evaluation["inputs"]["history"] if h["firm_id"] == code), None)
    grade = next(g for g in evaluation["inputs"]["grades"] if g["firm_id"] == code)
    inputs = {"appraisal": year.code, "run": year.runs,
              "inputs_digest": evaluation["inputs_digest"], "grade": grade,
              "history": history["years"] if history else [],
              "input_events": record["input_events"]}
    reason = "；".join(r["zh"] for r in outcome["reasons"]
                      if r["code"] != "bottom_three")
    firm = record_elimination(ctx, code, year.year, evaluation["rule"],
                              evaluation["parameters"], inputs, reason)
    task = _follow_up(ctx, year, town, firm, follow_up_days)
    return {"firm": code, "ban": firm.bans[-1]["ban"], "follow_up": task}


def _outcome_record(year: AppraisalYear, rule: dict[str, Any], outcome: dict[str, Any] | None,
                    firm: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    base = {"year": year.year, "appraisal": year.code, "run": year.runs, "rule": rule,
            "input_events": [i["position"] for i in inputs if i["position"] is not None],
            "entered_by": inputs}
    if outcome is None:
        return {**base, "firm_id": firm, "graded": False}
    return {**base, **outcome, "graded": True}


def later_years(ctx: Context, year: AppraisalYear) -> list[AppraisalYear]:
    """The town's later appraisal years that were closed at least once, in order (up to the
    first later year never opened)."""
    out = []
    for ahead in range(1, MAX_HISTORY_YEARS + 1):
        later = ctx.find(AppraisalYear, AppraisalYear.key_for(year.town, year.year + ahead))
        if later is None:
            break
        if later.runs:
            out.append(later)
    return out


def run_rules(ctx: Context, year: AppraisalYear, town: Town) -> dict[str, Any]:
    """Close *year*: run ``firm.appraisal@1`` once on it and record the outcomes (and, on a
    rerun, what changed). The caller has authorized the command."""
    year.check_complete()
    params = firm_parameters(town.parameters)
    objection_days = int_parameter(town.parameters, OBJECTION_DAYS, DEFAULT_OBJECTION_DAYS)
    follow_up_days = int_parameter(town.parameters, FOLLOW_UP_DAYS, DEFAULT_FOLLOW_UP_DAYS)
    inputs = build_inputs(year, lambda key: ctx.find(AppraisalYear, key))
    evaluation = FIRM_APPRAISAL.evaluate(inputs, params).model_dump(mode="json")
    who = entered_by(ctx, year)
    input_events = sorted(i["position"] for rows in who.values() for i in rows
                          if i["position"] is not None)
    rule = {"id": FIRM_APPRAISAL.rule_id, "version": FIRM_APPRAISAL.version,
            "key": FIRM_APPRAISAL.key, "parameters": evaluation["parameters"],
            "inputs_digest": evaluation["inputs_digest"]}
    changes = year.close(evaluation, rule, input_events, objection_days, ctx.envelope)
    ctx.add(year)
    eliminated, warned, withdrawn = [], [], []
    targets: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]
    if year.runs == 1:
        targets = [(o["firm_id"], None, o) for o in
                   evaluation["decision"]["elimination"]["firms"]]
    else:
        targets = [(c["firm"], c, c["after"]) for c in changes]
    for code, change, outcome in targets:
        firm = firm_of(ctx, code)
        record = _outcome_record(year, rule, outcome, code, who.get(code, []))
        firm.record_appraisal_outcome(record, ctx.envelope)
        ctx.add(firm)
        added = set(outcome["actions"]) if change is None and outcome else \
            set(change["added"] if change else [])
        gone: set[str] = set(change["withdrawn"]) if change else set()
        bottom_reason = next((r["zh"] for r in (outcome or {}).get("reasons", [])
                              if r["code"] == "bottom_three"), "")
        if "interview" in added:
            firm.require_interview(year.year, year.code, bottom_reason, ctx.envelope)
        if "written_warning" in added:
            firm.warn_in_writing(year.year, year.code, bottom_reason, ctx.envelope)
            warned.append(code)
        if "elimination_list" in added and outcome is not None:
            eliminated.append(_eliminate(ctx, year, town, outcome, evaluation, record,
                                         follow_up_days))
        why = f"{year.code} rerun {year.runs} after reopening"
        for action in sorted(gone - {"elimination_list"}):
            firm.withdraw_appraisal_action(year.year, year.code, action, why, ctx.envelope)
        if "elimination_list" in gone:
            lifted = firm.withdraw_elimination(year.year, why, ctx.at, ctx.envelope)
            tasks = year.cancel_follow_ups(code, why, ctx.envelope)
            withdrawn.append({"firm": code, "bans_lifted": lifted, "follow_ups": tasks})
    return {"appraisal": year.code, "run": year.runs, "graded": len(year.outcomes),
            "bottom_three": list(evaluation["decision"]["bottom_three"]["firm_ids"]),
            "eliminated": eliminated, "warned": warned,
            "changed": [c["firm"] for c in changes], "withdrawn": withdrawn,
            "changes": [{"firm": c["firm"], "added": c["added"], "withdrawn": c["withdrawn"]}
                        for c in changes]}


def _mark_later_stale(ctx: Context, year: AppraisalYear) -> list[str]:
    """After a rerun of *year*, mark every later closed year stale."""
    marked = []
    for later in later_years(ctx, year):
        later.mark_stale(year.code, year.runs, ctx.envelope)
        ctx.add(later)
        marked.append(later.code)
    return marked


@handles(CloseYear)
def close_year(ctx: Context, cmd: CloseYear) -> dict[str, Any]:
    """Close the year: run the rules once and record the outcomes. Closing again after a
    reopening (a rerun) marks every later closed year stale."""
    year = year_of(ctx, cmd.key)
    town = ctx.town(year.town)
    ctx.authorize(town=year.town)
    detail = run_rules(ctx, year, town)
    detail.pop("changes")
    if year.runs > 1:
        detail["stale"] = _mark_later_stale(ctx, year)
    return detail


@handles(RerunYear)
def rerun(ctx: Context, cmd: RerunYear) -> dict[str, Any]:
    """Reopen (if closed) and close the year again; with ``cascade``, rerun every later
    closed year in order under the new history, recording what changed in each
    (``CascadeRerun``); without it, mark them stale."""
    year = year_of(ctx, cmd.key)
    town = ctx.town(year.town)
    ctx.authorize(town=year.town)
    if year.runs == 0:
        raise AppraisalYearStateError(
            _("appraisal year {code} was never closed; close it first (appraisal close)").format(
                code=year.code))
    if year.status != "open":
        year.reopen(cmd.reason, ctx.envelope)
    detail = run_rules(ctx, year, town)
    if not cmd.cascade:
        detail["stale"] = _mark_later_stale(ctx, year)
        return detail
    cascade = []
    for later in later_years(ctx, year):
        later.reopen(f"cascade after {year.code} run {year.runs}: {cmd.reason}", ctx.envelope)
        done = run_rules(ctx, later, town)
        later.record_cascade(year.code, year.runs, done["changes"], ctx.envelope)
        ctx.add(later)
        cascade.append({"appraisal": later.code, "run": later.runs,
                        "changes": done["changes"], "eliminated": done["eliminated"],
                        "withdrawn": done["withdrawn"]})
    detail["cascade"] = cascade
    return detail





@handles(ReopenYear)
def reopen(ctx: Context, cmd: ReopenYear) -> dict[str, Any]:
    """Reopen a closed year with a reason."""
    year = year_of(ctx, cmd.key)
    ctx.authorize(town=year.town)
    year.reopen(cmd.reason, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "reason": cmd.reason}


@handles(FileObjection)
def file_objection(ctx: Context, cmd: FileObjection) -> dict[str, Any]:
    """A firm files an objection."""
    year = year_of(ctx, cmd.key)
    firm = firm_of(ctx, cmd.firm)
    ctx.authorize(town=year.town, community=cmd.community)
    if cmd.post and cmd.post.startswith("property_firm.manager@"):
        scope = parse_post(cmd.post).scope
        if cmd.community != scope:
            raise CommandValidationError(
                _("appraisal.file_objection: field 'community': a project manager files for the community "
                  "of their post ({scope})").format(scope=scope))
        if not any(c["community"] == scope for c in firm.contracts_at(ctx.at)):
            raise ObjectionError(_("firm {code} does not serve {scope} at {at}; its manager there cannot "
                                   "object for it").format(
                                     code=firm.code, scope=scope, at=ctx.at.isoformat()))
    ref = year.file_objection(firm.code, cmd.text, ctx.at, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "objection": ref, "firm": firm.code}


@handles(AnswerObjection)
def answer_objection(ctx: Context, cmd: AnswerObjection) -> dict[str, Any]:
    """Answer an objection."""
    year = year_of(ctx, cmd.key)
    ctx.authorize(town=year.town)
    year.answer_objection(cmd.objection, cmd.decision, cmd.answer, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "objection": cmd.objection, "decision": cmd.decision}


@handles(FinaliseYear)
def finalise(ctx: Context, cmd: FinaliseYear) -> dict[str, Any]:
    """Finalise the year."""
    year = year_of(ctx, cmd.key)
    ctx.authorize(town=year.town)
    year.finalise(ctx.at, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "status": year.status}


# ---------------------------------------------------------------------------- evaluations
@handles(EvaluateOwnersCommittee)
def evaluate_oc(ctx: Context, cmd: EvaluateOwnersCommittee) -> dict[str, Any]:
    """Evaluate an owners' committee on the DOMAIN §3 criteria."""
    year = year_of(ctx, cmd.key)
    oc = oc_of(ctx, cmd.oc)
    ctx.authorize(town=year.town, community=oc.community)
    if oc.town != year.town:
        raise RuleViolationError(_("owners' committee {code} is in town {town}, not {town2}").format(
                                     code=oc.code, town=oc.town, town2=year.town))
    scores = cmd.criteria.model_dump()
    overall = _two_places(sum(scores.values(), Decimal(0)) / len(scores))
    year.evaluate_oc(oc.code, oc.community, {k: f"{v:f}" for k, v in scores.items()}, overall,
                     cmd.comment, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "oc": oc.code, "overall": overall}


@handles(RecordResidentAppraisal)
def resident_appraisal(ctx: Context, cmd: RecordResidentAppraisal) -> dict[str, Any]:
    """Record the resident representatives' appraisal of a party; each appraiser must hold
    resident_representative@<community> at the time."""
    year = year_of(ctx, cmd.key)
    community = ctx.community(cmd.community)
    if community.town != year.town:
        raise RuleViolationError(_("community {code} is not in town {town}").format(
                                     code=community.code, town=year.town))
    ctx.authorize(town=year.town, community=community.code)
    post = f"resident_representative@{community.code}"
    ratings = []
    for r in cmd.ratings:
        term = community.roster.term_of(r.appraiser, post, ctx.at)
        if term is None:
            raise PostNotHeldError(
                _("appraiser {appraiser} did not hold {post} at {at}; only the community's resident "
                  "representatives appraise its parties").format(
                    appraiser=r.appraiser, post=post, at=ctx.at.isoformat()))
        ratings.append({"appraiser": r.appraiser, "appraiser_name": term["person_name"],
                        "rating": r.rating})
    year.record_resident_appraisal(community.code, cmd.party, ratings, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "community": community.code, "party": cmd.party,
            "ratings": len(ratings)}


@handles(CommendThreeHeads)
def commend(ctx: Context, cmd: CommendThreeHeads) -> dict[str, Any]:
    """Commend one of the three heads."""
    year = year_of(ctx, cmd.key)
    community = ctx.community(cmd.community)
    ctx.authorize(town=year.town, community=community.code)
    head = parse_post(cmd.head_post)
    if head.path not in THREE_HEADS or head.scope != community.code:
        raise CommandValidationError(
            _("appraisal.commend: field 'head_post': {name} is not a three-heads post of {code} "
              "(party_group_leader, resident_group_leader, building_leader)").format(
                name=head.name, code=community.code))
    term = community.roster.term_of(cmd.person, head.name, ctx.at)
    if term is None:
        raise PostNotHeldError(_("{person} did not hold {name} at {at}; commend the person "
                                 "who held it").format(
                                   person=cmd.person, name=head.name, at=ctx.at.isoformat()))
    year.commend(community.code, cmd.person, term["person_name"], head.name, cmd.title,
                 cmd.reason, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "person": cmd.person, "title": cmd.title}


@handles(EvaluateSocialOrganisation)
def evaluate_social_org(ctx: Context, cmd: EvaluateSocialOrganisation) -> dict[str, Any]:
    """Evaluate a social organisation."""
    year = year_of(ctx, cmd.key)
    community = ctx.community(cmd.community)
    ctx.authorize(town=year.town, community=community.code)
    funding = None if cmd.funding is None else _two_places(cmd.funding)
    year.evaluate_social_organisation(community.code, cmd.organisation, cmd.rating, funding,
                                      cmd.honour, cmd.comment, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "organisation": cmd.organisation, "rating": cmd.rating}


@handles(RecordRewardOrPenalty)
def reward_penalty(ctx: Context, cmd: RecordRewardOrPenalty) -> dict[str, Any]:
    """Record a reward or a penalty."""
    year = year_of(ctx, cmd.key)
    if cmd.community:
        ctx.community(cmd.community)
    ctx.authorize(town=year.town, community=cmd.community)
    year.record_reward_or_penalty(cmd.party, cmd.community, cmd.kind, cmd.measure, cmd.reason,
                                  ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "party": cmd.party, "kind": cmd.kind}


# ---------------------------------------------------------------------------- indicators
@handles(DefineIndicator)
def define_indicator(ctx: Context, cmd: DefineIndicator) -> dict[str, Any]:
    """Define one of the town's indicators for the year."""
    from ledger.indicators import INDICATOR_CALCULATORS

    year = year_of(ctx, cmd.key)
    ctx.authorize(town=year.town)
    if cmd.source == "ledger" and cmd.measure not in INDICATOR_CALCULATORS:
        known = ", ".join(sorted(INDICATOR_CALCULATORS))
        raise IndicatorError(_("indicator {code!r}: the ledger has no calculator {measure!r}; known: "
                               "{known} (or define it as entered)").format(
                                 code=cmd.code, measure=cmd.measure, known=known))
    if cmd.source == "entered" and cmd.measure is not None:
        raise IndicatorError(_("indicator {code!r} is entered; it takes no measure").format(
                                 code=cmd.code))
    spec = {"code": cmd.code, "name_zh": cmd.name_zh, "name_en": cmd.name_en, "unit": cmd.unit,
            "weight": _two_places(cmd.weight), "source": cmd.source, "measure": cmd.measure,
            "order": len(year.indicators) + 1}
    year.define_indicator(spec, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "indicator": cmd.code}


@handles(RecordIndicatorValue)
def record_indicator(ctx: Context, cmd: RecordIndicatorValue) -> dict[str, Any]:
    """Record an entered indicator's value for a community."""
    year = year_of(ctx, cmd.key)
    community = ctx.community(cmd.community)
    ctx.authorize(town=year.town, community=community.code)
    value = f"{cmd.value.normalize():f}"
    year.record_indicator_value(cmd.code, community.code, value, cmd.note, ctx.envelope)
    ctx.add(year)
    return {"appraisal": year.code, "indicator": cmd.code, "community": community.code,
            "value": value}


# ---------------------------------------------------------------------------- what-if
def simulate(ledger: Any, key: str, overrides: list[str]) -> dict[str, Any]:
    """Recompute appraisal year *key* under other parameters and compare; writes nothing.

    The baseline is the last recorded run (its parameters and outcomes) when the year has been
    closed, else a run under the town's parameters. The simulation applies *overrides*
    (``elimination.score_below=65`` or ``firm.elimination.score_below=65``) on the baseline's
    parameters, to the grades as they stand now.
    """
    from ledger.aggregates.property_firm import PropertyFirm

    def load(k: str) -> AppraisalYear | None:
        agg = ledger.load(AppraisalYear.id_for(k))
        return agg if isinstance(agg, AppraisalYear) else None

    year = load(key)
    if year is None:
        raise AppraisalYearNotFoundError(_("appraisal year {key!r} does not exist").format(key=key))
    town = ledger.load(Town.id_for(year.town))
    if year.evaluation is not None:
        base = FirmAppraisalParameters.model_validate(year.evaluation["parameters"])
        recorded: dict[str, Any] = year.outcomes
    else:
        base = firm_parameters(town.parameters if town is not None else {})
        recorded = {}
    try:
        params = parse_overrides(
            FIRM_APPRAISAL, [o.strip().removeprefix(FIRM_PARAMETER_PREFIX) for o in overrides],
            base=base)
    except RuleError as e:
        raise AppraisalParameterError(str(e)) from None
    inputs = build_inputs(year, load)
    if not recorded:
        recorded = {f.firm_id: f.model_dump(mode="json")
                    for f in FIRM_APPRAISAL.decide(inputs, base).elimination.firms}
    decision = FIRM_APPRAISAL.decide(inputs, params)
    simulated = {f.firm_id: f.model_dump(mode="json") for f in decision.elimination.firms}
    firms = []
    for code in [f.firm_id for f in decision.elimination.firms] + \
            sorted(set(recorded) - set(simulated)):
        before, after = recorded.get(code), simulated.get(code)
        agg = ledger.load(PropertyFirm.id_for(code))
        b_actions = set(before["actions"]) if before else set()
        a_actions = set(after["actions"]) if after else set()
        firms.append({
            "firm": code, "firm_name": getattr(agg, "name", ""),
            "recorded": before, "simulated": after,
            "changed": before is None or after is None
            or {k: before[k] for k in ("rank", "bottom_three", "eliminated", "actions")}
            != {k: after[k] for k in ("rank", "bottom_three", "eliminated", "actions")},
            "added": sorted(a_actions - b_actions), "withdrawn": sorted(b_actions - a_actions),
        })
    return {"appraisal": key, "baseline": "recorded run" if year.evaluation else "town parameters",
            "run": year.runs, "parameters": base.model_dump(mode="json"),
            "simulated_parameters": params.model_dump(mode="json"), "overrides": list(overrides),
            "eliminated": list(decision.elimination.eliminated),
            "bottom_three": list(decision.bottom_three.firm_ids), "firms": firms,
            "changes": [f for f in firms if f["changed"]]}
