"""Automatic supervision: one run of ``case.supervision@1`` over a town's overdue work."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.kernel.command import Command, Day, TownCode, register


class Target(BaseModel):
    """A piece of work the run looks at: a case, a community's warning, a meeting's item."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    kind: Literal["case", "measure", "resolution_item"]
    key: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./:-]*$",
                     description="Case reference, warning key <community>/<problem type>, or "
                                 "item <meeting>/R<n>/<item>")


@register
class RunSupervision(Command):
    """Escalate overdue case steps, lapsed warning measures and overdue resolution items along
    the ladder remind → 督办 → 通报 (rule case.supervision@1, parameters from the town)."""

    type: Literal["supervision.run"] = "supervision.run"
    town: TownCode
    as_of: Day = Field(description="The day whose overdue work is escalated")
    targets: list[Target] = Field(min_length=1, max_length=5000)
    system_allowed: ClassVar[bool] = True
