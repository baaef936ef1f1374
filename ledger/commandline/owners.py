"""CLI: owners' committees (``oc``), property firms (``firm``), tenders, contracts, and the
read models ``ocs``, ``contracts``, ``credit-file`` and ``blacklist``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from ledger.application import GovernanceLedger
from ledger.cli import (
    DEMO_SECTIONS,
    NUMBER,
    NumbersCommand,
    _parse_when_option,
    add_aliases,
    cli,
    envelope,
    envelope_options,
    execute,
    json_option,
    renderer,
    state,
)
from ledger.complete import communities, firms
from ledger.kernel.i18n import _, add_labels
from ledger.projections.owners import blacklist, contracts, credit_file, ocs
from ledger.render import Renderer, short_time

add_labels({
    "owners.oc": "owners' committee",
    "owners.oc_title": "Owners' committees",
    "owners.term": "term",
    "owners.oc_kind": "formed by",
    "owners.formation": "formation",
    "owners.re_election": "re-election",
    "owners.assembly_date": "owners' assembly",
    "owners.turnout": "turnout %",
    "owners.director": "director",
    "owners.members": "members",
    "owners.term_start": "term start",
    "owners.term_end": "term end",
    "owners.rules_adopted": "rules adopted",
    "owners.fund_total": "maintenance fund used",
    "owners.revenue_total": "public revenue",
    "owners.mediations": "disputes mediated",
    "owners.tenders": "tenders",
    "owners.firm": "property firm",
    "owners.firm_code": "credit code",
    "owners.firm_name": "firm",
    "owners.head": "head",
    "owners.contract": "contract",
    "owners.contracts_title": "Property service contracts",
    "owners.start": "start",
    "owners.end": "last day",
    "owners.terminated_at": "terminated at",
    "owners.annual_fee": "annual fee (yuan)",
    "owners.manager": "manager",
    "owners.contract_status": "status",
    "owners.active": "active",
    "owners.terminated": "terminated",
    "owners.termination": "termination",
    "owners.dismissal": "dismissal",
    "owners.elimination": "elimination",
    "owners.expiry": "expiry",
    "owners.mutual": "mutual",
    "owners.credit_file_title": "Property firm credit file",
    "owners.entry": "entry",
    "owners.credit_record": "credit record",
    "owners.ban": "bidding ban",
    "owners.district_report": "reported to district platform",
    "owners.reason": "reason",
    "owners.ref": "ref",
    "owners.blacklist_title": "Firms banned from bidding in the town",
    "owners.district_title": "For the district: elimination follow-ups",
    "owners.task": "task",
    "owners.appraisal": "appraisal",
    "owners.due": "due",
    "owners.follow_up_state": "state",
    "owners.overdue_count": "overdue tasks",
    "owners.reported": "reported",
    "owners.banned": "banned",
    "owners.yes": "yes",
    "owners.no": "no",
    "owners.no_contracts": "no contracts match",
    "owners.no_bans": "no firm is banned",
})


def _pairs(values: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    out = []
    for v in values:
        key, sep, rest = v.partition("=")
        if not sep or not key or not rest:
            raise click.BadParameter(_("{v!r} is not KEY=VALUE").format(v=v), param_hint=option)
        out.append((key.strip(), rest.strip()))
    return out


def _members(values: tuple[str, ...], option: str) -> list[dict[str, str]]:
    out = []
    for v in values:
        parts = v.split(":", 2)
        if len(parts) < 2:
            raise click.BadParameter(_("{v!r} is not PERSON:NAME[:ROLE]").format(v=v), param_hint=option)
        out.append({"person": parts[0], "name": parts[1],
                    "role": parts[2] if len(parts) > 2 else ""})
    return out


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---------------------------------------------------------------------------- oc
@cli.group()
def oc() -> None:
    """Owners' committees (业委会): formation, election, term, rules, money, mediation."""


@oc.command("form-group")
@click.argument("community", shell_complete=communities)
@click.argument("term")
@click.option("--kind", type=click.Choice(["formation", "re_election"]), default="formation",
              show_default=True, help="First committee, or a re-election (换届改选).")
@click.option("--previous", metavar="OC", help="For a re-election: the committee it succeeds.")
@click.option("--member", "group", multiple=True, required=True, metavar="PERSON:NAME[:ROLE]",
              help="A preparatory-group member (repeat).")
@click.option("--party-org", multiple=True, metavar="PERSON:NAME[:ROLE]",
              help="A temporary party organisation member (repeat).")
@envelope_options
@json_option
def oc_form_group(community: str, term: str, kind: str, previous: str | None,
                  group: tuple[str, ...], party_org: tuple[str, ...], as_json: bool,
                  **kw: Any) -> None:
    """The town forms the owners'-assembly preparatory group (or re-election group) and a
    temporary party organisation for COMMUNITY's committee TERM.

    \b
    Example:
      ledger oc form-group ZQ-001 2025 --member P-0010:韦娟:组长 \\
          --party-org P-1001:钱艳:书记 --actor P-0002 --post town.party_committee.secretary@ZQ
    """
    execute({"type": "oc.form_group", "community": community, "term": term, "kind": kind,
             "previous": previous, "group": _members(group, "--member"),
             "temporary_party_org": _members(party_org, "--party-org"), **envelope(kw)},
            as_json)


@oc.command("nominate")
@click.argument("oc_key", metavar="OC")
@click.argument("person")
@click.option("--name", "person_name", required=True, help="The candidate's name.")
@click.option("--role", type=click.Choice(["director", "deputy_director", "member"]),
              default="member", show_default=True)
@click.option("--recommended-by-town", is_flag=True, help="The town recommended the candidate.")
@click.option("--recommendation", metavar="REF", help="The town's recommendation document.")
@envelope_options
@json_option
def oc_nominate(oc_key: str, person: str, person_name: str, role: str,
                recommended_by_town: bool, recommendation: str | None, as_json: bool,
                **kw: Any) -> None:
    """Nominate PERSON as a candidate for committee OC (<community>/<term>).

    \b
    Example:
      ledger oc nominate ZQ-001/2025 P-1003 --name 杨嘉怡 --role director \\
          --recommended-by-town --recommendation 颛委〔2025〕9号 \\
          --actor P-0002 --post town.party_committee.secretary@ZQ
    """
    execute({"type": "oc.nominate", "oc": oc_key, "person": person, "person_name": person_name,
             "role": role, "recommended_by_town": recommended_by_town,
             "recommendation": recommendation, **envelope(kw)}, as_json)


@oc.command("elect")
@click.argument("oc_key", metavar="OC")
@click.option("--assembly-date", required=True, metavar="DATETIME",
              help="When the owners' assembly met.")
@click.option("--owners-total", type=int, required=True, help="Owners entitled to vote.")
@click.option("--owners-voted", type=int, required=True, help="Owners who voted.")
@click.option("--votes", multiple=True, required=True, metavar="PERSON=N",
              help="Votes for a candidate (repeat).")
@click.option("--elected", multiple=True, required=True, metavar="PERSON=ROLE",
              help="An elected person and role: director, deputy_director, member (repeat).")
@envelope_options
@json_option
def oc_elect(oc_key: str, assembly_date: str, owners_total: int, owners_voted: int,
             votes: tuple[str, ...], elected: tuple[str, ...], as_json: bool, **kw: Any) -> None:
    """Record the owners' assembly's election for OC: votes per candidate, turnout, who was
    elected to which role.

    \b
    Example:
      ledger oc elect ZQ-001/2025 --assembly-date 2025-03-15 --owners-total 400 \\
          --owners-voted 240 --votes P-1003=229 --votes P-1101=212 \\
          --elected P-1003=director --elected P-1101=member \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    try:
        counts = {k: int(v) for k, v in _pairs(votes, "--votes")}
    except ValueError:
        raise click.BadParameter(_("vote counts are whole numbers"), param_hint="--votes") from None
    execute({"type": "oc.elect", "oc": oc_key, "assembly_date": assembly_date,
             "owners_total": owners_total, "owners_voted": owners_voted, "votes": counts,
             "elected": dict(_pairs(elected, "--elected")), **envelope(kw)}, as_json)


@oc.command("start-term")
@click.argument("oc_key", metavar="OC")
@click.option("--start", metavar="DATETIME", help="Start of the term (default --at).")
@click.option("--planned-end", metavar="DATE", help="The term's planned end date.")
@envelope_options
@json_option
def oc_start_term(oc_key: str, start: str | None, planned_end: str | None, as_json: bool,
                  **kw: Any) -> None:
    """Start OC's term: the elected take their owners'-committee posts on the community
    roster, each appointment citing the election.

    \b
    Example:
      ledger oc start-term ZQ-001/2025 --start 2025-03-20 --planned-end 2030-03-31 \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "oc.start_term", "oc": oc_key, "start": start, "planned_end": planned_end,
             **envelope(kw)}, as_json)


@oc.command("end-term")
@click.argument("oc_key", metavar="OC")
@click.option("--end", metavar="DATETIME", help="End of the term (default --at).")
@click.option("--reason", default="", help="Why the term ends.")
@envelope_options
@json_option
def oc_end_term(oc_key: str, end: str | None, reason: str, as_json: bool, **kw: Any) -> None:
    """End OC's term: its members leave their posts.

    \b
    Example:
      ledger oc end-term ZQ-001/2025 --end 2030-03-31 --reason 任期届满 \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "oc.end_term", "oc": oc_key, "end": end, "reason": reason,
             **envelope(kw)}, as_json)


@oc.command("adopt-rules")
@click.argument("oc_key", metavar="OC")
@click.argument("document", type=click.Choice(
    ["rules_of_procedure", "management_convention", "working_rules"]))
@click.argument("ref")
@click.option("--decision", metavar="REF", help="The assembly decision adopting it.")
@envelope_options
@json_option
def oc_adopt_rules(oc_key: str, document: str, ref: str, decision: str | None, as_json: bool,
                   **kw: Any) -> None:
    """OC adopts the assembly's rules of procedure, the management convention or its working
    rules (REF names the document).

    \b
    Example:
      ledger oc adopt-rules ZQ-001/2025 management_convention 阳光花园管理规约2025版 \\
          --decision 业主大会决议2025-1 --actor P-1003 --post owners_committee.director@ZQ-001
    """
    execute({"type": "oc.adopt_rules", "oc": oc_key, "document": document, "ref": ref,
             "decision": decision, **envelope(kw)}, as_json)


@oc.command("record-fund-use", cls=NumbersCommand)
@click.argument("oc_key", metavar="OC")
@click.argument("amount", type=NUMBER)
@click.option("--purpose", required=True, help="What the money was used for.")
@click.option("--decision", required=True, metavar="REF",
              help="The assembly decision that approved it.")
@envelope_options
@json_option
def oc_fund_use(oc_key: str, amount: str, purpose: str, decision: str, as_json: bool,
                **kw: Any) -> None:
    """Record a maintenance-fund (维修资金) use of AMOUNT yuan (exact, e.g. 386420.75).

    \b
    Example:
      ledger oc record-fund-use ZQ-001/2025 386420.75 --purpose 屋面防水维修 \\
          --decision 业主大会决议2025-3 --actor P-1003 --post owners_committee.director@ZQ-001
    """
    execute({"type": "oc.record_fund_use", "oc": oc_key, "amount": amount, "purpose": purpose,
             "decision": decision, **envelope(kw)}, as_json)


@oc.command("record-revenue", cls=NumbersCommand)
@click.argument("oc_key", metavar="OC")
@click.argument("amount", type=NUMBER)
@click.option("--source", required=True, help="Where the revenue came from.")
@click.option("--purpose", default="", help="What it is used for.")
@click.option("--decision", required=True, metavar="REF",
              help="The assembly decision that approved it.")
@envelope_options
@json_option
def oc_revenue(oc_key: str, amount: str, source: str, purpose: str, decision: str,
               as_json: bool, **kw: Any) -> None:
    """Record public revenue (公共收益) of AMOUNT yuan (exact, e.g. 52800.00).

    \b
    Example:
      ledger oc record-revenue ZQ-001/2025 52800.00 --source 广告位出租 --purpose 补充维修资金 \\
          --decision 业主大会决议2025-4 --actor P-1003 --post owners_committee.director@ZQ-001
    """
    execute({"type": "oc.record_revenue", "oc": oc_key, "amount": amount, "source": source,
             "purpose": purpose, "decision": decision, **envelope(kw)}, as_json)


@oc.command("mediate")
@click.argument("oc_key", metavar="OC")
@click.argument("dispute")
@click.option("--party", "parties", multiple=True, required=True, help="A party (repeat).")
@click.option("--summary", required=True, help="What the dispute was about.")
@click.option("--outcome", type=click.Choice(["settled", "not_settled", "referred"]),
              required=True)
@envelope_options
@json_option
def oc_mediate(oc_key: str, dispute: str, parties: tuple[str, ...], summary: str, outcome: str,
               as_json: bool, **kw: Any) -> None:
    """Record an owners' dispute OC mediated (DISPUTE is its reference).

    \b
    Example:
      ledger oc mediate ZQ-001/2025 MD-2025-01 --party 302室 --party 402室 \\
          --summary 漏水纠纷 --outcome settled \\
          --actor P-1003 --post owners_committee.director@ZQ-001
    """
    execute({"type": "oc.mediate", "oc": oc_key, "dispute": dispute, "parties": list(parties),
             "summary": summary, "outcome": outcome, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- firm
@cli.group()
def firm() -> None:
    """Property firms (物业服务企业): registration and elimination."""


@firm.command("register")
@click.argument("code")
@click.argument("name")
@click.option("--town", default="ZQ", show_default=True, help="Town code.")
@click.option("--head", required=True, metavar="PERSON", help="Person id of the firm's head.")
@click.option("--head-name", required=True, help="The head's name.")
@envelope_options
@json_option
def firm_register(code: str, name: str, town: str, head: str, head_name: str, as_json: bool,
                  **kw: Any) -> None:
    """Register a property firm under its unified social credit CODE (18 characters, checked
    per GB 32100-2015).

    \b
    Example:
      ledger firm register 91310112MA1GB3K258 常青物业 --head P-F100 --head-name 周常青 \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "firm.register", "code": code, "name": name, "town": town, "head": head,
             "head_name": head_name, **envelope(kw)}, as_json)


@firm.command("record-elimination")
@click.argument("code")
@click.option("--year", type=int, required=True, help="The appraisal year.")
@click.option("--rule", required=True, metavar="ID@VERSION", help="e.g. firm.elimination@1")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="A rule parameter (repeat; JSON values).")
@click.option("--input", "inputs", multiple=True, metavar="NAME=VALUE",
              help="A rule input (repeat; JSON values).")
@click.option("--reason", required=True, help="Why the rule put the firm on the list.")
@envelope_options
@json_option
def firm_record_elimination(code: str, year: int, rule: str, params: tuple[str, ...],
                            inputs: tuple[str, ...], reason: str, as_json: bool,
                            **kw: Any) -> None:
    """Put firm CODE on the elimination list from a rule outcome: credit record, town-wide
    bidding ban and report to the district credit platform.

    \b
    Example:
      ledger firm record-elimination 91310112MA1GB3K258 --year 2025 \\
          --rule firm.elimination@1 --input score='"55.00"' --reason "score below 60" \\
          --actor P-0010 --post town.housing_office.director@ZQ
    """
    execute({"type": "firm.record_elimination", "firm": code, "year": year, "rule": rule,
             "parameters": {k: _json_value(v) for k, v in _pairs(params, "--param")},
             "inputs": {k: _json_value(v) for k, v in _pairs(inputs, "--input")},
             "reason": reason, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- tender
@cli.group()
def tender() -> None:
    """Public tenders (公开招投标) of owners' committees."""


@tender.command("launch")
@click.argument("oc_key", metavar="OC")
@click.argument("tender_ref", metavar="TENDER")
@click.option("--title", required=True, help="The tender's title.")
@click.option("--closes", metavar="DATE", help="When bidding closes.")
@envelope_options
@json_option
def tender_launch(oc_key: str, tender_ref: str, title: str, closes: str | None, as_json: bool,
                  **kw: Any) -> None:
    """OC launches public tender TENDER for its community's property service.

    \b
    Example:
      ledger tender launch ZQ-003/2025 T-ZQ003-2025-02 --title 紫藤新村物业服务招标 \\
          --closes 2025-09-01 --actor P-3003 --post owners_committee.director@ZQ-003
    """
    execute({"type": "tender.launch", "oc": oc_key, "tender": tender_ref, "title": title,
             "closes": closes, **envelope(kw)}, as_json)


@tender.command("bid")
@click.argument("oc_key", metavar="OC")
@click.argument("tender_ref", metavar="TENDER")
@click.argument("firm_code", metavar="FIRM", shell_complete=firms)
@click.option("--annual-fee", metavar="AMOUNT", help="Fee offered per year (yuan, exact).")
@envelope_options
@json_option
def tender_bid(oc_key: str, tender_ref: str, firm_code: str, annual_fee: str | None,
               as_json: bool, **kw: Any) -> None:
    """Record FIRM's bid in TENDER. A firm with a bidding ban is refused; the error cites the
    ban.

    \b
    Example:
      ledger tender bid ZQ-003/2025 T-ZQ003-2025-02 91310112MA1GK9X827 \\
          --annual-fee 995500.00 --actor P-3003 --post owners_committee.director@ZQ-003
    """
    execute({"type": "tender.bid", "oc": oc_key, "tender": tender_ref, "firm": firm_code,
             "annual_fee": annual_fee, **envelope(kw)}, as_json)


@tender.command("award")
@click.argument("oc_key", metavar="OC")
@click.argument("tender_ref", metavar="TENDER")
@click.argument("firm_code", metavar="FIRM", shell_complete=firms)
@click.option("--decision", required=True, metavar="REF", help="The decision awarding it.")
@envelope_options
@json_option
def tender_award(oc_key: str, tender_ref: str, firm_code: str, decision: str, as_json: bool,
                 **kw: Any) -> None:
    """Award TENDER to FIRM (one of its bidders).

    \b
    Example:
      ledger tender award ZQ-003/2025 T-ZQ003-2025-02 91310112MA1GK9X827 \\
          --decision 业主大会决议2025-6 --actor P-3003 --post owners_committee.director@ZQ-003
    """
    execute({"type": "tender.award", "oc": oc_key, "tender": tender_ref, "firm": firm_code,
             "decision": decision, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- contract
@cli.group()
def contract() -> None:
    """Property service contracts: sign, renew, terminate."""


@contract.command("sign")
@click.argument("oc_key", metavar="OC")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--tender", "tender_ref", required=True, metavar="TENDER",
              help="The awarded tender.")
@click.option("--firm", "firm_code", shell_complete=firms,
              required=True, metavar="FIRM", help="The winning firm.")
@click.option("--start", required=True, metavar="DATE", help="First day of service.")
@click.option("--end", required=True, metavar="DATE", help="Last day of service.")
@click.option("--annual-fee", required=True, metavar="AMOUNT", help="Yuan per year, exact.")
@click.option("--manager", required=True, metavar="PERSON", help="The project manager.")
@click.option("--manager-name", required=True, help="The project manager's name.")
@envelope_options
@json_option
def contract_sign(oc_key: str, contract_ref: str, tender_ref: str, firm_code: str, start: str,
                  end: str, annual_fee: str, manager: str, manager_name: str, as_json: bool,
                  **kw: Any) -> None:
    """Sign CONTRACT with the firm that won the tender; the project manager takes the
    property-firm post in the community from START.

    \b
    Example:
      ledger contract sign ZQ-003/2025 HT-ZQ003-2025-02 --tender T-ZQ003-2025-02 \\
          --firm 91310112MA1GK9X827 --start 2025-09-15 --end 2027-09-14 \\
          --annual-fee 995500.00 --manager P-M302 --manager-name 邱实 \\
          --actor P-3003 --post owners_committee.director@ZQ-003
    """
    execute({"type": "contract.sign", "oc": oc_key, "contract": contract_ref,
             "tender": tender_ref, "firm": firm_code, "start": start, "end": end,
             "annual_fee": annual_fee, "manager": manager, "manager_name": manager_name,
             **envelope(kw)}, as_json)


@contract.command("renew")
@click.argument("oc_key", metavar="OC")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--firm", "firm_code", shell_complete=firms, required=True, metavar="FIRM")
@click.option("--end", required=True, metavar="DATE", help="The new last day of service.")
@click.option("--annual-fee", metavar="AMOUNT", help="The new fee (yuan per year, exact).")
@click.option("--decision", required=True, metavar="REF", help="The assembly decision.")
@envelope_options
@json_option
def contract_renew(oc_key: str, contract_ref: str, firm_code: str, end: str,
                   annual_fee: str | None, decision: str, as_json: bool, **kw: Any) -> None:
    """Renew CONTRACT to a new end date (and fee).

    \b
    Example:
      ledger contract renew ZQ-001/2025 HT-ZQ001-2025-01 --firm 91310112MA1GC7N476 \\
          --end 2028-04-30 --annual-fee 1898000.00 --decision 业主大会决议2025-7 \\
          --actor P-1003 --post owners_committee.director@ZQ-001
    """
    execute({"type": "contract.renew", "oc": oc_key, "contract": contract_ref,
             "firm": firm_code, "end": end, "annual_fee": annual_fee, "decision": decision,
             **envelope(kw)}, as_json)


@contract.command("terminate")
@click.argument("oc_key", metavar="OC")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--firm", "firm_code", shell_complete=firms, required=True, metavar="FIRM")
@click.option("--kind", type=click.Choice(["expiry", "mutual", "dismissal", "elimination"]),
              required=True, help="dismissal: by the owners' assembly for non-performance; "
              "elimination: after the firm was put on the elimination list.")
@click.option("--reason", required=True, help="Why.")
@click.option("--decision", metavar="REF", help="The assembly decision (needed for dismissal).")
@click.option("--legal-counsel", metavar="PERSON",
              help="The town's legal counsel who guided it (needed after elimination).")
@click.option("--effective", metavar="DATETIME", help="When it ends (default --at).")
@envelope_options
@json_option
def contract_terminate(oc_key: str, contract_ref: str, firm_code: str, kind: str, reason: str,
                       decision: str | None, legal_counsel: str | None, effective: str | None,
                       as_json: bool, **kw: Any) -> None:
    """Terminate CONTRACT. A dismissal for non-performance also records the firm's credit
    record, its town-wide bidding ban and the report to the district credit platform.

    \b
    Example:
      ledger contract terminate ZQ-003/2025 HT-ZQ003-2025-01 --firm 91310112MA1GB3K258 \\
          --kind dismissal --reason 未履行合同 --decision 业主大会决议2025-5 \\
          --effective 2025-08-16 --actor P-3003 --post owners_committee.director@ZQ-003
    """
    execute({"type": "contract.terminate", "oc": oc_key, "contract": contract_ref,
             "firm": firm_code, "kind": kind, "reason": reason, "decision": decision,
             "legal_counsel": legal_counsel, "effective": effective, **envelope(kw)}, as_json)


@contract.command("contest-termination")
@click.argument("oc_key", metavar="OC")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--firm", "firm_code", shell_complete=firms, required=True, metavar="FIRM")
@click.option("--contested-by", required=True, help="Who contests (the firm, its lawyer).")
@click.option("--grounds", required=True, help="On what grounds.")
@click.option("--document", metavar="REF", help="The filing: letter, lawsuit reference.")
@envelope_options
@json_option
def contract_contest(oc_key: str, contract_ref: str, firm_code: str, contested_by: str,
                     grounds: str, document: str | None, as_json: bool, **kw: Any) -> None:
    """Record that the termination of CONTRACT is contested. The termination stands; the
    contest shows on the firm and on the elimination follow-up it completed.

    \b
    Example:
      ledger contract contest-termination ZQ-003/2025 HT-ZQ003-2025-01 \\
          --firm 91310112MA1GB3K258 --contested-by 常青物业 --grounds 不服解聘 \\
          --document "(2025)沪0112民初1234号" --actor P-3003 \\
          --post owners_committee.director@ZQ-003
    """
    execute({"type": "contract.contest_termination", "oc": oc_key, "contract": contract_ref,
             "firm": firm_code, "contested_by": contested_by, "grounds": grounds,
             "document": document, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- queries
def _t(r: Renderer, key: str) -> str:
    """This module's label for *key* (kept under ``owners.`` so other domains' keys never clash)."""
    return r.label(f"owners.{key}")


def _cols(*keys: str) -> tuple[str, ...]:
    """Column label keys: this module's (``owners.``) unless shared (``community``, ``since``…)."""
    shared = {"community", "position", "type", "occurred_at", "since"}
    return tuple(k if k in shared else f"owners.{k}" for k in keys)


def _render_ocs(r: Renderer, rows: list[dict[str, Any]]) -> None:
    """One row per committee term; rules, votes and money records are in ``--json``."""
    table = []
    for o in rows:
        director = o["director"] or ""
        name = (o["candidates"] or {}).get(director, {}).get("name", "")
        concurrent = [m for m in o["members"] if m["also_holds"]]
        if concurrent:
            name += f" ({_t(r, 'concurrent')} {len(concurrent)})"
        table.append([
            o["key"], _t(r, o["kind"]), short_time(o["assembly_date"]), o["turnout"] or "",
            f"{director} {name}".strip(), len(o["elected"] or {}),
            f"{short_time(o['term_start'])}–{short_time(o['term_end'])}"
            if o["term_start"] else "",
            o["fund_total"], o["revenue_total"], len(o["tenders"])])
    r.table(_t(r, "oc_title"), _cols("oc", "oc_kind", "assembly_date", "turnout", "director",
                                     "members", "term", "fund_total", "revenue_total",
                                     "tenders"), table)


@cli.command("ocs")
@click.option("--community", shell_complete=communities, metavar="COMMUNITY",
              help="Only this community's committees.")
@json_option
def ocs_command(community: str | None, as_json: bool) -> None:
    """List owners' committees: election, turnout, director, term, rules adopted, maintenance
    fund and public revenue (exact totals), mediations and tenders.

    \b
    Example:
      ledger ocs
      ledger --lang en ocs --community ZQ-001 --json
    """
    rows = ocs(state().ledger(), community)
    r = renderer(as_json)
    if as_json:
        r.emit(rows)
        return
    _render_ocs(r, rows)


def _render_contracts(r: Renderer, data: dict[str, Any]) -> None:
    """One row per contract; the manager and the termination details are in ``--json``."""
    rows = []
    for c in data["contracts"]:
        status = _t(r, c["status"])
        if c["termination_kind"]:
            status += f" {short_time(c['terminated_at'])} ({_t(r, c['termination_kind'])})"
        rows.append([c["community"], c["contract"], c["firm"], c["firm_name"],
                     short_time(c["start_at"]), c["last_day"], c["annual_fee"], status])
    title = _t(r, "contracts_title")
    if data["as_of"]:
        title += f" — {r.label('as_of')} {short_time(data['as_of'])}"
    r.table(title, _cols("community", "contract", "firm_code", "firm_name", "start", "end",
                         "annual_fee", "contract_status"), rows)
    if not rows:
        r.line(_t(r, "no_contracts"))


@cli.command("contracts")
@click.option("--firm", "firm_code", shell_complete=firms, metavar="FIRM", help="Only this firm's contracts.")
@click.option("--community", shell_complete=communities, metavar="COMMUNITY",
              help="Only this community's contracts.")
@click.option("--as-of", metavar="DATETIME",
              help="Only contracts in force then: which firm served which community.")
@json_option
def contracts_command(firm_code: str | None, community: str | None, as_of: str | None,
                      as_json: bool) -> None:
    """List property service contracts; with --as-of, which firm served which community at
    that moment (with the fee in force then).

    \b
    Example:
      ledger contracts --as-of 2025-06-01
      ledger contracts --community ZQ-003 --json
    """
    when: datetime | None = _parse_when_option(as_of, "--as-of") if as_of else None
    data = contracts(state().ledger(), firm_code, community, when)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    _render_contracts(r, data)


@cli.command("credit-file")
@click.argument("firm_code", metavar="[FIRM]", shell_complete=firms, required=False)
@json_option
def credit_file_command(firm_code: str | None, as_json: bool) -> None:
    """Show the credit file of every firm (or FIRM): registration, contracts, eliminations,
    credit records, bidding bans and district reports.

    \b
    Example:
      ledger credit-file
      ledger credit-file 91310112MA1GB3K258 --json
    """
    data = credit_file(state().ledger(), firm_code)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    if firm_code and not data:
        raise click.ClickException(_("no property firm is registered with credit code {firm_code!r}").format(
                                       firm_code=firm_code))
    rows = [[f["code"], f["name"], f"{f['head']} {f['head_name']}",
             ", ".join(f["contracts"]), _t(r, "yes" if f["banned"] else "no")]
            for f in data]
    r.table(_t(r, "credit_file_title"), _cols("firm_code", "firm_name", "head", "contract",
                                           "banned"), rows)
    entries = [[f["code"], e["position"], _t(r, e["entry"]), e["ref"], _t(r, e["kind"]),
                e["community"] or "", short_time(e["occurred_at"]), e["reason"]]
               for f in data for e in f["entries"]]
    if entries:
        r.table(_t(r, "entry"), _cols("firm_code", "position", "entry", "ref", "type", "community",
                                   "occurred_at", "reason"), entries)


@cli.command("blacklist")
@json_option
def blacklist_command(as_json: bool) -> None:
    """List firms banned from every property tender in the town: which ban, since when, why,
    the event that imposed it, and whether it was reported to the district.

    \b
    Example:
      ledger blacklist
      ledger --lang en blacklist --json
    """
    data = blacklist(state().ledger())
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    _render_blacklist(r, data)


@cli.command("district-report")
@click.option("--town", default="ZQ", show_default=True, help="Town code.")
@click.option("--as-of", metavar="DATE", help="The day the report is made for (default today).")
@json_option
def district_report_command(town: str, as_of: str | None, as_json: bool) -> None:
    """The report to the district housing bureau: banned firms (and whether each was reported
    to the district credit platform) and every elimination follow-up task, overdue ones
    flagged, completed ones linked to the termination that completed them.

    \b
    Example:
      ledger district-report --as-of 2026-03-31
      ledger --lang en district-report --json
    """
    from datetime import date

    from ledger.commandline.appraisal import follow_up_status
    from ledger.projections.appraisal import district_report

    day = date.fromisoformat(as_of[:10]) if as_of else None
    data = district_report(state().ledger(), town, day)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    _render_blacklist(r, data["bans"])
    rows = [[t["appraisal"], t["task"], t["firm"],
             ", ".join(f"{c['community']} ({c['contract']})" for c in t["communities"]),
             t["due"], follow_up_status(t, r.lang)] for t in data["follow_ups"]]
    r.table(f"{_t(r, 'district_title')} — {data['as_of']}",
            _cols("appraisal", "task", "firm_code", "community", "due", "follow_up_state"), rows)
    r.line(_("{t}: {overdue_follow_ups}").format(
               t=_t(r, 'overdue_count'), overdue_follow_ups=data['overdue_follow_ups']))


def _render_blacklist(r: Renderer, data: list[dict[str, Any]]) -> None:
    rows = [[b["firm"], b["firm_name"], b["ban"], short_time(b["since"]), _t(r, b["kind"]),
             b["reason"], b["position"], _t(r, "yes" if b["reported"] else "no")]
            for b in data]
    r.table(_t(r, "blacklist_title"), _cols("firm_code", "firm_name", "ref", "since", "type",
                                         "reason", "position", "reported"), rows)
    if not rows:
        r.line(_t(r, "no_bans"))


def _demo_section(ledger: GovernanceLedger, r: Renderer) -> None:
    _render_ocs(r, ocs(ledger))
    _render_contracts(r, contracts(ledger))
    _render_blacklist(r, blacklist(ledger))


DEMO_SECTIONS.append(_demo_section)

# Earlier names of the commands above, kept working (the names now follow the command types).
add_aliases(oc, {"fund-use": "record-fund-use", "revenue": "record-revenue"})
