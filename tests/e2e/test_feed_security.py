"""The feed as a service on the open network, over loopback with a real ``ledger serve``:
scoped tokens, startup checks, security headers, CORS, the access log, rate limits, the
concurrency bound, browser stream credentials and over-long filter lists."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from ledger.application import GovernanceLedger
from tests.conftest import ADMIN, store_snapshot, sunny_garden
from tests.feedkit import PYTHON, serve, subprocess_env

TOKENS = ("credit:credit-secret-1:read:events,"
          "board:board-secret-1:read:cases,"
          "auditor:auditor-secret-1:read:audit,"
          "clerk:clerk-secret-1:write:commands,"
          "ops:ops-secret-1:admin")


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def town(sqlite_url: str) -> Iterator[GovernanceLedger]:
    led = GovernanceLedger(sqlite_url)
    sunny_garden(led)
    yield led
    led.close()


def run_serve(db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "ledger", "--db", db_url, "serve", "--port", "0", *args],
                          env=subprocess_env(**env), capture_output=True, text=True, timeout=30,
                          check=False)


@pytest.mark.parametrize(("tokens", "says"), [
    (" , ", "holds no token"),
    ("", "holds no token"),
    ("credit:credit-secret-1:read:everything", "unknown scope"),
    ("credit:credit-secret-1:read:events,", "entry 2 is empty"),
])
def test_a_blank_or_malformed_token_list_stops_serve(town: GovernanceLedger, sqlite_url: str,
                                                    tokens: str, says: str) -> None:
    done = run_serve(sqlite_url, LEDGER_FEED_TOKENS=tokens)
    assert done.returncode == 1
    assert says in done.stderr and "Error:" in done.stderr
    assert "credit-secret-1" not in done.stderr


def test_a_hotline_token_whose_intake_key_is_unreadable_stops_serve(
        town: GovernanceLedger, sqlite_url: str, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[tokens.hotline]\nsecret = "hotline-secret-1"\nscopes = ["write:intake"]\n'
                      '[tokens.hotline.intake]\nperson = "HL-12345"\n'
                      'post = "town.peace_office.staff@ZQ"\nkey_file = "missing.key"\n')
    done = run_serve(sqlite_url, "--tokens-file", str(tokens))
    assert done.returncode == 1 and "missing.key does not exist" in done.stderr


def test_startup_says_whether_authentication_is_on(town: GovernanceLedger, sqlite_url: str,
                                                   tmp_path: Path) -> None:
    off, on, legacy = tmp_path / "off.log", tmp_path / "on.log", tmp_path / "legacy.log"
    with serve(sqlite_url, stderr_path=off, LEDGER_LANG="en"):
        pass
    assert "authentication: OFF" in off.read_text()
    with serve(sqlite_url, stderr_path=on, LEDGER_FEED_TOKENS=TOKENS, LEDGER_LANG="en"):
        pass
    text = on.read_text()
    assert "authentication: on, 5 token(s): credit [read:events]; board [read:cases]" in text
    assert "credit-secret-1" not in text
    # The bare secrets of the format before scopes still work, as admin, with a warning.
    with serve(sqlite_url, stderr_path=legacy, LEDGER_FEED_TOKENS="old-plain-token") as url:
        assert httpx.get(f"{url}/cases", headers=bearer("old-plain-token")).status_code == 200
    assert "token legacy-1 is a bare secret" in legacy.read_text()


def test_each_token_reaches_only_the_routes_its_scopes_allow(town: GovernanceLedger,
                                                            sqlite_url: str) -> None:
    routes = {"/events": "credit", "/events/stream?after=0": None, "/checkpoints/latest": None,
              "/communities/ZQ-001/roster": "credit", "/cases": "board", "/warnings": "board",
              "/open311/v2/requests.json": "board", "/audit/actor/P-0001": "auditor",
              "/history/ZQ-001": "auditor"}
    needs = {"/events": "credit", "/communities/ZQ-001/roster": "credit", "/cases": "board",
             "/warnings": "board", "/open311/v2/requests.json": "board",
             "/audit/actor/P-0001": "auditor", "/history/ZQ-001": "auditor"}
    before = store_snapshot(town)
    with serve(sqlite_url, LEDGER_FEED_TOKENS=TOKENS) as url, httpx.Client(base_url=url,
                                                                           timeout=10) as c:
        for path, owner in needs.items():
            for who in ("credit", "board", "auditor", "clerk", "ops"):
                r = c.get(path, headers=bearer(f"{who}-secret-1"))
                allowed = who in (owner, "ops")
                assert r.status_code == (200 if allowed else 403), (path, who, r.text)
                if not allowed:
                    if path.startswith("/open311/"):
                        assert r.json() == [{"code": 403, "description": r.json()[0]
                                             ["description"]}]
                        assert "read:cases" in r.json()[0]["description"]
                    else:
                        assert r.json()["error"]["code"] == "insufficient_scope"
            assert c.get(path).status_code == 401
        assert set(routes) >= set(needs)
        # Writing needs write:commands: a reader's token is refused before the body is read.
        r = c.post("/commands", content=b"{}", headers=bearer("credit-secret-1"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_scope"
        # Any valid token reads /health and the OpenAPI document.
        for who in ("credit", "board", "clerk"):
            assert c.get("/health", headers=bearer(f"{who}-secret-1")).status_code == 200
            assert c.get("/openapi.json", headers=bearer(f"{who}-secret-1")).status_code == 200
        # An unknown path needs admin (it answers 404 only to admin).
        assert c.get("/nowhere", headers=bearer("credit-secret-1")).status_code == 403
        assert c.get("/nowhere", headers=bearer("ops-secret-1")).status_code == 404
    assert store_snapshot(town) == before


def test_every_response_carries_security_headers_and_no_cors_unless_configured(
        town: GovernanceLedger, sqlite_url: str) -> None:
    origin = "https://ops.zhuanqiao.example"
    with serve(sqlite_url, LEDGER_FEED_TOKENS=TOKENS) as url, httpx.Client(base_url=url) as c:
        answers = [c.get("/events", headers=bearer("credit-secret-1")),   # 200
                   c.get("/events"),                                       # 401
                   c.get("/cases", headers=bearer("credit-secret-1")),     # 403
                   c.get("/nowhere", headers=bearer("ops-secret-1")),      # 404
                   c.get("/events?after=-1", headers=bearer("credit-secret-1"))]  # 422
        assert [r.status_code for r in answers] == [200, 401, 403, 404, 422]
        for r in answers:
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert r.headers["cache-control"] == "no-store"
            assert "strict-transport-security" not in r.headers  # plain HTTP: no HSTS
            assert "access-control-allow-origin" not in r.headers
        cross = c.get("/events", headers={**bearer("credit-secret-1"), "Origin": origin})
        assert "access-control-allow-origin" not in cross.headers
        preflight = c.options("/events", headers={"Origin": origin,
                                                  "Access-Control-Request-Method": "GET"})
        assert "access-control-allow-origin" not in preflight.headers
    with serve(sqlite_url, args=["--cors-origin", origin], LEDGER_FEED_TOKENS=TOKENS) as url, \
            httpx.Client(base_url=url) as c:
        cross = c.get("/events", headers={**bearer("credit-secret-1"), "Origin": origin})
        assert cross.headers["access-control-allow-origin"] == origin
        other = c.get("/events", headers={**bearer("credit-secret-1"),
                                          "Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = c.options("/events", headers={"Origin": origin,
                                                  "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin


def test_the_access_log_names_route_status_duration_and_token_id_never_the_secret(
        town: GovernanceLedger, sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serve(sqlite_url, stderr_path=log, LEDGER_FEED_TOKENS=TOKENS) as url, \
            httpx.Client(base_url=url) as c:
        c.get("/history/ZQ-001", headers=bearer("auditor-secret-1"))
        c.get("/events?types=Community.PostAppointed&after=0", headers=bearer("credit-secret-1"))
        c.get("/cases", headers=bearer("credit-secret-1"))
        c.get("/events", headers=bearer("not-a-token-at-all"))
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    access = [x for x in lines if x.get("event") == "http.access" and x["route"] != "/health"]
    assert [(x["method"], x["route"], x["status"], x["token"]) for x in access] == [
        ("GET", "/history/{key}", 200, "auditor"),
        ("GET", "/events", 200, "credit"),
        ("GET", "/cases", 403, "credit"),
        ("GET", "/events", 401, None)]
    assert all(isinstance(x["duration_ms"], float) and x["timestamp"] for x in access)
    text = log.read_text()
    for secret in ("auditor-secret-1", "credit-secret-1", "not-a-token-at-all"):
        assert secret not in text
    assert "ZQ-001" not in text and "Community.PostAppointed" not in text  # no paths, no queries


def test_each_token_has_a_rate_limit(town: GovernanceLedger, sqlite_url: str) -> None:
    with serve(sqlite_url, args=["--rate-limit", "2"], LEDGER_FEED_TOKENS=TOKENS) as url, \
            httpx.Client(base_url=url) as c:
        time.sleep(1.5)  # the startup probe's requests are paid back
        answers = [c.get("/events?limit=1", headers=bearer("credit-secret-1"))
                   for _ in range(10)]
        codes = [r.status_code for r in answers]
        assert codes.count(200) in (4, 5) and codes[:4] == [200] * 4, codes  # a burst of 2 s
        limited = answers[-1]
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # Another token has its own bucket.
        assert c.get("/cases", headers=bearer("board-secret-1")).status_code == 200
        time.sleep(1.1)
        assert c.get("/events?limit=1", headers=bearer("credit-secret-1")).status_code == 200


def test_beyond_the_concurrency_bound_requests_get_503_with_retry_after(
        town: GovernanceLedger, sqlite_url: str) -> None:
    with serve(sqlite_url, heartbeat=15, args=["--max-concurrent", "3"]) as url, ExitStack() as stack:
        client = stack.enter_context(httpx.Client(base_url=url, timeout=10))
        streams = [stack.enter_context(client.stream("GET", "/events/stream")) for _ in range(3)]
        assert all(s.status_code == 200 for s in streams)
        busy = httpx.get(f"{url}/health", timeout=10)
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == "1"
        assert busy.json()["error"]["code"] == "busy"
        for s in streams:
            s.close()
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_a_browser_follows_the_stream_with_a_short_lived_credential(
        town: GovernanceLedger, sqlite_url: str) -> None:
    with serve(sqlite_url, LEDGER_FEED_TOKENS=TOKENS) as url, httpx.Client(base_url=url,
                                                                           timeout=10) as c:
        issued = c.post("/events/stream-credentials?ttl=60", headers=bearer("credit-secret-1"))
        assert issued.status_code == 200, issued.text
        credential = issued.json()["credential"]
        assert 55 <= issued.json()["expires_at"] - time.time() <= 61
        # An EventSource sends no header: the credential goes in the URL, for the stream only.
        with c.stream("GET", f"/events/stream?after=0&access_token={credential}") as s:
            assert s.status_code == 200
            seen = ""
            for chunk in s.iter_text():
                seen += chunk
                if "Community.PostAppointed" in seen:
                    break
        assert c.get(f"/events?access_token={credential}").status_code == 401
        assert c.get(f"/events/stream?access_token={credential[:-3]}abc").status_code == 401
        # Only a token that may read the events gets one.
        refused = c.post("/events/stream-credentials", headers=bearer("board-secret-1"))
        assert refused.status_code == 403


@pytest.mark.parametrize("count", [101, 1000, 3000])
def test_over_long_filter_lists_get_422_never_500(town: GovernanceLedger, sqlite_url: str,
                                                  count: int) -> None:
    names = [f"Community.T{n}" for n in range(count)]
    types = ",".join(names)
    started = time.monotonic()
    with serve(sqlite_url) as url, httpx.Client(base_url=url, timeout=10) as c:
        for path in ("/events", "/events/stream"):
            chunks = [types[i:i + 390].strip(",") for i in range(0, len(types), 390)]
            for params in ({"types": types}, [("types", x) for x in chunks[:20]]):
                r = c.get(path, params=params)
                if len(str(r.url)) > 32 * 1024 and r.status_code == 400:
                    # over the server's limit on a request line still arriving: refused
                    # by the connection layer, with a JSON body too
                    assert r.json()["error"]["code"] == "bad_request"
                    continue
                assert r.status_code == 422, (path, r.status_code, r.text[:200])
                assert r.json()["error"]["code"] in ("invalid_parameter", "invalid_command")
        many_ids = ",".join(f"ZQ-2026-{n:06d}" for n in range(count))
        r = c.get("/open311/v2/requests.json", params={"service_request_id": many_ids})
        if len(str(r.url)) > 32 * 1024 and r.status_code == 400:
            assert r.json()["error"]["code"] == "bad_request"
        else:
            assert r.status_code == 422
            assert r.json() == [{"code": 422, "description": r.json()[0]["description"]}]
        hundred = [("types", ",".join(names[i:i + 20])) for i in range(0, 100, 20)]
        ok = c.get("/events", params=hundred)
        assert ok.status_code == 200, ok.text
    assert time.monotonic() - started < 30


def test_a_kept_answer_is_served_only_while_the_log_is_unchanged_and_to_those_allowed(
        town: GovernanceLedger, sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with serve(sqlite_url, stderr_path=log, LEDGER_FEED_TOKENS=TOKENS) as url, \
            httpx.Client(base_url=url, headers=bearer("credit-secret-1")) as c:
        first = c.get("/events?after=0&limit=100")
        assert c.get("/events?after=0&limit=100").content == first.content  # kept
        # A write changes the log's head: the next answer has the new event at once.
        written = town.execute({"type": "post.appoint", **ADMIN,
                                "target_post": "party_org.deputy_secretary@ZQ-001",
                                "person": "P-0103", "person_name": "赵刚",
                                "occurred_at": "2025-02-01"})
        after = c.get("/events?after=0&limit=100").json()
        assert after["events"][-1]["position"] == written.positions[-1]
        # A kept answer still passes the gate: no token, or the wrong scope, gets nothing.
        kept = c.get("/communities/ZQ-001/roster")
        assert kept.status_code == 200
        assert httpx.get(f"{url}/communities/ZQ-001/roster").status_code == 401
        refused = httpx.get(f"{url}/cases", headers=bearer("credit-secret-1"))
        assert refused.status_code == 403
        again = c.get("/communities/ZQ-001/roster")
        assert again.content == kept.content
        assert again.headers["x-content-type-options"] == "nosniff"
        # After a second the clock's share runs out: the as-of-now view is computed afresh.
        time.sleep(1.1)
        fresh = c.get("/communities/ZQ-001/roster").json()
        assert fresh["as_of"] > kept.json()["as_of"]
    routes = [json.loads(x)["route"] for x in log.read_text().splitlines()
              if '"http.access"' in x]
    assert routes.count("/communities/{code}/roster") == 4  # kept answers are logged too
