# Sourced by scripts/demo, scripts/test and scripts/bench: make sure .venv exists and holds
# the project with its dev dependencies. Reinstalls only when pyproject.toml changes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
pick_python() {
    for candidate in "${LEDGER_PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 && \
           "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    echo "error: Python 3.11 or newer is required (set LEDGER_PYTHON to its path)" >&2
    return 1
}
if [ ! -x "$VENV/bin/python" ]; then
    PY="$(pick_python)"
    echo "creating $VENV with $PY" >&2
    "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
    echo "installing the ledger and its dependencies into $VENV" >&2
    # The installer's own output (and its build backend's) goes to a log, shown only by path.
    LOG="$VENV/pip-install.log"
    if ! { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip &&
           "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[dev]"
         } >"$LOG" 2>&1; then
        echo "error: installing failed; the installer's log is $LOG" >&2
        return 1
    fi
    rm -f "$VENV"/.installed-*
    touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
