"""The Matter (事项): an issue raised by residents, the three heads, committees or departments
(directly, or as a topic on the deliberation platform), routed by ``matter.routing@1`` to the
forum that decides it, and followed until it is decided and the outcome published.

A resident who raises a matter is kept as a pseudonymous reference only (no name, no phone).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate
from ledger.kernel.errors import AlreadyExistsError, NotFoundError, RuleViolationError
from ledger.kernel.i18n import _

#: Routes and their names (the rule's routes).
ROUTES: dict[str, tuple[str, str]] = {
    "four_in_one": ("四位一体会议商定", "four-in-one meeting"),
    "rc_autonomous": ("居委重大事项决策程序自治处置", "residents' committee decides autonomously"),
    "party_building_joint_meeting": ("党建联建联席会议处置", "party-building joint meeting"),
}

#: Meeting kinds that may take up a matter on each meeting route.
MEETING_KINDS_FOR_ROUTE: dict[str, tuple[str, ...]] = {
    "four_in_one": ("four_in_one", "community_joint"),
    "party_building_joint_meeting": ("community_joint", "town_joint"),
    "rc_autonomous": (),
}

#: The residents' committee's major-matter decision procedure, in order.
PROCEDURE_STEPS: tuple[str, ...] = ("proposal", "deliberation", "decision", "publication")

#: How a matter reached the ledger.
CHANNELS = ("direct", "platform")


class MatterNotFoundError(NotFoundError):
    """Raised when a command names a matter that has not been raised."""

    code = "unknown_matter"


class MatterExistsError(AlreadyExistsError):
    """Raised when raising a matter under a reference that is already used."""

    code = "matter_exists"


class MatterStateError(RuleViolationError):
    """Raised when a matter is routed, stepped, heard, decided or published out of order."""

    code = "matter_state"


class Matter(LedgerAggregate):
    """A matter raised in a community, its route, and how it was decided."""

    KIND = "matter"

    @staticmethod
    def create_id(code: str) -> Any:
        """Matter ids derive from the matter reference."""
        return Matter.id_for(code)

    @event("Raised")
    def __init__(self, code: str, town: str, community: str, title: str, description: str,
                 channel: str, raiser_kind: str, resident: dict[str, str] | None,
                 attributes: dict[str, Any], envelope: EnvelopeDict) -> None:
        self.code = code
        """Matter reference, e.g. ``ZQ-001-MT-2025-004``."""
        self.town = town
        """Town code."""
        self.community = community
        """Community code."""
        self.title = title
        """Short title."""
        self.description = description
        """What the matter is (no personal data of residents)."""
        self.channel = channel
        """``direct`` or ``platform`` (a deliberation-platform topic)."""
        self.raiser_kind = raiser_kind
        """``resident``, ``three_heads``, ``committee``, ``department`` or ``other``."""
        self.resident = resident
        """A resident raiser's reference, sealed under their own key (ledger.kernel.privacy):
        the subject id, nonce and ciphertext only."""
        self.attributes = dict(attributes)
        """Declared attributes: the inputs of ``matter.routing@1``."""
        self.route: str | None = None
        """Where it is decided (after routing, possibly overridden)."""
        self.routing: dict[str, Any] | None = None
        """The rule evaluation recorded when it was routed."""
        self.steps: list[str] = []
        """Major-matter procedure steps recorded (``rc_autonomous`` route)."""
        self.taken_up: list[dict[str, Any]] = []
        """Meetings (and resolutions) where it was heard or decided."""
        self.outcome: dict[str, Any] | None = None
        """Published outcome ``{"summary", "document", "published_on"}``."""

    @property
    def decided(self) -> bool:
        """Whether a forum has decided it."""
        return self.outcome is not None or any(t.get("resolution") for t in self.taken_up)

    # ------------------------------------------------------------------ commands
    def route_by_rule(self, evaluation: dict[str, Any], envelope: EnvelopeDict) -> str:
        """Record the rule's routing (rule id@version, parameters, inputs, decision)."""
        if self.route is not None:
            raise MatterStateError(
                _("matter {code} was already routed to {route}; override the route with a stated reason "
                  "instead (matter override)").format(code=self.code, route=self.route)
            )
        route = str(evaluation["decision"]["route"])
        self._routed(evaluation["rule"], evaluation["parameters"], evaluation["inputs"],
                     evaluation["inputs_digest"], evaluation["decision"], route, envelope)
        return route

    def override_route(self, route: str, reason: str, envelope: EnvelopeDict) -> None:
        """A person overrides the route, with a stated reason."""
        if self.route is None:
            raise MatterStateError(_("matter {code} has not been routed yet; route it first").format(
                                       code=self.code))
        if route == self.route:
            raise MatterStateError(_("matter {code} is already routed to {route}").format(
                                       code=self.code, route=route))
        if self.steps or self.decided:
            raise MatterStateError(
                _("matter {code} is already being decided on route {route}; its route can no longer "
                  "change").format(
                    code=self.code, route=self.route)
            )
        if not reason.strip():
            raise MatterStateError(_("overriding a route needs a stated reason (--reason)"))
        self._route_overridden(self.route, route, reason, envelope)

    def record_step(self, step: str, summary: str, document: str | None,
                    envelope: EnvelopeDict) -> None:
        """Record the next step of the residents' committee's major-matter procedure."""
        if self.route != "rc_autonomous":
            raise MatterStateError(
                _("matter {code} is routed to {value}; the major-matter procedure applies to the "
                  "rc_autonomous route only").format(code=self.code, value=self.route or 'nowhere yet')
            )
        expected = PROCEDURE_STEPS[len(self.steps)] if len(self.steps) < len(PROCEDURE_STEPS) \
            else None
        if step != expected:
            raise MatterStateError(
                _("matter {code}: the next procedure step is {value}, not {step}; the steps are "
                  "{procedure_steps}").format(
                    code=self.code, value=expected or 'none (done)', step=step,
                    procedure_steps=', '.join(PROCEDURE_STEPS))
            )
        self._procedure_step_recorded(step, summary, document, envelope)

    def check_meeting_route(self, meeting_kind: str, meeting: str) -> None:
        """Raise unless a *meeting_kind* meeting may take up this matter."""
        if self.channel == "platform" and self.route is None:
            return
        if self.route is None:
            raise MatterStateError(
                _("matter {code} has not been routed; route it before a meeting decides it").format(
                    code=self.code)
            )
        if meeting_kind not in MEETING_KINDS_FOR_ROUTE[self.route]:
            raise MatterStateError(
                _("matter {code} is routed to {route}; a {meeting_kind} meeting ({meeting}) does not "
                  "decide it — take it up at the right meeting or override the route").format(
                    code=self.code, route=self.route, meeting_kind=meeting_kind, meeting=meeting)
            )

    def take_up(self, meeting: str, meeting_kind: str, resolution: str | None,
                envelope: EnvelopeDict) -> None:
        """Record that a meeting heard it (and adopted *resolution* on it)."""
        self.check_meeting_route(meeting_kind, meeting)
        self._taken_up(meeting, resolution, envelope)

    def publish(self, summary: str, document: str, when: datetime,
                envelope: EnvelopeDict) -> None:
        """Publish the outcome of a heard platform topic (or of a decided matter)."""
        if self.outcome is not None:
            raise MatterStateError(
                _("matter {code}'s outcome was already published on {published_on}").format(
                    code=self.code, published_on=self.outcome['published_on'])
            )
        if not self.taken_up:
            raise MatterStateError(
                _("matter {code} has not been heard at a meeting yet; hear it first").format(
                    code=self.code)
            )
        self._outcome_published(summary, document, when.date().isoformat(), envelope)

    # ------------------------------------------------------------------ events
    @event("Routed")
    def _routed(self, rule: str, parameters: dict[str, Any], inputs: dict[str, Any],
                inputs_digest: str, decision: dict[str, Any], route: str,
                envelope: EnvelopeDict) -> None:
        self.route = route
        self.routing = {"rule": rule, "parameters": parameters, "inputs": inputs,
                        "inputs_digest": inputs_digest, "decision": decision}

    @event("RouteOverridden")
    def _route_overridden(self, previous: str, route: str, reason: str,
                          envelope: EnvelopeDict) -> None:
        self.route = route

    @event("ProcedureStepRecorded")
    def _procedure_step_recorded(self, step: str, summary: str, document: str | None,
                                 envelope: EnvelopeDict) -> None:
        self.steps.append(step)
        if step == PROCEDURE_STEPS[-1]:
            self.outcome = {"summary": summary, "document": document,
                            "published_on": envelope.get("occurred_at", "")[:10]}

    @event("TakenUp")
    def _taken_up(self, meeting: str, resolution: str | None, envelope: EnvelopeDict) -> None:
        self.taken_up.append({"meeting": meeting, "resolution": resolution})

    @event("OutcomePublished")
    def _outcome_published(self, summary: str, document: str, published_on: str,
                           envelope: EnvelopeDict) -> None:
        self.outcome = {"summary": summary, "document": document, "published_on": published_on}
