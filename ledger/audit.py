"""Auditors' queries: who decided what, everything a person did, and the past of an aggregate.

- :func:`decision`: for one event, the actor, the post, the appointment that gave the actor that
  post (and who made it, up the chain to the bootstrap), the basis, and — for rule outcomes — the
  rule, its parameters and each input event with who entered it.
- :func:`actor_actions`: everything one person did, in which post, between two times.
- :func:`as_of`: an aggregate's events and state as recorded at a time (what the ledger knew
  then), or by business time (``effective``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import StoredEvent
from sqlalchemy import and_, or_, select

from ledger.kernel.errors import AggregateNotFoundError, LedgerError, NotFoundError
from ledger.kernel.eventlog import LoggedEvent, decode
from ledger.kernel.i18n import _
from ledger.projections.audit import actions, signed_by_of
from ledger.projections.status import post_terms, utc_key

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger

_REF_AT = re.compile(r"^(?P<key>.+)@(?P<version>\d+)$")
MAX_CHAIN = 20


class EventNotFoundError(NotFoundError):
    """Raised when an event reference (log position or KEY@VERSION) names no event."""

    code = "unknown_event"


def event_at(ledger: GovernanceLedger, ref: str | int) -> LoggedEvent:
    """The event at a log position (``123``) or an aggregate version (``ZQ-001@3``)."""
    t = ledger.events_table
    text = str(ref).strip()
    q = select(t.c.id, t.c.originator_id, t.c.originator_version, t.c.topic, t.c.state)
    if text.isdigit():
        q = q.where(t.c.id == int(text))
    else:
        m = _REF_AT.match(text)
        if not m:
            raise EventNotFoundError(
                _("event reference {text!r} is neither a log position (e.g. 42) nor KEY@VERSION (e.g. "
                  "ZQ-001@3)").format(text=text))
        _kind, _key, agg_id = ledger.resolve_key(m["key"])
        q = q.where(and_(t.c.originator_id == agg_id, t.c.originator_version == int(m["version"])))
    with ledger.engine.connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        raise EventNotFoundError(_("no event {text!r} in this ledger").format(text=text))
    return decode(ledger.mapper, row[0], row[1], row[2], row[3], bytes(row[4]))


def _appointment(ledger: GovernanceLedger, actor: str, post: str, occurred_at: str,
                 ) -> dict[str, Any] | None:
    at = utc_key(occurred_at)
    with ledger.engine.connect() as conn:
        row = conn.execute(select(post_terms).where(and_(
            post_terms.c.post == post, post_terms.c.person == actor,
            post_terms.c.from_utc <= at,
            or_(post_terms.c.to_utc.is_(None), post_terms.c.to_utc > at),
        ))).first()
    return dict(row._mapping) if row else None


def authority_chain(ledger: GovernanceLedger, actor: str, post: str | None,
                    occurred_at: str) -> list[dict[str, Any]]:
    """Who appointed the actor to the post, who appointed that person, … up to the bootstrap."""
    chain: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    while post and not actor.startswith("system:") and len(chain) < MAX_CHAIN:
        if (actor, post) in seen:
            break
        seen.add((actor, post))
        term = _appointment(ledger, actor, post, occurred_at)
        if term is None:
            chain.append({"person": actor, "post": post, "appointment": None})
            break
        appointing = event_at(ledger, term["appointed_event"])
        chain.append({
            "person": actor, "person_name": term["person_name"], "post": post,
            "effective_from": term["effective_from"], "effective_to": term["effective_to"],
            "appointment_position": term["appointed_event"],
            "appointed_by": term["appointed_by"], "appointed_in": term["appointed_in"],
            "basis": term["basis"], "appointed_at": appointing.envelope.get("occurred_at"),
        })
        actor = term["appointed_by"] or ""
        post = term["appointed_in"]
        occurred_at = appointing.envelope.get("occurred_at") or occurred_at
    return chain


def decision(ledger: GovernanceLedger, ref: str | int) -> dict[str, Any]:
    """Everything an auditor needs to know about who decided one event, and on what basis."""
    ledger.catch_up()
    ev = event_at(ledger, ref)
    env = ev.envelope
    out: dict[str, Any] = {
        "event": ev.public(),
        "actor": env.get("actor"),
        "post": env.get("post"),
        "body": _body_of(env.get("post")),
        "basis": env.get("basis"),
        "occurred_at": env.get("occurred_at"),
        "recorded_at": ev.recorded_at.isoformat(),
        "command": env.get("command"),
        "command_id": env.get("command_id"),
        "authority_matrix": env.get("authority"),
        "authority_restrictions": _restrictions(env.get("command"), env.get("authority")),
        "authority_chain": authority_chain(ledger, env.get("actor") or "", env.get("post"),
                                           env.get("occurred_at") or ""),
        "signature": signature_of(ledger, ev),
    }
    same = _same_command(ledger, ev)
    out["same_command"] = [e.public() for e in same]
    rules = rule_outcomes(ledger, ev, same)
    if rules:
        out["rules"] = rules
        # The first rule, in the shape earlier releases gave.
        raw = ev.data.get("rule")
        out["rule"] = raw if isinstance(raw, dict) else {
            "key": rules[0]["rule"], "parameters": rules[0]["parameters"]}
        out["inputs"] = rules[0]["inputs"]
    return out


def signature_of(ledger: GovernanceLedger, ev: LoggedEvent) -> dict[str, Any]:
    """Who signed the command that wrote *ev*: the key id, its registration event, and who
    registered it (``signed_by`` is ``unsigned``, ``system`` or ``earlier release`` when no
    key signed it)."""
    env = ev.envelope
    out: dict[str, Any] = {"signed_by": signed_by_of(env)}
    sig = env.get("signature")
    if not (isinstance(sig, dict) and "key_id" in sig):
        return out
    kid = str(sig["key_id"])
    out["payload_sha256"] = sig.get("payload_sha256")
    owner = str(env.get("actor") or "")
    if owner.startswith("system:"):
        owner = str(ev.data.get("admin") or "")  # a bootstrap signed by the key it registers
    try:
        history = ledger.history(f"person_keys:{owner}")
    except LedgerError:
        return out | {"registration": None}
    for reg in history:
        if reg.data.get("key_id") == kid and reg.type.endswith("Registered"):
            out["registration"] = {
                "position": reg.position, "person": owner,
                "valid_from": reg.data.get("valid_from"),
                "registered_by": reg.envelope.get("actor"),
                "registered_in": reg.envelope.get("post"),
                "recorded_at": reg.recorded_at.isoformat()}
        if reg.data.get("key_id") == kid and reg.type.endswith("KeyRevoked"):
            out["revoked"] = {"position": reg.position, "from": reg.data.get("revoked_from"),
                              "reason": reg.data.get("reason")}
    return out


#: Events a rule outcome is recorded on elsewhere in the same command: the event type → the
#: type on the same aggregate that carries the rule.
DERIVED = {
    "PropertyFirm.InterviewRequired": "PropertyFirm.AppraisalOutcomeRecorded",
    "PropertyFirm.WrittenWarningIssued": "PropertyFirm.AppraisalOutcomeRecorded",
    "PropertyFirm.CreditRecorded": "PropertyFirm.PutOnEliminationList",
    "PropertyFirm.BiddingBanned": "PropertyFirm.PutOnEliminationList",
    "PropertyFirm.ReportedToDistrict": "PropertyFirm.PutOnEliminationList",
}


def _resolve_inputs(ledger: GovernanceLedger, refs: list[Any]) -> list[dict[str, Any]]:
    """Each input event (a log position or ``KIND:KEY@VERSION``) with who entered it."""
    inputs = []
    for ref in refs:
        try:
            src = event_at(ledger, ref)
        except LedgerError:
            inputs.append({"position": ref if isinstance(ref, int) else None, "ref": ref,
                           "missing": True})
            continue
        inputs.append({"position": src.position, "ref": ref, "type": src.type,
                       "actor": src.envelope.get("actor"), "post": src.envelope.get("post"),
                       "data": src.data, "occurred_at": src.envelope.get("occurred_at")})
    return inputs


def _rule(ledger: GovernanceLedger, key: str, parameters: Any, refs: list[Any],
          digest: str | None = None, rule_inputs: Any = None,
          derived_from: int | None = None, what: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"rule": key, "what": what, "parameters": parameters,
                           "inputs_digest": digest, "rule_inputs": rule_inputs,
                           "inputs": _resolve_inputs(ledger, refs)}
    if derived_from is not None:
        out["derived_from"] = derived_from
    return out


def rule_outcomes(ledger: GovernanceLedger, ev: LoggedEvent,
                  same: list[LoggedEvent] | None = None) -> list[dict[str, Any]]:
    """The rules behind a rule outcome, each with its parameters and every input event with
    who entered it: the appraisal (outcome, bottom three, elimination, the ban and report it
    brings), routing, warning suggestion and measures, automatic supervision. A ban after a
    dismissal is no rule's outcome: it lists the termination that imposed it (rule ``None``).
    Other events: ``[]``."""
    d, t = ev.data, ev.type
    same = _same_command(ledger, ev) if same is None else same
    rule = d.get("rule")
    if t in DERIVED and (t in ("PropertyFirm.InterviewRequired",
                              "PropertyFirm.WrittenWarningIssued")
                         or d.get("kind") == "elimination"):
        source = next((e for e in same if e.type == DERIVED[t]
                       and e.aggregate_id == ev.aggregate_id), None)
        if source is None:
            return []
        return [{**r, "derived_from": source.position} for r in rule_outcomes(ledger, source,
                                                                              same)]
    if t == "PropertyFirm.BiddingBanned":
        source = next((e for e in same if e.type == "PropertyFirm.ContractTerminated"
                       and e.aggregate_id == ev.aggregate_id), None)
        refs = [source.position] if source is not None else []
        return [_rule(ledger, "", None, refs, what=f"{d.get('kind')}: {d.get('reason')}")]
    if isinstance(rule, dict) and ("key" in rule or "rule" in rule):
        key = str(rule.get("key") or rule.get("rule"))
        what = "supervision" if t.endswith("Escalated") else "appraisal"
        return [_rule(ledger, key, rule.get("parameters"),
                      list(d.get("input_events") or rule.get("input_events") or []),
                      rule.get("inputs_digest"), rule.get("inputs"), what=what)]
    if t == "PropertyFirm.PutOnEliminationList":
        inputs = d.get("inputs") or {}
        return [_rule(ledger, str(rule), d.get("parameters"),
                      list(inputs.get("input_events") or []), inputs.get("inputs_digest"),
                      inputs, what="elimination")]
    if t == "Matter.Routed":
        return [_rule(ledger, str(rule), d.get("parameters"), [f"{ev.aggregate_id}@1"],
                      d.get("inputs_digest"), d.get("inputs"), what="routing")]
    if t.startswith("CommunityWarning.") and "suggestion" in d:
        suggestion, measures = d["suggestion"], d.get("measures_rule") or {}
        return [
            _rule(ledger, suggestion.get("rule", ""), suggestion.get("parameters"),
                  list(suggestion.get("input_events") or []), suggestion.get("inputs_digest"),
                  suggestion.get("inputs"), what="warning suggestion"),
            _rule(ledger, measures.get("rule", ""), measures.get("parameters"), [],
                  measures.get("inputs_digest"), measures.get("inputs"),
                  what="warning measures (input: the level decided by this event's actor)"),
        ]
    return []


def _restrictions(command: str | None, version: str | None) -> list[str]:
    """The authority-matrix restrictions the event was held to: those of its command's entry
    in force under the matrix version the event records (an older event is judged under its
    own version)."""
    from ledger.kernel.authority import matrix

    entry = matrix().entry_for(command or "")
    return list(entry.restrictions(version)) if entry is not None else []


def _same_command(ledger: GovernanceLedger, ev: LoggedEvent) -> list[LoggedEvent]:
    """The other events written by the command that wrote *ev*: those between the first and
    the last position its command log row names, with its command id (a command's events are
    written together, in one transaction)."""
    from ledger.kernel.store import command_log

    cid = ev.envelope.get("command_id")
    if not cid:
        return []
    with ledger.engine.connect() as conn:
        span = conn.execute(select(command_log.c.first_notification_id,
                                   command_log.c.last_notification_id)
                            .where(command_log.c.command_id == cid)).first()
    if span is None or span[0] is None or span[1] is None:
        return []
    return [e for e in events_at(ledger, range(int(span[0]), int(span[1]) + 1))
            if e.position != ev.position and e.envelope.get("command_id") == cid]


def events_at(ledger: GovernanceLedger, positions: Iterable[int]) -> list[LoggedEvent]:
    """The events at *positions*, in the order given (positions with no event are left out),
    read a thousand at a time."""
    t = ledger.events_table
    wanted = list(positions)
    found: dict[int, LoggedEvent] = {}
    with ledger.engine.connect() as conn:
        for i in range(0, len(wanted), 1000):
            rows = conn.execute(select(t.c.id, t.c.originator_id, t.c.originator_version,
                                       t.c.topic, t.c.state)
                                .where(t.c.id.in_(wanted[i:i + 1000]))).all()
            for r in rows:
                found[r[0]] = decode(ledger.mapper, r[0], r[1], r[2], r[3], bytes(r[4]))
    return [found[p] for p in wanted if p in found]


def _body_of(post: str | None) -> str | None:
    if not post:
        return None
    from ledger.kernel.posts import parse_post

    try:
        return parse_post(post).body
    except LedgerError:
        return None


def actor_actions(ledger: GovernanceLedger, person: str, start: datetime | None = None,
                  end: datetime | None = None) -> list[dict[str, Any]]:
    """Everything *person* did (by business time, oldest first), with the post they acted in.

    The audit index finds the events; each row's fields come from the event itself, and an
    event whose own actor is another is left out (an index edited to point elsewhere
    attributes nothing; ``verify --projections`` reports the edited row)."""
    ledger.catch_up("audit")
    q = select(actions.c.position).where(actions.c.actor == person)
    if start is not None:
        q = q.where(actions.c.occurred_utc >= utc_key(start))
    if end is not None:
        q = q.where(actions.c.occurred_utc < utc_key(end))
    with ledger.engine.connect() as conn:
        positions = conn.execute(q.order_by(actions.c.occurred_utc,
                                            actions.c.position)).scalars().all()
    out = []
    for ev in events_at(ledger, positions):
        env = ev.envelope
        if (env.get("actor") or "") != person:
            continue  # the index says so, the event does not: the log is the truth
        out.append({
            "position": ev.position, "actor": env.get("actor") or "", "post": env.get("post"),
            "command": env.get("command"), "command_id": env.get("command_id"),
            "type": ev.type, "aggregate_id": str(ev.aggregate_id), "version": ev.version,
            "occurred_at": env.get("occurred_at"), "recorded_at": ev.recorded_iso,
            "signed_by": signed_by_of(env)})
    return out


def as_of(ledger: GovernanceLedger, key: str, when: datetime, *, effective: bool = False,
          ) -> dict[str, Any]:
    """The aggregate *key* as the ledger knew it at *when* (recorded time), or by business time.

    Returns the events included and the state they produce (public attributes of the aggregate).
    """
    events = ledger.history(key)
    if effective:
        cut = utc_key(when)
        chosen = [e for e in events
                  if e.envelope.get("occurred_at") and utc_key(e.envelope["occurred_at"]) <= cut]
    else:
        chosen = [e for e in events if e.recorded_at <= when]
    if not chosen:
        if effective:
            raise AggregateNotFoundError(_(
                "{key!r} had no events in effect by {when} (business time, occurred_at); its "
                "first took effect {first}").format(
                    key=key, when=when.isoformat(),
                    first=min(str(e.envelope.get("occurred_at")) for e in events)))
        in_effect = [e for e in events if e.envelope.get("occurred_at")
                     and utc_key(e.envelope["occurred_at"]) <= utc_key(when)]
        reason = _(
            "{key!r} had no events recorded by {when} (record time, recorded_at): the ledger "
            "recorded its first on {first}").format(
                key=key, when=when.isoformat(),
                first=events[0].recorded_at.isoformat(timespec="seconds"))
        if in_effect:
            reason += _(
                "; {n} of its events were entered later with an earlier business time "
                "(back-filled); to see what was in effect then, use --in-effect-on").format(
                    n=len(in_effect))
        raise AggregateNotFoundError(reason)
    state, note = _replay(ledger, chosen)
    return {"key": key, "as_of": when.isoformat(), "view": "effective" if effective else "recorded",
            "events": [e.public() for e in chosen], "state": state, "note": note,
            "later_events": len(events) - len(chosen)}


def _replay(ledger: GovernanceLedger, events: list[LoggedEvent]) -> tuple[dict[str, Any], str]:
    agg: Any = None
    note = ""
    for e in events:
        dom: Any = ledger.mapper.to_domain_event(StoredEvent(
            originator_id=e.aggregate_id, originator_version=e.version, topic=e.topic,
            state=e.state))
        try:
            if agg is None:
                agg = dom.mutate(None)
            else:
                dom.apply(agg)
                agg.version = e.version
        except LedgerError as err:
            note = f"state stops before event {e.position}: {err}"
            break
    state = {k.lstrip("_"): copy.deepcopy(v) for k, v in vars(agg).items()
             if k not in ("_pending_events",)} if agg is not None else {}
    return state, note


def refused(ledger: GovernanceLedger, actor: str | None = None, start: datetime | None = None,
            end: datetime | None = None) -> list[dict[str, Any]]:
    """The refused writes (``ledger_refusals``), oldest first: when (record time), who, which
    command type and id, the key that signed it if any, the reason code and the reason."""
    from ledger.kernel.store import refusals

    q = select(refusals).order_by(refusals.c.id)
    if actor:
        q = q.where(refusals.c.actor == actor)
    with ledger.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    out = []
    for row in rows:
        when = datetime.fromisoformat(row["recorded_at"])
        if (start is not None and when < start) or (end is not None and when >= end):
            continue
        out.append(row)
    return out
