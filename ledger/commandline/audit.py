"""``ledger audit``: who decided what, and everything a person did."""

from __future__ import annotations

import json
from typing import Any

import click

from ledger import audit
from ledger.cli import _parse_when_option, cli, json_option, renderer, state
from ledger.kernel.fields import payload_text
from ledger.kernel.i18n import _, add_labels
from ledger.render import short_time

add_labels({
    "audit_decision": "Who decided",
    "authority_chain": "Authority chain",
    "appointed_in": "appointed in",
    "appointment": "appointment event",
    "rule": "rule",
    "inputs": "inputs",
    "derived_from": "from",
    "parameters": "parameters",
    "actions_of": "Actions of",
    "command": "command",
    "signed_by": "signed by",
    "key_registered": "key registered",
    "by": "by",
    "revoked_from": "revoked from",
    "refused_title": "Refused writes",
    "refusal_code": "code",
    "reason": "reason",
    "channel": "channel",
})


@cli.group("audit")
def audit_group() -> None:
    """Auditors' questions: who decided something, and what a person did."""


@audit_group.command("decision")
@click.argument("ref", metavar="EVENT-REF")
@json_option
def audit_decision(ref: str, as_json: bool) -> None:
    """Show who decided the event EVENT-REF, in which post, appointed by whom, on what basis.

    EVENT-REF is a log position (42) or KEY@VERSION (ZQ-001@3). The authority chain follows
    each appointment back to the bootstrap; for rule outcomes the rule, its parameters and
    every input with who entered it are listed.

    \b
    Example:
      ledger audit decision ZQ-001@20
      ledger audit decision 53 --json
    """
    data = audit.decision(state().ledger(), ref)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    ev = data["event"]
    r.line(_("{label}: #{position} {type} ({label2} {version})").format(
               label=r.label('event'), position=ev['position'], type=ev['type'],
               label2=r.label('version'), version=ev['version']))
    for key in ("actor", "post", "body", "basis", "occurred_at", "recorded_at", "command",
                "command_id"):
        r.line(_("  {label}: {value}").format(
                   label=r.label(key if key != 'post' else 'acting_post'),
                   value=data.get(key) or ''))
    r.line(_("  {label}: {dumps}").format(
               label=r.label('data'), dumps=payload_text(ev['data'], r.lang)))
    sig = data.get("signature") or {}
    reg = sig.get("registration")
    text = str(sig.get("signed_by", ""))
    if reg:
        text += (f" ({r.label('key_registered')} #{reg['position']} "
                 f"{r.label('by')} {reg['registered_by']} {reg['registered_in'] or ''})")
    if sig.get("revoked"):
        text += f"; {r.label('revoked_from')} {sig['revoked']['from']}"
    r.line(_("  {label}: {text}").format(label=r.label('signed_by'), text=text))
    rows = [[c["person"], c.get("person_name", ""), c["post"], short_time(c.get("effective_from")),
             c.get("appointment_position", ""), c.get("appointed_by", ""),
             c.get("appointed_in") or "", c.get("basis") or ""] for c in data["authority_chain"]]
    r.table(r.label("authority_chain"), ("person", "person_name", "post", "since", "appointment",
                                         "appointed_by", "appointed_in", "basis"), rows)
    for rule in data.get("rules", []):
        name = rule["rule"] or rule["what"]
        derived = (f" ({r.label('derived_from')} #{rule['derived_from']})"
                   if rule.get("derived_from") else "")
        r.line(_("{label}: {name}{derived}").format(label=r.label('rule'), name=name, derived=derived))
        r.line(_("  {label}: {dumps}").format(
                   label=r.label('parameters'),
                   dumps=json.dumps(rule['parameters'], ensure_ascii=False)))
        r.table(r.label("inputs"), ("position", "type", "actor", "acting_post", "data"),
                [[i["position"], i.get("type", ""), i.get("actor", ""), i.get("post", ""),
                  payload_text(i.get("data", {}), r.lang)] for i in rule["inputs"]])


@audit_group.command("actor")
@click.argument("person")
@click.option("--from", "start", metavar="DATETIME", help="From this business time.")
@click.option("--to", "end", metavar="DATETIME", help="Up to (not including) this time.")
@json_option
def audit_actor(person: str, start: str | None, end: str | None, as_json: bool) -> None:
    """List everything PERSON did, oldest first, with the post they acted in.

    \b
    Example:
      ledger audit actor P-1001 --from 2025-01-01 --to 2025-07-01
    """
    rows: list[dict[str, Any]] = audit.actor_actions(
        state().ledger(), person,
        _parse_when_option(start, "--from") if start else None,
        _parse_when_option(end, "--to") if end else None)
    r = renderer(as_json)
    if as_json:
        r.emit(rows)
        return
    r.table(f"{r.label('actions_of')} {person}",
            ("position", "occurred_at", "command", "type", "acting_post", "command_id",
             "signed_by"),
            [[a["position"], short_time(a["occurred_at"]), a["command"], a["type"], a["post"],
              a["command_id"], a.get("signed_by") or ""] for a in rows])


@audit_group.command("refused")
@click.option("--actor", metavar="PERSON", help="Only what PERSON tried.")
@click.option("--from", "start", metavar="DATETIME", help="Refused at or after (record time).")
@click.option("--to", "end", metavar="DATETIME", help="Refused before (record time).")
@json_option
def audit_refused(actor: str | None, start: str | None, end: str | None, as_json: bool) -> None:
    """List refused writes: when, who, which command, the key that signed it, and why.

    Every write the ledger refuses (a missing or bad signature, a post without authority, an
    invalid field, a broken rule) is kept here, append-only, without the command's content.

    \b
    Example:
      ledger audit refused --actor P-0101 --from 2025-12-01
      ledger audit refused --json
    """
    rows = audit.refused(state().ledger(), actor,
                         _parse_when_option(start, "--from") if start else None,
                         _parse_when_option(end, "--to") if end else None)
    r = renderer(as_json)
    if as_json:
        r.emit(rows)
        return
    if not rows:
        click.echo(_("no refused writes by {actor}").format(actor=actor) if actor
                   else _("no refused writes"))
        return
    r.table(r.label("refused_title"),
            ("recorded_at", "actor", "command", "command_id", "signed_by", "refusal_code",
             "reason", "channel"),
            [[short_time(x["recorded_at"]), x["actor"] or "", x["type"] or "",
              x["command_id"] or "", x["key_id"] or "", x["code"], x["reason"], x["channel"]]
             for x in rows])
