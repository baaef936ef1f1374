"""``ledger checkpoint``, ``ledger prove``, ``ledger verify``, ``ledger key export``: the
tamper-evident log (see docs/integrity.md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from ledger.cli import DEMO_SECTIONS, cli, json_option, renderer, state
from ledger.integrity import sealer
from ledger.integrity.verifier import load_witness_policy as load_verify_policy
from ledger.integrity.verifier import verify as verify_ledger
from ledger.kernel.i18n import _, add_labels
from ledger.render import Renderer, progress_bar

add_labels({
    "checkpoint": "checkpoint",
    "sealed_events": "leaves newly signed",
    "tree_size": "tree size",
    "leaf_index": "leaf index",
    "root": "root",
    "proof": "proof",
    "inclusion_proof": "Inclusion proof",
    "consistency_proof": "Consistency proof",
    "verifier_key": "verifier key",
    "integrity_title": "Tamper-evident log",
})




def load_witness_policy(path: str | None) -> Any:
    """The witness policy at *path* (``--witness-policy`` / ``LEDGER_WITNESS_POLICY``)."""
    if not path:
        return None
    from ledger.integrity import cosign

    return cosign.load_policy(path)


witness_policy_option = click.option(
    "--witness-policy", "witness_policy", envvar="LEDGER_WITNESS_POLICY", metavar="FILE",
    type=click.Path(dir_okay=False), help="Witness policy file (ledger-witness-policy/1: "
    "'witness NAME VKEY [URL]' lines and 'quorum K'); env LEDGER_WITNESS_POLICY.")


@cli.command("checkpoint")
@witness_policy_option
@click.option("--every", type=click.FloatRange(min=1), metavar="SECONDS",
              help="Keep running: sign a new checkpoint every SECONDS while the log grows "
                   "(stops at the first refusal, exit 1; Ctrl-C ends it).")
@json_option
def checkpoint_cmd(witness_policy: str | None, every: float | None, as_json: bool) -> None:
    """Sign a checkpoint of the log, send it to the witnesses, print it.

    Every event already has its leaf in the Merkle tree (written with the event). The signer
    first recomputes the new root from its own record of what it signed last (beside its key:
    KEY.signer.json) and the new events' own bytes, and refuses, signing nothing, unless the
    database's tree is exactly that append-only extension. With a witness policy the
    checkpoint goes to each witness that has a URL; their cosignatures are stored in the note,
    and a witness that refuses, or a quorum not reached, makes the command fail (exit 1).

    \b
    Example:
      ledger checkpoint
      ledger checkpoint --witness-policy /etc/ledger/witnesses.txt > checkpoint-2025-06-30.txt
      ledger checkpoint --every 600        # a signer that signs every ten minutes
    """
    policy = load_witness_policy(witness_policy)
    ledger = state().ledger()
    last = None
    while True:
        result = sealer.seal(ledger, policy=policy)
        if result.checkpoint.size != last:
            last = result.checkpoint.size
            if as_json:
                renderer(True).emit({**result.checkpoint.public(), "added": result.added})
            else:
                click.echo(_("{label}: {added}").format(
                               label=renderer(False).label('sealed_events'), added=result.added), err=True)
                click.echo(result.checkpoint.note, nl=False)
            for missing in result.unwitnessed:
                click.echo(_("warning: no cosignature from {missing}").format(missing=missing), err=True)
        if every is None:
            return
        time.sleep(every)


@cli.group("prove")
def prove() -> None:
    """Proofs over the Merkle log: that an event is in it, that it only grew."""


def _b64_lines(r: Renderer, doc: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        r.line(_("{label}: {doc}").format(label=r.label(key), doc=doc[key]))
    r.line(_("{label}:").format(label=r.label('proof')))
    for item in doc["proof"]:
        r.line(_("  {item}").format(item=item))


@prove.command("inclusion")
@click.argument("ref", metavar="EVENT-REF")
@click.option("--size", type=click.IntRange(min=0), metavar="N",
              help="Prove against the signed checkpoint at tree size N (default: the latest).")
@json_option
def prove_inclusion(ref: str, size: int | None, as_json: bool) -> None:
    """Prove that the event EVENT-REF (log position or KEY@VERSION) is in the signed log.

    The --json document is what scripts/verify-proof checks, with nothing of the ledger.

    \b
    Example:
      ledger prove inclusion ZQ-001@3 --json > proof.json
      python3 scripts/verify-proof --key "$(ledger key export)" proof.json
    """
    doc = sealer.inclusion_proof_document(state().ledger(), ref, size)
    r = renderer(as_json)
    if as_json:
        r.emit(doc)
        return
    rec = doc["record"]
    r.line(_("{label}: {event} {position} ({ref}) = {type} ({aggregate_id} {version_label} "
             "{version})").format(
               label=r.label('inclusion_proof'), event=r.label('event'),
               position=rec['notification_id'], ref=ref, type=rec['type'],
               aggregate_id=rec['aggregate_id'], version_label=r.label('version'),
               version=rec['version']))
    r.line(_("{position} = the event's position in the log (as history, audit and verify "
             "number events); {leaf} = its leaf in the Merkle tree, counted from 0").format(
                 position=r.label("position"), leaf=r.label("leaf_index")))
    _b64_lines(r, doc, ("leaf_index", "tree_size", "root"))
    r.line(_("{label}:").format(label=r.label('checkpoint')))
    r.line(doc["checkpoint"].rstrip("\n"))
    r.line(_("(--json prints the document scripts/verify-proof checks)"))


@prove.command("consistency")
@click.option("--from", "from_size", type=click.IntRange(min=1), required=True, metavar="N",
              help="The older tree size (e.g. of a checkpoint you kept).")
@click.option("--to", "to_size", type=click.IntRange(min=1), metavar="M",
              help="The newer tree size, a signed checkpoint's (default: the latest).")
@json_option
def prove_consistency(from_size: int, to_size: int | None, as_json: bool) -> None:
    """Prove that the log at tree size N is a prefix of the log at size M (RFC 9162).

    \b
    Example:
      ledger prove consistency --from 120 --json
      ledger prove consistency --from 120 --to 194
    """
    doc = sealer.consistency_proof_document(state().ledger(), from_size, to_size)
    r = renderer(as_json)
    if as_json:
        r.emit(doc)
        return
    r.line(_("{label}: {from_size} → {to_size}").format(
               label=r.label('consistency_proof'), from_size=doc['from_size'],
               to_size=doc['to_size']))
    _b64_lines(r, doc, ("from_root", "to_root"))


def _read_key(value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value)
    if "+" not in value and path.is_file():
        return path.read_text(encoding="utf-8").strip()
    return value.strip()


UNVERIFIED = ("neither --key (the published verifier key) nor a witness policy "
              "(--witness-policy / LEDGER_WITNESS_POLICY) was given, so the ledger could only be "
              "checked against itself; pass one, or --allow-unverified to run the check anyway")


@cli.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", help="A signed checkpoint you kept: check the log still extends it.")
@click.option("--key", "verifier_key", metavar="VERIFIER_KEY",
              help="The published verifier key (or a file holding it) to check signatures "
                   "with. Without it (and without a witness policy) verify refuses to run "
                   "unless --allow-unverified is given.")
@witness_policy_option
@click.option("--allow-unverified", is_flag=True,
              help="Run without --key and without a witness policy: signatures are then "
                   "checked with the ledger's own key file (else the key stored with its "
                   "first checkpoint), which shows only that the ledger agrees with itself.")
@click.option("--snapshots", "check_snapshots", is_flag=True,
              help="Also check every stored snapshot of aggregate state against the events "
                   "it covers (its digest, the tree, the events, and the state replayed from "
                   "them).")
@click.option("--full", is_flag=True,
              help="Also recompute every stored interior node of the Merkle tree from the "
                   "leaves and compare (a node proofs are built from that was altered).")
@click.option("--projections", "check_projections", is_flag=True,
              help="Also rebuild every read model into shadow tables and compare them row by "
                   "row with the live tables (nothing live is changed).")
@click.option("--require-signed", is_flag=True,
              help="An event accepted unsigned (the unsigned mode) is a finding too, not only "
                   "counted (docs/signing.md).")
@json_option
def verify_cmd(checkpoint_file: str | None, verifier_key: str | None,
               witness_policy: str | None, allow_unverified: bool, check_snapshots: bool,
               full: bool, check_projections: bool, require_signed: bool,
               as_json: bool) -> None:
    """Check the whole log against its Merkle tree and signed checkpoints.

    Recomputes every event's leaf from the stored event (and its command-log row), every
    checkpoint's root and signature, that the leaves cover the log exactly once and in
    order (an event without a leaf is a finding), that every event was written by a recorded
    command, that every event's signature verifies with the key its official had registered
    at its record time (an unsigned event of someone who had a key is a finding; events
    accepted in the unsigned mode are counted, or findings with --require-signed), and (with
    --checkpoint) that the log still extends a checkpoint you kept. With a
    witness policy, the latest checkpoint must carry its quorum of cosignatures. --full
    recomputes every stored tree node, --projections every read model, --snapshots every
    stored snapshot. Findings are printed as JSON lines {"position", "kind", "detail"}; the
    exit status is 1 if there is any, else 0 with a one-line summary; 2 when there is
    nothing to check against (no --key, no witness policy) without --allow-unverified.

    \b
    Example:
      ledger verify --key verifier-key.txt
      ledger verify --checkpoint checkpoint-2025-06-30.txt --key "zq-governance-ledger/ZQ+…"
      ledger verify --witness-policy /etc/ledger/witnesses.txt --full --projections
      ledger verify --allow-unverified --snapshots
    """
    if verifier_key is None and not witness_policy and not allow_unverified:
        click.echo(_("Error: {unverified}").format(unverified=UNVERIFIED), err=True)
        sys.exit(2)
    policy = load_verify_policy(witness_policy)
    note = Path(checkpoint_file).read_text(encoding="utf-8") if checkpoint_file else None
    with progress_bar("verify", sys.stderr.isatty() and not as_json) as progress:
        result = verify_ledger(state().ledger(), note, verifier_key=_read_key(verifier_key),
                               progress=progress, snapshots=check_snapshots, full=full,
                               projections=check_projections, witness_policy=policy,
                               require_signed=require_signed)
    if verifier_key is None and policy is None:
        click.echo(_("WARNING: unverified: signatures were checked with the {key_source} key of the ledger "
                     "itself; pass --key with the published "
                     "key").format(key_source=result.key_source), err=True)
    if as_json:
        renderer(True).emit({
            "ok": result.ok, "events": result.events, "tree_size": result.tree_size,
            "root": sealer._b64(result.root), "checkpoints": result.checkpoints,
            "unsealed": result.unsealed, "key": result.key_source,
            "snapshots": result.snapshots, "nodes": result.nodes,
            "projection_rows": result.projection_rows, "witnesses": result.witnesses,
            "signatures": None if result.signatures is None else dict(vars(result.signatures)),
            "findings": [f.public() for f in result.findings]})
    else:
        for finding in result.findings:
            click.echo(json.dumps(finding.public(), ensure_ascii=False))
        if result.ok:
            click.echo(result.summary())
        else:
            click.echo(_("{count} finding(s); {summary}").format(
                           count=len(result.findings), summary=result.summary()), err=True)
    if not result.ok:
        sys.exit(1)


@cli.group("key")
def key_group() -> None:
    """Signing keys: the ledger's checkpoint key (export) and officials' own keys (new,
    register, revoke, rotate, list)."""


@key_group.command("export")
@json_option
def key_export(as_json: bool) -> None:
    """Print the verifier key (the public key) auditors check checkpoints and proofs with.

    Publish it through a channel auditors trust; the private key never leaves its file.

    \b
    Example:
      ledger key export > verifier-key.txt
    """
    ledger = state().ledger()
    text = sealer.verifier_key(ledger)
    if as_json:
        renderer(True).emit({"verifier_key": text, "origin": sealer.log_origin(ledger)})
        return
    click.echo(text)


def _demo_seal(ledger: Any, r: Renderer) -> None:
    """Demo: create the key if needed, seal the sample year, show the checkpoint."""
    sealer.ensure_key_file(ledger.settings)
    result = sealer.seal(ledger)
    r.line("")
    r.line(_("{label} — {label2} ({label3}: {added}):").format(
               label=r.label('integrity_title'), label2=r.label('checkpoint'),
               label3=r.label('sealed_events'), added=result.added))
    r.line(result.checkpoint.note.rstrip("\n"))


DEMO_SECTIONS.append(_demo_seal)
