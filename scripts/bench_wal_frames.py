"""What one ``execute`` writes to SQLite's WAL: the pages (frames) each command's transaction
writes, counted from the WAL file's frame headers and attributed to the table or index each
page belongs to (SQLite's ``dbstat``), beside the same count for the raw one-row insert of
``scripts/bench``. A command's ``COMMIT`` writes each of these pages, so they are most of what
SQLite does per command.

The ledger is the bench's (town ZQ, its communities); after a warm-up of COMMANDS commands
the WAL is written back and restarted, then COMMANDS more are executed with the automatic
write-back off, and the WAL's frames are read:

    python scripts/bench_wal_frames.py [COMMANDS]
"""

from __future__ import annotations

import collections
import json
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT)]

import bench  # noqa: E402


def frames_by_owner(db: Path, wal: Path) -> tuple[int, collections.Counter[str]]:
    """(frames in the WAL, frames per table or index)."""
    data = wal.read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    pages: collections.Counter[int] = collections.Counter()
    offset, frames = 32, 0
    while offset + 24 + page_size <= len(data):
        pages[struct.unpack(">I", data[offset:offset + 4])[0]] += 1
        frames += 1
        offset += 24 + page_size
    conn = sqlite3.connect(db)
    try:
        owner = {int(page): str(name)
                 for name, page in conn.execute("SELECT name, pageno FROM dbstat")}
    finally:
        conn.close()
    by: collections.Counter[str] = collections.Counter()
    for page, count in pages.items():
        by[owner.get(page, "(free or new)")] += count
    return frames, by


def raw_frames(work: Path, n: int) -> float:
    """Frames per transaction of the raw one-row insert (``bench.raw_per_txn``'s table)."""
    path = work / "raw.db"
    conn = bench.raw_sqlite(path, "NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for i in range(n):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO ev (originator_id, originator_version, topic, state) "
                     "VALUES (?, ?, ?, ?)", (bytes(16), i, "t", b"{}" * 300))
        conn.execute("COMMIT")
    frames, _ = frames_by_owner(path, Path(f"{path}-wal"))
    conn.close()
    return frames / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    bench.configure("warning")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "ledger.db"
        led = bench.setup(f"sqlite:///{db}")
        commands = bench.commands(2 * n)
        for c in commands[:n]:
            led.execute(c)
        raw = led._writer._fairy.driver_connection  # the write path's own connection
        raw.execute("PRAGMA wal_autocheckpoint = 0")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for c in commands[n:]:
            led.execute(c)
        frames, by = frames_by_owner(db, Path(f"{db}-wal"))
        led.close()
        print(json.dumps({
            "commands": n, "frames_per_command": round(frames / n, 2),
            "by_table_or_index": {k: round(v / n, 2) for k, v in by.most_common()},
            "raw_insert_frames_per_txn": round(raw_frames(work, n), 2)}, indent=1))


if __name__ == "__main__":
    main()
