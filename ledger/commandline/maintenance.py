"""``ledger backup``, ``ledger restore`` and ``ledger erase-subject``."""

from __future__ import annotations

from pathlib import Path

import click

from ledger import backup as backups
from ledger.cli import cli, json_option, rebuild_with_progress, renderer, state
from ledger.kernel import privacy
from ledger.kernel.i18n import _


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
    click.echo(_("backed up {db_url} to {file} ({size} bytes)").format(
                   db_url=state().db_url, file=file, size=size))


@cli.command("restore")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing ledger file.")
@click.option("--new-origin", is_flag=True,
              help="Then start a new origin for the log on purpose (recorded as the event "
                   "LogOrigin.Started): the restored copy takes writes again, and subscribers "
                   "and witnesses of the old origin see the change. Without FILE: the ledger "
                   "as it is (e.g. after pg_restore).")
@click.option("--reason", metavar="TEXT", help="Why a new origin is started (with --new-origin).")
@click.option("--actor", envvar="LEDGER_ACTOR", metavar="PERSON",
              help="Who starts the new origin (a ledger administrator). Env: LEDGER_ACTOR.")
@click.option("--post", "acting_post", envvar="LEDGER_POST", metavar="POST",
              help="The post they act in, e.g. town.ledger_admin@ZQ. Env: LEDGER_POST.")
@click.option("--at", "occurred_at", metavar="DATETIME",
              help="Business time of the new-origin command (default now, LEDGER_TZ).")
@click.option("--command-id", metavar="ID", help="Idempotency key of the new-origin command.")
def restore_cmd(file: Path | None, force: bool, new_origin: bool, reason: str | None,
                actor: str | None, acting_post: str | None, occurred_at: str | None,
                command_id: str | None) -> None:
    """Restore the backup FILE as the ledger given by --db; then run ledger verify.

    A backup older than the checkpoint the signer last signed refuses writes and signatures
    once restored (its positions would be given out again): restore the latest backup, or
    start a new origin on purpose with --new-origin --reason TEXT.

    \b
    Example:
      ledger --db sqlite:///restored.db restore /backups/ledger-2025-12-31.db
      ledger --db sqlite:///restored.db verify
      ledger restore --force --new-origin --reason "磁盘损坏，从 12-31 备份恢复" \\
          --actor P-0001 --post town.ledger_admin@ZQ /backups/ledger-2025-12-31.db
    """
    lang = state().lang
    if new_origin and not (reason and reason.strip()):
        raise click.UsageError(_("--new-origin needs --reason TEXT (recorded with the new origin)"))
    if new_origin and not actor:
        raise click.UsageError(_("--new-origin needs --actor (and --post): a ledger administrator"))
    if file is None and not new_origin:
        raise click.UsageError(_("missing the backup FILE"))
    if file is not None:
        backups.restore(file, state().db_url, force=force)
        led = state().ledger()
        counts = rebuild_with_progress(led)
        click.echo(_("restored {file} into {db_url}; read models rebuilt ({value})").format(
                       file=file, db_url=state().db_url,
                       value=', '.join(f'{k}: {v} events' for k, v in counts.items())))
    led = state().ledger()
    check = backups.check_against_signer(led)
    if not new_origin:
        if check.refused:
            click.echo(_refusal(check, lang))
        return
    if not check.refused:
        click.echo(_t(lang, "注意：此账本并不早于签名者最后签署的检查点；仍按要求开始新的日志来源",
                      "note: this ledger is not older than the signer's last checkpoint; "
                      "starting a new origin as asked"))
    done = backups.start_new_origin(led, reason=(reason or "").strip(), actor=actor or "",
                                    post=acting_post, occurred_at=occurred_at,
                                    command_id=command_id)
    click.echo(_t(
        lang,
        f"已开始新的日志来源 {done.origin}（原来源 {done.previous_origin}，最后签署的大小 "
        f"{done.previous_size}），记录为事件 #{done.result.positions[-1]}；持有原来源的订阅者与"
        "见证者将因来源变更而停止，需改为跟随新来源；下一次 'ledger checkpoint' 以新来源签署",
        f"started the new origin {done.origin} (previous {done.previous_origin}, last signed "
        f"size {done.previous_size}), recorded as event #{done.result.positions[-1]}; "
        "subscribers and witnesses holding the previous origin stop with origin_changed until "
        "they follow the new one; the next 'ledger checkpoint' signs under the new origin"))


def _t(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def _refusal(check: backups.SignerCheck, lang: str) -> str:
    """The plain notice after restoring a copy the signer's record says is not current."""
    fix_zh = ("恢复最新的备份，或用 'ledger restore --new-origin --reason 原因' 有意开始新的日志"
              "来源")
    fix_en = ("restore the latest backup, or start a new origin on purpose with 'ledger "
              "restore --new-origin --reason TEXT'")
    if check.status == "older":
        return _t(lang,
                  f"注意：此备份早于签名者最后签署的检查点（日志 {check.origin} 已签署到大小 "
                  f"{check.signed_size}，此副本只有 {check.size}）：写入和签名将被拒绝，直到"
                  f"{fix_zh}",
                  f"note: this backup is older than the checkpoint the signer last signed "
                  f"({check.origin} signed at size {check.signed_size}, this copy has "
                  f"{check.size}): writes and signatures are refused until you {fix_en}")
    if check.status == "other_origin":
        return _t(lang,
                  f"注意：此副本的日志来源是 {check.origin}，而签名者最后签署的是 "
                  f"{check.signed_origin}：写入和签名将被拒绝，直到{fix_zh}",
                  f"note: this copy's log is {check.origin} but the signer last signed "
                  f"{check.signed_origin}: writes and signatures are refused until you {fix_en}")
    return _t(lang,
              f"注意：此副本在大小 {check.signed_size} 处的树不是签名者签署的那一棵：写入和签名将"
              f"被拒绝，直到{fix_zh}",
              f"note: this copy's tree at size {check.signed_size} is not the one the signer "
              f"signed: writes and signatures are refused until you {fix_en}")


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
        r.line(_("{subject} was already erased at {erased_at}").format(
                   subject=subject, erased_at=result['erased_at']))
    else:
        r.line(_("erased the personal-data key of {subject} at {erased_at}").format(
                   subject=subject, erased_at=result['erased_at']))
