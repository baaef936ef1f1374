"""Automatic supervision (协调督办 and 通报反馈): overdue work climbs a ladder.

> 协调督办 … 通报反馈 (the seed's template documents; DOMAIN.md §5)

The seed makes coordination-and-supervision and notification-and-feedback duties of the town
but gives no thresholds. The ledger's reading, as the versioned rule ``case.supervision@1``:
work past its due date — a case step past its time limit, a warning measure past its due
date, a resolution item past its due date — is escalated along a ladder, one rung per
threshold of days overdue, after a grace period:

| level | 中文 | reached when days overdue beyond the grace period are at least |
|---|---|---|
| ``remind`` | 提醒 | ``remind_after_days`` (default 1) |
| ``supervise`` | 督办 | ``supervise_after_days`` (default 3) |
| ``notify`` | 通报 | ``notify_after_days`` (default 7) |

The time limit per step is the town's (``case.limit.<state>_days``, counted in the case's
calendar when the case enters the step; a measure's or an item's own due date): it enters the
rule as each item's ``due``. Days overdue are calendar days from ``due`` to ``as_of``. The
decision lists an escalation for each item whose reached level is above the level already
recorded for it, so a second run over the same state decides nothing.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from ledger.kernel.i18n import _
from ledger.rules import Reason, Rule, RuleModel, register

#: The rungs of the ladder, mildest first (``none``: not escalated).
LADDER = ("none", "remind", "supervise", "notify")
LADDER_ZH = {"none": "未督办", "remind": "提醒", "supervise": "督办", "notify": "通报"}
ItemKind = Literal["case", "measure", "resolution_item"]
Level = Literal["none", "remind", "supervise", "notify"]


class OverdueItem(RuleModel):
    """One piece of work with a due date, and the level it has already been escalated to."""

    kind: ItemKind
    """``case`` (a case step), ``measure`` (a warning measure) or ``resolution_item``."""
    key: str
    """The case reference, warning key, or resolution item reference."""
    step: str
    """What is due: the case's state and when it entered it, the measure's id, the item."""
    community: str | None = None
    """The community the work is in (for the notification)."""
    due: date
    """The date by which it should have been done."""
    current_level: Level = "none"
    """The level already recorded for this step."""


class SupervisionInputs(RuleModel):
    """The overdue-or-due work of one town as of one day."""

    town: str
    """Town code."""
    as_of: date
    """The day the run looks at."""
    items: list[OverdueItem] = Field(default_factory=list)
    """Every open item with a due date (stored sorted by kind, key and step)."""

    @model_validator(mode="after")
    def _sorted(self) -> SupervisionInputs:
        ordered = sorted(self.items, key=lambda i: (i.kind, i.key, i.step))
        object.__setattr__(self, "items", ordered)
        return self


class SupervisionParameters(RuleModel):
    """Grace period and ladder thresholds (days overdue beyond the grace period)."""

    grace_days: int = Field(default=0, ge=0, le=365)
    """Days past the due date before any escalation counts."""
    remind_after_days: int = Field(default=1, ge=1, le=365)
    """提醒: at least this many days overdue beyond the grace period."""
    supervise_after_days: int = Field(default=3, ge=1, le=365)
    """督办: at least this many days overdue beyond the grace period."""
    notify_after_days: int = Field(default=7, ge=1, le=365)
    """通报: at least this many days overdue beyond the grace period."""

    @model_validator(mode="after")
    def _ladder_climbs(self) -> SupervisionParameters:
        if not self.remind_after_days <= self.supervise_after_days <= self.notify_after_days:
            raise ValueError(
                _("the ladder must climb: remind_after_days={remind_after_days} ≤ "
                  "supervise_after_days={supervise_after_days} ≤ "
                  "notify_after_days={notify_after_days}").format(
                    remind_after_days=self.remind_after_days,
                    supervise_after_days=self.supervise_after_days,
                    notify_after_days=self.notify_after_days))
        return self


class Escalation(RuleModel):
    """One item to escalate, and why."""

    kind: ItemKind
    key: str
    step: str
    community: str | None = None
    due: date
    days_overdue: int
    """Calendar days from the due date to the run's day."""
    previous_level: Level
    level: Level
    """The level reached (above the previous one)."""
    reason: Reason


class SupervisionDecision(RuleModel):
    """What to escalate in this run."""

    town: str
    as_of: date
    escalations: list[Escalation]


def reached_level(days_overdue: int, params: SupervisionParameters) -> str:
    """The rung of the ladder *days_overdue* reaches under *params*."""
    beyond = days_overdue - params.grace_days
    if beyond >= params.notify_after_days:
        return "notify"
    if beyond >= params.supervise_after_days:
        return "supervise"
    if beyond >= params.remind_after_days:
        return "remind"
    return "none"


def decide_supervision(inputs: SupervisionInputs,
                       params: SupervisionParameters) -> SupervisionDecision:
    """Escalate every item whose reached level is above the level already recorded."""
    out = []
    for item in inputs.items:
        days = (inputs.as_of - item.due).days
        level = reached_level(days, params)
        if LADDER.index(level) <= LADDER.index(item.current_level):
            continue
        out.append(Escalation(
            kind=item.kind, key=item.key, step=item.step, community=item.community,
            due=item.due, days_overdue=days, previous_level=item.current_level,
            level=level,  # type: ignore[arg-type]
            reason=Reason(
                code=f"overdue_{level}",
                en=f"{days} day(s) overdue (due {item.due}; grace {params.grace_days}): {level}",
                zh=f"超期{days}天(应于{item.due}前完成,宽限{params.grace_days}天):"
                   f"{LADDER_ZH[level]}")))
    return SupervisionDecision(town=inputs.town, as_of=inputs.as_of, escalations=out)


supervision = register(Rule(
    rule_id="case.supervision", version=1, Inputs=SupervisionInputs,
    Parameters=SupervisionParameters, Decision=SupervisionDecision,
    function=decide_supervision,
    summary="escalate overdue case steps, warning measures and resolution items: remind → "
            "督办 → 通报, after a grace period"))
