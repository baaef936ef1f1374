"""``ledger serve`` (the HTTP feed) and ``ledger project`` (the projection runner)."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from ledger.cli import cli, json_option, renderer, state
from ledger.kernel.i18n import _, add_labels

add_labels({
    "feed.events_applied": "events applied",
})


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (loopback by default).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port.")
@click.option("--heartbeat", default=15.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between heartbeat comments on an idle event stream.")
@click.option("--tokens-file", type=click.Path(dir_okay=False),
              help="TOML file of scoped tokens ([tokens.ID] with secret, scopes, rate, and a "
                   "hotline's intake identity); instead of LEDGER_FEED_TOKENS. See docs/feed.md.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate (chain) to serve HTTPS with; needs --tls-key. Adds HSTS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
              help="PEM private key of --tls-cert (owner-only file).")
@click.option("--max-concurrent", default=1024, show_default=True,
              type=click.IntRange(1, 100_000),
              help="Requests in progress at once, open streams included; beyond it 503 with "
                   "Retry-After.")
@click.option("--rate-limit", default=100.0, show_default=True,
              type=click.FloatRange(0.01, 1_000_000),
              help="Requests a second per token (bursts of twice that); beyond it 429. A "
                   "token's own 'rate' in --tokens-file overrides it.")
@click.option("--request-timeout", default=10.0, show_default=True,
              type=click.FloatRange(0.5, 300),
              help="Seconds a client has to send a whole request (headers and body); a slower "
                   "or incomplete one is dropped.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="A browser origin (https://host) allowed to read the feed; repeat for "
                   "more. Without it CORS is off.")
@click.option("--stream-credential-ttl", default=300, show_default=True,
              type=click.IntRange(10, 3600),
              help="Default seconds a browser's stream credential "
                   "(POST /events/stream-credentials) stays valid.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One JSON line per request on stderr: route, status, duration, token id.")
@click.option("--response-cache/--no-response-cache", default=True, show_default=True,
              help="Serve a read route's answer again while the log's head, checkpoint and "
                   "origin are unchanged, for at most 1 s.")
@click.option("--supervise-every", type=click.FloatRange(1, 24 * 60), metavar="MINUTES",
              help="Also run automatic supervision (ledger supervise) every MINUTES, as "
                   "system:rules, on its own thread.")
@click.option("--supervise-town", "supervise_towns", multiple=True, default=("ZQ",),
              show_default=True, help="Town the scheduler supervises; repeatable.")
def serve(host: str, port: int, heartbeat: float, tokens_file: str | None,
          tls_cert: str | None, tls_key: str | None, max_concurrent: int, rate_limit: float,
          request_timeout: float, cors_origins: tuple[str, ...], stream_credential_ttl: int,
          access_log: bool, response_cache: bool, supervise_every: float | None,
          supervise_towns: tuple[str, ...]) -> None:
    """Serve the feed, queries, commands, Open311 and the board.

    The event feed (pages and a live stream), the read-only queries, signed commands
    (POST /commands), the hotline's Open311 intake, and the supervision board's web pages
    at /board (sign in with a token; docs/web.md); OpenAPI at /docs.

    Tokens (LEDGER_FEED_TOKENS="ID:SECRET:SCOPE+SCOPE,…" or --tokens-file) give each caller
    scopes; every route needs one. Startup says whether authentication is on; a blank or
    malformed token list stops it. With --supervise-every, the server also escalates overdue
    work on a schedule (each run idempotent; the same as `ledger supervise` from cron).

    \b
    Example:
      ledger --db sqlite:///zq.db serve --port 8080
      LEDGER_FEED_TOKENS="credit:s3cret-credit-token:read:events" ledger serve
      ledger serve --tokens-file tokens.toml --tls-cert cert.pem --tls-key key.pem
      ledger --db sqlite:///zq.db serve --supervise-every 60
      curl -H 'Authorization: Bearer s3cret-credit-token' 'http://127.0.0.1:8080/events?limit=10'
    """
    import uvicorn

    from ledger.feed import tokens as feed_tokens
    from ledger.feed.guard import GuardedH11Protocol
    from ledger.web.app import create_board_app

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError(_("--tls-cert and --tls-key go together"))
    try:
        tokens = feed_tokens.configured(tokens_file, rate=rate_limit)
    except feed_tokens.TokenConfigError as e:
        raise click.ClickException(str(e)) from None
    for t in tokens or []:
        if t.legacy:
            click.echo(_("warning: token {id} is a bare secret (the format before scopes): it has the "
                         "admin scope; give it an id and scopes (ID:SECRET:SCOPE+SCOPE)").format(
                           id=t.id), err=True)
        if t.intake is not None:
            from ledger.integrity.checkpoint import KeyFileError, load_private_key

            try:
                load_private_key(t.intake.key_file)
            except KeyFileError as e:
                raise click.ClickException(_("token {id}: intake key: {e}").format(id=t.id, e=e)) from None
    click.echo(feed_tokens.describe(tokens), err=True)
    app = create_board_app(state().ledger(), tokens=tokens, heartbeat=heartbeat,
                     max_concurrent=max_concurrent, hsts=bool(tls_cert), access_log=access_log,
                     cors_origins=cors_origins, stream_credential_ttl=stream_credential_ttl,
                     response_cache=response_cache)
    scheduler = None
    if supervise_every:
        from ledger.application import GovernanceLedger
        from ledger.supervision import Scheduler

        own = GovernanceLedger(settings=state().ledger().settings)
        scheduler = Scheduler(own, list(supervise_towns), supervise_every * 60)
        scheduler.start()
        click.echo(_("supervising {supervise_towns} every {supervise_every:g} min").format(
                       supervise_towns=', '.join(supervise_towns), supervise_every=supervise_every), err=True)
    scheme = "https" if tls_cert else "http"
    click.echo(_("serving {db_url} on {scheme}://{host}:{port} (docs: /docs; board: /board; "
                 "TLS {tls}; CORS {cors})").format(
                   db_url=state().db_url, scheme=scheme, host=host, port=port,
                   tls=_("on") if tls_cert else _("off"),
                   cors=', '.join(cors_origins) if cors_origins else _("off")), err=True)

    class Protocol(GuardedH11Protocol):
        pass

    Protocol.request_timeout = request_timeout
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=2, http=Protocol,
                    timeout_keep_alive=5, ssl_certfile=tls_cert, ssl_keyfile=tls_key,
                    h11_max_incomplete_event_size=32 * 1024)
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
            _("unknown projection {unknown!r}; known: {projections}").format(
                unknown=unknown[0], projections=', '.join(sorted(ledger.projections))))
    r = renderer(as_json)
    if not follow:
        counts = {n: catch_up(ledger, ledger.projections[n]) for n in (names or ledger.projections)}
        if as_json:
            r.emit(counts)
        else:
            for n, c in counts.items():
                r.line(_("{n}: {c} {label}").format(n=n, c=c, label=r.label('feed.events_applied')))
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
            r.line(_("{name}: +{n}").format(name=name, n=n))

    click.echo(_("following {value} (stop with Ctrl-C)").format(
                   value=', '.join(names or ledger.projections)), err=True)
    ran = run(ledger, list(names) or None, stop=stop, poll_max=poll_max, on_progress=progress)
    click.echo(_("stopped ({ran})").format(ran=', '.join(ran)), err=True)
