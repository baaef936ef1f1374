"""Rebuild every read model of a SQLite ledger once; print wall time and the CPU time of the
process and its children (the rebuild's workers), as JSON: a figure other load on the machine
does not move. Runs against whichever ``ledger`` package comes first on the path, so the same
driver measures an earlier tree too:

    python scripts/bench_rebuild_cpu.py LEDGER.db
    PYTHONPATH=<an earlier tree> python scripts/bench_rebuild_cpu.py LEDGER.db
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def main() -> None:
    os.environ.setdefault("LEDGER_ALLOW_UNSIGNED", "1")
    from ledger.application import GovernanceLedger
    from ledger.kernel.logs import configure

    configure("warning")
    led = GovernanceLedger(f"sqlite:///{sys.argv[1]}")
    t = time.perf_counter()
    led.rebuild(None)
    wall = time.perf_counter() - t
    n = led.recorder.max_notification_id() or 0
    led.close()
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps({"events": n, "wall": round(wall, 1), "events_per_s": round(n / wall),
                      "cpu_s_all_processes": round(cpu, 1), "events_per_cpu_s": round(n / cpu),
                      "maxrss_self_mb": me.ru_maxrss // 1024,
                      "maxrss_child_mb": kids.ru_maxrss // 1024}))


if __name__ == "__main__":
    main()
