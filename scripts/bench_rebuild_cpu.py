"""Rebuild every read model of a SQLite ledger once; print wall time and the CPU time of the
process and its children (the rebuild's workers), as JSON: a figure other load on the machine
does not move. Runs against whichever ``ledger`` package comes first on the path, so the same
driver measures an earlier tree too:

    python scripts/bench_rebuild_cpu.py LEDGER.db
    PYTHONPATH=<an earlier tree> python scripts/bench_rebuild_cpu.py LEDGER.db

``--progress`` passes a progress callback (what ``ledger projections rebuild`` draws) and
counts its calls. ``--timeline`` also notes when (seconds from the start) the build began and
ended and each table was swapped in: where the time goes. ``--probe-writes`` runs, in another
process meanwhile, an empty write transaction every 0.1 s
(``GovernanceLedger.write_nothing``: the writers' lock, as every command takes it) and reports
how long the longest waited: what a command sent during the rebuild waits for the swap.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PROBE = """
import json, select, sys, time
from ledger.application import GovernanceLedger
from ledger.kernel.logs import configure
configure("warning")
led = GovernanceLedger(sys.argv[1])
waits, failed = [], []
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:  # until told to stop
    t = time.perf_counter()
    try:
        led.write_nothing()
    except Exception as e:
        failed.append(type(e).__name__)
    waits.append(time.perf_counter() - t)
    time.sleep(0.1)
waits.sort()
print(json.dumps({"probes": len(waits), "failed": len(failed),
                  "longest_wait_s": round(waits[-1], 3) if waits else None,
                  "second_longest_wait_s": round(waits[-2], 3) if len(waits) > 1 else None}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--probe-writes", action="store_true")
    parser.add_argument("--timeline", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("LEDGER_ALLOW_UNSIGNED", "1")
    from ledger.application import GovernanceLedger
    from ledger.kernel.logs import configure

    configure("warning")
    url = f"sqlite:///{args.db}"
    probe = _start_probe(url) if args.probe_writes else None
    led = GovernanceLedger(url)
    told: list[Any] = []
    timeline: list[Any] = []

    def progress(phase: str, done: int, total: int) -> None:
        told.append((phase, done, total))
        previous = timeline[-1][1] if timeline else None
        if args.timeline and (phase != previous or phase == "swap" or done == total):
            timeline.append((round(time.perf_counter() - t, 2), phase, done, total))

    t = time.perf_counter()
    led.rebuild(None, progress=progress if args.progress or args.timeline else None)
    wall = time.perf_counter() - t
    n = led.recorder.max_notification_id() or 0
    led.close()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    out: dict[str, Any] = {
        "events": n, "wall": round(wall, 1), "events_per_s": round(n / wall),
        "cpu_s_all_processes": round(cpu, 1), "events_per_cpu_s": round(n / cpu),
        "maxrss_self_mb": me.ru_maxrss // 1024, "maxrss_child_mb": kids.ru_maxrss // 1024}
    if args.progress:
        out["progress_calls"] = len(told)
    if args.timeline:
        out["timeline"] = timeline
    if probe is not None:
        out["writes_meanwhile"] = _stop_probe(probe)
    print(json.dumps(out))


def _start_probe(url: str) -> subprocess.Popen[str]:
    """The probing process, once it has opened the ledger; it probes until told to stop. (It
    is reaped after the CPU time above is read, so its own is not counted there.)"""
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-c", PROBE, url], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the probing process did not start")
    return proc


def _stop_probe(proc: subprocess.Popen[str]) -> Any:
    out, _ = proc.communicate("stop\n", timeout=120)
    return json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
