"""Server time per supervision-board page at the median, on the demo ledger (or --db).

    ./scripts/bench web [--db URL] [--rounds N] [--json FILE]
    ./scripts/bench web --city [--rounds N]

With ``--city``, the town overview (``/board`` and its live fragment) of a copy of the
generated city ledger (~1,000,000 events, ``.bench-cache/city.db``, built by ``scripts/bench``
on first use); the read models are caught up once before timing (reported, not counted), so
the page is served from them, never by replaying events.

Builds the demo ledger in a temporary folder unless --db is given, then asks each page
*rounds* times through the board application in this process (a bearer token with every read
scope, so no session is needed) and prints the median and the worst time per page. The board
reads read models only; the first round of each page (catching the read models up) is not
counted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

SECRET = "bench-secret-token"
PAGES = ["/board", "/board/overview/live", "/board/warnings", "/board/cases",
         "/board/cases?community=ZQ-001&problem_type=illegal_construction",
         "/board/cases/ZQ-2025-000004", "/board/resolutions", "/board/topics",
         "/board/topics/ZQ-001-MT-2025-001",
         "/board/roster?community=ZQ-001&date=2025-06-01", "/board/appraisal",
         "/board/appraisal?year=2025&score_below=70", "/board/firms", "/board/integrity"]


CITY_PAGES = ["/board", "/board/overview/live"]


def city_copy() -> str:
    """A copy of the cached city ledger (the board catches its read models up: it writes)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sqlite3

    from bench import city_db  # type: ignore[import-not-found]

    source = city_db()
    where = Path(tempfile.mkdtemp(prefix="bench-web-city-"))
    # a consistent copy, whatever else has the cached ledger open
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(where / "city.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    os.environ["LEDGER_SIGNING_KEY"] = str(where / "signing.key")
    return f"sqlite:///{where / 'city.db'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="A ledger to measure (default: a fresh demo ledger).")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--json", dest="json_file")
    ap.add_argument("--city", action="store_true",
                    help="the town overview of the generated ~1,000,000-event city ledger")
    args = ap.parse_args()
    db = args.db
    pages = PAGES
    if args.city:
        db, pages = city_copy(), CITY_PAGES
    if db is None:
        where = Path(tempfile.mkdtemp(prefix="bench-web-"))
        db = f"sqlite:///{where / 'demo.db'}"
        env = {**os.environ, "LEDGER_SIGNING_KEY": str(where / "signing.key")}
        os.environ["LEDGER_SIGNING_KEY"] = env["LEDGER_SIGNING_KEY"]
        subprocess.run([sys.executable, "-m", "ledger", "--db", db, "demo"], cwd=where,
                       env=env, check=True, stdout=subprocess.DEVNULL)
    from ledger.feed.tokens import Token
    from ledger.web.app import create_board_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    token = Token("bench", SECRET, frozenset({"read:events", "read:cases", "read:audit"}),
                  rate=1e9)
    app = create_board_app(db, tokens=[token], response_cache=False)
    results = {}
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {SECRET}"}
        if args.city:
            t0 = time.perf_counter()
            client.get(pages[0], headers=headers)
            print(f"read models caught up on the city ledger in {time.perf_counter() - t0:.0f} s "
                  "(not counted)")
        for path in pages:
            client.get(path, headers=headers)  # warm: read models caught up
            times = []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                answer = client.get(path, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
            results[path] = {"median_ms": round(statistics.median(times), 1),
                             "max_ms": round(max(times), 1)}
            print(f"{path:70s} median {results[path]['median_ms']:8.1f} ms   "
                  f"max {results[path]['max_ms']:8.1f} ms")
    if args.json_file:
        Path(args.json_file).write_text(json.dumps({"db": db, "pages": results}, indent=2))


if __name__ == "__main__":
    main()
