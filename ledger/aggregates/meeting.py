"""The Meeting (会议): four-in-one meetings, community and town joint meetings, and the
resolutions adopted at them, followed item by item until each is done or lapses.

The resolutions live inside the meeting so that the meeting's history tells the whole story:
who convened it, who attended for which body, what was adopted, and how each item was carried
out (progress notes, completion with evidence, lapse, hand-over to a later meeting).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate, at
from ledger.kernel.errors import AlreadyExistsError, NotFoundError, RuleViolationError
from ledger.kernel.i18n import _

#: The kinds of meeting, with their Chinese and English names.
KINDS: dict[str, tuple[str, str]] = {
    "four_in_one": ("四位一体协商会议", "four-in-one consultation meeting"),
    "community_joint": ("社区协同治理联席会议", "community joint governance meeting"),
    "town_joint": ("镇协同治理联席会议", "town joint governance meeting"),
}

#: Bodies that sit in a community (their attendance and items name a community).
COMMUNITY_BODIES: tuple[str, ...] = (
    "party_org", "residents_committee", "owners_committee", "property_firm",
    "volunteer_team", "social_organisation", "party_group_leader", "resident_group_leader",
    "building_leader", "volunteer", "resident_representative",
)
#: Town offices that may attend or carry items (``town.<office>``).
TOWN_BODIES: tuple[str, ...] = (
    "town.peace_office", "town.joint_enforcement_office", "town.housing_office",
    "town.supervision_team", "town.government", "town.party_committee",
)

#: The member bodies of each kind of meeting (``department:*`` stands for any department).
MEMBERS: dict[str, tuple[str, ...]] = {
    "four_in_one": ("party_org", "residents_committee", "owners_committee", "property_firm"),
    "community_joint": ("party_org", "residents_committee", "owners_committee", "property_firm",
                        "volunteer_team", "social_organisation", "department:*"),
    "town_joint": ("town.peace_office", "department:*", "party_org", "owners_committee",
                   "property_firm"),
}

_ITEM_REF = re.compile(r"^(?P<meeting>[A-Z][A-Z0-9-]*[A-Z0-9])/(?P<res>R[0-9]+)/(?P<item>[0-9]+)$")


class MeetingNotFoundError(NotFoundError):
    """Raised when a command names a meeting that has not been convened."""

    code = "unknown_meeting"


class MeetingExistsError(AlreadyExistsError):
    """Raised when convening a meeting under a reference that is already used."""

    code = "meeting_exists"


class MeetingNotOpenError(RuleViolationError):
    """Raised when recording attendance, a resolution or a closing at a meeting that is closed
    or not yet held at the command's time."""

    code = "meeting_not_open"


class UnknownBodyError(NotFoundError):
    """Raised when an attendee or a resolution item names a body the ledger does not know."""

    code = "unknown_body"


class DueBeforeMeetingError(RuleViolationError):
    """Raised when a resolution item falls due before the meeting that adopts it."""

    code = "due_before_meeting"


class ResolutionItemNotFoundError(NotFoundError):
    """Raised when a command names a resolution item that does not exist."""

    code = "unknown_resolution_item"


class ItemAlreadyCompletedError(RuleViolationError):
    """Raised when reporting on, completing, lapsing or handing over an item already completed."""

    code = "item_already_completed"


class ItemNotOverdueError(RuleViolationError):
    """Raised when recording the lapse of an item that is not past its due date (or already
    recorded as lapsed)."""

    code = "item_not_overdue"


class HandOverError(RuleViolationError):
    """Raised when a resolution item is handed to a meeting that cannot take it up."""

    code = "invalid_hand_over"


def parse_item_ref(ref: str) -> tuple[str, str, int]:
    """``ZQ-001-M-2025-03/R1/2`` → (meeting reference, ``R1``, 2)."""
    m = _ITEM_REF.match(ref.strip())
    if m is None:
        raise ResolutionItemNotFoundError(
            _("resolution item {ref!r} is not of the form <meeting>/R<n>/<item>, e.g. "
              "ZQ-001-M-2025-03/R1/2").format(
                ref=ref)
        )
    return m["meeting"], m["res"], int(m["item"])


def body_key(body: str, community: str | None) -> str:
    """What attendance is compared on: community bodies per community, town bodies alone."""
    return f"{body}@{community}" if body in COMMUNITY_BODIES and community else body


def check_body(body: str, departments: dict[str, str]) -> None:
    """Raise :class:`UnknownBodyError` unless *body* is a body the ledger knows."""
    if body in COMMUNITY_BODIES or body in TOWN_BODIES:
        return
    if body.startswith("department:") and body.removeprefix("department:") in departments:
        return
    known = ", ".join(COMMUNITY_BODIES + TOWN_BODIES) + ", department:<" + \
        "|".join(sorted(departments)) + ">"
    raise UnknownBodyError(_("body {body!r} is not known; use one of: {known}").format(
                               body=body, known=known))


def is_member(kind: str, body: str) -> bool:
    """Whether *body* is a member of a *kind* meeting (others attend as guests)."""
    members = MEMBERS[kind]
    return body in members or (body.startswith("department:") and "department:*" in members)


def _day(text: str) -> date:
    return at(text).date()


class Meeting(LedgerAggregate):
    """A meeting: convened, attended, resolutions adopted and followed up, closed with minutes."""

    KIND = "meeting"

    @staticmethod
    def create_id(code: str) -> Any:
        """Meeting ids derive from the meeting reference."""
        return Meeting.id_for(code)

    @event("Convened")
    def __init__(self, code: str, kind: str, town: str, community: str | None, title: str,
                 held_at: str, agenda: list[dict[str, Any]], envelope: EnvelopeDict) -> None:
        self.code = code
        """Meeting reference, e.g. ``ZQ-001-M-2025-03`` or ``ZQ-TJ-2025-01``."""
        self.kind = kind
        """``four_in_one``, ``community_joint`` or ``town_joint``."""
        self.town = town
        """Town code."""
        self.community = community
        """Community code (``None`` for a town joint meeting)."""
        self.title = title
        """What the meeting is about."""
        self.held_at = held_at
        """When the meeting sits (ISO datetime)."""
        self.agenda: list[dict[str, Any]] = list(agenda)
        """Agenda items: ``{"no", "title", "matter"}``, plus follow-ups handed in later."""
        self.convened_by = {"person": envelope.get("actor"), "post": envelope.get("post")}
        """Who convened it, in which post."""
        self.attendance: list[dict[str, Any]] = []
        """Attendees: ``{"body", "community", "person", "person_name", "post", "guest"}``."""
        self.closed_at: str | None = None
        """When it was closed (``None`` while open)."""
        self.minutes: dict[str, Any] | None = None
        """``{"summary", "document"}`` once closed."""
        self.resolutions: dict[str, dict[str, Any]] = {}
        """``R1`` → ``{"title", "matter", "adopted_at", "items": {"1": {...}}}``."""
        self.topics: list[str] = []
        """Deliberation-platform topics heard at this meeting."""

    # ------------------------------------------------------------------ queries
    @property
    def is_open(self) -> bool:
        """Whether the meeting is convened and not closed."""
        return self.closed_at is None

    def present(self) -> set[str]:
        """Body keys of everyone recorded as attending."""
        return {body_key(a["body"], a.get("community")) for a in self.attendance}

    def item(self, resolution: str, item: int) -> dict[str, Any]:
        """The item ``R<n>/<item>``; raise :class:`ResolutionItemNotFoundError`."""
        res = self.resolutions.get(resolution)
        found: dict[str, Any] | None = res["items"].get(str(item)) if res else None
        if found is None:
            raise ResolutionItemNotFoundError(
                _("resolution item {code}/{resolution}/{item} does not exist; see 'ledger resolutions "
                  "--meeting {code}'").format(code=self.code, resolution=resolution, item=item)
            )
        return found

    # ------------------------------------------------------------------ checks
    def check_open(self, when: datetime, doing: str) -> None:
        """Raise unless the meeting has been held by *when* and is not closed."""
        if self.closed_at is not None:
            raise MeetingNotOpenError(
                _("meeting {code} was closed at {closed_at}; cannot {doing}. Record it at a "
                  "later meeting").format(
                    code=self.code, closed_at=self.closed_at, doing=doing)
            )
        if when < at(self.held_at):
            raise MeetingNotOpenError(
                _("meeting {code} is not convened until {held_at}; cannot {doing} at {when}").format(
                    code=self.code, held_at=self.held_at, doing=doing, when=when.isoformat())
            )

    def check_item_open(self, resolution: str, item: int, doing: str) -> dict[str, Any]:
        """The item, if it is not yet completed."""
        it = self.item(resolution, item)
        if it["completed_on"] is not None:
            raise ItemAlreadyCompletedError(
                _("resolution item {code}/{resolution}/{item} was completed on {completed_on} "
                  "({evidence}); cannot {doing}").format(
                    code=self.code, resolution=resolution, item=item,
                    completed_on=it['completed_on'], evidence=it['evidence'], doing=doing)
            )
        return it

    def open_items(self) -> list[tuple[str, dict[str, Any]]]:
        """(``<meeting>/R<n>/<item>``, item) for every item neither completed, lapsed nor
        handed over."""
        out = []
        for res, r in sorted(self.resolutions.items()):
            for no, it in sorted(r["items"].items(), key=lambda kv: int(kv[0])):
                if it["completed_on"] is None and it["lapsed_on"] is None \
                        and it["handed_to"] is None:
                    out.append((f"{self.code}/{res}/{no}", it))
        return out

    def adoption_event(self, ref: str) -> str:
        """``meeting:<code>@<version>``: the event that adopted item *ref* (its due date)."""
        _code, res, _no = parse_item_ref(ref)
        return f"meeting:{self.code}@{self.resolutions[res].get('adopted_version', 1)}"

    def escalation_level(self, ref: str) -> str:
        """The level item *ref* was escalated to by automatic supervision (``none``)."""
        _code, res, no = parse_item_ref(ref)
        return str(self.item(res, no).get("escalation") or "none")

    def escalate_item(self, escalation: dict[str, Any], evaluation: dict[str, Any],
                      input_events: list[str], envelope: EnvelopeDict) -> None:
        """Record an escalation of an overdue item decided by ``case.supervision@1``."""
        ref = escalation["key"]
        if ref not in dict(self.open_items()):
            raise ResolutionItemNotFoundError(
                _("resolution item {ref} is not open; the escalation no longer applies").format(ref=ref))
        _code, res, no = parse_item_ref(ref)
        self._item_escalated(res, no, escalation["level"], escalation["previous_level"],
                             str(escalation["due"]), int(escalation["days_overdue"]),
                             escalation["reason"], evaluation, input_events, envelope)

    # ------------------------------------------------------------------ commands
    def record_attendance(self, attendees: list[dict[str, Any]], when: datetime,
                          envelope: EnvelopeDict) -> None:
        """Record who attended, for which body."""
        self.check_open(when, "record attendance")
        seen = {(a["body"], a.get("community"), a["person"]) for a in self.attendance}
        fresh = [a for a in attendees if (a["body"], a.get("community"), a["person"]) not in seen]
        if not fresh:
            raise RuleViolationError(
                _("every attendee given is already recorded at meeting {code}").format(code=self.code)
            )
        for a in fresh:
            a["guest"] = not is_member(self.kind, a["body"])
        self._attendance_recorded(fresh, envelope)

    def close(self, summary: str, document: str, when: datetime, envelope: EnvelopeDict) -> None:
        """Close the meeting with its minutes."""
        self.check_open(when, "close it")
        self._closed(when.isoformat(), summary, document, envelope)

    def adopt(self, title: str, items: list[dict[str, Any]], matter: str | None,
              when: datetime, envelope: EnvelopeDict) -> str:
        """Adopt a resolution; return its number (``R1``…). Items to absent bodies are flagged."""
        self.check_open(when, "adopt a resolution")
        meeting_day = _day(self.held_at)
        present = self.present()
        out = []
        for n, it in enumerate(items, start=1):
            if date.fromisoformat(it["due"]) < meeting_day:
                raise DueBeforeMeetingError(
                    _("item {n} ({task!r}) is due {due}, before meeting {code} on {meeting_day}; give a "
                      "due date on or after the meeting").format(
                        n=n, task=it['task'][:40], due=it['due'], code=self.code,
                        meeting_day=meeting_day)
                )
            absent = body_key(it["body"], it.get("community")) not in present
            out.append({**it, "item": n, "absent_body": absent})
        number = f"R{len(self.resolutions) + 1}"
        self._resolution_adopted(number, title, out, matter, sorted(present), when.isoformat(),
                                 envelope)
        return number

    def report_progress(self, resolution: str, item: int, note: str, when: datetime,
                        envelope: EnvelopeDict) -> None:
        """Add a progress note to an open item."""
        self._check_after_adoption(resolution, when)
        self.check_item_open(resolution, item, "report progress")
        self._progress_reported(resolution, item, note, when.date().isoformat(), envelope)

    def complete(self, resolution: str, item: int, evidence: str, when: datetime,
                 envelope: EnvelopeDict) -> bool:
        """Record an item as done, with evidence; return whether it was late."""
        self._check_after_adoption(resolution, when)
        it = self.check_item_open(resolution, item, "complete it again")
        on = when.date()
        late = on > date.fromisoformat(it["due"])
        self._item_completed(resolution, item, evidence, on.isoformat(), late, envelope)
        return late

    def lapse(self, resolution: str, item: int, when: datetime, envelope: EnvelopeDict) -> None:
        """Record that an item lapsed: still not done after its due date."""
        it = self.check_item_open(resolution, item, "record a lapse")
        if it["lapsed_on"] is not None:
            raise ItemNotOverdueError(
                _("resolution item {code}/{resolution}/{item} was already recorded as lapsed on "
                  "{lapsed_on}").format(
                    code=self.code, resolution=resolution, item=item, lapsed_on=it['lapsed_on'])
            )
        if when.date() <= date.fromisoformat(it["due"]):
            raise ItemNotOverdueError(
                _("resolution item {code}/{resolution}/{item} is due {due}; it has not "
                  "lapsed on {when}").format(
                    code=self.code, resolution=resolution, item=item, due=it['due'],
                    when=when.date())
            )
        self._item_lapsed(resolution, item, when.date().isoformat(), envelope)

    def hand_over(self, resolution: str, item: int, target: Meeting, reason: str,
                  when: datetime, envelope: EnvelopeDict) -> None:
        """Hand an open item to a later meeting for follow-up (records on both meetings)."""
        it = self.check_item_open(resolution, item, "hand it over")
        ref = f"{self.code}/{resolution}/{item}"
        if target.code == self.code:
            raise HandOverError(_("{ref}: hand it to a later meeting, not to {code} itself").format(
                                    ref=ref, code=self.code))
        if at(target.held_at) <= at(self.held_at):
            raise HandOverError(
                _("{ref}: meeting {code} ({held_at}) is not later than {code2} ({held_at2}); hand it to a "
                  "later meeting").format(
                    ref=ref, code=target.code, held_at=target.held_at, code2=self.code,
                    held_at2=self.held_at)
            )
        if target.community not in (None, self.community) or target.town != self.town:
            raise HandOverError(
                _("{ref}: meeting {code} belongs to {value}; hand it to a meeting of {value2} or a town "
                  "joint meeting").format(
                    ref=ref, code=target.code, value=target.community or target.town,
                    value2=self.community or self.town)
            )
        if not target.is_open:
            raise HandOverError(_("{ref}: meeting {code} is closed; pick an open meeting").format(
                                    ref=ref, code=target.code))
        self._item_handed_over(resolution, item, target.code, reason, envelope)
        target._follow_up_taken(ref, it["body"], it.get("community"), it["task"], it["due"],
                                reason, envelope)

    def hear_topic(self, matter: str, when: datetime, envelope: EnvelopeDict) -> None:
        """Note that a deliberation-platform topic was heard here."""
        self.check_open(when, "hear a topic")
        self._topic_heard(matter, envelope)

    def _check_after_adoption(self, resolution: str, when: datetime) -> None:
        res = self.resolutions.get(resolution)
        if res is not None and when < at(res["adopted_at"]):
            raise RuleViolationError(
                _("resolution {code}/{resolution} was adopted at {adopted_at}; nothing can be recorded on "
                  "it at {when}").format(
                    code=self.code, resolution=resolution, adopted_at=res['adopted_at'],
                    when=when.isoformat())
            )

    # ------------------------------------------------------------------ events
    @event("AttendanceRecorded")
    def _attendance_recorded(self, attendees: list[dict[str, Any]],
                             envelope: EnvelopeDict) -> None:
        self.attendance.extend(dict(a) for a in attendees)

    @event("Closed")
    def _closed(self, closed_at: str, summary: str, document: str,
                envelope: EnvelopeDict) -> None:
        self.closed_at = closed_at
        self.minutes = {"summary": summary, "document": document}

    @event("ResolutionAdopted")
    def _resolution_adopted(self, resolution: str, title: str, items: list[dict[str, Any]],
                            matter: str | None, present: list[str], adopted_at: str,
                            envelope: EnvelopeDict) -> None:
        self.resolutions[resolution] = {
            "title": title, "matter": matter, "adopted_at": adopted_at,
            "adopted_version": self.version + 1,
            "items": {str(it["item"]): {**it, "progress": [], "completed_on": None,
                                        "evidence": None, "lapsed_on": None, "handed_to": None}
                      for it in items},
        }

    @event("ItemProgressReported")
    def _progress_reported(self, resolution: str, item: int, note: str, reported_on: str,
                           envelope: EnvelopeDict) -> None:
        self.item(resolution, item)["progress"].append(
            {"on": reported_on, "note": note, "by": envelope.get("actor")})

    @event("ItemCompleted")
    def _item_completed(self, resolution: str, item: int, evidence: str, completed_on: str,
                        late: bool, envelope: EnvelopeDict) -> None:
        it = self.item(resolution, item)
        it["completed_on"] = completed_on
        it["evidence"] = evidence

    @event("ItemLapsed")
    def _item_lapsed(self, resolution: str, item: int, lapsed_on: str,
                     envelope: EnvelopeDict) -> None:
        self.item(resolution, item)["lapsed_on"] = lapsed_on

    @event("ItemHandedOver")
    def _item_handed_over(self, resolution: str, item: int, to_meeting: str, reason: str,
                          envelope: EnvelopeDict) -> None:
        self.item(resolution, item)["handed_to"] = to_meeting

    @event("ItemEscalated")
    def _item_escalated(self, resolution: str, item: int, level: str, previous_level: str,
                        due: str, days_overdue: int, reason: dict[str, Any],
                        rule: dict[str, Any], input_events: list[str],
                        envelope: EnvelopeDict) -> None:
        self.item(resolution, item)["escalation"] = level

    @event("FollowUpTaken")
    def _follow_up_taken(self, item_ref: str, body: str, community: str | None, task: str,
                         due: str, reason: str, envelope: EnvelopeDict) -> None:
        self.agenda.append({"no": len(self.agenda) + 1, "title": task, "matter": None,
                            "follow_up": item_ref})

    @event("TopicHeard")
    def _topic_heard(self, matter: str, envelope: EnvelopeDict) -> None:
        self.topics.append(matter)
