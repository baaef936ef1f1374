"""What one ``ledger`` process imports, by package: ``python -X importtime``'s self times,
summed per top-level package (per ``ledger.<module>`` for the ledger's own), best of 3 runs.

    python scripts/bench_importtime.py [--before TREE] -- ARGS...

runs ``python -m ledger ARGS`` (in the temporary directory, so that the installed code is
imported, or the checkout TREE's with ``--before``) and prints the total and the top twelve.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile


def imports(argv: list[str], tree: str | None) -> collections.Counter[str]:
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = tree
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "ledger", *argv], env=env,
                         capture_output=True, text=True, cwd=tempfile.gettempdir(), check=False)
    self_times: collections.Counter[str] = collections.Counter()
    for line in run.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        parts = name.strip().split(".")
        top = ".".join(parts[:2]) if parts[0] == "ledger" else parts[0]
        self_times[top] += int(self_us)
    return self_times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", metavar="TREE", help="a checkout of an earlier release")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    argv = a.args[1:] if a.args[:1] == ["--"] else a.args
    runs = [imports(argv, a.before) for _ in range(3)]
    best = {k: min(r.get(k, 0) for r in runs) for k in set().union(*runs)}
    print(f"ledger {' '.join(argv)}: {sum(best.values()) / 1000:.0f} ms of imports "
          f"in {len(best)} packages")
    for name, us in sorted(best.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {us / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
