"""The three-level, three-colour warning: ``warning.suggest@1`` and ``warning.measures@1``.

Source (the seed text, "建立‘三级三色预警机制’"):

    对于橙色预警(关注级),实行定期抽查巡查实效;对于红色预警(警告级),将其列为重点关注对象,派员现场督导,
    协助制定整改方案;对于黑色预警(严重级),将其列为重点整治对象,由督导组蹲点开展督查指导整改,短期内无明显
    改善的,组织第三方力量开展巡查管控。

The text says what each level entails but not when a community reaches it. ``warning.suggest@1``
therefore only *suggests* a level from the community's case counts for one problem type; the
town sets the level by its own decision. A level is reached when any of its triggers fires
(a count at or above its threshold); the suggestion is the most severe level reached. Because
every trigger is "count >= threshold", the suggestion can only rise when any count rises.

Default triggers (a threshold of ``None`` means the count does not trigger that level):

==================  ======  ===  =====
count               orange  red  black
==================  ======  ===  =====
open_cases          3       6    10
overdue_cases       1       3    5
reopened_cases      -       1    2
duty_failures       1       2    4
==================  ======  ===  =====

Parameters are checked so that, per count, a more severe level never has a lower threshold than
a milder one (a mild level whose trigger could never be the deciding one is a setting mistake).

``warning.measures@1`` lists what must then happen, with due dates as day offsets from the
warning's effective date. Each level's measures come from the sentence above; a more severe
level does not repeat the milder levels' measures unless ``include_lower_levels`` is set
(on-site supervision replaces spot checks; a stationed team replaces on-site visits). The text's
"短期内" (within a short period) is ``black_review_after_days`` (30).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from . import Reason, Rule, RuleModel, register

__all__ = [
    "LEVELS",
    "WARNING_MEASURES",
    "WARNING_SUGGEST",
    "CaseCounts",
    "Level",
    "LevelTriggers",
    "Measure",
    "MeasuresDecision",
    "MeasuresInputs",
    "MeasuresParameters",
    "Metric",
    "ProblemType",
    "SuggestDecision",
    "SuggestParameters",
    "Trigger",
    "decide_measures",
    "decide_suggestion",
]

Level = Literal["none", "orange", "red", "black"]
"""Warning level, mildest first: none, orange (关注级), red (警告级), black (严重级)."""

LEVELS: tuple[Level, ...] = ("none", "orange", "red", "black")
"""Levels from mildest to most severe."""

ProblemType = Literal["illegal_construction", "group_renting", "unlicensed_business", "other"]
"""The stubborn problem the warning is about: 违法建筑, 群租, 无证无照经营, other."""

Metric = Literal["open_cases", "overdue_cases", "reopened_cases", "duty_failures"]
"""A case count that can trigger a level."""

METRICS: tuple[Metric, ...] = ("open_cases", "overdue_cases", "reopened_cases", "duty_failures")

LEVEL_NAMES: dict[Level, tuple[str, str]] = {
    "none": ("no warning", "无预警"),
    "orange": ("orange warning (attention level)", "橙色预警(关注级)"),
    "red": ("red warning (warning level)", "红色预警(警告级)"),
    "black": ("black warning (severe level)", "黑色预警(严重级)"),
}
"""English and Chinese name of each level."""

_METRIC_NAMES: dict[Metric, tuple[str, str]] = {
    "open_cases": ("open cases", "未结案件"),
    "overdue_cases": ("overdue cases", "超期案件"),
    "reopened_cases": ("reopened cases", "重新打开的案件"),
    "duty_failures": ("duty failures", "履责不力"),
}

CommunityCode = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^\S+$")]
"""A community's code, e.g. ``ZQ-001``."""

Count = Annotated[int, Field(ge=0)]
Threshold = Annotated[int, Field(ge=1)]


# --- warning.suggest@1 ----------------------------------------------------------------------


class CaseCounts(RuleModel):
    """One community's current cases of one problem type, as counts."""

    community: CommunityCode
    """The community."""
    problem_type: ProblemType
    """The problem type."""
    open_cases: Count = 0
    """Cases received and not closed."""
    overdue_cases: Count = 0
    """Open cases past their due date."""
    reopened_cases: Count = 0
    """Cases closed and then reopened (the problem came back)."""
    duty_failures: Count = 0
    """Recorded failures of a responsible party to perform its listed duty (履责不力)."""


class LevelTriggers(RuleModel):
    """The counts at which one level is reached; ``None`` disables a count for the level."""

    open_cases: Threshold | None = None
    """Reached at this many open cases or more."""
    overdue_cases: Threshold | None = None
    """Reached at this many overdue cases or more."""
    reopened_cases: Threshold | None = None
    """Reached at this many reopened cases or more."""
    duty_failures: Threshold | None = None
    """Reached at this many duty failures or more."""


class SuggestParameters(RuleModel):
    """Parameters of ``warning.suggest@1``: triggers per level."""

    orange: LevelTriggers = Field(
        default_factory=lambda: LevelTriggers(open_cases=3, overdue_cases=1, duty_failures=1)
    )
    """Orange (关注级) triggers."""
    red: LevelTriggers = Field(
        default_factory=lambda: LevelTriggers(
            open_cases=6, overdue_cases=3, reopened_cases=1, duty_failures=2
        )
    )
    """Red (警告级) triggers."""
    black: LevelTriggers = Field(
        default_factory=lambda: LevelTriggers(
            open_cases=10, overdue_cases=5, reopened_cases=2, duty_failures=4
        )
    )
    """Black (严重级) triggers."""

    @model_validator(mode="after")
    def _severity_never_cheaper(self) -> SuggestParameters:
        for metric in METRICS:
            previous: tuple[str, int] | None = None
            for level in ("orange", "red", "black"):
                threshold = getattr(self.for_level(level), metric)
                if threshold is None:
                    continue
                if previous is not None and threshold < previous[1]:
                    msg = (
                        f"{level}.{metric}={threshold} is below {previous[0]}.{metric}="
                        f"{previous[1]}: a more severe level needs at least the same count"
                    )
                    raise ValueError(msg)
                previous = (level, threshold)
        return self

    def for_level(self, level: str) -> LevelTriggers:
        """The triggers of ``level`` (orange, red or black)."""
        triggers: LevelTriggers = getattr(self, level)
        return triggers


class Trigger(RuleModel):
    """A count that reached a level's threshold."""

    level: Level
    """The level it reached."""
    metric: Metric
    """The count."""
    count: int
    """Its value."""
    threshold: int
    """The threshold it reached."""


class SuggestDecision(RuleModel):
    """Decision of ``warning.suggest@1``."""

    community: str
    """The community."""
    problem_type: ProblemType
    """The problem type."""
    level: Level
    """The suggested level: the most severe reached, or ``none``."""
    triggers: tuple[Trigger, ...]
    """The counts that reached the suggested level (empty for ``none``)."""
    reason: Reason
    """Code ``warning_level_<level>``, with the level and its triggers in English and Chinese."""


def decide_suggestion(inputs: CaseCounts, params: SuggestParameters) -> SuggestDecision:
    """Suggest the most severe level whose any trigger the counts reach."""
    level: Level = "none"
    fired: tuple[Trigger, ...] = ()
    for candidate in ("black", "red", "orange"):
        triggers = params.for_level(candidate)
        found = tuple(
            Trigger(level=candidate, metric=metric, count=count, threshold=threshold)
            for metric in METRICS
            if (threshold := getattr(triggers, metric)) is not None
            and (count := getattr(inputs, metric)) >= threshold
        )
        if found:
            level, fired = candidate, found
            break
    name_en, name_zh = LEVEL_NAMES[level]
    if fired:
        because_en = ", ".join(
            f"{trigger.count} {_METRIC_NAMES[trigger.metric][0]} (>= {trigger.threshold})"
            for trigger in fired
        )
        because_zh = "、".join(
            f"{_METRIC_NAMES[trigger.metric][1]}{trigger.count}件(≥{trigger.threshold})"
            for trigger in fired
        )
        text_en, text_zh = f"{name_en}: {because_en}", f"{name_zh}：{because_zh}"
    else:
        text_en, text_zh = f"{name_en}: no threshold reached", f"{name_zh}：未达到任何阈值"
    return SuggestDecision(
        community=inputs.community,
        problem_type=inputs.problem_type,
        level=level,
        triggers=fired,
        reason=Reason(code=f"warning_level_{level}", en=text_en, zh=text_zh),
    )


# --- warning.measures@1 ---------------------------------------------------------------------

MeasureCode = Literal[
    "spot_check_patrol",
    "key_focus_listing",
    "onsite_supervision",
    "rectification_plan",
    "key_rectification_listing",
    "supervision_team_stationed",
    "improvement_review",
    "third_party_patrol_control",
]
"""What must happen under a warning."""

Days = Annotated[int, Field(ge=0)]


class MeasuresInputs(RuleModel):
    """Inputs of ``warning.measures@1``."""

    level: Level
    """The warning level in force."""


class MeasuresParameters(RuleModel):
    """Parameters of ``warning.measures@1`` (days count from the warning's effective date)."""

    orange_spot_check_every_days: int = Field(
        default=14, ge=1, description="Orange: a spot check and patrol of results every N days."
    )
    red_onsite_supervision_within_days: Days = Field(
        default=3, description="Red: staff sent for on-site supervision within N days."
    )
    red_rectification_plan_within_days: Days = Field(
        default=7, description="Red: rectification plan drawn up (with help) within N days."
    )
    black_team_stationed_within_days: Days = Field(
        default=1, description="Black: supervision team stationed on site within N days."
    )
    black_review_after_days: int = Field(
        default=30,
        ge=1,
        description=(
            "Black: after N days, review for clear improvement; without it, "
            "third-party forces are organised for patrol control."
        ),
    )
    include_lower_levels: bool = Field(
        default=False,
        description="A level also carries the measures of the milder levels.",
    )


class Measure(RuleModel):
    """One mandated measure."""

    code: MeasureCode
    """Stable code."""
    level: Level
    """The level whose sentence mandates it."""
    name_zh: str
    """Chinese name, from the source text."""
    name_en: str
    """English name."""
    due_in_days: int
    """Due this many days after the warning's effective date (0: at once)."""
    repeat_every_days: int | None = None
    """For a recurring measure, its period in days."""
    condition: Literal["no_clear_improvement"] | None = None
    """When set, the measure is due only if the condition holds at ``due_in_days``."""


class MeasuresDecision(RuleModel):
    """Decision of ``warning.measures@1``."""

    level: Level
    """The warning level."""
    measures: tuple[Measure, ...]
    """The measures, mildest level first, then by due date."""


def _level_measures(level: Level, params: MeasuresParameters) -> list[Measure]:
    if level == "orange":
        return [
            Measure(
                code="spot_check_patrol",
                level=level,
                name_zh="定期抽查巡查实效",
                name_en="periodic spot checks and patrols of the results",
                due_in_days=params.orange_spot_check_every_days,
                repeat_every_days=params.orange_spot_check_every_days,
            )
        ]
    if level == "red":
        return [
            Measure(
                code="key_focus_listing",
                level=level,
                name_zh="列为重点关注对象",
                name_en="listed as a key focus",
                due_in_days=0,
            ),
            Measure(
                code="onsite_supervision",
                level=level,
                name_zh="派员现场督导",
                name_en="staff sent for on-site supervision",
                due_in_days=params.red_onsite_supervision_within_days,
            ),
            Measure(
                code="rectification_plan",
                level=level,
                name_zh="协助制定整改方案",
                name_en="help draw up a rectification plan",
                due_in_days=params.red_rectification_plan_within_days,
            ),
        ]
    if level == "black":
        return [
            Measure(
                code="key_rectification_listing",
                level=level,
                name_zh="列为重点整治对象",
                name_en="listed as a key rectification target",
                due_in_days=0,
            ),
            Measure(
                code="supervision_team_stationed",
                level=level,
                name_zh="督导组蹲点开展督查指导整改",
                name_en="supervision team stationed on site to supervise and guide rectification",
                due_in_days=params.black_team_stationed_within_days,
            ),
            Measure(
                code="improvement_review",
                level=level,
                name_zh="评估是否明显改善",
                name_en="review whether there is clear improvement",
                due_in_days=params.black_review_after_days,
            ),
            Measure(
                code="third_party_patrol_control",
                level=level,
                name_zh="组织第三方力量开展巡查管控",
                name_en="third-party forces organised for patrol control",
                due_in_days=params.black_review_after_days,
                condition="no_clear_improvement",
            ),
        ]
    return []


def decide_measures(inputs: MeasuresInputs, params: MeasuresParameters) -> MeasuresDecision:
    """The measures a warning level mandates, with due-day offsets."""
    position = LEVELS.index(inputs.level)
    levels = LEVELS[1 : position + 1] if params.include_lower_levels else (inputs.level,)
    measures: list[Measure] = []
    for level in levels:
        measures += sorted(_level_measures(level, params), key=lambda m: m.due_in_days)
    return MeasuresDecision(level=inputs.level, measures=tuple(measures))


WARNING_SUGGEST = register(
    Rule(
        rule_id="warning.suggest",
        version=1,
        Inputs=CaseCounts,
        Parameters=SuggestParameters,
        Decision=SuggestDecision,
        function=decide_suggestion,
        summary="Suggest a warning level for a community and problem type from its case counts.",
    )
)

WARNING_MEASURES = register(
    Rule(
        rule_id="warning.measures",
        version=1,
        Inputs=MeasuresInputs,
        Parameters=MeasuresParameters,
        Decision=MeasuresDecision,
        function=decide_measures,
        summary="The measures a warning level mandates, with due-day offsets.",
    )
)
