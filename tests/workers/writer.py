"""A writer process for the concurrency tests.

``python -m tests.workers.writer URL WORKER COUNT``: appoints COUNT volunteers to the same three
communities (every fifth command repeats an earlier command_id), then prints one JSON line:
accepted and duplicate command ids, ledger errors, and any other exception (which the test
treats as a failure: nothing but a LedgerError may reach a user).
"""

from __future__ import annotations

import json
import sys

from ledger.application import GovernanceLedger
from ledger.errors import LedgerError


def main() -> None:
    url, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    led = GovernanceLedger(url)
    accepted, duplicates, errors, crashes = [], [], [], []
    sent: list[dict[str, object]] = []
    for i in range(count):
        if i % 5 == 4:
            cmd = sent[i - 3]
        else:
            cmd = {"type": "post.appoint", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
                   "target_post": f"volunteer@ZQ-00{i % 3 + 1}", "person": f"V-{worker}-{i}",
                   "person_name": f"志愿者{worker}-{i}", "occurred_at": "2025-03-01",
                   "command_id": f"w{worker}-{i}"}
        sent.append(cmd)
        try:
            result = led.execute(cmd)
        except LedgerError as e:
            errors.append(f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - the test reports anything else as a failure
            crashes.append(f"{type(e).__name__}: {e}")
        else:
            (accepted if result.outcome == "accepted" else duplicates).append(result.command_id)
    led.close()
    print(json.dumps({"worker": worker, "accepted": accepted, "duplicates": duplicates,
                      "errors": errors, "crashes": crashes}))


if __name__ == "__main__":
    main()
