"""The AppraisalYear (年末考核): one town's year-end appraisal of one year.

Key: ``<town>/<year>``, e.g. ``ZQ/2025`` (``ledger history ZQ/2025``).

While the year is **open** it collects what the appraisal rests on: each property firm's
annual score (with the appraising body) and owners' satisfaction (with the survey's sample
size), owners'-committee evaluations on the criteria of DOMAIN §3, the resident
representatives' appraisal of each party in each community, three-heads commendations,
social-organisation evaluations, rewards and penalties, the indicator definitions and the
entered indicator values.

**Closing** runs ``firm.appraisal@1`` once (ranking, bottom three, elimination list) and records
the outcome (``Closed``, with rule, parameters, inputs, digest and the log positions of the score
and satisfaction events that entered it). Afterwards a firm may object within the town's
objection period; each objection is answered; the year is then **finalised**. A correction
needs the year **reopened** with a reason; closing again reruns the rules and records what
changed per firm (``OutcomeChanged``: actions added and withdrawn).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate, at
from ledger.kernel.errors import AlreadyExistsError, NotFoundError, RuleViolationError
from ledger.kernel.i18n import _

#: Owners'-committee evaluation criteria (DOMAIN §3) → (Chinese, English).
OC_CRITERIA: dict[str, tuple[str, str]] = {
    "safe_community_cooperation": ("配合平安社区治理", "cooperation with safe-community governance"),
    "maintenance_fund_use": ("维修资金使用", "use of the maintenance fund"),
    "public_revenue_use": ("公共收益使用", "use of public revenue"),
    "firm_supervision": ("监督物业企业", "supervision of its property firm"),
    "dispute_mediation": ("调解业主纠纷", "mediation of owners' disputes"),
}

#: Ratings resident representatives give a party (and social organisations get).
RATINGS: dict[str, tuple[str, str]] = {
    "excellent": ("优秀", "excellent"),
    "good": ("良好", "good"),
    "fair": ("一般", "fair"),
    "poor": ("较差", "poor"),
}


class AppraisalYearNotFoundError(NotFoundError):
    """Raised when a command names an appraisal year (town/year) that was never opened."""

    code = "unknown_appraisal_year"


class AppraisalYearExistsError(AlreadyExistsError):
    """Raised when opening an appraisal year that is already open or closed."""

    code = "appraisal_year_exists"


class AppraisalYearStateError(RuleViolationError):
    """Raised when a step does not fit the year's state: recording to a closed year, closing
    with a firm's grade incomplete, reopening without closing, finalising too early…"""

    code = "appraisal_year_state"


class ObjectionError(RuleViolationError):
    """Raised when an objection is filed outside the objection period, by a firm that was not
    graded, or answered twice or unknown."""

    code = "appraisal_objection"


class IndicatorError(RuleViolationError):
    """Raised when an indicator is defined twice, unknown, measured by an unknown calculator,
    or given a value although the ledger measures it."""

    code = "appraisal_indicator"


class AppraisalYear(LedgerAggregate):
    """One town's year-end appraisal of one calendar year."""

    KIND = "appraisal"

    @staticmethod
    def create_id(code: str) -> Any:
        """Appraisal-year ids derive from ``<town>/<year>``."""
        return AppraisalYear.id_for(code)

    @staticmethod
    def key_for(town: str, year: int) -> str:
        """The readable key ``<town>/<year>``."""
        return f"{town}/{year}"

    @event("Opened")
    def __init__(self, code: str, town: str, year: int, envelope: EnvelopeDict) -> None:
        self.code = code
        """``<town>/<year>``."""
        self.town = town
        """Town code."""
        self.year = year
        """The calendar year appraised."""
        self.opened_at: str = envelope["occurred_at"]
        """When the year was opened (business time); nothing of it is dated earlier."""
        self.status = "open"
        """``open``, ``closed`` or ``finalised``."""
        self.scores: dict[str, dict[str, Any]] = {}
        """Firm → score (decimal text), body, note, version of the event that recorded it."""
        self.satisfaction: dict[str, dict[str, Any]] = {}
        """Firm → percent (decimal text), sample size, survey, event version."""
        self.runs = 0
        """How many times the rules ran (closings)."""
        self.closed_at: str | None = None
        """When the year was last closed."""
        self.objection_until: str | None = None
        """End of the objection period after the last closing."""
        self.outcomes: dict[str, dict[str, Any]] = {}
        """Firm → its outcome in the last run (rank, flags, reasons, actions)."""
        self.evaluation: dict[str, Any] | None = None
        """The last run's rule record: rule, parameters, inputs, inputs digest, decision."""
        self.follow_ups: dict[str, dict[str, Any]] = {}
        """Follow-up task → firm, communities, committees, legal counsel, due, status."""
        self.objections: dict[str, dict[str, Any]] = {}
        """Objection → firm, text, filed at, answer."""
        self.oc_evaluations: dict[str, dict[str, Any]] = {}
        """Owners' committee → criteria scores, overall, comment."""
        self.resident_appraisals: dict[str, dict[str, Any]] = {}
        """``<community>|<party>`` → ratings by resident representatives."""
        self.commendations: list[dict[str, Any]] = []
        """Three-heads commendations."""
        self.social_organisations: list[dict[str, Any]] = []
        """Social-organisation evaluations."""
        self.rewards_penalties: list[dict[str, Any]] = []
        """Rewards and penalties."""
        self.indicators: dict[str, dict[str, Any]] = {}
        """Indicator code → names, unit, weight, source, measure."""
        self.indicator_values: dict[str, dict[str, Any]] = {}
        """``<code>|<community>`` → entered value and note."""
        self.stale: dict[str, Any] | None = None
        """Set when an earlier year was rerun after this year's last run (its history input
        may have changed): the earlier year, its run, when. Cleared by the next run."""

    # ------------------------------------------------------------------ checks
    def check_open(self, what: str) -> None:
        """Raise unless the year is open for recording."""
        if self.status != "open":
            raise AppraisalYearStateError(
                _("appraisal year {code} is {status}; {what} needs it open — reopen it with a reason first "
                  "(appraisal reopen)").format(code=self.code, status=self.status, what=what))

    def grades(self) -> list[dict[str, str]]:
        """Every firm with both a score and a satisfaction rate: firm_id, score, satisfaction."""
        return [{"firm_id": firm, "score": self.scores[firm]["score"],
                 "satisfaction": self.satisfaction[firm]["percent"]}
                for firm in sorted(self.scores) if firm in self.satisfaction]

    def check_complete(self) -> None:
        """Raise unless every firm scored has a satisfaction rate and the reverse."""
        half = sorted(set(self.scores) ^ set(self.satisfaction))
        if half:
            missing = [f"{f} ({'satisfaction' if f in self.scores else 'score'})" for f in half]
            raise AppraisalYearStateError(
                _("appraisal year {code} cannot close: missing {missing}; a firm is graded on both its "
                  "score and its owners' satisfaction").format(
                    code=self.code, missing=', '.join(missing)))
        if not self.scores:
            raise AppraisalYearStateError(
                _("appraisal year {code} cannot close: no firm has been graded").format(code=self.code))

    # ------------------------------------------------------------------ recording
    def record_score(self, firm: str, score: str, body: str, note: str,
                     envelope: EnvelopeDict) -> None:
        """Record (or, while open, correct) a firm's annual score from the appraising body."""
        self.check_open("recording a score")
        previous = self.scores.get(firm, {}).get("score")
        self._firm_score_recorded(firm, score, body, note, previous, envelope)

    def record_satisfaction(self, firm: str, percent: str, sample_size: int, survey: str,
                            envelope: EnvelopeDict) -> None:
        """Record (or, while open, correct) the owners' satisfaction rate of a firm."""
        self.check_open("recording satisfaction")
        previous = self.satisfaction.get(firm, {}).get("percent")
        self._satisfaction_recorded(firm, percent, sample_size, survey, previous, envelope)

    def evaluate_oc(self, oc: str, community: str, criteria: dict[str, str], overall: str,
                    comment: str, envelope: EnvelopeDict) -> None:
        """Record an owners'-committee evaluation on the DOMAIN §3 criteria."""
        self.check_open("evaluating an owners' committee")
        self._oc_evaluated(oc, community, dict(criteria), overall, comment, envelope)

    def record_resident_appraisal(self, community: str, party: str,
                                  ratings: list[dict[str, Any]], envelope: EnvelopeDict) -> None:
        """Record resident representatives' appraisal of one party in one community."""
        self.check_open("recording a resident appraisal")
        counts = {r: sum(1 for x in ratings if x["rating"] == r) for r in RATINGS}
        self._resident_appraisal_recorded(community, party, list(ratings), counts, envelope)

    def commend(self, community: str, person: str, person_name: str, post: str, title: str,
                reason: str, envelope: EnvelopeDict) -> None:
        """Record a three-heads commendation (创先争优)."""
        self.check_open("a commendation")
        self._three_heads_commended(community, person, person_name, post, title, reason,
                                    envelope)

    def evaluate_social_organisation(self, community: str, organisation: str, rating: str,
                                     funding: str | None, honour: str, comment: str,
                                     envelope: EnvelopeDict) -> None:
        """Record a social organisation's evaluation (rating, funding support, honour)."""
        self.check_open("a social-organisation evaluation")
        self._social_organisation_evaluated(community, organisation, rating, funding, honour,
                                            comment, envelope)

    def record_reward_or_penalty(self, party: str, community: str | None, kind: str,
                                 measure: str, reason: str, envelope: EnvelopeDict) -> None:
        """Record a reward or a penalty that follows the appraisal."""
        self._reward_or_penalty_recorded(party, community, kind, measure, reason, envelope)

    def define_indicator(self, spec: dict[str, Any], envelope: EnvelopeDict) -> None:
        """Define one of the town's indicators for this year."""
        self.check_open("defining an indicator")
        if spec["code"] in self.indicators:
            raise IndicatorError(_("indicator {code!r} is already defined for {code2}").format(
                                     code=spec['code'], code2=self.code))
        self._indicator_defined(spec, envelope)

    def record_indicator_value(self, code: str, community: str, value: str, note: str,
                               envelope: EnvelopeDict) -> None:
        """Record the value of an entered indicator for one community."""
        self.check_open("recording an indicator value")
        spec = self.indicators.get(code)
        if spec is None:
            known = ", ".join(sorted(self.indicators)) or "none yet"
            raise IndicatorError(_("indicator {code!r} is not defined for {code2}; defined: {known}").format(
                                     code=code, code2=self.code, known=known))
        if spec["source"] != "entered":
            raise IndicatorError(_("indicator {code!r} is measured from the ledger ({measure}); only "
                                   "entered indicators take values").format(
                                     code=code, measure=spec['measure']))
        self._indicator_value_recorded(code, community, value, note, envelope)

    # ------------------------------------------------------------------ closing
    def close(self, evaluation: dict[str, Any], rule: dict[str, Any], input_events: list[int],
              objection_days: int, envelope: EnvelopeDict) -> list[dict[str, Any]]:
        """Record a run of the rules; return per-firm changes against the previous run
        (``[]`` on the first run, when every outcome is new)."""
        if self.status != "open":
            raise AppraisalYearStateError(_("appraisal year {code} is already {status}").format(
                                              code=self.code, status=self.status))
        self.check_complete()
        when = at(envelope["occurred_at"])
        until = (when + timedelta(days=objection_days)).isoformat()
        previous = dict(self.outcomes)
        run = self.runs + 1
        self._closed(run, rule, input_events, evaluation, objection_days, until, envelope)
        changes: list[dict[str, Any]] = []
        if run == 1:
            return changes
        for firm in sorted(set(previous) | set(self.outcomes)):
            before, after = previous.get(firm), self.outcomes.get(firm)
            if _essence(before) == _essence(after):
                continue
            b_actions = set(before["actions"]) if before else set()
            a_actions = set(after["actions"]) if after else set()
            added, withdrawn = sorted(a_actions - b_actions), sorted(b_actions - a_actions)
            change = {"firm": firm, "run": run, "added": added, "withdrawn": withdrawn,
                      "before": before, "after": after}
            self._outcome_changed(firm, run, added, withdrawn, before, after, envelope)
            changes.append(change)
        return changes

    def assign_follow_up(self, firm: str, communities: list[dict[str, Any]],
                         legal_counsel: list[str], due: str, envelope: EnvelopeDict) -> str:
        """Task the owners' committees a firm serves, with the town's legal counsel, to
        terminate its contracts; return the task reference."""
        task = f"FU-{self.year}-{len(self.follow_ups) + 1}"
        self._follow_up_assigned(task, firm, communities, legal_counsel, due, envelope)
        return task

    def open_follow_ups_for(self, firm: str, contract: str) -> list[tuple[str, dict[str, Any]]]:
        """(task, the community entry) of *firm*'s open follow-up tasks that name *contract*
        and whose community is not yet done."""
        out = []
        for task, spec in sorted(self.follow_ups.items()):
            if spec["firm"] != firm or spec["status"] != "open":
                continue
            done = spec.get("done", {})
            for entry in spec["communities"]:
                if entry["contract"] == contract and entry["community"] not in done:
                    out.append((task, entry))
        return out

    def complete_follow_up(self, task: str, firm: str, entry: dict[str, Any],
                           termination: dict[str, Any], envelope: EnvelopeDict) -> str:
        """Record that the committee terminated *entry*'s contract (*termination*: the firm,
        contract, kind, effective date, and the event that recorded it); the task is
        ``completed`` once every community it names is done. Returns the task's status."""
        spec = self.follow_ups[task]
        done = set(spec.get("done", {})) | {entry["community"]}
        status = "completed" if done >= {c["community"] for c in spec["communities"]} \
            else "open"
        on_time = termination["recorded_on"] <= spec["due"]
        self._follow_up_completed(task, firm, entry["community"], entry["contract"],
                                  termination, on_time, status, envelope)
        return status

    def note_contested(self, firm: str, contract: str, contest: dict[str, Any],
                       envelope: EnvelopeDict) -> list[str]:
        """Record on *firm*'s follow-up tasks naming *contract* that its termination is
        contested (*contest*: grounds, document, the event that recorded it)."""
        tasks = []
        for task, spec in sorted(self.follow_ups.items()):
            if spec["firm"] == firm and spec["status"] != "cancelled" and any(
                    c["contract"] == contract for c in spec["communities"]):
                self._follow_up_contested(task, firm, contract, contest, envelope)
                tasks.append(task)
        return tasks

    def cancel_follow_ups(self, firm: str, reason: str, envelope: EnvelopeDict) -> list[str]:
        """Cancel open follow-up tasks of *firm* (its elimination was withdrawn)."""
        cancelled = []
        for task, spec in sorted(self.follow_ups.items()):
            if spec["firm"] == firm and spec["status"] == "open":
                self._follow_up_cancelled(task, firm, reason, envelope)
                cancelled.append(task)
        return cancelled

    def mark_stale(self, because: str, run: int, envelope: EnvelopeDict) -> None:
        """An earlier year (*because*) was rerun (its *run*) after this year was closed: this
        year's outcomes rest on history that may have changed."""
        if self.runs == 0:
            return
        self._marked_stale(because, run, envelope)

    def record_cascade(self, trigger: str, trigger_run: int, changes: list[dict[str, Any]],
                       envelope: EnvelopeDict) -> None:
        """Record that this year was rerun in a cascade after *trigger*'s run *trigger_run*,
        and what changed (per firm: actions added and withdrawn)."""
        changed = [{"firm": c["firm"], "added": c["added"], "withdrawn": c["withdrawn"]}
                   for c in changes]
        self._cascade_rerun(trigger, trigger_run, self.runs, changed, envelope)

    def reopen(self, reason: str, envelope: EnvelopeDict) -> None:
        """Reopen a closed (or finalised) year for corrections; the reason is recorded."""
        if self.status == "open":
            raise AppraisalYearStateError(_("appraisal year {code} is open; nothing to reopen").format(
                                              code=self.code))
        if not reason.strip():
            raise AppraisalYearStateError(_("reopening an appraisal year needs a reason"))
        self._reopened(reason, self.status, envelope)

    def file_objection(self, firm: str, text: str, when: datetime,
                       envelope: EnvelopeDict) -> str:
        """A graded firm objects to its outcome within the objection period."""
        if self.status != "closed" or self.objection_until is None:
            raise ObjectionError(
                _("appraisal year {code} is {status}; objections are filed after it is closed and before "
                  "it is finalised").format(code=self.code, status=self.status))
        if firm not in self.outcomes:
            raise ObjectionError(_("firm {firm} was not graded in {code}; only a graded firm may object to "
                                   "its outcome").format(firm=firm, code=self.code))
        if when > at(self.objection_until):
            raise ObjectionError(
                _("the objection period of {code} ended at {objection_until}; an objection after it is not "
                  "accepted").format(code=self.code, objection_until=self.objection_until))
        ref = f"OBJ-{self.year}-{len(self.objections) + 1}"
        self._objection_filed(ref, firm, text, self.runs, envelope)
        return ref

    def answer_objection(self, ref: str, decision: str, answer: str,
                         envelope: EnvelopeDict) -> None:
        """Answer an objection: ``upheld`` (a correction follows by reopening) or ``dismissed``."""
        obj = self.objections.get(ref)
        if obj is None:
            raise ObjectionError(_("no objection {ref!r} in {code}").format(ref=ref, code=self.code))
        if obj["decision"] is not None:
            raise ObjectionError(_("objection {ref} was already answered ({decision})").format(
                                     ref=ref, decision=obj['decision']))
        self._objection_answered(ref, decision, answer, envelope)

    def finalise(self, when: datetime, envelope: EnvelopeDict) -> None:
        """Finalise a closed year once its objection period is over and every objection is
        answered."""
        if self.status != "closed" or self.objection_until is None:
            raise AppraisalYearStateError(
                _("appraisal year {code} is {status}; only a closed year is finalised").format(
                    code=self.code, status=self.status))
        if when <= at(self.objection_until):
            raise AppraisalYearStateError(
                _("the objection period of {code} runs until {objection_until}; finalise after it").format(
                    code=self.code, objection_until=self.objection_until))
        pending = sorted(r for r, o in self.objections.items() if o["decision"] is None)
        if pending:
            raise AppraisalYearStateError(
                _("objection(s) {pending} of {code} are not answered; answer them before finalising").format(
                    pending=', '.join(pending), code=self.code))
        self._finalised(self.runs, envelope)

    # ------------------------------------------------------------------ events
    @event("FirmScoreRecorded")
    def _firm_score_recorded(self, firm: str, score: str, body: str, note: str,
                             previous: str | None, envelope: EnvelopeDict) -> None:
        self.scores[firm] = {"score": score, "body": body, "note": note,
                             "version": self.version + 1, "actor": envelope.get("actor"),
                             "post": envelope.get("post"),
                             "occurred_at": envelope.get("occurred_at")}

    @event("SatisfactionRecorded")
    def _satisfaction_recorded(self, firm: str, percent: str, sample_size: int, survey: str,
                               previous: str | None, envelope: EnvelopeDict) -> None:
        self.satisfaction[firm] = {"percent": percent, "sample_size": sample_size,
                                   "survey": survey, "version": self.version + 1,
                                   "actor": envelope.get("actor"),
                                   "post": envelope.get("post"),
                                   "occurred_at": envelope.get("occurred_at")}

    @event("OwnersCommitteeEvaluated")
    def _oc_evaluated(self, oc: str, community: str, criteria: dict[str, str], overall: str,
                      comment: str, envelope: EnvelopeDict) -> None:
        self.oc_evaluations[oc] = {"community": community, "criteria": criteria,
                                   "overall": overall, "comment": comment}

    @event("ResidentAppraisalRecorded")
    def _resident_appraisal_recorded(self, community: str, party: str,
                                     ratings: list[dict[str, Any]], counts: dict[str, int],
                                     envelope: EnvelopeDict) -> None:
        self.resident_appraisals[f"{community}|{party}"] = {
            "community": community, "party": party, "ratings": ratings, "counts": counts}

    @event("ThreeHeadsCommended")
    def _three_heads_commended(self, community: str, person: str, person_name: str, post: str,
                               title: str, reason: str, envelope: EnvelopeDict) -> None:
        self.commendations.append({"community": community, "person": person,
                                   "person_name": person_name, "post": post, "title": title,
                                   "reason": reason})

    @event("SocialOrganisationEvaluated")
    def _social_organisation_evaluated(self, community: str, organisation: str, rating: str,
                                       funding: str | None, honour: str, comment: str,
                                       envelope: EnvelopeDict) -> None:
        self.social_organisations.append({"community": community, "organisation": organisation,
                                          "rating": rating, "funding": funding,
                                          "honour": honour, "comment": comment})

    @event("RewardOrPenaltyRecorded")
    def _reward_or_penalty_recorded(self, party: str, community: str | None, kind: str,
                                    measure: str, reason: str, envelope: EnvelopeDict) -> None:
        self.rewards_penalties.append({"party": party, "community": community, "kind": kind,
                                       "measure": measure, "reason": reason})

    @event("IndicatorDefined")
    def _indicator_defined(self, spec: dict[str, Any], envelope: EnvelopeDict) -> None:
        self.indicators[spec["code"]] = dict(spec)

    @event("IndicatorValueRecorded")
    def _indicator_value_recorded(self, code: str, community: str, value: str, note: str,
                                  envelope: EnvelopeDict) -> None:
        self.indicator_values[f"{code}|{community}"] = {"code": code, "community": community,
                                                        "value": value, "note": note}

    @event("Closed")
    def _closed(self, run: int, rule: dict[str, Any], input_events: list[int],
                evaluation: dict[str, Any], objection_days: int, objection_until: str,
                envelope: EnvelopeDict) -> None:
        self.status = "closed"
        self.runs = run
        self.closed_at = envelope["occurred_at"]
        self.objection_until = objection_until
        self.evaluation = evaluation
        self.outcomes = {f["firm_id"]: dict(f)
                         for f in evaluation["decision"]["elimination"]["firms"]}
        self.stale = None

    @event("MarkedStale")
    def _marked_stale(self, because: str, run: int, envelope: EnvelopeDict) -> None:
        self.stale = {"because": because, "run": run, "at": envelope["occurred_at"]}

    @event("CascadeRerun")
    def _cascade_rerun(self, trigger: str, trigger_run: int, run: int,
                       changed: list[dict[str, Any]], envelope: EnvelopeDict) -> None:
        pass

    @event("OutcomeChanged")
    def _outcome_changed(self, firm: str, run: int, added: list[str], withdrawn: list[str],
                         before: dict[str, Any] | None, after: dict[str, Any] | None,
                         envelope: EnvelopeDict) -> None:
        pass

    @event("FollowUpAssigned")
    def _follow_up_assigned(self, task: str, firm: str, communities: list[dict[str, Any]],
                            legal_counsel: list[str], due: str, envelope: EnvelopeDict) -> None:
        self.follow_ups[task] = {"firm": firm, "communities": communities,
                                 "legal_counsel": legal_counsel, "due": due, "status": "open"}

    @event("FollowUpCompleted")
    def _follow_up_completed(self, task: str, firm: str, community: str, contract: str,
                             termination: dict[str, Any], on_time: bool, status: str,
                             envelope: EnvelopeDict) -> None:
        spec = self.follow_ups[task]
        spec.setdefault("done", {})[community] = {"contract": contract, "on_time": on_time,
                                                   "termination": termination}
        spec["status"] = status

    @event("FollowUpContested")
    def _follow_up_contested(self, task: str, firm: str, contract: str,
                             contest: dict[str, Any], envelope: EnvelopeDict) -> None:
        self.follow_ups[task].setdefault("contested", []).append(
            {"contract": contract, **contest})

    @event("FollowUpCancelled")
    def _follow_up_cancelled(self, task: str, firm: str, reason: str,
                             envelope: EnvelopeDict) -> None:
        self.follow_ups[task]["status"] = "cancelled"

    @event("Reopened")
    def _reopened(self, reason: str, previous_status: str, envelope: EnvelopeDict) -> None:
        self.status = "open"
        self.objection_until = None

    @event("ObjectionFiled")
    def _objection_filed(self, objection: str, firm: str, text: str, run: int,
                         envelope: EnvelopeDict) -> None:
        self.objections[objection] = {"firm": firm, "text": text, "run": run,
                                      "filed_at": envelope["occurred_at"], "decision": None,
                                      "answer": None}

    @event("ObjectionAnswered")
    def _objection_answered(self, objection: str, decision: str, answer: str,
                            envelope: EnvelopeDict) -> None:
        self.objections[objection]["decision"] = decision
        self.objections[objection]["answer"] = answer

    @event("Finalised")
    def _finalised(self, run: int, envelope: EnvelopeDict) -> None:
        self.status = "finalised"


def _essence(outcome: dict[str, Any] | None) -> Any:
    """What of an outcome counts as a change: rank, flags, run and actions (not texts)."""
    if outcome is None:
        return None
    return (outcome["score"], outcome["satisfaction"], outcome["rank"], outcome["bottom_three"],
            outcome["consecutive_bottom_three_years"], outcome["eliminated"],
            tuple(outcome["actions"]))
