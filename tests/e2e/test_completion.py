"""Shell completion through click's own protocol (``_LEDGER_COMPLETE=bash_complete`` with
``COMP_WORDS`` and ``COMP_CWORD``, as the script ``_LEDGER_COMPLETE=bash_source ledger``
prints sends them): command names, and the words only the ledger knows, read from the
read-model tables of a ledger holding the sample year."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger.cli import cli


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A ledger with the bundled sample year (``ledger demo``)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('completion') / 'year.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "demo", "--json"])
    assert result.exit_code == 0, result.output
    return url


def complete(line: str, shell: str = "bash", **env: str) -> tuple[list[str], str]:
    """What the shell is offered for the last word of *line* (a line ending in a space
    completes a new word), and all the completion printed."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    result = CliRunner().invoke(cli, [], prog_name="ledger", env={
        "_LEDGER_COMPLETE": f"{shell}_complete", "COMP_WORDS": line,
        "COMP_CWORD": str(cword), **env})
    assert result.exit_code == 0, result.output
    printed = result.output.strip()
    if shell == "bash":
        return [item.split(",", 1)[1] for item in printed.splitlines()], printed
    return [], printed


def test_command_names_complete_without_a_ledger() -> None:
    assert complete("ledger ca")[0] == ["case", "cases"]
    assert complete("ledger case acc")[0] == ["accept"]


def test_case_numbers_complete_from_the_case_board(sample: str) -> None:
    offered, _ = complete(f"ledger --db {sample} case accept ZQ-2025-00003")
    assert sorted(offered) == [f"ZQ-2025-00003{n}" for n in range(9)]
    merged, _ = complete(f"ledger --db {sample} case merge ZQ-2025-000001 --into ZQ-2025-00001")
    assert "ZQ-2025-000012" in merged


def test_community_codes_complete_with_their_names(sample: str) -> None:
    offered, _ = complete(f"ledger --db {sample} cases --community ZQ-00")
    assert offered == [f"ZQ-00{n}" for n in range(1, 7)]
    assert complete(f"ledger --db {sample} status ")[0][:2] == ["ZQ-001", "ZQ-002"]
    _, zsh = complete(f"ledger --db {sample} roster ZQ-00", shell="zsh")
    assert "ZQ-001\n阳光花园" in zsh  # zsh and fish show the name beside the code


def test_posts_complete_the_posts_held_and_the_actors_own_first(sample: str) -> None:
    offered, _ = complete(f"ledger --db {sample} post appoint party_org.secretary@ZQ-00")
    assert offered == [f"party_org.secretary@ZQ-00{n}" for n in range(1, 7)]
    own, _ = complete(f"ledger --db {sample} case accept ZQ-2025-000001 --actor P-1001 --post ")
    assert own == ["party_org.secretary@ZQ-001"]


def test_firms_complete_by_credit_code_or_by_a_part_of_their_name(sample: str) -> None:
    offered, _ = complete(f"ledger --db {sample} tender bid ZQ-001/2025 T-1 91310112MA1GC")
    assert offered == ["91310112MA1GC7N476"]
    assert complete(f"ledger --db {sample} contracts --firm 金桥")[0] == ["91310112MA1GC7N476"]
    assert "91310112MA1GH4U40X" in complete(
        f"ledger --db {sample} appraisal record-firm-score 9131")[0]


def test_the_ledger_comes_from_ledger_db_when_db_is_not_given(sample: str) -> None:
    offered, _ = complete("ledger cases --community ZQ-006", LEDGER_DB=sample)
    assert offered == ["ZQ-006"]


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/missing.db", "sqlite:///{tmp}/not-a-ledger.db",
                                 "postgresql+psycopg://nobody@127.0.0.1:1/none"])
def test_a_missing_or_unreadable_ledger_completes_nothing_quietly(url: str,
                                                                  tmp_path: Path) -> None:
    (tmp_path / "not-a-ledger.db").write_bytes(b"this is not a database")
    db = url.format(tmp=tmp_path)
    started = time.monotonic()
    offered, printed = complete(f"ledger --db {db} case accept ZQ")
    assert (offered, printed) == ([], "")
    assert complete(f"ledger --db {db} cases --community ")[1] == ""
    assert time.monotonic() - started < 5
    assert not (tmp_path / "missing.db").exists()  # completion creates no ledger
