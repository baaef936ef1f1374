"""A clerk's case from intake to callback, through real ``ledger`` processes: officials'
profiles instead of --actor/--post on every line, and the case number given by the ledger.
In Chinese and in English."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ledger.application import GovernanceLedger
from ledger.kernel.i18n import t
from tests.case_world import world
from tests.feedkit import PYTHON, subprocess_env

PROFILES = {  # profile: (person, post)
    "clerk": ("P-0005", "town.peace_office.staff@ZQ"),
    "director": ("P-0004", "town.peace_office.director@ZQ"),
    "jeo": ("P-0006", "town.joint_enforcement_office.director@ZQ"),
    "urban": ("P-0041", "department.urban_management.staff@ZQ"),
    "supervisor": ("P-0008", "town.supervision_team.leader@ZQ"),
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_case_from_intake_to_callback_with_profiles_and_an_automatic_number(
        tmp_path: Path, lang: str) -> None:
    db = f"sqlite:///{tmp_path / 'town.db'}"
    led = GovernanceLedger(db)
    world(led)
    led.close()
    env = subprocess_env(XDG_CONFIG_HOME=str(tmp_path / "config"), LEDGER_ALLOW_UNSIGNED="1")
    for name in ("LEDGER_PROFILE", "LEDGER_ACTOR", "LEDGER_POST", "LEDGER_LANG"):
        env.pop(name, None)

    def ledger(*args: str, profile: str | None = None) -> str:
        chosen = ["--profile", profile] if profile else []
        done = subprocess.run([PYTHON, "-m", "ledger", "--db", db, "--lang", lang, *chosen,
                               *args], check=False, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done.stdout

    # Each official saves a profile once.
    for name, (person, post) in PROFILES.items():
        ledger("profile", "set", name, "--actor", person, "--post", post)
    # The clerk takes the hotline call; the ledger numbers the case.
    received = ledger("case", "receive", "--community", "ZQ-001", "--channel", "hotline",
                      "--problem-type", "illegal_construction", "--description", "违章搭建",
                      "--caller-name", "赵先生", "--at", "2025-03-03T09:00", profile="clerk")
    ref = "ZQ-2025-000001"
    assert ref in received
    assert received.startswith(t("accepted", lang))
    # Then every step, each by the official whose profile is chosen: no --actor, no --post.
    steps: list[tuple[str, list[str]]] = [
        ("clerk", ["accept"]),
        ("jeo", ["assess", "--mode", "single", "--reason", "城管职责"]),
        ("director", ["dispatch", "--department", "urban_management"]),
        ("urban", ["acknowledge"]),
        ("urban", ["inspect", "--findings", "确认搭建约20平方米", "--evidence", "photo:1"]),
        ("urban", ["rectify", "--plan", "限期自行拆除", "--deadline", "2025-03-24"]),
        ("urban", ["feedback", "--result", "已拆除"]),
        ("supervisor", ["verify", "--note", "现场核实"]),
        ("director", ["close"]),
        ("clerk", ["callback", "--satisfied", "--note", "来电人满意"]),
    ]
    for hour, (profile, (step, *rest)) in enumerate(steps, start=10):
        out = ledger("case", step, ref, *rest, "--at", f"2025-03-{hour:02d}T10:00",
                     profile=profile)
        assert out.startswith(t("accepted", lang)), out
    # The case's history: every step, each by the profile's person in the profile's post.
    history = json.loads(ledger("history", ref, "--json"))
    assert [e["envelope"]["actor"] for e in history] == [
        PROFILES[p][0] for p in ["clerk", *[p for p, _ in steps]]]
    assert history[0]["type"] == "Case.Received"
    assert history[-1]["type"] == "Case.CalledBack"
    # The next call takes the next number.
    second = ledger("case", "receive", "--community", "ZQ-002", "--channel", "street_patrol",
                    "--problem-type", "group_renting", "--description", "疑似群租",
                    "--at", "2025-03-25T09:00", profile="clerk")
    assert "ZQ-2025-000002" in second
