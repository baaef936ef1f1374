"""The feed's HTTP application: ``create_app(ledger_or_url)``.

Routes: ``/health``, ``/events`` (pages), ``/events/stream`` (Server-Sent Events) and its
browser credentials, the query routers of :mod:`ledger.feed.queries`, the hotline's Open311
GeoReport v2 routes (:mod:`ledger.feed.open311`), and ``POST /commands``, which takes one
signed command in a DSSE envelope (:func:`_command_routes`). With tokens configured
(:mod:`ledger.feed.tokens`), every route, the OpenAPI document included, needs a token with
the scope its route declares; :class:`~ledger.feed.guard.Gate` checks them, bounds concurrency
and rates, adds security headers and writes the access log. Errors are JSON
``{"error": {"code", "message"}}``; unexpected errors answer 500 with no detail.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import StringConstraints
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger import __version__
from ledger.application import GovernanceLedger
from ledger.feed import EVENT_SCHEMA
from ledger.feed.cache import content_coding
from ledger.feed.guard import (
    DEFAULT_MAX_CONCURRENT,
    CookieSessions,
    Gate,
    RateLimiter,
    error_response,
)
from ledger.feed.log import (
    MAX_POSITION,
    Page,
    log_state,
    page_json,
    public_event,
    read_page,
)
from ledger.feed.models import EventPage, Health, errors
from ledger.feed.notify import Waker, waker_for
from ledger.feed.queries import LedgerDep, discover
from ledger.feed.tokens import Registry, Token, scopes_for
from ledger.feed.tokens import configured as configured_tokens
from ledger.kernel.errors import CommandValidationError, LedgerError
from ledger.kernel.i18n import _, accept_language, set_language

log = structlog.get_logger("ledger.feed")

DEFAULT_HEARTBEAT = 15.0
STREAM_BATCH = 500
#: Most event types one request may filter on (more: 422).
MAX_TYPES = 100
#: Seconds a browser's stream credential is valid by default.
DEFAULT_CREDENTIAL_TTL = 300

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


_FROM_ENV: Any = object()


class Language:
    """Answers (error messages included) in the language the request's ``Accept-Language``
    asks for, Chinese or English; without one, the server's default (``LEDGER_LANG``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or ()).get(b"accept-language")
            set_language(accept_language(header.decode("latin-1") if header else None))
        await self.app(scope, receive, send)


def create_app(ledger_or_url: GovernanceLedger | str, *,
               tokens: list[Token] | None = _FROM_ENV,
               heartbeat: float = DEFAULT_HEARTBEAT,
               max_concurrent: int = DEFAULT_MAX_CONCURRENT,
               hsts: bool = False, access_log: bool = False,
               cors_origins: Sequence[str] = (),
               stream_credential_ttl: int = DEFAULT_CREDENTIAL_TTL,
               response_cache: bool = True, sessions: CookieSessions | None = None) -> FastAPI:
    """The feed application over a ledger (or a database URL, opened and closed with the app).

    *tokens* default to ``LEDGER_FEED_TOKENS`` (``None``: authentication off); a blank or
    malformed list raises :class:`~ledger.feed.tokens.TokenConfigError`. *heartbeat* is the
    seconds between SSE comment lines on an idle stream; *max_concurrent* bounds the requests
    in progress (503 beyond it); *hsts* adds Strict-Transport-Security (serve it over TLS);
    *access_log* writes one JSON line per request to stderr; *cors_origins* are the browser
    origins allowed to read the feed (none: CORS off); *response_cache* keeps the answers of
    read routes while the log does not change (:mod:`ledger.feed.cache`); *sessions* lets
    browser session cookies stand for tokens under its prefix (the supervision board,
    :mod:`ledger.web`).
    """
    if tokens is _FROM_ENV:
        tokens = configured_tokens()
    registry = Registry(tokens) if tokens is not None else None
    owned = isinstance(ledger_or_url, str)
    ledger = GovernanceLedger(ledger_or_url) if isinstance(ledger_or_url, str) else ledger_or_url
    waker: Waker = waker_for(ledger.engine, ledger.recorder.channel_name,  # type: ignore[attr-defined]
                             lambda: _log_marker(ledger))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        waker.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            waker.stop()
            if owned:
                ledger.close()

    app = FastAPI(
        title="Zhuanqiao governance ledger feed",
        version=__version__,
        description="The global event log of the governance ledger, in pages and as Server-Sent "
                    f"Events (schema {EVENT_SCHEMA}), read-only queries, signed commands and "
                    "the hotline's Open311 GeoReport v2 intake. See docs/feed.md and "
                    "docs/open311.md.",
        lifespan=lifespan,
    )
    app.add_middleware(Language)
    app.state.ledger = ledger
    app.state.waker = waker
    app.state.heartbeat = heartbeat
    app.state.registry = registry
    app.state.credential_ttl = stream_credential_ttl
    _install_errors(app)
    _event_routes(app)
    _command_routes(app)
    from ledger.feed.open311 import open311_routes

    open311_routes(app)
    for router in discover():
        app.include_router(router)
    templates = _route_templates(app)
    _check_scopes(templates)
    app.state.route_templates = templates
    if response_cache:
        from ledger.feed.cache import ResponseCache

        app.add_middleware(ResponseCache, ledger=ledger)
    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins),
                           allow_methods=["GET"], allow_headers=["Authorization", "Last-Event-ID"],
                           max_age=600)
    app.state.limiter = RateLimiter()  # shared with the Open311 route (api_key in the form)
    app.add_middleware(Gate, registry=registry, max_concurrent=max_concurrent, hsts=hsts,
                       access_log=access_log, routes=templates, limiter=app.state.limiter,
                       sessions=sessions)
    return app


def _route_templates(app: FastAPI) -> list[tuple[frozenset[str], re.Pattern[str], str]]:
    """Every route as (methods, path pattern, template), those of included routers too (from
    the OpenAPI document, which lists them all), and the documentation routes."""
    from starlette.routing import compile_path

    out = []
    for path, operations in app.openapi()["paths"].items():
        methods = frozenset(m.upper() for m in operations)
        out.append((methods, compile_path(path)[0], path))
    for path in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
        out.append((frozenset({"GET", "HEAD"}), compile_path(path)[0], path))
    return out


def _check_scopes(routes: list[tuple[frozenset[str], re.Pattern[str], str]]) -> None:
    """Every route must be covered by a scope rule (``ledger.feed.tokens.ROUTE_SCOPES``)."""
    for methods, _pattern, path in routes:
        for method in methods:
            if scopes_for(method, path) is None:
                raise RuntimeError(f"route {method} {path} declares no scope: add it to "
                                   "ledger.feed.tokens.ROUTE_SCOPES")


def _log_marker(ledger: GovernanceLedger) -> tuple[int, Any]:
    """What a change of the log looks like to a stream: its head and its latest checkpoint."""
    from ledger.feed.log import head

    with ledger.engine.connect() as conn:
        state = log_state(ledger, conn)
        cp = state["checkpoint"]
        return head(conn, ledger), (state["origin"], cp and cp["size"], cp and cp["root"])


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def ledger_error(_request: Request, exc: LedgerError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, str(exc)), status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        if request.url.path.startswith("/open311/"):  # the spec's error list, 400
            body, ctype = error_response(request.url.path, 400, "invalid_parameter", message)
            return Response(body, status_code=400, media_type=ctype.decode())
        return JSONResponse(error_body("invalid_parameter", message), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Every method of the path (Starlette names only the first route's when two
            # routes share a path, as GET and POST requests.{fmt} do).
            path = request.url.path
            allowed = {m for methods, pattern, _t in request.app.state.route_templates
                       if pattern.match(path) for m in methods}
            if allowed:
                headers["Allow"] = ", ".join(sorted(allowed))
        if request.url.path.startswith("/open311/"):
            body, ctype = error_response(request.url.path, exc.status_code, code,
                                         str(exc.detail))
            return Response(body, status_code=exc.status_code, media_type=ctype.decode(),
                            headers=headers)
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("feed.error", error=type(exc).__name__)
        return JSONResponse(error_body("internal", "internal error"), status_code=500)


def _types(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out += [v.strip() for v in value.split(",") if v.strip()]
        if len(out) > MAX_TYPES:
            raise CommandValidationError(
                _("types: at most {max_types} event types per request (use Aggregate.* to match every "
                  "event of an aggregate)").format(max_types=MAX_TYPES))
    return out


def _aggregate(ledger: GovernanceLedger, key: str | None) -> UUID | None:
    if not key:
        return None
    return ledger.resolve_key(key)[2]


AFTER = Query(ge=0, le=MAX_POSITION, description="Read events after this position (0: from the start).")
TYPES = Query(max_length=20, description=(
    "Only these event types (repeat the parameter, or separate with commas), e.g. "
    "Community.PostAppointed; `PropertyFirm.*` matches every event of that aggregate."))
_TYPE = r"[A-Z][A-Za-z0-9_]*\.(?:[A-Z][A-Za-z0-9_]*|\*)"
TypeNames = list[Annotated[str, StringConstraints(
    min_length=1, max_length=400, pattern=rf"^{_TYPE}(?:,{_TYPE})*$")]]
AGGREGATE = Query(max_length=200, description="Only this aggregate: ZQ-001, "
                                              "community:ZQ-001, town:ZQ or a UUID.")


def _event_routes(app: FastAPI) -> None:
    @app.get("/health", response_model=Health, responses=errors(), tags=["feed"],
             summary="Liveness and the head of the log")
    def health(ledger: LedgerDep) -> JSONResponse:
        with ledger.engine.connect() as conn:
            from ledger.feed.log import head

            top = head(conn, ledger)
        return JSONResponse({"status": "ok", "head": top, "event_schema": EVENT_SCHEMA,
                             "database": ledger.engine.dialect.name,
                             "origin": log_state(ledger)["origin"]})

    @app.get("/events", response_model=EventPage, responses=errors(404), tags=["feed"],
             summary="A page of events in log order")
    def events(request: Request, ledger: LedgerDep,
               after: Annotated[int, AFTER] = 0,
               limit: Annotated[int, Query(ge=1, le=1000, description="Page size.")] = 100,
               types: Annotated[TypeNames | None, TYPES] = None,
               aggregate: Annotated[str | None, AGGREGATE] = None,
               records: Annotated[bool, Query(description=(
                   "Also give each event its leaf `record` (the canonical record its Merkle "
                   "leaf hashes) and the stored `leaf_hash`, for a verifying reader."))] = False,
               ) -> Response:
        """Events after ``after``, oldest first, with the log's ``origin`` and latest signed
        ``checkpoint``. Follow ``next_after`` for the next page; when ``has_more`` is false
        you are at the head: wait, or use ``/events/stream``. Compressed with gzip for a
        client that accepts it, or with brotli (``br``) for one that ranks it above gzip."""
        coding = content_coding(request.scope)
        body = page_json(ledger, after, limit, _types(types), _aggregate(ledger, aggregate),
                         records=records, coding=coding)
        headers = {"Vary": "Accept-Encoding"}
        if coding:
            headers["Content-Encoding"] = coding
        return Response(body, media_type="application/json", headers=headers)

    @app.get("/events/stream", tags=["feed"], responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
              "description": "Server-Sent Events: `id:` is the log position, `data:` one "
                             f"event in schema {EVENT_SCHEMA} with the log's `origin` and the "
                             "latest checkpoint's `size` and `root`; an `event: checkpoint` "
                             "message (origin and the full checkpoint) comes first and whenever "
                             "a new checkpoint is signed; comment lines are heartbeats."},
        **errors(404)}, summary="Live events as Server-Sent Events")
    async def stream(request: Request,
                     after: Annotated[int, AFTER] = 0,
                     types: Annotated[TypeNames | None, TYPES] = None,
                     aggregate: Annotated[str | None, AGGREGATE] = None,
                     last_event_id: Annotated[str | None, Header(
                         max_length=32, description="Resume after this position (sent by "
                                                    "EventSource on reconnect).")] = None,
                     ) -> StreamingResponse:
        """Every event after ``after`` (or ``Last-Event-ID``), then new ones as they commit."""
        ledger: GovernanceLedger = request.app.state.ledger
        start = after
        if last_event_id is not None and last_event_id.strip():
            try:
                start = int(last_event_id.strip())
            except ValueError:
                raise CommandValidationError(
                    _("Last-Event-ID: expected a log position (an integer)")) from None
            if not 0 <= start <= MAX_POSITION:
                raise CommandValidationError(_("Last-Event-ID: out of range"))
        wanted = _types(types)
        agg = await run_in_threadpool(_aggregate, ledger, aggregate)
        body = _sse(request, ledger, start, wanted, agg)
        return StreamingResponse(body, media_type="text/event-stream", headers={
            "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/events/stream-credentials", tags=["feed"], responses=errors(401, 403, 422),
              summary="A short-lived credential for a browser to follow the stream")
    def stream_credential(request: Request,
                          ttl: Annotated[int | None, Query(
                              ge=10, le=3600, description="Seconds it stays valid (default "
                                                          "the server's, 300).")] = None,
                          ) -> JSONResponse:
        """A credential a web page passes as ``/events/stream?access_token=…`` (an
        ``EventSource`` cannot send a header). It allows that route only (scope
        ``read:events``), for ``ttl`` seconds, and dies with the server or its token. With
        authentication off the credential is ``null``: the stream needs none."""
        registry: Registry | None = request.app.state.registry
        token: Token | None = request.scope.get("ledger.token")
        if registry is None or token is None:  # nothing to issue: the stream is open
            return JSONResponse({"credential": None, "expires_at": None, "scope": "read:events",
                                 "use": "/events/stream (authentication is off)"})
        credential, expires = registry.issue_credential(
            token, ttl or request.app.state.credential_ttl)
        return JSONResponse({"credential": credential, "expires_at": expires,
                             "scope": "read:events",
                             "use": "/events/stream?access_token=<credential>"})


#: Largest body ``POST /commands`` reads (an envelope of a command at its 64 KiB limit).
MAX_COMMAND_BODY = 96 * 1024


def _command_routes(app: FastAPI) -> None:
    from ledger import signatures
    from ledger.integrity import dsse

    @app.post("/commands", tags=["commands"], status_code=201, responses={
        201: {"description": "Accepted: `positions` of the events written, `events`, `detail`"},
        200: {"description": "A repeated `command_id`: the first result, nothing written"},
        **errors(400, 403, 404, 409, 413, 422)},
        summary="Record one signed command (a DSSE envelope)",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object", "required": ["payload", "payloadType", "signatures"],
                       "properties": {
                           "payload": {"type": "string", "description": "base64 of the "
                                       "command's exact JSON bytes, command_id included"},
                           "payloadType": {"type": "string", "enum": [dsse.PAYLOAD_TYPE]},
                           "signatures": {"type": "array", "items": {
                               "type": "object", "required": ["sig"], "properties": {
                                   "keyid": {"type": "string"},
                                   "sig": {"type": "string"}}}}}}}}}})
    async def post_command(request: Request) -> JSONResponse:
        """Check the envelope's signature against the actor's registered key, the authority
        and every rule, then record the command atomically (see docs/feed.md). The actor is
        the one the signed command names; a refusal writes nothing and is recorded."""
        ledger: GovernanceLedger = request.app.state.ledger
        declared = request.headers.get("content-length")
        too_large = declared is not None and declared.isdigit() and \
            int(declared) > MAX_COMMAND_BODY
        body = b""
        if not too_large:
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_COMMAND_BODY:
                    too_large = True
                    break
        if too_large:
            error = CommandValidationError(
                _("body larger than {max_command_body} bytes: one command per request").format(
                    max_command_body=MAX_COMMAND_BODY))
            error.code = "too_large"
            await run_in_threadpool(signatures.record_refusal, ledger.engine, error,
                                    command_id=None, type_=None, actor=None, channel="http")
            return JSONResponse(error_body("too_large", str(error)), status_code=413)
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError) as e:
            bad = CommandValidationError(_("the body is not valid JSON: {e}").format(e=str(e)[:200]))
            await run_in_threadpool(ledger.record_refused, bad, None, None, "http")
            raise bad from None
        if not dsse.is_envelope(parsed):
            unsigned = signatures.SignatureError(
                _("POST /commands takes one signed command: a DSSE envelope with payload, payloadType "
                  "{payload_type!r} and signatures (see docs/feed.md)").format(
                    payload_type=dsse.PAYLOAD_TYPE),
                "signature_missing")
            await run_in_threadpool(ledger.record_refused, unsigned, None, None, "http")
            raise unsigned
        result = await run_in_threadpool(_execute_signed, ledger, body)
        return JSONResponse(result.model_dump(mode="json"),
                            status_code=200 if result.outcome == "duplicate" else 201)

    def _execute_signed(ledger: GovernanceLedger, body: bytes) -> Any:
        from ledger.application import read_command

        try:
            cmd, signed = read_command(body)
        except LedgerError:
            return ledger.execute(body, channel="http")  # refuses it again, and records it
        if cmd.actor.startswith("system:"):
            error = signatures.SignatureError(
                _("{actor} commands are not taken over HTTP: the system bootstraps the ledger and records "
                  "rule outcomes itself").format(actor=cmd.actor), "no_authority")
            ledger.record_refused(error, cmd, None, "http")
            raise error
        # The envelope as read (its payload parsed again there, not the JSON around it).
        return ledger.execute(signed if signed is not None else body, channel="http")


def _compact(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


async def _sse(request: Request, ledger: GovernanceLedger, after: int, types: list[str],
               aggregate: UUID | None) -> AsyncIterator[str]:
    waker: Waker = request.app.state.waker
    heartbeat: float = request.app.state.heartbeat
    yield "retry: 1000\n\n"
    with waker.listening():
        async for chunk in _sse_loop(ledger, waker, heartbeat, after, types, aggregate):
            yield chunk


async def _sse_loop(ledger: GovernanceLedger, waker: Waker, heartbeat: float, after: int,
                    types: list[str], aggregate: UUID | None) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    shown: Any = None
    while True:
        token = waker.token()
        page: Page = await run_in_threadpool(read_page, ledger, after, STREAM_BATCH, types,
                                             aggregate)
        state = await run_in_threadpool(log_state, ledger)
        if state != shown:
            # The log's identity and latest signed checkpoint, before the events it applies to
            # and again whenever it changes.
            shown = state
            yield f"event: checkpoint\ndata: {_compact(state)}\n\n"
        if page.events:
            cp = state["checkpoint"]
            log_fields = {"origin": state["origin"], "checkpoint": None if cp is None else
                          {"size": cp["size"], "root": cp["root"]}}
            chunks = []
            for ev in page.events:
                data = _compact({**public_event(ev), **log_fields})
                chunks.append(f"id: {ev.position}\ndata: {data}\n\n")
            yield "".join(chunks)
            after = page.next_after
            last_sent = loop.time()
            continue
        after = page.next_after  # past events the filters left out
        # Sleep until the notifier says the log changed, or the next heartbeat is due.
        wait = max(0.0, last_sent + heartbeat - loop.time())
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(token.wait(), timeout=wait)
        if loop.time() - last_sent >= heartbeat:
            yield ": heartbeat\n\n"
            last_sent = loop.time()
