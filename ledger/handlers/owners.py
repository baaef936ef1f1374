"""Handlers for owners' committees, property firms, tenders, contracts and the credit file.

:func:`record_elimination` is the entry point for the year-end appraisal: it puts a firm on
the elimination list from a rule outcome within the caller's command (same atomic save).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ledger.aggregates.appraisal_year import AppraisalYear
from ledger.aggregates.community import Community
from ledger.aggregates.owners_committee import (
    ROLE_POSTS,
    OwnersCommittee,
    OwnersCommitteeNotFoundError,
    OwnersCommitteeStepError,
)
from ledger.aggregates.property_firm import ContractStateError, FirmNotFoundError, PropertyFirm
from ledger.commands.owners import (
    AdoptRules,
    AwardTender,
    ContestTermination,
    EndTerm,
    FormPreparatoryGroup,
    LaunchTender,
    MediateDispute,
    NominateCandidate,
    RecordElection,
    RecordElimination,
    RecordFundUse,
    RecordRevenue,
    RegisterFirm,
    RenewContract,
    SignContract,
    StartTerm,
    SubmitBid,
    TerminateContract,
)
from ledger.commands.roster import AppointPost
from ledger.handlers import Context, handles
from ledger.handlers.roster import ELECTION_CHECKS
from ledger.kernel.config import localize, now
from ledger.kernel.errors import AlreadyExistsError, ElectionRequiredError, PostNotHeldError
from ledger.kernel.i18n import _
from ledger.kernel.posts import PostName, parse_post

MANAGER_POST = "property_firm.manager"


def oc_of(ctx: Context, key: str) -> OwnersCommittee:
    """The owners' committee *key* (``<community>/<term>``)."""
    return ctx.get(OwnersCommittee, key, OwnersCommitteeNotFoundError, "owners' committee")


def firm_of(ctx: Context, code: str) -> PropertyFirm:
    """The property firm with credit code *code*."""
    firm = ctx.find(PropertyFirm, code)
    if firm is None:
        raise FirmNotFoundError(_("no property firm is registered with credit code {code!r}; register it "
                                  "first (firm register)").format(code=code))
    return firm


def _election_envelope(ctx: Context, oc: OwnersCommittee) -> dict[str, Any]:
    """The envelope of a roster event filled through *oc*'s election: cites the election."""
    return {**ctx.envelope, "election": oc.code}


# ---------------------------------------------------------------------------- elections
def check_appointment_election(ctx: Context, post: PostName, cmd: AppointPost) -> None:
    """``post.appoint`` to an owners'-committee post: the cited election must be of the post's
    community and must have elected that person to that role."""
    key = cmd.election or ""
    oc = ctx.find(OwnersCommittee, key)
    if oc is None:
        raise ElectionRequiredError(
            _("{name}: the cited election {key!r} is not a recorded owners' committee; cite one as "
              "<community>/<term>, e.g. ZQ-001/2025").format(name=post.name, key=key))
    if oc.community != post.scope:
        raise ElectionRequiredError(
            _("{name}: election {code} is of community {community}, not {scope}").format(
                name=post.name, code=oc.code, community=oc.community, scope=post.scope))
    role = post.path.removeprefix("owners_committee.")
    oc.check_elected(cmd.person, role)


ELECTION_CHECKS.append(check_appointment_election)


@handles(FormPreparatoryGroup)
def form_group(ctx: Context, cmd: FormPreparatoryGroup) -> dict[str, Any]:
    """The town forms a preparatory (or re-election) group for a new committee term."""
    community = ctx.community(cmd.community)
    if cmd.previous:
        oc_of(ctx, cmd.previous)
    ctx.authorize(town=community.town, community=community.code)
    if ctx.find(OwnersCommittee, cmd.key) is not None:
        raise AlreadyExistsError(_("owners' committee {key} was already formed").format(key=cmd.key))
    oc = OwnersCommittee(
        code=cmd.key, community=community.code, town=community.town, term=cmd.term,
        kind=cmd.kind, previous=cmd.previous,
        group=[m.model_dump() for m in cmd.group],
        temporary_party_org=[m.model_dump() for m in cmd.temporary_party_org],
        envelope=ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code}


@handles(NominateCandidate)
def nominate(ctx: Context, cmd: NominateCandidate) -> dict[str, Any]:
    """Nominate a candidate."""
    oc = oc_of(ctx, cmd.oc)
    ctx.authorize(town=oc.town, community=oc.community)
    oc.nominate(cmd.person, cmd.person_name, cmd.role, cmd.recommended_by_town,
                cmd.recommendation, ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code, "candidate": cmd.person}


@handles(RecordElection)
def elect(ctx: Context, cmd: RecordElection) -> dict[str, Any]:
    """Record the assembly's election result."""
    oc = oc_of(ctx, cmd.oc)
    ctx.authorize(town=oc.town, community=oc.community)
    oc.record_election(cmd.assembly_date, cmd.owners_total, cmd.owners_voted, dict(cmd.votes),
                       dict(cmd.elected), ctx.envelope)
    ctx.add(oc)
    turnout = oc.election["turnout"] if oc.election else None
    return {"oc": oc.code, "turnout": turnout, "elected": dict(cmd.elected)}


def _vacate_committee_posts(community: Community, oc: OwnersCommittee, end: datetime,
                            reason: str, envelope: dict[str, Any]) -> list[str]:
    """End the roster terms of *oc*'s elected members that are still open."""
    left = []
    for person, role in sorted((oc.election or {}).get("elected", {}).items()):
        post = f"{ROLE_POSTS[role]}@{community.code}"
        try:
            community.roster.open_term(post, person)
        except PostNotHeldError:
            continue
        community.vacate(post, person, end, reason, envelope)
        left.append(person)
    return left


@handles(StartTerm)
def start_term(ctx: Context, cmd: StartTerm) -> dict[str, Any]:
    """Start the term: every elected member takes the post the election gave them on the
    community roster (the roster events cite the election). A re-election's predecessor
    leaves office at the same moment."""
    oc = oc_of(ctx, cmd.oc)
    community = ctx.community(oc.community)
    ctx.authorize(town=oc.town, community=oc.community)
    start = cmd.start or ctx.at
    oc.start(start, cmd.planned_end.isoformat() if cmd.planned_end else None, ctx.envelope)
    ended = None
    if oc.previous:
        prev = oc_of(ctx, oc.previous)
        if prev.in_office:
            prev.end(start, f"succeeded by {oc.code}", ctx.envelope)
            _vacate_committee_posts(community, prev, start, f"succeeded by {oc.code}",
                                    ctx.envelope)
            ctx.add(prev)
            ended = prev.code
    env = _election_envelope(ctx, oc)
    elected: dict[str, str] = (oc.election or {}).get("elected", {})
    for person, role in sorted(elected.items(),
                               key=lambda kv: (list(ROLE_POSTS).index(kv[1]), kv[0])):
        post = parse_post(f"{ROLE_POSTS[role]}@{community.code}")
        if community.roster.term_of(person, post.name, start) is None:
            community.appoint(post, person, oc.candidates[person]["name"], start, env)
    ctx.add(oc, community)
    return {"oc": oc.code, "members": len(elected), "ended": ended}


@handles(EndTerm)
def end_term(ctx: Context, cmd: EndTerm) -> dict[str, Any]:
    """End the term; members still in their posts leave them."""
    oc = oc_of(ctx, cmd.oc)
    community = ctx.community(oc.community)
    ctx.authorize(town=oc.town, community=oc.community)
    end = cmd.end or ctx.at
    oc.end(end, cmd.reason, ctx.envelope)
    left = _vacate_committee_posts(community, oc, end, cmd.reason or "term ended",
                                   ctx.envelope)
    ctx.add(oc, community)
    return {"oc": oc.code, "left": left}


@handles(AdoptRules)
def adopt_rules(ctx: Context, cmd: AdoptRules) -> dict[str, Any]:
    """Adopt a rules document."""
    oc = oc_of(ctx, cmd.oc)
    ctx.authorize(town=oc.town, community=oc.community)
    oc.adopt_rules(cmd.document, cmd.ref, cmd.decision, ctx.at, ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code, "document": cmd.document}


@handles(RecordFundUse)
def fund_use(ctx: Context, cmd: RecordFundUse) -> dict[str, Any]:
    """Record a maintenance-fund use."""
    oc = oc_of(ctx, cmd.oc)
    ctx.authorize(town=oc.town, community=oc.community)
    oc.record_fund_use(cmd.amount, cmd.purpose, cmd.decision, ctx.at, ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code, "amount": f"{cmd.amount:f}"}


@handles(RecordRevenue)
def revenue(ctx: Context, cmd: RecordRevenue) -> dict[str, Any]:
    """Record public revenue."""
    oc = oc_of(ctx, cmd.oc)
    ctx.authorize(town=oc.town, community=oc.community)
    oc.record_revenue(cmd.amount, cmd.source, cmd.purpose, cmd.decision, ctx.at, ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code, "amount": f"{cmd.amount:f}"}


@handles(MediateDispute)
def mediate(ctx: Context, cmd: MediateDispute) -> dict[str, Any]:
    """Record a mediated dispute."""
    oc = oc_of(ctx, cmd.oc)
    ctx.authorize(town=oc.town, community=oc.community)
    oc.mediate(cmd.dispute, list(cmd.parties), cmd.summary, cmd.outcome, ctx.at, ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code, "dispute": cmd.dispute}


# ---------------------------------------------------------------------------- firms
@handles(RegisterFirm)
def register_firm(ctx: Context, cmd: RegisterFirm) -> dict[str, Any]:
    """Register a property firm by its credit code."""
    ctx.town(cmd.town)
    ctx.authorize(town=cmd.town)
    existing = ctx.find(PropertyFirm, cmd.code)
    if existing is not None:
        raise AlreadyExistsError(_("firm {code} is already registered as {name}").format(
                                     code=cmd.code, name=existing.name))
    firm = PropertyFirm(code=cmd.code, name=cmd.name, town=cmd.town, head=cmd.head,
                        head_name=cmd.head_name, envelope=ctx.envelope)
    ctx.add(firm)
    return {"firm": firm.code}


def record_elimination(ctx: Context, firm_code: str, year: int, rule: str,
                       parameters: dict[str, Any], inputs: dict[str, Any],
                       reason: str) -> PropertyFirm:
    """Put *firm_code* on the elimination list within the current command (after the caller
    authorized it): elimination entry, credit record, town-wide ban, report to the district.

    For the appraisal: call it with the rule's ``id@version``, parameters and inputs.
    """
    firm = firm_of(ctx, firm_code)
    firm.put_on_elimination_list(year, rule, parameters, inputs, reason, ctx.at, ctx.envelope)
    ctx.add(firm)
    return firm


@handles(RecordElimination)
def record_elimination_command(ctx: Context, cmd: RecordElimination) -> dict[str, Any]:
    """Record a firm's elimination from a rule outcome."""
    firm = firm_of(ctx, cmd.firm)
    ctx.authorize(town=firm.town)
    record_elimination(ctx, cmd.firm, cmd.year, cmd.rule, dict(cmd.parameters),
                       dict(cmd.inputs), cmd.reason)
    return {"firm": firm.code, "ban": firm.bans[-1]["ban"]}


# ---------------------------------------------------------------------------- tenders
@handles(LaunchTender)
def launch_tender(ctx: Context, cmd: LaunchTender) -> dict[str, Any]:
    """Launch a public tender."""
    oc = oc_of(ctx, cmd.oc)
    ctx.authorize(town=oc.town, community=oc.community)
    oc.launch_tender(cmd.tender, cmd.title, cmd.closes.isoformat() if cmd.closes else None,
                     ctx.at, ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code, "tender": cmd.tender}


@handles(SubmitBid)
def bid(ctx: Context, cmd: SubmitBid) -> dict[str, Any]:
    """Record a bid between the tender's launch and closing; a firm with a bidding ban, in
    force at the bid's date or already recorded when the bid is recorded, is refused, the ban
    cited."""
    oc = oc_of(ctx, cmd.oc)
    firm = firm_of(ctx, cmd.firm)
    ctx.authorize(town=oc.town, community=oc.community)
    firm.check_may_bid(ctx.at, now())
    oc.receive_bid(cmd.tender, firm.code, cmd.annual_fee, ctx.at, ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code, "tender": cmd.tender, "firm": firm.code}


@handles(AwardTender)
def award(ctx: Context, cmd: AwardTender) -> dict[str, Any]:
    """Award a tender, after it closed, to a bidder (not to a firm banned since it bid, nor
    to one whose ban was recorded before the award is)."""
    oc = oc_of(ctx, cmd.oc)
    firm = firm_of(ctx, cmd.firm)
    ctx.authorize(town=oc.town, community=oc.community)
    firm.check_may_bid(ctx.at, now())
    oc.award(cmd.tender, firm.code, cmd.decision, ctx.at, ctx.envelope)
    ctx.add(oc)
    return {"oc": oc.code, "tender": cmd.tender, "firm": firm.code}


# ---------------------------------------------------------------------------- contracts
def _manager_post(community: str) -> PostName:
    return parse_post(f"{MANAGER_POST}@{community}")


@handles(SignContract)
def sign(ctx: Context, cmd: SignContract) -> dict[str, Any]:
    """Sign the contract of an awarded tender; the firm's project manager takes the property-
    firm post in the community from the start date."""
    oc = oc_of(ctx, cmd.oc)
    firm = firm_of(ctx, cmd.firm)
    community = ctx.community(oc.community)
    ctx.authorize(town=oc.town, community=oc.community)
    start = localize(cmd.start)
    end_at = localize(cmd.end + timedelta(days=1))
    post = _manager_post(community.code)
    for term in community.roster.terms.get(post.name, []):
        if term["effective_to"] is None or datetime.fromisoformat(term["effective_to"]) > start:
            raise ContractStateError(
                _("{code} is still served under a contract: {person} ({person_name}) is its property-firm "
                  "manager since {effective_from}; terminate that contract first (contract "
                  "terminate)").format(
                    code=community.code, person=term['person'], person_name=term['person_name'],
                    effective_from=term['effective_from']))
    oc.conclude(cmd.tender, firm.code, cmd.contract, ctx.at, ctx.envelope)
    firm.sign_contract(cmd.contract, community.code, oc.code, cmd.tender, start, end_at,
                       cmd.annual_fee, cmd.manager, cmd.manager_name, ctx.envelope,
                       recorded=now())
    community.appoint(post, cmd.manager, cmd.manager_name, start,
                      {**ctx.envelope, "contract": cmd.contract, "firm": firm.code})
    ctx.add(oc, firm, community)
    return {"contract": cmd.contract, "firm": firm.code, "community": community.code}


def _contract_in(ctx: Context, cmd: RenewContract | TerminateContract | ContestTermination,
                 ) -> tuple[OwnersCommittee, PropertyFirm, dict[str, Any]]:
    oc = oc_of(ctx, cmd.oc)
    firm = firm_of(ctx, cmd.firm)
    contract = firm.contract(cmd.contract)
    if contract["community"] != oc.community:
        raise ContractStateError(_("contract {contract} serves {community}, not {community2}; act as that "
                                   "community's owners' committee").format(
                                     contract=cmd.contract, community=contract['community'],
                                     community2=oc.community))
    return oc, firm, contract


@handles(RenewContract)
def renew(ctx: Context, cmd: RenewContract) -> dict[str, Any]:
    """Renew a contract."""
    oc, firm, _contract = _contract_in(ctx, cmd)
    ctx.authorize(town=oc.town, community=oc.community)
    firm.renew_contract(cmd.contract, localize(cmd.end + timedelta(days=1)), cmd.annual_fee,
                        cmd.decision, ctx.at, ctx.envelope)
    ctx.add(firm)
    return {"contract": cmd.contract, "end": cmd.end.isoformat()}


@handles(TerminateContract)
def terminate(ctx: Context, cmd: TerminateContract) -> dict[str, Any]:
    """Terminate a contract; the manager leaves the post. A dismissal for non-performance adds
    the credit record, the town-wide ban and the district report in the same save."""
    oc, firm, contract = _contract_in(ctx, cmd)
    community = ctx.community(oc.community)
    ctx.authorize(town=oc.town, community=oc.community)
    effective = cmd.effective or ctx.at
    if cmd.kind == "elimination":
        town = ctx.town(oc.town)
        counsel = f"town.legal_counsel@{oc.town}"
        if not town.roster.holds(cmd.legal_counsel or "", counsel, ctx.at):
            raise OwnersCommitteeStepError(
                _("{legal_counsel} was not the town's legal counsel ({counsel}) at {at}; name the counsel "
                  "who guided the termination").format(
                    legal_counsel=cmd.legal_counsel, counsel=counsel, at=ctx.at.isoformat()))
    firm.terminate_contract(cmd.contract, effective, cmd.kind, cmd.reason, cmd.decision,
                            cmd.legal_counsel, ctx.envelope)
    terminated_event = f"{firm.code}@{firm.version}"  # the ContractTerminated event
    if cmd.kind == "dismissal":
        # The ban runs from the assembly's decision (or the end of service, if earlier).
        firm.dismiss_for_non_performance(cmd.contract, cmd.reason, cmd.decision or "",
                                         min(ctx.at, effective), ctx.envelope)
    ctx.add(firm)
    post = _manager_post(community.code)
    manager = contract["manager"]
    if any(t["person"] == manager and t["effective_to"] is None
           for t in community.roster.terms.get(post.name, [])):
        community.vacate(post.name, manager, effective, f"contract {cmd.contract} terminated "
                         f"({cmd.kind})", {**ctx.envelope, "contract": cmd.contract})
        ctx.add(community)
    out: dict[str, Any] = {"contract": cmd.contract, "kind": cmd.kind}
    if cmd.kind == "dismissal":
        out["ban"] = firm.bans[-1]["ban"]
    completed = _complete_follow_ups(ctx, firm, cmd.contract, cmd.kind, effective,
                                     terminated_event)
    if completed:
        out["follow_ups"] = completed
    return out


def _elimination_years(ctx: Context, firm: PropertyFirm) -> list[AppraisalYear]:
    """The appraisal years whose elimination of *firm* stands (their follow-up tasks)."""
    out = []
    for year in sorted({e["year"] for e in firm.eliminations if not e.get("withdrawn")}):
        found = ctx.find(AppraisalYear, f"{firm.town}/{year}")
        if found is not None:
            out.append(found)
    return out


def _complete_follow_ups(ctx: Context, firm: PropertyFirm, contract: str, kind: str,
                         effective: datetime, event: str) -> list[dict[str, Any]]:
    """The committee terminated *contract*: complete the elimination follow-up tasks that
    named it, each linked to the ``ContractTerminated`` event of this command."""
    termination = {"firm": firm.code, "contract": contract, "kind": kind,
                   "effective": effective.isoformat(),
                   "recorded_on": ctx.at.date().isoformat(),
                   "event": event, "command_id": ctx.command.command_id}
    done = []
    for year in _elimination_years(ctx, firm):
        for task, entry in year.open_follow_ups_for(firm.code, contract):
            status = year.complete_follow_up(task, firm.code, entry, termination, ctx.envelope)
            done.append({"appraisal": year.code, "task": task,
                         "community": entry["community"], "status": status})
            ctx.add(year)
    return done


@handles(ContestTermination)
def contest_termination(ctx: Context, cmd: ContestTermination) -> dict[str, Any]:
    """Record a contested termination, on the firm and on the follow-up tasks naming it."""
    oc, firm, _contract = _contract_in(ctx, cmd)
    ctx.authorize(town=oc.town, community=oc.community)
    firm.contest_termination(cmd.contract, cmd.contested_by, cmd.grounds, cmd.document,
                             ctx.envelope)
    ctx.add(firm)
    contest = {"by": cmd.contested_by, "grounds": cmd.grounds, "document": cmd.document,
               "event": f"{firm.code}@{firm.version}", "command_id": cmd.command_id}
    tasks = []
    for year in _elimination_years(ctx, firm):
        noted = year.note_contested(firm.code, cmd.contract, contest, ctx.envelope)
        if noted:
            ctx.add(year)
            tasks += [f"{year.code}:{t}" for t in noted]
    return {"contract": cmd.contract, "firm": firm.code, "follow_ups": tasks}
