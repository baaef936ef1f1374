"""The feed's front gate: one ASGI middleware around every HTTP request.

In order, for each request: the concurrency bound (``503`` with ``Retry-After`` beyond it),
the token (``401``), the scope its route needs (``403``), the token's rate limit (``429`` with
``Retry-After``); then security headers on whatever the application answers, and one JSON
access-log line (route, status, duration, token id; never the secret, the query string or
personal data). A refusal is a 4xx JSON body and writes nothing; on the Open311 routes it is
the GeoReport v2 error list (``[{"code", "description"}]``, XML for ``.xml``).

The connection-level limit (slow or incomplete requests dropped) is :class:`GuardedH11Protocol`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import h11
import structlog
from uvicorn.protocols.http.h11_impl import H11Protocol

from ledger.feed.tokens import Registry, Token, scopes_for

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_CONCURRENT = 1024
#: Seconds a client has to send one whole request (headers and body).
DEFAULT_REQUEST_TIMEOUT = 10.0

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
STRICT_CSP = b"default-src 'none'; frame-ancestors 'none'"
#: The interactive OpenAPI pages load their script and styles from a CDN.
DOCS_CSP = (b"default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
            b"style-src 'unsafe-inline' https://cdn.jsdelivr.net; img-src data: https:; "
            b"connect-src 'self'; frame-ancestors 'none'")
HSTS = b"max-age=31536000; includeSubDomains"


class CookieSessions(Protocol):
    """Browser sessions for the paths under :attr:`prefix` (the supervision board, which
    :mod:`ledger.web` provides): a signed cookie stands for a token there, a few paths (the
    login form, static files) need none, and a page asked for without a session is answered
    with a redirect to the login form instead of a ``401``."""

    prefix: str

    def token(self, scope: Scope) -> Token | None:
        """The token the request's session cookie stands for, else ``None``."""

    def public(self, path: str) -> bool:
        """Whether *path* is served without a session (the login form, static files)."""

    def login_location(self, scope: Scope) -> str:
        """Where a request without a session is sent (the login form, with ``next``)."""


def under_prefix(path: str, prefix: str) -> bool:
    """Whether *path* is *prefix* or lies below it."""
    return path == prefix or path.startswith(prefix + "/")


def access_logger() -> Any:
    """A JSON-lines logger on stderr, independent of the level the CLI sets for other logs."""
    return structlog.wrap_logger(
        structlog.PrintLogger(file=sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=[structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(ensure_ascii=False)])


class RateLimiter:
    """A token bucket per token id: *rate* requests a second, bursts of twice that."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, token: Token, now: float) -> float:
        """0 when the request may go, else the seconds until it could."""
        burst = max(1.0, 2 * token.rate)
        level, last = self._buckets.get(token.id, (burst, now))
        level = min(burst, level + (now - last) * token.rate)
        if level >= 1.0:
            self._buckets[token.id] = (level - 1.0, now)
            return 0.0
        self._buckets[token.id] = (level, now)
        return (1.0 - level) / token.rate


def _open311_error(status: int, message: str, xml: bool) -> tuple[bytes, bytes]:
    if xml:
        body = ('<?xml version="1.0" encoding="utf-8"?>\n<errors><error>'
                f"<code>{status}</code><description>{escape(message)}</description>"
                "</error></errors>").encode()
        return body, b"text/xml; charset=utf-8"
    return (json.dumps([{"code": status, "description": message}], ensure_ascii=False).encode(),
            b"application/json; charset=utf-8")


def error_response(path: str, status: int, code: str, message: str) -> tuple[bytes, bytes]:
    """The body and content type of a refusal on *path* (Open311 routes: the spec's format)."""
    if path.startswith("/open311/"):
        return _open311_error(status, message, path.endswith(".xml"))
    return (json.dumps({"error": {"code": code, "message": message}}).encode(),
            b"application/json")


class Gate:
    """ASGI middleware: concurrency bound, tokens and scopes, rate limits, headers, access log."""

    def __init__(self, app: ASGIApp, *, registry: Registry | None,
                 max_concurrent: int = DEFAULT_MAX_CONCURRENT, hsts: bool = False,
                 access_log: bool = True,
                 routes: Sequence[tuple[frozenset[str], re.Pattern[str], str]] = (),
                 limiter: RateLimiter | None = None,
                 sessions: CookieSessions | None = None) -> None:
        self.app = app
        self.sessions = sessions
        self.routes = routes
        self.registry = registry
        self.max_concurrent = max_concurrent
        self.inflight = 0
        self.hsts = hsts
        self.limiter = limiter or RateLimiter()
        self.log = access_logger() if access_log else None

    def _credentials(self, scope: Scope) -> Token | None:
        assert self.registry is not None
        header = None
        for name, value in scope.get("headers") or []:
            if name == b"authorization":
                header = value
                break
        if header is not None:
            if header[:7].lower() != b"bearer ":
                return None
            return self.registry.find(header[7:].strip())
        path: str = scope["path"]
        if self.sessions is not None and under_prefix(path, self.sessions.prefix):
            return self.sessions.token(scope)
        if path == "/events/stream" or path.startswith("/open311/"):
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            if path == "/events/stream" and "access_token" in query:
                return self.registry.check_credential(query["access_token"])
            if path.startswith("/open311/") and query.get("api_key"):
                return self.registry.find(query["api_key"])
        return None

    async def _refuse(self, scope: Scope, send: Send, status: int, code: str, message: str,
                      headers: list[tuple[bytes, bytes]] | None = None) -> None:
        body, ctype = error_response(scope["path"], status, code, message)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", ctype),
                                (b"content-length", str(len(body)).encode()),
                                *(headers or [])]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                have = {k.lower() for k, _v in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in have]
                if b"content-security-policy" not in have:
                    docs = path in ("/docs", "/redoc")
                    headers.append((b"content-security-policy", DOCS_CSP if docs else STRICT_CSP))
                if b"cache-control" not in have:
                    headers.append((b"cache-control", b"no-store"))
                if self.hsts:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        scope["ledger.token"] = None
        try:
            if self.inflight >= self.max_concurrent:
                await self._refuse(scope, send_with_headers, 503, "busy",
                                   f"more than {self.max_concurrent} requests in progress; "
                                   "try again shortly", [(b"retry-after", b"1")])
                return
            self.inflight += 1
            try:
                if self.registry is not None and not await self._admit(scope, send_with_headers):
                    return
                await self.app(scope, receive, send_with_headers)
            finally:
                self.inflight -= 1
        finally:
            if self.log is not None:
                token: Token | None = scope.get("ledger.token")
                self.log.info("http.access", method=scope["method"], route=self._route(scope),
                              status=status,
                              duration_ms=round((time.perf_counter() - start) * 1000, 2),
                              token=token.id if token is not None else None)

    def _route(self, scope: Scope) -> str:
        """The route template (``/history/{key}``), never the path with its values."""
        route = getattr(scope.get("route"), "path", None)
        if route is None:  # refused before routing: find the route it was meant for
            path = scope["path"]
            route = next((template for _methods, pattern, template in self.routes
                          if pattern.match(path)), None)
        return route or "(no route)"

    async def _admit(self, scope: Scope, send: Send) -> bool:
        """Authenticate, check the scope and the rate; refuse and return False if any fails."""
        method, path = scope["method"], scope["path"]
        token = self._credentials(scope)
        needed = scopes_for(method, path)
        if token is None:
            sessions = self.sessions
            if sessions is not None and under_prefix(path, sessions.prefix):
                if sessions.public(path):
                    return True  # the login form and static files need no session
                if method in ("GET", "HEAD"):
                    await send({"type": "http.response.start", "status": 303, "headers": [
                        (b"location", sessions.login_location(scope).encode("latin-1")),
                        (b"content-length", b"0")]})
                    await send({"type": "http.response.body", "body": b""})
                    return False
            if method == "POST" and path.startswith("/open311/v2/requests"):
                return True  # GeoReport v2 sends api_key in the form body: the route checks it
            if method == "OPTIONS":
                return True  # a CORS preflight carries no credentials (the CORS layer answers)
            await self._refuse(scope, send, 401, "unauthorized",
                               "this feed needs Authorization: Bearer <token>",
                               [(b"www-authenticate", b"Bearer")])
            return False
        scope["ledger.token"] = token
        if needed is None:
            needed = frozenset({"admin"})  # no rule covers it: unknown paths need admin
        if not token.allows(needed):
            await self._refuse(scope, send, 403, "insufficient_scope",
                               f"token {token.id} lacks the scope this route needs "
                               f"({' or '.join(sorted(needed))})")
            return False
        wait = self.limiter.take(token, time.monotonic())
        if wait > 0:
            await self._refuse(scope, send, 429, "rate_limited",
                               f"token {token.id} is over its rate of {token.rate:g} requests "
                               "a second", [(b"retry-after", str(max(1, round(wait))).encode())])
            return False
        return True


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, dropping a connection whose request is not complete (headers
    and body) within :attr:`request_timeout` seconds of its first byte (or of the connection,
    for the first request). Idle keep-alive connections are closed by uvicorn's own
    ``timeout_keep_alive``."""

    request_timeout = DEFAULT_REQUEST_TIMEOUT

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state not in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED) and \
                not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # a new request on a kept-alive connection starts its clock
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot parse (malformed, or headers over the size limit): 400 with a
        JSON body like every other refusal, plus the security headers, then close."""
        body = json.dumps({"error": {"code": "bad_request", "message": (
            "malformed HTTP request, or its request line and headers exceed "
            f"{self.conn._max_incomplete_event_size // 1024} KiB")}}).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                   (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS,
                   (b"content-security-policy", STRICT_CSP), (b"cache-control", b"no-store")]
        try:
            self.transport.write(self.conn.send(h11.Response(status_code=400, headers=headers,
                                                             reason=b"Bad Request")) or b"")
            self.transport.write(self.conn.send(h11.Data(data=body)) or b"")
            self.transport.write(self.conn.send(h11.EndOfMessage()) or b"")
        except h11.LocalProtocolError:
            pass  # h11 cannot answer in this state: just close
        self.transport.close()
