"""Commands for owners' committees, property firms, tenders, contracts and the credit file.

Owners' committees are keyed ``<community>/<term>`` (``ZQ-001/2025``); property firms by their
unified social credit code (统一社会信用代码, GB 32100-2015). Amounts of money are exact
decimals in yuan with at most two places, given as strings (``"1234.50"``) or integers; a
floating-point number is refused so that no amount is ever rounded on the way in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    WithJsonSchema,
    model_validator,
)

from ledger.kernel.command import (
    Command,
    CommunityCode,
    Day,
    Name,
    PersonId,
    Ref,
    Text,
    TownCode,
    When,
    register,
)
from ledger.kernel.decimals import json_schema, make_parser
from ledger.kernel.i18n import _
from ledger.rules.credit_code import CreditCode

#: Largest amount accepted (yuan): a bound against typing slips, far above any real sum.
MAX_AMOUNT = Decimal("1000000000000000")


_parse_money = make_parser(minimum=Decimal(0), maximum=MAX_AMOUNT, places=2, what="amounts",
                           maximum_exclusive=True)
_MONEY_SCHEMA = json_schema(minimum=Decimal(0), maximum=MAX_AMOUNT, places=2,
                            maximum_exclusive=True,
                            description="An exact amount in yuan: decimal text with at most two "
                            "places (\"1234.50\") or an integer, 0 or more and below 10^15; no "
                            "floats, no exponent form")


#: An exact amount of money in yuan (at most two decimal places); never a float.
Money = Annotated[Decimal, BeforeValidator(_parse_money), WithJsonSchema(_MONEY_SCHEMA)]

#: A committee term label: the year it was elected, optionally suffixed (``2025``, ``2025B``).
Term = Annotated[str, Field(pattern=r"^[0-9]{4}[A-Za-z0-9-]{0,8}$")]
#: An owners'-committee key ``<community>/<term>``.
OcKey = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*-[0-9]{3,}/[0-9]{4}[A-Za-z0-9-]{0,8}$")]
#: A tender or contract reference chosen by the committee, e.g. ``T-ZQ001-2025``.
Reference = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$")]
#: An elected role in an owners' committee.
Role = Literal["director", "deputy_director", "member"]


class Member(BaseModel):
    """A person in a preparatory group or a temporary party organisation."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    person: PersonId
    name: Name
    role: Annotated[str, Field(max_length=100)] = ""


class _OcCommand(Command):
    oc: OcKey = Field(description="The owners' committee: <community>/<term>, e.g. ZQ-001/2025")

    @property
    def community(self) -> str:
        return self.oc.split("/", 1)[0]


@register
class FormPreparatoryGroup(Command):
    """The town forms an owners'-assembly preparatory group (or re-election group) and a
    temporary party organisation for one committee term."""

    type: Literal["oc.form_group"] = "oc.form_group"
    community: CommunityCode
    term: Term
    kind: Literal["formation", "re_election"] = "formation"
    previous: OcKey | None = Field(default=None,
                                   description="For a re-election: the committee it succeeds")
    group: list[Member] = Field(min_length=1, max_length=50)
    temporary_party_org: list[Member] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _previous_only_for_re_election(self) -> FormPreparatoryGroup:
        if self.previous and self.kind != "re_election":
            raise ValueError(_("'previous' names the committee a re-election succeeds; set kind to "
                               "re_election"))
        if self.previous and self.previous.split("/", 1)[0] != self.community:
            raise ValueError(_("previous committee {previous} is not of {community}").format(
                                 previous=self.previous, community=self.community))
        return self

    @property
    def key(self) -> str:
        return f"{self.community}/{self.term}"


@register
class NominateCandidate(_OcCommand):
    """Nominate a candidate for the owners' committee, recording the town's recommendation."""

    type: Literal["oc.nominate"] = "oc.nominate"
    person: PersonId
    person_name: Name
    role: Role = "member"
    recommended_by_town: bool = False
    recommendation: Ref | None = Field(default=None,
                                       description="The town's recommendation document")


@register
class RecordElection(_OcCommand):
    """Record the owners' assembly meeting and its election result."""

    type: Literal["oc.elect"] = "oc.elect"
    assembly_date: When
    owners_total: int = Field(gt=0, description="Owners entitled to vote")
    owners_voted: int = Field(ge=0, description="Owners who voted")
    votes: dict[PersonId, Annotated[int, Field(ge=0)]] = Field(min_length=1)
    elected: dict[PersonId, Role] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> RecordElection:
        if self.owners_voted > self.owners_total:
            raise ValueError(_("owners_voted {owners_voted} exceeds owners_total {owners_total}").format(
                                 owners_voted=self.owners_voted, owners_total=self.owners_total))
        directors = [p for p, r in self.elected.items() if r == "director"]
        if len(directors) != 1:
            raise ValueError(_("exactly one director must be elected, got {count}").format(
                                 count=len(directors)))
        for person in self.elected:
            if person not in self.votes:
                raise ValueError(_("{person} is elected but has no vote count in 'votes'").format(
                                     person=person))
        return self


@register
class StartTerm(_OcCommand):
    """Start the committee's term: the elected take their posts on the community roster."""

    type: Literal["oc.start_term"] = "oc.start_term"
    start: When | None = Field(default=None, description="Default: occurred_at")
    planned_end: Day | None = None


@register
class EndTerm(_OcCommand):
    """End the committee's term: its members leave their posts."""

    type: Literal["oc.end_term"] = "oc.end_term"
    end: When | None = Field(default=None, description="Default: occurred_at")
    reason: Text = ""


@register
class AdoptRules(_OcCommand):
    """The committee adopts the assembly's rules of procedure, the management convention or its
    own working rules (a document reference)."""

    type: Literal["oc.adopt_rules"] = "oc.adopt_rules"
    document: Literal["rules_of_procedure", "management_convention", "working_rules"]
    ref: Ref
    decision: Ref | None = Field(default=None, description="The assembly decision adopting it")


@register
class RecordFundUse(_OcCommand):
    """Record a use of the maintenance fund (维修资金) approved by the owners' assembly."""

    type: Literal["oc.record_fund_use"] = "oc.record_fund_use"
    amount: Money
    purpose: Annotated[str, Field(min_length=1, max_length=1000)]
    decision: Ref = Field(description="The assembly decision that approved it")


@register
class RecordRevenue(_OcCommand):
    """Record public revenue (公共收益) and what it is used for, approved by the assembly."""

    type: Literal["oc.record_revenue"] = "oc.record_revenue"
    amount: Money
    source: Annotated[str, Field(min_length=1, max_length=500)]
    purpose: Annotated[str, Field(max_length=1000)] = ""
    decision: Ref = Field(description="The assembly decision that approved it")


@register
class MediateDispute(_OcCommand):
    """Record an owners' dispute the committee mediated, and its outcome."""

    type: Literal["oc.mediate"] = "oc.mediate"
    dispute: Reference
    parties: list[Name] = Field(min_length=1, max_length=20)
    summary: Text
    outcome: Literal["settled", "not_settled", "referred"]


@register
class RegisterFirm(Command):
    """Register a property-management firm by its unified social credit code."""

    type: Literal["firm.register"] = "firm.register"
    code: CreditCode = Field(description="Unified social credit code (18 characters)")
    name: Name
    town: TownCode = "ZQ"
    head: PersonId
    head_name: Name


@register
class RecordElimination(Command):
    """Record that a firm was put on the town's elimination list by a rule outcome: credit
    record, town-wide bidding ban and report to the district credit platform."""

    type: Literal["firm.record_elimination"] = "firm.record_elimination"
    firm: CreditCode
    year: int = Field(ge=2000, le=2200)
    rule: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*@[0-9]+$")] = Field(
        description="Rule id@version, e.g. firm.elimination@1")
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    inputs: dict[str, JsonValue] = Field(default_factory=dict)
    reason: Text
    system_allowed: ClassVar[bool] = True


@register
class LaunchTender(_OcCommand):
    """The owners' committee launches a public tender for its community's property service."""

    type: Literal["tender.launch"] = "tender.launch"
    tender: Reference
    title: Name
    closes: Day | None = None


@register
class SubmitBid(_OcCommand):
    """Record a firm's bid in a tender; refused for a firm with a bidding ban."""

    type: Literal["tender.bid"] = "tender.bid"
    tender: Reference
    firm: CreditCode
    annual_fee: Money | None = Field(default=None, description="Fee offered per year (yuan)")


@register
class AwardTender(_OcCommand):
    """Award the tender to one of its bidders."""

    type: Literal["tender.award"] = "tender.award"
    tender: Reference
    firm: CreditCode
    decision: Ref = Field(description="The owners' assembly (or committee) decision")


@register
class SignContract(_OcCommand):
    """Sign the service contract with the firm that won the tender; its project manager takes
    the property-firm post in the community."""

    type: Literal["contract.sign"] = "contract.sign"
    contract: Reference
    tender: Reference
    firm: CreditCode
    start: Day
    end: Day
    annual_fee: Money
    manager: PersonId
    manager_name: Name

    @model_validator(mode="after")
    def _dates(self) -> SignContract:
        if self.end <= self.start:
            raise ValueError(_("end {end} is not after start {start}").format(
                                 end=self.end, start=self.start))
        return self


@register
class RenewContract(_OcCommand):
    """Renew a contract to a new end date (and fee)."""

    type: Literal["contract.renew"] = "contract.renew"
    contract: Reference
    firm: CreditCode
    end: Day
    annual_fee: Money | None = None
    decision: Ref = Field(description="The owners' assembly decision to renew")


@register
class TerminateContract(_OcCommand):
    """Terminate a contract: at expiry, by agreement, dismissal for non-performance by the
    owners' assembly, or after elimination under the town's legal counsel's guidance."""

    type: Literal["contract.terminate"] = "contract.terminate"
    contract: Reference
    firm: CreditCode
    effective: When | None = Field(default=None, description="Default: occurred_at")
    kind: Literal["expiry", "mutual", "dismissal", "elimination"]
    reason: Annotated[str, Field(min_length=1, max_length=4000)]
    decision: Ref | None = Field(default=None, description="The owners' assembly decision "
                                 "(required for a dismissal)")
    legal_counsel: PersonId | None = Field(
        default=None, description="The town's legal counsel who guided it (required after "
        "elimination)")

    @model_validator(mode="after")
    def _kind_needs(self) -> TerminateContract:
        if self.kind == "dismissal" and not self.decision:
            raise ValueError(_("a dismissal needs 'decision': the owners' assembly resolution"))
        if self.kind == "elimination" and not self.legal_counsel:
            raise ValueError(_("a termination after elimination needs 'legal_counsel': the town's legal "
                               "counsel who guided it"))
        return self


@register
class ContestTermination(_OcCommand):
    """Record that the termination of a contract is contested (the firm disputes the owners'
    committee's termination): who contests, on what grounds, with which filing. The
    termination stands; the contest is on record and shows on the elimination follow-up."""

    type: Literal["contract.contest_termination"] = "contract.contest_termination"
    contract: Reference
    firm: CreditCode
    contested_by: Name = Field(description="Who contests, e.g. the firm's name or its lawyer")
    grounds: Annotated[str, Field(min_length=1, max_length=4000)]
    document: Ref | None = Field(default=None, description="The filing (letter, lawsuit ref)")
