"""The Case (案件): a stubborn-problem report from intake to callback, as an explicit lifecycle.

The lifecycle is the table :data:`TRANSITIONS` (state × command → state); every public method
checks it first, so an illegal command is refused naming the case's current state. Guards that
depend on the case itself (single- or multi-department, who acts, who handled it) come after.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate
from ledger.aggregates.base import at as at_time
from ledger.kernel.config import local_day
from ledger.kernel.errors import AuthorityError, NotFoundError, RuleViolationError
from ledger.kernel.i18n import _
from ledger.kernel.posts import parse_post
from ledger.kernel.workdays import calendar_of

CHANNELS = ("hotline", "street_patrol", "rc_report")
"""How a case arrives: telephone hotline, street patrol, residents'-committee report."""
PROBLEM_TYPES = ("illegal_construction", "group_renting", "unlicensed_business", "other")
"""The stubborn problems (违法建筑, 群租, 无证无照经营) and everything else."""
STAGES = ("source_control", "classified_management", "consolidation")
"""事前源头管控, 事中分类管理, 事后长效巩固."""
MODES = ("single", "multi")
"""Single-department case, or multi-department case led by the joint-enforcement office."""

#: The party a joint-enforcement-office post acts for.
JOINT_OFFICE = "joint_enforcement_office"

#: Every state a case can be in, in lifecycle order.
STATES = (
    "received", "accepted", "rejected", "assessed", "dispatched", "acknowledged", "planned",
    "inspecting", "rectifying", "feedback_reported", "verified", "closed", "called_back",
    "reopened", "merged",
)
#: States from which nothing but a callback or a reopen can follow.
FINISHED = frozenset({"rejected", "closed", "called_back", "merged"})
#: States in which the case is still being worked on (time limits run, supervision applies).
OPEN_STATES = tuple(s for s in STATES if s not in FINISHED)
#: States before dispatch from which a duplicate report can be merged into another case.
MERGEABLE = ("received", "accepted", "reopened", "assessed", "dispatched")

#: The lifecycle: (state, command) → next state. ``None`` is "no case yet".
TRANSITIONS: dict[tuple[str | None, str], str] = {
    (None, "receive"): "received",
    ("received", "accept"): "accepted",
    ("received", "reject"): "rejected",
    ("accepted", "assess"): "assessed",
    ("reopened", "assess"): "assessed",
    ("assessed", "dispatch"): "dispatched",
    ("dispatched", "acknowledge"): "acknowledged",
    ("dispatched", "return"): "accepted",
    ("acknowledged", "return"): "assessed",
    ("acknowledged", "plan"): "planned",
    ("acknowledged", "inspect"): "inspecting",
    ("planned", "inspect"): "inspecting",
    ("inspecting", "inspect"): "inspecting",
    ("inspecting", "rectify"): "rectifying",
    ("rectifying", "rectify"): "rectifying",
    ("rectifying", "inspect"): "rectifying",
    ("rectifying", "feedback"): "feedback_reported",
    ("feedback_reported", "verify"): "verified",
    ("verified", "close"): "closed",
    ("closed", "callback"): "called_back",
    ("closed", "reopen"): "reopened",
    ("called_back", "reopen"): "reopened",
    ("verified", "callback"): "verified",
    **{(s, "merge"): "merged" for s in MERGEABLE},
    **{(s, "supervise"): s for s in OPEN_STATES},
}

#: Town parameter: when the callback (回访) comes, ``after_close`` (default) or ``before_close``.
CALLBACK_STEP = "case.callback_step"
CALLBACK_STEPS = ("after_close", "before_close")
#: Town parameter: days (in the case's calendar) after acknowledging (签收) within which the
#: department may still return the case (退单), and its default.
RETURN_WINDOW = "case.return_window_days"
DEFAULT_RETURN_WINDOW = 2


def callback_step(parameters: dict[str, Any]) -> str:
    """The town's callback step (``after_close`` unless set to ``before_close``)."""
    step = str(parameters.get(CALLBACK_STEP) or "after_close")
    return step if step in CALLBACK_STEPS else "after_close"


def transitions_for(parameters: dict[str, Any]) -> dict[tuple[str | None, str], str]:
    """The lifecycle under the town's parameters: with the callback before closing, a
    callback follows verification (and closing needs it) instead of following closure."""
    if callback_step(parameters) == "after_close":
        return {k: v for k, v in TRANSITIONS.items() if k != ("verified", "callback")}
    return {k: v for k, v in TRANSITIONS.items() if k != ("closed", "callback")}


#: Default time limit (calendar days) for a case to leave each state; the town overrides them
#: with ``case.limit.<state>_days``. A rectification plan's own deadline replaces the limit of
#: ``rectifying``.
DEFAULT_LIMITS: dict[str, int] = {
    "received": 1, "accepted": 2, "reopened": 2, "assessed": 1, "dispatched": 2,
    "acknowledged": 5, "planned": 5, "inspecting": 10, "rectifying": 30,
    "feedback_reported": 5, "verified": 2,
}


class CaseNotFoundError(NotFoundError):
    """Raised when a case reference names no case."""

    code = "unknown_case"


class CaseTransitionError(RuleViolationError):
    """Raised when a command is not allowed in the case's current state (the lifecycle table)."""

    code = "illegal_case_transition"


class CaseNotAssignedError(AuthorityError):
    """Raised when a department or office acts on a case that was not dispatched to it."""

    code = "case_not_assigned"


class HandlerCannotVerifyError(RuleViolationError):
    """Raised when someone who handled a case tries to verify or close it themselves."""

    code = "handler_cannot_verify"


class CaseRuleError(RuleViolationError):
    """Raised when a case command breaks a rule of its own (mode, sub-tasks, satisfaction…)."""

    code = "case_rule"


def add_days(start: date, days: int, *, working_days: bool = False,
             holidays: frozenset[date] = frozenset()) -> date:
    """*start* plus *days*: calendar days, or working days (Monday–Friday minus *holidays*)."""
    if not working_days:
        return start + timedelta(days=days)
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            left -= 1
    return day


def due_for(state: str, since: datetime, parameters: dict[str, Any]) -> str | None:
    """The due date (ISO) for a case entering *state* at *since*, from the town's parameters
    (limit per state, counted in the town's calendar: :func:`ledger.kernel.workdays.calendar_of`)."""
    if state not in DEFAULT_LIMITS:
        return None
    days = int(parameters.get(f"case.limit.{state}_days", DEFAULT_LIMITS[state]))
    return calendar_of(parameters).add(local_day(since), days).isoformat()


def party_of_post(post: str | None) -> str | None:
    """The party a post acts for: ``department:<code>``, ``joint_enforcement_office`` or None."""
    if not post:
        return None

    p = parse_post(post)
    if p.department:
        return f"department:{p.department}"
    if p.body == f"town.{JOINT_OFFICE}":
        return JOINT_OFFICE
    return None


class Case(LedgerAggregate):
    """A problem case: intake, assessment, dispatch, handling, verification, closure, callback."""

    KIND = "case"

    @staticmethod
    def create_id(code: str) -> Any:
        """Case ids derive from the case reference."""
        return Case.id_for(code)

    @classmethod
    def receive(cls, *, code: str, town: str, community: str, channel: str,
                problem_type: str, stage: str, location: str, description: str,
                caller: dict[str, str] | None, received_at: datetime,
                parameters: dict[str, Any], envelope: EnvelopeDict) -> Case:
        """Record a new case (the lifecycle's first step)."""
        status = TRANSITIONS[(None, "receive")]
        return cls(code=code, town=town, community=community, channel=channel,
                   problem_type=problem_type, stage=stage, location=location,
                   description=description, caller=caller,
                   status=status, due=due_for(status, received_at, parameters),
                   envelope=envelope, calendar=calendar_of(parameters).label)

    @event("Received")
    def __init__(self, code: str, town: str, community: str, channel: str, problem_type: str,
                 stage: str, location: str, description: str, caller: dict[str, str] | None,
                 status: str, due: str | None, envelope: EnvelopeDict,
                 calendar: str | None = None) -> None:
        self.code = code
        """Case reference, e.g. ``ZQ-2025-000123``."""
        self.town = town
        """Town code."""
        self.community = community
        """Community code where the problem is."""
        self.channel = channel
        """hotline, street_patrol or rc_report."""
        self.problem_type = problem_type
        """illegal_construction, group_renting, unlicensed_business or other."""
        self.stage = stage
        """source_control, classified_management or consolidation."""
        self.location = location
        """Where (address, building, shop)."""
        self.description = description
        """What was reported."""
        self.caller: dict[str, str] | None = caller
        """Hotline caller's personal data (name, phone), sealed, kept in this one place."""
        self.status = status
        """Current lifecycle state (see :data:`TRANSITIONS`)."""
        self.status_since: str = envelope["occurred_at"]
        """When the case entered its current state."""
        self.status_version = 1
        """The version of the event that moved the case into its current state."""
        self.due: str | None = due
        """Date by which the case should leave its current state (None when finished)."""
        self.calendar: str | None = calendar
        """The calendar the current due date was counted in (``calendar days``, or which
        working-day calendar); ``None`` for cases recorded before calendars were named."""
        self.mode: str | None = None
        """single or multi, once assessed."""
        self.departments: list[str] = []
        """Departments the case is dispatched to."""
        self.subtasks: dict[str, str] = {}
        """Joint plan: department → its sub-task (multi-department cases)."""
        self.handlers: list[str] = []
        """Persons who handled the case (acknowledged, inspected, rectified, reported)."""
        self.acknowledged_at: str | None = None
        """When the case was last acknowledged (签收): the return window runs from it."""
        self.acknowledged_by: str | None = None
        """The party that last acknowledged it."""
        self.returns = 0
        """Times a department returned the case as not its own."""
        self.reopens = 0
        """Times the case was reopened."""
        self.cycle = 1
        """The handling cycle: 1, and one more for every reopening."""
        self.cycles: list[dict[str, Any]] = []
        """Earlier cycles, each linked to the event that ended it: when it closed, the
        callback's outcome, when and why it was reopened."""
        self.closed_at: str | None = None
        """When the current cycle was closed."""
        self.inspections = 0
        """Inspections recorded."""
        self.rectification_deadline: str | None = None
        """Deadline of the current rectification plan."""
        self.satisfied: bool | None = None
        """Outcome of the last callback of this cycle."""
        self.merged_into: str | None = None
        """The case this duplicate was merged into."""
        self.duplicates: list[str] = []
        """Duplicate cases merged into this one."""
        self.supervisions = 0
        """Coordination-and-supervision (督办) events recorded."""
        self.escalations: dict[str, str] = {}
        """Automatic supervision: step (``<state>@<since>``) → the level it was escalated to
        (remind, supervise, notify), by ``case.supervision@1``."""

    # ------------------------------------------------------------------ checks
    def allowed_steps(self, parameters: dict[str, Any] | None = None,
                      when: datetime | None = None) -> list[str]:
        """The commands the lifecycle allows now, under the town's *parameters*, the guards
        that depend on the case itself applied (a plan only for a multi-department case, a
        return only within the window, closing after a callback when it comes first…)."""
        params = parameters or {}
        table = transitions_for(params)
        steps = []
        for (state, command) in table:
            if state != self.status:
                continue
            if command == "plan" and self.mode != "multi":
                continue
            if command == "inspect" and self.status == "acknowledged" and self.mode == "multi":
                continue
            if command == "return" and self.status == "acknowledged" and (
                    when is not None and self.return_window_closed(when, params)):
                continue
            if command == "close" and callback_step(params) == "before_close" \
                    and self.satisfied is not True:
                continue
            if command == "callback" and self.status == "verified" and self.satisfied:
                continue
            steps.append(command)
        return sorted(steps)

    def next_state(self, command: str, parameters: dict[str, Any] | None = None) -> str:
        """The state *command* leads to under the town's *parameters*;
        :class:`CaseTransitionError`, naming the steps allowed now, if the table forbids it."""
        nxt = transitions_for(parameters or {}).get((self.status, command))
        if nxt is None:
            self.refuse(command, f"'{command}' is not allowed in that state", parameters)
        return str(nxt)

    def refuse(self, command: str, why: str, parameters: dict[str, Any] | None = None,
               when: datetime | None = None) -> None:
        """Raise :class:`CaseTransitionError` saying *why* and naming the allowed steps."""
        allowed = self.allowed_steps(parameters, when)
        raise CaseTransitionError(
            _("case {code} is {status}: {why}; allowed now: {value} (ledger case next {code})").format(
                code=self.code, status=self.status, why=why, value=', '.join(allowed) or 'nothing'))

    def return_window_closed(self, when: datetime, parameters: dict[str, Any]) -> bool:
        """Whether the window for returning an acknowledged case (退单) has passed at *when*."""
        if self.acknowledged_at is None:
            return False
        days = int(parameters.get(RETURN_WINDOW, DEFAULT_RETURN_WINDOW))
        last = calendar_of(parameters).add(local_day(at_time(self.acknowledged_at)), days)
        return local_day(when) > last

    def assigned_parties(self, command: str) -> set[str]:
        """The parties that may act on the case for *command*."""
        if self.mode == "single":
            return {f"department:{d}" for d in self.departments}
        if command in ("acknowledge", "return", "plan"):
            return {JOINT_OFFICE}
        return {JOINT_OFFICE} | {f"department:{d}" for d in self.subtasks}

    def check_party(self, command: str, post: str | None) -> None:
        """Raise :class:`CaseNotAssignedError` unless *post* acts for a party assigned the case."""
        party = party_of_post(post)
        allowed = self.assigned_parties(command)
        if party not in allowed:
            raise CaseNotAssignedError(
                _("case {code} is not dispatched to {value}: only {allowed} may {command} it").format(
                    code=self.code, value=party or post, allowed=', '.join(sorted(allowed)),
                    command=command)
            )

    def check_not_handler(self, actor: str, command: str) -> None:
        """Raise :class:`HandlerCannotVerifyError` if *actor* handled the case."""
        if actor in self.handlers:
            raise HandlerCannotVerifyError(
                _("{actor} handled case {code}; someone other than its handlers ({handlers}) must "
                  "{command} it").format(
                    actor=actor, code=self.code, handlers=', '.join(self.handlers),
                    command=command)
            )

    def _due(self, state: str, at: datetime,
             parameters: dict[str, Any]) -> tuple[str | None, str | None]:
        due = due_for(state, at, parameters)
        return due, (calendar_of(parameters).label if due is not None else None)

    # ------------------------------------------------------------------ commands
    def accept(self, note: str, at: datetime, parameters: dict[str, Any],
               envelope: EnvelopeDict) -> None:
        """Accept the case at intake."""
        nxt = self.next_state("accept", parameters)
        due, cal = self._due(nxt, at, parameters)
        self._accepted(note, nxt, due, envelope, calendar=cal)

    def reject(self, reason: str, envelope: EnvelopeDict,
               parameters: dict[str, Any] | None = None) -> None:
        """Reject the case at intake, with a reason."""
        nxt = self.next_state("reject", parameters)
        if not reason:
            raise CaseRuleError(_("rejecting case {code} needs a reason").format(code=self.code))
        self._rejected(reason, nxt, None, envelope)

    def assess(self, mode: str, reason: str, at: datetime, parameters: dict[str, Any],
               envelope: EnvelopeDict) -> None:
        """Assess (研判) the case as single- or multi-department."""
        nxt = self.next_state("assess", parameters)
        due, cal = self._due(nxt, at, parameters)
        self._assessed(mode, reason, nxt, due, envelope, calendar=cal)

    def dispatch(self, departments: list[str], note: str, at: datetime,
                 parameters: dict[str, Any], envelope: EnvelopeDict) -> None:
        """Dispatch to one department (single) or, through the joint-enforcement office, to
        several (multi). The caller checks the departments exist."""
        nxt = self.next_state("dispatch", parameters)
        if len(set(departments)) != len(departments):
            raise CaseRuleError(_("case {code}: a department is named twice").format(code=self.code))
        if self.mode == "single" and len(departments) != 1:
            raise CaseRuleError(
                _("case {code} was assessed single-department: dispatch it to exactly one department, not "
                  "{count}").format(code=self.code, count=len(departments)))
        if self.mode == "multi" and len(departments) < 2:
            raise CaseRuleError(
                _("case {code} was assessed multi-department: name at least two departments (the "
                  "joint-enforcement office leads), or reassess it").format(code=self.code))
        lead = departments[0] if self.mode == "single" else JOINT_OFFICE
        due, cal = self._due(nxt, at, parameters)
        self._dispatched(departments, lead, note, nxt, due, envelope, calendar=cal)

    def acknowledge(self, actor: str, post: str | None, at: datetime,
                    parameters: dict[str, Any], envelope: EnvelopeDict) -> None:
        """The department (or the joint-enforcement office) acknowledges (签收) the case."""
        nxt = self.next_state("acknowledge", parameters)
        self.check_party("acknowledge", post)
        due, cal = self._due(nxt, at, parameters)
        self._acknowledged(actor, nxt, due, envelope, calendar=cal)

    def give_back(self, reason: str, post: str | None, at: datetime,
                  parameters: dict[str, Any], envelope: EnvelopeDict) -> None:
        """The department returns the case as not its own (退单), with a reason. Before it
        acknowledged, the case goes back to assessment; after acknowledging, within the town's
        window (``case.return_window_days``, counted in the case's calendar), it goes back to
        the dispatcher (``assessed``) to be dispatched again."""
        nxt = self.next_state("return", parameters)
        self.check_party("return", post)
        if not reason:
            raise CaseRuleError(_("returning case {code} needs a reason").format(code=self.code))
        if self.status == "acknowledged" and self.return_window_closed(at, parameters):
            days = int(parameters.get(RETURN_WINDOW, DEFAULT_RETURN_WINDOW))
            self.refuse("return", f"it was acknowledged at {self.acknowledged_at} and the "
                        f"return window of {days} day(s) ({RETURN_WINDOW}) has passed",
                        parameters, at)
        due, cal = self._due(nxt, at, parameters)
        self._returned(party_of_post(post) or "", reason, nxt, due, envelope, calendar=cal)

    def plan(self, subtasks: dict[str, str], actor: str, post: str | None, at: datetime,
             parameters: dict[str, Any], envelope: EnvelopeDict) -> None:
        """The joint-enforcement office's joint plan: one sub-task per dispatched department."""
        nxt = self.next_state("plan", parameters)
        if self.mode != "multi":
            raise CaseRuleError(
                _("case {code} is a single-department case: a joint plan is only for multi-department "
                  "cases; inspect it instead").format(code=self.code))
        self.check_party("plan", post)
        missing = sorted(set(self.departments) - set(subtasks))
        extra = sorted(set(subtasks) - set(self.departments))
        if missing or extra:
            raise CaseRuleError(
                f"case {self.code}: the joint plan needs one sub-task per dispatched department "
                f"({', '.join(self.departments)}); "
                + (f"missing {', '.join(missing)}" if missing else f"not dispatched: {', '.join(extra)}"))
        due, cal = self._due(nxt, at, parameters)
        self._planned(dict(subtasks), actor, nxt, due, envelope, calendar=cal)

    def inspect(self, findings: str, evidence: list[str], actor: str, post: str | None,
                at: datetime, parameters: dict[str, Any], envelope: EnvelopeDict) -> None:
        """Record an inspection: findings and evidence references."""
        nxt = self.next_state("inspect", parameters)
        if self.status == "acknowledged" and self.mode == "multi":
            raise CaseRuleError(
                _("case {code} is a multi-department case: the joint-enforcement office draws up the joint "
                  "plan before inspections").format(code=self.code))
        self.check_party("inspect", post)
        if nxt == self.status:
            due, cal = self.due, None
        else:
            due, cal = self._due(nxt, at, parameters)
        self._inspected(findings, evidence, party_of_post(post) or "", actor, nxt, due, envelope,
                        calendar=cal)

    def rectify(self, plan: str, deadline: date, actor: str, post: str | None, at: datetime,
                envelope: EnvelopeDict, parameters: dict[str, Any] | None = None) -> None:
        """Record the rectification plan and its deadline."""
        nxt = self.next_state("rectify", parameters)
        self.check_party("rectify", post)
        if deadline < local_day(at):
            raise CaseRuleError(
                _("case {code}: the rectification deadline {deadline} is before {local_day}").format(
                    code=self.code, deadline=deadline, local_day=local_day(at)))
        self._rectification_planned(plan, deadline.isoformat(), actor, nxt,
                                    deadline.isoformat(), envelope, calendar="calendar days")

    def report_feedback(self, result: str, evidence: list[str], actor: str, post: str | None,
                        at: datetime, parameters: dict[str, Any], envelope: EnvelopeDict) -> None:
        """The handler reports the result (feedback)."""
        nxt = self.next_state("feedback", parameters)
        self.check_party("feedback", post)
        due, cal = self._due(nxt, at, parameters)
        self._feedback_reported(result, evidence, actor, nxt, due, envelope, calendar=cal)

    def verify(self, actor: str, note: str, at: datetime, parameters: dict[str, Any],
               envelope: EnvelopeDict) -> None:
        """Someone other than the handlers verifies the result."""
        nxt = self.next_state("verify", parameters)
        self.check_not_handler(actor, "verify")
        due, cal = self._due(nxt, at, parameters)
        self._verified(note, nxt, due, envelope, calendar=cal)

    def close(self, actor: str, note: str, envelope: EnvelopeDict,
              parameters: dict[str, Any] | None = None) -> None:
        """Close a verified case (not by one of its handlers); when the town's callback comes
        before closing, only after a satisfied callback."""
        nxt = self.next_state("close", parameters)
        if callback_step(parameters or {}) == "before_close" and self.satisfied is not True:
            self.refuse("close", "the town's callback comes before closing "
                        f"({CALLBACK_STEP}=before_close) and no satisfied callback is recorded "
                        "in this cycle", parameters)
        self.check_not_handler(actor, "close")
        self._closed(note, nxt, None, envelope)

    def callback(self, satisfied: bool, note: str, envelope: EnvelopeDict,
                 at: datetime | None = None, parameters: dict[str, Any] | None = None) -> None:
        """Record the callback (回访) to the reporter: satisfied or not. After closing (the
        default), it ends the cycle. Before closing (``case.callback_step=before_close``), a
        satisfied callback lets the case close, and a dissatisfied one sends it back to the
        handlers (``rectifying``) with a new limit."""
        nxt = self.next_state("callback", parameters)
        if self.status == "verified":
            if self.satisfied:
                self.refuse("callback", "a satisfied callback is already recorded in this "
                            "cycle", parameters)
            if satisfied:
                self._called_back(satisfied, note, "verified", self.due, envelope)
                return
            due, cal = self._due("rectifying", at or at_time(envelope["occurred_at"]),
                                 parameters or {})
            self._called_back(satisfied, note, "rectifying", due, envelope, calendar=cal)
            return
        self._called_back(satisfied, note, nxt, None, envelope)

    def reopen(self, reason: str, at: datetime, parameters: dict[str, Any],
               envelope: EnvelopeDict) -> None:
        """Reopen a closed case when the problem returns, or after a callback (satisfied or
        not): a new handling cycle starts, linked to the one it follows (:attr:`cycles`)."""
        nxt = self.next_state("reopen", parameters)
        if not reason:
            raise CaseRuleError(_("reopening case {code} needs a reason").format(code=self.code))
        due, cal = self._due(nxt, at, parameters)
        self._reopened(reason, nxt, due, envelope, calendar=cal)

    def merge_into(self, target: Case, envelope: EnvelopeDict) -> None:
        """Merge this duplicate report into *target* (both record it)."""
        nxt = self.next_state("merge")
        if target.code == self.code:
            raise CaseRuleError(_("case {code} cannot be merged into itself").format(code=self.code))
        if target.status in FINISHED:
            raise CaseTransitionError(
                _("case {code} is {status}: merge duplicates only into an open case").format(
                    code=target.code, status=target.status))
        if target.community != self.community:
            raise CaseRuleError(
                _("case {code} is in {community} and {code2} in {community2}: only reports of the same "
                  "problem are duplicates").format(
                    code=self.code, community=self.community, code2=target.code,
                    community2=target.community))
        self._merged_into(target.code, nxt, None, envelope)
        target._duplicate_merged(self.code, target.status, target.due, envelope)

    def supervise(self, instruction: str, deadline: date | None, at: datetime,
                  envelope: EnvelopeDict) -> None:
        """Record coordination and supervision (督办), typically of an overdue case."""
        nxt = self.next_state("supervise")
        overdue_days = 0
        if self.due is not None:
            overdue_days = max(0, (local_day(at) - date.fromisoformat(self.due)).days)
        due = deadline.isoformat() if deadline else self.due
        self._supervised(instruction, self.status, self.due, overdue_days, nxt, due, envelope)

    def file_document(self, template: str, fields: dict[str, Any],
                      envelope: EnvelopeDict) -> None:
        """Attach one of the five template documents to the case."""
        self._document_filed(template, fields, envelope)

    @property
    def step_event(self) -> str:
        """``case:<ref>@<version>``: the event that started the current step (who entered it
        and when), for an auditor."""
        return f"case:{self.code}@{getattr(self, 'status_version', 1)}"

    @property
    def current_step(self) -> str:
        """The step the case is in, as automatic supervision names it: ``<state>@<since>``."""
        return f"{self.status}@{self.status_since}"

    def escalation_level(self, step: str) -> str:
        """The level *step* was escalated to by automatic supervision (``none`` if never)."""
        return str(getattr(self, "escalations", {}).get(step, "none"))

    def escalate(self, escalation: dict[str, Any], evaluation: dict[str, Any],
                 input_events: list[str], envelope: EnvelopeDict) -> None:
        """Record an escalation decided by ``case.supervision@1`` (*evaluation*: the rule's
        record for this case: rule, parameters, inputs, digest, decision)."""
        if escalation["step"] != self.current_step or self.status not in OPEN_STATES:
            raise CaseRuleError(
                _("case {code} is {status} since {status_since}; the escalation of step {step} no longer "
                  "applies").format(
                    code=self.code, status=self.status, status_since=self.status_since,
                    step=escalation['step']))
        self._escalated(escalation["step"], escalation["level"], escalation["previous_level"],
                        str(escalation["due"]), int(escalation["days_overdue"]),
                        escalation["reason"], evaluation, input_events, envelope)

    # ------------------------------------------------------------------ events
    def _move(self, status: str, due: str | None, envelope: EnvelopeDict,
              calendar: str | None = None) -> None:
        if status != self.status:
            self.status_since = envelope["occurred_at"]
            self.status_version = self.version + 1
        self.status = status
        self.due = due
        if calendar is not None:
            self.calendar = calendar

    @event("Accepted")
    def _accepted(self, note: str, status: str, due: str | None, envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self._move(status, due, envelope, calendar)

    @event("Rejected")
    def _rejected(self, reason: str, status: str, due: str | None,
                  envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self._move(status, due, envelope, calendar)

    @event("Assessed")
    def _assessed(self, mode: str, reason: str, status: str, due: str | None,
                  envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.mode = mode
        self.departments = []
        self.subtasks = {}
        self._move(status, due, envelope, calendar)

    @event("Dispatched")
    def _dispatched(self, departments: list[str], lead: str, note: str, status: str,
                    due: str | None, envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.departments = list(departments)
        self._move(status, due, envelope, calendar)

    @event("Acknowledged")
    def _acknowledged(self, handler: str, status: str, due: str | None,
                      envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        if handler not in self.handlers:
            self.handlers.append(handler)
        self.acknowledged_at = envelope["occurred_at"]
        self.acknowledged_by = party_of_post(envelope.get("post"))
        self._move(status, due, envelope, calendar)

    @event("Returned")
    def _returned(self, party: str, reason: str, status: str, due: str | None,
                  envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.returns += 1
        self.departments = []
        self.subtasks = {}
        self.acknowledged_at = None
        self._move(status, due, envelope, calendar)

    @event("JointPlanDrawnUp")
    def _planned(self, subtasks: dict[str, str], handler: str, status: str, due: str | None,
                 envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.subtasks = dict(subtasks)
        if handler not in self.handlers:
            self.handlers.append(handler)
        self._move(status, due, envelope, calendar)

    @event("Inspected")
    def _inspected(self, findings: str, evidence: list[str], party: str, handler: str,
                   status: str, due: str | None, envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.inspections += 1
        if handler not in self.handlers:
            self.handlers.append(handler)
        self._move(status, due, envelope, calendar)

    @event("RectificationPlanned")
    def _rectification_planned(self, plan: str, deadline: str, handler: str, status: str,
                               due: str | None, envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.rectification_deadline = deadline
        if handler not in self.handlers:
            self.handlers.append(handler)
        self._move(status, due, envelope, calendar)

    @event("FeedbackReported")
    def _feedback_reported(self, result: str, evidence: list[str], handler: str, status: str,
                           due: str | None, envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        if handler not in self.handlers:
            self.handlers.append(handler)
        self._move(status, due, envelope, calendar)

    @event("Verified")
    def _verified(self, note: str, status: str, due: str | None, envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self._move(status, due, envelope, calendar)

    @event("Closed")
    def _closed(self, note: str, status: str, due: str | None, envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.closed_at = envelope["occurred_at"]
        self._move(status, due, envelope, calendar)

    @event("CalledBack")
    def _called_back(self, satisfied: bool, note: str, status: str, due: str | None,
                     envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.satisfied = satisfied
        self._move(status, due, envelope, calendar)

    @event("Reopened")
    def _reopened(self, reason: str, status: str, due: str | None,
                  envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.reopens += 1
        self.cycles.append({"cycle": self.cycle, "closed_at": self.closed_at,
                            "callback_satisfied": self.satisfied, "ended_in": self.status,
                            "reopened_at": envelope["occurred_at"], "reason": reason,
                            "reopen_event_version": self.version + 1})
        self.cycle += 1
        self.closed_at = None
        self.acknowledged_at = None
        self.satisfied = None
        self.mode = None
        self.departments = []
        self.subtasks = {}
        self.rectification_deadline = None
        self._move(status, due, envelope, calendar)

    @event("MergedInto")
    def _merged_into(self, target: str, status: str, due: str | None,
                     envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.merged_into = target
        self._move(status, due, envelope, calendar)

    @event("DuplicateMerged")
    def _duplicate_merged(self, duplicate: str, status: str, due: str | None,
                          envelope: EnvelopeDict) -> None:
        self.duplicates.append(duplicate)

    @event("Supervised")
    def _supervised(self, instruction: str, overdue_state: str, overdue_due: str | None,
                    overdue_days: int, status: str, due: str | None,
                    envelope: EnvelopeDict,
                calendar: str | None = None) -> None:
        self.supervisions += 1
        self._move(status, due, envelope, calendar)

    @event("DocumentFiled")
    def _document_filed(self, template: str, fields: dict[str, Any],
                        envelope: EnvelopeDict) -> None:
        pass

    @event("Escalated")
    def _escalated(self, step: str, level: str, previous_level: str, due: str,
                   days_overdue: int, reason: dict[str, Any], rule: dict[str, Any],
                   input_events: list[str], envelope: EnvelopeDict) -> None:
        if not hasattr(self, "escalations"):
            self.escalations = {}
        self.escalations[step] = level
