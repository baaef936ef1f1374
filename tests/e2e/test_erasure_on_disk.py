"""Erasure that erases: after ``ledger erase-subject`` the caller's key, name and phone are
nowhere in the database files.

SQLite, end to end: the hotline reports a case through Open311 to a real ``ledger serve``
(signed, so the signed bytes carry the caller in clear), the subject is erased with the
server still running, and the database, ``-wal`` and ``-shm`` files are searched byte by
byte. PostgreSQL: ``pg_dirtyread`` (Debian's ``postgresql-15-dirtyread``) reads dead rows, and
the key table's file is searched, before and after the purge."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from ledger.application import GovernanceLedger
from ledger.kernel import privacy
from tests.case_world import receive, world
from tests.conftest import pg_schema_url
from tests.feedkit import PYTHON, subprocess_env
from tests.open311kit import NAME_FIRST, NAME_LAST, PHONE, hotline_town, report

CALLER = "HOTLINE-CALLER-1001"
#: The subject the intake gives a caller whose hotline account is 1001.
HOTLINE_CALLER = "hotline-1001"


def key_of(led: GovernanceLedger, subject: str) -> bytes:
    with led.engine.connect() as conn:
        key = conn.execute(sa.select(privacy.subject_keys.c.key)
                           .where(privacy.subject_keys.c.subject == subject)).scalar()
    assert key is not None
    return bytes(key)


def found_in(files: list[Path], needles: dict[str, bytes]) -> set[str]:
    """The names of the *needles* found in any of *files*."""
    hits = set()
    for f in files:
        if not f.exists():
            continue
        data = f.read_bytes()
        hits |= {name for name, needle in needles.items() if needle in data}
    return hits


@pytest.mark.signed
def test_after_erasure_the_sqlite_files_hold_no_trace_of_the_caller(tmp_path: Path) -> None:
    with hotline_town(tmp_path) as hl, httpx.Client(base_url=hl.url, timeout=20) as c:
        # 1. The hotline reports a case with the caller's name and phone.
        created = report(c, account_id="1001")
        assert created.status_code == 201, created.text
        for n in range(20):  # and more cases after it, so the key's page is written again
            assert report(c, first_name="", last_name="", phone="",
                          description=f"第{n}起来电").status_code == 201
        db_file = Path(hl.db.removeprefix("sqlite:///"))
        files = [db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm")]
        with GovernanceLedger(hl.db) as led:
            key = key_of(led, HOTLINE_CALLER)
        needles = {"key": key, "key (base64)": base64.b64encode(key),
                   "phone": PHONE.encode(), "name": f"{NAME_LAST} {NAME_FIRST}".encode()}
        # The search finds them before erasure (the signed bytes keep the caller in clear).
        assert found_in(files, needles) >= {"key", "phone", "name"}
        # 2. Erased with the server still running and answering.
        erased = subprocess.run([PYTHON, "-m", "ledger", "--db", hl.db, "erase-subject",
                                 HOTLINE_CALLER,
                                 "--json"], env=subprocess_env(), capture_output=True,
                                text=True, timeout=60, check=False)
        assert erased.returncode == 0, erased.stderr
        assert '"wal": "truncated"' in erased.stdout
        assert Path(f"{db_file}-wal").stat().st_size == 0
        # 3. Nothing of the caller is left in any file, and the ledger still serves.
        assert found_in(files, needles) == set()
        assert c.get("/open311/v2/requests.json",
                     params={"api_key": "board-secret-1"}).status_code == 200


@pytest.mark.postgres
def test_after_erasure_no_dead_postgresql_row_holds_the_key(pg_database: str) -> None:
    admin = sa.create_engine(pg_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        available = conn.execute(sa.text(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_dirtyread'")).first()
        if available is not None:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_dirtyread SCHEMA public"))
            data_dir = conn.execute(sa.text("SHOW data_directory")).scalar()
    if available is None:
        # Skipped once the connection is back in the pool, so that dispose closes it (a
        # connection still checked out would be left to the garbage collector, unclosed).
        admin.dispose()
        pytest.skip("pg_dirtyread is not installed on this PostgreSQL server (Debian: "
                    "apt-get install postgresql-15-dirtyread; .ci/run installs it)")
    url = pg_schema_url(pg_database, "erasure_test")
    led = GovernanceLedger(url)
    try:
        world(led)
        receive(led, "ZQ-2025-000077", "2025-03-03T09:00:00",
                caller={"name": "钱女士", "phone": "13912345678", "subject": CALLER})
        key = key_of(led, CALLER)

        def dead_keys() -> list[bytes]:
            with led.engine.connect() as conn:
                rows = conn.execute(sa.text(
                    "SELECT key FROM public.pg_dirtyread('ledger_subject_keys') AS t("
                    "subject varchar(64), key bytea, created_at varchar(40), erased_at varchar(40))")).all()
            return [bytes(r[0]) for r in rows if r[0] is not None]

        def key_file_holds_key() -> bool:
            with admin.connect() as conn:
                conn.execute(sa.text("CHECKPOINT"))
            with led.engine.connect() as conn:
                rel = conn.execute(sa.text(
                    "SELECT pg_relation_filepath('ledger_subject_keys')")).scalar()
            path = Path(str(data_dir)) / str(rel)
            return any(key in p.read_bytes() for p in path.parent.glob(f"{path.name}*")
                       if p.name == path.name or p.name.startswith(f"{path.name}."))

        # The key destroyed, not yet purged: its old row version is still there, dead.
        privacy._erase_key(led, CALLER)
        assert key in dead_keys()
        readable = Path(str(data_dir)).exists()
        if readable:
            assert key_file_holds_key()
        # The purge removes every copy from the table and its file.
        assert privacy.purge(led)["vacuumed"]
        assert key not in dead_keys()
        if readable:
            assert not key_file_holds_key()
    finally:
        led.close()
        admin.dispose()
