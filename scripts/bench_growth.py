"""How each cost grows with the ledger: 1 to 10 million events, verified, rebuilt and served.

One SQLite ledger is grown by ``scripts/bench_load.py`` (re-keyed copies of a generated town)
through the sizes given, and sealed at each; at each size, in fresh processes:

- **verify**: ``verify`` of the whole log against its latest checkpoint (every leaf recomputed
  from the stored event and its command-log row, the tree's root, the checkpoint's signature),
  with its peak memory; baseline: a raw read of every event row with ``sqlite3``;
- **rebuild**: every read model rebuilt from the log (``GovernanceLedger.rebuild``, its worker
  processes included: wall time, CPU time of all processes, peak memory of the parent and of
  the largest worker);
- **serve**: ``ledger serve`` started on the file (time until ``/health`` answers, resident
  memory after the requests), then each request timed (median of the repeats after the
  first request, reported apart): a feed page of 1,000 events at the start, the middle and
  the end of the log, the latest checkpoint, an inclusion proof for an event in the middle, a
  consistency proof from about half the size, a community's status and a case's history; each
  repeat asks for another page or proof, so no answer comes from the server's caches (the
  status and history repeats do); baseline for the pages: a raw ``SELECT`` of the same rows;
- the file's size and the loader's and sealer's own times.

    python scripts/bench_growth.py --sizes 1000000,2000000,5000000,10000000 --json growth.json

The base (``.bench-cache/base2.db``) is made with ``scripts/generate --towns 2
--communities-per-town 30 --years 11 --seed 1`` when missing (``bench_load.base_ledger``).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("LEDGER_ALLOW_UNSIGNED", "1")

import bench_load  # noqa: E402
from bench import raw_read_sqlite  # noqa: E402

CACHE = ROOT / ".bench-cache"


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child_verify(path: str) -> dict[str, Any]:
    from ledger.application import GovernanceLedger
    from ledger.integrity import sealer
    from ledger.integrity.verifier import verify
    from ledger.kernel.logs import configure

    configure("warning")
    led = GovernanceLedger(f"sqlite:///{path}")
    vk = sealer.verifier_key(led)
    t = time.perf_counter()
    outcome = verify(led, verifier_key=vk)
    dt = time.perf_counter() - t
    led.close()
    return {"events": outcome.events, "seconds": dt, "findings": len(outcome.findings),
            "ok": outcome.ok, "vmhwm_mb": vm_hwm_mb()}


def child(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def raw_page(path: Path, after: int, step: int, repeats: int) -> float:
    conn = sqlite3.connect(path)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        conn.execute("SELECT id, originator_id, originator_version, topic, state FROM "
                     "ledger_events WHERE id > ? ORDER BY id LIMIT 1000",
                     (after + step * i * 1000,)).fetchall()
        times.append(time.perf_counter() - t0)
    conn.close()
    return statistics.median(times[1:]) * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve(path: Path, head: int, repeats: int) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ledger", "--db", f"sqlite:///{path}",
                             "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                urllib.request.urlopen(base + "/health", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"ledger serve exited: {proc.stderr.read().decode()[-2000:]}"
                                     if proc.stderr else "ledger serve exited") from None
                if time.perf_counter() - t0 > 300:
                    raise SystemExit("ledger serve did not answer in 300 s") from None
                time.sleep(0.05)
        started = time.perf_counter() - t0
        conn = sqlite3.connect(path)
        community = conn.execute("SELECT code FROM rm_communities ORDER BY code DESC LIMIT 1"
                                 ).fetchone()
        case = conn.execute("SELECT ref FROM rm_cases ORDER BY ref DESC LIMIT 1").fetchone()
        conn.close()
        mid = head // 2
        # Each repeat asks for something not asked before (the server caches answers and
        # pages): pages and proofs at a new offset, so every timing is of the work itself.
        def page(start: int, step: int) -> Callable[[int], str]:
            return lambda i: f"/events?after={start + step * i * 1000}&limit=1000"

        urls: dict[str, Callable[[int], str]] = {
            "feed page, 1,000 events at the start": page(0, 1),
            "feed page, 1,000 events in the middle": page(mid, 1),
            "feed page, 1,000 events at the end": page(head - 1000, -1),
            "latest checkpoint": lambda i: "/checkpoints/latest",
            "inclusion proof, an event in the middle": lambda i: (
                f"/proofs/inclusion?event={mid + 7 * i}"),
            "consistency proof from about half the size": lambda i: (
                f"/proofs/consistency?from={head // 2 + i}"),
        }
        if community:
            urls["status of one community"] = lambda i: f"/status?community={community[0]}"
        if case:
            urls["history of one case"] = lambda i: f"/history/{case[0]}"
        out: dict[str, Any] = {"start_seconds": started}
        for name, url in urls.items():
            times = []
            for i in range(repeats + 1):
                t = time.perf_counter()
                with urllib.request.urlopen(base + url(i), timeout=600) as r:
                    r.read()
                    if r.status != 200:
                        raise SystemExit(f"{url(i)}: HTTP {r.status}")
                times.append(time.perf_counter() - t)
            out[name] = {"first_ms": times[0] * 1000,
                         "median_ms": statistics.median(times[1:]) * 1000}
        out["raw page, start (ms)"] = raw_page(path, 0, 1, repeats)
        out["raw page, middle (ms)"] = raw_page(path, mid, 1, repeats)
        out["raw page, end (ms)"] = raw_page(path, head - 1000, -1, repeats)
        out["server_rss_mb"] = rss_mb(proc.pid)
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(path: Path, repeats: int, skip: set[str]) -> dict[str, Any]:
    r: dict[str, Any] = {"file_mb": path.stat().st_size / 1e6}
    n, dt = raw_read_sqlite(path)
    r["raw_read_rows_per_s"] = n / dt
    if "verify" not in skip:
        v = child(__file__, "--child-verify", str(path))
        if not v["ok"]:
            raise SystemExit(f"verify found {v['findings']} problems in {path}")
        r["verify"] = {**v, "events_per_s": v["events"] / v["seconds"]}
    if "rebuild" not in skip:
        rb = child(str(ROOT / "scripts" / "bench.py"), "--child", "rebuild", f"sqlite:///{path}")
        r["rebuild"] = {"seconds": rb["seconds"], "events_per_s": rb["events"] / rb["seconds"],
                        "events_per_cpu_s": rb["events"] / rb["cpu_seconds"],
                        "vmhwm_mb": rb["vmhwm_mb"], "workers_vmhwm_mb": rb["workers_vmhwm_mb"]}
    if "serve" not in skip:
        r["serve"] = serve(path, n, repeats)
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="1000000,2000000,5000000,10000000",
                   help="event counts, ascending (comma-separated)")
    p.add_argument("--out", type=Path, default=CACHE / "growth.db",
                   help="the ledger grown (default .bench-cache/growth.db; reused if present)")
    p.add_argument("--repeats", type=int, default=5, help="repeats of each request")
    p.add_argument("--skip", default="", help="comma-separated: verify, rebuild, serve")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--child-verify", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child_verify:
        print(json.dumps(child_verify(a.child_verify)))
        return
    base = bench_load.base_ledger()
    skip = {s for s in a.skip.split(",") if s}
    results = []
    load = os.getloadavg()
    for size in [int(s) for s in a.sizes.split(",")]:
        grown = bench_load.grow(base, a.out, size)
        sealed = bench_load.seal(a.out, Path(f"{a.out}.signing.key"))
        row = {"target": size, "events": grown["events"], "load": grown, "seal": sealed,
               **measure(a.out, a.repeats, skip)}
        results.append(row)
        print(json.dumps(row), flush=True)
        if a.json:
            a.json.write_text(json.dumps({"load_average_at_start": load, "runs": results},
                                         indent=1))


if __name__ == "__main__":
    main()
