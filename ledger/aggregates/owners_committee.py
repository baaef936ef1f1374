"""The OwnersCommittee (业委会): one committee term of one community, from its preparatory group
to the end of its term, with its rules, money records, mediations and tenders.

Key: ``<community>/<term>``, e.g. ``ZQ-001/2025``. Owners'-committee posts on the community
roster exist only through the election recorded here (see :meth:`OwnersCommittee.check_elected`).
Amounts are stored as decimal strings.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate, at
from ledger.kernel.config import localize
from ledger.kernel.errors import (
    ElectionRequiredError,
    ImplausibleTimeError,
    NotFoundError,
    RuleViolationError,
    TenderWindowError,
)
from ledger.kernel.i18n import _

#: Roles of the committee and the post each fills on the community roster.
ROLE_POSTS = {
    "director": "owners_committee.director",
    "deputy_director": "owners_committee.deputy_director",
    "member": "owners_committee.member",
}


class OwnersCommitteeNotFoundError(NotFoundError):
    """Raised when a command names an owners' committee (community/term) never formed."""

    code = "unknown_owners_committee"


class OwnersCommitteeStepError(RuleViolationError):
    """Raised when a committee step comes out of order (an election before any nomination, a
    term started before the election, a tender by a committee not in office…)."""

    code = "owners_committee_step"


class TenderNotFoundError(NotFoundError):
    """Raised when a tender reference names no tender of that committee."""

    code = "unknown_tender"


class TenderStateError(RuleViolationError):
    """Raised when a tender is used in a way its state forbids (bid after award, award to a
    firm that did not bid, a second contract from one tender…)."""

    code = "tender_state"


def turnout_percent(voted: int, total: int) -> str:
    """Turnout as a percentage with two places, as text (``"68.25"``)."""
    value = (Decimal(voted) * 100 / Decimal(total)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return f"{value:f}"


class OwnersCommittee(LedgerAggregate):
    """One owners' committee term: preparatory group, nominations, election, term, rules,
    maintenance-fund and public-revenue records, mediations and tenders."""

    KIND = "oc"

    @staticmethod
    def create_id(code: str) -> Any:
        """Committee ids derive from ``<community>/<term>``."""
        return OwnersCommittee.id_for(code)

    @event("GroupFormed")
    def __init__(self, code: str, community: str, town: str, term: str, kind: str,
                 previous: str | None, group: list[dict[str, Any]],
                 temporary_party_org: list[dict[str, Any]], envelope: EnvelopeDict) -> None:
        self.code = code
        """``<community>/<term>``."""
        self.community = community
        """Community code."""
        self.town = town
        """Town code (the town formed the group)."""
        self.term = term
        """Term label, e.g. ``2025``."""
        self.kind = kind
        """``formation`` (first committee) or ``re_election`` (换届改选)."""
        self.previous = previous
        """The committee a re-election succeeds, if recorded in the ledger."""
        self.group = list(group)
        """Preparatory (or re-election) group members: person, name, role."""
        self.temporary_party_org = list(temporary_party_org)
        """Temporary party organisation members: person, name, role."""
        self.formed_at: str = envelope["occurred_at"]
        """When the group was formed."""
        self.candidates: dict[str, dict[str, Any]] = {}
        """Person → name, role, town recommendation."""
        self.election: dict[str, Any] | None = None
        """The assembly's election: date, owners total/voted, turnout, votes, elected."""
        self.term_start: str | None = None
        """When the term started (the elected took their posts)."""
        self.planned_end: str | None = None
        """The term's planned end date."""
        self.term_end: str | None = None
        """When the term ended."""
        self.rules: dict[str, dict[str, Any]] = {}
        """Document kind → ref, decision, adopted at."""
        self.fund_uses: list[dict[str, Any]] = []
        """Maintenance-fund uses: amount (decimal text), purpose, decision."""
        self.revenues: list[dict[str, Any]] = []
        """Public-revenue records: amount (decimal text), source, purpose, decision."""
        self.mediations: list[dict[str, Any]] = []
        """Mediated owners' disputes."""
        self.tenders: dict[str, dict[str, Any]] = {}
        """Tender ref → title, launched, status, bids, winner, contract."""

    # ------------------------------------------------------------------ checks
    @property
    def in_office(self) -> bool:
        """Whether the term has started and not ended."""
        return self.term_start is not None and self.term_end is None

    def check_in_office(self, what: str, when: datetime) -> None:
        """Raise unless the committee was in office at *when*."""
        if self.term_start is None or at(self.term_start) > when:
            raise OwnersCommitteeStepError(
                _("owners' committee {code} was not in office at {when} (term started: {value}); {what} "
                  "needs a sitting committee (oc start-term)").format(
                    code=self.code, when=when.isoformat(), value=self.term_start or 'not yet',
                    what=what))
        if self.term_end is not None and at(self.term_end) <= when:
            raise OwnersCommitteeStepError(
                _("owners' committee {code} left office at {term_end}; {what} belongs to the committee in "
                  "office then").format(code=self.code, term_end=self.term_end, what=what))

    def check_elected(self, person: str, role: str) -> None:
        """Raise :class:`ElectionRequiredError` unless this committee's recorded election
        elected *person* to *role* (director, deputy_director, member)."""
        if self.election is None:
            raise ElectionRequiredError(
                _("owners' committee {code} has no recorded election yet; record the owners' assembly's "
                  "result first (oc elect)").format(code=self.code))
        got = self.election["elected"].get(person)
        if got is None:
            raise ElectionRequiredError(
                _("{person} was not elected in {code}'s election of {assembly_date}; owners'-committee "
                  "posts are filled only through an election").format(
                    person=person, code=self.code, assembly_date=self.election['assembly_date']))
        if got != role:
            raise ElectionRequiredError(
                _("{person} was elected {got}, not {role}, in {code}'s election of {assembly_date}").format(
                    person=person, got=got, role=role, code=self.code,
                    assembly_date=self.election['assembly_date']))
        if self.term_end is not None:
            raise ElectionRequiredError(
                _("owners' committee {code}'s term ended at {term_end}; its election no longer fills "
                  "posts").format(
                    code=self.code, term_end=self.term_end))

    def tender(self, ref: str) -> dict[str, Any]:
        """The tender *ref*; :class:`TenderNotFoundError` if this committee launched none."""
        if ref not in self.tenders:
            raise TenderNotFoundError(
                _("tender {ref!r} was not launched by owners' committee {code}").format(
                    ref=ref, code=self.code))
        return self.tenders[ref]

    # ------------------------------------------------------------------ commands
    def nominate(self, person: str, person_name: str, role: str, recommended_by_town: bool,
                 recommendation: str | None, envelope: EnvelopeDict) -> None:
        """Nominate a candidate (before the election)."""
        if self.election is not None:
            raise OwnersCommitteeStepError(
                _("owners' committee {code} already held its election; nominations are closed").format(
                    code=self.code))
        if person in self.candidates:
            raise OwnersCommitteeStepError(_("{person} is already a candidate in {code}").format(
                                               person=person, code=self.code))
        self._candidate_nominated(person, person_name, role, recommended_by_town,
                                  recommendation, envelope)

    def record_election(self, assembly_date: datetime, owners_total: int, owners_voted: int,
                        votes: dict[str, int], elected: dict[str, str],
                        envelope: EnvelopeDict) -> None:
        """Record the owners' assembly's election; every elected person must be a candidate."""
        if self.election is not None:
            raise OwnersCommitteeStepError(
                _("owners' committee {code} already recorded its election of {assembly_date}").format(
                    code=self.code, assembly_date=self.election['assembly_date']))
        if not self.candidates:
            raise OwnersCommitteeStepError(
                _("owners' committee {code} has no candidates; nominate them first (oc nominate)").format(
                    code=self.code))
        for person in list(votes) + list(elected):
            if person not in self.candidates:
                raise OwnersCommitteeStepError(
                    _("{person} was not nominated in {code}; only candidates get votes").format(
                        person=person, code=self.code))
        if assembly_date < at(self.formed_at):
            raise OwnersCommitteeStepError(
                _("the assembly of {assembly_date} is before the preparatory group was formed "
                  "({formed_at})").format(
                    assembly_date=assembly_date.isoformat(), formed_at=self.formed_at))
        self._election_recorded(assembly_date.isoformat(), owners_total, owners_voted,
                                turnout_percent(owners_voted, owners_total), dict(votes),
                                dict(elected), envelope)

    def start(self, start: datetime, planned_end: str | None, envelope: EnvelopeDict) -> None:
        """Start the term (after the election)."""
        if self.election is None:
            raise OwnersCommitteeStepError(
                _("owners' committee {code} has no recorded election; its term cannot start (oc elect "
                  "first)").format(code=self.code))
        if self.term_start is not None:
            raise OwnersCommitteeStepError(
                _("owners' committee {code}'s term already started at {term_start}").format(
                    code=self.code, term_start=self.term_start))
        if start < at(self.election["assembly_date"]):
            raise OwnersCommitteeStepError(
                _("the term cannot start ({start}) before the election ({assembly_date})").format(
                    start=start.isoformat(), assembly_date=self.election['assembly_date']))
        self._term_started(start.isoformat(), planned_end, envelope)

    def end(self, end: datetime, reason: str, envelope: EnvelopeDict) -> None:
        """End the term."""
        if self.term_start is None or self.term_end is not None:
            raise OwnersCommitteeStepError(
                _("owners' committee {code} is not in office (started {value}, ended {value2})").format(
                    code=self.code, value=self.term_start or 'never',
                    value2=self.term_end or 'not yet'))
        if end <= at(self.term_start):
            raise OwnersCommitteeStepError(
                _("the term cannot end ({end}) before it started ({term_start})").format(
                    end=end.isoformat(), term_start=self.term_start))
        self._term_ended(end.isoformat(), reason, envelope)

    def adopt_rules(self, document: str, ref: str, decision: str | None, when: datetime,
                    envelope: EnvelopeDict) -> None:
        """Adopt the rules of procedure, management convention or working rules."""
        self.check_in_office("adopting rules", when)
        self._rules_adopted(document, ref, decision, envelope)

    def record_fund_use(self, amount: Decimal, purpose: str, decision: str, when: datetime,
                        envelope: EnvelopeDict) -> None:
        """Record a maintenance-fund use approved by the assembly (*decision*)."""
        self.check_in_office("a maintenance-fund record", when)
        self._fund_use_recorded(f"{amount:f}", purpose, decision, envelope)

    def record_revenue(self, amount: Decimal, source: str, purpose: str, decision: str,
                       when: datetime, envelope: EnvelopeDict) -> None:
        """Record public revenue approved by the assembly (*decision*)."""
        self.check_in_office("a public-revenue record", when)
        self._revenue_recorded(f"{amount:f}", source, purpose, decision, envelope)

    def mediate(self, dispute: str, parties: list[str], summary: str, outcome: str,
                when: datetime, envelope: EnvelopeDict) -> None:
        """Record a mediated owners' dispute."""
        self.check_in_office("a mediation", when)
        if any(m["dispute"] == dispute for m in self.mediations):
            raise OwnersCommitteeStepError(_("dispute {dispute!r} is already recorded in {code}").format(
                                               dispute=dispute, code=self.code))
        self._dispute_mediated(dispute, list(parties), summary, outcome, envelope)

    def launch_tender(self, ref: str, title: str, closes: str | None, when: datetime,
                      envelope: EnvelopeDict) -> None:
        """Launch a public tender for the community's property service; it closes on
        *closes* (a date not before the launch day), if given."""
        self.check_in_office("a tender", when)
        if closes is not None and date.fromisoformat(closes) < when.date():
            raise TenderWindowError(
                _("tender {ref!r} would close on {closes}, before its launch ({when})").format(
                    ref=ref, closes=closes, when=when.isoformat()))
        if ref in self.tenders:
            raise TenderStateError(_("tender {ref!r} was already launched by {code}").format(
                                       ref=ref, code=self.code))
        self._tender_launched(ref, title, closes, envelope)

    @staticmethod
    def closing_moment(tender: dict[str, Any]) -> datetime | None:
        """When bidding stops: the start of the day after the closing date (bids are taken
        through the whole closing day), or ``None`` for a tender without a closing date."""
        closes = tender.get("closes")
        if not closes:
            return None
        return localize(date.fromisoformat(closes) + timedelta(days=1))

    def check_bid_window(self, ref: str, when: datetime) -> None:
        """Raise :class:`TenderWindowError` unless *when* lies between the tender's launch
        and the end of its closing day."""
        tender = self.tender(ref)
        launched = at(tender["launched_at"])
        if when < launched:
            raise TenderWindowError(
                _("a bid dated {when} is before tender {ref!r} was launched ({launched_at}); bids are "
                  "taken from the launch to the closing date").format(
                    when=when.isoformat(), ref=ref, launched_at=tender['launched_at']))
        closing = self.closing_moment(tender)
        if closing is not None and when >= closing:
            raise TenderWindowError(
                _("a bid dated {when} is after tender {ref!r} closed (closing date {closes}, launched "
                  "{launched_at}); bids are taken from the launch to the closing date").format(
                    when=when.isoformat(), ref=ref, closes=tender['closes'],
                    launched_at=tender['launched_at']))

    def check_award_time(self, ref: str, when: datetime) -> None:
        """Raise :class:`TenderWindowError` unless *when* comes after the tender closed (or,
        without a closing date, not before its launch and its last bid)."""
        tender = self.tender(ref)
        closing = self.closing_moment(tender)
        if closing is not None and when < closing:
            raise TenderWindowError(
                _("an award dated {when} is before tender {ref!r} closed (closing date {closes}); a tender "
                  "is awarded after it closes").format(
                    when=when.isoformat(), ref=ref, closes=tender['closes']))
        earliest = max([at(tender["launched_at"])]
                       + [at(b["at"]) for b in tender["bids"].values()])
        if when < earliest:
            raise TenderWindowError(
                _("an award dated {when} is before {earliest}, when tender {ref!r} was launched or last "
                  "bid on; a tender is awarded after its bids").format(
                    when=when.isoformat(), earliest=earliest.isoformat(), ref=ref))

    def receive_bid(self, ref: str, firm: str, annual_fee: Decimal | None, when: datetime,
                    envelope: EnvelopeDict) -> None:
        """Record a bid dated *when* (the caller has checked the firm's bidding ban)."""
        tender = self.tender(ref)
        if tender["status"] != "open":
            raise TenderStateError(_("tender {ref!r} of {code} is {status}; it takes no more bids").format(
                                       ref=ref, code=self.code, status=tender['status']))
        if firm in tender["bids"]:
            raise TenderStateError(_("firm {firm} already bid in tender {ref!r}").format(
                                       firm=firm, ref=ref))
        self.check_bid_window(ref, when)
        self._bid_received(ref, firm, None if annual_fee is None else f"{annual_fee:f}",
                           envelope)

    def award(self, ref: str, firm: str, decision: str, when: datetime,
              envelope: EnvelopeDict) -> None:
        """Award the tender, after it closed, to a firm that bid."""
        tender = self.tender(ref)
        if tender["status"] != "open":
            raise TenderStateError(_("tender {ref!r} of {code} is already {status}").format(
                                       ref=ref, code=self.code, status=tender['status']))
        if firm not in tender["bids"]:
            bidders = ", ".join(sorted(tender["bids"])) or "none"
            raise TenderStateError(_("firm {firm} did not bid in tender {ref!r} (bidders: {bidders}); a "
                                     "tender is awarded to a bidder").format(
                                       firm=firm, ref=ref, bidders=bidders))
        self.check_award_time(ref, when)
        self._tender_awarded(ref, firm, decision, envelope)

    def conclude(self, ref: str, firm: str, contract: str, when: datetime,
                 envelope: EnvelopeDict) -> None:
        """Mark the awarded tender as concluded by *contract* with its winner, signed at
        *when* (not before the award)."""
        tender = self.tender(ref)
        if tender["status"] != "awarded":
            raise TenderStateError(_("tender {ref!r} of {code} is {status}; a contract is signed after the "
                                     "award").format(ref=ref, code=self.code, status=tender['status']))
        if tender["winner"] != firm:
            raise TenderStateError(_("tender {ref!r} was awarded to {winner}, not {firm}").format(
                                       ref=ref, winner=tender['winner'], firm=firm))
        awarded = tender.get("awarded_at")
        if awarded and when < at(awarded):
            raise ImplausibleTimeError(
                _("a contract signed {when} is before tender {ref!r} was awarded ({awarded}); a contract "
                  "is signed after the award").format(when=when.isoformat(), ref=ref, awarded=awarded))
        self._contract_concluded(ref, firm, contract, envelope)

    # ------------------------------------------------------------------ events
    @event("CandidateNominated")
    def _candidate_nominated(self, person: str, person_name: str, role: str,
                             recommended_by_town: bool, recommendation: str | None,
                             envelope: EnvelopeDict) -> None:
        self.candidates[person] = {"name": person_name, "role": role,
                                   "recommended_by_town": recommended_by_town,
                                   "recommendation": recommendation}

    @event("ElectionRecorded")
    def _election_recorded(self, assembly_date: str, owners_total: int, owners_voted: int,
                           turnout: str, votes: dict[str, int], elected: dict[str, str],
                           envelope: EnvelopeDict) -> None:
        self.election = {"assembly_date": assembly_date, "owners_total": owners_total,
                         "owners_voted": owners_voted, "turnout": turnout, "votes": votes,
                         "elected": elected}

    @event("TermStarted")
    def _term_started(self, start: str, planned_end: str | None,
                      envelope: EnvelopeDict) -> None:
        self.term_start = start
        self.planned_end = planned_end

    @event("TermEnded")
    def _term_ended(self, end: str, reason: str, envelope: EnvelopeDict) -> None:
        self.term_end = end

    @event("RulesAdopted")
    def _rules_adopted(self, document: str, ref: str, decision: str | None,
                       envelope: EnvelopeDict) -> None:
        self.rules[document] = {"ref": ref, "decision": decision,
                                "adopted_at": envelope["occurred_at"]}

    @event("FundUseRecorded")
    def _fund_use_recorded(self, amount: str, purpose: str, decision: str,
                           envelope: EnvelopeDict) -> None:
        self.fund_uses.append({"amount": amount, "purpose": purpose, "decision": decision,
                               "at": envelope["occurred_at"]})

    @event("RevenueRecorded")
    def _revenue_recorded(self, amount: str, source: str, purpose: str, decision: str,
                          envelope: EnvelopeDict) -> None:
        self.revenues.append({"amount": amount, "source": source, "purpose": purpose,
                              "decision": decision, "at": envelope["occurred_at"]})

    @event("DisputeMediated")
    def _dispute_mediated(self, dispute: str, parties: list[str], summary: str, outcome: str,
                          envelope: EnvelopeDict) -> None:
        self.mediations.append({"dispute": dispute, "parties": parties, "summary": summary,
                                "outcome": outcome, "at": envelope["occurred_at"]})

    @event("TenderLaunched")
    def _tender_launched(self, tender: str, title: str, closes: str | None,
                         envelope: EnvelopeDict) -> None:
        self.tenders[tender] = {"title": title, "closes": closes,
                                "launched_at": envelope["occurred_at"], "status": "open",
                                "bids": {}, "winner": None, "contract": None}

    @event("BidReceived")
    def _bid_received(self, tender: str, firm: str, annual_fee: str | None,
                      envelope: EnvelopeDict) -> None:
        self.tenders[tender]["bids"][firm] = {"annual_fee": annual_fee,
                                              "at": envelope["occurred_at"]}

    @event("TenderAwarded")
    def _tender_awarded(self, tender: str, firm: str, decision: str,
                        envelope: EnvelopeDict) -> None:
        self.tenders[tender].update(status="awarded", winner=firm, decision=decision,
                                    awarded_at=envelope["occurred_at"])

    @event("ContractConcluded")
    def _contract_concluded(self, tender: str, firm: str, contract: str,
                            envelope: EnvelopeDict) -> None:
        self.tenders[tender].update(status="contracted", contract=contract)
