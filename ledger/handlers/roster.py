"""Handlers for towns, communities and posts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.aggregates.community import Community
from ledger.aggregates.town import STANDARD_DEPARTMENTS, Town
from ledger.commands.roster import (
    AddDepartment,
    AppointPost,
    BootstrapTown,
    RegisterCommunity,
    RegisterTown,
    SetParameter,
    VacatePost,
)
from ledger.handlers import FUTURE_DAYS_PARAMETER, Context, handles
from ledger.kernel.errors import (
    AlreadyExistsError,
    BootstrapRefusedError,
    CommandValidationError,
    ContractRequiredError,
    ElectionRequiredError,
    TownNotFoundError,
)
from ledger.kernel.i18n import _
from ledger.kernel.posts import PostName, parse_post, town_of_community

#: Checks of the election an appointment to an owners'-committee post cites
#: (``post.appoint`` with ``election``); the owners' committee domain registers its check here.
#: Each raises when the election does not support the appointment.
ELECTION_CHECKS: list[Callable[[Context, PostName, AppointPost], None]] = []


@handles(BootstrapTown)
def bootstrap(ctx: Context, cmd: BootstrapTown) -> dict[str, Any]:
    """Create the town and appoint its first ledger administrator, on an empty ledger only."""
    ctx.authorize(town=cmd.code)
    if not ctx.ledger.is_empty(dry_run=ctx.dry_run):
        raise BootstrapRefusedError(
            _("this ledger already holds events; bootstrap runs once, on an empty ledger")
        )
    town = Town(code=cmd.code, name=cmd.name,
                departments=cmd.departments or STANDARD_DEPARTMENTS, envelope=ctx.envelope)
    ctx.add(town)
    admin_post = parse_post(f"town.ledger_admin@{cmd.code}")
    town.appoint(admin_post, cmd.admin, cmd.admin_name, ctx.at, ctx.envelope)
    out = {"town": cmd.code, "admin_post": admin_post.name}
    if cmd.admin_public_key:
        from ledger.handlers.keys import register_key

        out["admin_key_id"] = register_key(ctx, cmd.admin, "ed25519", cmd.admin_public_key)
    return out


@handles(RegisterTown)
def register_town(ctx: Context, cmd: RegisterTown) -> dict[str, Any]:
    """Register another town and appoint its first ledger administrator."""
    ctx.authorize(town=cmd.code)
    if ctx.find(Town, cmd.code) is not None:
        raise AlreadyExistsError(_("town {code!r} is already registered").format(code=cmd.code))
    town = Town(code=cmd.code, name=cmd.name,
                departments=cmd.departments or STANDARD_DEPARTMENTS, envelope=ctx.envelope)
    ctx.add(town)
    admin_post = parse_post(f"town.ledger_admin@{cmd.code}")
    town.appoint(admin_post, cmd.admin, cmd.admin_name, ctx.at, ctx.envelope)
    out = {"town": cmd.code, "admin_post": admin_post.name}
    if cmd.admin_public_key:
        from ledger.handlers.keys import register_key

        out["admin_key_id"] = register_key(ctx, cmd.admin, "ed25519", cmd.admin_public_key)
    return out


@handles(AddDepartment)
def add_department(ctx: Context, cmd: AddDepartment) -> dict[str, Any]:
    """Add a department to the town."""
    town = ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    town.add_department(cmd.code, cmd.name, ctx.envelope)
    ctx.add(town)
    return {"town": cmd.town, "department": cmd.code}


#: Town parameters whose value must be a whole number of days, 0 or more.
DAY_PARAMETERS = frozenset({FUTURE_DAYS_PARAMETER})


def check_parameter(command: str, name: str, value: Any) -> None:
    """Raise :class:`CommandValidationError` if a known parameter gets a value it cannot take."""
    if name in DAY_PARAMETERS and (isinstance(value, bool) or not isinstance(value, int)
                                   or value < 0):
        raise CommandValidationError(
            _("{command}: field 'value': {name} is a whole number of days, 0 or more; got {value!r}").format(
                command=command, name=name, value=value))


@handles(SetParameter)
def set_parameter(ctx: Context, cmd: SetParameter) -> dict[str, Any]:
    """Set a town parameter (a known parameter's value is checked first)."""
    town = ctx.town(cmd.town)
    check_parameter(cmd.type, cmd.name, cmd.value)
    ctx.authorize(town=cmd.town)
    town.set_parameter(cmd.name, cmd.value, ctx.envelope)
    ctx.add(town)
    return {"town": cmd.town, "parameter": cmd.name}


@handles(RegisterCommunity)
def register_community(ctx: Context, cmd: RegisterCommunity) -> dict[str, Any]:
    """Register a community in its town."""
    town_code = cmd.town or town_of_community(cmd.code)
    if ctx.find(Town, town_code) is None:
        raise TownNotFoundError(_("town {town_code!r} does not exist; register the town first").format(
                                    town_code=town_code))
    ctx.authorize(town=town_code, community=cmd.code)
    if ctx.find(Community, cmd.code) is not None:
        raise AlreadyExistsError(_("community {code!r} is already registered").format(code=cmd.code))
    community = Community(code=cmd.code, name=cmd.name, town=town_code, address=cmd.address,
                          envelope=ctx.envelope)
    ctx.add(community)
    return {"community": cmd.code}


def _scope_of(ctx: Context, post_text: str) -> tuple[Town | Community, str, str | None]:
    post = parse_post(post_text)
    if post.kind.level == "town":
        return ctx.town(post.scope), post.scope, None
    community = ctx.community(post.scope)
    return community, community.town, community.code


@handles(AppointPost)
def appoint(ctx: Context, cmd: AppointPost) -> dict[str, Any]:
    """Appoint a person to a town or community post."""
    post = parse_post(cmd.target_post)
    holder, town_code, community_code = _scope_of(ctx, cmd.target_post)
    if post.department:
        ctx.town(town_code).check_department(post.department)
    if post.kind.requires == "election":
        if not cmd.election or not ELECTION_CHECKS:
            raise ElectionRequiredError(
                _("{name} is an owners'-committee post: it is filled only through an election by the "
                  "owners' assembly; cite the election (election: <community>/<term>, e.g. {scope}/2025) "
                  "or start the elected committee's term (oc start-term)").format(
                    name=post.name, scope=post.scope)
            )
        for check in ELECTION_CHECKS:
            check(ctx, post, cmd)
    elif cmd.election:
        raise CommandValidationError(
            _("post.appoint: field 'election': {name} is not an owners'-committee post; only those are "
              "filled through an election").format(name=post.name)
        )
    if post.kind.requires == "contract":
        raise ContractRequiredError(
            _("{name} is a property-firm post: it is filled through the firm's contract").format(
                name=post.name)
        )
    ctx.authorize(town=town_code, community=community_code)
    env = {**ctx.envelope, "election": cmd.election} if cmd.election else ctx.envelope
    holder.appoint(post, cmd.person, cmd.person_name, cmd.effective_from or ctx.at, env)
    ctx.add(holder)
    return {"post": post.name, "person": cmd.person}


@handles(VacatePost)
def vacate(ctx: Context, cmd: VacatePost) -> dict[str, Any]:
    """End a person's term in a post."""
    post = parse_post(cmd.target_post)
    holder, town_code, community_code = _scope_of(ctx, cmd.target_post)
    ctx.authorize(town=town_code, community=community_code)
    holder.vacate(post.name, cmd.person, cmd.effective_to or ctx.at, cmd.reason, ctx.envelope)
    ctx.add(holder)
    return {"post": post.name, "person": cmd.person}
