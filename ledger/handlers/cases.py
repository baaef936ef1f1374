"""Handlers for problem cases, responsibility lists, warnings and template documents."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ledger.aggregates.base import check_not_before
from ledger.aggregates.case import (
    OPEN_STATES,
    Case,
    CaseNotFoundError,
    CaseRuleError,
    CaseTransitionError,
)
from ledger.aggregates.duties import DutyNotListedError, ResponsibilityList
from ledger.aggregates.problems import ProblemFile
from ledger.aggregates.warning import (
    CommunityWarning,
    MeasureNotFoundError,
    warning_key,
)
from ledger.commands.cases import (
    AcceptCase,
    AcknowledgeCase,
    AssessCase,
    CallbackCase,
    CloseCase,
    DeescalateWarning,
    DispatchCase,
    EscalateWarning,
    FeedbackCase,
    FileDocument,
    FulfilMeasure,
    InspectCase,
    IssueDuties,
    LiftWarning,
    MergeCase,
    PlanCase,
    RaiseWarning,
    ReceiveCase,
    RecordDutyFailure,
    RectifyCase,
    RejectCase,
    ReopenCase,
    ReturnCase,
    SuperviseCase,
    VerifyCase,
    WarningCommand,
    town_of_case,
)
from ledger.handlers import Context, handles
from ledger.kernel.config import local_day
from ledger.kernel.errors import AlreadyExistsError, LedgerError, RuleViolationError
from ledger.kernel.i18n import _
from ledger.kernel.posts import town_of_community
from ledger.rules import Evaluation, Rule, RuleError, get_rule, parse_overrides
from ledger.rules.warning import CaseCounts, MeasuresInputs

SUGGEST_RULE = "warning.suggest@1"
MEASURES_RULE = "warning.measures@1"


def _case(ctx: Context, ref: str) -> Case:
    return ctx.get(Case, ref, CaseNotFoundError, "case")


def _open_step(ctx: Context, ref: str) -> tuple[Case, dict[str, Any]]:
    """Load the case, authorize in its town and community, and return the town parameters."""
    case = _case(ctx, ref)
    ctx.authorize(town=case.town, community=case.community)
    check_not_before(ctx.at, case.status_since,
                     f"case {case.code} entered its current step ({case.status})",
                     "a case's steps follow one another in time")
    return case, ctx.town(case.town).parameters


def names_allowed_steps(handler: Callable[[Context, Any], dict[str, Any]],
                        ) -> Callable[[Context, Any], dict[str, Any]]:
    """Make every refusal of a case step name the steps allowed from the case's current state
    (a lifecycle refusal already does; this adds them to the others: wrong department, a
    handler verifying, a missing reason, an implausible date…)."""

    @functools.wraps(handler)
    def wrapped(ctx: Context, cmd: Any) -> dict[str, Any]:
        try:
            return handler(ctx, cmd)
        except CaseTransitionError:
            raise
        except LedgerError as e:
            case = ctx.find(Case, cmd.ref)
            if case is None or "allowed now:" in str(e) or type(e).__init__ is not \
                    LedgerError.__init__:
                raise
            params = ctx.town(case.town).parameters
            allowed = ", ".join(case.allowed_steps(params, ctx.at)) or "nothing"
            raise type(e)(f"{e}; case {case.code} is {case.status}, allowed now: {allowed} "
                          f"(ledger case next {case.code})") from None

    return wrapped


def _done(ctx: Context, case: Case) -> dict[str, Any]:
    ctx.add(case)
    return {"case": case.code, "status": case.status, "due": case.due}


# ---------------------------------------------------------------------------- cases
def _sealed_caller(ctx: Context, cmd: ReceiveCase, ref: str) -> dict[str, str] | None:
    """The caller's name and phone, encrypted under the caller's own key (ledger.kernel.privacy)."""
    if cmd.caller is None:
        return None
    data = cmd.caller.model_dump(exclude_none=True, exclude={"subject"})
    if not data:
        return None
    return ctx.seal_personal(cmd.caller.subject or f"S-{ref}", data)


#: The highest number of a case reference (six digits).
LAST_CASE_NUMBER = 999_999


def next_case_ref(ctx: Context, town: str, year: int) -> str:
    """The next reference of *town*'s sequence for *year*: the number after the run of
    numbers the log already holds (``ZQ-2025-000001``, ``ZQ-2025-000002``, …).

    Case ids are derived from their references, so whether a number is taken is one lookup
    of that aggregate; a doubling search then a bisection finds the end of the run in a few
    dozen lookups. It runs inside the command's write transaction (writers are serialised),
    so two clerks recording at once get consecutive numbers, and a dry run sees the cases of
    earlier dry-run lines. A reference given by hand beyond the run is skipped, never reused.
    """
    def ref(n: int) -> str:
        return f"{town}-{year:04d}-{n:06d}"

    def taken(n: int) -> bool:
        return ctx.find(Case, ref(n)) is not None

    if not taken(1):
        return ref(1)
    low, high = 1, 2  # low is taken; is high?
    while high <= LAST_CASE_NUMBER and taken(high):
        low, high = high, high * 2
    high = min(high, LAST_CASE_NUMBER + 1)
    while high - low > 1:
        mid = (low + high) // 2
        if taken(mid):
            low = mid
        else:
            high = mid
    if high > LAST_CASE_NUMBER:
        raise CaseRuleError(_("town {town} has used every case number of {year}; give the "
                              "reference by hand").format(town=town, year=year))
    return ref(high)


@handles(ReceiveCase)
def receive(ctx: Context, cmd: ReceiveCase) -> dict[str, Any]:
    """Record a new case and index it in the community's problem file. Without a reference
    the case takes the next number of its town's sequence for the year (:func:`next_case_ref`)."""
    town_code = town_of_case(cmd.ref) if cmd.ref else town_of_community(cmd.community)
    if town_of_community(cmd.community) != town_code:
        raise CaseRuleError(
            _("case {ref} belongs to town {town_code} but community {community} does not").format(
                ref=cmd.ref, town_code=town_code, community=cmd.community))
    town = ctx.town(town_code)
    community = ctx.community(cmd.community)
    ctx.authorize(town=town_code, community=community.code)
    if cmd.ref is None:
        ref = next_case_ref(ctx, town_code, local_day(ctx.at).year)
    elif ctx.find(Case, cmd.ref) is not None:
        raise AlreadyExistsError(_("case {ref} already exists; use a new reference, or leave it "
                                   "out to take the next number").format(ref=cmd.ref))
    else:
        ref = cmd.ref
    case = Case.receive(
        code=ref, town=town_code, community=community.code, channel=cmd.channel,
        problem_type=cmd.problem_type, stage=cmd.stage, location=cmd.location,
        description=cmd.description,
        caller=_sealed_caller(ctx, cmd, ref),
        received_at=ctx.at, parameters=town.parameters, envelope=ctx.envelope)
    problems = ctx.find(ProblemFile, community.code)
    if problems is None:
        problems = ProblemFile(code=community.code, town=town_code, envelope=ctx.envelope)
    problems.track(ref, cmd.problem_type, ctx.envelope)
    ctx.add(problems)
    return _done(ctx, case)


@handles(AcceptCase)
@names_allowed_steps
def accept(ctx: Context, cmd: AcceptCase) -> dict[str, Any]:
    """Accept at intake."""
    case, params = _open_step(ctx, cmd.ref)
    case.accept(cmd.note, ctx.at, params, ctx.envelope)
    return _done(ctx, case)


@handles(RejectCase)
@names_allowed_steps
def reject(ctx: Context, cmd: RejectCase) -> dict[str, Any]:
    """Reject at intake."""
    case, params = _open_step(ctx, cmd.ref)
    case.reject(cmd.reason, ctx.envelope, params)
    return _done(ctx, case)


@handles(AssessCase)
@names_allowed_steps
def assess(ctx: Context, cmd: AssessCase) -> dict[str, Any]:
    """Assess as single- or multi-department."""
    case, params = _open_step(ctx, cmd.ref)
    case.assess(cmd.mode, cmd.reason, ctx.at, params, ctx.envelope)
    return _done(ctx, case)


@handles(DispatchCase)
@names_allowed_steps
def dispatch(ctx: Context, cmd: DispatchCase) -> dict[str, Any]:
    """Dispatch to departments that exist in the town."""
    case, params = _open_step(ctx, cmd.ref)
    case.next_state("dispatch")
    town = ctx.town(case.town)
    for department in cmd.departments:
        town.check_department(department)
    case.dispatch(list(cmd.departments), cmd.note, ctx.at, params, ctx.envelope)
    return _done(ctx, case)


@handles(AcknowledgeCase)
@names_allowed_steps
def acknowledge(ctx: Context, cmd: AcknowledgeCase) -> dict[str, Any]:
    """The assigned department or office acknowledges."""
    case, params = _open_step(ctx, cmd.ref)
    case.acknowledge(cmd.actor, cmd.post, ctx.at, params, ctx.envelope)
    return _done(ctx, case)


@handles(ReturnCase)
@names_allowed_steps
def give_back(ctx: Context, cmd: ReturnCase) -> dict[str, Any]:
    """The assigned department returns the case as not its own (退单): before acknowledging,
    or after it within the town's window."""
    case, params = _open_step(ctx, cmd.ref)
    case.give_back(cmd.reason, cmd.post, ctx.at, params, ctx.envelope)
    return _done(ctx, case) | {"returns": case.returns}


@handles(PlanCase)
@names_allowed_steps
def plan(ctx: Context, cmd: PlanCase) -> dict[str, Any]:
    """The joint-enforcement office's joint plan."""
    case, params = _open_step(ctx, cmd.ref)
    case.plan(dict(cmd.subtasks), cmd.actor, cmd.post, ctx.at, params, ctx.envelope)
    return _done(ctx, case)


@handles(InspectCase)
@names_allowed_steps
def inspect(ctx: Context, cmd: InspectCase) -> dict[str, Any]:
    """An inspection by an assigned party."""
    case, params = _open_step(ctx, cmd.ref)
    case.inspect(cmd.findings, list(cmd.evidence), cmd.actor, cmd.post, ctx.at, params,
                 ctx.envelope)
    return _done(ctx, case)


@handles(RectifyCase)
@names_allowed_steps
def rectify(ctx: Context, cmd: RectifyCase) -> dict[str, Any]:
    """The rectification plan with its deadline."""
    case, params = _open_step(ctx, cmd.ref)
    case.rectify(cmd.plan, cmd.deadline, cmd.actor, cmd.post, ctx.at, ctx.envelope, params)
    return _done(ctx, case)


@handles(FeedbackCase)
@names_allowed_steps
def feedback(ctx: Context, cmd: FeedbackCase) -> dict[str, Any]:
    """The handler's feedback."""
    case, params = _open_step(ctx, cmd.ref)
    case.report_feedback(cmd.result, list(cmd.evidence), cmd.actor, cmd.post, ctx.at, params,
                         ctx.envelope)
    return _done(ctx, case)


@handles(VerifyCase)
@names_allowed_steps
def verify(ctx: Context, cmd: VerifyCase) -> dict[str, Any]:
    """Verification by someone other than the handlers."""
    case, params = _open_step(ctx, cmd.ref)
    case.verify(cmd.actor, cmd.note, ctx.at, params, ctx.envelope)
    return _done(ctx, case)


@handles(CloseCase)
@names_allowed_steps
def close(ctx: Context, cmd: CloseCase) -> dict[str, Any]:
    """Closure of a verified case."""
    case, params = _open_step(ctx, cmd.ref)
    case.close(cmd.actor, cmd.note, ctx.envelope, params)
    return _done(ctx, case)


@handles(CallbackCase)
@names_allowed_steps
def callback(ctx: Context, cmd: CallbackCase) -> dict[str, Any]:
    """The callback to the reporter, at the step the town's parameters say."""
    case, params = _open_step(ctx, cmd.ref)
    case.callback(cmd.satisfied, cmd.note, ctx.envelope, ctx.at, params)
    return _done(ctx, case)


@handles(ReopenCase)
@names_allowed_steps
def reopen(ctx: Context, cmd: ReopenCase) -> dict[str, Any]:
    """Reopen a closed case: a new, linked handling cycle."""
    case, params = _open_step(ctx, cmd.ref)
    case.reopen(cmd.reason, ctx.at, params, ctx.envelope)
    return _done(ctx, case)


@handles(MergeCase)
@names_allowed_steps
def merge(ctx: Context, cmd: MergeCase) -> dict[str, Any]:
    """Merge a duplicate into an open case; both cases record it."""
    case, _params = _open_step(ctx, cmd.ref)
    target = _case(ctx, cmd.into)
    case.merge_into(target, ctx.envelope)
    ctx.add(target)
    return _done(ctx, case) | {"into": target.code}


@handles(SuperviseCase)
@names_allowed_steps
def supervise(ctx: Context, cmd: SuperviseCase) -> dict[str, Any]:
    """Coordination and supervision (督办)."""
    case, _params = _open_step(ctx, cmd.ref)
    case.supervise(cmd.instruction, cmd.deadline, ctx.at, ctx.envelope)
    return _done(ctx, case)


# ---------------------------------------------------------------------------- duties
@handles(IssueDuties)
def issue_duties(ctx: Context, cmd: IssueDuties) -> dict[str, Any]:
    """Issue a new version of the town's responsibility lists."""
    town = ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    for entry in cmd.entries:
        if entry.party.startswith("department:"):
            town.check_department(entry.party.removeprefix("department:"))
    duties = ctx.find(ResponsibilityList, cmd.town)
    if duties is None:
        duties = ResponsibilityList(code=cmd.town, envelope=ctx.envelope)
    effective = (cmd.effective_from or local_day(ctx.at)).isoformat()
    duties.issue([e.model_dump(mode="json") for e in cmd.entries], effective, ctx.envelope)
    ctx.add(duties)
    return {"town": cmd.town, "version": duties.list_version}


@handles(RecordDutyFailure)
def record_duty_failure(ctx: Context, cmd: RecordDutyFailure) -> dict[str, Any]:
    """A supervision team records a party's failure of a listed duty."""
    community = ctx.community(cmd.community)
    ctx.authorize(town=community.town, community=community.code)
    duties = ctx.find(ResponsibilityList, community.town)
    if duties is None:
        raise DutyNotListedError(
            _("town {town} has issued no responsibility list; issue one first").format(
                town=community.town))
    if cmd.case is not None:
        case = _case(ctx, cmd.case)
        if case.community != community.code:
            raise CaseRuleError(_("case {case} is in {community}, not {code}").format(
                                    case=cmd.case, community=case.community, code=community.code))
    duties.record_failure(cmd.party, community.code, cmd.problem_type, cmd.stage, cmd.duty,
                          cmd.case, cmd.description, local_day(ctx.at).year, ctx.envelope)
    ctx.add(duties)
    return {"party": cmd.party, "duty": cmd.duty, "list_version": duties.list_version}


# ---------------------------------------------------------------------------- warnings
def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def rule_parameters(rule: Rule[Any, Any, Any], parameters: dict[str, Any]) -> Any:
    """The rule's parameters: its defaults with the town's ``<rule id>.<name>`` settings applied."""
    prefix = f"{rule.rule_id}."
    overrides = [f"{name.removeprefix(prefix)}={_scalar(value)}"
                 for name, value in sorted(parameters.items()) if name.startswith(prefix)]
    try:
        return parse_overrides(rule, overrides)
    except RuleError as e:
        raise RuleViolationError(_("town parameter for {key}: {e}").format(key=rule.key, e=e)) from None


def case_counts(ctx: Context, community: str, town: str, problem_type: str) -> CaseCounts:
    """The counts ``warning.suggest@1`` reads, as the ledger holds them at the command's time."""
    return counted_cases(ctx, community, town, problem_type)[0]


def counted_cases(ctx: Context, community: str, town: str,
                  problem_type: str) -> tuple[CaseCounts, list[str]]:
    """The counts ``warning.suggest@1`` reads, and the events behind them (``KIND:KEY@VERSION``:
    each open case's receipt and, when it is overdue or reopened, the event that put it in its
    state; each duty failure counted), so an auditor sees who entered every input."""
    day = local_day(ctx.at).isoformat()
    open_, overdue, reopened = 0, 0, 0
    refs: list[str] = []
    problems = ctx.find(ProblemFile, community)
    for ref in problems.refs_of(problem_type) if problems else []:
        case = ctx.find(Case, ref)
        if case is None or case.status not in OPEN_STATES:
            continue
        open_ += 1
        refs.append(f"case:{ref}@1")
        late = case.due is not None and case.due < day
        overdue += 1 if late else 0
        reopened += 1 if case.reopens else 0
        if (late or case.reopens) and case.step_event != f"case:{ref}@1":
            refs.append(case.step_event)
    duties = ctx.find(ResponsibilityList, town)
    year = local_day(ctx.at).year
    failures = duties.failures_in(community, problem_type, year) if duties else 0
    if duties:
        refs += duties.failure_events(community, problem_type, year)
    counts = CaseCounts.model_validate({
        "community": community, "problem_type": problem_type, "open_cases": open_,
        "overdue_cases": overdue, "reopened_cases": reopened, "duty_failures": failures})
    return counts, refs


def _decide(ctx: Context, cmd: WarningCommand, action: str, level: str) -> dict[str, Any]:
    community = ctx.community(cmd.community)
    town = ctx.town(community.town)
    ctx.authorize(town=community.town, community=community.code)
    key = warning_key(community.code, cmd.problem_type)
    warning = ctx.find(CommunityWarning, key)
    if warning is None:
        warning = CommunityWarning(code=key, town=community.town, community=community.code,
                                   problem_type=cmd.problem_type, envelope=ctx.envelope)
    warning.check_decision(action, level, cmd.reason, list(cmd.evidence))
    suggest = get_rule(SUGGEST_RULE)
    counts, input_events = counted_cases(ctx, community.code, community.town,
                                         cmd.problem_type)
    suggestion: Evaluation = suggest.evaluate(counts, rule_parameters(suggest, town.parameters))
    measures_rule = get_rule(MEASURES_RULE)
    measures: Evaluation = measures_rule.evaluate(
        MeasuresInputs.model_validate({"level": level}), rule_parameters(measures_rule, town.parameters))
    warning.decide(action, level, cmd.reason, list(cmd.evidence),
                   {**suggestion.model_dump(mode="json"), "input_events": input_events},
                   measures.model_dump(mode="json"), ctx.at, ctx.envelope)
    ctx.add(warning)
    return {"warning": key, "level": warning.level,
            "suggested": suggestion.decision["level"],
            "measures": [m["id"] for m in warning.measures if m["status"] == "open"]}


@handles(RaiseWarning)
def raise_warning(ctx: Context, cmd: RaiseWarning) -> dict[str, Any]:
    """Raise a warning."""
    return _decide(ctx, cmd, "raise", cmd.level)


@handles(EscalateWarning)
def escalate_warning(ctx: Context, cmd: EscalateWarning) -> dict[str, Any]:
    """Escalate a warning."""
    return _decide(ctx, cmd, "escalate", cmd.level)


@handles(DeescalateWarning)
def deescalate_warning(ctx: Context, cmd: DeescalateWarning) -> dict[str, Any]:
    """De-escalate a warning."""
    return _decide(ctx, cmd, "deescalate", cmd.level)


@handles(LiftWarning)
def lift_warning(ctx: Context, cmd: LiftWarning) -> dict[str, Any]:
    """Lift a warning."""
    return _decide(ctx, cmd, "lift", "none")


@handles(FulfilMeasure)
def fulfil_measure(ctx: Context, cmd: FulfilMeasure) -> dict[str, Any]:
    """Record that a mandated measure was taken."""
    community = ctx.community(cmd.community)
    ctx.authorize(town=community.town, community=community.code)
    key = warning_key(community.code, cmd.problem_type)
    warning = ctx.find(CommunityWarning, key)
    if warning is None:
        raise MeasureNotFoundError(_("no warning was ever raised on {key}").format(key=key))
    warning.fulfil(cmd.measure, cmd.note, list(cmd.evidence), cmd.person, cmd.outcome,
                   cmd.third_party, ctx.at, ctx.envelope)
    ctx.add(warning)
    return {"warning": key, "measure": cmd.measure, "level": warning.level}


# ---------------------------------------------------------------------------- documents
@handles(FileDocument)
def file_document(ctx: Context, cmd: FileDocument) -> dict[str, Any]:
    """File a template document on a case or a community."""
    fields = cmd.document()
    if cmd.case is not None:
        case = _case(ctx, cmd.case)
        ctx.authorize(town=case.town, community=case.community)
        case.file_document(cmd.template, fields, ctx.envelope)
        ctx.add(case)
        return {"case": case.code, "template": cmd.template}
    community = ctx.community(cmd.community or "")
    ctx.authorize(town=community.town, community=community.code)
    problems = ctx.find(ProblemFile, community.code)
    if problems is None:
        problems = ProblemFile(code=community.code, town=community.town, envelope=ctx.envelope)
    problems.file_document(cmd.template, cmd.problem_type, fields, ctx.envelope)
    ctx.add(problems)
    return {"community": community.code, "template": cmd.template}
