"""A writer process for the concurrency tests.

``python -m tests.workers.writer URL WORKER COUNT``: COUNT commands on the same three
communities — appointing volunteers, receiving hotline cases (each community's problem file is
shared by every writer) and accepting them; every fifth command repeats an earlier command_id.
Then it prints one JSON line:
accepted and duplicate command ids, ledger errors, and any other exception (which the test
treats as a failure: nothing but a LedgerError may reach a user).
"""

from __future__ import annotations

import json
import sys

from ledger.application import GovernanceLedger
from ledger.kernel.errors import LedgerError

PEACE_STAFF = {"actor": "P-0005", "post": "town.peace_office.staff@ZQ"}


def case_ref(worker: int, i: int) -> str:
    return f"ZQ-2025-{800000 + worker * 1000 + i:06d}"


def main() -> None:
    url, worker, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    led = GovernanceLedger(url)
    accepted, duplicates, errors, crashes, volunteers = [], [], [], [], []
    sent: list[dict[str, object]] = []
    for i in range(count):
        community = f"ZQ-00{i % 3 + 1}"
        if i % 5 == 4:
            cmd = sent[i - 3]
        elif i % 3 == 0 or (i % 3 == 2 and (i - 1) % 5 == 4):
            cmd = {"type": "post.appoint", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
                   "target_post": f"volunteer@{community}", "person": f"V-{worker}-{i}",
                   "person_name": f"志愿者{worker}-{i}", "occurred_at": "2025-03-01",
                   "command_id": f"w{worker}-{i}"}
        elif i % 3 == 1:
            cmd = {**PEACE_STAFF, "type": "case.receive", "ref": case_ref(worker, i),
                   "community": community, "channel": "street_patrol",
                   "problem_type": "group_renting", "description": "疑似群租",
                   "occurred_at": "2025-03-01T09:00:00", "command_id": f"w{worker}-{i}"}
        else:
            cmd = {**PEACE_STAFF, "type": "case.accept", "ref": case_ref(worker, i - 1),
                   "occurred_at": "2025-03-01T10:00:00", "command_id": f"w{worker}-{i}"}
        sent.append(cmd)
        try:
            result = led.execute(cmd)
        except LedgerError as e:
            errors.append(f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - the test reports anything else as a failure
            crashes.append(f"{type(e).__name__}: {e}")
        else:
            (accepted if result.outcome == "accepted" else duplicates).append(result.command_id)
            if result.outcome == "accepted" and cmd["type"] == "post.appoint":
                volunteers.append(cmd["person"])
    led.close()
    print(json.dumps({"worker": worker, "accepted": accepted, "duplicates": duplicates,
                      "errors": errors, "crashes": crashes, "volunteers": volunteers}))


if __name__ == "__main__":
    main()
