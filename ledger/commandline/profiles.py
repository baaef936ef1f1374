"""``ledger profile``: who you are when you write (:mod:`ledger.profiles`)."""

from __future__ import annotations

from pathlib import Path

import click

from ledger import profiles
from ledger.cli import cli, json_option, renderer
from ledger.kernel.i18n import _, add_labels

add_labels({"profile": "profile", "key_file": "key file"})


@cli.group("profile")
def profile_group() -> None:
    """Profiles: your --actor, --post and --key-file, chosen with --profile NAME.

    Kept in $XDG_CONFIG_HOME/zq-ledger/profiles.toml (else ~/.config/zq-ledger/), readable
    by you alone. Options given on the command line win over the profile.

    \b
    Example:
      ledger profile set clerk --actor P-0005 --post town.peace_office.staff@ZQ \\
          --key-file ~/.ledger/P-0005.key
      ledger --profile clerk case receive --community ZQ-001 --channel hotline \\
          --problem-type group_renting --description 疑似群租
    """


def _rows(named: dict[str, dict[str, str]], active: str | None) -> list[list[str]]:
    return [[name + (" *" if name == active else ""), p.get("actor", ""), p.get("post", ""),
             p.get("key_file", "")] for name, p in sorted(named.items())]


def _active() -> str | None:
    ctx = click.get_current_context().find_root()
    return ctx.params.get("profile_name")


@profile_group.command("set")
@click.argument("name")
@click.option("--actor", metavar="PERSON", help="Who acts, e.g. P-0005.")
@click.option("--post", metavar="POST", help="The post you act in, e.g. "
              "town.peace_office.staff@ZQ.")
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Your own signing key ('ledger key new').")
def profile_set(name: str, actor: str | None, post: str | None, key_file: Path | None) -> None:
    """Create profile NAME, or change the fields given.

    \b
    Example:
      ledger profile set clerk --actor P-0005 --post town.peace_office.staff@ZQ
      ledger profile set clerk --key-file ~/.ledger/P-0005.key
    """
    if not (actor or post or key_file):
        raise click.UsageError(_("give at least one of --actor, --post and --key-file"))
    profiles.set_profile(name, actor=actor, post=post,
                         key_file=str(key_file.resolve()) if key_file else None)
    click.echo(_("profile {name} saved in {path}; use it with 'ledger --profile {name} …' or "
                 "LEDGER_PROFILE={name}").format(name=name, path=profiles.profiles_file()))


@profile_group.command("list")
@json_option
def profile_list(as_json: bool) -> None:
    """List the profiles (the one in use marked *).

    \b
    Example:
      ledger profile list
    """
    named = profiles.load_all()
    r = renderer(as_json)
    if as_json:
        r.emit(named)
        return
    if not named:
        click.echo(_("no profiles yet; make one with 'ledger profile set NAME --actor PERSON "
                     "--post POST'"))
        return
    r.table(str(profiles.profiles_file()), ("profile", "actor", "acting_post", "key_file"),
            _rows(named, _active()))


@profile_group.command("show")
@click.argument("name", required=False)
@json_option
def profile_show(name: str | None, as_json: bool) -> None:
    """Show profile NAME (default: the one in use).

    \b
    Example:
      ledger profile show clerk
      ledger --profile clerk profile show
    """
    name = name or _active()
    if not name:
        raise click.UsageError(_("name a profile, or choose one with --profile NAME"))
    found = profiles.get(name)
    r = renderer(as_json)
    if as_json:
        r.emit({"name": name, **found})
        return
    r.table(str(profiles.profiles_file()), ("profile", "actor", "acting_post", "key_file"),
            _rows({name: found}, _active()))


@profile_group.command("delete")
@click.argument("name")
def profile_delete(name: str) -> None:
    """Delete profile NAME.

    \b
    Example:
      ledger profile delete clerk
    """
    profiles.delete(name)
    click.echo(_("profile {name} deleted").format(name=name))

