"""Ledger benchmarks, each printed beside a raw baseline measured in the same run.

Sections (``--only`` picks some; all by default):

- ingest: commands/s through ``GovernanceLedger.execute``, one command per transaction
  (validation, authority check against the roster, envelope, the event's Merkle leaf, durable
  commit), vs the same without the in-transaction leaf, vs the same commands signed by a
  registered key (signed by the client and checked by the ledger, both timed), vs raw inserts of
  the same rows one per transaction at the same durability, and vs a plain eventsourcing
  application saving one new aggregate per transaction (the library's built-in
  ``eventsourcing.sqlite`` module and eventsourcing-sqlalchemy). SQLite at
  ``synchronous=NORMAL`` and ``FULL`` (WAL), and PostgreSQL.
- apply: events/s for ``apply`` of a realistic generated stream (``scripts/generate``), vs raw
  batched inserts of as many rows in one transaction.
- rebuild: every projection rebuilt from a cached generated ledger of ~1,000,000 events, in a
  subprocess that reports its peak resident memory (VmHWM), vs a raw read of the same rows.
- history: ``history`` of an aggregate with 10,000 events: listing the events (what the CLI
  prints) and reconstructing the aggregate's state: replayed from every event, and from the
  stored snapshot (``ledger snapshot`` / ``ledger state``) alone and with 100 later events.
- integrity: ``verify`` of the cached ledger (sealed once) vs a raw read; sealing 1,000 new
  events into a 1,000,000-leaf tree vs a raw read-and-write of as many rows.
- signatures: ``verify`` of a ledger of signed commands (100,000; 5,000 with ``--quick``, each
  signed by one of 50 officials with registered keys) with its signature pass, beside the same
  ``verify`` without it.
- witness: the signing step of ``ledger checkpoint`` after 10 new commands with two local
  ``ledger witness serve`` processes (each checkpoint sent to both, with its consistency proof),
  vs the same step without witnesses.
- feed: events/s delivered over HTTP to a subscriber, vs a raw read of the same rows
  (``scripts/bench_feed.py``).
- startup: whole ``ledger`` processes as a clerk runs them, median of 7, each as a multiple of
  ``python -c pass`` in the same run: ``ledger --help``; ``ledger status ZQ-001`` on the demo
  ledger (its read model current, as after any read) and right after a write (the read model
  catches up first); one signed write (``ledger post appoint …`` with ``--key-file``); and
  ``apply`` of the sample year into a new ledger. With ``--before TREE`` (a checkout of an
  earlier release) the same processes run on that code too, for a before/after in one run.

PostgreSQL: ``LEDGER_BENCH_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the bench creates and drops its own
databases. ingest, apply, history and feed run there as on SQLite; rebuild copies the first
``--pg-rebuild-events`` events of the cached ledger (and their commands) into a fresh
database, rebuilds, seals and verifies them there. ``--no-postgres`` skips it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Generated streams are unsigned imports (docs/signing.md, "the unsigned mode"); the signed
# write path is measured beside them in the ingest section.
os.environ.setdefault("LEDGER_ALLOW_UNSIGNED", "1")

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402

from ledger.application import GovernanceLedger  # noqa: E402
from ledger.kernel.logs import configure  # noqa: E402

ADMIN = {"actor": "P-0001", "post": "town.ledger_admin@ZQ"}
COMMUNITIES = 20
CACHE = ROOT / ".bench-cache"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
#: The cached "city" ledger: twenty towns of 30 communities over 11 years (city_db).
CITY_EVENTS = 1_000_000
med = statistics.median


# ---------------------------------------------------------------------------- helpers
def open_ledger(url: str) -> GovernanceLedger:
    """A ledger of the bench. One that is not a SQLite file keeps its checkpoint key (and the
    signer's record beside it) in the system's temporary directory, one per process and
    database, instead of the working directory's default ``ledger-signing.key``."""
    if url.startswith("sqlite"):
        return GovernanceLedger(url)
    from ledger.kernel.config import Settings

    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    key = Path(tempfile.gettempdir()) / f"ledger-bench-{os.getpid()}-{digest}.key"
    return GovernanceLedger(settings=Settings(db_url=url, key_file=str(key)))


def setup(url: str, admin_key: Any = None) -> GovernanceLedger:
    """Town ZQ and its communities; with *admin_key*, the administrator's key is registered
    by the bootstrap and every command is signed with it."""
    from ledger.integrity import dsse

    def send(command: dict[str, Any]) -> None:
        if admin_key is None:
            led.execute(command)
        else:
            led.execute(dsse.sign_command(admin_key, json.dumps(
                {"command_id": str(uuid.uuid4()), **command}).encode()))

    led = open_ledger(url)
    send({"type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ", "name": "颛桥镇",
          "admin": "P-0001", "admin_name": "王明", "occurred_at": "2025-01-01",
          **({"admin_public_key": dsse.public_key_b64(admin_key.public_key())}
             if admin_key is not None else {})})
    for c in range(1, COMMUNITIES + 1):
        send({"type": "community.register", **ADMIN, "code": f"ZQ-{c:03d}",
              "name": f"小区{c}", "occurred_at": "2025-01-02"})
    return led


def commands(n: int, offset: int = 0, communities: int = COMMUNITIES) -> list[str]:
    out = []
    for i in range(offset, offset + n):
        c = i % communities + 1
        out.append(json.dumps({"type": "post.appoint", **ADMIN,
                               "target_post": f"volunteer@ZQ-{c:03d}", "person": f"V-{i:06d}",
                               "person_name": f"志愿者{i}", "occurred_at": "2025-02-01T10:00:00",
                               "basis": "志愿者登记表", "command_id": f"bench-{i}"},
                              ensure_ascii=False))
    return out


def sample_state(led: GovernanceLedger) -> tuple[bytes, str]:
    with led.engine.connect() as conn:
        row = conn.execute(led.events_table.select().order_by(
            led.events_table.c.id.desc()).limit(1)).first()
    assert row is not None
    return bytes(row.state), str(row.topic)


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@contextmanager
def sync_env(sync: str | None) -> Iterator[None]:
    old = os.environ.get("LEDGER_SQLITE_SYNC")
    if sync:
        os.environ["LEDGER_SQLITE_SYNC"] = sync
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LEDGER_SQLITE_SYNC", None)
        else:
            os.environ["LEDGER_SQLITE_SYNC"] = old


class Backend:
    """A database to run one repetition in: a fresh SQLite file or a fresh PostgreSQL schema."""

    def __init__(self, kind: str, sync: str | None, pg_url: str | None, workdir: Path) -> None:
        self.kind, self.sync, self.pg_url, self.workdir = kind, sync, pg_url, workdir
        self.n = 0

    @property
    def label(self) -> str:
        return f"SQLite sync={self.sync}" if self.kind == "sqlite" else "PostgreSQL"

    def url(self) -> str:
        self.n += 1
        if self.kind == "sqlite":
            return f"sqlite:///{self.workdir}/{self.sync}-{self.n}.db"
        assert self.pg_url
        schema = f"b{os.getpid()}_{self.n}"
        import psycopg
        with psycopg.connect(_dsn(self.pg_url), autocommit=True) as c:
            c.execute(f"CREATE SCHEMA {schema}")
        return self.pg_url + ("&" if "?" in self.pg_url else "?") + \
            f"options=-csearch_path%3D{schema}"

    def ledger(self) -> GovernanceLedger:
        with sync_env(self.sync):
            return open_ledger(self.url())


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


# ---------------------------------------------------------------------------- raw baselines
def raw_sqlite(path: Path, sync: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={sync}")
    conn.execute("CREATE TABLE ev (id INTEGER PRIMARY KEY AUTOINCREMENT, originator_id BLOB, "
                 "originator_version INTEGER, topic TEXT, state BLOB)")
    conn.execute("CREATE UNIQUE INDEX ev_agg ON ev (originator_id, originator_version)")
    return conn


RAW_PG_TABLE = ("CREATE TABLE ev (id BIGSERIAL PRIMARY KEY, originator_id UUID NOT NULL, "
                "originator_version BIGINT NOT NULL, topic TEXT NOT NULL, state BYTEA NOT NULL, "
                "UNIQUE (originator_id, originator_version))")


def raw_rows(n: int, state: bytes, topic: str) -> list[tuple[Any, ...]]:
    return [(uuid.uuid4(), i, topic, state) for i in range(n)]


def raw_per_txn(b: Backend, n: int, state: bytes, topic: str) -> float:
    rows = raw_rows(n, state, topic)
    if b.kind == "sqlite":
        conn = raw_sqlite(b.workdir / f"raw{b.n}-{uuid.uuid4().hex[:6]}.db", b.sync or "NORMAL")
        t = time.perf_counter()
        for r in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO ev (originator_id, originator_version, topic, state) "
                         "VALUES (?, ?, ?, ?)", (r[0].bytes, r[1], r[2], r[3]))
            conn.execute("COMMIT")
        dt = time.perf_counter() - t
        conn.close()
        return n / dt
    return raw_pg_per_txn(b, n, state, topic)


def raw_pg(b: Backend) -> Any:
    import psycopg
    url = b.url()
    conn = psycopg.connect(_dsn(url), autocommit=True)
    conn.execute(RAW_PG_TABLE)
    return conn


def raw_pg_per_txn(b: Backend, n: int, state: bytes, topic: str) -> float:
    conn = raw_pg(b)
    rows = raw_rows(n, state, topic)
    t = time.perf_counter()
    for r in rows:
        with conn.transaction():
            conn.execute("INSERT INTO ev (originator_id, originator_version, topic, state) "
                         "VALUES (%s, %s, %s, %s)", r)
    dt = time.perf_counter() - t
    conn.close()
    return n / dt


def raw_batched(b: Backend, n: int, state: bytes, topic: str) -> float:
    rows = raw_rows(n, state, topic)
    if b.kind == "sqlite":
        conn = raw_sqlite(b.workdir / f"rawb{b.n}-{uuid.uuid4().hex[:6]}.db", b.sync or "NORMAL")
        t = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO ev (originator_id, originator_version, topic, state) "
                         "VALUES (?, ?, ?, ?)", [(r[0].bytes, *r[1:]) for r in rows])
        conn.execute("COMMIT")
        dt = time.perf_counter() - t
        conn.close()
        return n / dt
    conn = raw_pg(b)
    t = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany("INSERT INTO ev (originator_id, originator_version, topic, state) "
                        "VALUES (%s, %s, %s, %s)", rows)
    dt = time.perf_counter() - t
    conn.close()
    return n / dt


# ---------------------------------------------------------------------------- plain eventsourcing
class Volunteer(Aggregate):
    """The plain application's aggregate: one creation event with three fields."""

    @event("Registered")
    def __init__(self, person: str, community: str, name: str) -> None:
        self.person, self.community, self.name = person, community, name


class Plain(Application[uuid.UUID]):
    pass


def plain_eventsourcing(b: Backend, module: str, n: int) -> float:
    """A minimal eventsourcing application: one new aggregate (one event) saved per transaction."""
    env: dict[str, str] = {"PERSISTENCE_MODULE": module}
    if module == "eventsourcing.sqlite":
        path = b.workdir / f"plain-{b.n}-{uuid.uuid4().hex[:6]}.db"
        env["SQLITE_DBNAME"] = str(path)
        _patch_sqlite_sync(b.sync or "NORMAL")
    else:
        url = b.url() if b.kind == "postgresql" else \
            f"sqlite:///{b.workdir}/plainsa-{b.n}-{uuid.uuid4().hex[:6]}.db"
        env["SQLALCHEMY_URL"] = url
    app = Plain(env)
    if module == "eventsourcing_sqlalchemy" and b.kind == "sqlite":
        _tune_sqlalchemy_engine(app, b.sync or "NORMAL")
    aggs = [Volunteer(f"V-{i:06d}", f"ZQ-{i % 20 + 1:03d}", f"志愿者{i}") for i in range(n)]
    t = time.perf_counter()
    for a in aggs:
        app.save(a)
    dt = time.perf_counter() - t
    app.close()
    return n / dt


def _patch_sqlite_sync(sync: str) -> None:
    from eventsourcing import sqlite as es_sqlite

    pool = es_sqlite.SQLiteConnectionPool
    if not hasattr(pool, "_bench_original"):
        pool._bench_original = pool._create_connection  # type: ignore[attr-defined]

    def create(self: Any) -> Any:
        c = pool._bench_original(self)  # type: ignore[attr-defined]
        c._sqlite_conn.execute(f"PRAGMA synchronous={sync}")
        return c

    pool._create_connection = create  # type: ignore[method-assign]


def _tune_sqlalchemy_engine(app: Any, sync: str) -> None:
    from sqlalchemy import event

    engine = app.factory.datastore.engine

    @event.listens_for(engine, "connect")
    def _on(dbapi_conn: Any, _r: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={sync}")
        cur.close()

    engine.dispose()


# ---------------------------------------------------------------------------- sections
def result(name: str, unit: str, values: list[float], baseline: str | None = None,
           baseline_values: list[float] | None = None, lower_is_better: bool = False,
           target: str = "", **extra: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"name": name, "unit": unit, "value": med(values), "runs": values,
                         "target": target, **extra}
    if baseline and baseline_values:
        r["baseline"] = baseline
        r["baseline_value"] = med(baseline_values)
        r["ratio"] = (r["baseline_value"] / r["value"]) if lower_is_better else \
            (r["value"] / r["baseline_value"])
    return r


def bench_ingest(b: Backend, n: int, repeats: int) -> list[dict[str, Any]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.integrity import dsse

    ex, no_leaf, raw1, es_builtin, es_sa, signed = [], [], [], [], [], []
    for _ in range(repeats):
        with sync_env(b.sync):
            for leaves in (True, False):  # the same commands, with and without the leaf
                led = setup(b.url())
                if not leaves:
                    led._writer.sealer = None  # the write path of the previous release
                cmds = commands(n)
                t = time.perf_counter()
                for c in cmds:
                    led.execute(c)
                (ex if leaves else no_leaf).append(n / (time.perf_counter() - t))
                state, topic = sample_state(led)
                led.close()
            # The same commands signed by the administrator (registered key): the client's
            # signing and the ledger's check both inside the timing.
            key = Ed25519PrivateKey.generate()
            led = setup(b.url(), key)
            cmds = commands(n)
            t = time.perf_counter()
            for c in cmds:
                led.execute(dsse.sign_command(key, c.encode()))
            signed.append(n / (time.perf_counter() - t))
            led.close()
        raw1.append(raw_per_txn(b, n, state, topic))
        if b.kind == "sqlite":
            es_builtin.append(plain_eventsourcing(b, "eventsourcing.sqlite", n))
        es_sa.append(plain_eventsourcing(b, "eventsourcing_sqlalchemy", n))
    out = [result(f"execute 1 cmd/txn [{b.label}]", "commands/s", ex,
                  "raw insert 1 row/txn", raw1, target="ratio ≥ 0.5"),
           result(f"execute 1 cmd/txn, leaf in the txn [{b.label}]", "commands/s", ex,
                  "same without the leaf", no_leaf, target="ratio ≥ 0.87 (≤ 1.15× cost)"),
           result(f"execute 1 cmd/txn, signed and checked [{b.label}]", "commands/s", signed,
                  "same unsigned", ex, target="ratio ≥ 0.83 (≤ 1.2× cost)")]
    if es_builtin:
        out.append(result(f"execute 1 cmd/txn [{b.label}]", "commands/s", ex,
                          "eventsourcing.sqlite app", es_builtin, target="ratio ≥ 1"))
    out.append(result(f"execute 1 cmd/txn [{b.label}]", "commands/s", ex,
                      "eventsourcing-sqlalchemy app", es_sa, target="ratio ≥ 1"))
    return out


def generated_lines(n: int) -> list[str]:
    """The first *n* lines of the cached generated stream (a valid prefix)."""
    CACHE.mkdir(exist_ok=True)
    path = CACHE / "city.jsonl"
    if not path.exists():
        path = CACHE / "small.jsonl"
        if not path.exists() or sum(1 for _ in path.open(encoding="utf-8")) < n:
            run_generate(towns=6, communities=12, years=4, out=path, db=None)
    lines = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            lines.append(line)
            if len(lines) >= n:
                break
    return lines


#: Events per second of this process's first apply (bench_apply's warm-up), once measured.
_FIRST_APPLY: dict[str, float] = {}


def first_apply(b: Backend, lines: list[str]) -> list[dict[str, Any]]:
    """Once per process, before the timed runs: the same lines into a scratch ledger, so that
    every timed run measures a ledger already running (as the median of three repeats did),
    not the first command of each domain in a fresh process, which imports the domain's
    modules and builds its command models' validators (the start-up section measures those).
    Its rate is reported on a line of its own."""
    if _FIRST_APPLY:
        return []
    led = b.ledger()
    t = time.perf_counter()
    bad = sum(1 for o in led.apply(lines, keep_going=True) if not o.ok)
    dt = time.perf_counter() - t
    events = led.recorder.max_notification_id() or 0
    led.close()
    if bad:
        raise SystemExit(f"{bad} generated lines were rejected")
    _FIRST_APPLY["rate"] = events / dt
    return [result(f"apply {len(lines)} generated lines, first in the process (imports and "
                   f"model builds included) [{b.label}]", "events/s", [events / dt],
                   events=events, lines=len(lines))]


def bench_apply(b: Backend, n: int, repeats: int) -> list[dict[str, Any]]:
    lines = generated_lines(n)
    first = first_apply(b, lines)
    ap, raw_b = [], []
    events = 0
    for _ in range(repeats):
        led = b.ledger()
        t = time.perf_counter()
        bad = sum(1 for o in led.apply(lines, keep_going=True) if not o.ok)
        dt = time.perf_counter() - t
        events = led.recorder.max_notification_id() or 0
        state, topic = sample_state(led)
        led.close()
        if bad:
            raise SystemExit(f"{bad} generated lines were rejected")
        ap.append(events / dt)
        raw_b.append(raw_batched(b, events, state, topic))
    return [*first, result(f"apply {len(lines)} generated lines [{b.label}]", "events/s", ap,
                           "raw batched insert", raw_b, target="≥ 20,000/s and ratio ≥ 0.3",
                           events=events, lines=len(lines))]


def run_generate(*, towns: int, communities: int, years: int, out: Path, db: str | None,
                 seed: int = 1) -> None:
    cmd = [sys.executable, str(ROOT / "scripts" / "generate.py"), "--towns", str(towns),
           "--communities-per-town", str(communities), "--years", str(years),
           "--seed", str(seed), "--out", str(out) + ".tmp"]
    if db:
        cmd += ["--db", db]
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.replace(str(out) + ".tmp", out)


#: A ledger given with ``--ledger`` instead of the cached one.
BIG_LEDGER: dict[str, Path] = {}


def city_db() -> Path:
    """The cached 1,043,200-event city ledger: the generated base (towns ZQ and T001, 30
    communities, 11 years) grown to twenty towns by re-keyed copies of T001
    (``scripts/bench_load.py``; the same size as ``scripts/generate --towns 20``, in minutes
    instead of most of an hour)."""
    if "path" in BIG_LEDGER:
        return BIG_LEDGER["path"]
    db = CACHE / "city.db"
    if not db.exists():
        sys.path.insert(0, str(ROOT / "scripts"))
        import bench_load  # type: ignore[import-not-found]

        CACHE.mkdir(exist_ok=True)
        print("building the 1M-event ledger (once; minutes) ...", file=sys.stderr)
        tmp = CACHE / "city.db.tmp"
        tmp.unlink(missing_ok=True)
        bench_load.grow(bench_load.base_ledger(), tmp, CITY_EVENTS)
        os.replace(tmp, db)
    return db


def raw_read_sqlite(path: Path, table: str = "ledger_events") -> tuple[int, float]:
    conn = sqlite3.connect(path)
    t0 = time.perf_counter()
    n = after = 0
    while True:
        rows = conn.execute(f"SELECT id, originator_id, originator_version, topic, state FROM "
                            f"{table} WHERE id > ? ORDER BY id LIMIT 5000", (after,)).fetchall()
        n += len(rows)
        if len(rows) < 5000:
            break
        after = rows[-1][0]
    dt = time.perf_counter() - t0
    conn.close()
    return n, dt


def child(args: list[str]) -> dict[str, Any]:
    """Run ``bench.py --child ...`` in a fresh process; return its JSON answer."""
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_rebuild(url: str, name: str | None) -> dict[str, Any]:
    configure("warning")
    led = open_ledger(url)
    base = vm_hwm_mb()
    t = time.perf_counter()
    counts = led.rebuild(name)
    dt = time.perf_counter() - t
    head = led.recorder.max_notification_id() or 0
    led.close()
    import resource  # the largest worker process of the rebuild (ru_maxrss is in KB)
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return {"seconds": dt, "events": head, "per_projection": counts,
            "vmhwm_mb": vm_hwm_mb(), "vmhwm_before_mb": base,
            "workers_vmhwm_mb": kids.ru_maxrss / 1024,
            "cpu_seconds": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime}


def bench_rebuild(repeats: int, quick: bool) -> list[dict[str, Any]]:
    if quick:
        db = CACHE / "quick.db"
        if not db.exists():
            CACHE.mkdir(exist_ok=True)
            run_generate(towns=4, communities=12, years=3, out=CACHE / "quick.jsonl",
                         db=f"sqlite:///{db}.tmp")
            os.replace(f"{db}.tmp", db)
    else:
        db = city_db()
    runs, raw, hwm, whwm, cpu = [], [], [], [], []
    events = 0
    for _ in range(repeats):
        r = child(["rebuild", f"sqlite:///{db}"])
        events = r["events"]
        runs.append(events / r["seconds"])
        cpu.append(events / r["cpu_seconds"])
        hwm.append(r["vmhwm_mb"])
        whwm.append(r["workers_vmhwm_mb"])
        n, dt = raw_read_sqlite(db)
        raw.append(n / dt)
    return [result(f"rebuild all projections, {events:,} events [SQLite]", "events/s", runs,
                   "raw read of the same rows", raw, target="≥ 50,000/s"),
            result("rebuild, events per CPU-second of all its processes (load-proof)",
                   "events/s", cpu),
            result("rebuild peak memory (VmHWM)", "MB", hwm, target="< 300 MB"),
            result("rebuild peak memory, largest worker process", "MB", whwm,
                   target="< 300 MB")]


def raw_aggregate_read(led: GovernanceLedger, agg_id: uuid.UUID) -> float:
    """Seconds to read one aggregate's rows through the driver alone (sqlite3 / psycopg)."""
    sql = ("SELECT id, originator_id, originator_version, topic, state FROM ledger_events "
           "WHERE originator_id = {p} ORDER BY originator_version")
    url = led.engine.url
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(str(url.database))
        t = time.perf_counter()
        conn.execute(sql.format(p="?"), (agg_id.bytes,)).fetchall()
        dt = time.perf_counter() - t
        conn.close()
        return dt
    import psycopg
    with psycopg.connect(_dsn(url.render_as_string(hide_password=False))) as c:
        t = time.perf_counter()
        c.execute(sql.format(p="%s"), (agg_id,)).fetchall()
        return time.perf_counter() - t


def bench_history(b: Backend, n: int, repeats: int) -> list[dict[str, Any]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.aggregates.base import aggregate_id
    from ledger.snapshots import aggregate_state, take_snapshots

    led = setup(b.url()) if b.kind == "postgresql" else None
    if led is None:
        with sync_env(b.sync):
            led = setup(b.url())
    lines = commands(n - 2, communities=1)
    bad = sum(1 for o in led.apply(lines, keep_going=True, batch_size=1000) if not o.ok)
    if bad:
        raise SystemExit(f"{bad} history lines were rejected")
    key = "community:ZQ-001"
    agg_id = aggregate_id("community", "ZQ-001")
    listing, reconstruct, snap, snap_tail, raw = [], [], [], [], []
    count = len(led.history(key))
    for _ in range(max(5, repeats)):
        listing.append(timed(lambda: led.history(key)) * 1000)
        reconstruct.append(timed(lambda: led.repository.get(agg_id)) * 1000)
        raw.append(raw_aggregate_read(led, agg_id) * 1000)
    # State from the stored snapshot (`ledger snapshot`, then `ledger state`): the snapshot
    # row read, its digest, signature and head event checked, decoded, and the events after
    # it read (none, then 100).
    signing = Ed25519PrivateKey.generate()
    public = signing.public_key()
    take_s = timed(lambda: take_snapshots(led, [key], key=signing))

    def from_snapshot(after: int) -> None:
        got = aggregate_state(led, key, public_key=public)
        if got["snapshot"] is None or got["snapshot"]["events_after"] != after:
            raise SystemExit(f"the stored snapshot was not used: {got['ignored_snapshots']}")

    for _ in range(max(5, repeats)):
        snap.append(timed(lambda: from_snapshot(0)) * 1000)
    bad = sum(1 for o in led.apply(commands(100, offset=n, communities=1), batch_size=100)
              if not o.ok)
    if bad:
        raise SystemExit(f"{bad} history lines were rejected")
    for _ in range(max(5, repeats)):
        snap_tail.append(timed(lambda: from_snapshot(100)) * 1000)
    led.close()
    return [
        result(f"history list {count:,} events [{b.label}]", "ms", listing,
               "raw read of the rows", raw, lower_is_better=True, target="≤ 20 ms"),
        result(f"history reconstruct state, {count:,} events [{b.label}]", "ms", reconstruct,
               "raw read of the rows", raw, lower_is_better=True, target="≤ 20 ms"),
        result(f"history state from the stored snapshot, {count:,} events [{b.label}]", "ms",
               snap, "raw read of the rows", raw, lower_is_better=True, target="≤ 20 ms"),
        result(f"history state, stored snapshot + 100 later events [{b.label}]", "ms",
               snap_tail, "raw read of the rows", raw, lower_is_better=True, target="≤ 20 ms"),
        result(f"take the snapshot of {count:,} events (full replay) [{b.label}]", "ms",
               [take_s * 1000]),
    ]


def child_verify(url: str, key_file: str, signatures: bool = True) -> dict[str, Any]:
    from ledger.integrity import sealer
    from ledger.integrity.checkpoint import format_verifier_key, load_private_key
    from ledger.integrity.verifier import verify

    configure("warning")
    led = open_ledger(url)
    key = load_private_key(Path(key_file))
    seal_s = timed(lambda: sealer.seal(led, key=key))
    vk = format_verifier_key(sealer.log_origin(led), key.public_key())
    t = time.perf_counter()
    outcome = verify(led, verifier_key=vk, signatures=signatures)
    dt = time.perf_counter() - t
    led.close()
    sig = outcome.signatures
    return {"events": outcome.events, "seconds": dt, "findings": len(outcome.findings),
            "seal_seconds": seal_s, "vmhwm_mb": vm_hwm_mb(),
            "signatures_verified": sig.commands if sig is not None else None}


def signed_ledger(n: int) -> Path:
    """A cached ledger of *n* commands, each signed by one of 50 officials whose keys are
    registered (the administrator's by the bootstrap): what ``verify`` re-checks."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.integrity import dsse

    db = CACHE / f"signed-{n}.db"
    if db.exists():
        return db
    CACHE.mkdir(exist_ok=True)
    tmp = Path(str(db) + ".tmp")
    for p in CACHE.glob(f"signed-{n}.db.tmp*"):
        p.unlink()
    admin = Ed25519PrivateKey.generate()
    led = setup(f"sqlite:///{tmp}", admin)
    officials = {f"P-{9000 + i}": Ed25519PrivateKey.generate() for i in range(50)}

    def sign(key: Any, command: dict[str, Any]) -> Any:
        return dsse.sign_command(key, json.dumps(command, ensure_ascii=False).encode())

    lines = []
    for i, (person, key) in enumerate(officials.items()):
        lines.append(sign(admin, {"type": "person.key.register", **ADMIN, "town": "ZQ",
                                  "person": person, "command_id": f"key-{i}",
                                  "public_key": dsse.public_key_b64(key.public_key())}))
        lines.append(sign(admin, {"type": "post.appoint", **ADMIN, "command_id": f"sec-{i}",
                                  "target_post": f"residents_committee.member@ZQ-{i % 20 + 1:03d}",
                                  "person": person, "person_name": f"委员{i}",
                                  "occurred_at": "2025-01-03"}))
    for outcome in led.apply(lines):
        assert outcome.ok, outcome.error
    people = list(officials.items())
    batch = []
    for i in range(n):
        person, key = people[i % len(people)]
        c = (people.index((person, key))) % 20 + 1
        batch.append(sign(key, {"type": "post.appoint", "actor": person,
                                "post": f"residents_committee.member@ZQ-{c:03d}",
                                "target_post": f"volunteer@ZQ-{c:03d}", "person": f"V-{i:07d}",
                                "person_name": f"志愿者{i}", "occurred_at": "2025-02-01",
                                "command_id": f"signed-{i}"}))
        if len(batch) == 2000 or i == n - 1:
            for outcome in led.apply(batch):
                assert outcome.ok, outcome.error
            batch = []
    led.close()
    os.replace(tmp, db)
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    return db


def bench_signed_verify(repeats: int, n: int) -> list[dict[str, Any]]:
    """``verify`` of a ledger of *n* signed commands with its signature pass, beside the same
    ``verify`` without it, in the same run."""
    from ledger.integrity.checkpoint import generate_key_file

    db = signed_ledger(n)
    keyf = CACHE / "bench.key"
    if not keyf.exists():
        generate_key_file(keyf)
    with_sig, without = [], []
    events = verified = 0
    for _ in range(repeats):
        for sig in (True, False):
            r = child(["verify", f"sqlite:///{db}", str(keyf), "1" if sig else "0"])
            if r["findings"]:
                raise SystemExit(f"verify found {r['findings']} problems in the signed ledger")
            events = r["events"]
            if sig:
                verified = r["signatures_verified"]
            (with_sig if sig else without).append(events / r["seconds"])
    return [result(f"verify {events:,} signed events ({verified:,} signatures) [SQLite]",
                   "events/s", with_sig, "same without the signature pass", without,
                   target="≥ 100,000/s")]


def bench_integrity(repeats: int, quick: bool, tree: int) -> list[dict[str, Any]]:
    from ledger.integrity.checkpoint import generate_key_file

    db = CACHE / "quick.db" if quick else city_db()
    if not db.exists():
        bench_rebuild(1, quick)
    sealed = db.with_suffix(".sealed.db")
    keyf = CACHE / "bench.key"
    if not keyf.exists():
        generate_key_file(keyf)
    if not sealed.exists():
        import shutil
        shutil.copy(db, str(sealed) + ".tmp")
        r = child(["verify", f"sqlite:///{sealed}.tmp", str(keyf)])
        os.replace(str(sealed) + ".tmp", sealed)
        first_seal = r["seal_seconds"]
    else:
        first_seal = None
    runs, raw = [], []
    events = 0
    for _ in range(repeats):
        r = child(["verify", f"sqlite:///{sealed}", str(keyf)])
        if r["findings"]:
            raise SystemExit(f"verify found {r['findings']} problems in the bench ledger")
        events = r["events"]
        runs.append(events / r["seconds"])
        n, dt = raw_read_sqlite(sealed)
        raw.append(n / dt)
    out = [result(f"verify {events:,} events [SQLite]", "events/s", runs,
                  "raw read of the same rows", raw, target="≥ 100,000/s")]
    if first_seal:
        out.append(result(f"seal {events:,} events (first seal)", "events/s",
                          [events / first_seal]))
    # Sealing 1,000 new events into a large tree: the integrity bench's SQL-store measurement.
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_integrity
    with tempfile.TemporaryDirectory(prefix="bench-seal-") as d:
        r2 = bench_integrity.run_ledger(1000, tree, Path(d))
    out.append(result(f"seal 1,000 new events into a {tree:,}-leaf tree [SQLite]", "ms",
                      [r2["seal_1000_into_tree_ms_median"]],
                      "raw read 1,000 + write 3,000 rows", [r2["raw_read_1000_write_3000_rows_ms_median"]],
                      lower_is_better=True, target="≤ 50 ms"))
    return out


def _start_witness(work: Path, name: str, origin: str, log_vkey: str,
                   ) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    key, state = work / f"{name}.key", work / f"{name}.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "ledger", "witness", "init", "--key-file",
                          str(key), "--state", str(state), "--name", f"{name}.example"],
                         check=True, capture_output=True, text=True, env=env)
    vkey = out.stdout.strip().splitlines()[-1]
    subprocess.run([sys.executable, "-m", "ledger", "witness", "add-log", "--state", str(state),
                    "--origin", origin, "--key", log_vkey], check=True, capture_output=True,
                   env=env)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "ledger", "witness", "serve", "--key-file",
                             str(key), "--state", str(state), "--listen", f"127.0.0.1:{port}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
        except OSError:
            time.sleep(0.05)
    return proc, f"witness {name} {vkey} http://127.0.0.1:{port}"


def bench_witness(work: Path, rounds: int) -> list[dict[str, Any]]:
    """``ledger checkpoint``'s signing step (``sealer.seal``) after 10 new commands, with two
    local witness processes, beside the same step without witnesses, in the same run."""
    from ledger.integrity import cosign, sealer
    from ledger.integrity.checkpoint import format_verifier_key

    led = setup(f"sqlite:///{work}/witnessed.db")
    sealer.ensure_key_file(led.settings)
    key = sealer.signing_key(led.settings)
    sealer.seal(led)
    origin = sealer.log_origin(led)
    log_vkey = format_verifier_key(origin, key.public_key())
    procs, lines = [], []
    for name in ("w1", "w2"):
        proc, line = _start_witness(work, name, origin, log_vkey)
        procs.append(proc)
        lines.append(line)
    policy = cosign.parse_policy("\n".join([*lines, "quorum 2", ""]))
    cmds = commands(rounds * 20)
    witnessed, plain = [], []
    try:
        for i in range(rounds):
            for with_witnesses in (True, False):
                start = (2 * i + (0 if with_witnesses else 1)) * 10
                for c in cmds[start:start + 10]:
                    led.execute(c)
                t = time.perf_counter()
                sealer.seal(led, policy=policy if with_witnesses else None)
                (witnessed if with_witnesses else plain).append(
                    (time.perf_counter() - t) * 1000)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        led.close()
    return [result("checkpoint after 10 commands, 2 local witnesses [SQLite]", "ms", witnessed,
                   "same without witnesses", plain, lower_is_better=True,
                   target="≤ 50 ms median")]


def bench_feed(n: int, pg_url: str | None = None) -> list[dict[str, Any]]:
    """Feed throughput to a subscriber (scripts/bench_feed.py), beside a raw read."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_feed import bench as feed_bench  # scripts/bench_feed.py

    out = []
    label = "PostgreSQL" if pg_url else "SQLite"
    for r in feed_bench(n, pg_url):
        value, base = float(r["value"]), float(r["baseline_value"])  # type: ignore[arg-type]
        out.append({**r, "name": f"{r['name']} [{label}]", "runs": [value],
                    "ratio": value / base, "target": "(no target)"})
    return out


# ---------------------------------------------------------------------------- PostgreSQL
@contextmanager
def postgres_database(url: str, suffix: str = "") -> Iterator[str]:
    import psycopg
    name = f"ledger_bench_{os.getpid()}{suffix}"
    base = _dsn(url)
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name}")
        c.execute(f"CREATE DATABASE {name}")
    try:
        yield url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def bench_pg_read(url: str, n: int) -> list[dict[str, Any]]:
    """Projection rebuild, first seal and verify on PostgreSQL over *n* events (and their
    commands) copied from the cached ledger."""
    import psycopg
    from sqlalchemy import func, insert, select, text
    src = CACHE / "city.db"
    if not src.exists():
        src = CACHE / "quick.db"
    led = open_ledger(url)
    s = sqlite3.connect(src)
    rows = s.execute("SELECT id, originator_id, originator_version, topic, state FROM "
                     "ledger_events ORDER BY id LIMIT ?", (n,))
    t = led.events_table
    from ledger.integrity import appendonly
    from ledger.integrity.sqlstore import INTEGRITY_TABLES
    from ledger.kernel.store import command_log
    appendonly.remove(led.engine, [t.name, command_log.name, *INTEGRITY_TABLES])
    with led.engine.begin() as conn:
        while True:
            chunk = rows.fetchmany(20_000)
            if not chunk:
                break
            conn.execute(insert(t), [{"id": r[0], "originator_id": uuid.UUID(bytes=r[1]),
                                      "originator_version": r[2], "topic": r[3],
                                      "state": r[4]} for r in chunk])
        count = conn.execute(select(func.max(t.c.id))).scalar() or 0
        # The commands that wrote them (verify checks every event against the command log).
        cols = [c.name for c in command_log.c]
        logged = s.execute(f"SELECT {', '.join(cols)} FROM ledger_command_log "
                           "WHERE first_notification_id <= ? OR first_notification_id IS NULL",
                           (count,))
        while True:
            chunk = logged.fetchmany(20_000)
            if not chunk:
                break
            conn.execute(insert(command_log), [dict(zip(cols, r, strict=True)) for r in chunk])
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), {count})"))
    led.close()
    s.close()
    r = child(["rebuild", url])
    with psycopg.connect(_dsn(url)) as c:
        t0 = time.perf_counter()
        got = 0
        with c.cursor(name="raw") as cur:
            cur.itersize = 5000
            cur.execute("SELECT id, originator_id, originator_version, topic, state FROM "
                        "ledger_events ORDER BY id")
            for _row in cur:
                got += 1
        raw = got / (time.perf_counter() - t0)
    from ledger.integrity.checkpoint import generate_key_file
    keyf = CACHE / "bench.key"
    if not keyf.exists():
        generate_key_file(keyf)
    v = child(["verify", url, str(keyf)])
    if v["findings"]:
        raise SystemExit(f"verify found {v['findings']} problems in the PostgreSQL copy")
    return [result(f"rebuild all projections, {count:,} events [PostgreSQL]", "events/s",
                   [count / r["seconds"]], "raw read of the same rows", [raw],
                   target="same ratio as SQLite"),
            result("rebuild peak memory (VmHWM) [PostgreSQL]", "MB", [r["vmhwm_mb"]],
                   target="< 300 MB"),
            result("rebuild peak memory, largest worker process [PostgreSQL]", "MB",
                   [r["workers_vmhwm_mb"]], target="< 300 MB"),
            result(f"seal {count:,} events (first seal) [PostgreSQL]", "events/s",
                   [count / v["seal_seconds"]]),
            result(f"verify {count:,} events [PostgreSQL]", "events/s",
                   [v["events"] / v["seconds"]], "raw read of the same rows", [raw],
                   target="same ratio as SQLite")]


# ---------------------------------------------------------------------------- main
def _process_seconds(argv: list[str], env: dict[str, str] | None = None,
                     before: Callable[[], None] | None = None, runs: int = 7) -> list[float]:
    """Wall-clock seconds of whole processes (each run after *before*, untimed). They run in
    the system's temporary directory, so that ``python -m ledger`` finds the code installed
    (or on ``PYTHONPATH``), not a checkout in the current directory."""
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir())
        out.append(time.perf_counter() - t0)
    return out


def bench_startup(work: Path, before_tree: Path | None) -> list[dict[str, Any]]:
    """Whole processes, as ratios to ``python -c pass`` (see the module doc)."""
    python = sys.executable
    base_env = {**os.environ, "LEDGER_LANG": "zh"}
    base_env.pop("LEDGER_ALLOW_UNSIGNED", None)
    db = work / "startup.db"
    url = f"sqlite:///{db}"
    ledger_cli = [python, "-m", "ledger", "--db", url]
    subprocess.run([*ledger_cli, "demo"], env=base_env, check=True, stdout=subprocess.DEVNULL,
                   cwd=work)
    key = db.with_name(db.name + ".keys") / "P-0001.key"
    sample = work / "sample-year.jsonl"
    sample.write_text("".join(f.read_text(encoding="utf-8") for f in _sample_files()),
                      encoding="utf-8")
    counter = iter(range(1, 10_000))

    def write_argv() -> list[str]:
        i = next(counter)
        return [*ledger_cli, "--key-file", str(key), "post", "appoint",
                f"building_leader@ZQ-001/S{i}", f"P-8{i:03d}", "--name", "测试",
                "--actor", "P-0001", "--post", "town.ledger_admin@ZQ"]

    def fresh_apply() -> Callable[[], None]:
        def reset() -> None:
            for suffix in ("", "-wal", "-shm", ".signing.key", ".signing.key.signer.json",
                           ".signing.key.signer.leaves"):
                (work / f"apply.db{suffix}").unlink(missing_ok=True)
            (work / "apply.db").touch()  # apply writes into a ledger file that exists
        return reset

    def runs(env: dict[str, str], earlier: bool = False) -> dict[str, list[float]]:
        # an earlier release has no --format: it printed tables wherever the output went
        table = [] if earlier else ["--format", "table"]
        apply_env = {**env, "LEDGER_ALLOW_UNSIGNED": "1"}
        apply_argv = [python, "-m", "ledger", "--db", f"sqlite:///{work / 'apply.db'}", "apply",
                      str(sample)]
        out = {
            "pass": _process_seconds([python, "-c", "pass"], env),
            "help": _process_seconds([python, "-m", "ledger", "--help"], env),
            "status": _process_seconds([*ledger_cli, "status", "ZQ-001"], env),
            "status_table": _process_seconds([*ledger_cli, "status", "ZQ-001", *table], env),
            "write": [_process_seconds(write_argv(), env, runs=1)[0] for _ in range(7)],
            "apply": _process_seconds(apply_argv, apply_env, before=fresh_apply(), runs=5),
        }
        behind: list[float] = []
        for _ in range(7):
            subprocess.run(write_argv(), env=env, check=True, stdout=subprocess.DEVNULL,
                           cwd=work)
            behind += _process_seconds([*ledger_cli, "status", "ZQ-001"], env, runs=1)
        out["status_behind"] = behind
        return out

    now_runs = runs(base_env)
    old_runs = None
    if before_tree is not None:
        old_env = {**base_env, "PYTHONPATH": str(before_tree)}
        old_runs = runs(old_env, earlier=True)
    res = []
    names = {
        "help": ("ledger --help", "≤ 3×"),
        "status": ("ledger status ZQ-001, read model current (piped)", "≤ 6×"),
        "status_table": ("ledger status ZQ-001 --format table (a terminal's table)", "≤ 6×"),
        "status_behind": ("ledger status ZQ-001 right after a write", ""),
        "write": ("one signed write (ledger post appoint)", "≤ 8×"),
        "apply": ("apply of the sample year (unsigned lines)", "no slower than before"),
    }
    for key_, (label, target) in names.items():
        extra: dict[str, Any] = {}
        if old_runs is not None:
            extra["before_s"] = med(old_runs[key_])
            extra["before_ratio"] = med(old_runs[key_]) / med(old_runs["pass"])
        res.append(result(f"startup: {label}", "s", now_runs[key_], "python -c pass",
                          now_runs["pass"], target=target, **extra))
    return res


def _sample_files() -> list[Path]:
    from ledger.cli import sample_files

    return sample_files()


SECTIONS = ("ingest", "apply", "rebuild", "history", "integrity", "signatures", "witness",
            "feed", "startup")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small counts, one repeat, small ledger")
    p.add_argument("--sync", action="append", choices=["NORMAL", "FULL"],
                   help="SQLite synchronous setting(s) for ingest and apply (default both)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--big-repeats", type=int, default=1,
                   help="repeats of the 1M-event sections (rebuild, verify); default 1")
    p.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections")
    p.add_argument("--no-postgres", action="store_true")
    p.add_argument("--pg-rebuild-events", type=int, default=200_000)
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    p.add_argument("--ledger", metavar="SQLITE_FILE",
                   help="the large ledger for rebuild and verify (default: the cached one, "
                        "built with scripts/generate on first use)")
    p.add_argument("--before", metavar="TREE", type=Path,
                   help="startup: also run the processes on this checkout of an earlier release")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        if a.child[0] == "rebuild":
            print(json.dumps(child_rebuild(a.child[1], None)))
        elif a.child[0] == "verify":
            print(json.dumps(child_verify(a.child[1], a.child[2],
                                          a.child[3] != "0" if len(a.child) > 3 else True)))
        return
    configure("warning")
    if a.ledger:
        BIG_LEDGER["path"] = Path(a.ledger).resolve()
    quick = a.quick
    n_exec, n_apply, n_hist, repeats, tree = (
        (300, 2000, 2000, 1, 100_000) if quick else (2000, 10_000, 10_000, a.repeats, 1_000_000))
    sections = a.only or list(SECTIONS)
    pg_url = None if a.no_postgres else os.environ.get("LEDGER_BENCH_POSTGRES_URL", PG_DEFAULT)
    load = os.getloadavg()
    results: list[dict[str, Any]] = []
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as d:
        work = Path(d)
        backends = [Backend("sqlite", s, None, work) for s in (a.sync or ["NORMAL", "FULL"])]
        for b in backends:
            if "ingest" in sections:
                results += bench_ingest(b, n_exec, repeats)
            if "apply" in sections:
                results += bench_apply(b, n_apply, repeats)
        if "rebuild" in sections:
            results += bench_rebuild(1 if quick else a.big_repeats, quick)
        if "history" in sections:
            results += bench_history(backends[0], n_hist, repeats)
        if "integrity" in sections:
            results += bench_integrity(1 if quick else a.big_repeats, quick, tree)
        if "signatures" in sections:
            results += bench_signed_verify(1 if quick else 3, 5_000 if quick else 100_000)
        if "witness" in sections:
            results += bench_witness(work, 5 if quick else 20)
        if "feed" in sections:
            results += bench_feed(3000 if quick else 20_000)
        if "startup" in sections:
            results += bench_startup(work, a.before)
        if pg_url:
            try:
                ctx = postgres_database(pg_url)
                db_url = ctx.__enter__()
            except Exception as e:  # noqa: BLE001 - report and go on without PostgreSQL
                print(f"PostgreSQL not available ({e}); skipped", file=sys.stderr)
            else:
                try:
                    pg = Backend("postgresql", None, db_url, work)
                    if "ingest" in sections:
                        results += bench_ingest(pg, n_exec // 2, repeats)
                    if "apply" in sections:
                        results += bench_apply(pg, n_apply, repeats)
                    if "history" in sections:
                        results += bench_history(pg, n_hist, repeats)
                    if "feed" in sections:
                        with postgres_database(pg_url, "_feed") as u3:
                            results += bench_feed(3000 if quick else 20_000, u3)
                    if "rebuild" in sections:
                        with postgres_database(pg_url, "_rebuild") as u2:
                            results += bench_pg_read(
                                u2, 20_000 if quick else a.pg_rebuild_events)
                finally:
                    ctx.__exit__(None, None, None)
    print(f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{os.cpu_count()} CPUs; {platform.python_version()}; "
          f"{time.time() - started:.0f}s")
    print(f"{'benchmark':58} {'ledger':>14} {'baseline':>34} {'raw':>14} {'ratio':>7}  target")
    for r in results:
        if r.get("value") is None:
            print(f"{r['name']:58} {'—':>14}  {r.get('note', '')}")
            continue
        unit = r["unit"].replace("events", "ev").replace("commands", "cmd")
        fmt = ">10,.3f" if unit == "s" else ">10,.1f"
        base = f"{r['baseline_value']:{fmt}} {unit:>3}" if "baseline" in r else ""
        ratio = f"{r['ratio']:>7.3f}" if "ratio" in r else ""
        then = (f"  (before: {r['before_s']:.3f} s, {r['before_ratio']:.1f}×)"
                if "before_s" in r else "")
        print(f"{r['name']:58} {r['value']:{fmt}} {unit:>3} {r.get('baseline', ''):>34} "
              f"{base:>14} {ratio:>7}  {r.get('target', '')}{then}")
    if a.json:
        Path(a.json).write_text(json.dumps({
            "load_average_at_start": load, "cpus": os.cpu_count(),
            "python": platform.python_version(), "results": results}, indent=2,
            ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
