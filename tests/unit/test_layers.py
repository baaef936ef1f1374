"""The rules between layers, as import contracts (``[tool.importlinter]`` in pyproject.toml):
they hold, and a forbidden import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

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


def test_a_forbidden_import_breaks_them(tmp_path: Path) -> None:
    """A rule module that reaches up to the application is caught."""
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "ledger", copy / "ledger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    firm = copy / "ledger" / "rules" / "firm.py"
    firm.write_text(firm.read_text(encoding="utf-8") + "\nimport ledger.application  # noqa\n",
                    encoding="utf-8")
    run = _lint(copy)
    assert run.returncode != 0
    assert "rules stay pure" in run.stdout and "BROKEN" in run.stdout
    assert "ledger.rules.firm -> ledger.application" in run.stdout
