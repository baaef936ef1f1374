"""The hotline's front door: Open311 GeoReport v2 under ``/open311/v2/`` (docs/open311.md).

Implemented: GeoReport v2 as frozen (the open311 wiki's GeoReport_v2 page), with the
GeoReport Bulk draft's ``source`` and ``status_description`` in a CSV export. Services are
our problem types; a service request is a case. ``POST requests`` turns a registered hotline
system's report into a ``case.receive`` command on the hotline channel, signed server-side
with that system's registered intake key, and records it through
:meth:`GovernanceLedger.execute` like every other command.

Handlers parse their own parameters so that every refusal, whatever its cause, is the
spec's error list ``[{"code": 400, "description": "…"}]`` (``<errors>`` in XML).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from fastapi import FastAPI, Path, Request
from fastapi.responses import Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ledger.application import GovernanceLedger
from ledger.commands.cases import ProblemType, Stage
from ledger.feed.guard import error_response
from ledger.feed.tokens import Intake, Token
from ledger.kernel.errors import AlreadyExistsError, LedgerError

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-07T00:00:00Z"
#: Most ids or codes one ``GET requests`` may list (more: 422).
MAX_LIST = 100
#: Most requests one ``GET requests`` answers (the spec's suggested page).
MAX_RESULTS = 1000
#: The window ``GET requests`` covers when no date is given (the spec's default).
DEFAULT_DAYS = 90
MAX_BODY = 16 * 1024

SERVICES: dict[str, tuple[str, str, str]] = {
    "illegal_construction": ("违法建筑", "违法搭建、擅自改建扩建（违建）", "违建,搭建,违法建筑"),
    "group_renting": ("群租", "群租、隔断出租、超员居住", "群租,隔断,出租"),
    "unlicensed_business": ("无证经营", "无照无证经营、占道经营", "无证,无照,经营,摊贩"),
    "other": ("其他", "其他社区治理问题", "其他"),
}
STAGES = {"source_control": "源头管控", "classified_management": "分类管理",
          "consolidation": "巩固提升"}
FINISHED = frozenset({"rejected", "closed", "called_back", "merged"})

assert set(SERVICES) == set(get_args(ProblemType)), "every problem type is a service"
assert set(STAGES) == set(get_args(Stage))


class Open311Error(Exception):
    """Raised in an Open311 handler to answer with the spec's error format."""

    def __init__(self, status: int, description: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.headers = headers or {}


# ------------------------------------------------------------------------------ rendering
def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else escape(str(value))


def _xml(root: str, item: str, rows: list[dict[str, Any]]) -> str:
    def element(name: str, value: Any) -> str:
        if isinstance(value, list):
            child = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
                     "formats": "format"}.get(name, "item")
            inner = "".join(element(child, v) for v in value)
            return f"<{name}>{inner}</{name}>"
        if isinstance(value, dict):
            return f"<{name}>{''.join(element(k, v) for k, v in value.items())}</{name}>"
        return f"<{name}>{_xml_value(value)}</{name}>"

    body = "".join(element(item, r) for r in rows) if item else "".join(
        element(k, v) for k, v in rows[0].items())
    return f'<?xml version="1.0" encoding="utf-8"?>\n<{root}>{body}</{root}>'


def _answer(fmt: str, root: str, item: str, rows: list[dict[str, Any]],
            status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, rows), status_code=status,
                        media_type="text/xml; charset=utf-8")
    data: Any = rows if item else rows[0]
    return Response(json.dumps(data, ensure_ascii=False), status_code=status,
                    media_type="application/json; charset=utf-8")


Fmt = Annotated[Literal["json", "xml"], Path(description="json or xml, as the spec gives it")]

_ERROR_SCHEMA = {"type": "array", "items": {
    "type": "object", "required": ["code", "description"],
    "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}
_XML = {"text/xml": {"schema": {"type": "string"}}}


def _responses(status: int, schema: dict[str, Any], *, csv_body: bool = False,
               ) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses of an Open311 route: its answer, and the spec's error list for
    every refusal (JSON, or XML for ``.xml``)."""
    ok: dict[str, Any] = ({"text/csv": {"schema": {"type": "string"}}} if csv_body else
                          {"application/json": {"schema": schema}, **_XML})
    out: dict[int | str, dict[str, Any]] = {status: {"description": "as GeoReport v2 gives it",
                                                     "content": ok}}
    for code, what in ((400, "Invalid parameter"), (401, "No api_key or bearer token"),
                       (403, "api_key without the scope"), (404, "Not found"),
                       (413, "Body too large"), (422, "Over-long list"),
                       (429, "Over the token's rate"), (503, "Too many requests at once")):
        out[code] = {"description": what + " (GeoReport v2 error list)",
                     "content": {"application/json": {"schema": _ERROR_SCHEMA}, **_XML}}
    return out


_OBJECT: dict[str, Any] = {"type": "object"}
_LIST: dict[str, Any] = {"type": "array", "items": {"type": "object"}}


# ------------------------------------------------------------------------------ data
def _iso(text: str | None) -> str | None:
    """A stored time as W3C date-time with its offset (the spec requires the zone)."""
    if not text:
        return None
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.isoformat(timespec="seconds")


def _communities(ledger: GovernanceLedger) -> list[tuple[str, str]]:
    from ledger.projections.status import communities

    ledger.catch_up("status")
    with ledger.engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(
            select(communities.c.code, communities.c.name).order_by(communities.c.code))]


def _requests(ledger: GovernanceLedger, *, ids: list[str] | None = None,
              codes: list[str] | None = None, statuses: list[str] | None = None,
              start: datetime | None = None, end: datetime | None = None,
              limit: int | None = MAX_RESULTS) -> list[dict[str, Any]]:
    """Cases as GeoReport v2 service requests (with the Bulk draft's fields)."""
    from ledger.projections.cases import cases
    from ledger.projections.status import communities

    ledger.catch_up("cases")
    ledger.catch_up("status")
    q = (select(cases, communities.c.name.label("community_name"))
         .join(communities, communities.c.code == cases.c.community, isouter=True)
         .order_by(cases.c.received_at.desc(), cases.c.ref.desc()))
    if ids:
        q = q.where(cases.c.ref.in_(ids))
    if codes:
        q = q.where(cases.c.problem_type.in_(codes))
    if statuses == ["open"]:
        q = q.where(cases.c.status.not_in(FINISHED))
    elif statuses == ["closed"]:
        q = q.where(cases.c.status.in_(FINISHED))
    rows = []
    with ledger.engine.connect() as conn:
        for r in conn.execute(q):
            m = r._mapping
            received = datetime.fromisoformat(m["received_at"])
            if received.tzinfo is None:
                received = received.replace(tzinfo=UTC)
            if (start and received < start) or (end and received > end):
                continue
            rows.append(_request(dict(m)))
            if limit is not None and len(rows) >= limit:
                break
    return rows


def _request(m: Mapping[str, Any]) -> dict[str, Any]:
    closed = m["status"] in FINISHED
    departments = json.loads(m["departments"] or "[]")
    name, _description, _keywords = SERVICES.get(m["problem_type"], (m["problem_type"], "", ""))
    address = "，".join(x for x in (m["location"], m["community_name"] or m["community"]) if x)
    return {
        "service_request_id": m["ref"],
        "status": "closed" if closed else "open",
        "status_description": m["status"],
        "status_notes": None,
        "service_name": name,
        "service_code": m["problem_type"],
        "description": m["description"],
        "agency_responsible": ",".join(departments) or None,
        "service_notice": None,
        "requested_datetime": _iso(m["received_at"]),
        "updated_datetime": _iso(m["status_since"]),
        "expected_datetime": (f"{m['due']}T23:59:59+08:00" if m["due"] and not closed
                              else None),
        "address": address,
        "address_id": m["community"],
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
        "source": m["channel"],
    }


SPEC_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code",
               "description", "agency_responsible", "service_notice", "requested_datetime",
               "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
               "lat", "long", "media_url")
#: GeoReport Bulk draft columns, in its order.
BULK_FIELDS = ("service_request_id", "requested_datetime", "updated_datetime", "closed_date",
               "status_description", "status_notes", "source", "service_name",
               "service_subtype", "description", "agency_responsible", "address", "lat",
               "long")


def _v2(row: dict[str, Any]) -> dict[str, Any]:
    """A request as GeoReport v2 lists it, plus ``status_description`` (Bulk draft)."""
    out = {k: row[k] for k in SPEC_FIELDS}
    out["status_description"] = row["status_description"]
    return out


# ------------------------------------------------------------------------------ parameters
def _list(params: Mapping[str, str], name: str) -> list[str] | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    items = [x.strip() for x in raw.split(",") if x.strip()]
    if len(items) > MAX_LIST:
        raise Open311Error(422, f"{name}: at most {MAX_LIST} values per request")
    if any(len(x) > 64 for x in items):
        raise Open311Error(400, f"{name}: a value is longer than 64 characters")
    return items


def _date(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name}: not a W3C date-time (e.g. 2026-12-01T00:00:00Z)"
                           ) from None
    if when.tzinfo is None:
        raise Open311Error(400, f"{name}: give the time zone (Z or +08:00)")
    return when


# ------------------------------------------------------------------------------ intake
class IntakeDesk:
    """The server side of a hotline system's reports: allocates case references and signs
    each ``case.receive`` with the hotline's registered intake key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}

    def key(self, intake: Intake) -> Any:
        from ledger.integrity.checkpoint import load_private_key

        if intake.key_file not in self._keys:
            self._keys[intake.key_file] = load_private_key(intake.key_file)
        return self._keys[intake.key_file]

    def _next_ref(self, ledger: GovernanceLedger, town: str, year: int) -> str:
        from ledger.projections.cases import cases

        ledger.catch_up("cases")
        prefix = f"{town}-{year}-"
        with ledger.engine.connect() as conn:
            top = conn.execute(select(cases.c.ref).where(cases.c.ref.like(prefix + "%"))
                               .order_by(cases.c.ref.desc()).limit(1)).scalar()
        number = int(top.rsplit("-", 1)[1]) + 1 if top else 1
        return f"{prefix}{number:06d}"

    def receive(self, ledger: GovernanceLedger, token: Token,
                form: Mapping[str, str]) -> dict[str, Any]:
        """Record one report as a case; the service request id and notice."""
        from ledger.integrity import dsse

        intake = token.intake
        if intake is None:
            raise Open311Error(403, f"api_key {token.id} is not a registered hotline system "
                               "(it has no intake identity); nothing was recorded")
        code = form.get("service_code", "").strip()
        if code not in SERVICES:
            raise Open311Error(400, f"service_code {code[:40]!r} is not a service: see "
                               "services.json")
        community = (form.get("attribute[community]") or "").strip()
        if not community:
            raise Open311Error(400, "attribute[community] is required (see services/"
                               f"{code}.json for the list)")
        location = (form.get("attribute[location]") or form.get("address_string") or "").strip()
        description = (form.get("description") or "").strip()
        if not description:
            raise Open311Error(400, "description is required")
        stage = (form.get("attribute[stage]") or "classified_management").strip()
        name = " ".join(x for x in (form.get("last_name", "").strip(),
                                    form.get("first_name", "").strip()) if x)
        caller: dict[str, str] = {}
        if name:
            caller["name"] = name
        if form.get("phone", "").strip():
            caller["phone"] = form["phone"].strip()
        account = form.get("account_id", "").strip()
        if caller and account:
            caller["subject"] = f"hotline-{account}"[:64]
        call_id = (form.get("attribute[call_id]") or "").strip()
        town = intake.post.rsplit("@", 1)[-1].split("-", 1)[0]
        command_id = (f"open311-{token.id}-{call_id}"[:128] if call_id
                      else f"open311-{uuid.uuid4()}")
        with self._lock:
            prior = _prior_case(ledger, command_id) if call_id else None
            if prior is not None:
                return {"service_request_id": prior, "service_notice": "已受理（重复提交）",
                        "account_id": account or None}
            for attempt in range(5):
                ref = self._next_ref(ledger, town, datetime.now(UTC).year)
                command: dict[str, Any] = {
                    "command_id": command_id, "type": "case.receive", "actor": intake.person,
                    "post": intake.post, "basis": f"open311:{token.id}", "ref": ref,
                    "community": community, "channel": intake.channel, "problem_type": code,
                    "stage": stage, "location": location[:4000],
                    "description": description[:4000]}
                if caller:
                    command["caller"] = caller
                body = json.dumps(command, ensure_ascii=False, separators=(",", ":")).encode()
                envelope = dsse.sign_command(self.key(intake), body)
                try:
                    result = ledger.execute(envelope, channel="open311")
                except AlreadyExistsError:
                    if attempt == 4:
                        raise
                    continue  # another writer took the reference: take the next one
                return {"service_request_id": result.detail.get("case", ref),
                        "service_notice": "已受理，由镇网格化中心分派",
                        "account_id": account or None}
        raise AssertionError("unreachable")  # pragma: no cover


def _prior_case(ledger: GovernanceLedger, command_id: str) -> str | None:
    from ledger.kernel.store import command_log

    with ledger.engine.connect() as conn:
        stored = conn.execute(select(command_log.c.result)
                              .where(command_log.c.command_id == command_id)).scalar()
    if stored is None:
        return None
    case: str | None = json.loads(stored).get("result", {}).get("detail", {}).get("case")
    return case


# ------------------------------------------------------------------------------ routes
def _error(request: Request, status: int, description: str,
           headers: dict[str, str] | None = None) -> Response:
    body, ctype = error_response(request.url.path, status, "open311", description)
    return Response(body, status_code=status, media_type=ctype.decode(), headers=headers)


def _status(e: LedgerError) -> int:
    return e.http_status if 400 <= e.http_status < 500 else 400


async def _form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise Open311Error(400, "POST requests takes application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Open311Error(413, f"the request body is larger than {MAX_BODY} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                          max_num_fields=60)
    except (UnicodeDecodeError, ValueError):
        raise Open311Error(400, "the body is not UTF-8 form data (at most 60 fields)") from None
    return dict(pairs)


def open311_routes(app: FastAPI) -> None:
    """Add the GeoReport v2 routes under ``/open311/v2``."""
    desk = IntakeDesk()
    tags: list[str | Enum] = ["open311"]

    @app.exception_handler(Open311Error)
    async def open311_error(request: Request, exc: Open311Error) -> Response:
        return _error(request, exc.status, exc.description, exc.headers)

    @app.get("/open311/v2/discovery.{fmt}", tags=tags, responses=_responses(200, _OBJECT),
             summary="GeoReport v2 service discovery")
    def discovery(request: Request, fmt: Fmt) -> Response:
        base = str(request.base_url).rstrip("/") + "/open311/v2/"
        doc = {"changeset": CHANGESET, "contact": "颛桥镇网格化综合管理中心",
               "key_service": "api_key: issued by the ledger administrator (docs/open311.md)",
               "endpoints": [{"specification": SPEC, "url": base, "changeset": CHANGESET,
                              "type": "production",
                              "formats": ["text/xml", "application/json"]}]}
        return _answer(fmt, "discovery", "", [doc])

    @app.get("/open311/v2/services.{fmt}", tags=tags, responses=_responses(200, _LIST),
             summary="GeoReport v2 service list: our problem types")
    def services(fmt: Fmt) -> Response:
        rows = [{"service_code": code, "service_name": name, "description": text,
                 "metadata": True, "type": "realtime", "keywords": keywords,
                 "group": "社区治理"} for code, (name, text, keywords) in SERVICES.items()]
        return _answer(fmt, "services", "service", rows)

    @app.get("/open311/v2/services/{code}.{fmt}", tags=tags,
             responses=_responses(200, _OBJECT),
             summary="GeoReport v2 service definition: the community, location and stage")
    def service_definition(request: Request,
                           code: Annotated[str, Path(max_length=64, examples=list(SERVICES))],
                           fmt: Fmt) -> Response:
        if code not in SERVICES:
            raise Open311Error(404, f"service_code {code[:40]!r} not found")
        ledger: GovernanceLedger = request.app.state.ledger
        attributes = [
            {"variable": True, "code": "community", "datatype": "singlevaluelist",
             "required": True, "datatype_description": "社区代码", "order": 1,
             "description": "所在社区", "values": [
                 {"key": c, "name": n} for c, n in _communities(ledger)]},
            {"variable": True, "code": "location", "datatype": "string", "required": False,
             "datatype_description": "门牌号、楼栋或地标（亦可用 address_string）", "order": 2,
             "description": "具体位置"},
            {"variable": True, "code": "stage", "datatype": "singlevaluelist",
             "required": False, "datatype_description": "默认 classified_management",
             "order": 3, "description": "治理阶段",
             "values": [{"key": k, "name": v} for k, v in STAGES.items()]},
            {"variable": True, "code": "call_id", "datatype": "string", "required": False,
             "datatype_description": "热线工单号：同一工单号重复提交只受理一次", "order": 4,
             "description": "热线工单号"},
        ]
        return _answer(fmt, "service_definition", "",
                       [{"service_code": code, "attributes": attributes}])

    @app.post("/open311/v2/requests.{fmt}", tags=tags, status_code=201,
              responses=_responses(201, _LIST),
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/x-www-form-urlencoded": {"schema": {
                      "type": "object", "required": ["api_key", "service_code"],
                      "properties": {k: {"type": "string"} for k in (
                          "api_key", "service_code", "attribute[community]",
                          "attribute[location]", "attribute[stage]", "attribute[call_id]",
                          "address_string", "description", "first_name", "last_name",
                          "phone", "email", "account_id", "device_id")}}}}}},
              summary="GeoReport v2: a hotline system reports a case (api_key)")
    async def post_request(request: Request, fmt: Fmt) -> Response:
        """Form fields as the spec gives them (``api_key``, ``service_code``,
        ``attribute[community]``, ``attribute[location]`` or ``address_string``,
        ``description``, ``first_name``, ``last_name``, ``phone``); see docs/open311.md."""
        ledger: GovernanceLedger = request.app.state.ledger
        registry = request.app.state.registry
        form = await _form(request)
        token: Token | None = request.scope.get("ledger.token")
        if registry is not None:
            if token is None and form.get("api_key"):
                token = registry.find(form["api_key"])
                if token is not None:
                    request.scope["ledger.token"] = token
                    # the gate could not see this key: its rate is checked here
                    wait = request.app.state.limiter.take(token, time.monotonic())
                    if wait > 0:
                        raise Open311Error(429, f"api_key {token.id} is over its rate of "
                                           f"{token.rate:g} requests a second",
                                           {"Retry-After": str(max(1, round(wait)))})
            if token is None:
                raise Open311Error(403, "api_key missing or not valid; nothing was recorded")
            if not token.allows(frozenset({"write:intake"})):
                raise Open311Error(403, f"api_key {token.id} lacks the write:intake scope")
        elif token is None:
            raise Open311Error(403, "no hotline system is registered (the server runs without "
                               "tokens): nothing can be reported")
        try:
            answer = await run_in_threadpool(desk.receive, ledger, token, form)
        except LedgerError as e:
            raise Open311Error(_status(e), f"{e.code}: {e}") from None
        return _answer(fmt, "service_requests", "request", [answer], status=201)

    def _query(request: Request) -> dict[str, Any]:
        params = request.query_params
        if len(params.multi_items()) > 20:
            raise Open311Error(422, "too many parameters")
        statuses = _list(params, "status")
        if statuses and not set(statuses) <= {"open", "closed"}:
            raise Open311Error(400, "status: open, closed or both")
        ids = _list(params, "service_request_id")
        start, end = _date(params, "start_date"), _date(params, "end_date")
        if ids is None and start is None and end is None:
            start = datetime.now(UTC) - timedelta(days=DEFAULT_DAYS)
        return {"ids": ids, "codes": _list(params, "service_code"),
                "statuses": None if statuses is None or len(set(statuses)) == 2 else statuses,
                "start": start, "end": end}

    @app.get("/open311/v2/requests.{fmt}", tags=tags, responses=_responses(200, _LIST),
             summary="GeoReport v2: service requests (cases), with the spec's filters")
    def get_requests(request: Request, fmt: Fmt) -> Response:
        """``service_request_id``, ``service_code``, ``status`` (comma lists, at most 100),
        ``start_date``, ``end_date``; the last 90 days when no date or id is given; at most
        1,000, newest first."""
        rows = _requests(request.app.state.ledger, **_query(request))
        return _answer(fmt, "service_requests", "request", [_v2(r) for r in rows])

    @app.get("/open311/v2/requests/{ref}.{fmt}", tags=tags, responses=_responses(200, _LIST),
             summary="GeoReport v2: one service request (case)")
    def get_request(request: Request,
                    ref: Annotated[str, Path(max_length=64, examples=["ZQ-2025-000001"])],
                    fmt: Fmt) -> Response:
        rows = _requests(request.app.state.ledger, ids=[ref[:64]], limit=1)
        if not rows:
            raise Open311Error(404, f"service_request_id {ref[:64]!r} not found")
        return _answer(fmt, "service_requests", "request", [_v2(r) for r in rows])

    @app.get("/open311/v2/bulk/requests.csv", tags=tags,
             responses=_responses(200, _OBJECT, csv_body=True),
             summary="GeoReport Bulk (draft): every matching request as CSV")
    def bulk(request: Request) -> Response:
        """The Bulk draft's columns, ``source`` (our channel) and ``status_description`` (our
        detailed state) included; the filters of ``GET requests``, without its 1,000 cap."""
        query = _query(request)
        rows = _requests(request.app.state.ledger, **query, limit=None)
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
        writer.writerow(BULK_FIELDS)
        for r in rows:
            closed = r["updated_datetime"] if r["status"] == "closed" else None
            writer.writerow(["" if v is None else v for v in (
                r["service_request_id"], r["requested_datetime"], r["updated_datetime"],
                closed, r["status_description"], r["status_notes"], r["source"],
                r["service_name"], None, r["description"], r["agency_responsible"],
                r["address"], r["lat"], r["long"])])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="requests.csv"'})
