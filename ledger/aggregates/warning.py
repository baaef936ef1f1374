"""The CommunityWarning: the three-level, three-colour warning (三级三色预警) on one community for
one problem type, with the measures each colour mandates as obligations with due dates.

A person decides the level (raise, escalate, de-escalate, lift), always with a reason and
evidence; the decision records the ``warning.suggest@1`` evaluation it accepted or overrode and
the ``warning.measures@1`` evaluation that produced its measures. Measures are fulfilled one by
one; a black warning's review either records clear improvement or engages third-party patrol
control.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate
from ledger.kernel.config import local_day
from ledger.kernel.errors import NotFoundError, RuleViolationError
from ledger.kernel.i18n import _

#: Levels from mildest to most severe.
LEVELS = ("none", "orange", "red", "black")
#: Decision actions and the level change each allows.
ACTIONS = ("raise", "escalate", "deescalate", "lift")
#: Measures the decision itself carries out (listing the community as a key target).
BY_DECISION = frozenset({"key_focus_listing", "key_rectification_listing"})
#: The review measure of a black warning, and the measure it may lead to.
REVIEW, THIRD_PARTY = "improvement_review", "third_party_patrol_control"


class WarningTransitionError(RuleViolationError):
    """Raised when a warning decision does not fit the level in force (e.g. escalating to a
    milder colour, lifting a warning that is not raised)."""

    code = "illegal_warning_transition"


class WarningEvidenceRequiredError(RuleViolationError):
    """Raised when a warning decision comes without a reason or without evidence."""

    code = "warning_evidence_required"


class MeasureNotFoundError(NotFoundError):
    """Raised when a measure is fulfilled that the warning in force does not owe."""

    code = "unknown_measure"


class MeasureRuleError(RuleViolationError):
    """Raised when a measure's fulfilment lacks what that measure requires."""

    code = "measure_rule"


def warning_key(community: str, problem_type: str) -> str:
    """The readable key of a community's warning for one problem type."""
    return f"{community}/{problem_type}"


class CommunityWarning(LedgerAggregate):
    """The warning level of one community for one problem type, and its mandated measures."""

    KIND = "warning"

    @staticmethod
    def create_id(code: str) -> Any:
        """Warning ids derive from ``<community>/<problem type>``."""
        return CommunityWarning.id_for(code)

    @event("Opened")
    def __init__(self, code: str, town: str, community: str, problem_type: str,
                 envelope: EnvelopeDict) -> None:
        self.code = code
        """``<community>/<problem type>``, e.g. ``ZQ-003/group_renting``."""
        self.town = town
        """Town code."""
        self.community = community
        """Community code."""
        self.problem_type = problem_type
        """Problem type the warning is about."""
        self.level = "none"
        """Level in force: none, orange, red or black."""
        self.since: str | None = None
        """When the level in force was decided."""
        self.decisions = 0
        """Decisions taken (numbering the measures)."""
        self.measures: list[dict[str, Any]] = []
        """Every measure ever mandated, with status open, fulfilled, not_required, superseded."""

    # ------------------------------------------------------------------ checks
    def check_decision(self, action: str, level: str, reason: str, evidence: list[str]) -> None:
        """Raise unless *action* to *level* fits the level in force and is justified."""
        cur, new = LEVELS.index(self.level), LEVELS.index(level)
        ok = {
            "raise": cur == 0 and new > 0,
            "escalate": 0 < cur < new,
            "deescalate": 0 < new < cur,
            "lift": cur > 0 and new == 0,
        }[action]
        if not ok:
            hint = {
                "raise": "raise only a community without a warning, to orange, red or black",
                "escalate": "escalate only to a more severe colour than the one in force",
                "deescalate": "de-escalate only to a milder colour (lift to end the warning)",
                "lift": "lift only a warning in force",
            }[action]
            raise WarningTransitionError(
                _("warning {code} is {level}: cannot {action} to {level2}; {hint}").format(
                    code=self.code, level=self.level, action=action, level2=level, hint=hint))
        if not reason.strip():
            raise WarningEvidenceRequiredError(
                _("warning {code}: {action} to {level} needs a reason").format(
                    code=self.code, action=action, level=level))
        if not evidence:
            raise WarningEvidenceRequiredError(
                _("warning {code}: {action} to {level} needs evidence (at least one reference: inspection "
                  "record, case, photo, report)").format(code=self.code, action=action, level=level))

    def open_measure(self, code: str) -> dict[str, Any]:
        """The open measure *code* of the warning in force."""
        for m in self.measures:
            if m["code"] == code and m["status"] == "open":
                return m
        owed = ", ".join(m["code"] for m in self.measures if m["status"] == "open")
        raise MeasureNotFoundError(
            _("warning {code} ({level}) owes no open measure {code2!r}; open measures: {value}").format(
                code=self.code, level=self.level, code2=code, value=owed or 'none'))

    # ------------------------------------------------------------------ commands
    def decide(self, action: str, level: str, reason: str, evidence: list[str],
               suggestion: dict[str, Any], measures_rule: dict[str, Any], at: datetime,
               envelope: EnvelopeDict) -> None:
        """Record a person's decision on the level, with the measures it mandates."""
        self.check_decision(action, level, reason, evidence)
        number = self.decisions + 1
        start = local_day(at)
        measures = []
        for m in measures_rule["decision"]["measures"]:
            measures.append({
                "id": f"{number}.{m['code']}",
                "code": m["code"], "level": m["level"],
                "name_zh": m["name_zh"], "name_en": m["name_en"],
                "due": (start + timedelta(days=int(m["due_in_days"]))).isoformat(),
                "repeat_every_days": m.get("repeat_every_days"),
                "condition": m.get("condition"),
                "status": "fulfilled" if m["code"] in BY_DECISION else "open",
            })
        superseded = [m["id"] for m in self.measures if m["status"] == "open"]
        suggested = suggestion["decision"]["level"]
        method = {"raise": self._raised, "escalate": self._escalated,
                  "deescalate": self._deescalated, "lift": self._lifted}[action]
        method(self.level, level, reason, evidence, suggestion, suggested == level,
               measures_rule, measures, superseded, envelope)

    def fulfil(self, code: str, note: str, evidence: list[str], person: str | None,
               outcome: str | None, third_party: str | None, at: datetime,
               envelope: EnvelopeDict) -> None:
        """Record that a measure was taken (a spot check, the plan, the stationed team…)."""
        m = self.open_measure(code)
        if m["condition"] == "no_clear_improvement":
            raise MeasureRuleError(
                _("warning {code}: {code2} follows from the review; record the review ({review}) with "
                  "outcome not_improved and the third party engaged").format(
                    code=self.code, code2=code, review=REVIEW))
        if code in ("onsite_supervision", "supervision_team_stationed") and not person:
            raise MeasureRuleError(
                _("warning {code}: {code2} records who was sent; give the person").format(
                    code=self.code, code2=code))
        if not evidence:
            raise MeasureRuleError(
                _("warning {code}: fulfilling {code2} needs evidence (record, report, photo)").format(
                    code=self.code, code2=code))
        waived: list[str] = []
        engaged: dict[str, Any] | None = None
        if code == REVIEW:
            if outcome not in ("improved", "not_improved"):
                raise MeasureRuleError(
                    _("warning {code}: the review records outcome improved or not_improved").format(
                        code=self.code))
            follow = next((x for x in self.measures if x["code"] == THIRD_PARTY
                           and x["status"] == "open"), None)
            if outcome == "improved" and follow:
                waived.append(follow["id"])
            if outcome == "not_improved":
                if not third_party:
                    raise MeasureRuleError(
                        _("warning {code}: without clear improvement third-party forces are organised for "
                          "patrol control; name the third party engaged").format(code=self.code))
                if follow:
                    engaged = follow
        elif outcome or third_party:
            raise MeasureRuleError(
                _("warning {code}: outcome and third party belong to the {review} only").format(
                    code=self.code, review=REVIEW))
        next_due = None
        if m["repeat_every_days"]:
            next_due = (local_day(at) + timedelta(days=int(m["repeat_every_days"]))).isoformat()
        self._measure_fulfilled(m["id"], code, note, evidence, person, outcome, next_due,
                                waived, envelope)
        if engaged is not None:
            self._third_party_engaged(engaged["id"], third_party or "", note, evidence, envelope)

    def overdue_measures(self) -> list[dict[str, Any]]:
        """Open, unconditional measures of the warning in force (each with its due date)."""
        return [m for m in self.measures if m["status"] == "open" and not m.get("condition")]

    @staticmethod
    def measure_step(measure: dict[str, Any]) -> str:
        """How automatic supervision names a measure's current obligation: ``<id>@<due>``."""
        return f"{measure['id']}@{measure['due']}"

    def due_event(self, measure: dict[str, Any]) -> str:
        """``warning:<key>@<version>``: the event that set the measure's current due date."""
        return f"warning:{self.code}@{measure.get('due_version', 1)}"

    def escalation_level(self, step: str) -> str:
        """The level a measure's obligation *step* was escalated to (``none`` if never)."""
        for m in self.measures:
            if self.measure_step(m) == step or step.startswith(f"{m['id']}@"):
                return str(m.get("escalations", {}).get(step, "none"))
        return "none"

    def escalate_measure(self, escalation: dict[str, Any], evaluation: dict[str, Any],
                         input_events: list[str], envelope: EnvelopeDict) -> None:
        """Record an escalation of a lapsed measure decided by ``case.supervision@1``."""
        step = escalation["step"]
        if not any(self.measure_step(m) == step for m in self.overdue_measures()):
            raise MeasureNotFoundError(
                _("warning {code} owes no open measure due as {step}; the escalation no "
                  "longer applies").format(
                    code=self.code, step=step))
        self._measure_escalated(step.split("@", 1)[0], step, escalation["level"],
                                escalation["previous_level"], str(escalation["due"]),
                                int(escalation["days_overdue"]), escalation["reason"],
                                evaluation, input_events, envelope)

    # ------------------------------------------------------------------ events
    def _apply_decision(self, level: str, measures: list[dict[str, Any]],
                        superseded: list[str], envelope: EnvelopeDict) -> None:
        for m in self.measures:
            if m["id"] in superseded:
                m["status"] = "superseded"
        self.decisions += 1
        self.level = level
        self.since = envelope["occurred_at"]
        self.measures.extend({**m, "due_version": self.version + 1} for m in measures)

    @event("Raised")
    def _raised(self, from_level: str, level: str, reason: str, evidence: list[str],
                suggestion: dict[str, Any], accepted_suggestion: bool,
                measures_rule: dict[str, Any], measures: list[dict[str, Any]],
                superseded: list[str], envelope: EnvelopeDict) -> None:
        self._apply_decision(level, measures, superseded, envelope)

    @event("Escalated")
    def _escalated(self, from_level: str, level: str, reason: str, evidence: list[str],
                   suggestion: dict[str, Any], accepted_suggestion: bool,
                   measures_rule: dict[str, Any], measures: list[dict[str, Any]],
                   superseded: list[str], envelope: EnvelopeDict) -> None:
        self._apply_decision(level, measures, superseded, envelope)

    @event("Deescalated")
    def _deescalated(self, from_level: str, level: str, reason: str, evidence: list[str],
                     suggestion: dict[str, Any], accepted_suggestion: bool,
                     measures_rule: dict[str, Any], measures: list[dict[str, Any]],
                     superseded: list[str], envelope: EnvelopeDict) -> None:
        self._apply_decision(level, measures, superseded, envelope)

    @event("Lifted")
    def _lifted(self, from_level: str, level: str, reason: str, evidence: list[str],
                suggestion: dict[str, Any], accepted_suggestion: bool,
                measures_rule: dict[str, Any], measures: list[dict[str, Any]],
                superseded: list[str], envelope: EnvelopeDict) -> None:
        self._apply_decision(level, measures, superseded, envelope)

    @event("MeasureFulfilled")
    def _measure_fulfilled(self, measure: str, code: str, note: str, evidence: list[str],
                           person: str | None, outcome: str | None, next_due: str | None,
                           waived: list[str], envelope: EnvelopeDict) -> None:
        for m in self.measures:
            if m["id"] == measure:
                if next_due:
                    m["due"] = next_due
                    m["due_version"] = self.version + 1
                else:
                    m["status"] = "fulfilled"
            if m["id"] in waived:
                m["status"] = "not_required"

    @event("MeasureEscalated")
    def _measure_escalated(self, measure: str, step: str, level: str, previous_level: str,
                           due: str, days_overdue: int, reason: dict[str, Any],
                           rule: dict[str, Any], input_events: list[str],
                           envelope: EnvelopeDict) -> None:
        for m in self.measures:
            if m["id"] == measure:
                m.setdefault("escalations", {})[step] = level

    @event("ThirdPartyPatrolEngaged")
    def _third_party_engaged(self, measure: str, third_party: str, note: str,
                             evidence: list[str], envelope: EnvelopeDict) -> None:
        for m in self.measures:
            if m["id"] == measure:
                m["status"] = "fulfilled"

