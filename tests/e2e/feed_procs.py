"""Processes the feed's end-to-end tests start: a subscriber and a writer.

The tests fork them (``multiprocessing`` with ``fork``: separate processes that need not
import everything again); they can also run on their own:

    python -m tests.e2e.feed_procs subscribe FEED_URL DB [--until N] [--poll] [--delay S]
    python -m tests.e2e.feed_procs write DB_URL COMMUNITY COUNT [--commit-delay S] [--go FILE]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import time
from pathlib import Path
from typing import Any


def subscribe(args: argparse.Namespace) -> None:
    from ledger.feed.client import Subscriber

    sub = Subscriber(args.feed, args.db, page_size=args.page_size, stream=not args.poll)
    sub.db.execute("CREATE TABLE IF NOT EXISTS received ("
                   "seq INTEGER PRIMARY KEY AUTOINCREMENT, position INTEGER NOT NULL, "
                   "type TEXT NOT NULL, at REAL NOT NULL)")

    def handle(db: sqlite3.Connection, event: dict[str, Any]) -> None:
        db.execute("INSERT INTO received (position, type, at) VALUES (?, ?, ?)",
                   (event["position"], event["type"], time.time()))
        if args.delay:
            time.sleep(args.delay)  # widen the window a kill can land in

    until = args.until
    sub.run(handle, until=(lambda: sub.position() >= until) if until else None)
    sub.close()


def write(args: argparse.Namespace) -> None:
    from sqlalchemy import event

    from ledger.application import GovernanceLedger

    ledger = GovernanceLedger(args.db_url)
    rng = random.Random(args.community)
    if args.commit_delay:
        # Hold every transaction open a little after its events have ids, before COMMIT:
        # without the table lock, later ids would commit first (the commit-order trap).
        @event.listens_for(ledger.engine, "commit")
        def _slow_commit(_conn: Any) -> None:
            time.sleep(rng.uniform(0, args.commit_delay))

    if args.go:  # ready: wait for the signal, so that every writer commits at once
        Path(f"{args.go}.ready.{args.community}").touch()
        while not Path(args.go).exists():
            time.sleep(0.01)
    for n in range(args.count):
        ledger.execute({
            "type": "post.appoint", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
            "target_post": f"building_leader@{args.community}/B{n}",
            "person": f"P-{n:04d}", "person_name": f"楼组长{n}", "occurred_at": "2025-02-01",
            "command_id": f"w-{args.community}-{n}"})
    ledger.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("subscribe")
    s.add_argument("feed")
    s.add_argument("db")
    s.add_argument("--until", type=int, default=0)
    s.add_argument("--poll", action="store_true")
    s.add_argument("--delay", type=float, default=0.0)
    s.add_argument("--page-size", type=int, default=500)
    w = sub.add_parser("write")
    w.add_argument("db_url")
    w.add_argument("community")
    w.add_argument("count", type=int)
    w.add_argument("--commit-delay", type=float, default=0.0)
    w.add_argument("--go", help="Wait for this file to exist before writing.")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    """Run as the command line says (the target of a forked process, or ``main``)."""
    args = parse(argv)
    subscribe(args) if args.what == "subscribe" else write(args)


def main() -> None:
    run()


if __name__ == "__main__":
    main()
