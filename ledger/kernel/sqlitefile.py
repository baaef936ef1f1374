"""Opening a SQLite ledger file read-only, with ``sqlite3`` alone (no SQLAlchemy).

Shared by the read-only copy the application reads a read-only ledger through
(:func:`ledger.kernel.store.read_only_copy`) and by the reads answered straight from the read
models' tables (:mod:`ledger.quickread`).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote


def writable(path: Path) -> bool:
    """Whether *path* (a file or a directory) may be written to."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    # The mode bits count even where permissions are not enforced (root): a file or a
    # directory marked read-only is treated as read-only by everyone.
    return bool(mode & 0o222) and os.access(path, os.W_OK)


def is_read_only(path: Path) -> bool:
    """Whether the SQLite ledger *path* must be opened read-only: the file, or the directory
    that would hold its journal (``-wal``, ``-shm``, ``-journal``), is not writable."""
    return not writable(path) or not writable(path.parent)


def has_log(path: Path) -> bool:
    """Whether *path* has a write-ahead log with something in it."""
    wal = path.with_name(path.name + "-wal")
    return wal.exists() and wal.stat().st_size > 0


def read_only_uris(path: Path) -> list[str]:
    """The ``sqlite3`` URIs to open *path* read-only with, best first.

    With no write-ahead log to read (no ``-wal`` file, or an empty one: a ledger closed
    cleanly, or a copy made by ``ledger backup``, which is one file in rollback-journal mode)
    in a read-only directory: ``immutable=1`` first, so SQLite reads the main file alone and
    creates nothing beside it. Otherwise ``mode=ro``, which reads the write-ahead log too
    (through its ``-shm`` file), with ``immutable=1`` after it for a read-only directory
    without ``-shm``.
    """
    base = f"file:{quote(str(path.resolve()))}"
    order = ("mode=ro&immutable=1", "mode=ro") \
        if not has_log(path) and not writable(path.parent) else ("mode=ro", "mode=ro&immutable=1")
    return [f"{base}?{params}" for params in order]
