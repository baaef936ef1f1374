"""Grow a generated ledger to N events for the benchmarks: copies of one town, re-keyed.

A tool of the benchmarks, never a write path for users: it writes a SQLite ledger file
directly (events, command-log rows, Merkle leaves and tree nodes, subject keys), so that a
ledger of millions of events can be made in minutes instead of the hours ``scripts/generate``
takes (it applies every line). The result is an ordinary ledger: ``ledger verify`` checks it,
``ledger rebuild`` rebuilds its read models, ``ledger serve`` serves it, and
``ledger seal`` signs a checkpoint of it (``--seal`` does that here).

The *base* is a ledger made by ``scripts/generate`` with at least two towns (``ZQ`` and
``T001``, e.g. ``--towns 2 --communities-per-town 30 --years 11``). The output starts as a copy
of the base; then whole copies of town ``T001`` are appended (``T002``, ``T003``, …) until the
log holds at least N events, each copy its own town. A copy re-keys:

- every readable key holding the town code (communities, cases, meetings, matters, people,
  posts, command ids, appraisal years…) and the town's property firms' credit codes (with
  valid check characters), in the events' stored JSON and in the command-log rows;
- every aggregate id, as the ledger derives it (``uuid5`` of the aggregate's kind and its
  re-keyed code; each is checked against the base first);
- the positions each command-log row names, and the leaf of each event (format 2, binding its
  command's row into the first event's leaf), appended to the tree in one transaction per copy;
- sealed personal data: each copied subject gets a key of its own, and its data is decrypted
  with the base subject's key and encrypted again for the copy's subject.

The command digests in the copied rows are the base commands' (the commands themselves are not
re-encoded: no command text is stored for unsigned commands, and nothing reads the digest of a
stored row back except a repeated ``command_id``, which the copies' new ids never are).

Run again on its own output with a larger N, it appends more copies (the ledger grows; what was
sealed stays sealed).

    python scripts/bench_load.py --out big.db --events 10000000 --seal
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from eventsourcing.utils import resolve_topic  # noqa: E402
from generate import make_credit_code, templates  # noqa: E402

from ledger.aggregates.base import aggregate_id  # noqa: E402
from ledger.integrity.intxn import _CursorNodes  # noqa: E402
from ledger.integrity.sealer import CommandRow, fast_leaf_v2  # noqa: E402
from ledger.integrity.tree import IncrementalTree  # noqa: E402

TEMPLATE = 1  # the town copied: T001
CACHE = ROOT / ".bench-cache"
#: The base the benchmarks grow: ZQ and T001, 30 communities each, 11 years (104,320 events;
#: T001 holds 52,160 of them, so 18 copies make the 1,043,200-event city ledger).
BASE = {"towns": 2, "communities": 30, "years": 11, "seed": 1}
_SEALED = re.compile(rb'"nonce":"([A-Za-z0-9+/=]+)","ciphertext":"([A-Za-z0-9+/=]+)"')
_SUBJECT_BEFORE = re.compile(rb'"subject":"([^"]+)"$')
_POSITIONS = re.compile(r'"positions":\[([0-9,]*)\]')


def base_ledger() -> Path:
    """The cached base (``.bench-cache/base2.db``), made by ``scripts/generate`` when missing
    (about three minutes)."""
    db = CACHE / "base2.db"
    if not db.exists():
        import subprocess

        CACHE.mkdir(exist_ok=True)
        tmp = CACHE / "base2.db.tmp"
        tmp.unlink(missing_ok=True)
        print("generating the base ledger (once; minutes) ...", file=sys.stderr)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "generate.py"),
                        "--towns", str(BASE["towns"]),
                        "--communities-per-town", str(BASE["communities"]),
                        "--years", str(BASE["years"]), "--seed", str(BASE["seed"]),
                        "--db", f"sqlite:///{tmp}", "--out", str(CACHE / "base2.jsonl")],
                       check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        os.replace(tmp, db)
    return db


def town_code(t: int) -> str:
    return f"T{t:03d}"


@dataclass
class Template:
    """The template town's commands and events, read once from the base."""

    commands: list[tuple[Any, ...]]          # command-log rows, in log order
    events: dict[int, tuple[Any, ...]]       # id -> (originator_id, version, topic, state)
    kinds: dict[bytes, tuple[str, str]]      # aggregate id -> (kind, code)
    keys: dict[str, bytes]                   # subject -> key
    firm_codes: list[str]                    # the sample's firm codes (generator input)

    @property
    def size(self) -> int:
        return len(self.events)


def read_template(conn: sqlite3.Connection) -> Template:
    code = town_code(TEMPLATE)
    like = f"g-{code}-%"
    commands = conn.execute(
        "SELECT command_id, type, actor, recorded_at, first_notification_id, "
        "last_notification_id, result FROM ledger_command_log WHERE command_id LIKE ? "
        "AND first_notification_id IS NOT NULL ORDER BY first_notification_id",
        (like,)).fetchall()
    if not commands:
        raise SystemExit(f"the base holds no command of town {code}: make it with "
                         "scripts/generate --towns 2 (or more)")
    events: dict[int, tuple[Any, ...]] = {}
    for _cid, _t, _a, _r, first, last, _res in commands:
        for row in conn.execute("SELECT id, originator_id, originator_version, topic, state "
                                "FROM ledger_events WHERE id BETWEEN ? AND ?", (first, last)):
            events[int(row[0])] = (bytes(row[1]), int(row[2]), str(row[3]), bytes(row[4]))
    kinds: dict[bytes, tuple[str, str]] = {}
    for oid, version, _topic, state in events.values():
        if version == 1 and oid not in kinds:
            d = json.loads(state)
            cls = resolve_topic(d["originator_topic"])
            kind, key = cls.KIND, str(d["code"])
            if aggregate_id(kind, key).bytes != oid:
                raise SystemExit(f"aggregate {UUID(bytes=oid)} is not uuid5({kind}:{key}); "
                                 "the loader cannot re-key it")
            kinds[oid] = (kind, key)
    for oid, _version, topic, _state in events.values():
        if oid not in kinds:
            raise SystemExit(f"aggregate {UUID(bytes=oid)} ({topic}) was created outside "
                             f"town {code}'s commands; the loader cannot copy it")
    keys = {str(s): bytes(k) for s, k in conn.execute(
        "SELECT subject, key FROM ledger_subject_keys WHERE key IS NOT NULL")}
    firm_codes = [json.loads(ln)["code"] for ln in templates().get("30-owners-firms.jsonl", [])
                  if json.loads(ln)["type"] == "firm.register"]
    return Template(commands, events, kinds, keys, firm_codes)


class Rekey:
    """Text re-keying from the template town to town *t*."""

    def __init__(self, tpl: Template, t: int) -> None:
        old, new = town_code(TEMPLATE), town_code(t)
        # a key holding the code (ZQ-001 -> T001-001, P-T001-B0-3001), or a tender or
        # contract number the code begins (T-T001..., HT-T001001-2025-01)
        self.town = re.compile(rf"(?<![A-Za-z0-9]){old}(?![0-9])|(?<=T-){old}")
        self.new = new
        self.pairs = [(make_credit_code(c[:8] + f"{TEMPLATE:04d}{i:04d}"),
                       make_credit_code(c[:8] + f"{t:04d}{i:04d}"))
                      for i, c in enumerate(tpl.firm_codes)]
        self.pairs += [(f"第{TEMPLATE}镇", f"第{t}镇"), (f"管理员{TEMPLATE}", f"管理员{t}")]
        self.bpairs = [(a.encode(), b.encode()) for a, b in self.pairs]
        self.btown = re.compile(self.town.pattern.encode())
        self.bnew = new.encode()

    def text(self, s: str) -> str:
        s = self.town.sub(self.new, s)
        for a, b in self.pairs:
            if a in s:
                s = s.replace(a, b)
        return s

    def data(self, b: bytes) -> bytes:
        b = self.btown.sub(self.bnew, b)
        for x, y in self.bpairs:
            if x in b:
                b = b.replace(x, y)
        return b


def copy_town(conn: sqlite3.Connection, tpl: Template, t: int, next_id: int, size: int,
              nodes: _CursorNodes) -> int:
    """Append town *t* (a re-keyed copy of the template) in one transaction; return the number
    of events written."""
    rk = Rekey(tpl, t)
    new_oid = {oid: aggregate_id(kind, rk.text(key)).bytes for oid, (kind, key) in tpl.kinds.items()}
    new_keys: dict[str, bytes] = {}
    events: list[tuple[Any, ...]] = []
    commands: list[tuple[Any, ...]] = []
    leaves: list[bytes] = []
    nid = next_id
    for cid, ctype, actor, recorded, first, last, result in tpl.commands:
        shift = nid - first
        res = _POSITIONS.sub(lambda m, shift=shift: '"positions":[' + ",".join(
            str(int(p) + shift) for p in m.group(1).split(",") if p) + "]", rk.text(result))
        row = (rk.text(cid), ctype, rk.text(actor), recorded, first + shift, last + shift, res)
        commands.append(row)
        command = CommandRow.of(row)
        for old in range(first, last + 1):
            oid, version, topic, state = tpl.events[old]
            state = reseal(rk, tpl, state, new_keys) if b'"ciphertext"' in state else rk.data(state)
            oid = new_oid[oid]
            events.append((nid, oid, version, topic, state))
            leaves.append(fast_leaf_v2(size + len(leaves), nid, oid, version, topic, state,
                                       command if old == first else None))
            nid += 1
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        cur.executemany("INSERT INTO ledger_events (id, originator_id, originator_version, "
                        "topic, state) VALUES (?, ?, ?, ?, ?)", events)
        cur.executemany("INSERT INTO ledger_command_log (command_id, type, actor, recorded_at, "
                        "first_notification_id, last_notification_id, result) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", commands)
        cur.executemany("INSERT INTO ledger_merkle_leaves (position, notification_id) "
                        "VALUES (?, ?)", [(size + i, e[0]) for i, e in enumerate(events)])
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        cur.executemany("INSERT INTO ledger_subject_keys (subject, key, created_at) "
                        "VALUES (?, ?, ?)", [(s, k, now) for s, k in new_keys.items()])
        nodes.cursor = cur
        IncrementalTree(nodes, size).append(leaves)
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    return len(events)


def reseal(rk: Rekey, tpl: Template, state: bytes, new_keys: dict[str, bytes]) -> bytes:
    """Re-key *state*, encrypting its sealed personal data again for the copy's subjects."""
    parts: list[bytes] = []
    sealed: list[tuple[bytes, bytes]] = []
    at = 0
    for m in _SEALED.finditer(state):
        before = _SUBJECT_BEFORE.search(state, 0, m.start() - 1) if m.start() else None
        subject = before.group(1).decode() if before else None
        if subject is None or subject not in tpl.keys:
            raise SystemExit(f"sealed data without a known subject in {state[:120]!r}")
        nonce, ct = base64.b64decode(m.group(1)), base64.b64decode(m.group(2))
        plain = AESGCM(tpl.keys[subject]).decrypt(nonce, ct, subject.encode())
        new_subject = rk.text(subject)
        key = new_keys.setdefault(new_subject, AESGCM.generate_key(bit_length=256))
        nonce2 = os.urandom(12)
        ct2 = AESGCM(key).encrypt(nonce2, plain, new_subject.encode())
        parts.append(rk.data(state[at:m.start()]))
        parts.append(b"\0%d\0" % len(sealed))
        sealed.append((base64.b64encode(nonce2), base64.b64encode(ct2)))
        at = m.end()
    parts.append(rk.data(state[at:]))
    out = b"".join(parts)
    for i, (n, c) in enumerate(sealed):
        out = out.replace(b"\0%d\0" % i, b'"nonce":"' + n + b'","ciphertext":"' + c + b'"')
    return out


def existing_towns(conn: sqlite3.Connection) -> int:
    """The highest town number registered in the ledger (``T<n>``)."""
    best = 0
    for (cid,) in conn.execute("SELECT command_id FROM ledger_command_log "
                               "WHERE command_id LIKE 'g-T%-register'"):
        m = re.fullmatch(r"g-T(\d+)-register", cid)
        if m:
            best = max(best, int(m.group(1)))
    return best


def grow(base: Path, out: Path, events: int, progress: bool = True) -> dict[str, Any]:
    """Make *out* (from *base* when it does not exist) hold at least *events* events."""
    t0 = time.perf_counter()
    if not out.exists():
        src, dst = sqlite3.connect(base), sqlite3.connect(out)
        src.backup(dst)
        src.close()
        dst.close()
    conn = sqlite3.connect(out, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    head = conn.execute("SELECT max(id) FROM ledger_events").fetchone()[0] or 0
    size = conn.execute("SELECT count(*) FROM ledger_merkle_leaves").fetchone()[0]
    if size != head:
        raise SystemExit(f"{out}: {head} events but {size} leaves; not a ledger this tool can grow")
    written = 0
    if head < events:
        with sqlite3.connect(base) as bconn:
            tpl = read_template(bconn)
        town = existing_towns(conn)
        nodes = _CursorNodes("?")
        while head < events:
            town += 1
            if town > 999:
                raise SystemExit("more than 999 towns: use a larger base")
            n = copy_town(conn, tpl, town, head + 1, size, nodes)
            head += n
            size += n
            written += n
            if progress:
                rate = written / (time.perf_counter() - t0)
                print(f"\r{town_code(town)}: {head:,} events ({rate:,.0f} events/s)",
                      end="", file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"events": head, "written": written, "seconds": time.perf_counter() - t0}


def seal(out: Path, key_file: Path) -> dict[str, Any]:
    """Sign a checkpoint of *out* with the key in *key_file* (made when missing)."""
    from ledger.application import GovernanceLedger
    from ledger.integrity.sealer import ensure_key_file
    from ledger.integrity.sealer import seal as seal_ledger
    from ledger.kernel.config import Settings
    from ledger.kernel.logs import configure

    configure("warning")
    t0 = time.perf_counter()
    led = GovernanceLedger(settings=Settings(db_url=f"sqlite:///{out}", allow_unsigned=True,
                                             key_file=str(key_file)))
    try:
        ensure_key_file(led.settings)
        r = seal_ledger(led)
    finally:
        led.close()
    return {"size": r.checkpoint.size, "new_leaves": r.added,
            "seconds": time.perf_counter() - t0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", type=Path,
                   help="a ledger made by scripts/generate with two towns or more (default: "
                        ".bench-cache/base2.db, generated when missing)")
    p.add_argument("--out", required=True, type=Path, help="the ledger to make or grow")
    p.add_argument("--events", required=True, type=int, help="at least this many events")
    p.add_argument("--seal", action="store_true", help="sign a checkpoint afterwards")
    p.add_argument("--key-file", type=Path,
                   help="checkpoint key (default: <out>.signing.key beside the ledger)")
    a = p.parse_args()
    r = grow(a.base or base_ledger(), a.out, a.events)
    print(f"{a.out}: {r['events']:,} events ({r['written']:,} written in {r['seconds']:.1f}s)",
          file=sys.stderr)
    if a.seal:
        s = seal(a.out, a.key_file or Path(f"{a.out}.signing.key"))
        print(f"sealed at {s['size']:,} ({s['new_leaves']:,} new leaves checked, "
              f"{s['seconds']:.1f}s)", file=sys.stderr)


if __name__ == "__main__":
    main()
