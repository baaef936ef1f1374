"""Hostile input: a property-based fuzzer sends malformed and adversarial commands through
``execute`` and ``apply``. Every one is accepted as valid or refused with a clear one-line
LedgerError — never another exception — and a refusal leaves the store unchanged.

``LEDGER_FUZZ_EXAMPLES`` sets the number of cases per test (default 150).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application import GovernanceLedger
from ledger.cli import cli
from ledger.domains import all_command_types as known_types
from ledger.kernel.command import COMMANDS
from ledger.kernel.errors import LedgerError
from tests.conftest import store_snapshot, sunny_garden

EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "150"))

NASTY = [
    "'; DROP TABLE ledger_events; --", "\" OR 1=1 --", "$(rm -rf /)", "`reboot`", "a|b&&c;d",
    "../../etc/passwd", "%s%s%n", "{{7*7}}", "<script>alert(1)</script>", "\u202e\u0644\u0627",
    "颛桥镇\u200b", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "x" * 100_000, "", " ", "\x00", "\ud800", "\x1b[31m",
    "P-0001", "town.ledger_admin@ZQ", "party_org.secretary@ZQ-001", "ZQ-001", "ZQ",
    "2025-02-30", "0000-01-01", "9999-12-31T23:59:59", "2025-13-01", "NaN",
]

leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=60),
    st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()),
)
values = st.recursive(leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


@st.composite
def commands(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.one_of(st.sampled_from(known_types()), st.sampled_from(NASTY)))
    fields = list(COMMANDS[kind].model_fields) if kind in COMMANDS else ["actor", "post"]
    cmd: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        cmd |= {"actor": "P-0001", "post": "town.ledger_admin@ZQ"}
    for name in fields:
        if name != "type" and draw(st.integers(0, 3)):
            cmd[name] = draw(values)
    if draw(st.integers(0, 4)) == 0:
        cmd[draw(st.text(max_size=10))] = draw(values)
    if draw(st.integers(0, 6)) == 0:
        cmd.pop("type")
    return cmd


@pytest.fixture(scope="module")
def fuzz_ledger(tmp_path_factory: pytest.TempPathFactory) -> GovernanceLedger:
    led = GovernanceLedger(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    sunny_garden(led)
    return led


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(cmd=commands())
def test_execute_accepts_or_refuses_clearly_and_refusal_changes_nothing(
        fuzz_ledger: GovernanceLedger, cmd: dict[str, Any]) -> None:
    before = store_snapshot(fuzz_ledger)
    refusal: LedgerError | None = None
    try:
        fuzz_ledger.execute(cmd)
    except LedgerError as e:
        refusal = e
    if refusal is not None:
        assert str(refusal) and "\n" not in str(refusal)
        assert store_snapshot(fuzz_ledger) == before


lines = st.one_of(
    commands().map(lambda c: json.dumps(c, ensure_ascii=False, default=str).encode("utf-8",
                                                                                   "surrogatepass")),
    st.binary(max_size=200),
    st.sampled_from([b"\xff\xfe{", b"[" * 5000 + b"]" * 5000, b'{"type": "post.appoint"',
                     b"null", b"42", b'"text"', b'{"type": {"nested": true}}']),
)


@settings(max_examples=max(10, EXAMPLES // 5), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=st.lists(lines, min_size=1, max_size=8))
def test_apply_reports_every_hostile_line_and_never_crashes(
        fuzz_ledger: GovernanceLedger, tmp_path: Path, batch: list[bytes]) -> None:
    url = fuzz_ledger.settings.db_url
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(b.replace(b"\n", b" ") for b in batch) + b"\n")
    before = store_snapshot(fuzz_ledger)
    result = CliRunner().invoke(cli, ["--db", url, "--lang", "en", "apply", "--keep-going",
                                      "--json", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    report = json.loads(result.output)
    rejected = [r for r in report["lines"] if r["outcome"] == "rejected"]
    assert result.exit_code == (1 if rejected else 0)
    for r in rejected:
        assert r["message"] and "\n" not in r["message"]
    if not [r for r in report["lines"] if r["outcome"] == "accepted"]:
        assert store_snapshot(fuzz_ledger) == before
