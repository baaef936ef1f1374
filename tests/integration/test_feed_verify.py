"""The verifying subscriber against a real ``ledger serve`` over loopback HTTP: it hands on
every event once, only under a signed checkpoint, and stops with a named error on an edited
event, a rewritten history signed with the stolen key, a rolled-back checkpoint, another key
or another origin — its own position and the ledger unchanged."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.application import GovernanceLedger
from ledger.feed.client import FeedIntegrityError, Subscriber
from ledger.integrity import appendonly, sealer
from ledger.integrity import checkpoint as cp
from ledger.integrity.sqlstore import INTEGRITY_TABLES, SqlNodeStore, checkpoints, merkle_nodes
from ledger.integrity.tree import IncrementalTree
from ledger.kernel.store import command_log
from tests.conftest import ADMIN, store_snapshot, sunny_garden
from tests.feedkit import serve

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(7, 39)))


def _appoint(ledger: GovernanceLedger, n: int) -> None:
    ledger.execute({"type": "post.appoint", **ADMIN, "occurred_at": "2025-02-01",
                    "target_post": f"building_leader@ZQ-001/B{n}", "person": f"P-{n:04d}",
                    "person_name": f"楼组长{n}"})


def _vk(ledger: GovernanceLedger) -> str:
    return cp.format_verifier_key(sealer.log_origin(ledger), KEY.public_key())


def _positions(ledger: GovernanceLedger) -> list[int]:
    with ledger.engine.connect() as conn:
        return [int(i) for i in conn.execute(sa.select(ledger.events_table.c.id)
                                             .order_by(ledger.events_table.c.id)).scalars()]


def _raw(ledger: GovernanceLedger, sql: str, **params: Any) -> None:
    appendonly.remove(ledger.engine, [ledger.events_table.name, command_log.name,
                                      *INTEGRITY_TABLES])
    with ledger.engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def _forge(ledger: GovernanceLedger, victim: int) -> None:
    """Another person in one stored event (triggers dropped, as an attacker would)."""
    t = ledger.events_table
    with ledger.engine.connect() as conn:
        state = bytes(conn.execute(sa.select(t.c.state).where(t.c.id == victim)).scalar_one())
    forged = state.replace(b'"person":"P-', b'"person":"X-', 1)
    assert forged != state
    _raw(ledger, f"UPDATE {t.name} SET state = :s WHERE id = :i", s=forged, i=victim)


class Received:
    """A subscriber's handler recording what it was handed, in the subscriber's database."""

    def __init__(self, sub: Subscriber) -> None:
        self.sub = sub
        sub.db.execute("CREATE TABLE IF NOT EXISTS got (position INTEGER, type TEXT)")

    def __call__(self, db: sqlite3.Connection, event: dict[str, Any]) -> None:
        db.execute("INSERT INTO got VALUES (?, ?)", (event["position"], event["type"]))

    def positions(self) -> list[int]:
        return [r[0] for r in self.sub.db.execute("SELECT position FROM got ORDER BY rowid")]

    def snapshot(self) -> tuple[Any, ...]:
        v = self.sub.verified()
        return (self.sub.position(), self.positions(),
                None if v is None else (v.frontier.size, v.frontier.to_bytes(),
                                        v.checkpoint and v.checkpoint.note))


@pytest.fixture
def signed(ledger: GovernanceLedger) -> GovernanceLedger:
    sunny_garden(ledger)
    for n in range(6):
        _appoint(ledger, n)
    sealer.seal(ledger, key=KEY)
    return ledger


@pytest.fixture
def feed(signed: GovernanceLedger, db_url: str) -> Iterator[str]:
    with serve(db_url) as url:
        yield url


def _subscriber(feed: str, tmp_path: Path, ledger: GovernanceLedger, name: str = "s",
                **kw: Any) -> Subscriber:
    kw.setdefault("log_key", _vk(ledger))
    return Subscriber(feed, tmp_path / f"{name}.db", verify=True, page_size=4, **kw)


def test_a_verifying_subscriber_hands_on_every_event_once_under_a_checkpoint(
        signed: GovernanceLedger, feed: str, tmp_path: Path) -> None:
    ledger = signed
    with _subscriber(feed, tmp_path, ledger) as sub:
        got = Received(sub)
        assert sub.catch_up(got) == len(_positions(ledger))
        assert got.positions() == _positions(ledger)
        signed_size = sub.verified().checkpoint.size  # type: ignore[union-attr]
        for n in range(6, 9):
            _appoint(ledger, n)
        assert sub.catch_up(got) == 0  # not covered by a checkpoint yet: they wait
        assert sub.verified().frontier.size == signed_size  # type: ignore[union-attr]
        sealer.seal(ledger, key=KEY)
        assert sub.catch_up(got) == 3
        assert got.positions() == _positions(ledger)
        assert sub.catch_up(got) == 0
    with _subscriber(feed, tmp_path, ledger, "filtered",
                     types=["Community.PostAppointed"]) as only:
        picked = Received(only)
        only.catch_up(picked)
        assert only.position() == _positions(ledger)[-1]
        assert len(picked.positions()) == 11  # 2 sunny-garden posts + 9 building leaders


def test_an_edited_event_row_is_a_bad_record(signed: GovernanceLedger, feed: str,
                                             tmp_path: Path) -> None:
    ledger = signed
    victim = _positions(ledger)[6]
    _forge(ledger, victim)
    before = store_snapshot(ledger)
    with _subscriber(feed, tmp_path, ledger) as sub:
        got = Received(sub)
        with pytest.raises(FeedIntegrityError) as e:
            sub.catch_up(got)
        assert e.value.kind == "bad_record"
        assert f"log position {victim}" in str(e.value)
        assert all(p < victim for p in got.positions())  # what precedes it was verified
        mark = got.snapshot()
        with pytest.raises(FeedIntegrityError):
            sub.catch_up(got)  # it stays stopped there
        assert got.snapshot() == mark
    assert store_snapshot(ledger) == before


def _rewrite_history(ledger: GovernanceLedger, victim: int) -> None:
    """With the stolen key: rewrite one event, rebuild the tree from the forged log and sign
    a checkpoint of it (the signer is bypassed)."""
    t = ledger.events_table
    _forge(ledger, victim)
    with ledger.engine.begin() as conn:
        rows = list(sealer.event_rows(conn, t))
        leaves = [sealer.leaf_v2(i, row, sealer.command_row_of(conn, row.notification_id),
                                 ledger.mapper) for i, row in enumerate(rows)]
        origin = sealer.log_origin(ledger, conn)
        conn.execute(sa.delete(merkle_nodes))
        conn.execute(sa.delete(checkpoints))
        tree = IncrementalTree(SqlNodeStore(conn), 0)
        tree.append(leaves)
        note = cp.sign_checkpoint(cp.Checkpoint(origin, len(leaves), tree.root()), origin, KEY)
        conn.execute(sa.insert(checkpoints).values(
            size=len(leaves), root=tree.root(), note=note,
            verifier_key=cp.format_verifier_key(origin, KEY.public_key()),
            created_at="2025-02-02T00:00:00+00:00"))


def test_a_rewritten_history_signed_with_the_stolen_key_stops_a_subscriber_that_holds_it(
        signed: GovernanceLedger, feed: str, tmp_path: Path) -> None:
    ledger = signed
    with _subscriber(feed, tmp_path, ledger) as sub:
        got = Received(sub)
        sub.catch_up(got)
        mark = got.snapshot()
        _rewrite_history(ledger, _positions(ledger)[5])
        before = store_snapshot(ledger)
        with pytest.raises(FeedIntegrityError) as e:
            sub.catch_up(got)
        assert e.value.kind == "position_rewritten"
        assert got.snapshot() == mark
        assert store_snapshot(ledger) == before
    with _subscriber(feed, tmp_path, ledger, "late") as late:  # a new reader sees a valid log
        assert late.catch_up(Received(late)) == len(_positions(ledger))


def test_a_rolled_back_checkpoint_is_an_inconsistent_checkpoint(
        signed: GovernanceLedger, feed: str, tmp_path: Path) -> None:
    ledger = signed
    with _subscriber(feed, tmp_path, ledger) as sub:
        got = Received(sub)
        sub.catch_up(got)
        _appoint(ledger, 50)
        newest = sealer.seal(ledger, key=KEY).checkpoint
        assert sub.catch_up(got) == 1
        mark = got.snapshot()
        _raw(ledger, f"DELETE FROM {checkpoints.name} WHERE size = :n", n=newest.size)
        before = store_snapshot(ledger)
        with pytest.raises(FeedIntegrityError) as e:
            sub.catch_up(got)
        assert e.value.kind == "inconsistent_checkpoint" and "rolled back" in str(e.value)
        assert got.snapshot() == mark
        assert store_snapshot(ledger) == before


def test_another_key_or_another_origin_is_refused_before_anything_is_handed_on(
        signed: GovernanceLedger, feed: str, tmp_path: Path) -> None:
    ledger = signed
    other = cp.format_verifier_key(sealer.log_origin(ledger),
                                   Ed25519PrivateKey.generate().public_key())
    with _subscriber(feed, tmp_path, ledger, "key", log_key=other) as sub:
        got = Received(sub)
        with pytest.raises(FeedIntegrityError) as e:
            sub.catch_up(got)
        assert e.value.kind == "checkpoint_signature"
        assert got.snapshot() == (0, [], None)
    with _subscriber(feed, tmp_path, ledger, "origin",
                     origin="zq-governance-ledger/ZQ/0000000000000000") as sub:
        got = Received(sub)
        with pytest.raises(FeedIntegrityError) as e:
            sub.catch_up(got)
        assert e.value.kind == "origin_changed"
        assert got.snapshot() == (0, [], None)


def test_pages_and_the_stream_carry_the_origin_and_the_latest_checkpoint(
        signed: GovernanceLedger, feed: str) -> None:
    import json

    import httpx

    ledger = signed
    origin = sealer.log_origin(ledger)
    latest = sealer.latest_checkpoint(ledger)
    assert latest is not None
    page = httpx.get(f"{feed}/events", params={"limit": 2, "records": 1}).json()
    assert page["origin"] == origin
    assert page["checkpoint"]["size"] == latest.size and page["checkpoint"]["note"] == latest.note
    assert [e["record"]["position"] for e in page["events"]] == [0, 1]
    assert page["events"][0]["record"]["leaf_format"] == 2
    assert "record" not in httpx.get(f"{feed}/events", params={"limit": 1}).json()["events"][0]
    frames: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + 20
    with httpx.Client(base_url=feed, timeout=10) as c, c.stream(
            "GET", "/events/stream", params={"after": _positions(ledger)[-2]}) as r:
        kind = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                frames.append((kind, json.loads(line[5:])))
                if len(frames) == 2:
                    _appoint(ledger, 70)  # written and signed while we listen
                    sealer.seal(ledger, key=KEY)
            elif line == "":
                kind = ""
            if len(frames) == 4 or time.monotonic() > deadline:
                break
    assert [k for k, _ in frames[:2]] == ["checkpoint", ""]
    assert frames[0][1] == {"origin": origin, "checkpoint": page["checkpoint"]}
    assert frames[1][1]["checkpoint"] == {"size": latest.size, "root": page["checkpoint"]["root"]}
    assert sorted(k for k, _ in frames[2:]) == ["", "checkpoint"]
    new_cp = next(f for k, f in frames[2:] if k == "checkpoint")
    new_event = next(f for k, f in frames[2:] if k == "")
    assert new_cp["checkpoint"]["size"] == latest.size + 1
    assert new_event["origin"] == origin
    assert new_event["checkpoint"]["size"] in (latest.size, latest.size + 1)


def test_an_event_whose_leaf_was_removed_is_a_bad_record_not_a_wait(
        signed: GovernanceLedger, feed: str, tmp_path: Path) -> None:
    ledger = signed
    victim = _positions(ledger)[3]
    _raw(ledger, "DELETE FROM ledger_merkle_leaves WHERE notification_id = :i", i=victim)
    with _subscriber(feed, tmp_path, ledger) as sub:
        got = Received(sub)
        with pytest.raises(FeedIntegrityError) as e:
            sub.catch_up(got)
        assert e.value.kind == "bad_record" and "has no leaf" in str(e.value)
        assert all(p < victim for p in got.positions())
