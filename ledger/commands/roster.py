"""Commands for towns, communities and posts (the roster)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from ledger.kernel.command import (
    Code,
    Command,
    CommunityCode,
    Name,
    PersonId,
    Text,
    TownCode,
    When,
    register,
)
from ledger.kernel.posts import parse_post


def _check_post(value: str) -> str:
    return parse_post(value).name


@register
class BootstrapTown(Command):
    """Record the town and its first ledger administrator (``ledger init``; system only)."""

    type: Literal["town.bootstrap"] = "town.bootstrap"
    code: TownCode
    name: Name
    admin: PersonId
    admin_name: Name
    departments: dict[str, str] | None = Field(
        default=None, description="Department code → name; default the standard eight"
    )
    admin_public_key: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9+/]{43}=$",
        description="The administrator's Ed25519 public key (base64), registered with the town; "
                    "the command must then be signed by it ('ledger init --key-file')")
    system_allowed: ClassVar[bool] = True


@register
class RegisterTown(Command):
    """Register another town in a shared (district or city) ledger, with its first administrator."""

    type: Literal["town.register"] = "town.register"
    code: TownCode
    name: Name
    admin: PersonId
    admin_name: Name
    departments: dict[str, str] | None = Field(
        default=None, description="Department code → name; default the standard eight"
    )
    admin_public_key: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9+/]{43}=$",
        description="The new administrator's Ed25519 public key (base64), registered with the "
                    "town")


@register
class AddDepartment(Command):
    """Add a department to the town (a new X)."""

    type: Literal["town.add_department"] = "town.add_department"
    town: TownCode
    code: Code
    name: Name


@register
class SetParameter(Command):
    """Set a town rule or cadence parameter (e.g. ``meeting.four_in_one.cadence_days``)."""

    type: Literal["town.set_parameter"] = "town.set_parameter"
    town: TownCode
    name: str = Field(pattern=r"^[a-z][a-z0-9_.]{0,127}$")
    value: str | int | float | bool | None


@register
class RegisterCommunity(Command):
    """Register a residential area (居民区) in a town."""

    type: Literal["community.register"] = "community.register"
    code: CommunityCode
    name: Name
    town: TownCode | None = Field(default=None, description="Default: the code's prefix")
    address: Text = ""


@register
class AppointPost(Command):
    """Appoint a person to a post from an effective date (default ``occurred_at``)."""

    type: Literal["post.appoint"] = "post.appoint"
    target_post: str = Field(description="The post to fill, e.g. party_org.secretary@ZQ-001")
    person: PersonId
    person_name: Name
    effective_from: When | None = None
    election: str | None = Field(
        default=None, max_length=64,
        description="For an owners'-committee post: the election that filled it, as the "
                    "committee key <community>/<term> (e.g. ZQ-001/2025)",
    )

    @field_validator("target_post")
    @classmethod
    def _valid_post(cls, value: str) -> str:
        return _check_post(value)

    def authority_qualifier(self) -> str | None:
        return parse_post(self.target_post).kind.pattern


@register
class VacatePost(Command):
    """End a person's term in a post at an effective date (default ``occurred_at``)."""

    type: Literal["post.vacate"] = "post.vacate"
    target_post: str = Field(description="The post to vacate")
    person: PersonId
    effective_to: When | None = None
    reason: Text = ""

    @field_validator("target_post")
    @classmethod
    def _valid_post(cls, value: str) -> str:
        return _check_post(value)

    def authority_qualifier(self) -> str | None:
        return parse_post(self.target_post).kind.pattern
