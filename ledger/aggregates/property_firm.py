"""The PropertyFirm (物业服务企业): registration, contracts held, and its credit file.

Key: the unified social credit code (统一社会信用代码), validated per GB 32100-2015 by
:mod:`ledger.rules.credit_code`.

Public methods other domains build on (the year-end appraisal among them):

- :meth:`PropertyFirm.check_may_bid` raises :class:`BiddingBannedError` citing the ban;
  :meth:`PropertyFirm.ban_at` returns the ban in force at a time, or ``None``.
- :meth:`PropertyFirm.sign_contract`, :meth:`renew_contract`, :meth:`terminate_contract`;
  :meth:`contract` and :meth:`contracts_at` read them.
- :meth:`PropertyFirm.dismiss_for_non_performance` (owners' assembly dismissal) and
  :meth:`PropertyFirm.put_on_elimination_list` (a rule outcome, recorded with the rule's id,
  version, parameters and inputs) each add a credit record, a town-wide bidding ban, and a
  report to the district credit platform (``PropertyFirm.ReportedToDistrict``, the event other
  services subscribe to).

Amounts are stored as decimal strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from ledger.aggregates.base import EnvelopeDict, LedgerAggregate, at
from ledger.kernel.errors import ImplausibleTimeError, NotFoundError, RuleViolationError
from ledger.kernel.i18n import _
from ledger.kernel.reasons import render_reason

#: Name of the district platform firms' bad records are reported to.
DISTRICT_PLATFORM = "闵行区房管局物业征信平台 (Minhang district property credit platform)"


class FirmNotFoundError(NotFoundError):
    """Raised when a credit code names no registered property firm."""

    code = "unknown_firm"


class ContractNotFoundError(NotFoundError):
    """Raised when a contract reference names no contract of that firm."""

    code = "unknown_contract"


class ContractStateError(RuleViolationError):
    """Raised when a contract action does not fit the contract (renewing a terminated one,
    terminating before it started, a termination kind whose conditions are not met…)."""

    code = "contract_state"


class BiddingBannedError(RuleViolationError):
    """Raised when a firm with a town-wide bidding ban bids, is awarded or contracts; the
    message cites the ban: which, since when, why, and the event that imposed it."""

    code = "bidding_banned"

    def __init__(self, message: str, ban: dict[str, Any]) -> None:
        super().__init__(message)
        self.ban = ban
        """The ban as recorded on the firm."""


class PropertyFirm(LedgerAggregate):
    """A property-management firm: registration, contracts held, elimination and credit file."""

    KIND = "firm"

    @staticmethod
    def create_id(code: str) -> Any:
        """Firm ids derive from the unified social credit code."""
        return PropertyFirm.id_for(code)

    @event("Registered")
    def __init__(self, code: str, name: str, town: str, head: str, head_name: str,
                 envelope: EnvelopeDict) -> None:
        self.code = code
        """Unified social credit code (18 characters)."""
        self.name = name
        """Registered name."""
        self.town = town
        """Town where it is registered to serve."""
        self.head = head
        """Person id of the firm's head (负责人)."""
        self.head_name = head_name
        """The head's name."""
        self.registered_at: str = envelope["occurred_at"]
        """When the firm was registered in the ledger (business time)."""
        self.contracts: dict[str, dict[str, Any]] = {}
        """Contract ref → community, committee, tender, start, end, fee, status, history."""
        self.eliminations: list[dict[str, Any]] = []
        """Elimination-list entries: year, rule id@version, parameters, inputs, reason."""
        self.credit_records: list[dict[str, Any]] = []
        """Bad records in the credit file: id, kind, reason, community, basis."""
        self.bans: list[dict[str, Any]] = []
        """Town-wide bidding bans: id, since, kind, reason, record, event version, command."""
        self.reports: list[dict[str, Any]] = []
        """Reports to the district credit platform."""
        self.appraisals: list[dict[str, Any]] = []
        """Year-end appraisal outcomes recorded on the firm (one per run of a year)."""

    # ------------------------------------------------------------------ reading
    def ban_at(self, when: datetime) -> dict[str, Any] | None:
        """The first bidding ban in force at *when*, or ``None``. Bans are permanent unless
        explicitly lifted (an elimination withdrawn after an appraisal correction)."""
        return next((b for b in self.bans if at(b["since"]) <= when
                     and (b.get("lifted_at") is None or when < at(b["lifted_at"]))), None)

    def check_may_bid(self, when: datetime, recorded: datetime | None = None) -> None:
        """Raise :class:`BiddingBannedError`, citing the ban, if the firm may not bid at *when*
        (business time) or, when *recorded* (the record time, now) is given, if a ban was
        already recorded and in force then: a bid, award or contract recorded after a ban was
        imposed is refused however it is dated. Raise :class:`ImplausibleTimeError` if *when*
        is before the firm was registered."""
        self.check_registered_by(when)
        ban = self.ban_at(when)
        backdated = False
        if ban is None and recorded is not None:
            ban = self.ban_recorded_before(recorded)
            backdated = ban is not None
        if ban is None:
            return
        dated = (f"; the command is dated {when.isoformat()}, before the ban, but is recorded "
                 "after it, and a ban is checked against record time too" if backdated else "")
        raise BiddingBannedError(
            _("firm {code} ({name}) is banned from every property tender in town {town}: ban {ban} since "
              "{since} ({kind}: {reason}), imposed by event PropertyFirm.BiddingBanned version {version} "
              "of firm:{code} (command {command_id}); a banned firm cannot bid, be awarded or "
              "contract{dated}").format(
                code=self.code, name=self.name, town=self.town, ban=ban['ban'], since=ban['since'],
                kind=ban['kind'], version=ban['version'],
                reason=render_reason(ban.get("reason_code"), ban.get("reason_params"),
                                     ban['reason']),
                command_id=ban['command_id'], dated=dated), ban)

    def ban_recorded_before(self, recorded: datetime) -> dict[str, Any] | None:
        """A ban already in the firm's file (so recorded before *recorded*) and not lifted by
        then, whatever business time it runs from; ``None`` if there is none."""
        return next((b for b in self.bans
                     if b.get("lifted_at") is None or recorded < at(b["lifted_at"])), None)

    def check_registered_by(self, when: datetime) -> None:
        """Raise :class:`ImplausibleTimeError` if *when* is before the firm was registered."""
        registered = getattr(self, "registered_at", None)
        if registered and when < at(registered):
            raise ImplausibleTimeError(
                _("the command is dated {when}, before firm {code} ({name}) was registered "
                  "({registered})").format(
                    when=when.isoformat(), code=self.code, name=self.name, registered=registered))

    def contract(self, ref: str) -> dict[str, Any]:
        """The contract *ref*; :class:`ContractNotFoundError` if the firm holds none."""
        if ref not in self.contracts:
            raise ContractNotFoundError(_("firm {code} ({name}) holds no contract {ref!r}").format(
                                            code=self.code, name=self.name, ref=ref))
        return self.contracts[ref]

    @staticmethod
    def effective_end(contract: dict[str, Any]) -> str:
        """When the contract stops (termination, else its end date at midnight), ISO text."""
        return str(contract["terminated_at"] or contract["end_at"])

    def contracts_at(self, when: datetime) -> list[dict[str, Any]]:
        """Contracts in force at *when*."""
        return [c for c in self.contracts.values()
                if at(c["start_at"]) <= when < at(self.effective_end(c))]

    @property
    def eliminated(self) -> bool:
        """Whether the firm is on the elimination list (an entry not withdrawn)."""
        return any(not e.get("withdrawn") for e in self.eliminations)

    # ------------------------------------------------------------------ contracts
    def sign_contract(self, ref: str, community: str, oc: str, tender: str, start: datetime,
                      end: datetime, annual_fee: Decimal, manager: str, manager_name: str,
                      envelope: EnvelopeDict, recorded: datetime | None = None) -> None:
        """Sign a service contract won in *tender*; refused while banned (at signing or at the
        start of service, whichever is later, and at *recorded*, the record time)."""
        if ref in self.contracts:
            raise ContractStateError(_("firm {code} already holds contract {ref!r}").format(
                                         code=self.code, ref=ref))
        self.check_may_bid(max(start, at(envelope["occurred_at"])), recorded)
        self._contract_signed(ref, community, oc, tender, start.isoformat(), end.isoformat(),
                              f"{annual_fee:f}", manager, manager_name, envelope)

    def renew_contract(self, ref: str, end: datetime, annual_fee: Decimal | None,
                       decision: str, when: datetime, envelope: EnvelopeDict) -> None:
        """Extend a contract in force to a later end date (and a new fee); refused while banned."""
        c = self.contract(ref)
        if c["status"] != "active":
            raise ContractStateError(_("contract {ref!r} is {status}; only an active "
                                       "contract is renewed").format(
                                         ref=ref, status=c['status']))
        if end <= at(c["end_at"]):
            raise ContractStateError(_("the new end {end} is not after the current end {at}").format(
                                         end=end.date(), at=at(c['end_at']).date()))
        self.check_may_bid(when)
        self._contract_renewed(ref, end.isoformat(),
                               None if annual_fee is None else f"{annual_fee:f}", decision,
                               envelope)

    def terminate_contract(self, ref: str, effective: datetime, kind: str, reason: str,
                           decision: str | None, legal_counsel: str | None,
                           envelope: EnvelopeDict) -> None:
        """Terminate a contract at *effective*. ``elimination`` needs the firm on the list."""
        c = self.contract(ref)
        if c["status"] != "active":
            raise ContractStateError(_("contract {ref!r} is already {status}").format(
                                         ref=ref, status=c['status']))
        if effective <= at(c["start_at"]):
            raise ContractStateError(_("contract {ref!r} starts {start_at}; it cannot end at "
                                       "{effective}").format(
                                         ref=ref, start_at=c['start_at'],
                                         effective=effective.isoformat()))
        if kind == "elimination" and not self.eliminated:
            raise ContractStateError(
                _("firm {code} ({name}) is not on the elimination list; a termination after elimination "
                  "needs the list entry (firm record-elimination)").format(
                    code=self.code, name=self.name))
        self._contract_terminated(ref, effective.isoformat(), kind, reason, decision,
                                  legal_counsel, envelope)

    def contest_termination(self, ref: str, contested_by: str, grounds: str,
                            document: str | None, envelope: EnvelopeDict) -> None:
        """Record that the termination of contract *ref* is contested (by the firm, or a
        party for it), on *grounds*, with the filing *document*. The termination stands
        until a later decision; the contest is recorded, not decided."""
        c = self.contract(ref)
        if c["status"] != "terminated":
            raise ContractStateError(_("contract {ref!r} is {status}; only a terminated contract's "
                                       "termination can be contested").format(
                                         ref=ref, status=c['status']))
        self._termination_contested(ref, contested_by, grounds, document, envelope)

    # ------------------------------------------------------------------ credit file
    def dismiss_for_non_performance(self, ref: str, reason: str, decision: str,
                                    when: datetime, envelope: EnvelopeDict) -> None:
        """The owners' assembly dismissed the firm under contract *ref* for not performing it:
        credit record, town-wide bidding ban from *when*, report to the district."""
        c = self.contract(ref)
        self._add_bad_record("dismissal", c["community"], ref, reason, decision, when, envelope,
                             {"community": c["community"], "contract": ref})

    def put_on_elimination_list(self, year: int, rule: str, parameters: dict[str, Any],
                                inputs: dict[str, Any], reason: str, when: datetime,
                                envelope: EnvelopeDict) -> None:
        """Put the firm on the town's elimination list for *year* as decided by *rule*
        (``id@version``, with the *parameters* and *inputs* it saw): credit record, town-wide
        bidding ban from *when*, report to the district."""
        if any(e["year"] == year and not e.get("withdrawn") for e in self.eliminations):
            raise RuleViolationError(_("firm {code} is already on the elimination list for {year}").format(
                                         code=self.code, year=year))
        self._put_on_elimination_list(year, rule, dict(parameters), dict(inputs), reason,
                                      envelope)
        self._add_bad_record("elimination", None, None, reason, rule, when, envelope,
                             {"year": year, "rule": rule})

    # ------------------------------------------------------------------ year-end appraisal
    def record_appraisal_outcome(self, outcome: dict[str, Any], envelope: EnvelopeDict) -> None:
        """Record the firm's outcome of a year-end appraisal run: *outcome* holds ``year``,
        ``appraisal``, ``run``, ``rule`` (id, version, parameters, inputs digest),
        ``input_events`` (log positions), ``entered_by`` (who entered each input) and the
        decision for the firm (rank, score, satisfaction, flags, reasons, actions)."""
        record = dict(outcome)
        self._appraisal_outcome_recorded(
            record.pop("year"), record.pop("appraisal"), record.pop("run"), record.pop("rule"),
            record.pop("input_events"), record.pop("entered_by"), record, envelope)

    def require_interview(self, year: int, appraisal: str, reason: str,
                          envelope: EnvelopeDict) -> None:
        """The firm's head is summoned for an interview (约谈) after the appraisal."""
        self._interview_required(year, appraisal, reason, self.head, self.head_name, envelope)

    def warn_in_writing(self, year: int, appraisal: str, reason: str,
                        envelope: EnvelopeDict) -> None:
        """The firm gets a written warning (书面警告) after the appraisal."""
        self._written_warning_issued(year, appraisal, reason, envelope)

    def withdraw_appraisal_action(self, year: int, appraisal: str, action: str, reason: str,
                                  envelope: EnvelopeDict) -> None:
        """An interview or written warning of *year* no longer follows after a correction."""
        self._appraisal_action_withdrawn(year, appraisal, action, reason, envelope)

    def withdraw_elimination(self, year: int, reason: str, when: datetime,
                             envelope: EnvelopeDict) -> list[str]:
        """Withdraw the firm's elimination-list entry for *year* after a corrected appraisal:
        the entry stays in the file marked withdrawn, the bidding ban it imposed is lifted from
        *when* (``BanLifted``), and the district platform gets a correction report. Bans on
        other grounds stand. Returns the bans lifted."""
        entry = next((e for e in self.eliminations
                      if e["year"] == year and not e.get("withdrawn")), None)
        if entry is None:
            raise RuleViolationError(_("firm {code} is not on the elimination list for {year}").format(
                                         code=self.code, year=year))
        self._elimination_withdrawn(year, reason, envelope)
        # Bans of earlier releases carry the composed sentence instead of a code.
        prefix = f"on the town elimination list for {year} ("
        lifted = []
        for ban in self.bans:
            of_year = (ban.get("reason_params") or {}).get("year") == year \
                if ban.get("reason_code") else ban["reason"].startswith(prefix)
            if ban["kind"] == "elimination" and of_year and ban.get("lifted_at") is None:
                self._ban_lifted(ban["ban"], when.isoformat(), reason, envelope)
                lifted.append(ban["ban"])
        self._reported_to_district(f"RPT-{len(self.reports) + 1}", DISTRICT_PLATFORM,
                                   ",".join(lifted), "correction", reason, envelope,
                                   "elimination_withdrawn", {"year": year})
        return lifted

    def _add_bad_record(self, kind: str, community: str | None, contract: str | None,
                        reason: str, basis: str | None, when: datetime,
                        envelope: EnvelopeDict, params: dict[str, Any]) -> None:
        """A credit record, a town-wide ban and a district report, each with the reason code
        *kind* and its *params* beside the official's *reason* (ledger.kernel.reasons)."""
        record = f"CR-{len(self.credit_records) + 1}"
        self._credit_recorded(record, kind, community, contract, reason, basis, envelope,
                              kind, params)
        self._bidding_banned(f"BAN-{len(self.bans) + 1}", when.isoformat(), kind, reason,
                             record, self.town, envelope, kind, params)
        self._reported_to_district(f"RPT-{len(self.reports) + 1}", DISTRICT_PLATFORM, record,
                                   kind, reason, envelope, kind, params)

    # ------------------------------------------------------------------ events
    @event("ContractSigned")
    def _contract_signed(self, contract: str, community: str, oc: str, tender: str,
                         start: str, end: str, annual_fee: str, manager: str,
                         manager_name: str, envelope: EnvelopeDict) -> None:
        self.contracts[contract] = {
            "contract": contract, "community": community, "oc": oc, "tender": tender,
            "start_at": start, "end_at": end, "annual_fee": annual_fee, "manager": manager,
            "manager_name": manager_name, "status": "active", "terminated_at": None,
            "termination": None, "renewals": [],
        }

    @event("ContractRenewed")
    def _contract_renewed(self, contract: str, end: str, annual_fee: str | None,
                          decision: str, envelope: EnvelopeDict) -> None:
        c = self.contracts[contract]
        c["renewals"].append({"previous_end": c["end_at"], "end": end,
                              "annual_fee": annual_fee, "decision": decision,
                              "at": envelope["occurred_at"]})
        c["end_at"] = end
        if annual_fee is not None:
            c["annual_fee"] = annual_fee

    @event("ContractTerminated")
    def _contract_terminated(self, contract: str, effective: str, kind: str, reason: str,
                             decision: str | None, legal_counsel: str | None,
                             envelope: EnvelopeDict) -> None:
        c = self.contracts[contract]
        c["status"] = "terminated"
        c["terminated_at"] = effective
        c["termination"] = {"kind": kind, "reason": reason, "decision": decision,
                            "legal_counsel": legal_counsel}

    @event("TerminationContested")
    def _termination_contested(self, contract: str, contested_by: str, grounds: str,
                               document: str | None, envelope: EnvelopeDict) -> None:
        self.contracts[contract].setdefault("contests", []).append(
            {"by": contested_by, "grounds": grounds, "document": document,
             "at": envelope["occurred_at"], "version": self.version + 1})

    @event("PutOnEliminationList")
    def _put_on_elimination_list(self, year: int, rule: str, parameters: dict[str, Any],
                                 inputs: dict[str, Any], reason: str,
                                 envelope: EnvelopeDict) -> None:
        self.eliminations.append({"year": year, "rule": rule, "parameters": parameters,
                                  "inputs": inputs, "reason": reason,
                                  "at": envelope["occurred_at"]})

    @event("AppraisalOutcomeRecorded")
    def _appraisal_outcome_recorded(self, year: int, appraisal: str, run: int,
                                    rule: dict[str, Any], input_events: list[int],
                                    entered_by: list[dict[str, Any]], outcome: dict[str, Any],
                                    envelope: EnvelopeDict) -> None:
        self.appraisals.append({"year": year, "appraisal": appraisal, "run": run, **outcome})

    @event("InterviewRequired")
    def _interview_required(self, year: int, appraisal: str, reason: str, head: str,
                            head_name: str, envelope: EnvelopeDict) -> None:
        pass

    @event("WrittenWarningIssued")
    def _written_warning_issued(self, year: int, appraisal: str, reason: str,
                                envelope: EnvelopeDict) -> None:
        pass

    @event("AppraisalActionWithdrawn")
    def _appraisal_action_withdrawn(self, year: int, appraisal: str, action: str, reason: str,
                                    envelope: EnvelopeDict) -> None:
        pass

    @event("EliminationWithdrawn")
    def _elimination_withdrawn(self, year: int, reason: str, envelope: EnvelopeDict) -> None:
        for e in self.eliminations:
            if e["year"] == year and not e.get("withdrawn"):
                e["withdrawn"] = {"reason": reason, "at": envelope["occurred_at"]}

    @event("BanLifted")
    def _ban_lifted(self, ban: str, lifted_at: str, reason: str, envelope: EnvelopeDict) -> None:
        for b in self.bans:
            if b["ban"] == ban:
                b["lifted_at"] = lifted_at
                b["lifted_reason"] = reason

    # reason_code and reason_params: the reason as a code with parameters (rendered in the
    # reader's language, ledger.kernel.reasons); absent from events of earlier releases,
    # whose reason is the composed sentence.
    @event("CreditRecorded")
    def _credit_recorded(self, record: str, kind: str, community: str | None,
                         contract: str | None, reason: str, basis: str | None,
                         envelope: EnvelopeDict, reason_code: str | None = None,
                         reason_params: dict[str, Any] | None = None) -> None:
        self.credit_records.append({"record": record, "kind": kind, "community": community,
                                    "contract": contract, "reason": reason, "basis": basis,
                                    "at": envelope["occurred_at"], "reason_code": reason_code,
                                    "reason_params": reason_params})

    @event("BiddingBanned")
    def _bidding_banned(self, ban: str, since: str, kind: str, reason: str, record: str,
                        scope: str, envelope: EnvelopeDict, reason_code: str | None = None,
                        reason_params: dict[str, Any] | None = None) -> None:
        self.bans.append({"ban": ban, "since": since, "kind": kind, "reason": reason,
                          "record": record, "scope": scope, "version": self.version + 1,
                          "command_id": envelope.get("command_id"),
                          "reason_code": reason_code, "reason_params": reason_params})

    @event("ReportedToDistrict")
    def _reported_to_district(self, report: str, platform: str, record: str, kind: str,
                              reason: str, envelope: EnvelopeDict,
                              reason_code: str | None = None,
                              reason_params: dict[str, Any] | None = None) -> None:
        self.reports.append({"report": report, "platform": platform, "record": record,
                             "kind": kind, "at": envelope["occurred_at"]})
