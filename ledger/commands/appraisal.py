"""Commands of the year-end appraisal (年末考核): the appraisal year of a town, firms' scores and
owners' satisfaction, closing (which runs the rules), objections, reopening, evaluations of
owners' committees, resident representatives' appraisal, commendations, social organisations,
rewards and penalties, and the town's indicators.

Scores and percentages are exact decimals from 0 to 100 with at most two places, given as
strings (``"59.99"``) or integers; a floating-point number is refused.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from ledger.commands.owners import OcKey
from ledger.kernel.command import (
    Command,
    CommunityCode,
    Name,
    PersonId,
    Ref,
    Text,
    TownCode,
    register,
)
from ledger.kernel.decimals import json_schema, make_parser
from ledger.kernel.i18n import _
from ledger.rules import Percentage, Score
from ledger.rules.credit_code import CreditCode

#: An appraisal year, e.g. 2025.
Year = Annotated[int, Field(ge=2000, le=2200)]
#: An indicator code, e.g. ``resolution_completion``.
IndicatorCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
#: A party appraised: ``party_org``, ``residents_committee``, ``owners_committee``,
#: ``property_firm``, ``department:<code>``, ``social_organisation``, ``volunteer``…
Party = Annotated[str, Field(pattern=r"^[a-z][a-z_]*(:[a-z][a-z0-9_]*)?$", max_length=80)]
Rating = Literal["excellent", "good", "fair", "poor"]


class _YearCommand(Command):
    """A command on one appraisal year: town and year."""

    town: TownCode = "ZQ"
    year: Year

    @property
    def key(self) -> str:
        """The appraisal year's key, ``<town>/<year>``."""
        return f"{self.town}/{self.year}"


_FUNDING = {"minimum": Decimal(0), "maximum": Decimal(10) ** 12, "places": 2}
_WEIGHT = {"minimum": Decimal(0), "maximum": Decimal(100), "places": 2}
_VALUE = {"minimum": Decimal(-(10 ** 9)), "maximum": Decimal(10 ** 9), "places": 4}
#: Funding support in yuan: 0 to 10^12, at most two places; decimal text or an integer.
Funding = Annotated[Decimal, BeforeValidator(make_parser(**_FUNDING, what="amounts")),
                    WithJsonSchema(json_schema(**_FUNDING, description="Funding support in "
                                               "yuan: decimal text (at most two places) or an "
                                               "integer, 0 to 10^12; no floats, no exponent"))]
#: An indicator's weight: 0 to 100, at most two places.
Weight = Annotated[Decimal, BeforeValidator(make_parser(**_WEIGHT, what="weights")),
                   WithJsonSchema(json_schema(**_WEIGHT, description="Weight 0 to 100: decimal "
                                              "text (at most two places) or an integer; no "
                                              "floats, no exponent"))]
#: An entered indicator value: -10^9 to 10^9, at most four places.
IndicatorValue = Annotated[
    Decimal, BeforeValidator(make_parser(**_VALUE, what="values")),
    WithJsonSchema(json_schema(**_VALUE, description="Indicator value, -10^9 to 10^9: decimal "
                               "text (at most four places) or an integer; no floats, no "
                               "exponent"))]

@register
class OpenYear(_YearCommand):
    """Open a town's year-end appraisal of a year."""

    type: Literal["appraisal.open_year"] = "appraisal.open_year"


@register
class RecordFirmScore(_YearCommand):
    """Record (or, while the year is open, correct) a property firm's annual score, 0-100."""

    type: Literal["appraisal.record_firm_score"] = "appraisal.record_firm_score"
    firm: CreditCode
    score: Score
    appraising_body: Name = Field(description="Who appraised, e.g. 镇房管办考核组")
    note: Text = ""


@register
class RecordSatisfaction(_YearCommand):
    """Record (or correct) a firm's owners' satisfaction rate in percent, with the survey's
    sample size."""

    type: Literal["appraisal.record_satisfaction"] = "appraisal.record_satisfaction"
    firm: CreditCode
    percent: Percentage
    sample_size: int = Field(ge=1, le=10_000_000, description="Owners surveyed")
    survey: Ref = Field(description="The survey (document or reference)")


@register
class CloseYear(_YearCommand):
    """Close the year: run firm.appraisal@1 once and record its outcomes on the year and the
    firms (interview and written warning, elimination list, follow-up task, ban, report)."""

    type: Literal["appraisal.close_year"] = "appraisal.close_year"
    system_allowed: ClassVar[bool] = True


@register
class ReopenYear(_YearCommand):
    """Reopen a closed year for corrections, with the reason; closing again reruns the rules."""

    type: Literal["appraisal.reopen"] = "appraisal.reopen"
    reason: Annotated[str, Field(min_length=1, max_length=4000)]


@register
class RerunYear(_YearCommand):
    """Rerun a closed year (reopen and close it again) with the reason. With ``cascade``, every
    later closed year is rerun too, in order, under the new history, and records what changed;
    without it, the later years are marked stale."""

    type: Literal["appraisal.rerun"] = "appraisal.rerun"
    reason: Annotated[str, Field(min_length=1, max_length=4000)]
    cascade: bool = False


@register
class FileObjection(_YearCommand):
    """A graded firm objects to its outcome, within the town's objection period."""

    type: Literal["appraisal.file_objection"] = "appraisal.file_objection"
    firm: CreditCode
    text: Annotated[str, Field(min_length=1, max_length=4000)]
    community: CommunityCode | None = Field(
        default=None, description="When the firm's project manager files it: the community "
                                  "whose manager post they act in")


@register
class AnswerObjection(_YearCommand):
    """Answer an objection: upheld (a correction follows by reopening) or dismissed."""

    type: Literal["appraisal.answer_objection"] = "appraisal.answer_objection"
    objection: Annotated[str, Field(pattern=r"^OBJ-[0-9]{4}-[0-9]+$")]
    decision: Literal["upheld", "dismissed"]
    answer: Annotated[str, Field(min_length=1, max_length=4000)]


@register
class FinaliseYear(_YearCommand):
    """Finalise a closed year after its objection period, every objection answered."""

    type: Literal["appraisal.finalise"] = "appraisal.finalise"


class Criteria(BaseModel):
    """Owners'-committee evaluation on the criteria of DOMAIN §3, each 0-100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    safe_community_cooperation: Score
    maintenance_fund_use: Score
    public_revenue_use: Score
    firm_supervision: Score
    dispute_mediation: Score


@register
class EvaluateOwnersCommittee(_YearCommand):
    """Evaluate an owners' committee on the DOMAIN §3 criteria (overall: their mean)."""

    type: Literal["appraisal.evaluate_oc"] = "appraisal.evaluate_oc"
    oc: OcKey
    criteria: Criteria
    comment: Text = ""


class RepresentativeRating(BaseModel):
    """One resident representative's rating of a party."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    appraiser: PersonId
    rating: Rating


@register
class RecordResidentAppraisal(_YearCommand):
    """Record the resident representatives' appraisal of one party in one community; every
    appraiser must hold resident_representative@<community> at the time."""

    type: Literal["appraisal.resident_appraisal"] = "appraisal.resident_appraisal"
    community: CommunityCode
    party: Party
    ratings: Annotated[tuple[RepresentativeRating, ...], Field(min_length=1, max_length=500)]

    @field_validator("ratings")
    @classmethod
    def _once_each(cls, ratings: tuple[RepresentativeRating, ...],
                   ) -> tuple[RepresentativeRating, ...]:
        people = [r.appraiser for r in ratings]
        twice = sorted({p for p in people if people.count(p) > 1})
        if twice:
            raise ValueError(_("appraiser(s) rating more than once: {twice}").format(
                                 twice=', '.join(twice)))
        return ratings


@register
class CommendThreeHeads(_YearCommand):
    """Commend a party-group leader, resident-group leader or building leader (创先争优)."""

    type: Literal["appraisal.commend"] = "appraisal.commend"
    community: CommunityCode
    person: PersonId
    head_post: str = Field(max_length=200,
                           description="The three-heads post held, e.g. building_leader@ZQ-001/B1")
    title: Name
    reason: Text = ""


@register
class EvaluateSocialOrganisation(_YearCommand):
    """Evaluate a social organisation serving a community (rating, funding support, honour)."""

    type: Literal["appraisal.evaluate_social_org"] = "appraisal.evaluate_social_org"
    community: CommunityCode
    organisation: Name
    rating: Rating
    funding: Funding | None = None
    honour: Annotated[str, Field(max_length=200)] = ""
    comment: Text = ""


@register
class RecordRewardOrPenalty(_YearCommand):
    """Record a reward or a penalty that follows the appraisal, for one party."""

    type: Literal["appraisal.reward_penalty"] = "appraisal.reward_penalty"
    party: Annotated[str, Field(min_length=1, max_length=200,
                                description="Who: a body, a firm's credit code, an owners' "
                                            "committee, a person id")]
    community: CommunityCode | None = None
    kind: Literal["reward", "penalty"]
    measure: Annotated[str, Field(min_length=1, max_length=500)]
    reason: Text = ""


@register
class DefineIndicator(_YearCommand):
    """Define one of the town's indicators (平安社区协同治理指标) for the year."""

    type: Literal["appraisal.define_indicator"] = "appraisal.define_indicator"
    code: IndicatorCode
    name_zh: Name
    name_en: Name
    unit: Annotated[str, Field(min_length=1, max_length=20)]
    weight: Weight
    source: Literal["ledger", "entered"]
    measure: IndicatorCode | None = Field(
        default=None, description="For source=ledger: the calculator (see appraisal indicators)")


@register
class RecordIndicatorValue(_YearCommand):
    """Record the value of an entered indicator for one community."""

    type: Literal["appraisal.record_indicator"] = "appraisal.record_indicator"
    code: IndicatorCode
    community: CommunityCode
    value: IndicatorValue
    note: Text = ""
