"""The demo's first screen: the town at a glance, in Chinese, at 120 columns.

The golden text is ``tests/e2e/golden/demo-overview-120.txt``, with what changes from run to
run masked (the ledger's path, its keys' directory, the tree's root hash: every official's
key is new in each run). After a deliberate change to the overview, regenerate it with

    LEDGER_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/e2e/test_demo_overview.py

and read the difference (``git diff tests/e2e/golden``) before committing it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from ledger.cli import cli

GOLDEN = Path(__file__).parent / "golden" / "demo-overview-120.txt"
WIDTH = 120


def mask(text: str, db: Path) -> str:
    """*text* without what differs between runs, each line without trailing blanks."""
    text = text.replace(f"sqlite:///{db}", "<DB>").replace(f"{db}.keys", "<KEYS>")
    text = re.sub(r"[A-Za-z0-9+/]{43}=", "<ROOT>", text)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def english_words(text: str) -> list[str]:
    """Latin words of *text* that are not codes or ids: a code has a digit or one of
    ``-_/@.<>`` in it (``ZQ-2025-000004``, ``--full``, ``<DB>``) or is in capitals (``ZQ``)."""
    return [w for w in re.findall(r"[A-Za-z0-9_./@<>-]*[A-Za-z][A-Za-z0-9_./@<>-]*", text)
            if not re.search(r"[0-9_./@<>-]", w) and not w.isupper()]


@pytest.mark.zh_default
def test_the_demo_shows_the_town_on_one_screen_in_chinese_without_splitting_a_token(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{db}", "demo"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    shown = mask(result.stdout, db)
    if os.environ.get("LEDGER_REGENERATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(shown, encoding="utf-8")
    assert shown == GOLDEN.read_text(encoding="utf-8")

    # One screen, as wide as asked.
    lines = shown.splitlines()
    assert len(lines) <= 50
    assert max(cell_len(line) for line in lines) <= WIDTH
    # Chinese throughout: no English words, only codes and ids.
    assert english_words(shown) == []
    # No token split: every case number, community code, credit code and date the overview
    # is made of stands whole on one line.
    data = json.loads(CliRunner().invoke(cli, ["--db", f"sqlite:///{db}", "cases", "--overdue",
                                               "--as-of", "2025-12-31T18:00",
                                               "--json"]).output)
    tokens = {c[k] for c in data["cases"] for k in ("ref", "community", "due")}
    tokens |= {"91310112MA1GH4U40X", "91310112MA1GE5Q84D", "91310112MA1GF8R09P",
               "2025-12-31", "ZQ/2025"}
    assert len(tokens) > 20
    for token in sorted(tokens):
        assert any(token in line for line in lines), token
    # The long tables wait for --full.
    assert "岗位名册" in shown and "职务" not in shown


def test_the_demo_prints_the_long_tables_after_the_overview_only_with_full(
        tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "demo", "--full"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    overview, roster, tracker = (out.index("The town at a glance"), out.index("town.government.mayor@ZQ"),
                                 out.index("Resolution tracker"))
    assert overview < roster < tracker
    assert out.index("Verified: ") < roster  # the verification is on the first screen


def test_the_demo_gives_its_overview_to_programs_as_json(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "demo", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    overview = data["overview"]
    assert data["verification"]["ok"] is True
    assert overview["resolutions"]["all"] == sum(c["items"] for c in overview["communities"])
    levels = {c["code"]: c["levels"] for c in overview["communities"]}
    assert levels["ZQ-005"] == {"illegal_construction": "black"}
    assert [(f["firm"], f["eliminated"]) for f in overview["appraisal"]["firms"]] == [
        ("91310112MA1GH4U40X", True), ("91310112MA1GE5Q84D", False),
        ("91310112MA1GF8R09P", True)]
