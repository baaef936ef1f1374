"""``ledger key new/register/revoke/rotate/list``: officials' personal signing keys.

The ledger's own checkpoint key is ``ledger key export`` (``ledger.commandline.integrity``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select

from ledger.cli import envelope, envelope_options, execute, json_option, renderer, state
from ledger.commandline.integrity import key_group
from ledger.integrity import dsse
from ledger.integrity.checkpoint import KeyFileError, generate_key_file
from ledger.kernel.i18n import _


def _town(town: str | None, kw: dict[str, Any]) -> str:
    """--town, else the town of the post the actor acts in."""
    if town:
        return town
    post = kw.get("acting_post")
    if post and "@" in post:
        return str(post.rsplit("@", 1)[1].split("-", 1)[0].split("/", 1)[0])
    raise click.UsageError(_("--town is required (or act in a town post, e.g. --post town.ledger_admin@ZQ)"))


@key_group.command("new")
@click.option("--person", required=True, metavar="PERSON", help="Whose key, e.g. P-0101.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key (default ./PERSON.key); never overwritten.")
@json_option
def key_new(person: str, out: Path | None, as_json: bool) -> None:
    """Make a personal signing key on this machine (owner-only file) and print what a ledger
    administrator registers.

    Keep the file on the official's own machine; the ledger stores only the public key.

    \b
    Example:
      ledger key new --person P-0101 --out ~/.ledger/P-0101.key
      export LEDGER_KEY_FILE=~/.ledger/P-0101.key
    """
    path = out or Path(f"{person}.key")
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    try:
        key = generate_key_file(path)
    except KeyFileError as e:
        raise click.ClickException(str(e)) from None
    public = dsse.public_key_b64(key.public_key())
    kid = dsse.key_id_for("ed25519", public)
    info = {"person": person, "key_file": os.fspath(path), "key_id": kid,
            "algorithm": "ed25519", "public_key": public}
    if as_json:
        renderer(True).emit(info)
        return
    click.echo(_("key {kid} for {person} written to {path} (mode 0600; keep it private)").format(
                   kid=kid, person=person, path=path))
    click.echo(_("a ledger administrator registers it with:"))
    click.echo(_("  ledger key register {person} --public-key {public} --actor ADMIN --post "
                 "town.ledger_admin@TOWN").format(person=person, public=public))


@key_group.command("register")
@click.argument("person")
@click.option("--public-key", required=True, metavar="BASE64",
              help="The public key 'ledger key new' printed (44 characters of base64).")
@click.option("--town", metavar="CODE", help="The town (default: that of --post).")
@click.option("--from", "valid_from", metavar="DATETIME",
              help="Valid from (record time; default now).")
@envelope_options
@json_option
def key_register(person: str, public_key: str, town: str | None, valid_from: str | None,
                 as_json: bool, **kw: Any) -> None:
    """Register PERSON's public signing key; from then on their writes must be signed.

    \b
    Example:
      ledger key register P-0101 --public-key 3q2+7w...= \\
          --actor P-0001 --post town.ledger_admin@ZQ
    """
    execute({"type": "person.key.register", "town": _town(town, kw), "person": person,
             "public_key": public_key, "valid_from": valid_from, **envelope(kw)}, as_json)


@key_group.command("revoke")
@click.argument("person")
@click.argument("key_id")
@click.option("--reason", required=True, help="Why: lost, compromised, left office….")
@click.option("--town", metavar="CODE", help="The town (default: that of --post).")
@click.option("--from", "revoked_from", metavar="DATETIME",
              help="Revoked from (default now; an earlier time marks what it signed since).")
@envelope_options
@json_option
def key_revoke(person: str, key_id: str, reason: str, town: str | None,
               revoked_from: str | None, as_json: bool, **kw: Any) -> None:
    """Revoke KEY_ID of PERSON: commands it signs are refused from then on.

    \b
    Example:
      ledger key revoke P-0101 ed25519:3f2a9c0d1e2b4a5c --reason 笔记本电脑遗失 \\
          --actor P-0001 --post town.ledger_admin@ZQ
    """
    execute({"type": "person.key.revoke", "town": _town(town, kw), "person": person,
             "key_id": key_id, "reason": reason, "revoked_from": revoked_from,
             **envelope(kw)}, as_json)


@key_group.command("rotate")
@click.argument("person")
@click.option("--old", "old_key_id", required=True, metavar="KEY_ID", help="The key replaced.")
@click.option("--public-key", required=True, metavar="BASE64", help="The new public key.")
@click.option("--reason", default="rotation", show_default=True, help="Why.")
@click.option("--town", metavar="CODE", help="The town (default: that of --post).")
@envelope_options
@json_option
def key_rotate(person: str, old_key_id: str, public_key: str, reason: str, town: str | None,
               as_json: bool, **kw: Any) -> None:
    """Replace PERSON's key: the old one is revoked and the new one valid from now.

    \b
    Example:
      ledger key rotate P-0101 --old ed25519:3f2a9c0d1e2b4a5c --public-key 9x...= \\
          --actor P-0001 --post town.ledger_admin@ZQ
    """
    execute({"type": "person.key.rotate", "town": _town(town, kw), "person": person,
             "old_key_id": old_key_id, "public_key": public_key, "reason": reason,
             **envelope(kw)}, as_json)


@key_group.command("list")
@click.argument("person", required=False)
@json_option
def key_list(person: str | None, as_json: bool) -> None:
    """Every registered personal key (or PERSON's), with when it is valid and who revoked it.

    \b
    Example:
      ledger key list
      ledger key list P-0101 --json
    """
    from ledger.aggregates.person_keys import PersonKeys

    ledger = state().ledger()
    if person:
        people = [person]
    else:
        table = ledger.events_table
        with ledger.engine.connect() as conn:
            ids = conn.execute(select(table.c.originator_id).where(
                table.c.topic.like("%:PersonKeys.Registered")).order_by(table.c.id)).scalars()
            people = [getattr(ledger.load(i), "code", "") for i in ids]
    rows = []
    for who in people:
        agg = ledger.load(PersonKeys.id_for(who))
        if not isinstance(agg, PersonKeys):
            continue
        for kid, key in agg.keys.items():
            rows.append({"person": who, "key_id": kid, **key})
    r = renderer(as_json)
    if as_json:
        r.emit(rows)
        return
    if not rows:
        click.echo(_("no personal keys registered for {person}").format(person=person)
                   if person else _("no personal keys registered"))
        return
    r.table_labelled(_("personal keys"),
                     [r.label("person"), _("key id"), _("valid from"), _("revoked from"),
                      _("reason")],
                     [[k["person"], k["key_id"], k["valid_from"], k["revoked_from"] or "",
                       k["reason"] or ""] for k in rows],
                     keys=["person", "key id", "valid from", "revoked from", "reason"])
