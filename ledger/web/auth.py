"""Signing in to the board: a token exchanged for a signed session cookie, and CSRF tokens.

The session cookie ``zqb_session`` is ``bs1.<claims>.<mac>``: the token's id, an expiry and a
CSRF secret for the forms of the session, signed with HMAC-SHA256 under a key made at each
start of the server (a restart signs everyone out, as it voids stream credentials). It is
``HttpOnly``, ``SameSite=Strict``, ``Path=/board`` and ``Secure`` when the server speaks TLS.
The token behind a session is looked up again on every request, so a token removed from the
configuration ends its sessions at the next restart and its scopes always apply as configured.

The login form carries a CSRF token: the form's page sets a random nonce in the cookie
``zqb_login`` and puts the HMAC of that nonce in a hidden field; a login POST without both,
or with a field that is not the nonce's MAC, is refused with ``403`` before the token is
even looked at.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from ledger.feed.tokens import Registry, Token

Scope = MutableMapping[str, Any]

PREFIX = "/board"
SESSION_COOKIE = "zqb_session"
LOGIN_COOKIE = "zqb_login"
LANG_COOKIE = "zqb_lang"
#: Seconds a session lasts (a working day).
SESSION_TTL = 10 * 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def cookies_of(scope: Scope) -> dict[str, str]:
    """The request's cookies by name."""
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers") or []:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except ValueError:  # a malformed Cookie header: treat as none
                return {}
    return {k: m.value for k, m in jar.items()}


@dataclass
class Session:
    """A signed-in browser: its token and the CSRF secret of its forms."""

    token: Token
    csrf: str
    expires: int


class BoardSessions:
    """The board's side of the feed's gate (``ledger.feed.guard.CookieSessions``)."""

    prefix = PREFIX

    def __init__(self, *, secure: bool = False, ttl: int = SESSION_TTL) -> None:
        self.registry: Registry | None = None  # set once the feed app has made it
        self.secure = secure
        self.ttl = ttl
        self._key = secrets.token_bytes(32)

    # -- the gate's questions ---------------------------------------------------------
    def token(self, scope: Scope) -> Token | None:
        session = self.session(scope)
        return session.token if session is not None else None

    def public(self, path: str) -> bool:
        return path == f"{PREFIX}/login" or path.startswith(f"{PREFIX}/static/")

    def login_location(self, scope: Scope) -> str:
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        return f"{PREFIX}/login?next={quote(target, safe='')}"

    # -- sessions -----------------------------------------------------------------------
    def _mac(self, text: str) -> str:
        return _b64(hmac.new(self._key, text.encode(), hashlib.sha256).digest())

    def issue(self, token: Token) -> tuple[str, Session]:
        """A new session cookie value for *token*."""
        session = Session(token, secrets.token_urlsafe(18), int(time.time()) + self.ttl)
        claims = _b64(json.dumps({"t": token.id, "exp": session.expires, "c": session.csrf},
                                 separators=(",", ":")).encode())
        return f"bs1.{claims}.{self._mac(claims)}", session

    def session(self, scope: Scope) -> Session | None:
        """The valid session of the request, else ``None``."""
        if self.registry is None:
            return None
        value = cookies_of(scope).get(SESSION_COOKIE)
        if value is None or len(value) > 1024:
            return None
        parts = value.split(".")
        if len(parts) != 3 or parts[0] != "bs1":
            return None
        if not hmac.compare_digest(self._mac(parts[1]).encode(), parts[2].encode()):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
            expires = int(claims["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires < time.time():
            return None
        token = self.registry.by_id(str(claims.get("t")))
        if token is None:
            return None
        return Session(token, str(claims.get("c", "")), expires)

    def cookie(self, name: str, value: str, *, max_age: int | None = None) -> str:
        """A ``Set-Cookie`` value: HttpOnly, SameSite=Strict, under the board, Secure on TLS."""
        parts = [f"{name}={value}", f"Path={PREFIX}", "HttpOnly", "SameSite=Strict"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    # -- CSRF -------------------------------------------------------------------------
    def login_nonce(self) -> tuple[str, str]:
        """A nonce for the login cookie and the form field that must come back with it."""
        nonce = secrets.token_urlsafe(18)
        return nonce, self._mac(f"login:{nonce}")

    def login_csrf_ok(self, nonce: str | None, field: str | None) -> bool:
        if not nonce or not field:
            return False
        return hmac.compare_digest(self._mac(f"login:{nonce}").encode(), field.encode())

    @staticmethod
    def session_csrf_ok(session: Session | None, field: str | None) -> bool:
        if session is None or not field:
            return False
        return hmac.compare_digest(session.csrf.encode(), field.encode())
