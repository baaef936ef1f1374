"""Authority for every command: each command type, sent by someone who lacks the authority,
is refused and leaves the store unchanged.

For every command type the test takes a real command (the first of its type in the sample
year, or an example below) and sends it against the loaded sample year four ways:

- **wrong post**: by a volunteer, a post with authority for nothing;
- **vacated post**: by the original actor in the original post, after that post was vacated;
- **another community's post**: the acting post moved to a different community;
- **not yet held**: at a time before the actor held the post.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.cli import cli, sample_files
from ledger.domains import all_command_types as known_types
from ledger.integrity import dsse
from ledger.integrity.checkpoint import load_private_key
from ledger.kernel.errors import AuthorityError, LedgerError, PostNotHeldError
from ledger.kernel.posts import COMMUNITY_RE, parse_post
from tests.conftest import load_sample_year, store_snapshot

#: Command types the sample year does not use, with a valid example of each.
EXAMPLES: dict[str, dict[str, Any]] = {
    "town.register": {"type": "town.register", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
                      "code": "MH", "name": "梅陇镇", "admin": "P-9001", "admin_name": "周明",
                      "occurred_at": "2025-06-01"},
    "town.add_department": {"type": "town.add_department", "actor": "P-0001",
                            "post": "town.ledger_admin@ZQ", "town": "ZQ", "code": "fire",
                            "name": "消防救援站", "occurred_at": "2025-06-01"},
    "warning.escalate": {"type": "warning.escalate", "actor": "P-0008",
                         "post": "town.supervision_team.leader@ZQ", "community": "ZQ-001",
                         "problem_type": "illegal_construction", "level": "red",
                         "reason": "情况恶化", "evidence": ["report:1"],
                         "occurred_at": "2025-06-01"},
    "oc.end_term": {"type": "oc.end_term", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
                    "oc": "ZQ-001/2025", "reason": "任期届满", "occurred_at": "2025-12-01"},
    "firm.record_elimination": {"type": "firm.record_elimination", "actor": "system:rules",
                                "firm": "91310112MA1GC7N476", "year": 2025,
                                "rule": "firm.elimination@1", "reason": "得分低于60分且满意度低于50%",
                                "occurred_at": "2025-12-01"},
    "supervision.run": {"type": "supervision.run", "actor": "P-0008",
                        "post": "town.supervision_team.leader@ZQ", "town": "ZQ",
                        "as_of": "2025-12-20",
                        "targets": [{"kind": "case", "key": "ZQ-2025-000001"}],
                        "occurred_at": "2025-12-20T18:00"},
    "contract.contest_termination": {
        "type": "contract.contest_termination", "actor": "P-3003",
        "post": "owners_committee.director@ZQ-003", "oc": "ZQ-003/2025",
        "contract": "HT-ZQ003-2025-01", "firm": "91310112MA1GB3K258",
        "contested_by": "常青物业", "grounds": "不服解聘", "occurred_at": "2025-09-01"},
    "appraisal.rerun": {"type": "appraisal.rerun", "actor": "P-0010",
                        "post": "town.housing_office.director@ZQ", "town": "ZQ", "year": 2025,
                        "reason": "更正", "cascade": True, "occurred_at": "2025-12-28"},
    "appraisal.record_indicator": {"type": "appraisal.record_indicator", "actor": "P-0004",
                                   "post": "town.peace_office.director@ZQ", "year": 2025,
                                   "code": "i09_patrols", "community": "ZQ-001", "value": "59",
                                   "occurred_at": "2025-12-12T09:00:00+08:00"},
    "log.new_origin": {"type": "log.new_origin", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
                       "town": "ZQ", "new_origin": "zq-governance-ledger/ZQ/00000000000000aa",
                       "previous_origin": "zq-governance-ledger/ZQ/0000000000000001",
                       "previous_size": 1, "reason": "换用新的日志来源",
                       "occurred_at": "2025-06-01"},
    "person.key.register": {"type": "person.key.register", "actor": "P-0001",
                            "post": "town.ledger_admin@ZQ", "town": "ZQ", "person": "P-0101",
                            "public_key": "Tgdv+XYMrs5SqfBGJTfNMV3SkM7vofoktXsUxm4/dho=",
                            "occurred_at": "2025-06-01"},
    "person.key.revoke": {"type": "person.key.revoke", "actor": "P-0001",
                          "post": "town.ledger_admin@ZQ", "town": "ZQ", "person": "P-0101",
                          "key_id": "ed25519:f9a51c3c1fd623c9", "reason": "遗失",
                          "occurred_at": "2025-06-01"},
    "person.key.rotate": {"type": "person.key.rotate", "actor": "P-0001",
                          "post": "town.ledger_admin@ZQ", "town": "ZQ", "person": "P-0101",
                          "old_key_id": "ed25519:f9a51c3c1fd623c9",
                          "public_key": "Tgdv+XYMrs5SqfBGJTfNMV3SkM7vofoktXsUxm4/dho=",
                          "occurred_at": "2025-06-01"},
}


def _commands() -> dict[str, dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for path in sample_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                cmd = json.loads(line)
                first.setdefault(cmd["type"], cmd)
    return {t: first.get(t) or EXAMPLES[t] for t in known_types()}


COMMANDS = _commands()


KEYS: dict[str, Any] = {}
"""Each official's key, as the demo made them: every command below is signed by its actor, so
what refuses it is the authority check, not a missing signature."""


@pytest.fixture(scope="module")
def sample_year(tmp_path_factory: pytest.TempPathFactory) -> GovernanceLedger:
    path = tmp_path_factory.mktemp("authority") / "year.db"
    url = f"sqlite:///{path}"
    result = CliRunner().invoke(cli, ["--db", url, "demo", "--json"])
    assert result.exit_code == 0, result.output
    KEYS.clear()
    KEYS.update({p.stem: load_private_key(p) for p in Path(f"{path}.keys").glob("*.key")})
    return GovernanceLedger(url)


def _other_community(post: str) -> str | None:
    parsed = parse_post(post)
    if not COMMUNITY_RE.match(parsed.scope):
        return None
    other = "ZQ-002" if parsed.scope != "ZQ-002" else "ZQ-003"
    return post.replace(f"@{parsed.scope}", f"@{other}")


def _refused(led: GovernanceLedger, cmd: dict[str, Any],
             keys: dict[str, Any] | None = None) -> LedgerError:
    before = store_snapshot(led)
    command = {**cmd, "command_id": f"auth-{uuid.uuid4()}"}
    key = (KEYS if keys is None else keys).get(command["actor"])
    with pytest.raises((AuthorityError, PostNotHeldError)) as info:
        led.execute(dsse.sign_command(key, json.dumps(command).encode()) if key else command)
    assert store_snapshot(led) == before
    return info.value


def test_every_command_type_is_covered() -> None:
    assert set(COMMANDS) == set(known_types())


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_wrong_post_is_refused(sample_year: GovernanceLedger, kind: str) -> None:
    cmd = {**COMMANDS[kind], "actor": "P-1014", "post": "volunteer@ZQ-001",
           "occurred_at": "2025-06-01"}
    _refused(sample_year, cmd)


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_post_not_yet_held_at_occurred_at_is_refused(sample_year: GovernanceLedger,
                                                      kind: str) -> None:
    cmd = COMMANDS[kind]
    if cmd["actor"].startswith("system:"):
        pytest.skip("system actors hold no posts")
    _refused(sample_year, {**cmd, "occurred_at": "2024-06-01"})


@pytest.mark.parametrize("kind", sorted(COMMANDS))
def test_post_in_another_community_is_refused(sample_year: GovernanceLedger, kind: str) -> None:
    cmd = COMMANDS[kind]
    other = _other_community(cmd["post"]) if cmd.get("post") else None
    if other is None:
        pytest.skip("the command is issued from a town post")
    holder = {"ZQ-002": "P-2", "ZQ-003": "P-3"}[parse_post(other).scope]
    # Whoever holds that post in the other community acts in it (or the original actor).
    _refused(sample_year, {**cmd, "post": other,
                           "actor": cmd["actor"].replace("P-1", holder, 1)})


def test_vacated_post_is_refused(tmp_path: Path) -> None:
    """One representative per acting post: after the post is vacated its holder is refused."""
    url = f"sqlite:///{tmp_path / 'vacated.db'}"
    led = GovernanceLedger(url)
    load_sample_year(led)  # unsigned (the domain's rules are what is tested here)
    by_post: dict[tuple[str, str], dict[str, Any]] = {}
    for cmd in COMMANDS.values():
        if cmd.get("post") and not cmd["actor"].startswith("system:"):
            by_post.setdefault((cmd["actor"], cmd["post"]), cmd)
    for (actor, post), cmd in sorted(by_post.items()):
        if post == "town.ledger_admin@ZQ":
            continue  # vacated last, below
        with contextlib.suppress(PostNotHeldError):  # some left their post during the year
            led.execute({"type": "post.vacate", "actor": "P-0001",
                         "post": "town.ledger_admin@ZQ", "target_post": post, "person": actor,
                         "occurred_at": "2026-01-01", "reason": "测试离任"})
        error = _refused(led, {**cmd, "occurred_at": "2026-01-02"}, keys={})
        assert isinstance(error, PostNotHeldError), (cmd["type"], error)
    # Last, the ledger administrator leaves; his next command is refused too.
    led.execute({"type": "post.vacate", "actor": "P-0001", "post": "town.ledger_admin@ZQ",
                 "target_post": "town.ledger_admin@ZQ", "person": "P-0001",
                 "occurred_at": "2026-01-01", "reason": "调任"})
    error = _refused(led, {**COMMANDS["community.register"], "occurred_at": "2026-01-02"},
                     keys={})
    assert isinstance(error, PostNotHeldError)
    led.close()
