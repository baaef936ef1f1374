"""The supervision board in a real browser (headless Chromium) against a real ``ledger serve``
on the demo ledger: sign-in with its CSRF token, what each page shows, what a viewer without
a scope must not see, the filters and downloads, the what-if panel writing nothing, live
updates, the language switch, security headers, screenshots and an accessibility check."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.feedkit import PYTHON, subprocess_env
from tests.web.conftest import (
    PUBLIC,
    SCREENSHOTS,
    SUPERVISOR,
    VIEWER,
    bearer,
    head_position,
    login,
)

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

#: Each page, where it is, and what must be on it (a selector, and a text in Chinese).
PAGES = [
    ("overview", "/board", "#community-ZQ-001", "阳光花园"),
    ("warnings", "/board/warnings", "#w-ZQ-003-group_renting", "逾期未落实"),
    ("cases", "/board/cases", "#case-table", "ZQ-2025-000001"),
    ("case", "/board/cases/ZQ-2025-000004", "#timeline", "Case.Received"),
    ("resolutions", "/board/resolutions", "progress", "完成进度"),
    ("topics", "/board/topics", "table.topics", "地下车库积水"),
    ("topic", "/board/topics/ZQ-001-MT-2025-001", "#timeline", "Matter.Raised"),
    ("roster", "/board/roster?community=ZQ-001&date=2025-06-01", "#roster", "兼任"),
    ("appraisal", "/board/appraisal", "#table-firms", "firm.appraisal@1"),
    ("firms", "/board/firms", "#banned", "常青物业"),
    ("integrity", "/board/integrity", "#signers", "ledger --db"),
]


def check_headers(headers: dict[str, str]) -> None:
    """The security headers every board answer carries."""
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def axe_violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations on the page."""
    # Evaluated through the browser's debugging protocol: the page's own CSP (rightly) refuses
    # an injected <script>.
    page.evaluate(axe_source + "\n;true")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "nodes": [n["target"] for n in v["nodes"][:5]]}
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_a_page_without_a_session_goes_to_the_login_form(board: str) -> None:
    answer = httpx.get(f"{board}/board/cases?community=ZQ-001", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/board/login?next=%2Fboard%2Fcases%3Fcommunity%3DZQ-001"
    # the login form and the static files need no session
    assert httpx.get(f"{board}/board/login").status_code == 200
    assert httpx.get(f"{board}/board/static/board.css").status_code == 200


def test_a_login_without_its_csrf_token_is_refused(board: str) -> None:
    with httpx.Client(base_url=board) as c:
        # no CSRF field and no login cookie: refused before the token is looked at
        refused = c.post("/board/login", data={"token": SUPERVISOR})
        assert refused.status_code == 403
        assert "zqb_session" not in refused.headers.get("set-cookie", "")
        # a CSRF field that is not the one the form was given with its cookie: refused
        c.get("/board/login")
        forged = c.post("/board/login", data={"token": SUPERVISOR, "csrf": "forged"})
        assert forged.status_code == 403
        # the real form: a wrong token is 401, the right one a session
        form = c.get("/board/login").text
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        assert c.post("/board/login", data={"token": "not-a-token", "csrf": csrf}
                      ).status_code == 401
        form = c.get("/board/login").text
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
        ok = c.post("/board/login", data={"token": SUPERVISOR, "csrf": csrf, "next": "/board"})
        assert ok.status_code == 303 and ok.headers["location"] == "/board"
        assert c.get("/board").status_code == 200


def test_the_session_cookie_is_http_only_and_same_site_strict(board: str, browser: Any) -> None:
    context = browser.new_context()
    login(context, board, VIEWER)
    [session] = [c for c in context.cookies() if c["name"] == "zqb_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert session["path"] == "/board"
    # and the page's script cannot read it
    page = context.pages[0]
    assert "zqb_session" not in page.evaluate("document.cookie")
    context.close()


def test_every_page_shows_its_content_with_security_headers_screenshots_and_no_serious_axe_violation(
        board: str, browser: Any, axe_source: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, Any] = {}
    for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=size)
        page = login(context, board, SUPERVISOR)
        for name, path, selector, text in PAGES:
            answer = page.goto(f"{board}{path}")
            assert answer is not None and answer.status == 200, (name, answer and answer.status)
            check_headers(answer.headers)
            assert page.locator(selector).count() >= 1, (name, selector)
            assert text in page.content(), (name, text)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{size_name}.png"), full_page=False)
            found = axe_violations(page, axe_source)
            if found:
                problems[f"{name}@{size_name}"] = found
        # the proof page of an event, reached from a case's timeline
        page.goto(f"{board}/board/cases/ZQ-2025-000004")
        page.locator("a.proof.ok").first.click()
        assert "/board/proof/" in page.url
        assert "verify-proof" in page.content()
        page.screenshot(path=str(SCREENSHOTS / f"proof-{size_name}.png"))
        found = axe_violations(page, axe_source)
        if found:
            problems[f"proof@{size_name}"] = found
        context.close()
    print(f"\nscreenshots: {SCREENSHOTS}")
    (SCREENSHOTS / "axe-results.json").write_text(json.dumps(problems, ensure_ascii=False,
                                                             indent=2))
    assert not problems, json.dumps(problems, ensure_ascii=False, indent=1)


def test_warning_colours_always_come_with_a_text_label(board: str, browser: Any) -> None:
    context = browser.new_context()
    page = login(context, board, VIEWER)
    for swatch in page.locator(".lvl").all():
        assert swatch.inner_text().strip(), "a colour without its text"
    assert page.locator("#community-ZQ-003 .lvl-red").inner_text().strip() == "红色(警告级)"
    context.close()


def test_the_case_filters_narrow_the_list_and_the_csv_export_holds_the_same_cases(
        board: str, browser: Any) -> None:
    context = browser.new_context(accept_downloads=True)
    page = login(context, board, VIEWER)
    page.goto(f"{board}/board/cases")
    everything = page.locator("#case-table tbody tr").count()
    page.select_option("#f-community", "ZQ-001")
    page.select_option("#f-problem_type", "illegal_construction")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**community=ZQ-001**")
    rows = page.locator("#case-table tbody tr")
    assert 0 < rows.count() < everything
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        assert cells.nth(0).inner_text() == "ZQ-001"
        assert cells.nth(2).inner_text() == "违法建筑"
    shown = {rows.nth(i).locator("th").inner_text() for i in range(rows.count())}
    with page.expect_download() as download:
        page.click("text=导出CSV")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert {r["ref"] for r in exported} == shown
    assert {r["community"] for r in exported} == {"ZQ-001"}
    # age buckets of the filtered list add up to it
    assert sum(int(li.locator("strong").inner_text())
               for li in page.locator("ul.buckets li").all()) == len(shown)
    context.close()


def test_a_viewer_without_the_personal_data_scope_sees_no_caller_anywhere(
        board: str, browser: Any) -> None:
    context = browser.new_context()
    page = login(context, board, VIEWER)
    page.goto(f"{board}/board/cases/ZQ-2025-000001")
    source = page.content()
    assert page.locator("#caller-hidden").count() == 1
    assert "阳先生" not in source and "13800000001" not in source
    for path in ("/board", "/board/cases", "/board/cases?format=csv", "/board/overview/live"):
        body = page.request.get(f"{board}{path}").text()
        assert "阳先生" not in body and "13800000001" not in body, path
    # nor in the stream the page follows (callers are sealed in every event)
    credential = page.request.get(f"{board}/board/stream-credential").json()["credential"]
    with httpx.stream("GET", f"{board}/events/stream", params={
            "access_token": credential, "after": 0}, timeout=10) as stream:
        seen = b""
        for chunk in stream.iter_bytes():
            seen += chunk
            if b'"Case.Received"' in seen and seen.count(b"\nid: ") > 800:
                break
    assert b"Case.Received" in seen
    assert "阳先生".encode() not in seen and b"13800000001" not in seen
    context.close()


def personal_views(demo_db: str) -> list[tuple[str, str, str]]:
    """The recorded views of personal data: (viewer, record, outcome)."""
    conn = sqlite3.connect(demo_db.removeprefix("sqlite:///"))
    try:
        return conn.execute("SELECT viewer, record, outcome FROM ledger_personal_views"
                            ).fetchall()
    finally:
        conn.close()


def test_the_personal_data_scope_shows_the_caller_and_records_the_view(
        board: str, browser: Any, demo_db: str, server_log: Path) -> None:
    def recorded() -> list[tuple[str, str, str]]:
        return personal_views(demo_db)

    before = len(recorded())
    context = browser.new_context()
    page = login(context, board, SUPERVISOR)
    page.goto(f"{board}/board/cases/ZQ-2025-000001")
    assert "阳先生" in page.locator("#caller-data").inner_text()
    rows = recorded()
    assert len(rows) == before + 1
    assert rows[-1] == ("supervisor", "ZQ-2025-000001", "shown")
    log_lines = [json.loads(line) for line in server_log.read_text().splitlines()
                 if '"board.personal_view"' in line]
    assert log_lines and log_lines[-1]["viewer"] == "supervisor"
    assert "阳先生" not in server_log.read_text()  # the log names the record, never the data
    # and the integrity page lists the view for an auditor
    page.goto(f"{board}/board/integrity")
    assert "ZQ-2025-000001" in page.locator("#personal-views").inner_text()
    context.close()


def test_a_topic_raiser_is_shown_only_with_the_personal_data_scope_and_the_view_recorded(
        board: str, browser: Any, demo_db: str) -> None:
    def recorded() -> list[tuple[str, str, str]]:
        return personal_views(demo_db)

    before = len(recorded())
    context = browser.new_context()
    page = login(context, board, VIEWER)
    page.goto(f"{board}/board/topics/ZQ-001-MT-2025-001")
    assert page.locator("#raiser-hidden").count() == 1
    assert "R-1a7f3c" not in page.content()
    assert "R-1a7f3c" not in page.request.get(f"{board}/board/topics").text()
    assert len(recorded()) == before  # nothing shown, nothing recorded
    context.close()
    context = browser.new_context()
    page = login(context, board, SUPERVISOR)
    page.goto(f"{board}/board/topics/ZQ-001-MT-2025-001")
    assert "R-1a7f3c" in page.locator("#raiser-data").inner_text()
    assert recorded()[-1] == ("supervisor", "ZQ-001-MT-2025-001", "shown")
    context.close()


def test_a_page_needing_a_scope_the_token_lacks_says_so(board: str, browser: Any) -> None:
    context = browser.new_context()
    page = login(context, board, PUBLIC)
    answer = page.goto(f"{board}/board/cases")
    assert answer is not None and answer.status == 403
    assert "read:cases" in page.content()
    # the overview leaves out warnings and cases
    page.goto(f"{board}/board")
    assert page.locator(".lvl").count() == 0
    assert "read:cases" in page.content()
    context.close()


def test_the_what_if_panel_shows_a_simulated_outcome_and_writes_nothing(
        board: str, browser: Any, demo_db: str) -> None:
    context = browser.new_context()
    page = login(context, board, SUPERVISOR)
    page.goto(f"{board}/board/appraisal?year=2025")
    before = head_position(demo_db)
    page.fill("#w-score", "70")
    page.click("#whatif button[type=submit]")
    page.wait_for_selector("#whatif-table")
    assert "elimination.score_below=70" in page.content()
    assert page.locator("#whatif-table tbody tr").count() > 0
    assert head_position(demo_db) == before
    context.close()


def test_the_appraisal_downloads_are_a_csv_and_a_real_workbook(board: str) -> None:
    from openpyxl import load_workbook

    with httpx.Client(base_url=board, headers=bearer(VIEWER)) as c:
        text = c.get("/board/appraisal/2025.csv", params={"kind": "firms"}).text
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert rows[0][:3] == ["排名", "物业企业", "统一社会信用代码"]
        answer = c.get("/board/appraisal/2025.xlsx", params={"kind": "firms"})
        check_headers(dict(answer.headers))
        sheet = load_workbook(io.BytesIO(answer.content)).active
        assert [cell.value for cell in sheet[1]][:3] == rows[0][:3]
        assert sheet.max_row == len(rows)


def test_the_overview_updates_live_after_another_process_writes(
        board: str, browser: Any, demo_db: str, tmp_path: Path) -> None:
    context = browser.new_context()
    page = login(context, board, VIEWER)
    cell = page.locator("#level-ZQ-006-unlicensed_business")
    assert cell.inner_text().strip() == "无预警"
    page.wait_for_selector("#live-status:has-text('已连接')")
    page.evaluate("window.notReloaded = true")
    command = tmp_path / "raise.jsonl"
    command.write_text(json.dumps({
        "type": "warning.raise", "actor": "P-0004", "post": "town.peace_office.director@ZQ",
        "community": "ZQ-006", "problem_type": "unlicensed_business", "level": "orange",
        "reason": "无照经营投诉集中", "evidence": ["巡查记录 2026-12-01"],
        "command_id": "board-live-1"},
        ensure_ascii=False) + "\n", encoding="utf-8")
    key = demo_db.removeprefix("sqlite:///") + ".keys/P-0004.key"  # the demo's official's key
    done = subprocess.run([PYTHON, "-m", "ledger", "--db", demo_db, "--key-file", key, "apply",
                           str(command)],
                          env=subprocess_env(LEDGER_ALLOW_UNSIGNED="1"), capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # no reload: the page follows the stream and fetches its table again
    page.wait_for_selector("#level-ZQ-006-unlicensed_business .lvl-orange", timeout=20_000)
    assert cell.inner_text().strip() == "橙色(关注级)"
    assert page.evaluate("window.notReloaded === true")  # the same page, not reloaded
    context.close()


def test_the_language_switch_turns_the_board_into_english_and_back(board: str,
                                                                   browser: Any) -> None:
    context = browser.new_context()
    page = login(context, board, VIEWER)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "全镇概览"
    page.click("a.lang")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("h1").inner_text() == "Town overview"
    page.goto(f"{board}/board/cases")
    assert page.locator("h1").inner_text() == "Case board"
    page.click("a.lang")
    page.wait_for_selector("html[lang=zh-CN]")
    assert page.locator("h1").inner_text() == "案件看板"
    context.close()


def test_the_roster_as_of_a_date_shows_who_held_each_post_then(board: str,
                                                               browser: Any) -> None:
    context = browser.new_context()
    page = login(context, board, VIEWER)
    page.goto(f"{board}/board/roster")
    page.select_option("#r-community", "ZQ-001")
    page.fill("#r-date", "2025-01-10")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**date=2025-01-10**")
    early = page.locator("#roster tbody tr").count()
    page.fill("#r-date", "2025-06-01")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**date=2025-06-01**")
    later = page.locator("#roster tbody tr").count()
    assert later > early  # the owners' committee was elected in March
    assert "owners_committee.director@ZQ-001" in page.content()
    context.close()


@pytest.mark.parametrize("path", [p for _n, p, _s, _t in PAGES] + ["/board/login"])
def test_every_answer_carries_the_security_headers(board: str, path: str) -> None:
    answer = httpx.get(f"{board}{path}", headers=bearer(SUPERVISOR))
    assert answer.status_code == 200
    check_headers(dict(answer.headers))


def test_the_stream_credential_and_sign_out_work_from_the_session(board: str,
                                                                  browser: Any) -> None:
    context = browser.new_context()
    page = login(context, board, VIEWER)
    body = page.request.get(f"{board}/board/stream-credential").json()
    assert body["credential"].startswith("sc1.")
    page.click("header form button[type=submit]")
    page.wait_for_url("**/board/login")
    assert page.goto(f"{board}/board/cases").url.startswith(f"{board}/board/login")
    context.close()
