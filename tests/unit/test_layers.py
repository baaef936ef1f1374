"""The rules between layers, as import contracts (``[tool.importlinter]`` in pyproject.toml):
they hold, and a forbidden import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT, "--no-cache", "--config", str(cwd / "pyproject.toml")],
                          cwd=cwd, capture_output=True, text=True, check=False, timeout=300,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_import_contracts_hold() -> None:
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "0 broken" in run.stdout


FORBIDDEN = [
    # (module that gains the import, the import, the contract that breaks)
    ("rules/firm.py", "import ledger.application", "rules stay pure"),
    ("kernel/writer.py", "if TYPE_CHECKING:\n    import ledger.handlers.cases",
     "the kernel imports nothing above it"),
    ("kernel/command.py", "import ledger.domains", "the kernel imports nothing above it"),
    ("projections/cases.py", "import ledger.aggregates.case", "read models import no aggregate"),
    ("handlers/roster.py", "import ledger.application", "nothing below the application"),
    ("aggregates/town.py", "import ledger.projections.status", "aggregates and rules import"),
]


@pytest.mark.parametrize(("module", "line", "contract"), FORBIDDEN,
                         ids=[m for m, _l, _c in FORBIDDEN])
def test_a_forbidden_import_breaks_them(tmp_path: Path, module: str, line: str,
                                        contract: str) -> None:
    """A module that reaches up a layer, even for type hints only, is caught."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "ledger", copy / "ledger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    path = copy / "ledger" / module
    text = path.read_text(encoding="utf-8")
    if "TYPE_CHECKING" in line and "import TYPE_CHECKING" not in text:
        line = "from typing import TYPE_CHECKING\n" + line
    path.write_text(text + "\n" + line + "  # noqa\n", encoding="utf-8")
    run = _lint(copy)
    assert run.returncode != 0
    assert "BROKEN" in run.stdout
    broken = [ln for ln in run.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(contract in ln for ln in broken), run.stdout[-3000:]
    dotted = "ledger." + module.removesuffix(".py").replace("/", ".")
    assert dotted in run.stdout
