"""``ledger serve`` (the HTTP feed), ``ledger project`` (the projection runner) and the
runner column of ``ledger projections status``."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from ledger.cli import cli, json_option, projections, renderer, state
from ledger.i18n import add_labels

add_labels({
    "feed.head": ("日志末位", "log head"),
    "feed.runner": ("运行器", "runner"),
    "feed.running": ("运行中", "running"),
    "feed.not_running": ("未运行", "not running"),
    "feed.events_applied": ("已应用事件", "events applied"),
})


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (loopback by default; the feed is read-only).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port.")
@click.option("--heartbeat", default=15.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between heartbeat comments on an idle event stream.")
@click.option("--supervise-every", type=click.FloatRange(1, 24 * 60), metavar="MINUTES",
              help="Also run automatic supervision (ledger supervise) every MINUTES, as "
                   "system:rules, on its own thread.")
@click.option("--supervise-town", "supervise_towns", multiple=True, default=("ZQ",),
              show_default=True, help="Town the scheduler supervises; repeatable.")
def serve(host: str, port: int, heartbeat: float, supervise_every: float | None,
          supervise_towns: tuple[str, ...]) -> None:
    """Serve the event feed and read-only queries over HTTP (OpenAPI at /docs).

    Set LEDGER_FEED_TOKENS (comma separated) to require "Authorization: Bearer <token>" on
    every route. With --supervise-every, the server also escalates overdue work on a
    schedule (each run idempotent; the same as `ledger supervise` from cron).

    \b
    Example:
      ledger --db sqlite:///zq.db serve --port 8080
      ledger --db sqlite:///zq.db serve --supervise-every 60
      curl 'http://127.0.0.1:8080/events?after=0&limit=10'
    """
    import uvicorn

    from ledger.feed.app import create_app

    app = create_app(state().ledger(), heartbeat=heartbeat)
    scheduler = None
    if supervise_every:
        from ledger.application import GovernanceLedger
        from ledger.supervision import Scheduler

        own = GovernanceLedger(settings=state().ledger().settings)
        scheduler = Scheduler(own, list(supervise_towns), supervise_every * 60)
        scheduler.start()
        click.echo(f"supervising {', '.join(supervise_towns)} every {supervise_every:g} "
                   "min", err=True)
    click.echo(f"serving {state().db_url} on http://{host}:{port} (docs: /docs)", err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=2,
                    h11_max_incomplete_event_size=1 << 20)
    finally:
        if scheduler is not None:
            scheduler.stop()


@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--follow", is_flag=True,
              help="Keep running: apply new events as they are written, until interrupted.")
@click.option("--poll-max", default=1.0, show_default=True, type=click.FloatRange(0.05, 60),
              help="Longest wait between looks at the log (SQLite polls; PostgreSQL is woken "
                   "by NOTIFY).")
@json_option
def project(names: tuple[str, ...], follow: bool, poll_max: float, as_json: bool) -> None:
    """Bring projections (all, or NAME...) up to date; with --follow, keep them up to date.

    With --follow, each projection has at most one runner: a second `ledger project --follow`
    leaves alone the projections the first one runs (and fails if that is all of them).

    \b
    Example:
      ledger project
      ledger project --follow
      ledger project status --follow
    """
    from ledger.projections import catch_up
    from ledger.projections.runner import follow as run

    ledger = state().ledger()
    unknown = [n for n in names if n not in ledger.projections]
    if unknown:
        raise click.ClickException(
            f"unknown projection {unknown[0]!r}; known: {', '.join(sorted(ledger.projections))}")
    r = renderer(as_json)
    if not follow:
        counts = {n: catch_up(ledger, ledger.projections[n]) for n in (names or ledger.projections)}
        if as_json:
            r.emit(counts)
        else:
            for n, c in counts.items():
                r.line(f"{n}: {c} {r.label('feed.events_applied')}")
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def progress(name: str, n: int) -> None:
        if as_json:
            r.emit({"projection": name, "applied": n})
        else:
            r.line(f"{name}: +{n}")

    click.echo(f"following {', '.join(names or ledger.projections)} "
               f"(stop with Ctrl-C)", err=True)
    ran = run(ledger, list(names) or None, stop=stop, poll_max=poll_max, on_progress=progress)
    click.echo(f"stopped ({', '.join(ran)})", err=True)


@projections.command("status")
@json_option
def projections_status(as_json: bool) -> None:
    """Show each projection's position in the log, its lag, and whether a runner follows it.

    \b
    Example:
      ledger projections status
      ledger projections status --json
    """
    from ledger.projections.runner import runner_states

    ledger = state().ledger()
    data = ledger.projection_status()
    running = runner_states(ledger)
    for d in data:
        d["runner"] = running.get(d["name"], False)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    r.table(r.label("projection"), ("projection", "position", "feed.head", "lag", "feed.runner"),
            [[d["name"], d["position"], d["head"], d["lag"],
              r.label("feed.running" if d["runner"] else "feed.not_running")] for d in data])
