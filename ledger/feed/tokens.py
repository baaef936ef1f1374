"""Who may call the feed: scoped bearer tokens, the scope each route needs, and short-lived
stream credentials for browsers.

A token has an **id** (a name, shown in the access log), a **secret** (what the caller sends,
never logged) and **scopes**. Configured by ``LEDGER_FEED_TOKENS`` or a TOML file
(``ledger serve --tokens-file``); see docs/feed.md for both formats. A blank or malformed
configuration is a :class:`TokenConfigError` at startup, never "authentication off".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.kernel.errors import ConfigurationError
from ledger.kernel.i18n import _

TOKENS_ENV = "LEDGER_FEED_TOKENS"

SCOPES = ("read:events", "read:cases", "read:audit", "read:personal", "write:intake",
          "write:commands", "admin")
#: The scopes a route may demand (``admin`` passes every check).
ANY_TOKEN: frozenset[str] = frozenset()

_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MIN_SECRET = 8
DEFAULT_RATE = 100.0


class TokenConfigError(ConfigurationError):
    """Raised at startup when the token configuration is blank, malformed or ambiguous."""

    code = "token_config"


@dataclass(frozen=True)
class Intake:
    """The hotline system's intake identity: the person id and post it records cases as, and
    the private key the server signs its ``case.receive`` commands with."""

    person: str
    post: str
    key_file: str
    channel: str = "hotline"


@dataclass(frozen=True)
class Token:
    """One caller of the feed."""

    id: str
    secret: str = field(repr=False)
    scopes: frozenset[str]
    rate: float = DEFAULT_RATE
    intake: Intake | None = None
    legacy: bool = False

    def allows(self, needed: frozenset[str]) -> bool:
        """Whether this token has one of *needed* (an empty set: any valid token)."""
        return not needed or "admin" in self.scopes or bool(self.scopes & needed)


def _scopes(raw: list[str], where: str) -> frozenset[str]:
    out = set()
    for item in raw:
        s = item.strip()
        if not s:
            continue
        if s not in SCOPES:
            raise TokenConfigError(_("{where}: unknown scope {s!r}; known: {scopes}").format(
                                       where=where, s=s[:40], scopes=', '.join(SCOPES)))
        out.add(s)
    if not out:
        raise TokenConfigError(_("{where}: no scope; give at least one of {scopes}").format(
                                   where=where, scopes=', '.join(SCOPES)))
    return frozenset(out)


def _check(tokens: list[Token]) -> list[Token]:
    if not tokens:
        raise TokenConfigError(_("the token list is empty: give at least one token, or unset {tokens_env} "
                                 "and pass no --tokens-file to serve without authentication (loopback "
                                 "only)").format(
                                   tokens_env=TOKENS_ENV))
    ids: set[str] = set()
    digests: set[bytes] = set()
    for t in tokens:
        if not _ID.match(t.id):
            raise TokenConfigError(_("token id {id!r}: use 1-64 of a-z 0-9 _ . - (the id is what the "
                                     "access log shows)").format(id=t.id[:40]))
        if t.id in ids:
            raise TokenConfigError(_("token id {id!r} is given twice").format(id=t.id))
        if len(t.secret) < MIN_SECRET or any(c.isspace() for c in t.secret):
            raise TokenConfigError(_("token {id!r}: the secret must be at least {min_secret} characters "
                                     "without spaces").format(id=t.id, min_secret=MIN_SECRET))
        digest = hashlib.sha256(t.secret.encode()).digest()
        if digest in digests:
            raise TokenConfigError(_("token {id!r} has the same secret as another token").format(
                                       id=t.id))
        if t.rate <= 0:
            raise TokenConfigError(_("token {id!r}: rate must be a positive number").format(id=t.id))
        ids.add(t.id)
        digests.add(digest)
    return tokens


def parse_env(value: str, *, rate: float = DEFAULT_RATE) -> list[Token]:
    """Tokens from ``LEDGER_FEED_TOKENS``: ``ID:SECRET:SCOPE+SCOPE`` entries, comma separated.

    An entry without a colon is a bare secret of an earlier release: it keeps working with
    the ``admin`` scope (id ``legacy-N``) and :attr:`Token.legacy` set, so that startup warns.
    """
    entries = [e.strip() for e in value.split(",")]
    if not any(entries):
        raise TokenConfigError(_("{tokens_env} is set but holds no token ({value!r}): give ID:SECRET:SCOPE "
                                 "entries, or unset it").format(tokens_env=TOKENS_ENV, value=value))
    tokens = []
    for n, entry in enumerate(entries, 1):
        if not entry:
            raise TokenConfigError(_("{tokens_env}: entry {n} is empty (a stray comma?)").format(
                                       tokens_env=TOKENS_ENV, n=n))
        if ":" not in entry:
            tokens.append(Token(f"legacy-{n}", entry, frozenset({"admin"}), rate, legacy=True))
            continue
        parts = entry.split(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise TokenConfigError(_("{tokens_env}: entry {n} is not ID:SECRET:SCOPE+SCOPE").format(
                                       tokens_env=TOKENS_ENV, n=n))
        tid, secret, scopes = parts
        tokens.append(Token(tid, secret, _scopes(scopes.split("+"), f"token {tid!r}"), rate))
    return _check(tokens)


def parse_file(path: str | Path, *, rate: float = DEFAULT_RATE) -> list[Token]:
    """Tokens from a TOML file: one ``[tokens.ID]`` table each, with ``secret`` (or
    ``secret_env``, the name of an environment variable holding it), ``scopes``, optional
    ``rate`` and, for a hotline system, ``[tokens.ID.intake]`` with ``person``, ``post`` and
    ``key_file`` (relative to the file)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise TokenConfigError(_("cannot read the tokens file {p}: {strerror}").format(
                                   p=p, strerror=e.strerror)) from None
    except tomllib.TOMLDecodeError as e:
        raise TokenConfigError(_("the tokens file {p} is not valid TOML: {e}").format(p=p, e=e)) from None
    table = data.get("tokens")
    if not isinstance(table, dict) or set(data) - {"tokens"}:
        raise TokenConfigError(_("the tokens file {p} must hold only [tokens.ID] tables").format(p=p))
    tokens = []
    for tid, spec in table.items():
        if not isinstance(spec, dict):
            raise TokenConfigError(_("{p}: tokens.{tid} must be a table").format(p=p, tid=tid))
        unknown = set(spec) - {"secret", "secret_env", "scopes", "rate", "intake"}
        if unknown:
            raise TokenConfigError(_("{p}: tokens.{tid}: unknown key {unknown!r}").format(
                                       p=p, tid=tid, unknown=sorted(unknown)[0]))
        secret = spec.get("secret")
        if secret is None and isinstance(spec.get("secret_env"), str):
            secret = os.environ.get(spec["secret_env"])
            if not secret:
                raise TokenConfigError(_("{p}: tokens.{tid}: the environment variable {secret_env} is not "
                                         "set").format(p=p, tid=tid, secret_env=spec['secret_env']))
        if not isinstance(secret, str):
            raise TokenConfigError(_("{p}: tokens.{tid}: give secret or secret_env").format(
                                       p=p, tid=tid))
        scopes = spec.get("scopes")
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise TokenConfigError(_("{p}: tokens.{tid}: scopes must be a list of strings").format(
                                       p=p, tid=tid))
        r = spec.get("rate", rate)
        if not isinstance(r, (int, float)) or isinstance(r, bool):
            raise TokenConfigError(_("{p}: tokens.{tid}: rate must be a number").format(p=p, tid=tid))
        intake = None
        if "intake" in spec:
            i = spec["intake"]
            if not isinstance(i, dict) or not all(isinstance(i.get(k), str)
                                                  for k in ("person", "post", "key_file")):
                raise TokenConfigError(_("{p}: tokens.{tid}.intake needs person, post and key_file").format(
                                           p=p, tid=tid))
            key_file = Path(i["key_file"])
            if not key_file.is_absolute():
                key_file = p.parent / key_file
            intake = Intake(i["person"], i["post"], str(key_file))
        token = Token(tid, secret, _scopes(scopes, f"token {tid!r}"), float(r), intake)
        if intake is not None and not token.allows(frozenset({"write:intake"})):
            raise TokenConfigError(_("{p}: tokens.{tid} has an intake identity but not the write:intake "
                                     "scope").format(p=p, tid=tid))
        tokens.append(token)
    return _check(tokens)


def configured(tokens_file: str | None = None, *, rate: float = DEFAULT_RATE,
               ) -> list[Token] | None:
    """The tokens to enforce: from *tokens_file*, else ``LEDGER_FEED_TOKENS``; ``None`` when
    neither is given (authentication off). Both at once is an error."""
    env = os.environ.get(TOKENS_ENV)
    if tokens_file and env is not None:
        raise TokenConfigError(_("both --tokens-file and {tokens_env} are given: use one").format(
                                   tokens_env=TOKENS_ENV))
    if tokens_file:
        return parse_file(tokens_file, rate=rate)
    if env is not None:
        return parse_env(env, rate=rate)
    return None


class Registry:
    """The configured tokens, looked up by secret in constant time."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self._secrets = [(t.secret.encode(), t) for t in tokens]
        #: signs stream credentials; new at every start, so a restart voids them all
        self._credential_key = secrets.token_bytes(32)

    def find(self, given: bytes | str) -> Token | None:
        """The token whose secret is *given*; every secret is compared, so timing says
        nothing about which one matched."""
        if isinstance(given, str):
            given = given.encode()
        found = None
        for secret, token in self._secrets:
            if hmac.compare_digest(given, secret):
                found = token
        return found

    def by_id(self, tid: str) -> Token | None:
        return next((t for t in self.tokens if t.id == tid), None)

    # -- stream credentials ---------------------------------------------------------------
    def issue_credential(self, token: Token, ttl: int) -> tuple[str, int]:
        """A credential for ``/events/stream`` only, valid *ttl* seconds: ``sc1.<claims>.<mac>``."""
        expires = int(time.time()) + ttl
        claims = _b64(json.dumps({"t": token.id, "exp": expires, "s": "read:events"},
                                 separators=(",", ":")).encode())
        mac = _b64(hmac.new(self._credential_key, claims.encode(), hashlib.sha256).digest())
        return f"sc1.{claims}.{mac}", expires

    def check_credential(self, credential: str) -> Token | None:
        """The token a valid, unexpired stream credential was issued to, else ``None``."""
        parts = credential.split(".")
        if len(parts) != 3 or parts[0] != "sc1" or len(credential) > 512:
            return None
        want = _b64(hmac.new(self._credential_key, parts[1].encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want.encode(), parts[2].encode()):
            return None
        try:
            claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
        except ValueError:
            return None
        if claims.get("s") != "read:events" or int(claims.get("exp", 0)) < time.time():
            return None
        token = self.by_id(str(claims.get("t")))
        if token is None or not token.allows(frozenset({"read:events"})):
            return None
        return Token(f"{token.id}~stream", token.secret, frozenset({"read:events"}), token.rate)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


# -- the scope each route needs ---------------------------------------------------------------
#: (method or None, path prefix, scopes: any one of them suffices; empty: any valid token).
#: The first rule whose method and prefix match decides; a route no rule covers is a startup
#: error (``create_app`` checks every route), so a new route cannot be open by omission.
ROUTE_SCOPES: list[tuple[str | None, str, frozenset[str]]] = [
    (None, "/health", ANY_TOKEN),
    (None, "/openapi.json", ANY_TOKEN),
    (None, "/docs", ANY_TOKEN),
    (None, "/redoc", ANY_TOKEN),
    # The supervision board (ledger.web): any token opens it; each page checks the scope
    # of what it shows, and a browser's session cookie stands for its token there.
    (None, "/board", ANY_TOKEN),
    (None, "/events", frozenset({"read:events"})),
    (None, "/checkpoints", frozenset({"read:events"})),
    (None, "/proofs", frozenset({"read:events"})),
    (None, "/status", frozenset({"read:events"})),
    (None, "/communities", frozenset({"read:events"})),
    (None, "/resolutions", frozenset({"read:events"})),
    (None, "/meetings", frozenset({"read:events"})),
    (None, "/firms", frozenset({"read:events"})),
    (None, "/cases", frozenset({"read:cases"})),
    (None, "/warnings", frozenset({"read:cases"})),
    (None, "/matters", frozenset({"read:cases"})),
    (None, "/history", frozenset({"read:audit"})),
    (None, "/audit", frozenset({"read:audit"})),
    ("POST", "/commands", frozenset({"write:commands"})),
    ("POST", "/open311/v2/requests", frozenset({"write:intake"})),
    ("GET", "/open311/v2/requests", frozenset({"read:cases"})),
    ("GET", "/open311/v2/bulk", frozenset({"read:cases"})),
    ("GET", "/open311/v2", frozenset({"read:cases", "write:intake"})),
]


def _under(path: str, prefix: str) -> bool:
    if not path.startswith(prefix):
        return False
    rest = path[len(prefix):]
    return rest == "" or rest[0] in "/."


def scopes_for(method: str, path: str) -> frozenset[str] | None:
    """The scopes a request needs, or ``None`` when no rule covers the path."""
    for m, prefix, scopes in ROUTE_SCOPES:
        if (m is None or m == method or (m == "GET" and method == "HEAD")) and \
                _under(path, prefix):
            return scopes
    return None


def describe(tokens: list[Token] | None) -> str:
    """One line for startup: whether authentication is on, and each token's id and scopes."""
    if tokens is None:
        return _("authentication: OFF (no LEDGER_FEED_TOKENS, no --tokens-file): every route "
                 "is open to anyone who can connect")
    listed = "; ".join(f"{t.id} [{' '.join(sorted(t.scopes))}]" for t in tokens)
    return _("authentication: on, {n} token(s): {listed}").format(n=len(tokens), listed=listed)
