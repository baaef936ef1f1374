"""The feed's HTTP API in-process (FastAPI's TestClient), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.application import GovernanceLedger
from ledger.feed.app import create_app
from ledger.integrity import appendonly
from ledger.kernel.eventlog import iter_log
from tests.conftest import sunny_garden
from tests.feedkit import TestClient


@pytest.fixture
def client(ledger: GovernanceLedger) -> Iterator[TestClient]:
    sunny_garden(ledger)
    with TestClient(create_app(ledger), raise_server_exceptions=False) as c:
        yield c


def log_positions(ledger: GovernanceLedger) -> list[int]:
    with ledger.engine.connect() as conn:
        return [e.position for e in iter_log(conn, ledger.events_table, ledger.mapper)]


def read_all(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    after, events = 0, []
    while True:
        page = client.get("/events", params={"after": after, **params}).json()
        events += page["events"]
        assert page["next_after"] >= after
        after = page["next_after"]
        if not page["has_more"]:
            return events


def test_pages_followed_by_their_cursor_give_the_whole_log_in_order(
        client: TestClient, ledger: GovernanceLedger) -> None:
    events = read_all(client, limit=2)
    assert [e["position"] for e in events] == log_positions(ledger)
    first = events[0]
    assert first["schema"] == "ledger-event/1"
    assert first["type"] == "Town.Registered"
    assert first["envelope"]["command"] == "town.bootstrap"
    assert set(first) == {"schema", "position", "aggregate_id", "version", "type",
                          "recorded_at", "envelope", "data"}


def test_a_page_at_the_head_says_there_is_no_more(client: TestClient) -> None:
    page = client.get("/events", params={"after": 0, "limit": 1000}).json()
    assert page["schema"] == "ledger-event-page/1"
    assert page["has_more"] is False
    assert page["next_after"] == page["head"] == page["events"][-1]["position"]
    beyond = client.get("/events", params={"after": 10_000}).json()
    assert beyond["events"] == []
    assert beyond["next_after"] == 10_000


def test_pages_step_over_gaps_in_the_log(client: TestClient, ledger: GovernanceLedger) -> None:
    # A rolled-back insert on PostgreSQL leaves a hole in the ids; make one by hand (past
    # the append-only guard, which exists to stop exactly this).
    appendonly.remove(ledger.engine, [ledger.events_table.name])
    with ledger.engine.begin() as conn:
        conn.execute(sa.delete(ledger.events_table).where(ledger.events_table.c.id == 3))
    positions = [e["position"] for e in read_all(client, limit=2)]
    assert 3 not in positions
    assert positions == log_positions(ledger)


def test_type_filters_return_only_those_events_and_move_the_cursor_past_the_rest(
        client: TestClient) -> None:
    page = client.get("/events", params={"types": "Community.Registered"}).json()
    assert [e["type"] for e in page["events"]] == ["Community.Registered"]
    assert page["next_after"] == page["head"]
    both = read_all(client, types=["Community.PostAppointed", "Town.Registered"], limit=1)
    assert [e["type"] for e in both] == ["Town.Registered", "Community.PostAppointed",
                                         "Community.PostAppointed"]
    wildcard = read_all(client, types="Community.*")
    assert {e["type"] for e in wildcard} == {"Community.Registered", "Community.PostAppointed"}


def test_an_aggregate_filter_returns_that_aggregates_events(client: TestClient) -> None:
    events = read_all(client, aggregate="ZQ-001")
    assert [e["version"] for e in events] == [1, 2, 3]
    assert client.get("/events", params={"aggregate": "XX-404"}).status_code == 404


def test_query_endpoints_answer_like_the_cli(client: TestClient, ledger: GovernanceLedger,
                                            ) -> None:
    status = client.get("/status", params={"community": "ZQ-001"}).json()
    assert {p["post"] for p in status["communities"][0]["posts"]} == {
        "party_org.secretary@ZQ-001", "residents_committee.director@ZQ-001"}
    roster = client.get("/communities/ZQ-001/roster", params={"as_of": "2025-01-02"}).json()
    assert roster["posts"] == []
    assert roster["as_of"].startswith("2025-01-02T00:00:00+08:00")
    later = client.get("/communities/ZQ-001/roster", params={"as_of": "2025-02-01"}).json()
    assert len(later["posts"]) == 2
    history = client.get("/history/community:ZQ-001").json()
    assert history == [{"schema": "ledger-event/1", **e.public()}
                       for e in ledger.history("community:ZQ-001")]


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/history/XX-404", 404, "unknown_key"),
    ("/communities/XX-404/roster", 404, "unknown_community"),
    ("/status?community=XX-404", 404, "unknown_community"),
    ("/events?after=-1", 422, "invalid_parameter"),
    ("/events?limit=0", 422, "invalid_parameter"),
    ("/events?types=not-a-type", 422, "invalid_parameter"),
    ("/communities/ZQ-001/roster?as_of=1700000000", 422, "invalid_parameter"),
    ("/no/such/route", 404, "not_found"),
])
def test_errors_are_json_with_a_code(client: TestClient, path: str, status: int,
                                     code: str) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_writing_is_not_allowed(client: TestClient) -> None:
    response = client.post("/events", json={})
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_an_unexpected_error_answers_500_without_details(ledger: GovernanceLedger) -> None:
    app = create_app(ledger)

    def boom() -> None:
        raise RuntimeError("secret detail /etc/passwd")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal", "message": "internal error"}}
    assert "secret" not in response.text


def test_with_tokens_set_every_route_needs_one(ledger: GovernanceLedger,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_FEED_TOKENS", "alpha-token, beta-token")
    with TestClient(create_app(ledger), raise_server_exceptions=False) as c:
        for path in ("/events", "/health", "/openapi.json", "/docs", "/status"):
            response = c.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
        assert c.get("/events", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/events", headers={"Authorization": "alpha-token"}).status_code == 401
        for token in ("alpha-token", "beta-token"):
            ok = c.get("/events", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200


def test_the_openapi_document_names_every_route(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    assert {"/events", "/events/stream", "/health", "/status", "/communities/{code}/roster",
            "/history/{key}"} <= paths
    assert client.get("/docs").status_code == 200


def test_audit_endpoints_answer_like_the_cli(client: TestClient, ledger: GovernanceLedger,
                                            ) -> None:
    from ledger import audit

    decision = client.get("/audit/decision/ZQ-001@2").json()
    assert decision["actor"] == "P-0001"
    assert decision["event"]["type"] == "Community.PostAppointed"
    assert decision["authority_chain"][0]["post"] == "town.ledger_admin@ZQ"
    actions = client.get("/audit/actor/P-0001", params={"from": "2025-01-02"}).json()
    assert [a["command"] for a in actions] == ["community.register", "post.appoint",
                                               "post.appoint"]
    view = client.get("/history/ZQ-001/state",
                      params={"at": "2025-01-02T12:00", "view": "effective"}).json()
    expected = audit.as_of(ledger, "ZQ-001", datetime.fromisoformat("2025-01-02T12:00+08:00"),
                           effective=True)
    assert view["events"] == expected["events"]
    assert view["later_events"] == 2
    assert client.get("/audit/decision/9999").json()["error"]["code"] == "unknown_event"


def test_domain_query_routes_are_registered_and_answer(client: TestClient) -> None:
    assert client.get("/firms/credit-file").json() == []
    assert client.get("/firms/blacklist").json() == []
    assert client.get("/meetings", params={"community": "ZQ-001"}).json() == []
    assert client.get("/matters").json() == []
    resolutions = client.get("/resolutions", params={"as_of": "2025-06-01"}).json()
    assert resolutions["as_of"] == "2025-06-01"
    assert resolutions["items"] == []
    assert client.get("/firms/credit-file", params={"firm": "nonsense"}).status_code == 422
    assert client.get("/cases", params={"community": "ZQ-001"}).status_code == 200
    assert client.get("/warnings", params={"as_of": "2025-06-01"}).status_code == 200
    assert client.get("/warnings", params={"level": "purple"}).status_code == 422


def test_integrity_routes_serve_the_latest_checkpoint_and_proofs(
        client: TestClient, ledger: GovernanceLedger) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.integrity import sealer

    assert client.get("/checkpoints/latest").json()["error"]["code"] == "not_sealed"
    sealed = sealer.seal(ledger, key=Ed25519PrivateKey.generate()).checkpoint
    latest = client.get("/checkpoints/latest").json()
    assert latest == sealed.public()
    log = {"size": sealed.size, "root": latest["root"], "note": sealed.note,
           "verifier_key": sealed.verifier_key}
    inclusion = client.get("/proofs/inclusion", params={"event": "ZQ-001@2"}).json()
    assert inclusion == {**sealer.inclusion_proof_document(ledger, "ZQ-001@2"),
                         "latest_checkpoint": log}
    consistency = client.get("/proofs/consistency", params={"from": 2}).json()
    assert consistency == {**sealer.consistency_proof_document(ledger, 2),
                           "latest_checkpoint": log}
    beyond = client.get("/proofs/consistency", params={"from": 99})
    assert beyond.status_code == 404
    assert beyond.json()["error"]["code"] == "proof_unavailable"


def test_pages_are_the_same_plain_or_gzip_and_served_again_from_the_cache(
        client: TestClient, ledger: GovernanceLedger) -> None:
    """A full page is encoded once and kept by range; compressed or not, first time or
    again, its body is the same JSON, and a page at the head is never kept."""
    import gzip
    import json

    from ledger.feed.log import page_cache

    def get(after: int, encoding: str) -> tuple[dict[str, Any], str | None]:
        r = client.get("/events", params={"after": after, "limit": 3},
                       headers={"Accept-Encoding": encoding})
        assert r.status_code == 200
        raw = r.read() if hasattr(r, "read") else r.content
        if r.headers.get("content-encoding") == "gzip" and raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw), r.headers.get("content-encoding")

    plain, enc = get(0, "identity")
    assert enc is None and plain["has_more"] is True
    cache = page_cache(ledger)
    hits = cache.hits
    again, _ = get(0, "identity")
    zipped, enc = get(0, "gzip")
    zipped_again, _ = get(0, "gzip, br")
    assert enc == "gzip"
    assert plain == again == zipped == zipped_again
    assert cache.hits >= hits + 1  # (repeats within a second come from the response cache)
    assert (0, 3, (), None, False) in cache.deflated
    # The last page is read afresh each time (the head moves): it is not kept.
    head = plain["head"]
    last, _ = get(head - 1, "gzip")
    assert last["has_more"] is False
    assert (head - 1, 3, (), None, False) not in cache.entries


def test_a_client_that_ranks_brotli_first_gets_the_same_page_in_brotli(
        client: TestClient) -> None:
    """Brotli where the client asks for it (ranked above gzip, or alone); gzip on a tie (its
    kept blocks cost nothing more); nothing compressed when both are refused."""
    import json

    import brotli

    base = str(client.base_url)

    def get(encoding: str) -> tuple[bytes, str | None]:
        # A raw request: the body as it came over the wire, not decoded by the client.
        req = client.build_request("GET", f"{base}/events", params={"after": 0, "limit": 3},
                                   headers={"Accept-Encoding": encoding})
        r = client.send(req, stream=True)
        try:
            raw = b"".join(r.iter_raw())
        finally:
            r.close()
        assert r.status_code == 200 and r.headers["vary"] == "Accept-Encoding"
        return raw, r.headers.get("content-encoding")

    plain, enc = get("identity")
    assert enc is None
    page = json.loads(plain)
    for header in ("br", "gzip;q=0.5, br", "br;q=1, gzip;q=0.9, *;q=0.1", "*;q=0.2, br"):
        body, enc = get(header)
        assert enc == "br", header
        assert json.loads(brotli.decompress(body)) == page
        assert len(body) < len(plain)
    for header in ("gzip, deflate, br", "br, gzip", "*", "gzip;q=0.8, br;q=0.8",
                   "br;q=abc, gzip"):
        body, enc = get(header)
        assert enc == "gzip", header
        assert body[:2] == b"\x1f\x8b"
    for header in ("br;q=0, gzip;q=0", "deflate", "*;q=0", "zstd"):
        body, enc = get(header)
        assert enc is None, header
        assert json.loads(body) == page


def test_an_error_answers_in_the_language_the_request_accepts(client: TestClient) -> None:
    zh = client.get("/history/XX-404", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    en = client.get("/history/XX-404", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert zh.status_code == en.status_code == 404
    assert zh.json()["error"]["code"] == en.json()["error"]["code"] == "unknown_key"
    assert "XX-404" in zh.json()["error"]["message"] and "XX-404" in en.json()["error"]["message"]
    assert zh.json()["error"]["message"] != en.json()["error"]["message"]
    assert "没有" in zh.json()["error"]["message"]
    assert en.json()["error"]["message"].startswith("no aggregate has the key")


@pytest.mark.parametrize("header", [
    "x" * 8000, "zh;q=abc, en;q=", ";;;,,,", "fr-FR, de;q=0.9", "zh;q=NaN, en;q=1e9",
    "\u4e2d\u6587".encode(),  # raw UTF-8 bytes in a header
])
def test_a_hostile_accept_language_gets_an_answer_in_a_language_of_ours(
        client: TestClient, header: str | bytes) -> None:
    """Whatever a client sends as Accept-Language, the answer comes, in Chinese or English."""
    answer = client.get("/history/XX-404", headers={"Accept-Language": header})
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "unknown_key" and "XX-404" in error["message"]
    assert error["message"].startswith("no aggregate") or "没有" in error["message"]
