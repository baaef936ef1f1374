"""Year-end rules for property firms: ranking, bottom three, elimination list.

Source (the seed text, "强化物业服务企业的监管考核"):

    考核居末三位的物业企业,约谈企业负责人并提出书面警告,对于当年度考核分低于60分并且业主满意度低于50%的
    或连续两年考核居未三位的物业企业,列入淘汰名单,会同法律顾问,指导业委会依法解除服务合同。

("居未三位" is a misprint of "居末三位", the bottom three, named a few words earlier.)

Readings adopted where the text is silent (all in DOMAIN §4, all configurable by parameters):

- Ranking (``firm.ranking@1``): score descending, then satisfaction descending, so of two firms
  with the same score the one with lower satisfaction ranks lower. Firms equal on both share a
  rank, and the next rank skips ("competition ranking": 1, 2, 2, 4). Listing order within a shared
  rank is by firm id, only so that the output is deterministic.
- Bottom three (``firm.bottom_three@1``): applies only when more than ``min_graded_exclusive`` (3)
  firms were graded that year; otherwise nobody is in it. Firms tied at the boundary are all in:
  a firm is in the bottom ``size`` exactly when fewer than ``size`` graded firms rank strictly
  below it. So the set can exceed ``size`` (with everyone tied, everyone is in).
- Elimination (``firm.elimination@1``): "below" is strict (exactly 60 points, or exactly 50 %, is
  not below), and both conditions must hold. "Two years running" means the current appraisal year
  and the calendar year(s) just before it were each graded years in which the firm was in the
  bottom three; a missing year, a year the firm was not graded, or a year in which the bottom
  three did not apply (three or fewer firms graded) breaks the run.

``appraise_year`` (registered as ``firm.appraisal@1``) runs the three rules on one appraisal year
and returns the three decisions together; ``firm.elimination@1`` takes the same inputs and
parameters, because it needs this year's bottom three.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from . import Percentage, Reason, Rule, RuleModel, Score, register

__all__ = [
    "FIRM_APPRAISAL",
    "FIRM_BOTTOM_THREE",
    "FIRM_ELIMINATION",
    "FIRM_RANKING",
    "AppraisalDecision",
    "AppraisalInputs",
    "BottomThreeDecision",
    "BottomThreeParameters",
    "EliminationDecision",
    "EliminationParameters",
    "FirmAction",
    "FirmAppraisalParameters",
    "FirmGrade",
    "FirmGrades",
    "FirmHistory",
    "FirmOutcome",
    "PastOutcome",
    "PastYear",
    "RankedFirm",
    "RankingDecision",
    "RankingParameters",
    "appraise_year",
    "decide_bottom_three",
    "decide_elimination",
    "decide_ranking",
]

FirmId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S(.*\S)?$")]
"""A firm's id in the ledger (its unified social credit code); no surrounding whitespace."""

Year = Annotated[int, Field(ge=1900, le=9999)]
"""A calendar appraisal year."""

PastOutcome = Literal["bottom_three", "not_bottom_three", "not_graded", "not_applicable"]
"""A firm's bottom-three outcome in a past year: in it, graded but not in it, not graded, or
graded in a year with too few firms for the bottom-three rule to apply."""

FirmAction = Literal["interview", "written_warning", "elimination_list"]
"""What follows for a firm: interview of its head (约谈), written warning (书面警告), elimination
list (淘汰名单)."""


# --- inputs ---------------------------------------------------------------------------------


class FirmGrade(RuleModel):
    """One firm's result in the year's graded appraisal."""

    firm_id: FirmId
    """The firm (its unified social credit code in the ledger)."""
    score: Score
    """Appraisal score, 0-100."""
    satisfaction: Percentage
    """Owners' satisfaction rate in percent, 0-100."""


def _sorted_unique_grades(grades: tuple[FirmGrade, ...]) -> tuple[FirmGrade, ...]:
    ids = [grade.firm_id for grade in grades]
    duplicates = sorted({firm_id for firm_id in ids if ids.count(firm_id) > 1})
    if duplicates:
        msg = f"firm(s) graded more than once: {', '.join(duplicates)}"
        raise ValueError(msg)
    return tuple(sorted(grades, key=lambda grade: grade.firm_id))


class FirmGrades(RuleModel):
    """The grades of every firm graded in one appraisal year (stored sorted by firm id)."""

    year: Year
    """The appraisal year."""
    grades: tuple[FirmGrade, ...]
    """One grade per graded firm; a firm may appear once."""

    @field_validator("grades")
    @classmethod
    def _canonical_grades(cls, grades: tuple[FirmGrade, ...]) -> tuple[FirmGrade, ...]:
        return _sorted_unique_grades(grades)


class PastYear(RuleModel):
    """A firm's bottom-three outcome in one earlier appraisal year."""

    year: Year
    """The earlier appraisal year."""
    outcome: PastOutcome
    """What that year's bottom-three rule found for the firm."""


class FirmHistory(RuleModel):
    """A firm's bottom-three outcomes in earlier years (stored sorted by year)."""

    firm_id: FirmId
    """The firm."""
    years: tuple[PastYear, ...] = ()
    """Outcomes by year; a year not listed counts as ``not_graded``."""

    @field_validator("years")
    @classmethod
    def _canonical_years(cls, years: tuple[PastYear, ...]) -> tuple[PastYear, ...]:
        listed = [past.year for past in years]
        duplicates = sorted({year for year in listed if listed.count(year) > 1})
        if duplicates:
            msg = f"year(s) listed more than once: {', '.join(map(str, duplicates))}"
            raise ValueError(msg)
        return tuple(sorted(years, key=lambda past: past.year))

    def outcome_in(self, year: int) -> PastOutcome:
        """The outcome recorded for ``year``; ``not_graded`` when the year is not listed."""
        for past in self.years:
            if past.year == year:
                return past.outcome
        return "not_graded"


class AppraisalInputs(RuleModel):
    """One appraisal year's grades plus the graded firms' earlier bottom-three outcomes."""

    year: Year
    """The appraisal year being decided."""
    grades: tuple[FirmGrade, ...]
    """Every firm graded this year, once each (stored sorted by firm id)."""
    history: tuple[FirmHistory, ...] = ()
    """Earlier outcomes of firms graded this year (stored sorted by firm id); a firm without an
    entry has no earlier graded year."""

    @field_validator("grades")
    @classmethod
    def _canonical_grades(cls, grades: tuple[FirmGrade, ...]) -> tuple[FirmGrade, ...]:
        return _sorted_unique_grades(grades)

    @field_validator("history")
    @classmethod
    def _canonical_history(cls, history: tuple[FirmHistory, ...]) -> tuple[FirmHistory, ...]:
        ids = [entry.firm_id for entry in history]
        duplicates = sorted({firm_id for firm_id in ids if ids.count(firm_id) > 1})
        if duplicates:
            msg = f"history given more than once for firm(s): {', '.join(duplicates)}"
            raise ValueError(msg)
        return tuple(sorted(history, key=lambda entry: entry.firm_id))

    @model_validator(mode="after")
    def _history_fits_the_year(self) -> AppraisalInputs:
        graded = {grade.firm_id for grade in self.grades}
        strangers = sorted(entry.firm_id for entry in self.history if entry.firm_id not in graded)
        if strangers:
            msg = (
                f"history names firm(s) not graded in {self.year}: {', '.join(strangers)}; "
                "give history only for this year's graded firms"
            )
            raise ValueError(msg)
        for entry in self.history:
            late = [past.year for past in entry.years if past.year >= self.year]
            if late:
                msg = (
                    f"history of {entry.firm_id} lists year(s) {', '.join(map(str, late))}, "
                    f"not before the appraisal year {self.year}"
                )
                raise ValueError(msg)
        return self

    def firm_grades(self) -> FirmGrades:
        """This year's grades alone, as the ranking and bottom-three rules take them."""
        return FirmGrades(year=self.year, grades=self.grades)


# --- parameters -----------------------------------------------------------------------------


class RankingParameters(RuleModel):
    """The ranking has no parameters: its order is fixed by the text and DOMAIN §4."""


class BottomThreeParameters(RuleModel):
    """Parameters of ``firm.bottom_three@1``."""

    size: int = Field(default=3, ge=1, description="How many of the lowest-ranked firms count.")
    min_graded_exclusive: int = Field(
        default=3,
        ge=0,
        description="The bottom three applies only when MORE than this many firms were graded.",
    )


class EliminationParameters(RuleModel):
    """The elimination thresholds of ``firm.elimination@1``."""

    score_below: Score = Field(
        default=Decimal(60),
        description="A score strictly below this (together with low satisfaction) eliminates.",
    )
    satisfaction_below: Percentage = Field(
        default=Decimal(50),
        description="Satisfaction strictly below this percentage (together with a low score).",
    )
    consecutive_years: int = Field(
        default=2,
        ge=1,
        description="Consecutive appraisal years in the bottom three that eliminate.",
    )


class FirmAppraisalParameters(RuleModel):
    """Parameters of ``firm.elimination@1`` and ``firm.appraisal@1``, grouped by rule."""

    bottom_three: BottomThreeParameters = Field(default_factory=BottomThreeParameters)
    """Parameters of the bottom-three rule."""
    elimination: EliminationParameters = Field(default_factory=EliminationParameters)
    """Elimination thresholds."""


# --- decisions ------------------------------------------------------------------------------


class RankedFirm(RuleModel):
    """A firm's place in the year's ranking."""

    firm_id: FirmId
    """The firm."""
    score: Score
    """Its score."""
    satisfaction: Percentage
    """Its owners' satisfaction in percent."""
    rank: int
    """Competition rank: 1 + the number of firms ranked strictly above it."""


class RankingDecision(RuleModel):
    """Decision of ``firm.ranking@1``."""

    year: Year
    """The appraisal year."""
    ranking: tuple[RankedFirm, ...]
    """Every graded firm, best first (firm id orders firms sharing a rank)."""


class BottomThreeDecision(RuleModel):
    """Decision of ``firm.bottom_three@1``."""

    year: Year
    """The appraisal year."""
    graded_count: int
    """How many firms were graded."""
    applies: bool
    """Whether the bottom-three rule applied (more than ``min_graded_exclusive`` graded)."""
    boundary_rank: int | None
    """Rank of the firm in ``size``-th place from the bottom; every firm at this rank or below
    is in the bottom three. ``None`` when the rule did not apply."""
    firm_ids: tuple[str, ...]
    """The firms in the bottom three, in ranking order; may exceed ``size`` on ties."""


class FirmOutcome(RuleModel):
    """Everything the year's appraisal decided for one firm."""

    firm_id: FirmId
    """The firm."""
    score: Score
    """Its score."""
    satisfaction: Percentage
    """Its owners' satisfaction in percent."""
    rank: int
    """Its competition rank."""
    bottom_three: bool
    """Whether it is in this year's bottom three."""
    consecutive_bottom_three_years: int
    """Unbroken run of bottom-three years ending with this one (0 when not in it this year)."""
    eliminated: bool
    """Whether it goes on the elimination list."""
    reasons: tuple[Reason, ...]
    """Codes ``bottom_three``, ``score_and_satisfaction_below``, ``bottom_three_consecutive``;
    the last two are the elimination reasons."""
    actions: tuple[FirmAction, ...]
    """What follows: interview and written warning for the bottom three, elimination list."""


class EliminationDecision(RuleModel):
    """Decision of ``firm.elimination@1``."""

    year: Year
    """The appraisal year."""
    firms: tuple[FirmOutcome, ...]
    """One outcome per graded firm, in ranking order."""
    eliminated: tuple[str, ...]
    """The firms put on the elimination list, in ranking order."""


class AppraisalDecision(RuleModel):
    """Decision of ``firm.appraisal@1``: the three year-end rules together."""

    year: Year
    """The appraisal year."""
    ranking: RankingDecision
    """``firm.ranking@1``."""
    bottom_three: BottomThreeDecision
    """``firm.bottom_three@1``."""
    elimination: EliminationDecision
    """``firm.elimination@1``."""


# --- the rules ------------------------------------------------------------------------------


def _order_key(grade: FirmGrade) -> tuple[Decimal, Decimal]:
    return (-grade.score, -grade.satisfaction)


def decide_ranking(inputs: FirmGrades, params: RankingParameters) -> RankingDecision:
    """Rank firms by score, then satisfaction, both descending; full ties share a rank."""
    del params  # no parameters
    ordered = sorted(inputs.grades, key=lambda grade: (*_order_key(grade), grade.firm_id))
    ranking: list[RankedFirm] = []
    for position, grade in enumerate(ordered, start=1):
        tied_with_previous = position > 1 and _order_key(ordered[position - 2]) == _order_key(grade)
        rank = ranking[-1].rank if tied_with_previous else position
        ranking.append(
            RankedFirm(
                firm_id=grade.firm_id,
                score=grade.score,
                satisfaction=grade.satisfaction,
                rank=rank,
            )
        )
    return RankingDecision(year=inputs.year, ranking=tuple(ranking))


def _bottom_from_ranking(
    year: int, ranking: Sequence[RankedFirm], params: BottomThreeParameters
) -> BottomThreeDecision:
    graded = len(ranking)
    if graded <= params.min_graded_exclusive:
        return BottomThreeDecision(
            year=year, graded_count=graded, applies=False, boundary_rank=None, firm_ids=()
        )
    boundary_position = max(graded - params.size, 0)  # 0-based index of the boundary firm
    boundary_rank = ranking[boundary_position].rank
    members = tuple(firm.firm_id for firm in ranking if firm.rank >= boundary_rank)
    return BottomThreeDecision(
        year=year,
        graded_count=graded,
        applies=True,
        boundary_rank=boundary_rank,
        firm_ids=members,
    )


def decide_bottom_three(inputs: FirmGrades, params: BottomThreeParameters) -> BottomThreeDecision:
    """The bottom ``size`` firms, ties at the boundary included, if enough firms were graded."""
    ranking = decide_ranking(inputs, RankingParameters()).ranking
    return _bottom_from_ranking(inputs.year, ranking, params)


def _number(value: Decimal) -> str:
    """A decimal as people write it: 60.00 -> '60', 59.50 -> '59.5'."""
    return format(value.normalize(), "f")


_ZH_DIGITS = "零一二三四五六七八九十"


def _zh_count(count: int) -> str:
    return _ZH_DIGITS[count] if 0 <= count <= 10 else str(count)


def _bottom_reason(year: int, size: int) -> Reason:
    return Reason(
        code="bottom_three",
        en=f"in the bottom {size} of the {year} appraisal: interview and written warning",
        zh=f"{year}年度考核居末{_zh_count(size)}位，约谈企业负责人并提出书面警告",
    )


def _low_score_reason(params: EliminationParameters) -> Reason:
    return Reason(
        code="score_and_satisfaction_below",
        en=(
            f"score below {_number(params.score_below)} and owners' satisfaction below "
            f"{_number(params.satisfaction_below)}%"
        ),
        zh=(
            f"得分低于{_number(params.score_below)}分且满意度低于"
            f"{_number(params.satisfaction_below)}%"
        ),
    )


def _consecutive_reason(count: int, size: int, first_year: int, year: int) -> Reason:
    return Reason(
        code="bottom_three_consecutive",
        en=f"in the bottom {size} for {count} consecutive appraisal years ({first_year}-{year})",
        zh=f"连续{count}年考核居末{_zh_count(size)}位",
    )


def _appraise(inputs: AppraisalInputs, params: FirmAppraisalParameters) -> AppraisalDecision:
    ranking = decide_ranking(inputs.firm_grades(), RankingParameters())
    bottom = _bottom_from_ranking(inputs.year, ranking.ranking, params.bottom_three)
    in_bottom = set(bottom.firm_ids)
    histories = {entry.firm_id: entry for entry in inputs.history}
    thresholds = params.elimination
    size = params.bottom_three.size
    outcomes: list[FirmOutcome] = []
    for firm in ranking.ranking:
        is_bottom = firm.firm_id in in_bottom
        run = 0
        if is_bottom:
            run = 1
            history = histories.get(firm.firm_id)
            while history is not None and history.outcome_in(inputs.year - run) == "bottom_three":
                run += 1
        reasons: list[Reason] = []
        actions: list[FirmAction] = []
        if is_bottom:
            reasons.append(_bottom_reason(inputs.year, size))
            actions += ["interview", "written_warning"]
        low_score = (
            firm.score < thresholds.score_below
            and firm.satisfaction < thresholds.satisfaction_below
        )
        if low_score:
            reasons.append(_low_score_reason(thresholds))
        repeated = run >= thresholds.consecutive_years
        if repeated:
            reasons.append(_consecutive_reason(run, size, inputs.year - run + 1, inputs.year))
        eliminated = low_score or repeated
        if eliminated:
            actions.append("elimination_list")
        outcomes.append(
            FirmOutcome(
                firm_id=firm.firm_id,
                score=firm.score,
                satisfaction=firm.satisfaction,
                rank=firm.rank,
                bottom_three=is_bottom,
                consecutive_bottom_three_years=run,
                eliminated=eliminated,
                reasons=tuple(reasons),
                actions=tuple(actions),
            )
        )
    elimination = EliminationDecision(
        year=inputs.year,
        firms=tuple(outcomes),
        eliminated=tuple(outcome.firm_id for outcome in outcomes if outcome.eliminated),
    )
    return AppraisalDecision(
        year=inputs.year, ranking=ranking, bottom_three=bottom, elimination=elimination
    )


def decide_elimination(
    inputs: AppraisalInputs, params: FirmAppraisalParameters
) -> EliminationDecision:
    """Who goes on the elimination list this year, and why, with each firm's rank and run."""
    return _appraise(inputs, params).elimination


def appraise_year(
    inputs: AppraisalInputs, params: FirmAppraisalParameters | None = None
) -> AppraisalDecision:
    """Run ranking, bottom three and elimination on one appraisal year (defaults if no params)."""
    return _appraise(inputs, FirmAppraisalParameters() if params is None else params)


FIRM_RANKING = register(
    Rule(
        rule_id="firm.ranking",
        version=1,
        Inputs=FirmGrades,
        Parameters=RankingParameters,
        Decision=RankingDecision,
        function=decide_ranking,
        summary="Rank the year's graded firms: score, then satisfaction, descending.",
    )
)

FIRM_BOTTOM_THREE = register(
    Rule(
        rule_id="firm.bottom_three",
        version=1,
        Inputs=FirmGrades,
        Parameters=BottomThreeParameters,
        Decision=BottomThreeDecision,
        function=decide_bottom_three,
        summary="The year's bottom three firms (interview and written warning).",
    )
)

FIRM_ELIMINATION = register(
    Rule(
        rule_id="firm.elimination",
        version=1,
        Inputs=AppraisalInputs,
        Parameters=FirmAppraisalParameters,
        Decision=EliminationDecision,
        function=decide_elimination,
        summary="The year's elimination list: low score and satisfaction, or bottom three twice.",
    )
)

FIRM_APPRAISAL = register(
    Rule(
        rule_id="firm.appraisal",
        version=1,
        Inputs=AppraisalInputs,
        Parameters=FirmAppraisalParameters,
        Decision=AppraisalDecision,
        function=_appraise,
        summary="Ranking, bottom three and elimination list of one appraisal year.",
    )
)
