"""Commands for problem cases, responsibility lists, warnings and the five template documents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ledger.kernel.command import (
    Code,
    Command,
    CommunityCode,
    Day,
    Name,
    Ref,
    Text,
    TownCode,
    describe_pattern,
    register,
)
from ledger.kernel.i18n import _

#: The form of a case reference: ``<town>-<year>-<six digits>``, e.g. ``ZQ-2025-000123``.
CASE_REF = r"^[A-Z][A-Z0-9]{1,15}-[0-9]{4}-[0-9]{6}$"
#: A case reference (``CASE_REF``); a wrong one is refused naming the form, not the pattern.
CaseRef = Annotated[str, Field(pattern=CASE_REF)]
describe_pattern(CASE_REF, "a case reference is <TOWN>-<YEAR>-<six digits>, e.g. "
                           "ZQ-2025-000123")
Channel = Literal["hotline", "street_patrol", "rc_report"]
ProblemType = Literal["illegal_construction", "group_renting", "unlicensed_business", "other"]
Stage = Literal["source_control", "classified_management", "consolidation"]
Level = Literal["orange", "red", "black"]
#: A party a duty belongs to: a department (``department:<code>``) or the residents' committee.
Party = Annotated[str, Field(pattern=r"^(residents_committee|department:[a-z][a-z0-9_]*)$")]
Evidence = Annotated[list[Ref], Field(max_length=50)]


def town_of_case(ref: str) -> str:
    """The town code a case reference starts with (``ZQ-2025-000001`` → ``ZQ``)."""
    return ref.split("-", 1)[0]


class Caller(BaseModel):
    """A hotline caller's personal data, kept minimal (name and phone only)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: Name | None = None
    phone: str | None = Field(default=None, pattern=r"^[0-9+\- ]{3,20}$")
    subject: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
        description="Data-subject id for the caller's key (e.g. the hotline's caller id); "
                    "default one subject per case, S-<case ref>")


class CaseCommand(Command):
    """A command on one case (its reference in ``ref``)."""

    ref: CaseRef


@register
class ReceiveCase(Command):
    """Receive a case from the hotline, a street patrol or a residents'-committee report."""

    type: Literal["case.receive"] = "case.receive"
    ref: CaseRef | None = Field(
        default=None, description="The case reference; omitted: the next number of the "
                                  "town's sequence for the year of occurred_at, given when "
                                  "the case is recorded (ZQ-2025-000001, ZQ-2025-000002, …)")
    community: CommunityCode
    channel: Channel
    problem_type: ProblemType
    stage: Stage = "classified_management"
    location: Text = ""
    description: Text = Field(min_length=1)
    caller: Caller | None = Field(
        default=None, description="Hotline caller (name, phone): personal data, kept minimal")

    @model_validator(mode="after")
    def _caller_only_for_the_hotline(self) -> ReceiveCase:
        if self.caller is not None and self.channel != "hotline":
            raise ValueError(_("caller: only hotline cases record a caller (personal data is kept to what "
                               "the channel needs)"))
        return self


@register
class AcceptCase(CaseCommand):
    """Accept a received case at intake."""

    type: Literal["case.accept"] = "case.accept"
    note: Text = ""


@register
class RejectCase(CaseCommand):
    """Reject a received case at intake, with the reason."""

    type: Literal["case.reject"] = "case.reject"
    reason: Text = Field(min_length=1)


@register
class AssessCase(CaseCommand):
    """Assess (研判) a case as single-department or multi-department."""

    type: Literal["case.assess"] = "case.assess"
    mode: Literal["single", "multi"]
    reason: Text = ""


@register
class DispatchCase(CaseCommand):
    """Dispatch a case: to one department, or (multi) to several under the joint-enforcement
    office."""

    type: Literal["case.dispatch"] = "case.dispatch"
    departments: list[Code] = Field(min_length=1, max_length=12)
    note: Text = ""


@register
class AcknowledgeCase(CaseCommand):
    """The department (or the joint-enforcement office) acknowledges a dispatched case."""

    type: Literal["case.acknowledge"] = "case.acknowledge"


@register
class ReturnCase(CaseCommand):
    """The department returns a dispatched case as not its own (back to assessment)."""

    type: Literal["case.return"] = "case.return"
    reason: Text = Field(min_length=1)


@register
class PlanCase(CaseCommand):
    """The joint-enforcement office's joint plan: one sub-task per dispatched department."""

    type: Literal["case.plan"] = "case.plan"
    subtasks: dict[Code, Text] = Field(min_length=2)


@register
class InspectCase(CaseCommand):
    """Record an inspection of the case: findings and evidence references."""

    type: Literal["case.inspect"] = "case.inspect"
    findings: Text = Field(min_length=1)
    evidence: Evidence = Field(default_factory=list)


@register
class RectifyCase(CaseCommand):
    """Record the rectification plan and its deadline."""

    type: Literal["case.rectify"] = "case.rectify"
    plan: Text = Field(min_length=1)
    deadline: Day


@register
class FeedbackCase(CaseCommand):
    """The handler reports the result (feedback)."""

    type: Literal["case.feedback"] = "case.feedback"
    result: Text = Field(min_length=1)
    evidence: Evidence = Field(default_factory=list)


@register
class VerifyCase(CaseCommand):
    """Verify the reported result (someone other than the handlers)."""

    type: Literal["case.verify"] = "case.verify"
    note: Text = ""


@register
class CloseCase(CaseCommand):
    """Close a verified case (someone other than the handlers)."""

    type: Literal["case.close"] = "case.close"
    note: Text = ""


@register
class CallbackCase(CaseCommand):
    """Record the callback to the reporter: satisfied or not."""

    type: Literal["case.callback"] = "case.callback"
    satisfied: bool
    note: Text = ""


@register
class ReopenCase(CaseCommand):
    """Reopen a closed case (after a dissatisfied callback, or when the problem returns)."""

    type: Literal["case.reopen"] = "case.reopen"
    reason: Text = Field(min_length=1)


@register
class MergeCase(CaseCommand):
    """Merge a duplicate report (``ref``) into another open case (``into``)."""

    type: Literal["case.merge"] = "case.merge"
    into: CaseRef


@register
class SuperviseCase(CaseCommand):
    """Record coordination and supervision (督办) of a case, typically an overdue one."""

    type: Literal["case.supervise"] = "case.supervise"
    instruction: Text = Field(min_length=1)
    deadline: Day | None = Field(default=None, description="New deadline for the current step")


# ---------------------------------------------------------------------- responsibility lists
class Duty(BaseModel):
    """One duty in a responsibility list."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    code: Code
    text: Text = Field(min_length=1)


class DutyEntry(BaseModel):
    """The duties of one party for one problem type in one stage."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    problem_type: ProblemType
    stage: Stage
    party: Party
    duties: list[Duty] = Field(min_length=1)


@register
class IssueDuties(Command):
    """Issue a new version of the town's responsibility lists (工作清单)."""

    type: Literal["duty.issue"] = "duty.issue"
    town: TownCode
    entries: list[DutyEntry] = Field(min_length=1, max_length=500)
    effective_from: Day | None = None


@register
class RecordDutyFailure(Command):
    """Record that a party failed a listed duty (履责不力), citing the duty."""

    type: Literal["duty.record_failure"] = "duty.record_failure"
    party: Party
    community: CommunityCode
    problem_type: ProblemType
    stage: Stage
    duty: Code = Field(description="Code of the duty in the list in force")
    case: CaseRef | None = None
    description: Text = Field(min_length=1)


# ---------------------------------------------------------------------- warnings
class WarningCommand(Command):
    """A command on the warning of one community for one problem type."""

    community: CommunityCode
    problem_type: ProblemType
    reason: Text = ""
    evidence: Evidence = Field(default_factory=list)


@register
class RaiseWarning(WarningCommand):
    """Raise a warning (orange, red or black) on a community for a problem type."""

    type: Literal["warning.raise"] = "warning.raise"
    level: Level


@register
class EscalateWarning(WarningCommand):
    """Escalate a warning to a more severe colour."""

    type: Literal["warning.escalate"] = "warning.escalate"
    level: Level


@register
class DeescalateWarning(WarningCommand):
    """De-escalate a warning to a milder colour."""

    type: Literal["warning.deescalate"] = "warning.deescalate"
    level: Level


@register
class LiftWarning(WarningCommand):
    """Lift a warning (no warning any more)."""

    type: Literal["warning.lift"] = "warning.lift"


@register
class FulfilMeasure(Command):
    """Record that a measure mandated by a warning was taken."""

    type: Literal["warning.measure"] = "warning.measure"
    community: CommunityCode
    problem_type: ProblemType
    measure: Code = Field(description="Measure code, e.g. rectification_plan")
    note: Text = ""
    evidence: Evidence = Field(default_factory=list)
    person: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")] | None = Field(
        default=None, description="Who was sent (on-site supervision, stationed team)")
    outcome: Literal["improved", "not_improved"] | None = Field(
        default=None, description="Review of a black warning: clear improvement or not")
    third_party: Name | None = Field(
        default=None, description="Third-party force engaged for patrol control")


# ---------------------------------------------------------------------- template documents
class TemplateModel(BaseModel):
    """Base of the template documents' fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AnalysisReview(TemplateModel):
    """分析点评: analysis of a period's situation and a review of how parties performed."""

    period: Annotated[str, Field(min_length=1, max_length=50)]
    situation: Text = Field(min_length=1)
    analysis: Text = Field(min_length=1)
    comments: Text = Field(min_length=1)


class AssessmentWarning(TemplateModel):
    """研判预警: assessment of a risk and the warning it calls for."""

    problem_type: ProblemType
    assessment: Text = Field(min_length=1)
    suggested_level: Literal["none", "orange", "red", "black"]
    recommendation: Text = Field(min_length=1)


class AdviceGuidance(TemplateModel):
    """建议指导: advice and guidance to a party."""

    addressee: Annotated[str, Field(min_length=1, max_length=200)]
    advice: Text = Field(min_length=1)
    references: list[Ref] = []


class CoordinationSupervision(TemplateModel):
    """协调督办: a matter put under coordination and supervision, with a deadline."""

    supervised_party: Annotated[str, Field(min_length=1, max_length=200)]
    matter: Text = Field(min_length=1)
    requirement: Text = Field(min_length=1)
    deadline: Day


class NotificationFeedback(TemplateModel):
    """通报反馈: a notification to an audience and the feedback received."""

    audience: Annotated[str, Field(min_length=1, max_length=200)]
    content: Text = Field(min_length=1)
    feedback: Text = ""


#: The five template documents by code.
TEMPLATES: dict[str, type[TemplateModel]] = {
    "analysis_review": AnalysisReview,
    "assessment_warning": AssessmentWarning,
    "advice_guidance": AdviceGuidance,
    "coordination_supervision": CoordinationSupervision,
    "notification_feedback": NotificationFeedback,
}

TemplateCode = Literal["analysis_review", "assessment_warning", "advice_guidance",
                       "coordination_supervision", "notification_feedback"]


@register
class FileDocument(Command):
    """File one of the five template documents on a case or on a community."""

    type: Literal["document.file"] = "document.file"
    template: TemplateCode
    case: CaseRef | None = None
    community: CommunityCode | None = None
    problem_type: ProblemType | None = None
    fields: dict[str, Any]

    def document(self) -> dict[str, Any]:
        """The fields as the template reads them (normalised JSON values)."""
        return TEMPLATES[self.template].model_validate(self.fields).model_dump(mode="json")

    @model_validator(mode="after")
    def _target_and_fields(self) -> FileDocument:
        if (self.case is None) == (self.community is None):
            raise ValueError(_("give exactly one of case or community"))
        try:
            TEMPLATES[self.template].model_validate(self.fields)
        except ValidationError as e:
            parts = [f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
                     for err in e.errors(include_url=False)]
            raise ValueError(f"{self.template} fields: " + "; ".join(parts)) from None
        return self
