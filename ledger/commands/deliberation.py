"""Commands for deliberation: meetings, resolutions and their items, matters and
deliberation-platform topics."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
from ledger.kernel.i18n import _
from ledger.kernel.posts import parse_post

#: A meeting or matter reference: upper-case letters, digits and hyphens, e.g. ZQ-001-M-2025-03.
Reference = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]{2,62}[A-Z0-9]$")]
#: A resolution item reference: ``<meeting>/R<n>/<item>``.
ItemRef = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]*[A-Z0-9]/R[0-9]+/[0-9]+$",
                               max_length=100)]
#: A body: ``party_org``, ``department:police``, ``town.peace_office``…
BodyCode = Annotated[str, Field(pattern=r"^[a-z][a-z_]*(?:[.:][a-z][a-z0-9_]*)?$",
                                max_length=80)]
#: A data-subject id: whose key seals a resident's personal data (ledger.kernel.privacy).
SubjectId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
#: A resident's pseudonymous reference (from the community's own register): never a name or phone.
ResidentRef = Annotated[str, Field(pattern=r"^R-[0-9A-Za-z]{4,32}$")]

MeetingKind = Literal["four_in_one", "community_joint", "town_joint"]
MatterField = Literal["management", "building", "service", "public_order", "other"]
RouteName = Literal["four_in_one", "rc_autonomous", "party_building_joint_meeting"]
Step = Literal["proposal", "deliberation", "decision", "publication"]

_PHONE_LIKE = re.compile(r"[0-9]{7,}")


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _post_body(post: str | None, body: str | None) -> tuple[str | None, str | None]:
    """(body, community) from a post, checked against a given body."""
    if post is None:
        return body, None
    p = parse_post(post)
    if body is not None and body != p.body:
        raise ValueError(_("post {post} belongs to body {body}, not {body2}").format(
                             post=post, body=p.body, body2=body))
    return p.body, p.community


class AgendaItem(_Part):
    """One agenda item."""

    title: Name
    matter: Reference | None = Field(default=None, description="A matter taken up under it")


class Attendee(_Part):
    """One person attending for a body."""

    body: BodyCode | None = Field(default=None, description="Default: the body of the post")
    person: PersonId
    person_name: Name
    post: str | None = Field(default=None, description="The post they attend in, if any")
    community: CommunityCode | None = Field(
        default=None, description="For community bodies at a town joint meeting")

    @model_validator(mode="after")
    def _body_from_post(self) -> Attendee:
        body, community = _post_body(self.post, self.body)
        if body is None:
            raise ValueError(_("give the attendee's body or post"))
        object.__setattr__(self, "body", body)
        if community is not None:
            if self.community not in (None, community):
                raise ValueError(_("post {post} is in {community}, not {community2}").format(
                                     post=self.post, community=community,
                                     community2=self.community))
            object.__setattr__(self, "community", community)
        if self.post is not None:
            object.__setattr__(self, "post", parse_post(self.post).name)
        return self


class ItemSpec(_Part):
    """One item of a resolution: who carries it out, what, by when."""

    body: BodyCode | None = Field(default=None, description="Responsible body")
    post: str | None = Field(default=None, description="Responsible post (instead of a body)")
    community: CommunityCode | None = Field(
        default=None, description="For a community body at a town joint meeting")
    task: Text = Field(min_length=1)
    due: Day

    @model_validator(mode="after")
    def _body_from_post(self) -> ItemSpec:
        body, community = _post_body(self.post, self.body)
        if body is None:
            raise ValueError(_("give the item's responsible body or post"))
        object.__setattr__(self, "body", body)
        if community is not None:
            if self.community not in (None, community):
                raise ValueError(_("post {post} is in {community}, not {community2}").format(
                                     post=self.post, community=community,
                                     community2=self.community))
            object.__setattr__(self, "community", community)
        if self.post is not None:
            object.__setattr__(self, "post", parse_post(self.post).name)
        return self


@register
class ConveneMeeting(Command):
    """Convene a four-in-one, community joint or town joint meeting with its agenda."""

    type: Literal["meeting.convene"] = "meeting.convene"
    meeting: Reference = Field(description="Meeting reference, e.g. ZQ-001-M-2025-03")
    kind: MeetingKind
    community: CommunityCode | None = Field(
        default=None, description="Required for four_in_one and community_joint")
    town: TownCode | None = Field(default=None, description="Default: the community's town")
    title: Name
    held_at: When | None = Field(default=None, description="When it sits (default occurred_at)")
    agenda: list[AgendaItem] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _scope(self) -> ConveneMeeting:
        if self.kind == "town_joint":
            if self.community is not None:
                raise ValueError(_("a town joint meeting has no community; give town instead"))
            if self.town is None:
                raise ValueError(_("a town joint meeting needs its town"))
        elif self.community is None:
            raise ValueError(_("a {kind} meeting needs its community").format(kind=self.kind))
        return self

    def authority_qualifier(self) -> str | None:
        return self.kind


@register
class RecordAttendance(Command):
    """Record who attended a meeting, for which body."""

    type: Literal["meeting.attend"] = "meeting.attend"
    meeting: Reference
    attendees: list[Attendee] = Field(min_length=1, max_length=200)


@register
class CloseMeeting(Command):
    """Close a meeting with its minutes (a summary and a document reference)."""

    type: Literal["meeting.close"] = "meeting.close"
    meeting: Reference
    summary: Text = Field(min_length=1)
    document: Ref


@register
class AdoptResolution(Command):
    """Adopt a resolution at an open meeting: items with a responsible body, task and due date."""

    type: Literal["resolution.adopt"] = "resolution.adopt"
    meeting: Reference
    title: Name
    matter: Reference | None = Field(default=None, description="The matter it decides")
    items: list[ItemSpec] = Field(min_length=1, max_length=50)


@register
class ReportProgress(Command):
    """Add a progress note to a resolution item."""

    type: Literal["resolution.progress"] = "resolution.progress"
    item: ItemRef
    note: Text = Field(min_length=1)


@register
class CompleteItem(Command):
    """Record a resolution item as done, with an evidence reference."""

    type: Literal["resolution.complete"] = "resolution.complete"
    item: ItemRef
    evidence: Ref


@register
class RecordLapse(Command):
    """Record that a resolution item lapsed (past its due date, not done)."""

    type: Literal["resolution.lapse"] = "resolution.lapse"
    item: ItemRef


@register
class HandOverItem(Command):
    """Hand an open resolution item to a later meeting for follow-up."""

    type: Literal["resolution.hand_over"] = "resolution.hand_over"
    item: ItemRef
    to_meeting: Reference
    reason: Text = Field(min_length=1)


class MatterAttributesSpec(_Part):
    """The declared attributes the routing rule reads."""

    bodies_to_act: list[BodyCode] = Field(default_factory=list, max_length=20)
    public_interest_all_residents: bool = False
    field: MatterField = "other"
    departments_involved: int = Field(default=0, ge=0, le=50)
    overlapping_duties: bool = False


def _no_phone(value: str | None) -> str | None:
    if value is not None and _PHONE_LIKE.search(value):
        raise ValueError(_("looks like a phone or id number; keep residents' personal data out"))
    return value


@register
class RaiseMatter(Command):
    """Raise a matter in a community, with the attributes its routing reads."""

    type: Literal["matter.raise"] = "matter.raise"
    matter: Reference = Field(description="Matter reference, e.g. ZQ-001-MT-2025-004")
    community: CommunityCode
    title: Name
    description: Text = ""
    resident_ref: ResidentRef | None = Field(
        default=None, description="Raised by a resident: their pseudonymous reference only")
    subject: SubjectId | None = Field(
        default=None, description="Data-subject id for the raiser's key; default S-<matter>")
    attributes: MatterAttributesSpec

    _checks = field_validator("title", "description")(_no_phone)


@register
class RouteMatter(Command):
    """Route a matter with the rule matter.routing@1 (recording its inputs and decision)."""

    type: Literal["matter.route"] = "matter.route"
    matter: Reference
    system_allowed: ClassVar[bool] = True


@register
class OverrideRoute(Command):
    """Override a matter's route, with a stated reason."""

    type: Literal["matter.override_route"] = "matter.override_route"
    matter: Reference
    route: RouteName
    reason: Text = Field(min_length=1)


@register
class RecordProcedureStep(Command):
    """Record a step of the residents' committee's major-matter procedure."""

    type: Literal["matter.record_step"] = "matter.record_step"
    matter: Reference
    step: Step
    summary: Text = Field(min_length=1)
    document: Ref | None = None


@register
class RaiseTopic(Command):
    """Record a topic a resident raised on the deliberation platform."""

    type: Literal["topic.raise"] = "topic.raise"
    matter: Reference = Field(description="Topic reference, e.g. ZQ-003-TP-2025-01")
    community: CommunityCode
    title: Name
    description: Text = ""
    resident_ref: ResidentRef
    subject: SubjectId | None = Field(
        default=None, description="Data-subject id for the raiser's key; default S-<topic>")
    field: MatterField = "other"

    _checks = field_validator("title", "description")(_no_phone)


@register
class HearTopic(Command):
    """Record that a topic was heard at an open meeting."""

    type: Literal["topic.hear"] = "topic.hear"
    matter: Reference
    meeting: Reference


@register
class PublishOutcome(Command):
    """Publish the outcome of a heard topic or decided matter."""

    type: Literal["topic.publish"] = "topic.publish"
    matter: Reference
    summary: Text = Field(min_length=1)
    document: Ref

