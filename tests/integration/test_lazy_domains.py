"""A write loads its own domain (and the domains it hooks into), not the others: a whole
process, asked which domain modules it imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from ledger.application import GovernanceLedger
led = GovernanceLedger({url!r})
led.execute({{"type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ",
             "name": "颛桥镇", "admin": "P-0001", "admin_name": "王明",
             "occurred_at": "2025-01-01"}})
print(json.dumps(sorted(m for m in sys.modules if m.startswith(
    ("ledger.handlers.", "ledger.commands.")))))
"""


def test_a_roster_write_loads_the_roster_and_the_owners_checks_only(tmp_path: Path) -> None:
    code = PROBE.format(url=f"sqlite:///{tmp_path / 'ledger.db'}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120,
                         env={"LEDGER_ALLOW_UNSIGNED": "1", "PATH": "/usr/bin:/bin"})
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert {"ledger.commands.roster", "ledger.handlers.roster"} <= loaded
    # the owners' election checks run on appointments (the roster's declared hook)
    assert "ledger.handlers.owners" in loaded
    for other in ("cases", "deliberation", "appraisal", "supervision"):
        assert f"ledger.handlers.{other}" not in loaded
        assert f"ledger.commands.{other}" not in loaded
