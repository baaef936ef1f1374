"""Routing a matter to the forum that decides it: ``matter.routing@1``.

Source (the seed text, "强化督查体系"), three sentences in a row:

    对应当由居委、物业公司或业委会共同处理的事项,由“四位一体”会议商定解决处理。
    对居委管理、建设、服务、治安等领域中,涉及全体居民公共利益的事项,按居委重大事项决策程序由居委自治处置。
    对属于职责交叉、部门协作的事项,由居委会党建联建联席会议处置。

The text lists three kinds of matter and no order among them; a matter can fit more than one, so
the ledger needs a precedence. The reading adopted here, one route per matter:

1. ``party_building_joint_meeting`` first: overlapping duties (职责交叉), or work across
   departments (部门协作), which the ledger takes as ``several_departments_from`` (2) or more
   departments involved or named among the bodies to act. Only that meeting brings the
   departments to the table; neither the four parties nor the residents' committee alone can
   bind a department, so such a matter goes there whatever else is true of it.
2. ``four_in_one`` for a matter the owners' committee or the property firm must act on (the
   first sentence: to be handled together by the residents' committee, the property firm or the
   owners' committee). This comes before residents'-committee autonomy by default
   (``joint_handling_precedes_autonomy``): "自治处置" is the residents' committee deciding on its
   own, which it cannot do for a matter that needs the firm or the owners' committee to act;
   their meeting exists for exactly that. Setting the parameter to false gives the other
   reading, autonomy before joint handling.
3. ``rc_autonomous``: public interest of all residents in the residents' committee's fields
   (management, building, service, public order). The party organisation acting alongside does
   not change this (it leads the committee's major-matter procedure), nor does a single
   department helping (条块配合, not 部门协作).
4. ``four_in_one`` by default: the four parties meet to "共同协商处理社区事务" (consult together and
   handle community affairs), so a matter no sentence above claims is theirs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from . import Reason, Rule, RuleModel, register

__all__ = [
    "CLAUSES",
    "MATTER_ROUTING",
    "MatterAttributes",
    "MatterField",
    "Route",
    "RoutingDecision",
    "RoutingParameters",
    "RoutingReason",
    "decide_routing",
]

Body = Annotated[
    str,
    StringConstraints(
        pattern=(
            r"^(residents_committee|owners_committee|property_firm|party_org"
            r"|department:[a-z][a-z0-9_]*)$"
        )
    ),
]
"""A body that is to act: one of the four parties, or ``department:<code>`` (lower-case code)."""

MatterField = Literal["management", "building", "service", "public_order", "other"]
"""The matter's field; the first four are the residents' committee's (管理、建设、服务、治安)."""

Route = Literal["party_building_joint_meeting", "rc_autonomous", "four_in_one"]
"""Where the matter is decided."""

RoutingReason = Literal[
    "overlapping_duties",
    "several_departments",
    "joint_handling",
    "public_interest_of_all_residents",
    "default",
]
"""Why: which sentence of the text applies (``default``: none claims it)."""

_RC_FIELDS: frozenset[str] = frozenset({"management", "building", "service", "public_order"})

_JOINT_BODIES: frozenset[str] = frozenset({"owners_committee", "property_firm"})


class MatterAttributes(RuleModel):
    """The matter's declared attributes, as whoever registers the matter states them."""

    bodies_to_act: tuple[Body, ...] = ()
    """Who must act on it; stored sorted, without repeats."""
    public_interest_all_residents: bool = False
    """Whether it concerns the public interest of all residents (涉及全体居民公共利益)."""
    field: MatterField
    """Its field."""
    departments_involved: int = Field(default=0, ge=0)
    """How many town departments it involves."""
    overlapping_duties: bool = False
    """Whether duties overlap (职责交叉)."""

    @field_validator("bodies_to_act")
    @classmethod
    def _canonical_bodies(cls, bodies: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted(set(bodies)))

    def department_count(self) -> int:
        """Departments concerned: the declared count, or the departments named to act if more."""
        named = sum(1 for body in self.bodies_to_act if body.startswith("department:"))
        return max(self.departments_involved, named)


class RoutingParameters(RuleModel):
    """Parameters of ``matter.routing@1``."""

    several_departments_from: int = Field(
        default=2,
        ge=1,
        description="This many departments or more make a matter one of departmental cooperation.",
    )
    joint_handling_precedes_autonomy: bool = Field(
        default=True,
        description=(
            "A matter the property firm or owners' committee must act on goes to the four-in-one "
            "meeting even when it is of public interest to all residents."
        ),
    )


class RoutingDecision(RuleModel):
    """Decision of ``matter.routing@1``."""

    route: Route
    """Where the matter is decided."""
    reason: Reason
    """Why, as a ``RoutingReason`` code with English and Chinese text."""
    clause_zh: str
    """The sentence of the source text applied, quoted."""
    clause_en: str
    """The same sentence in English."""
    also_matched: tuple[RoutingReason, ...]
    """Other sentences that fit the matter but yield to the one applied, in precedence order."""


_JOINT_MEETING_CLAUSE = (
    "对属于职责交叉、部门协作的事项,由居委会党建联建联席会议处置。",
    "Matters of overlapping duties or departmental cooperation are handled by the residents' "
    "committee's party-building joint meeting.",
)

CLAUSES: dict[RoutingReason, tuple[str, str]] = {
    "overlapping_duties": _JOINT_MEETING_CLAUSE,
    "several_departments": _JOINT_MEETING_CLAUSE,
    "joint_handling": (
        "对应当由居委、物业公司或业委会共同处理的事项,由“四位一体”会议商定解决处理。",
        "Matters to be handled together by the residents' committee, the property firm or the "
        "owners' committee are settled by the four-in-one meeting.",
    ),
    "public_interest_of_all_residents": (
        "对居委管理、建设、服务、治安等领域中,涉及全体居民公共利益的事项,"
        "按居委重大事项决策程序由居委自治处置。",
        "Matters in the residents' committee's fields of management, building, service and "
        "public order that concern the public interest of all residents are decided autonomously "
        "by the residents' committee under its major-matter decision procedure.",
    ),
    "default": (
        "居民区党组织、居委会、业委会和物业公司定期召开协商会议,共同协商处理社区事务,"
        "共同参与社区建设,共同开展社区服务",
        "The party organisation, residents' committee, owners' committee and property firm meet "
        "regularly to consult on and handle community affairs together.",
    ),
}
"""Per reason: the quoted Chinese sentence of the source text and its English rendering."""

_ROUTES: dict[RoutingReason, Route] = {
    "overlapping_duties": "party_building_joint_meeting",
    "several_departments": "party_building_joint_meeting",
    "joint_handling": "four_in_one",
    "public_interest_of_all_residents": "rc_autonomous",
    "default": "four_in_one",
}

_EXPLANATIONS: dict[RoutingReason, tuple[str, str]] = {
    "overlapping_duties": (
        "duties overlap: the party-building joint meeting decides",
        "职责交叉,由居委会党建联建联席会议处置",
    ),
    "several_departments": (
        "several departments must cooperate: the party-building joint meeting decides",
        "涉及多个部门协作,由居委会党建联建联席会议处置",
    ),
    "joint_handling": (
        "the property firm or owners' committee must act: the four-in-one meeting decides",
        "需物业公司或业委会共同处理,由“四位一体”会议商定解决处理",
    ),
    "public_interest_of_all_residents": (
        "public interest of all residents in the residents' committee's field: "
        "the residents' committee decides under its major-matter procedure",
        "涉及全体居民公共利益,按居委重大事项决策程序由居委自治处置",
    ),
    "default": (
        "no special rule applies: the four-in-one meeting handles it as a community affair",
        "无其他规定适用,由“四位一体”会议共同协商处理",
    ),
}


def _matches(matter: MatterAttributes, params: RoutingParameters) -> list[RoutingReason]:
    """Every reason that fits, in precedence order; ``default`` always fits, last."""
    bodies = set(matter.bodies_to_act)
    joint = bool(bodies & _JOINT_BODIES)
    public = matter.public_interest_all_residents and matter.field in _RC_FIELDS
    found: list[RoutingReason] = []
    if matter.overlapping_duties:
        found.append("overlapping_duties")
    if matter.department_count() >= params.several_departments_from:
        found.append("several_departments")
    if params.joint_handling_precedes_autonomy:
        found += ["joint_handling"] if joint else []
        found += ["public_interest_of_all_residents"] if public else []
    else:
        found += ["public_interest_of_all_residents"] if public else []
        found += ["joint_handling"] if joint else []
    found.append("default")
    return found


def decide_routing(inputs: MatterAttributes, params: RoutingParameters) -> RoutingDecision:
    """The one forum that decides the matter, the reason, and the sentence of the text applied."""
    matched = _matches(inputs, params)
    chosen = matched[0]
    clause_zh, clause_en = CLAUSES[chosen]
    en, zh = _EXPLANATIONS[chosen]
    return RoutingDecision(
        route=_ROUTES[chosen],
        reason=Reason(code=chosen, en=en, zh=zh),
        clause_zh=clause_zh,
        clause_en=clause_en,
        also_matched=tuple(reason for reason in matched[1:] if reason != "default"),
    )


MATTER_ROUTING = register(
    Rule(
        rule_id="matter.routing",
        version=1,
        Inputs=MatterAttributes,
        Parameters=RoutingParameters,
        Decision=RoutingDecision,
        function=decide_routing,
        summary=(
            "Route a matter: party-building joint meeting, residents' committee, or four-in-one."
        ),
    )
)
