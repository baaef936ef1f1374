"""CLI for deliberation: ``meeting``, ``resolution``, ``matter``, ``topic`` and the
``meetings``, ``resolutions`` and ``matters`` read models; the demo's resolution tracker."""

from __future__ import annotations

from datetime import date
from typing import Any

import click

from ledger.application import GovernanceLedger
from ledger.cli import (
    DEMO_SECTIONS,
    add_aliases,
    cli,
    envelope,
    envelope_options,
    execute,
    json_option,
    renderer,
    state,
)
from ledger.complete import communities
from ledger.kernel.i18n import _, add_labels
from ledger.projections.deliberation import (
    attendance_of,
    cadence_report,
    matter_list,
    meeting_list,
    resolution_items,
)
from ledger.render import Renderer, short_time

add_labels({
    "dl.meeting": "meeting",
    "dl.kind": "kind",
    "dl.title": "title",
    "dl.held_at": "held at",
    "dl.convened_by": "convened by",
    "dl.status": "status",
    "dl.attendees": "attendees",
    "dl.items": "items",
    "dl.absent_flag": "items to absent bodies",
    "dl.minutes": "minutes",
    "dl.item": "item",
    "dl.body": "responsible body",
    "dl.task": "task",
    "dl.due": "due",
    "dl.state": "state",
    "dl.days_overdue": "days overdue",
    "dl.notes": "progress notes",
    "dl.evidence": "evidence",
    "dl.completed_on": "completed",
    "dl.handed_to": "handed to",
    "dl.absent": "absent",
    "dl.matter": "matter",
    "dl.channel": "channel",
    "dl.raiser": "raised by",
    "dl.route": "route",
    "dl.rule_reason": "rule reason",
    "dl.overridden": "overridden",
    "dl.steps": "procedure steps",
    "dl.community": "community",
    "dl.last_meeting": "last four-in-one",
    "dl.days_since": "days since",
    "dl.cadence": "cadence (days)",
    "dl.flagged": "overdue meeting",
    "dl.open": "open",
    "dl.overdue": "overdue",
    "dl.done": "done",
    "dl.done_late": "done late",
    "dl.tracker": "Resolution tracker",
    "dl.overdue_list": "Overdue resolution items",
    "dl.cadence_title": "Four-in-one meeting cadence",
    "dl.meetings_title": "Meetings",
    "dl.matters_title": "Matters and topics",
    "dl.attendance_title": "Attendance",
    "dl.person": "person",
    "dl.post": "post",
    "dl.guest": "guest",
    "dl.yes": "yes",
    "dl.kind:four_in_one": "four-in-one meeting",
    "dl.kind:community_joint": "community joint meeting",
    "dl.kind:town_joint": "town joint meeting",
    "dl.route:four_in_one": "four-in-one meeting",
    "dl.route:rc_autonomous": "residents' committee decides",
    "dl.route:party_building_joint_meeting": "party-building joint meeting",
    "dl.channel:direct": "raised directly",
    "dl.channel:platform": "deliberation platform",
})

KIND_CHOICE = click.Choice(["four_in_one", "community_joint", "town_joint"])
ROUTE_CHOICE = click.Choice(["four_in_one", "rc_autonomous", "party_building_joint_meeting"])
FIELD_CHOICE = click.Choice(["management", "building", "service", "public_order", "other"])


def _day_option(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(_("{value!r} is not a date (YYYY-MM-DD)").format(
                                     value=value), param_hint=name) from None


def _responsible(text: str) -> dict[str, Any]:
    """``party_org``, ``property_firm@ZQ-003`` or a post ``party_org.secretary@ZQ-003``."""
    text = text.strip()
    if "@" not in text:
        return {"body": text}
    head, _, scope = text.partition("@")
    if "." in head and not head.startswith("department:"):
        return {"post": text}
    return {"body": head, "community": scope}


# ---------------------------------------------------------------------------- meeting
@cli.group()
def meeting() -> None:
    """Meetings: convene, record attendance, close with minutes (会议)."""


@meeting.command("convene")
@click.argument("reference")
@click.option("--kind", type=KIND_CHOICE, required=True, help="The kind of meeting.")
@click.option("--community", shell_complete=communities, help="The community (four_in_one, community_joint).")
@click.option("--town", help="The town (town_joint).")
@click.option("--title", required=True, help="What the meeting is about.")
@click.option("--agenda", "agenda", multiple=True, required=True,
              help="An agenda item (repeat); 'TITLE=>MATTER' names a matter taken up.")
@click.option("--held-at", metavar="DATETIME", help="When it sits (default --at).")
@envelope_options
@json_option
def meeting_convene(reference: str, kind: str, community: str | None, town: str | None,
                    title: str, agenda: tuple[str, ...], held_at: str | None, as_json: bool,
                    **kw: Any) -> None:
    """Convene a meeting REFERENCE of a kind, with its agenda.

    \b
    Example:
      ledger meeting convene ZQ-001-M-2025-03 --kind four_in_one --community ZQ-001 \\
          --title 三月四位一体协商会议 --agenda 小区停车 --agenda "加装电梯=>ZQ-001-MT-2025-002" \\
          --actor P-1001 --post party_org.secretary@ZQ-001 --at 2025-03-05T14:00
    """
    items = []
    for a in agenda:
        title_, sep, matter = a.partition("=>")
        items.append({"title": title_.strip(), **({"matter": matter.strip()} if sep else {})})
    execute({"type": "meeting.convene", "meeting": reference, "kind": kind,
             "community": community, "town": town, "title": title, "held_at": held_at,
             "agenda": items, **envelope(kw)}, as_json)


@meeting.command("attend")
@click.argument("reference")
@click.option("--attendee", "attendees", multiple=True, required=True,
              metavar="BODY_OR_POST,PERSON,NAME",
              help="One attendee (repeat): a body (property_firm, department:police, "
                   "party_org@ZQ-003) or a post they hold, their person id and name.")
@envelope_options
@json_option
def meeting_attend(reference: str, attendees: tuple[str, ...], as_json: bool,
                   **kw: Any) -> None:
    """Record who attended meeting REFERENCE, for which body.

    \b
    Example:
      ledger meeting attend ZQ-001-M-2025-03 \\
          --attendee party_org.secretary@ZQ-001,P-1001,钱艳 \\
          --attendee property_firm,P-1201,吴经理 \\
          --actor P-1001 --post party_org.secretary@ZQ-001 --at 2025-03-05T14:00
    """
    rows = []
    for text in attendees:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 3:
            raise click.BadParameter(_("{text!r}: give BODY_OR_POST,PERSON,NAME").format(text=text),
                                     param_hint="--attendee")
        rows.append({**_responsible(parts[0]), "person": parts[1], "person_name": parts[2]})
    execute({"type": "meeting.attend", "meeting": reference, "attendees": rows,
             **envelope(kw)}, as_json)


@meeting.command("close")
@click.argument("reference")
@click.option("--summary", required=True, help="Summary of the minutes.")
@click.option("--document", required=True, help="Reference of the minutes document.")
@envelope_options
@json_option
def meeting_close(reference: str, summary: str, document: str, as_json: bool,
                  **kw: Any) -> None:
    """Close meeting REFERENCE with its minutes.

    \b
    Example:
      ledger meeting close ZQ-001-M-2025-03 --summary 形成停车整治决议 \\
          --document 阳光花园会议纪要〔2025〕3号 --actor P-1001 --post party_org.secretary@ZQ-001
    """
    execute({"type": "meeting.close", "meeting": reference, "summary": summary,
             "document": document, **envelope(kw)}, as_json)


@meeting.command("show")
@click.argument("reference")
@json_option
def meeting_show(reference: str, as_json: bool) -> None:
    """Show one meeting: attendance and its resolution items (states as of today).

    \b
    Example:
      ledger meeting show ZQ-001-M-2025-03
    """
    ledger = state().ledger()
    found = [m for m in meeting_list(ledger) if m["code"] == reference]
    if not found:
        raise click.ClickException(_("meeting {reference!r} has not been convened").format(
                                       reference=reference))
    people = attendance_of(ledger, reference)
    its = resolution_items(ledger, meeting=reference)["items"]
    r = renderer(as_json)
    if as_json:
        r.emit({"meeting": found[0], "attendance": people, "items": its})
        return
    m = found[0]
    r.line(_("{code} {label} — {title} ({short_time})").format(
               code=m['code'], label=r.label('dl.kind:' + m['kind']), title=m['title'],
               short_time=short_time(m['held_at'])))
    if m["minutes_document"]:
        r.line(_("{label}: {minutes_summary} [{minutes_document}]").format(
                   label=r.label('dl.minutes'), minutes_summary=m['minutes_summary'],
                   minutes_document=m['minutes_document']))
    r.table(r.label("dl.attendance_title"),
            ("dl.body", "dl.community", "dl.person", "dl.post", "dl.guest"),
            [[a["body"], a["community"] or "", f"{a['person']} {a['person_name']}",
              a["post"] or "", r.label("dl.yes") if a["guest"] else ""] for a in people])
    _items_table(r, r.label("dl.items"), its)


@meeting.command("cadence")
@click.option("--as-of", metavar="DATE", help="Judge the cadence as of this date (default today).")
@click.option("--community", shell_complete=communities, help="One community only.")
@json_option
def meeting_cadence(as_of: str | None, community: str | None, as_json: bool) -> None:
    """Flag communities whose last four-in-one meeting is older than the town's cadence
    (town parameter meeting.four_in_one.cadence_days, default 30).

    \b
    Example:
      ledger meeting cadence --as-of 2025-12-31
    """
    data = cadence_report(state().ledger(), as_of=_day_option(as_of, "--as-of"),
                          community=community)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    _cadence_table(r, data)


def _cadence_table(r: Renderer, data: dict[str, Any]) -> None:
    r.table(f"{r.label('dl.cadence_title')} — {r.label('as_of')} {data['as_of']}",
            ("dl.community", "name", "dl.last_meeting", "dl.days_since", "dl.cadence",
             "dl.flagged"),
            [[c["community"], c["name"], c["last_four_in_one"] or "—", c["days_since"],
              c["cadence_days"], "⚠" if c["flagged"] else ""] for c in data["communities"]])


@cli.command("meetings")
@click.option("--community", shell_complete=communities, help="Only this community's meetings.")
@click.option("--kind", type=KIND_CHOICE, help="Only meetings of this kind.")
@json_option
def meetings_cmd(community: str | None, kind: str | None, as_json: bool) -> None:
    """List meetings with attendance, resolution items and items flagged for absent bodies.

    \b
    Example:
      ledger meetings --community ZQ-001 --kind four_in_one
    """
    data = meeting_list(state().ledger(), community=community, kind=kind)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    r.table(r.label("dl.meetings_title"),
            ("dl.meeting", "dl.kind", "dl.title", "dl.held_at", "dl.convened_by",
             "dl.attendees", "dl.items", "dl.absent_flag", "dl.status"),
            [[m["code"], r.label("dl.kind:" + m["kind"]), m["title"], short_time(m["held_at"]),
              f"{m['convened_by']} {m['convener_post'] or ''}", m["attendees"], m["items"],
              m["absent_body_items"] or "", m["status"]] for m in data])


# ---------------------------------------------------------------------------- resolution
@cli.group()
def resolution() -> None:
    """Resolutions and their items: adopt, progress, complete, lapse, hand over (处置决议)."""


@resolution.command("adopt")
@click.argument("meeting_ref", metavar="MEETING")
@click.option("--title", required=True, help="The resolution's title.")
@click.option("--item", "items", type=(str, str, str), multiple=True, required=True,
              metavar="BODY_OR_POST DUE TASK",
              help="One item (repeat): responsible body or post, due date, task.")
@click.option("--matter", help="The matter this resolution decides.")
@envelope_options
@json_option
def resolution_adopt(meeting_ref: str, title: str, items: tuple[tuple[str, str, str], ...],
                     matter: str | None, as_json: bool, **kw: Any) -> None:
    """Adopt a resolution at open meeting MEETING. Items are numbered 1, 2, …; an item for a
    body absent from the meeting is accepted and flagged.

    \b
    Example:
      ledger resolution adopt ZQ-001-M-2025-03 --title 停车整治 \\
          --item property_firm 2025-04-30 重新划定停车位 \\
          --item residents_committee 2025-03-31 张贴停车公告 \\
          --actor P-1001 --post party_org.secretary@ZQ-001 --at 2025-03-05T15:30
    """
    rows = [{**_responsible(who), "due": due, "task": task} for who, due, task in items]
    execute({"type": "resolution.adopt", "meeting": meeting_ref, "title": title,
             "matter": matter, "items": rows, **envelope(kw)}, as_json)


@resolution.command("progress")
@click.argument("item")
@click.option("--note", required=True, help="What has been done.")
@envelope_options
@json_option
def resolution_progress(item: str, note: str, as_json: bool, **kw: Any) -> None:
    """Report progress on resolution ITEM (MEETING/R<n>/<item>).

    \b
    Example:
      ledger resolution progress ZQ-001-M-2025-03/R1/1 --note 已完成报价 \\
          --actor P-1002 --post residents_committee.director@ZQ-001
    """
    execute({"type": "resolution.progress", "item": item, "note": note, **envelope(kw)},
            as_json)


@resolution.command("complete")
@click.argument("item")
@click.option("--evidence", required=True, help="Reference of the evidence (photo, record…).")
@envelope_options
@json_option
def resolution_complete(item: str, evidence: str, as_json: bool, **kw: Any) -> None:
    """Record resolution ITEM as done, with evidence (once only).

    \b
    Example:
      ledger resolution complete ZQ-001-M-2025-03/R1/1 --evidence 验收记录2025-041 \\
          --actor P-1002 --post residents_committee.director@ZQ-001
    """
    execute({"type": "resolution.complete", "item": item, "evidence": evidence,
             **envelope(kw)}, as_json)


@resolution.command("lapse")
@click.argument("item")
@envelope_options
@json_option
def resolution_lapse(item: str, as_json: bool, **kw: Any) -> None:
    """Record that resolution ITEM lapsed: past its due date and not done.

    \b
    Example:
      ledger resolution lapse ZQ-001-M-2025-03/R1/2 \\
          --actor P-1001 --post party_org.secretary@ZQ-001 --at 2025-05-10
    """
    execute({"type": "resolution.lapse", "item": item, **envelope(kw)}, as_json)


@resolution.command("hand-over")
@click.argument("item")
@click.option("--to", "to_meeting", required=True, help="The later meeting that follows it up.")
@click.option("--reason", required=True, help="Why it is handed over.")
@envelope_options
@json_option
def resolution_hand_over(item: str, to_meeting: str, reason: str, as_json: bool,
                         **kw: Any) -> None:
    """Hand open resolution ITEM to a later meeting for follow-up.

    \b
    Example:
      ledger resolution hand-over ZQ-001-M-2025-03/R1/2 --to ZQ-001-M-2025-04 \\
          --reason 需业委会表决 --actor P-1001 --post party_org.secretary@ZQ-001
    """
    execute({"type": "resolution.hand_over", "item": item, "to_meeting": to_meeting,
             "reason": reason, **envelope(kw)}, as_json)


def _items_table(r: Renderer, title: str, rows: list[dict[str, Any]]) -> None:
    r.table(title,
            ("dl.item", "dl.body", "dl.task", "dl.due", "dl.state", "dl.days_overdue",
             "dl.notes", "dl.completed_on", "dl.evidence", "dl.absent", "dl.handed_to"),
            [[i["ref"], _body_text(i), i["task"], i["due"], r.label("dl." + i["state"])
              + (f" ({r.label('ladder:' + i['escalation'])})"
                 if i.get("escalation", "none") != "none" else ""),
              i["days_overdue"] or "", i["progress_notes"] or "", i["completed_on"] or "",
              i["evidence"] or "", "⚑" if i["absent_body"] else "", i["handed_to"] or ""]
             for i in rows])


def _body_text(i: dict[str, Any]) -> str:
    text = str(i["post"] or i["body"])
    if i["kind"] == "town_joint" and i["community"] and not i["post"]:
        text += f"@{i['community']}"
    return text


@cli.command("resolutions")
@click.option("--community", shell_complete=communities,
              help="Items of this community's meetings (or assigned to it).")
@click.option("--overdue", is_flag=True, help="Only items overdue on the as-of date.")
@click.option("--as-of", metavar="DATE", help="States as they stood on this date (default today).")
@click.option("--body", help="Only items this body is responsible for.")
@click.option("--meeting", "meeting_ref", help="Only items of this meeting.")
@json_option
def resolutions_cmd(community: str | None, overdue: bool, as_of: str | None, body: str | None,
                    meeting_ref: str | None, as_json: bool) -> None:
    """Track resolution items: open, overdue, done, done late — as of any date.

    \b
    Example:
      ledger resolutions --community ZQ-001 --overdue --as-of 2025-06-30
      ledger resolutions --body property_firm --json
    """
    data = resolution_items(state().ledger(), community=community, body=body,
                            meeting=meeting_ref, overdue=overdue,
                            as_of=_day_option(as_of, "--as-of"))
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    counts = ", ".join(f"{r.label('dl.' + k)} {v}" for k, v in data["counts"].items())
    _items_table(r, f"{r.label('dl.tracker')} — {r.label('as_of')} {data['as_of']} ({counts})",
                 data["items"])


# ---------------------------------------------------------------------------- matter
@cli.group()
def matter() -> None:
    """Matters: raise, route by rule matter.routing@1, override, major-matter procedure (事项)."""


@matter.command("raise")
@click.argument("reference")
@click.option("--community", shell_complete=communities, required=True, help="The community it concerns.")
@click.option("--title", required=True, help="Short title (no personal data).")
@click.option("--description", default="", help="What it is (no personal data).")
@click.option("--resident", "resident_ref", metavar="R-XXXX",
              help="Raised by a resident: their pseudonymous reference only.")
@click.option("--field", "field_", type=FIELD_CHOICE, default="other", show_default=True,
              help="Its field.")
@click.option("--act", "bodies", multiple=True,
              help="A body that must act (repeat): residents_committee, owners_committee, "
                   "property_firm, party_org, department:<code>.")
@click.option("--public-interest", is_flag=True,
              help="It concerns the public interest of all residents.")
@click.option("--departments", type=int, default=0, help="How many departments it involves.")
@click.option("--overlapping", is_flag=True, help="Duties overlap (职责交叉).")
@envelope_options
@json_option
def matter_raise(reference: str, community: str, title: str, description: str,
                 resident_ref: str | None, field_: str, bodies: tuple[str, ...],
                 public_interest: bool, departments: int, overlapping: bool, as_json: bool,
                 **kw: Any) -> None:
    """Raise matter REFERENCE with the attributes its routing reads.

    \b
    Example:
      ledger matter raise ZQ-001-MT-2025-001 --community ZQ-001 --title 楼道堆物 \\
          --field management --act property_firm --resident R-7f3a9c \\
          --actor P-1011 --post building_leader@ZQ-001/B1
    """
    execute({"type": "matter.raise", "matter": reference, "community": community,
             "title": title, "description": description, "resident_ref": resident_ref,
             "attributes": {"bodies_to_act": list(bodies), "field": field_,
                            "public_interest_all_residents": public_interest,
                            "departments_involved": departments,
                            "overlapping_duties": overlapping},
             **envelope(kw)}, as_json)


@matter.command("route")
@click.argument("reference")
@envelope_options
@json_option
def matter_route(reference: str, as_json: bool, **kw: Any) -> None:
    """Route matter REFERENCE with matter.routing@1; the event records rule, inputs, decision.

    \b
    Example:
      ledger matter route ZQ-001-MT-2025-001 --actor P-1001 --post party_org.secretary@ZQ-001
    """
    execute({"type": "matter.route", "matter": reference, **envelope(kw)}, as_json)


@matter.command("override-route")
@click.argument("reference")
@click.option("--route", "route_", type=ROUTE_CHOICE, required=True, help="The route chosen.")
@click.option("--reason", required=True, help="Why the rule's route is overridden.")
@envelope_options
@json_option
def matter_override(reference: str, route_: str, reason: str, as_json: bool,
                    **kw: Any) -> None:
    """Override the route of matter REFERENCE, with a stated reason.

    \b
    Example:
      ledger matter override-route ZQ-001-MT-2025-003 --route party_building_joint_meeting \\
          --reason 涉及消防部门 --actor P-1001 --post party_org.secretary@ZQ-001
    """
    execute({"type": "matter.override_route", "matter": reference, "route": route_,
             "reason": reason, **envelope(kw)}, as_json)


@matter.command("record-step")
@click.argument("reference")
@click.option("--step", type=click.Choice(["proposal", "deliberation", "decision",
                                           "publication"]), required=True,
              help="The next step of the major-matter procedure.")
@click.option("--summary", required=True, help="What happened in this step.")
@click.option("--document", help="Reference of the step's document.")
@envelope_options
@json_option
def matter_step(reference: str, step: str, summary: str, document: str | None, as_json: bool,
                **kw: Any) -> None:
    """Record the next step of the residents' committee's major-matter procedure
    (proposal, deliberation, decision, publication) for matter REFERENCE.

    \b
    Example:
      ledger matter record-step ZQ-001-MT-2025-001 --step proposal --summary 居委会提出方案 \\
          --actor P-1002 --post residents_committee.director@ZQ-001
    """
    execute({"type": "matter.record_step", "matter": reference, "step": step,
             "summary": summary, "document": document, **envelope(kw)}, as_json)


@cli.command("matters")
@click.option("--community", shell_complete=communities, help="Only this community's matters.")
@click.option("--route", "route_", type=ROUTE_CHOICE, help="Only matters on this route.")
@click.option("--topics", is_flag=True, help="Only deliberation-platform topics.")
@json_option
def matters_cmd(community: str | None, route_: str | None, topics: bool, as_json: bool) -> None:
    """List matters and topics: route (by rule or overridden) and how each was decided.

    \b
    Example:
      ledger matters --community ZQ-001
      ledger matters --route rc_autonomous --json
    """
    data = matter_list(state().ledger(), community=community, route=route_,
                       channel="platform" if topics else None)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    r.table(r.label("dl.matters_title"),
            ("dl.matter", "dl.community", "dl.title", "dl.channel", "dl.raiser", "dl.route",
             "dl.rule_reason", "dl.overridden", "dl.steps", "dl.meeting", "dl.status"),
            [[m["code"], m["community"], m["title"], r.label("dl.channel:" + m["channel"]),
              m["raiser_kind"], r.label("dl.route:" + m["route"]) if m["route"] else "",
              m["rule_reason"] or "", m["override_reason"] or "", m["steps"],
              m["resolution"] or m["meetings"], m["status"]] for m in data])


# ---------------------------------------------------------------------------- topic
@cli.group()
def topic() -> None:
    """Deliberation-platform topics: raised by residents, heard, outcome published (议事平台)."""


@topic.command("raise")
@click.argument("reference")
@click.option("--community", shell_complete=communities, required=True, help="The community.")
@click.option("--resident", "resident_ref", required=True, metavar="R-XXXX",
              help="The resident's pseudonymous reference (no name, no phone).")
@click.option("--title", required=True, help="The topic.")
@click.option("--description", default="", help="More detail (no personal data).")
@click.option("--field", "field_", type=FIELD_CHOICE, default="other", show_default=True,
              help="Its field.")
@envelope_options
@json_option
def topic_raise(reference: str, community: str, resident_ref: str, title: str,
                description: str, field_: str, as_json: bool, **kw: Any) -> None:
    """Record topic REFERENCE a resident raised on the deliberation platform.

    \b
    Example:
      ledger topic raise ZQ-003-TP-2025-01 --community ZQ-003 --resident R-a91c07 \\
          --title 增设休闲座椅 --actor P-3006 --post residents_committee.member@ZQ-003
    """
    execute({"type": "topic.raise", "matter": reference, "community": community,
             "resident_ref": resident_ref, "title": title, "description": description,
             "field": field_, **envelope(kw)}, as_json)


@topic.command("hear")
@click.argument("reference")
@click.option("--meeting", "meeting_ref", required=True, help="The open meeting that hears it.")
@envelope_options
@json_option
def topic_hear(reference: str, meeting_ref: str, as_json: bool, **kw: Any) -> None:
    """Record that topic REFERENCE was heard at an open meeting.

    \b
    Example:
      ledger topic hear ZQ-003-TP-2025-01 --meeting ZQ-003-M-2025-04 \\
          --actor P-3001 --post party_org.secretary@ZQ-003
    """
    execute({"type": "topic.hear", "matter": reference, "meeting": meeting_ref,
             **envelope(kw)}, as_json)


@topic.command("publish")
@click.argument("reference")
@click.option("--summary", required=True, help="The outcome.")
@click.option("--document", required=True, help="Where it was published.")
@envelope_options
@json_option
def topic_publish(reference: str, summary: str, document: str, as_json: bool,
                  **kw: Any) -> None:
    """Publish the outcome of topic (or matter) REFERENCE.

    \b
    Example:
      ledger topic publish ZQ-003-TP-2025-01 --summary 增设座椅6张 --document 居务公开栏2025-05 \\
          --actor P-3001 --post party_org.secretary@ZQ-003
    """
    execute({"type": "topic.publish", "matter": reference, "summary": summary,
             "document": document, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- demo
DEMO_AS_OF = date(2025, 12, 31)


def resolution_tracker(ledger: GovernanceLedger, r: Renderer) -> None:
    """Demo section: the resolution tracker at the end of the sample year."""
    data = resolution_items(ledger, as_of=DEMO_AS_OF)
    by_comm: dict[str, dict[str, int]] = {}
    for i in data["items"]:
        key = i["community"] or i["town"]
        row = by_comm.setdefault(key, {"open": 0, "overdue": 0, "done": 0, "done_late": 0,
                                       "absent": 0})
        row[i["state"]] += 1
        row["absent"] += int(bool(i["absent_body"]))
    r.table(f"{r.label('dl.tracker')} — {r.label('as_of')} {data['as_of']}",
            ("dl.community", "dl.open", "dl.overdue", "dl.done", "dl.done_late",
             "dl.absent_flag"),
            [[k, v["open"], v["overdue"], v["done"], v["done_late"], v["absent"]]
             for k, v in sorted(by_comm.items())])
    overdue = [i for i in data["items"] if i["state"] == "overdue"]
    _items_table(r, f"{r.label('dl.overdue_list')} — {r.label('as_of')} {data['as_of']}",
                 overdue)
    _cadence_table(r, cadence_report(ledger, as_of=DEMO_AS_OF))


DEMO_SECTIONS.append(resolution_tracker)

# Earlier names of the commands above, kept working (the names now follow the command types).
add_aliases(matter, {"override": "override-route", "step": "record-step"})
