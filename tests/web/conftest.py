"""The supervision board in a real browser: a ``ledger serve`` process over loopback on the
demo ledger, driven by Playwright on the system's Chromium.

Needs Chromium (``apt-get install chromium chromium-driver``; ``./scripts/test`` installs it
when it runs as root) and Playwright for Python (a dev dependency; its own browser download is
never used). Without them these tests skip and say so, unless ``LEDGER_REQUIRE_BROWSER=1``
(``.ci/run``), which makes a missing browser a failure.

Screenshots go to ``tests/artifacts/screenshots/`` (or ``$LEDGER_ARTIFACTS/screenshots``);
axe-core, for the accessibility check, is fetched once with ``npm pack axe-core`` into
``tests/artifacts/cache/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.feedkit import PYTHON, ROOT, serve, subprocess_env

CHROMIUM = os.environ.get("LEDGER_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("LEDGER_ARTIFACTS", ROOT / "tests" / "artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"
AXE_VERSION = "4"
HOW_TO = ("the board's browser tests need Chromium at /usr/bin/chromium (or LEDGER_CHROMIUM) "
          "and Playwright for Python: apt-get install chromium chromium-driver (./scripts/test "
          "does it when run as root) and pip install -e '.[dev]'")

#: Tokens of the test server: the town's supervisor (everything, personal data included), a
#: viewer of cases without personal data, and a reader of public events only.
SUPERVISOR = "supervisor-secret-1"
VIEWER = "viewer-secret-1"
PUBLIC = "public-secret-1"
TOKENS = (f"supervisor:{SUPERVISOR}:read:events+read:cases+read:audit+read:personal,"
          f"viewer:{VIEWER}:read:events+read:cases,public:{PUBLIC}:read:events")


def _unavailable(reason: str) -> None:
    if os.environ.get("LEDGER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; {HOW_TO}")
    pytest.skip(f"{reason}; {HOW_TO}")


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo ledger (``ledger demo``: the bundled Zhuanqiao sample year, sealed)."""
    where = tmp_path_factory.mktemp("board-demo")
    url = f"sqlite:///{where / 'demo.db'}"
    env = subprocess_env(LEDGER_ALLOW_UNSIGNED="1",
                         LEDGER_SIGNING_KEY=str(where / "ledger-signing.key"))
    done = subprocess.run([PYTHON, "-m", "ledger", "--db", url, "demo"], cwd=where, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return url


@pytest.fixture(scope="session")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("board-serve") / "serve.log"


@pytest.fixture(scope="session")
def board(demo_db: str, server_log: Path) -> Iterator[str]:
    """The base URL of a ``ledger serve`` on the demo ledger, with the three tokens."""
    key = Path(demo_db.removeprefix("sqlite:///")).parent / "ledger-signing.key"
    with serve(demo_db, stderr_path=server_log, LEDGER_FEED_TOKENS=TOKENS,
               LEDGER_ALLOW_UNSIGNED="1", LEDGER_SIGNING_KEY=str(key)) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's ``axe.min.js``, from the npm registry (``npm pack``), cached between runs."""
    cache = ARTIFACTS / "cache"
    found = sorted(cache.glob("axe-core-*/package/axe.min.js"))
    if not found:
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("the accessibility check needs npm to fetch axe-core")
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--silent"], cwd=cache,
                              capture_output=True, text=True, check=False, timeout=300)
        if done.returncode != 0:
            _unavailable(f"npm pack axe-core failed: {done.stderr[-300:]}")
        tgz = cache / done.stdout.strip().splitlines()[-1]
        target = cache / tgz.name.removesuffix(".tgz")
        with tarfile.open(tgz) as tar:
            tar.extractall(target, filter="data")
        found = [target / "package" / "axe.min.js"]
    return found[-1].read_text(encoding="utf-8")


def login(context: Any, board: str, secret: str, lang: str | None = None) -> Any:
    """A page of *context* signed in with *secret* (through the login form)."""
    page = context.new_page()
    if lang:
        page.goto(f"{board}/board/lang?to={lang}&next=/board/login")
    page.goto(f"{board}/board/login")
    page.fill("#token", secret)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{board}/board")
    return page


def head_position(db_url: str) -> int:
    """The last position of the demo ledger's log."""
    import sqlite3

    conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    try:
        return int(conn.execute("SELECT max(id) FROM ledger_events").fetchone()[0] or 0)
    finally:
        conn.close()


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


__all__ = ["ARTIFACTS", "PUBLIC", "SCREENSHOTS", "SUPERVISOR", "VIEWER", "bearer",
           "head_position", "httpx", "login"]
