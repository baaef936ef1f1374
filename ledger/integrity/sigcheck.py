"""``verify``'s signature pass: every event's signature re-checked against the key history.

Officials sign commands (``ledger.signatures``); every event a command wrote keeps, in its
envelope, the key id, the signature and the SHA-256 of the exact signed bytes, and those bytes
are kept in ``ledger_signed_commands``. This pass reads the log once, in order:

- the key history is read first from the ``PersonKeys`` events; a key counts only after its
  registration's position in the log, from its ``valid_from``, until its ``revoked_from``
  (a revocation recorded later but dated back covers what the key signed since that time),
  each compared with the **record time** of the event it signed;
- for each command, once: the stored bytes hash to the digest in the envelope, the signature
  verifies over their DSSE PAE with the registered key, the bytes parse to a command with the
  event's ``command_id``, ``type`` and ``actor``, and the key was valid at record time;
- every other event of the command carries the same signature;
- an unsigned event is a finding when its actor held a valid key at its record time (nobody
  may act unsigned once they have a key), otherwise it is counted and marked ``unsigned``
  (with ``require_signed``: a finding); ``system`` events (bootstrap, rule outcomes) and events
  of earlier releases (no ``signature`` member) are counted.

A payload blanked by ``erase-subject`` cannot be re-checked; it is counted as erased.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from ledger.integrity import dsse
from ledger.kernel.i18n import _
from ledger.kernel.store import placeholder, signed_commands

__all__ = ["SignatureStats", "check_signatures"]



@dataclass
class SignatureStats:
    """What the signature pass counted."""

    signed: int = 0
    """Events signed by an official (their command's signature checked)."""
    commands: int = 0
    """Signatures verified (one per signed command)."""
    unsigned: int = 0
    """Events accepted unsigned (the ledger's unsigned mode), marked as such."""
    system: int = 0
    """Events of system actors (bootstrap, recorded rule outcomes)."""
    earlier: int = 0
    """Events of earlier releases, recorded before commands were signed."""
    erased: int = 0
    """Signed events whose signed bytes were blanked by an erasure (not re-checkable)."""
    unsigned_positions: list[int] = field(default_factory=list)

    def summary(self) -> str:
        """The signature pass in a sentence, in the reader's language."""
        parts = [_("{signed} events signed by officials ({commands} signatures verified)").format(
            signed=self.signed, commands=self.commands)]
        if self.unsigned:
            parts.append(_("{n} accepted unsigned (marked; first at log position {first})").format(
                n=self.unsigned, first=", ".join(map(str, self.unsigned_positions[:5]))))
        if self.system:
            parts.append(_("{n} by the system").format(n=self.system))
        if self.earlier:
            parts.append(_("{n} of an earlier release, before signatures").format(n=self.earlier))
        if self.erased:
            parts.append(_("{n} whose signed bytes were erased").format(n=self.erased))
        return "; ".join(parts)


class _Key:
    __slots__ = ("algorithm", "public", "registered", "revoked_from", "valid_from")

    def __init__(self, algorithm: str, public: Any, valid_from: datetime,
                 registered: int = 0) -> None:
        self.algorithm = algorithm
        self.public = public
        self.valid_from = valid_from
        self.registered = registered
        """Log position of the key's registration: it signs nothing before it."""
        self.revoked_from: datetime | None = None


def _key_history(conn: Connection, table: str) -> dict[str, dict[str, _Key]]:
    """Every person's keys, from the ``PersonKeys`` events (registrations and revocations)."""
    raw: Any = conn.connection.dbapi_connection
    cur = raw.cursor()
    keys: dict[str, dict[str, _Key]] = {}
    people: dict[Any, str] = {}
    try:
        cur.execute(f"SELECT id, originator_id, topic, state FROM {table} WHERE topic LIKE "
                    f"{placeholder(conn)} ORDER BY id", ("%:PersonKeys.%",))
        for nid, oid, topic, state in cur.fetchall():
            try:
                data = orjson.loads(bytes(state))
            except orjson.JSONDecodeError:
                continue
            if not isinstance(data, dict):
                continue
            if "code" in data:
                people[oid] = str(data["code"])
            _learn(data, people.get(oid, ""), str(topic), keys, int(nid))
    finally:
        cur.close()
    return keys


def _events(conn: Connection, table: str, lo: int = 0, hi: int | None = None,
            page: int = 5000) -> Iterator[list[tuple[int, Any, str, bytes]]]:
    """The events with *lo* < id <= *hi*, a page at a time."""
    mark = placeholder(conn)
    after = lo
    raw: Any = conn.connection.dbapi_connection
    bound = f" AND id <= {int(hi)}" if hi is not None else ""
    while True:
        cur = raw.cursor()
        try:
            cur.execute(f"SELECT id, originator_id, topic, state FROM {table} WHERE id > {mark}"
                        f"{bound} ORDER BY id LIMIT {mark}", (after, page))
            rows = cur.fetchall()
        finally:
            cur.close()
        if not rows:
            return
        yield [(int(i), o, str(t), bytes(s)) for i, o, t, s in rows]
        after = int(rows[-1][0])


def _payloads(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[bytes | None, str, str]]:
    out: dict[str, tuple[bytes | None, str, str]] = {}
    mark = placeholder(conn)
    raw: Any = conn.connection.dbapi_connection
    for i in range(0, len(ids), 500):
        chunk = list(ids[i:i + 500])
        cur = raw.cursor()
        try:
            cur.execute(f"SELECT command_id, payload, payload_sha256, payload_type FROM "
                        f"{signed_commands.name} WHERE command_id IN "
                        f"({', '.join([mark] * len(chunk))})", chunk)
            for cid, payload, digest, ptype in cur.fetchall():
                out[str(cid)] = (None if payload is None else bytes(payload), str(digest),
                                 str(ptype))
        finally:
            cur.close()
    return out


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


_SYSTEM = b'"signature":{"unsigned":"system"}'
_SYSTEM_ACTOR = b'"envelope":{"actor":"system:'
_UNSIGNED = b'"signature":{"unsigned":"allowed"}'

Found = Callable[[int, str, str], None]
"""``found(notification id, kind, detail)``."""

#: Events from which the pass runs in worker processes (when ``verify`` has several).
PARALLEL_MIN = 20_000


def check_signatures(conn: Connection, table: str,
                     found: Callable[[int | None, str, str], None], *,
                     require_signed: bool = False,
                     position_of: Callable[[int], int | None] | None = None,
                     workers: int = 1, url: str | None = None, chunk: int = 25_000,
                     parallel_min: int = PARALLEL_MIN,
                     plain_keys: dict[str, dict[str, tuple[Any, ...]]] | None = None,
                     ) -> SignatureStats:
    """Run the pass over the events table *table*; report each problem with
    ``found(position, kind, detail)`` (*position_of* maps a notification id to its leaf
    position; default id - 1). With *workers* > 1 and the database *url*, ranges of *chunk*
    events are checked in that many worker processes (each verification costs about 0.1 ms
    of one core: the pass is bound by Ed25519). *plain_keys* is the key history when it was
    read already (:func:`plain_key_history`, e.g. in a worker beside ``verify``'s leaves)."""
    pos: Callable[[int], int | None] = position_of or (lambda nid: nid - 1)
    keys = _key_history(conn, table) if plain_keys is None else _keys_of(plain_keys)
    era = _era_start(conn, table)
    top = conn.exec_driver_sql(f"SELECT max(id) FROM {table}").scalar() or 0
    if workers <= 1 or url is None or int(top) < parallel_min:
        return _scan(conn, table, keys, lambda nid, kind, detail: found(pos(nid), kind, detail),
                     require_signed, era=era)
    from concurrent.futures import ProcessPoolExecutor

    from ledger.integrity.verifier import _pool_context

    plain = _plain_keys(keys)
    stats = SignatureStats()
    with ProcessPoolExecutor(workers, mp_context=_pool_context()) as pool:
        futures = [pool.submit(_scan_range, url, table, plain, lo, min(lo + chunk, int(top)),
                               require_signed, era) for lo in range(0, int(top), chunk)]
        for future in futures:
            part, problems = future.result()
            for nid, kind, detail in problems:
                found(pos(nid), kind, detail)
            for name in ("signed", "commands", "unsigned", "system", "earlier", "erased"):
                setattr(stats, name, getattr(stats, name) + getattr(part, name))
            stats.unsigned_positions = (stats.unsigned_positions
                                        + part.unsigned_positions)[:5]
    return stats


def _plain_keys(keys: dict[str, dict[str, _Key]]) -> dict[str, dict[str, tuple[Any, ...]]]:
    """The key history as plain data (for worker processes)."""
    return {person: {kid: (k.algorithm, dsse.public_key_b64(k.public), k.valid_from,
                           k.registered, k.revoked_from) for kid, k in history.items()}
            for person, history in keys.items()}


def _keys_of(plain: dict[str, dict[str, tuple[Any, ...]]]) -> dict[str, dict[str, _Key]]:
    keys: dict[str, dict[str, _Key]] = {}
    for person, history in plain.items():
        for kid, (alg, public, valid_from, registered, revoked_from) in history.items():
            key = _Key(alg, dsse.load_public_key(alg, public), valid_from, registered)
            key.revoked_from = revoked_from
            keys.setdefault(person, {})[kid] = key
    return keys


def plain_key_history(url: str, table: str) -> dict[str, dict[str, tuple[Any, ...]]]:
    """In a worker process: the key history (a scan of the whole log's topics), as plain
    data."""
    from ledger.integrity.verifier import _worker_engine

    with _worker_engine(url).connect() as conn:
        return _plain_keys(_key_history(conn, table))


def _scan_range(url: str, table: str, plain: dict[str, dict[str, tuple[Any, ...]]], lo: int,
                hi: int, require_signed: bool, era: int | None,
                ) -> tuple[SignatureStats, list[tuple[int, str, str]]]:
    """In a worker process: the pass over ids in (lo, hi]."""
    from ledger.integrity.verifier import _worker_engine

    keys = _keys_of(plain)
    problems: list[tuple[int, str, str]] = []
    with _worker_engine(url).connect() as conn:
        stats = _scan(conn, table, keys, lambda nid, kind, detail: problems.append(
            (nid, kind, detail)), require_signed, lo, hi, era)
    return stats, problems


def _era_start(conn: Connection, table: str) -> int | None:
    """The first event written by a release that signs (its envelope has a ``signature``
    member): no event after it may lack one. (A JSON key cannot appear inside a string value
    with its quotes unescaped, so the byte search finds only the member.)"""
    if conn.dialect.name == "postgresql":
        where = "position(convert_to('\"signature\":', 'UTF8') in state) > 0"
    else:
        where = "instr(state, CAST('\"signature\":' AS BLOB)) > 0"
    value = conn.exec_driver_sql(
        f"SELECT id FROM {table} WHERE {where} ORDER BY id LIMIT 1").scalar()
    return None if value is None else int(value)


def _scan(conn: Connection, table: str, keys: dict[str, dict[str, _Key]], found: Found,
          require_signed: bool, lo: int = 0, hi: int | None = None,
          era: int | None = None) -> SignatureStats:
    """The pass over the events with *lo* < id <= *hi*."""
    stats = SignatureStats()
    done: dict[str, tuple[str, str, bool] | None] = {}  # command id -> (key id, sig, erased)
    # Without any registered key, an unsigned event needs no decoding: nobody could have
    # signed it; nor does a system event. Both only when the state has exactly one envelope
    # and one signature member (a JSON key's bytes cannot occur inside a string value, and a
    # duplicated key, which a decoder would resolve to its last value, is decoded instead).
    unread = not keys and not require_signed
    for page in _events(conn, table, lo, hi):
        decoded = []
        wanted: list[str] = []
        for nid, _oid, topic, state in page:
            plain = state.count(b'"envelope":') == 1 and state.count(b'"signature":') == 1
            if plain and _SYSTEM in state and _SYSTEM_ACTOR in state:
                stats.system += 1
                continue
            if plain and unread and _UNSIGNED in state:
                stats.unsigned += 1
                if len(stats.unsigned_positions) < 5:
                    stats.unsigned_positions.append(nid)
                continue
            if b'"signature":' not in state:  # no member: not worth decoding
                if era is not None and nid > era:
                    _unsigned_after_era(found, nid, topic, era)
                else:
                    stats.earlier += 1
                continue
            try:
                data = orjson.loads(state)
            except orjson.JSONDecodeError:
                found(nid, "signature_unreadable", f"event at log position {nid} is not "
                      "JSON; its signature cannot be checked")
                continue
            env = data.get("envelope") if isinstance(data, dict) else None
            sig = env.get("signature") if isinstance(env, dict) else None
            if isinstance(sig, dict) and "key_id" in sig:
                cid = str(env.get("command_id"))  # type: ignore[union-attr]
                if cid not in done:
                    wanted.append(cid)
            decoded.append((nid, topic, data, env, sig))
        payloads = _payloads(conn, list(dict.fromkeys(wanted))) if wanted else {}
        for nid, topic, data, env, sig in decoded:
            recorded = _when(data["timestamp"]["_data_"])
            if sig is None:
                if era is not None and nid > era:
                    _unsigned_after_era(found, nid, topic, era)
                elif not isinstance(env, dict) or "signature" not in env:
                    stats.earlier += 1
                continue
            if not isinstance(sig, dict) or not isinstance(env, dict):
                found(nid, "signature_unreadable", f"event at log position {nid} has a "
                      "malformed signature member")
                continue
            if sig.get("unsigned") == "system":
                stats.system += 1
            elif sig.get("unsigned") is not None:
                actor = str(env.get("actor"))
                valid = [k for k, key in keys.get(actor, {}).items()
                         if _valid(key, recorded, nid)]
                if valid:
                    found(nid, "signature_missing",
                          f"event at log position {nid} ({topic.partition(':')[2]}) is "
                          f"unsigned, but {actor} held the valid key {valid[0]} at its record "
                          f"time {recorded.isoformat()}")
                elif require_signed:
                    found(nid, "unsigned", f"event at log position {nid} was accepted "
                          f"unsigned (actor {actor}; --require-signed)")
                stats.unsigned += 1
                if len(stats.unsigned_positions) < 5:
                    stats.unsigned_positions.append(nid)
            else:
                _check_one(nid, topic, env, sig, recorded, keys, payloads, done, stats, found)
    return stats


def _unsigned_after_era(found: Found, nid: int, topic: str, era: int) -> None:
    found(nid, "signature_missing", f"event at log position {nid} ({topic.partition(':')[2]}) "
          f"has no signature member, though every event from position {era} on is written "
          "with one: it was written outside the ledger's write path")


def _valid(key: _Key, when: datetime, nid: int) -> bool:
    return (key.registered < nid and key.valid_from <= when
            and (key.revoked_from is None or when < key.revoked_from))


def _learn(data: dict[str, Any], person: str, topic: str,
           keys: dict[str, dict[str, _Key]], nid: int) -> None:
    """Fold one ``PersonKeys`` event of *person* into the key history."""
    history = keys.setdefault(person, {})
    if topic.endswith("KeyRevoked"):
        key = history.get(str(data.get("key_id")))
        if key is not None:
            key.revoked_from = _when(data["revoked_from"])
        return
    try:
        public = dsse.load_public_key(str(data["algorithm"]), str(data["public_key"]))
    except (ValueError, KeyError):
        return
    history[str(data["key_id"])] = _Key(str(data["algorithm"]), public,
                                        _when(data["valid_from"]), nid)


def _check_one(nid: int, topic: str, env: dict[str, Any], sig: dict[str, Any],
               recorded: datetime, keys: dict[str, dict[str, _Key]],
               payloads: dict[str, tuple[bytes | None, str, str]],
               done: dict[str, tuple[str, str, bool] | None], stats: SignatureStats,
               found: Found) -> None:
    cid = str(env.get("command_id"))
    kid, sig_b64 = str(sig.get("key_id")), str(sig.get("sig"))
    where = f"event at log position {nid} ({topic.partition(':')[2]}, command {cid})"
    if cid in done:
        first = done[cid]
        if first is None:
            return  # reported with the command's first event
        if first[:2] != (kid, sig_b64):
            found(nid, "signature_invalid", f"{where} carries another signature than "
                  "its command's first event")
            return
        if first[2]:
            stats.erased += 1
        else:
            stats.signed += 1
        return
    done[cid] = None
    stored = payloads.get(cid)
    if stored is None:
        found(nid, "signature_payload_missing", f"{where}: the signed bytes of its "
              "command are not in ledger_signed_commands")
        return
    payload, digest, ptype = stored
    if digest != sig.get("payload_sha256"):
        found(nid, "signature_invalid", f"{where}: the stored digest of the signed bytes "
              "is not the one the event names")
        return
    if payload is None:
        done[cid] = (kid, sig_b64, True)
        stats.erased += 1
        return
    if hashlib.sha256(payload).hexdigest() != digest:
        found(nid, "signature_invalid", f"{where}: the stored signed bytes were altered "
              "(their SHA-256 differs from the event's)")
        return
    actor = str(env.get("actor"))
    system = actor.startswith("system:")
    try:
        command = orjson.loads(payload)
    except orjson.JSONDecodeError:
        command = None
    if not (isinstance(command, dict) and command.get("command_id") == cid
            and command.get("type") == env.get("command") and command.get("actor") == actor):
        found(nid, "signature_invalid", f"{where}: the signed bytes are not this command "
              "(command_id, type or actor differ)")
        return
    if system:  # a bootstrap signed by the administrator's key it registers
        embedded = command.get("admin_public_key")
        key = None
        if isinstance(embedded, str):
            try:
                key = _Key("ed25519", dsse.load_public_key("ed25519", embedded), recorded)
            except ValueError:
                key = None
        if key is None or dsse.key_id_for("ed25519", embedded) != kid:  # type: ignore[arg-type]
            found(nid, "signature_key_unknown", f"{where}: a system command signed by "
                  f"{kid}, which it does not register")
            return
    else:
        key = keys.get(actor, {}).get(kid)
        if key is None or key.registered >= nid:
            found(nid, "signature_key_unknown", f"{where}: signed by {kid}, which was "
                  f"not registered for {actor} before it")
            return
    try:
        raw_sig = base64.b64decode(sig_b64, validate=True)
    except (binascii.Error, ValueError):
        raw_sig = b""
    envelope = dsse.Envelope(ptype, payload, ((kid, raw_sig),))
    if ptype != dsse.PAYLOAD_TYPE or not dsse.verify_signature(key.public, envelope, raw_sig):
        found(nid, "signature_invalid", f"{where}: the signature by {kid} does not verify "
              "over the stored bytes")
        return
    if not system and not _valid(key, recorded, nid):
        state = ("revoked from " + key.revoked_from.isoformat()
                 if key.revoked_from is not None and recorded >= key.revoked_from
                 else "valid only from " + key.valid_from.isoformat())
        found(nid, "signature_key_revoked" if key.revoked_from is not None
              and recorded >= key.revoked_from else "signature_key_not_yet_valid",
              f"{where}: signed by {kid}, {state}, at record time {recorded.isoformat()}")
        return
    done[cid] = (kid, sig_b64, False)
    stats.signed += 1
    stats.commands += 1
