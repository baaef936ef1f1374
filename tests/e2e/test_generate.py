"""The command-stream generator: deterministic output that the ledger applies with no rejection."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from ledger.application import GovernanceLedger

ROOT = Path(__file__).resolve().parents[2]


def _generate(tmp_path: Path, name: str) -> list[str]:
    out = tmp_path / name
    subprocess.run([sys.executable, str(ROOT / "scripts" / "generate.py"), "--towns", "2",
                    "--communities-per-town", "3", "--years", "2", "--seed", "7",
                    "--out", str(out)], check=True, capture_output=True,
                   env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return out.read_text(encoding="utf-8").splitlines()


def test_generated_stream_applies_with_no_rejected_line_and_is_deterministic(tmp_path: Path,
                                                                          ) -> None:
    lines = _generate(tmp_path, "a.jsonl")
    assert lines == _generate(tmp_path, "b.jsonl")
    led = GovernanceLedger(f"sqlite:///{tmp_path / 'g.db'}")
    outcomes = list(led.apply(lines, keep_going=True))
    rejected = [(o.line, o.error) for o in outcomes if not o.ok]
    led.close()
    assert rejected == []
    assert len(outcomes) == len(lines)
    kinds = Counter(json.loads(line)["type"] for line in lines)
    # Two towns (the second registered), both years, every domain represented.
    assert kinds["town.bootstrap"] == 1 and kinds["town.register"] == 1
    for kind in ("community.register", "meeting.convene", "resolution.adopt", "case.receive",
                 "case.return", "case.reopen", "warning.raise", "oc.elect", "tender.award",
                 "appraisal.open_year", "appraisal.record_firm_score"):
        assert kinds[kind] > 0, kind
    years = {json.loads(line)["occurred_at"][:4] for line in lines}
    assert {"2025", "2026"} <= years
