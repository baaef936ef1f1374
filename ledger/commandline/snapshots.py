"""``ledger snapshot`` and ``ledger state``: snapshots of aggregate state, a cache checked
before use (see docs/integrity.md, "Snapshots").
"""

from __future__ import annotations

import click

from ledger.cli import cli, json_option, renderer, state
from ledger.kernel.i18n import _, add_labels
from ledger.render import to_json
from ledger.snapshots import SNAPSHOT_EVERY

add_labels({
    "snapshots_taken": "snapshots taken",
    "aggregate": "aggregate",
    "bytes": "bytes",
    "state_of": "State of",
    "from_snapshot": "from the snapshot at version",
    "events_after": "events applied after it",
    "no_snapshot": "no usable snapshot: replayed from every event",
    "snapshot_ignored": "snapshot ignored",
    "snapshot_new": "new",
    "snapshot_yes": "yes",
    "snapshot_kept": "existed",
})


@cli.command("snapshot")
@click.argument("keys", nargs=-1, metavar="[KEY]...")
@click.option("--every", type=click.IntRange(min=1), default=SNAPSHOT_EVERY, show_default=True,
              metavar="N", help="Without KEY: snapshot every aggregate with at least N events "
                                "since its latest snapshot.")
@json_option
def snapshot_cmd(keys: tuple[str, ...], every: int, as_json: bool) -> None:
    """Snapshot the state of aggregates, so 'ledger state' need not replay all their events.

    KEY is a readable key such as ZQ-001, community:ZQ-001 or town:ZQ; each is snapshotted at
    its latest version. Without KEY, every aggregate with at least --every events since its
    latest snapshot is. The state is replayed from the events (never from an earlier
    snapshot); each snapshot records what it covers and is signed with the checkpoint
    signing key (--key-file), which this command therefore needs. A snapshot is a cache
    outside the audited log, checked before each use and in full by 'ledger verify
    --snapshots'. Run it on a schedule, e.g. after 'ledger checkpoint'.

    \b
    Example:
      ledger snapshot
      ledger snapshot ZQ-001 town:ZQ --json
    """
    written = state().ledger().take_snapshots(list(keys), every=every)
    r = renderer(as_json)
    if as_json:
        r.emit(written)
        return
    r.table(f"{r.label('snapshots_taken')}: {sum(1 for w in written if w['new'])}",
            ("aggregate", "type", "version", "position", "bytes", "snapshot_new"),
            [[w["aggregate_id"], w["type"], w["version"], w["position"], w["bytes"],
              r.label("snapshot_yes" if w["new"] else "snapshot_kept")] for w in written])


@cli.command("state")
@click.argument("key")
@click.option("--version", "version", type=click.IntRange(min=1), metavar="N",
              help="The state at version N (default: the latest).")
@json_option
def state_cmd(key: str, version: int | None, as_json: bool) -> None:
    """Show the current state of one aggregate (or its state at --version N).

    Built from the latest snapshot that passes its checks ('ledger snapshot') plus the
    events after it, else replayed from every event. A snapshot that fails its checks is
    not used and is named in the output (ignored_snapshots in --json).

    \b
    Example:
      ledger state ZQ-001
      ledger state community:ZQ-001 --version 12 --json
    """
    data = state().ledger().state(key, version)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    r.line(_("{label} {key}: {type} {aggregate_id} {label2} {version}").format(
               label=r.label('state_of'), key=key, type=data['type'],
               aggregate_id=data['aggregate_id'], label2=r.label('version'),
               version=data['version']))
    snap = data["snapshot"]
    if snap is None:
        r.line(_("({label})").format(label=r.label('no_snapshot')))
    else:
        r.line(_("({label} {version}; {label2}: {events_after})").format(
                   label=r.label('from_snapshot'), version=snap['version'],
                   label2=r.label('events_after'), events_after=snap['events_after']))
    for item in data["ignored_snapshots"]:
        r.line(_("{label} ({label2} {version}): {reason}").format(
                   label=r.label('snapshot_ignored'), label2=r.label('version'),
                   version=item['version'], reason=item['reason']))
    r.line(to_json(data["state"]))
