"""The board's routes, mounted into the feed application under ``/board``.

:func:`create_board_app` builds the feed (``ledger.feed.app.create_app``) with the board's
session cookies admitted by its gate, then :func:`mount` adds the pages, the static files
and the overview's live fragment. Every page is a plain (synchronous) function run in a
worker thread: it asks the read models and queries, and renders a template. Each page
declares the scope it needs; parts of a page that need another scope are left out with a
note. Every answer carries the board's Content-Security-Policy (scripts and styles from the
board's own static files only, no inline script or style) beside the gate's other headers.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.staticfiles import StaticFiles

from ledger.application import GovernanceLedger
from ledger.feed.app import create_app
from ledger.feed.log import head, log_state
from ledger.feed.queries import moment
from ledger.feed.tokens import Registry, Token
from ledger.kernel.errors import LedgerError
from ledger.kernel.i18n import _
from ledger.render import xlsx
from ledger.web import data, personal
from ledger.web.auth import LANG_COOKIE, LOGIN_COOKIE, PREFIX, SESSION_COOKIE, BoardSessions
from ledger.web.auth import Session as BoardSession
from ledger.web.labels import LANGS, label

#: The board's Content-Security-Policy: nothing inline, nothing from elsewhere, no framing.
BOARD_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
             "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
BOARD_HEADERS = {
    "Content-Security-Policy": BOARD_CSP,
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Scopes an anonymous viewer has when the server runs without tokens (loopback only):
#: everything but personal data, which is only ever shown to a named token.
OPEN_SCOPES = frozenset({"read:events", "read:cases", "read:audit"})

#: Largest form body read (the login form: a token, a CSRF field and a path).
MAX_FORM = 8 * 1024

PAGES = (("overview", ""), ("warnings", "/warnings"), ("cases", "/cases"),
         ("resolutions", "/resolutions"), ("topics", "/topics"), ("roster", "/roster"),
         ("appraisal", "/appraisal"),
         ("firms", "/firms"), ("integrity", "/integrity"))


@dataclass
class Viewer:
    """Who is looking: the token's id and scopes (none: authentication off), the language
    and the session (for the CSRF field of the sign-out form)."""

    id: str | None
    scopes: frozenset[str]
    lang: str
    auth: bool
    session: BoardSession | None = None
    token: Token | None = None

    def can(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


class ScopeMissingError(LedgerError):
    """Raised when a viewer opens a board page whose content needs a scope their token lacks."""

    code = "insufficient_scope"
    http_status = 403


class PageNotFoundError(LedgerError):
    """Raised when a board page names a record the ledger does not hold."""

    code = "not_found"
    http_status = 404


@dataclass
class Verifications:
    """The last verification this server ran of the whole log, in a background thread."""

    result: dict[str, Any] | None = None
    running: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, ledger: GovernanceLedger, size: int | None) -> None:
        """Verify again when the latest checkpoint is not the one last verified."""
        with self.lock:
            if self.running or (self.result is not None and self.result["checkpoint"] == size):
                return
            self.running = True
        threading.Thread(target=self._run, args=(ledger, size), daemon=True,
                         name="board-verify").start()

    def _run(self, ledger: GovernanceLedger, size: int | None) -> None:
        from ledger.integrity.verifier import verify

        started = datetime.now(UTC)
        try:
            out = verify(ledger, workers=1)
            result = {"ok": out.ok, "summary": out.summary(), "events": out.events,
                      "tree_size": out.tree_size, "key": out.key_source,
                      "findings": [f.public() for f in out.findings[:20]],
                      "finding_count": len(out.findings)}
        except Exception as e:  # noqa: BLE001 - shown on the page as a failed check
            result = {"ok": False, "summary": f"{type(e).__name__}: {e}", "events": 0,
                      "tree_size": 0, "key": None, "findings": [], "finding_count": 1}
        result.update(checkpoint=size, started_at=started.isoformat(),
                      finished_at=datetime.now(UTC).isoformat())
        with self.lock:
            self.result = result
            self.running = False


def create_board_app(ledger_or_url: GovernanceLedger | str, **kwargs: Any) -> FastAPI:
    """The feed application (``create_app``'s keyword arguments) with the board mounted."""
    sessions = BoardSessions(secure=bool(kwargs.get("hsts")))
    app = create_app(ledger_or_url, sessions=sessions, **kwargs)
    sessions.registry = app.state.registry
    mount(app, sessions)
    return app


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("ledger.web", "templates"),
                      autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["day"] = lambda v: (str(v)[:10] if v else "")
    env.filters["minute"] = lambda v: (str(v)[:16].replace("T", " ") if v else "")
    env.filters["tojson_text"] = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True)
    return env


def mount(app: FastAPI, sessions: BoardSessions) -> None:
    """Add the board's routes and static files to the feed application *app*."""
    env = _environment()
    ledger: GovernanceLedger = app.state.ledger
    personal.ensure_table(ledger)
    verifications = Verifications()
    app.state.board_verifications = verifications
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    # -- plumbing -----------------------------------------------------------------------
    def viewer_of(request: Request) -> Viewer:
        lang = request.cookies.get(LANG_COOKIE)
        if lang not in LANGS:
            lang = "zh"
        registry: Registry | None = request.app.state.registry
        if registry is None:
            return Viewer(None, OPEN_SCOPES, lang, auth=False)
        token: Token | None = request.scope.get("ledger.token")
        if token is None:
            return Viewer(None, frozenset(), lang, auth=True)
        return Viewer(token.id, token.scopes, lang, auth=True,
                      session=sessions.session(request.scope), token=token)

    def render(request: Request, viewer: Viewer, template: str, *, status: int = 200,
               page: str | None = None, headers: dict[str, str] | None = None,
               **context: Any) -> HTMLResponse:
        def L(key: str, **fmt: Any) -> str:  # noqa: N802 - the templates' one short helper
            return label(key, viewer.lang, **fmt)

        html = env.get_template(template).render(
            L=L, viewer=viewer, lang=viewer.lang, prefix=PREFIX, pages=PAGES, page=page,
            path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context)
        return HTMLResponse(html, status_code=status, headers={**BOARD_HEADERS,
                                                               **(headers or {})})

    def page(request: Request, name: str, scope: str,
             build: Callable[[Viewer], dict[str, Any] | Response], template: str) -> Response:
        viewer = viewer_of(request)
        try:
            if not viewer.can(scope):
                raise ScopeMissingError(label("board.needs_scope", viewer.lang, scope=scope))
            built = build(viewer)
        except LedgerError as e:
            return render(request, viewer, "error.html", status=e.http_status, page=name,
                          message=str(e), code=e.code)
        if isinstance(built, Response):
            for k, v in BOARD_HEADERS.items():
                built.headers.setdefault(k, v)
            return built
        return render(request, viewer, template, page=name, **built)

    def now() -> datetime:
        return datetime.now(UTC)

    def reveal_once(viewer: Viewer, sealed: dict[str, str] | None, kind: str,
                    ref: str) -> dict[str, Any] | None:
        """Personal data sealed in a record, for a viewer with ``read:personal`` only (None
        otherwise), the view recorded (``ledger.web.personal``)."""
        if not viewer.can("read:personal"):
            return None
        if sealed is None:
            return {"data": None, "erased": False, "none": True}
        shown = personal.reveal(ledger, sealed, viewer=viewer.id or "-",
                                page=f"{PREFIX}/{kind}/{{ref}}", record=ref)
        return {"data": shown, "erased": shown is None, "none": False}

    async def _form(request: Request) -> dict[str, str]:
        """The fields of a small URL-encoded form (the board's forms are a few fields)."""
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                return {}
        try:
            fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        except ValueError:
            return {}
        return {k: v[0] for k, v in fields.items()}

    def safe_next(target: str | None) -> str:
        if target and target.startswith(PREFIX) and not target.startswith("//") \
                and "\\" not in target:
            return target
        return PREFIX

    # -- signing in ---------------------------------------------------------------------
    @router.get("/login")
    def login_form(request: Request, next: str | None = None) -> Response:
        viewer = viewer_of(request)
        nonce, field_value = sessions.login_nonce()
        response = render(request, viewer, "login.html", csrf=field_value,
                          next=safe_next(next), failed=None)
        response.headers.append("Set-Cookie", sessions.cookie(LOGIN_COOKIE, nonce,
                                                              max_age=3600))
        return response

    @router.post("/login")
    async def login(request: Request) -> Response:
        viewer = viewer_of(request)
        form = await _form(request)
        csrf = form.get("csrf")
        token_text = form.get("token")
        target = safe_next(str(form.get("next") or ""))
        if not sessions.login_csrf_ok(request.cookies.get(LOGIN_COOKIE), csrf):
            return render(request, viewer, "error.html", status=403, page=None,
                          message=label("board.csrf_failed", viewer.lang), code="csrf")
        registry: Registry | None = request.app.state.registry
        token = registry.find(token_text) if registry is not None and token_text else None
        if token is None:
            nonce, field_value = sessions.login_nonce()
            again = render(request, viewer, "login.html", status=401, csrf=field_value,
                           next=target, failed=label("board.login_failed", viewer.lang))
            again.headers.append("Set-Cookie", sessions.cookie(LOGIN_COOKIE, nonce,
                                                               max_age=3600))
            return again
        value, _session = sessions.issue(token)
        signed_in = RedirectResponse(target, status_code=303)
        signed_in.headers.append("Set-Cookie", sessions.cookie(SESSION_COOKIE, value,
                                                               max_age=sessions.ttl))
        signed_in.headers.append("Set-Cookie", sessions.cookie(LOGIN_COOKIE, "", max_age=0))
        return signed_in

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await _form(request)
        csrf = form.get("csrf")
        if not sessions.session_csrf_ok(sessions.session(request.scope),
                                        csrf):
            viewer = viewer_of(request)
            return render(request, viewer, "error.html", status=403, page=None,
                          message=label("board.csrf_failed", viewer.lang), code="csrf")
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.headers.append("Set-Cookie", sessions.cookie(SESSION_COOKIE, "", max_age=0))
        return response

    @router.get("/lang")
    def switch_language(to: str = "zh", next: str | None = None) -> Response:
        response = RedirectResponse(safe_next(next), status_code=303)
        response.headers.append("Set-Cookie", sessions.cookie(
            LANG_COOKIE, to if to in LANGS else "zh", max_age=365 * 86400))
        return response

    @router.get("/stream-credential")
    def stream_credential(request: Request) -> Response:
        """A fresh credential for the overview's EventSource (the page's own expired)."""
        viewer = viewer_of(request)
        if not viewer.can("read:events"):
            return JSONResponse({"credential": None}, status_code=403)
        return JSONResponse(_credential(request, viewer), headers=BOARD_HEADERS)

    def _credential(request: Request, viewer: Viewer) -> dict[str, Any]:
        registry: Registry | None = request.app.state.registry
        if registry is None or viewer.token is None:
            return {"credential": None, "expires_at": None}
        credential, expires = registry.issue_credential(viewer.token,
                                                        request.app.state.credential_ttl)
        return {"credential": credential, "expires_at": expires}

    # -- 1. the town overview -----------------------------------------------------------
    def overview_context(viewer: Viewer) -> dict[str, Any]:
        return {"view": data.overview(ledger, cases=viewer.can("read:cases"), when=now()),
                "problem_types": data.PROBLEM_TYPES}

    @router.get("")
    @router.get("/")
    def overview(request: Request) -> Response:
        def build(viewer: Viewer) -> dict[str, Any]:
            with ledger.engine.connect() as conn:
                top = head(conn, ledger)
            return {**overview_context(viewer), "after": top,
                    "stream": _credential(request, viewer)}

        return page(request, "overview", "read:events", build, "overview.html")

    @router.get("/overview/live")
    def overview_live(request: Request) -> Response:
        return page(request, "overview", "read:events", overview_context,
                    "_overview_table.html")

    # -- 2. warnings --------------------------------------------------------------------
    @router.get("/warnings")
    def warnings(request: Request) -> Response:
        return page(request, "warnings", "read:cases",
                    lambda v: {"view": data.warnings(ledger, now())}, "warnings.html")

    # -- 3. cases -----------------------------------------------------------------------
    @router.get("/cases")
    def cases(request: Request) -> Response:
        filters = {k: request.query_params.get(k, "")
                   for k in (*data.CASE_FILTERS, "bucket", "overdue")}

        def build(viewer: Viewer) -> dict[str, Any] | Response:
            view = data.cases(ledger, now(), filters)
            if request.query_params.get("format") == "csv":
                return _cases_csv(view["cases"], viewer.lang)
            query = {k: v for k, v in filters.items() if v}
            return {"view": view, "filters": filters,
                    "csv_url": f"{PREFIX}/cases?{urlencode({**query, 'format': 'csv'})}"}

        return page(request, "cases", "read:cases", build, "cases.html")

    def _cases_csv(rows: list[dict[str, Any]], lang: str) -> Response:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = ("ref", "community", "channel", "problem_type", "status", "received_at",
                "age_days", "bucket", "due", "overdue", "days_overdue", "departments",
                "escalation", "location")
        w.writerow(cols)
        for r in rows:
            w.writerow([";".join(r[c]) if c == "departments" else
                        ("" if r.get(c) is None else r[c]) for c in cols])
        return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="cases.csv"'})

    @router.get("/cases/{ref}")
    def case(request: Request, ref: str) -> Response:
        def build(viewer: Viewer) -> dict[str, Any]:
            if not data.CASE_REF.match(ref):
                raise PageNotFoundError(_("{ref!r} is not a case reference").format(ref=ref[:60]))
            view = data.case_page(ledger, ref)
            sealed = next((e["sealed"] for e in view["timeline"] if e["sealed"]), None)
            return {"view": view, "caller": reveal_once(viewer, sealed, "cases", ref)}

        return page(request, "cases", "read:cases", build, "case.html")

    @router.get("/proof/{position}")
    def proof(request: Request, position: int) -> Response:
        def build(viewer: Viewer) -> dict[str, Any] | Response:
            from ledger.integrity import sealer

            doc = sealer.inclusion_proof_document(ledger, position)
            if request.query_params.get("format") == "json":
                return Response(json.dumps(doc, ensure_ascii=False, indent=2),
                                media_type="application/json", headers={
                                    "Content-Disposition":
                                        f'attachment; filename="proof-{position}.json"'})
            return {"doc": doc, "position": position,
                    "doc_text": json.dumps(doc, ensure_ascii=False, indent=2)}

        return page(request, "integrity", "read:events", build, "proof.html")

    # -- 4. resolutions -----------------------------------------------------------------
    @router.get("/resolutions")
    def resolutions(request: Request) -> Response:
        return page(request, "resolutions", "read:events",
                    lambda v: {"view": data.resolutions(ledger, now())}, "resolutions.html")

    @router.get("/topics")
    def topics(request: Request) -> Response:
        return page(request, "topics", "read:events", lambda v: {"view": data.topics(ledger)},
                    "topics.html")

    @router.get("/topics/{ref}")
    def topic(request: Request, ref: str) -> Response:
        def build(viewer: Viewer) -> dict[str, Any]:
            if not data.MATTER_REF.match(ref):
                raise PageNotFoundError(_("{ref!r} is not a matter or topic reference").format(
                    ref=ref[:60]))
            view = data.topic_page(ledger, ref)
            raiser = reveal_once(viewer, view.pop("sealed_raiser"), "topics", ref)
            return {"view": view, "raiser": raiser}

        return page(request, "topics", "read:events", build, "topic.html")

    # -- 5. roster ----------------------------------------------------------------------
    @router.get("/roster")
    def roster(request: Request) -> Response:
        def build(viewer: Viewer) -> dict[str, Any]:
            communities = data.communities(ledger)
            code = request.query_params.get("community") or (communities[0]["code"]
                                                              if communities else "")
            day_text = request.query_params.get("date") or now().date().isoformat()
            try:
                day = date.fromisoformat(day_text)
            except ValueError:
                raise PageNotFoundError(_("{day!r} is not a date (YYYY-MM-DD)").format(
                    day=day_text[:20])) \
                    from None
            when = moment(datetime.combine(day, time(23, 59, 59)))
            view = ledger.roster(code, when) if code else None
            return {"communities": communities, "code": code, "day": day.isoformat(),
                    "view": view}

        return page(request, "roster", "read:events", build, "roster.html")

    # -- 6. appraisal -------------------------------------------------------------------
    @router.get("/appraisal")
    def appraisal(request: Request) -> Response:
        def build(viewer: Viewer) -> dict[str, Any]:
            return data.appraisal(ledger, viewer.lang, dict(request.query_params))

        return page(request, "appraisal", "read:events", build, "appraisal.html")

    @router.get("/appraisal/{year}.{fmt}")
    def appraisal_download(request: Request, year: int, fmt: str) -> Response:
        def build(viewer: Viewer) -> Response:
            kind = request.query_params.get("kind", "firms")
            headers, cells, title = data.appraisal_cells(ledger, viewer.lang, year, kind)
            name = f"appraisal-{year}-{kind}"
            if fmt == "csv":
                buf = io.StringIO()
                w = csv.writer(buf, lineterminator="\n")
                w.writerow(headers)
                w.writerows([["" if v is None else v for v in row] for row in cells])
                return Response("\ufeff" + buf.getvalue(), media_type="text/csv; charset=utf-8",
                                headers={"Content-Disposition":
                                         f'attachment; filename="{name}.csv"'})
            if fmt == "xlsx":
                return Response(xlsx(title, headers, cells), media_type=(
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
            raise PageNotFoundError(_("no download in format {fmt!r}: csv or xlsx").format(
                fmt=fmt[:10]))

        return page(request, "appraisal", "read:events", build, "error.html")

    # -- 7. firms and committees --------------------------------------------------------
    @router.get("/firms")
    def firms(request: Request) -> Response:
        return page(request, "firms", "read:events", lambda v: {"view": data.firms(ledger)},
                    "firms.html")

    # -- 8. integrity -------------------------------------------------------------------
    @router.get("/integrity")
    def integrity(request: Request) -> Response:
        def build(viewer: Viewer) -> dict[str, Any]:
            from ledger.integrity import sealer

            state = log_state(ledger)
            latest = sealer.latest_checkpoint(ledger)
            verifications.start(ledger, latest.size if latest else None)
            with verifications.lock:
                result = verifications.result
                running = verifications.running
            return {"state": state, "checkpoint": data.checkpoint_view(latest),
                    "verification": result, "running": running,
                    "personal_views": personal.views(ledger, 20)
                    if viewer.can("read:audit") else None}

        return page(request, "integrity", "read:events", build, "integrity.html")

    app.include_router(router)
    app.mount(f"{PREFIX}/static", StaticFiles(packages=[("ledger.web", "static")]),
              name="board-static")
