"""``ledger witness``: run a witness for someone else's log (C2SP tlog-witness).

A witness is meant to be run by another office than the town's (the district): it keeps its
own key and its own state, and cosigns a checkpoint only when it is an append-only extension
of the one it cosigned before. See docs/witness.md.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import click

from ledger.cli import cli, json_option, renderer
from ledger.integrity.witness import Witness, WitnessError, make_server
from ledger.kernel.i18n import _

_KEY = click.option("--key-file", required=True, type=click.Path(dir_okay=False, path_type=Path),
                    help="The witness's own Ed25519 key file (owner-only).")
_STATE = click.option("--state", "state_file", required=True,
                      type=click.Path(dir_okay=False, path_type=Path),
                      help="The witness's state file: the logs it witnesses and what it "
                           "cosigned last.")


@cli.group("witness")
def witness_group() -> None:
    """Run a witness: cosign another log's checkpoints, refuse any rewrite or rollback.

    \b
    The district sets one up once, tells the town its verifier key, then serves:
      ledger witness init --key-file w.key --state w.json --name witness.district.example
      ledger witness add-log --state w.json --origin ORIGIN --key LOG-VERIFIER-KEY
      ledger witness serve --key-file w.key --state w.json --listen 127.0.0.1:7380
    """


@witness_group.command("init")
@_KEY
@_STATE
@click.option("--name", required=True, help="The witness's name (a schema-less URL), e.g. "
              "witness.district.example.")
def witness_init(key_file: Path, state_file: Path, name: str) -> None:
    """Make the witness's key (unless KEY-FILE exists) and empty state; print its verifier
    key, to put in the logs' witness policies.

    \b
    Example:
      ledger witness init --key-file /srv/witness/w.key --state /srv/witness/w.json \\
          --name witness.district.example
    """
    try:
        witness = Witness.create(key_file, state_file, name)
    except WitnessError as e:
        raise click.ClickException(str(e)) from None
    click.echo(_("witness {name} ready; its verifier key:").format(name=name), err=True)
    click.echo(witness.verifier_key)


@witness_group.command("key")
@_KEY
@_STATE
def witness_key(key_file: Path, state_file: Path) -> None:
    """Print the witness's verifier key (to put in a log's witness policy).

    \b
    Example:
      ledger witness key --key-file /srv/witness/w.key --state /srv/witness/w.json
    """
    click.echo(Witness(key_file, state_file).verifier_key)


@witness_group.command("add-log")
@_STATE
@click.option("--origin", required=True, help="The log's origin (its checkpoints' first line).")
@click.option("--key", "log_key", required=True, metavar="VERIFIER_KEY",
              help="The log's published verifier key ('ledger key export').")
@click.option("--size", type=click.IntRange(min=0), default=0,
              help="Start from this size (with --root): a checkpoint verified some other way.")
@click.option("--root", metavar="BASE64", help="The root at --size.")
def witness_add_log(state_file: Path, origin: str, log_key: str, size: int,
                    root: str | None) -> None:
    """Start witnessing the log ORIGIN, signed by VERIFIER_KEY.

    The town tells the district its origin and verifier key ('ledger key export').

    \b
    Example:
      ledger witness add-log --state /srv/witness/w.json \\
          --origin ORIGIN --key "$(cat town-verifier-key.txt)"
    """
    try:
        raw = base64.b64decode(root, validate=True) if root else None
    except (binascii.Error, ValueError):
        raise click.BadParameter(_("not base64"), param_hint="--root") from None
    try:
        Witness(None, state_file).add_log(origin, log_key, size, raw)
    except WitnessError as e:
        raise click.ClickException(str(e)) from None
    click.echo(_("witnessing {origin} from size {size}").format(origin=origin, size=size))


@witness_group.command("status")
@_KEY
@_STATE
@json_option
def witness_status(key_file: Path, state_file: Path, as_json: bool) -> None:
    """The logs this witness knows and the size it cosigned last for each.

    \b
    Example:
      ledger witness status --key-file /srv/witness/w.key --state /srv/witness/w.json --json
    """
    witness = Witness(key_file, state_file)
    logs = [{"origin": o, "size": e["size"], "root": e["root"]}
            for o, e in witness.state["logs"].items()]
    if as_json:
        renderer(True).emit({"witness": witness.name, "logs": logs})
        return
    for entry in logs:
        click.echo(_("{origin}  size {size}  root {root}").format(
                       origin=entry['origin'], size=entry['size'], root=entry['root']))


@witness_group.command("serve")
@_KEY
@_STATE
@click.option("--listen", default="127.0.0.1:7380", show_default=True, metavar="HOST:PORT")
def witness_serve(key_file: Path, state_file: Path, listen: str) -> None:
    """Answer add-checkpoint and monitor requests over HTTP until stopped.

    \b
    POST /add-checkpoint           a log submits a checkpoint with its consistency proof
    GET  /<sha256 of origin>/checkpoint   the latest cosigned checkpoint of that log

    \b
    Example:
      ledger witness serve --key-file /srv/witness/w.key --state /srv/witness/w.json \\
          --listen 0.0.0.0:7380
    """
    host, _sep, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(_("expected HOST:PORT"), param_hint="--listen")
    try:
        witness = Witness(key_file, state_file)
    except WitnessError as e:
        raise click.ClickException(str(e)) from None
    server = make_server(witness, host.strip("[]"), int(port))
    click.echo(_("witness {name} listening on "
                 "http://{listen}").format(name=witness.name, listen=listen), err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
