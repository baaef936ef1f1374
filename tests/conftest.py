"""Shared fixtures: a fresh ledger per test on SQLite and, when configured, on PostgreSQL.

PostgreSQL tests run when ``LEDGER_TEST_POSTGRES_URL`` is set (``.ci/run`` sets it), e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``. Each test run creates its own database
on that server and drops it at the end; each test gets its own schema inside it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import ledger.domains
from ledger.application import GovernanceLedger
from ledger.kernel.i18n import set_language
from ledger.kernel.logs import configure

configure("warning")  # library code logs at info; tests only want warnings and up

PG_ENV = "LEDGER_TEST_POSTGRES_URL"
PG_SKIP = (
    f"PostgreSQL tests need {PG_ENV}, e.g. "
    f"{PG_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/test ./scripts/test"
)

ADMIN = {"actor": "P-0001", "post": "town.ledger_admin@ZQ"}

# Fixtures wider than one test (and the processes they start) see the unsigned mode too.
os.environ.setdefault("LEDGER_ALLOW_UNSIGNED", "1")


@pytest.fixture(autouse=True)
def unsigned_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of the domain send unsigned commands, as an import of an earlier ledger does
    (``LEDGER_ALLOW_UNSIGNED=1``, inherited by the processes they start); tests marked
    ``signed`` run as a real deployment does, where every command must be signed."""
    if request.node.get_closest_marker("signed"):
        monkeypatch.delenv("LEDGER_ALLOW_UNSIGNED", raising=False)
    else:
        monkeypatch.setenv("LEDGER_ALLOW_UNSIGNED", "1")


@pytest.fixture(autouse=True)
def english_messages(request: pytest.FixtureRequest,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Messages are rendered in the language active when they are made: tests read the English
    text written in the code (the library through the current language, the command line and
    the processes tests start through ``LEDGER_LANG=en``), except tests marked ``zh_default``,
    which check the Chinese a clerk gets by default."""
    if request.node.get_closest_marker("zh_default"):
        monkeypatch.delenv("LEDGER_LANG", raising=False)
        set_language("zh")
    else:
        monkeypatch.setenv("LEDGER_LANG", "en")
        set_language("en")
    yield
    set_language("en")


@pytest.fixture(autouse=True)
def tables_when_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line prints TSV when its output is not a terminal, as under CliRunner;
    tests read the tables a clerk sees (``LEDGER_FORMAT=table``, inherited by the processes
    they start), except where they unset it to check what a pipe gets."""
    monkeypatch.setenv("LEDGER_FORMAT", "table")
    monkeypatch.delenv("COLUMNS", raising=False)


def _pg_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        return None
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A database of our own on the PostgreSQL server, dropped at the end of the run."""
    admin_url = _pg_admin_url()
    if admin_url is None:
        pytest.skip(PG_SKIP)
    name = f"ledger_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def pg_schema_url(database_url: str, schema: str) -> str:
    """A URL whose connections use *schema* first (so each test has its own tables)."""
    eng = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    eng.dispose()
    u = sa.engine.make_url(database_url)
    return u.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> str:
    """A URL for an empty ledger: a SQLite file, or a fresh schema on PostgreSQL (with its
    signing key, and the signer's state beside it, in the test's own folder)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("LEDGER_SIGNING_KEY", str(tmp_path / "ledger-signing.key"))
    database = request.getfixturevalue("pg_database")
    return pg_schema_url(database, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A URL for an empty SQLite ledger file."""
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def ledger(db_url: str) -> Iterator[GovernanceLedger]:
    """An empty ledger on each store."""
    led = GovernanceLedger(db_url)
    try:
        yield led
    finally:
        led.close()


def bootstrap(led: GovernanceLedger, **extra: Any) -> None:
    """Town ZQ with ledger admin P-0001 (from 2025-01-01)."""
    led.execute({"type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ",
                 "name": "颛桥镇", "admin": "P-0001", "admin_name": "王明",
                 "occurred_at": "2025-01-01", **extra})


def sunny_garden(led: GovernanceLedger) -> None:
    """Town ZQ; community ZQ-001 Sunny Garden with secretary P-0101 and RC director P-0102."""
    bootstrap(led)
    led.execute({"type": "community.register", **ADMIN, "code": "ZQ-001", "name": "阳光花园",
                 "occurred_at": "2025-01-02"})
    for post, person, name in (("party_org.secretary@ZQ-001", "P-0101", "李华"),
                               ("residents_committee.director@ZQ-001", "P-0102", "张敏")):
        led.execute({"type": "post.appoint", **ADMIN, "target_post": post, "person": person,
                     "person_name": name, "occurred_at": "2025-01-03"})


def store_snapshot(led: GovernanceLedger) -> tuple[int, list[Any]]:
    """(event count, command-log ids): what 'the store is unchanged' compares."""
    from ledger.kernel.store import command_log

    with led.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(led.events_table)).scalar_one()
        ids = conn.execute(sa.select(command_log.c.command_id).order_by(
            command_log.c.command_id)).scalars().all()
    return int(n), list(ids)


SLOW_ENV = "LEDGER_SLOW_TESTS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``slow`` unless ``LEDGER_SLOW_TESTS=1``."""
    if os.environ.get(SLOW_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"slow test; run with {SLOW_ENV}=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def load_sample_year(led: GovernanceLedger) -> int:
    """Apply the bundled Zhuanqiao sample year (what ``ledger demo`` loads); return the
    number of commands.
    """
    from ledger.cli import sample_files

    loaded = 0
    for path in sample_files():
        with path.open(encoding="utf-8") as fh:
            for outcome in led.apply(fh):
                assert outcome.error is None, f"{path.name} line {outcome.line}: {outcome.error}"
                loaded += 1
    return loaded
