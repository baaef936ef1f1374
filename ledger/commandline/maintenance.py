"""``ledger backup``, ``ledger restore`` and ``ledger erase-subject``."""

from __future__ import annotations

from pathlib import Path

import click

from ledger import backup as backups
from ledger import privacy
from ledger.cli import cli, json_option, renderer, state


@cli.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_cmd(file: Path) -> None:
    """Write a consistent copy of the SQLite ledger to FILE while it stays in use.

    The copy includes the personal-data keys of subjects not yet erased; the signing key
    file is separate (back it up on its own). PostgreSQL: use pg_dump (docs/reliability.md).

    \b
    Example:
      ledger --db sqlite:///ledger.db backup /backups/ledger-2025-12-31.db
    """
    size = backups.backup(state().db_url, file)
    click.echo(f"backed up {state().db_url} to {file} ({size} bytes)")


@cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing ledger file.")
def restore_cmd(file: Path, force: bool) -> None:
    """Restore the backup FILE as the ledger given by --db; then run ledger verify.

    \b
    Example:
      ledger --db sqlite:///restored.db restore /backups/ledger-2025-12-31.db
      ledger --db sqlite:///restored.db verify
    """
    backups.restore(file, state().db_url, force=force)
    led = state().ledger()
    counts = led.rebuild()
    click.echo(f"restored {file} into {state().db_url}; read models rebuilt "
               f"({', '.join(f'{k}: {v} events' for k, v in counts.items())})")


@cli.command("erase-subject")
@click.argument("subject")
@json_option
def erase_subject(subject: str, as_json: bool) -> None:
    """Destroy the key of a resident's personal data (crypto-erasure).

    Every event stays in the log and verifies; the sealed fields of SUBJECT can no longer
    be read and show as [erased].

    \b
    Example:
      ledger erase-subject S-2025-000123
    """
    result = privacy.erase(state().ledger(), subject)
    r = renderer(as_json)
    if as_json:
        r.emit(result)
    elif result["already"]:
        r.line(f"{subject} was already erased at {result['erased_at']}")
    else:
        r.line(f"erased the personal-data key of {subject} at {result['erased_at']}")
