"""Generate a deterministic, realistic command stream for T towns × C communities × Y years.

The templates are the sample year of Zhuanqiao town (``ledger/samples/zq/*.jsonl``: one town,
six communities, rosters, meetings and resolutions, hotline cases with their returns, joint
cases, reopenings and warnings, owners' committees, elections, tenders and contracts). They
are re-keyed per town, per block of six communities and per year:

- town ``ZQ`` → ``ZQ`` for the first town (created by ``town.bootstrap``), ``T001``, ``T002``, …
  for the others (created by ``town.register``, issued by the first town's ledger administrator);
- community ``ZQ-00k`` of block *b* → ``<town>-<6b+k>`` (only the first C are kept);
- people: town-level people per town, community people per town and block;
- meetings, matters, case references, tenders, contracts and firms per town, block and year;
- dates and years shifted by the year index (2025, 2026, …); command ids prefixed.

Commands that only make sense once are emitted once: registrations and first appointments (the
roster file) in the first year only; owners' committee formation, elections and rules once per
five-year term; firm registrations once per town. Every candidate line is applied to a scratch
ledger (``--db``, default a temporary SQLite file) and kept only if accepted, so the output
applies with no rejected line; ``--stats`` reports how many template lines were dropped (e.g.
town-level items repeated by a second block of communities, or joint meetings naming a
community beyond C).

    scripts/generate --towns 2 --communities-per-town 3 --years 2 --seed 1 --out cmds.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAMPLES = ROOT / "ledger" / "samples" / "zq"
BLOCK = 6
TERM_YEARS = 5
#: Command types of the owners/firms file that belong to a committee's term, not to a year.
ONCE_PER_TERM = {"oc.form_group", "oc.nominate", "oc.elect", "oc.start_term", "oc.adopt_rules"}
ONCE_PER_TOWN = {"firm.register"}

_COMMUNITY = re.compile(r"\bZQ-(\d{3})(?![\d])")
_OC_KEY = re.compile(r"\bZQ-(\d{3})/(\d{4})")
_CASE_REF = re.compile(r"\bZQ-(\d{4})-(\d{6})\b")
_TOWN_MEETING = re.compile(r"\bZQ-TJ\b")
_PREFIXED = re.compile(r"\b(T|HT)-ZQ(\d{4})")
_YEAR = re.compile(r"(?<![0-9.])(20[2-3][0-9])(?![0-9])")
_PERSON = re.compile(r"\bP-(\d{4})\b")
_TOWN = re.compile(r"ZQ")


def templates() -> dict[str, list[str]]:
    """The sample files, by name, as lists of JSON lines."""
    return {p.name: [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
            for p in sorted(SAMPLES.glob("*.jsonl"))}


def town_people(roster: list[str]) -> set[str]:
    """People whose posts in the sample roster are town posts (they are per town, not per block)."""
    out = set()
    for line in roster:
        d = json.loads(line)
        if str(d.get("target_post", "")).endswith("@ZQ") and "person" in d:
            out.add(d["person"])
        if d["type"] == "town.bootstrap":
            out.add(d["admin"])
    return out


def make_credit_code(prefix16: str) -> str:
    from ledger.rules.credit_code import make_credit_code as make

    return make(prefix16)


def town_code(t: int) -> str:
    return "ZQ" if t == 0 else f"T{t:03d}"


class Rekey:
    """Re-key one template line for town *t*, community block *b*, year index *y*."""

    def __init__(self, t: int, b: int, y: int, term_start: int, town_persons: set[str],
                 communities: int, firms: dict[str, str], seed: int = 1) -> None:
        self.t, self.b, self.y, self.term_start = t, b, y, term_start
        self.code = town_code(t)
        self.town_persons = town_persons
        self.communities = communities
        self.firms = firms
        # Which of the block's community codes each sample community becomes (a permutation
        # drawn from the seed per town and block; the first town's first block keeps the
        # sample's own order). With fewer than six communities it picks the ones kept.
        self.order = list(range(BLOCK))
        if t or b:
            random.Random(f"{seed}:{t}:{b}").shuffle(self.order)

    def community(self, k: int) -> str | None:
        n = self.b * BLOCK + self.order[k - 1] + 1
        return f"{self.code}-{n:03d}" if n <= self.communities else None

    def line(self, text: str) -> str | None:
        t, b, y, code = self.t, self.b, self.y, self.code
        if t == 0 and b == 0 and y == 0:
            return text
        missing = False

        def comm(m: re.Match[str]) -> str:
            nonlocal missing
            c = self.community(int(m.group(1)))
            if c is None:
                missing = True
                return m.group(0)
            return "\0C" + c[len(code):]   # town code put back by the town pass below

        def oc(m: re.Match[str]) -> str:
            c = self.community(int(m.group(1)))
            if c is None:
                return m.group(0)
            return "\0C" + c[len(code):] + f"/{int(m.group(2)) - y + self.term_start}"

        def case(m: re.Match[str]) -> str:
            return f"\0C-{m.group(1)}-{b * 10_000 + int(m.group(2)):06d}"

        def year(m: re.Match[str]) -> str:
            return str(int(m.group(1)) + y)

        def person(m: re.Match[str]) -> str:
            pid = m.group(0)
            if t == 0 and b == 0:
                return pid
            if pid in self.town_persons:
                return pid if t == 0 else f"P-{code}-{m.group(1)}"
            return f"P-{code}-B{b}-{m.group(1)}"

        text = _YEAR.sub(year, text)   # dates, and years inside references
        text = _OC_KEY.sub(oc, text)
        text = _CASE_REF.sub(case, text)
        text = _COMMUNITY.sub(comm, text)
        if missing:
            return None
        text = _TOWN_MEETING.sub("\0C-TJ" if b == 0 else f"\0C-TJ{b}", text)
        text = _PREFIXED.sub(lambda m: f"{m.group(1)}-\0C{'B' + str(b) if b else ''}{m.group(2)}",
                             text)
        text = _PERSON.sub(person, text)
        for old, new in self.firms.items():
            text = text.replace(old, new)
        text = _TOWN.sub(code, text).replace("\0C", code)
        d = json.loads(text)
        d["command_id"] = f"g-{code}-y{y}-b{b}-{d['command_id']}"
        if d["type"].startswith("appraisal.") and "town" not in d:
            d["town"] = code  # appraisal commands default to ZQ
        return json.dumps(d, ensure_ascii=False)


def future_tolerance(code: str, admin: str, years: int) -> str:
    """The town parameter that lets a synthetic stream run into later years.

    The ledger refuses business times further ahead of now than the town's tolerance
    (``plausibility.future_days``, default 1 day). Generated years after the sample year lie in
    the future by design, so each generated town sets a tolerance covering them, as its first
    act after it is created; the parameter is an ordinary audited event.
    """
    return json.dumps({
        "type": "town.set_parameter", "actor": admin, "post": f"town.ledger_admin@{code}",
        "town": code, "name": "plausibility.future_days", "value": 366 * (years + 1),
        "occurred_at": "2025-01-02T09:00:01+08:00",
        "basis": "模拟数据: 生成的后续年份日期在未来", "command_id": f"g-{code}-future-days",
    }, ensure_ascii=False)


def candidates(towns: int, per_town: int, years: int, seed: int) -> Iterator[tuple[str, str]]:
    """(template type, re-keyed line) in the order they are to be applied."""
    tpl = templates()
    roster = tpl["00-roster.jsonl"]
    tpersons = town_people(roster)
    firm_codes = [json.loads(ln)["code"] for ln in tpl.get("30-owners-firms.jsonl", [])
                  if json.loads(ln)["type"] == "firm.register"]
    blocks = (per_town + BLOCK - 1) // BLOCK
    for y in range(years):
        for t in range(towns):
            firms = ({c: make_credit_code(c[:8] + f"{t:04d}{i:04d}") for i, c in enumerate(firm_codes)}
                     if t else {})
            for b in range(blocks):
                rk = Rekey(t, b, y, term_start=(y // TERM_YEARS) * TERM_YEARS,
                           town_persons=tpersons, communities=per_town, firms=firms,
                           seed=seed)
                for name, lines in tpl.items():
                    if y > 0 and name.startswith("00-"):
                        continue  # registrations and first appointments: once
                    for text in lines:
                        kind = json.loads(text)["type"]
                        if kind == "town.bootstrap" and t > 0:
                            if b or y:
                                continue
                            yield kind, json.dumps({
                                "type": "town.register", "actor": "P-0001",
                                "post": "town.ledger_admin@ZQ", "code": town_code(t),
                                "name": f"第{t}镇", "admin": f"P-{town_code(t)}-0001",
                                "admin_name": f"管理员{t}",
                                "occurred_at": f"{2025 + y}-01-02T09:00:00+08:00",
                                "basis": "区政府批复", "command_id": f"g-{town_code(t)}-register",
                            }, ensure_ascii=False)
                            yield "town.set_parameter", future_tolerance(
                                town_code(t), f"P-{town_code(t)}-0001", years)
                            continue
                        if kind == "town.bootstrap" and (b or y):
                            continue
                        if kind in ONCE_PER_TERM and y % TERM_YEARS:
                            continue
                        if kind in ONCE_PER_TOWN and (y or b):
                            continue
                        out = rk.line(text)
                        if out is not None:
                            yield kind, out
                            if kind == "town.bootstrap":
                                admin = json.loads(out)
                                yield "town.set_parameter", future_tolerance(
                                    admin["code"], admin["admin"], years)


def generate(towns: int, per_town: int, years: int, seed: int, db_url: str | None,
             out: Any, stats: Counter[str] | None = None, batch: int = 500) -> tuple[int, int]:
    """Write the accepted lines to *out*; return (lines written, lines dropped)."""
    from ledger.application import GovernanceLedger
    from ledger.kernel.config import Settings
    from ledger.kernel.logs import configure

    configure("warning")
    with tempfile.TemporaryDirectory() as d:
        # The stream is an unsigned import (as of an earlier ledger): the scratch ledger that
        # sorts out the lines runs in the unsigned mode, and so must the ledger applying them.
        led = GovernanceLedger(settings=Settings(db_url=db_url or f"sqlite:///{d}/scratch.db",
                                                 allow_unsigned=True))
        written = dropped = 0
        pending: list[tuple[str, str]] = []

        def flush() -> None:
            nonlocal written, dropped
            for o in led.apply([ln for _, ln in pending], keep_going=True, batch_size=batch):
                kind, line = pending[o.line - 1]
                if o.ok:
                    out.write(line + "\n")
                    written += 1
                else:
                    dropped += 1
                    if stats is not None:
                        stats[f"{kind}: {o.error.code if o.error else '?'}"] += 1
            pending.clear()

        for item in candidates(towns, per_town, years, seed):
            pending.append(item)
            if len(pending) >= batch * 10:
                flush()
        flush()
        led.close()
    return written, dropped


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--towns", type=int, default=1)
    p.add_argument("--communities-per-town", type=int, default=6)
    p.add_argument("--years", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", help="output file (default standard output)")
    p.add_argument("--db", help="ledger URL to apply into and keep (default: a scratch file)")
    p.add_argument("--stats", action="store_true", help="report dropped template lines on stderr")
    a = p.parse_args()
    stats: Counter[str] = Counter()
    t0 = time.perf_counter()
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w", encoding="utf-8") as f:
            written, dropped = generate(a.towns, a.communities_per_town, a.years, a.seed, a.db,
                                        f, stats)
    else:
        written, dropped = generate(a.towns, a.communities_per_town, a.years, a.seed, a.db,
                                    sys.stdout, stats)
    print(f"{written} lines written, {dropped} template lines dropped "
          f"in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    if a.stats:
        for k, v in stats.most_common():
            print(f"  dropped {v:6d}  {k}", file=sys.stderr)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
