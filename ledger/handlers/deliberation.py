"""Handlers for meetings, resolutions, matters and deliberation-platform topics."""

from __future__ import annotations

import json
from typing import Any

from ledger.aggregates.matter import Matter, MatterExistsError, MatterNotFoundError
from ledger.aggregates.meeting import (
    COMMUNITY_BODIES,
    Meeting,
    MeetingExistsError,
    MeetingNotFoundError,
    UnknownBodyError,
    check_body,
    parse_item_ref,
)
from ledger.commands.deliberation import (
    AdoptResolution,
    CloseMeeting,
    CompleteItem,
    ConveneMeeting,
    HandOverItem,
    HearTopic,
    OverrideRoute,
    PublishOutcome,
    RaiseMatter,
    RaiseTopic,
    RecordAttendance,
    RecordLapse,
    RecordProcedureStep,
    ReportProgress,
    RouteMatter,
)
from ledger.handlers import Context, handles
from ledger.kernel.authority import matrix
from ledger.kernel.command import Command
from ledger.kernel.errors import (
    AuthorityError,
    CommandValidationError,
    PostNotHeldError,
    RuleViolationError,
)
from ledger.kernel.i18n import _
from ledger.kernel.posts import parse_post
from ledger.rules import RuleError, get_rule, parse_overrides

ROUTING_RULE = "matter.routing@1"
#: Town parameters named ``matter.routing.<name>`` set the rule's parameters.
ROUTING_PARAMETER_PREFIX = "matter.routing."


def _meeting(ctx: Context, ref: str) -> Meeting:
    meeting = ctx.find(Meeting, ref)
    if meeting is None:
        raise MeetingNotFoundError(
            _("meeting {ref!r} has not been convened; convene it first (meeting convene)").format(
                ref=ref)
        )
    return meeting


def _matter(ctx: Context, ref: str) -> Matter:
    matter = ctx.find(Matter, ref)
    if matter is None:
        raise MatterNotFoundError(_("matter {ref!r} has not been raised; raise it first").format(
                                      ref=ref))
    return matter


def _check_reference(ref: str, scope: str, what: str) -> None:
    if not ref.startswith(f"{scope}-"):
        raise CommandValidationError(
            _("{what} reference {ref!r} must start with {scope}- (e.g. {scope}-M-2025-03)").format(
                what=what, ref=ref, scope=scope)
        )


def _resolve_body(ctx: Context, meeting: Meeting, body: str, community: str | None,
                  what: str) -> str | None:
    """Check *body* is known; return the community it sits in (``None`` for town bodies)."""
    check_body(body, ctx.town(meeting.town).departments)
    if body not in COMMUNITY_BODIES:
        return None
    community = community or meeting.community
    if community is None:
        raise UnknownBodyError(
            _("{what}: {body} at town joint meeting {code} needs its community (give community, or a post "
              "such as party_org.secretary@ZQ-001)").format(what=what, body=body, code=meeting.code)
        )
    if ctx.community(community).town != meeting.town:
        raise RuleViolationError(_("{what}: community {community} is not in town {town}").format(
                                     what=what, community=community, town=meeting.town))
    return community


def _item_scope(meeting: Meeting, item: dict[str, Any]) -> str | None:
    return meeting.community or item.get("community")


# ---------------------------------------------------------------------------- meetings
@handles(ConveneMeeting)
def convene(ctx: Context, cmd: ConveneMeeting) -> dict[str, Any]:
    """Convene a meeting (the kind decides who may)."""
    community = ctx.community(cmd.community) if cmd.community else None
    town_code = community.town if community else str(cmd.town)
    if cmd.town is not None and cmd.town != town_code:
        raise CommandValidationError(
            _("community {community} is in town {town_code}, not {town}").format(
                community=cmd.community, town_code=town_code, town=cmd.town))
    ctx.town(town_code)
    _check_reference(cmd.meeting, cmd.community or town_code, "meeting")
    ctx.authorize(town=town_code, community=cmd.community)
    if ctx.find(Meeting, cmd.meeting) is not None:
        raise MeetingExistsError(_("meeting {meeting!r} is already convened; use a new reference").format(
                                     meeting=cmd.meeting))
    for a in cmd.agenda:
        if a.matter is not None:
            matter = _matter(ctx, a.matter)
            if matter.town != town_code or cmd.community not in (None, matter.community):
                raise RuleViolationError(
                    _("agenda item {title!r}: matter {code} is in {community}; meeting {meeting} cannot "
                      "take it up").format(
                        title=a.title, code=matter.code, community=matter.community,
                        meeting=cmd.meeting))
    agenda = [{"no": n, "title": a.title, "matter": a.matter}
              for n, a in enumerate(cmd.agenda, start=1)]
    meeting = Meeting(code=cmd.meeting, kind=cmd.kind, town=town_code, community=cmd.community,
                      title=cmd.title, held_at=(cmd.held_at or ctx.at).isoformat(),
                      agenda=agenda, envelope=ctx.envelope)
    ctx.add(meeting)
    return {"meeting": cmd.meeting, "kind": cmd.kind}


@handles(RecordAttendance)
def attend(ctx: Context, cmd: RecordAttendance) -> dict[str, Any]:
    """Record attendance by body and person; a named post must have been held then."""
    meeting = _meeting(ctx, cmd.meeting)
    ctx.authorize(town=meeting.town, community=meeting.community)
    rows = []
    for a in cmd.attendees:
        body = str(a.body)
        community = _resolve_body(ctx, meeting, body, a.community, f"attendee {a.person}")
        if a.post is not None:
            post = parse_post(a.post)
            holder = ctx.scope_roster(post.scope, post.kind.level)
            if not holder.roster.holds(a.person, post.name, ctx.at):
                raise PostNotHeldError(
                    _("attendee {person} ({person_name}) did not hold {name} at {at}; record them without "
                      "the post or with one they held").format(
                        person=a.person, person_name=a.person_name, name=post.name,
                        at=ctx.at.isoformat())
                )
        rows.append({"body": body, "community": community, "person": a.person,
                     "person_name": a.person_name, "post": a.post})
    meeting.record_attendance(rows, ctx.at, ctx.envelope)
    ctx.add(meeting)
    return {"meeting": meeting.code, "attendees": len(rows)}


@handles(CloseMeeting)
def close(ctx: Context, cmd: CloseMeeting) -> dict[str, Any]:
    """Close a meeting with its minutes."""
    meeting = _meeting(ctx, cmd.meeting)
    ctx.authorize(town=meeting.town, community=meeting.community)
    meeting.close(cmd.summary, cmd.document, ctx.at, ctx.envelope)
    ctx.add(meeting)
    return {"meeting": meeting.code}


# ---------------------------------------------------------------------------- resolutions
@handles(AdoptResolution)
def adopt(ctx: Context, cmd: AdoptResolution) -> dict[str, Any]:
    """Adopt a resolution at an open meeting; items to absent bodies are flagged."""
    meeting = _meeting(ctx, cmd.meeting)
    ctx.authorize(town=meeting.town, community=meeting.community)
    items = []
    for n, spec in enumerate(cmd.items, start=1):
        body = str(spec.body)
        community = _resolve_body(ctx, meeting, body, spec.community, f"item {n}")
        if spec.post is not None:
            post = parse_post(spec.post)
            ctx.scope_roster(post.scope, post.kind.level)
        items.append({"body": body, "post": spec.post, "community": community,
                      "task": spec.task, "due": spec.due.isoformat()})
    matter = _matter(ctx, cmd.matter) if cmd.matter else None
    if matter is not None:
        if matter.town != meeting.town or meeting.community not in (None, matter.community):
            raise RuleViolationError(
                _("matter {code} is in {community}; meeting {code2} cannot decide it").format(
                    code=matter.code, community=matter.community, code2=meeting.code))
        matter.check_meeting_route(meeting.kind, meeting.code)
    number = meeting.adopt(cmd.title, items, cmd.matter, ctx.at, ctx.envelope)
    ctx.add(meeting)
    if matter is not None:
        matter.take_up(meeting.code, meeting.kind, number, ctx.envelope)
        ctx.add(matter)
    res = meeting.resolutions[number]
    flagged = [f"{meeting.code}/{number}/{k}" for k, it in res["items"].items()
               if it["absent_body"]]
    return {"resolution": f"{meeting.code}/{number}",
            "items": [f"{meeting.code}/{number}/{k}" for k in res["items"]],
            "absent_body_items": flagged}


def _item_command(ctx: Context, cmd: Command, ref: str) -> tuple[Meeting, str, int]:
    code, resolution, number = parse_item_ref(ref)
    meeting = _meeting(ctx, code)
    item = meeting.item(resolution, number)
    ctx.authorize(town=meeting.town, community=_item_scope(meeting, item))
    return meeting, resolution, number


@handles(ReportProgress)
def progress(ctx: Context, cmd: ReportProgress) -> dict[str, Any]:
    """Add a progress note to an open item."""
    meeting, resolution, number = _item_command(ctx, cmd, cmd.item)
    meeting.report_progress(resolution, number, cmd.note, ctx.at, ctx.envelope)
    ctx.add(meeting)
    return {"item": cmd.item}


def check_responsible(ctx: Context, meeting: Meeting, item: dict[str, Any], ref: str) -> None:
    """Under the matrix restriction ``responsible_body_or_convenor``: raise
    :class:`AuthorityError` unless the acting post belongs to the item's responsible body, or
    the actor convened the meeting in that post."""
    cmd = ctx.command
    entry = matrix().entry_for(cmd.authority_key())
    if entry is None or "responsible_body_or_convenor" not in entry.restrictions():
        return
    post = parse_post(cmd.post or "")
    convenor = meeting.convened_by
    if convenor.get("person") == cmd.actor and convenor.get("post") == post.name:
        return
    if post.body == item["body"]:
        return
    body = item["body"] + (f"@{item['community']}" if item.get("community") else "")
    raise AuthorityError(
        _("{name} may not complete {ref}: its responsible body is {body}; only that body's posts, or the "
          "meeting's convenor ({get} in {get2}), complete it (authority matrix {version}, restriction "
          "responsible_body_or_convenor)").format(
            name=post.name, ref=ref, body=body, get=convenor.get('person'),
            get2=convenor.get('post'), version=matrix().version))


@handles(CompleteItem)
def complete(ctx: Context, cmd: CompleteItem) -> dict[str, Any]:
    """Record an item as done, once: by the responsible body or the meeting's convenor."""
    meeting, resolution, number = _item_command(ctx, cmd, cmd.item)
    check_responsible(ctx, meeting, meeting.item(resolution, number), cmd.item)
    late = meeting.complete(resolution, number, cmd.evidence, ctx.at, ctx.envelope)
    ctx.add(meeting)
    return {"item": cmd.item, "late": late}


@handles(RecordLapse)
def lapse(ctx: Context, cmd: RecordLapse) -> dict[str, Any]:
    """Record that an item lapsed."""
    meeting, resolution, number = _item_command(ctx, cmd, cmd.item)
    meeting.lapse(resolution, number, ctx.at, ctx.envelope)
    ctx.add(meeting)
    return {"item": cmd.item}


@handles(HandOverItem)
def hand_over(ctx: Context, cmd: HandOverItem) -> dict[str, Any]:
    """Hand an open item to a later meeting; both meetings record it."""
    meeting, resolution, number = _item_command(ctx, cmd, cmd.item)
    target = _meeting(ctx, cmd.to_meeting)
    meeting.hand_over(resolution, number, target, cmd.reason, ctx.at, ctx.envelope)
    ctx.add(meeting, target)
    return {"item": cmd.item, "to_meeting": target.code}


# ---------------------------------------------------------------------------- matters
def _raiser_kind(post: str | None) -> str:
    if not post:
        return "other"
    body = parse_post(post).body
    if body in ("party_group_leader", "resident_group_leader", "building_leader"):
        return "three_heads"
    if body in ("party_org", "residents_committee", "owners_committee"):
        return "committee"
    if body.startswith("department:"):
        return "department"
    return "other"


def _routing_inputs(ctx: Context, town: str, attributes: dict[str, Any]) -> dict[str, Any]:
    rule = get_rule(ROUTING_RULE)
    departments = ctx.town(town).departments
    for body in attributes.get("bodies_to_act", []):
        check_body(body, departments)
    try:
        inputs = rule.Inputs.model_validate(attributes)
    except ValueError as e:
        raise CommandValidationError(_("matter attributes: {splitlines}; {first_error}").format(
                                         splitlines=str(e).splitlines()[0],
                                         first_error=_first_error(e))) from None
    dumped: dict[str, Any] = inputs.model_dump(mode="json")
    return dumped


def _first_error(e: ValueError) -> str:
    errors = getattr(e, "errors", None)
    if callable(errors):
        first = errors()[0]
        return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"
    return str(e)


def _raise(ctx: Context, *, ref: str, community_code: str, title: str, description: str,
           channel: str, resident_ref: str | None, attributes: dict[str, Any],
           subject: str | None = None) -> Matter:
    community = ctx.community(community_code)
    _check_reference(ref, community.code, "matter")
    ctx.authorize(town=community.town, community=community.code)
    if ctx.find(Matter, ref) is not None:
        raise MatterExistsError(_("matter {ref!r} is already raised; use a new reference").format(
                                    ref=ref))
    inputs = _routing_inputs(ctx, community.town, attributes)
    raiser = "resident" if resident_ref else _raiser_kind(ctx.command.post)
    # The raiser's reference is personal data: sealed under the raiser's own key.
    resident = (ctx.seal_personal(subject or f"S-{ref}", {"resident_ref": resident_ref})
                if resident_ref else None)
    matter = Matter(code=ref, town=community.town, community=community.code, title=title,
                    description=description, channel=channel, raiser_kind=raiser,
                    resident=resident, attributes=inputs, envelope=ctx.envelope)
    ctx.add(matter)
    return matter


@handles(RaiseMatter)
def raise_matter(ctx: Context, cmd: RaiseMatter) -> dict[str, Any]:
    """Raise a matter with its declared attributes."""
    matter = _raise(ctx, ref=cmd.matter, community_code=cmd.community, title=cmd.title,
                    description=cmd.description, channel="direct",
                    resident_ref=cmd.resident_ref, subject=cmd.subject,
                    attributes=cmd.attributes.model_dump(mode="json"))
    return {"matter": matter.code, "raised_by": matter.raiser_kind}


def routing_parameters(parameters: dict[str, Any]) -> Any:
    """The routing rule's parameters from the town's ``matter.routing.*`` parameters."""
    rule = get_rule(ROUTING_RULE)
    overrides = [
        f"{name.removeprefix(ROUTING_PARAMETER_PREFIX)}="
        f"{value if isinstance(value, str) else json.dumps(value)}"
        for name, value in sorted(parameters.items())
        if name.startswith(ROUTING_PARAMETER_PREFIX)
    ]
    try:
        return parse_overrides(rule, overrides)
    except RuleError as e:
        raise RuleViolationError(_("town parameter for {routing_rule}: {e}").format(
                                     routing_rule=ROUTING_RULE, e=e)) from None


@handles(RouteMatter)
def route(ctx: Context, cmd: RouteMatter) -> dict[str, Any]:
    """Route a matter with matter.routing@1 under the town's parameters."""
    matter = _matter(ctx, cmd.matter)
    ctx.authorize(town=matter.town, community=matter.community)
    rule = get_rule(ROUTING_RULE)
    params = routing_parameters(ctx.town(matter.town).parameters)
    inputs = rule.Inputs.model_validate(matter.attributes)
    evaluation = rule.evaluate(inputs, params).model_dump(mode="json")
    chosen = matter.route_by_rule(evaluation, ctx.envelope)
    ctx.add(matter)
    return {"matter": matter.code, "route": chosen, "rule": evaluation["rule"],
            "reason": evaluation["decision"]["reason"]["code"]}


@handles(OverrideRoute)
def override(ctx: Context, cmd: OverrideRoute) -> dict[str, Any]:
    """Override a matter's route with a stated reason."""
    matter = _matter(ctx, cmd.matter)
    ctx.authorize(town=matter.town, community=matter.community)
    previous = matter.route
    matter.override_route(cmd.route, cmd.reason, ctx.envelope)
    ctx.add(matter)
    return {"matter": matter.code, "route": cmd.route, "previous": previous}


@handles(RecordProcedureStep)
def record_step(ctx: Context, cmd: RecordProcedureStep) -> dict[str, Any]:
    """Record a step of the residents' committee's major-matter procedure."""
    matter = _matter(ctx, cmd.matter)
    ctx.authorize(town=matter.town, community=matter.community)
    matter.record_step(cmd.step, cmd.summary, cmd.document, ctx.envelope)
    ctx.add(matter)
    return {"matter": matter.code, "step": cmd.step}


# ---------------------------------------------------------------------------- topics
@handles(RaiseTopic)
def raise_topic(ctx: Context, cmd: RaiseTopic) -> dict[str, Any]:
    """Record a deliberation-platform topic raised by a resident."""
    matter = _raise(ctx, ref=cmd.matter, community_code=cmd.community, title=cmd.title,
                    description=cmd.description, channel="platform",
                    resident_ref=cmd.resident_ref, subject=cmd.subject,
                    attributes={"field": cmd.field})
    return {"topic": matter.code}


@handles(HearTopic)
def hear(ctx: Context, cmd: HearTopic) -> dict[str, Any]:
    """Record that a topic was heard at an open meeting of its community or town."""
    matter = _matter(ctx, cmd.matter)
    meeting = _meeting(ctx, cmd.meeting)
    ctx.authorize(town=meeting.town, community=meeting.community)
    if matter.town != meeting.town or meeting.community not in (None, matter.community):
        raise RuleViolationError(
            _("topic {code} is in {community}; meeting {code2} cannot hear it").format(
                code=matter.code, community=matter.community, code2=meeting.code))
    matter.check_meeting_route(meeting.kind, meeting.code)
    meeting.hear_topic(matter.code, ctx.at, ctx.envelope)
    matter.take_up(meeting.code, meeting.kind, None, ctx.envelope)
    ctx.add(meeting, matter)
    return {"topic": matter.code, "meeting": meeting.code}


@handles(PublishOutcome)
def publish(ctx: Context, cmd: PublishOutcome) -> dict[str, Any]:
    """Publish the outcome of a heard topic or decided matter."""
    matter = _matter(ctx, cmd.matter)
    ctx.authorize(town=matter.town, community=matter.community)
    matter.publish(cmd.summary, cmd.document, ctx.at, ctx.envelope)
    ctx.add(matter)
    return {"matter": matter.code}

