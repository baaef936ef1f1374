"""GovernanceLedger: the one write path (:meth:`execute`) and the queries over the read models."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import logging
import random
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

import orjson
import sqlalchemy.exc
from eventsourcing.application import AggregateNotFoundError as LibAggregateNotFound
from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    OperationalError,
    Transcoder,
)
from pydantic import BaseModel
from sqlalchemy import Engine, Table, and_, bindparam, func, inspect, or_, select
from sqlalchemy import text as sql_text

from ledger import domains, quickread, signatures
from ledger import snapshots as snapshot_store
from ledger.aggregates.base import LedgerAggregate, aggregate_id
from ledger.aggregates.person_keys import PersonKeys
from ledger.handlers import HANDLERS, Context
from ledger.integrity import appendonly, dsse
from ledger.integrity.intxn import TxnSealer
from ledger.integrity.sqlstore import INTEGRITY_TABLES
from ledger.kernel import (
    logs,
    privacy,  # noqa: F401 - registers the personal-data key table
    writer,
)
from ledger.kernel.command import Command, parse_command, show
from ledger.kernel.config import Settings, now
from ledger.kernel.errors import (
    AggregateNotFoundError,
    CommandValidationError,
    CommunityNotFoundError,
    ConcurrencyError,
    ConfigurationError,
    LedgerError,
    LedgerNotFoundError,
    ReadOnlyLedgerError,
    RuleViolationError,
)
from ledger.kernel.eventlog import LoggedEvent, gc_paused, read_aggregate
from ledger.kernel.i18n import _
from ledger.kernel.logs import get_logger
from ledger.kernel.sqlitefile import is_read_only
from ledger.kernel.store import (
    command_log,
    metadata,
    read_only_copy,
    refusals,
    signed_commands,
    sqlite_file,
    write_intent,
)
from ledger.kernel.transcoder import FastJSONTranscoder
from ledger.kernel.writer import WriteTxn
from ledger.projections import (
    Projection,
    catch_up,
    catch_up_many,
    discover,
    position,
    rebuild_many,
)
from ledger.projections.status import communities, departments, post_terms, towns, utc_key

log = get_logger("ledger")

MAX_ATTEMPTS = 8
AGGREGATE_CACHE_SIZE = 20_000
#: Lines of an ``apply`` file committed together (each line still atomic on its own).
APPLY_BATCH = 200
#: Errors after which a write is retried from a fresh read.
_RETRYABLE: tuple[type[BaseException], ...] = (
    IntegrityError, sqlalchemy.exc.IntegrityError, OperationalError,
    sqlalchemy.exc.OperationalError)


def retryable() -> tuple[type[BaseException], ...]:
    """Errors after which a write is retried from a fresh read (the library's, SQLAlchemy's
    and the driver's: :func:`ledger.kernel.writer.driver_retryable`)."""
    return (*_RETRYABLE, *writer.driver_retryable())


_PRIOR_COMMAND = select(command_log.c.result).where(command_log.c.command_id == bindparam("cid"))


def _log_command(**fields: Any) -> None:
    """The one log line per command (skipped cheaply when info lines are not written)."""
    if logs.enabled(logging.INFO):
        log.info("command", **fields)


class AggregateCache:
    """Aggregates as this process last saw them committed, least recently used evicted first."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[UUID, LedgerAggregate] = OrderedDict()
        #: Ids known not to exist as of the last commit this process saw (e.g. the key
        #: history of an actor with no key, looked up by every command).
        self.missing: set[UUID] = set()

    def get(self, key: UUID) -> LedgerAggregate | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: UUID, value: LedgerAggregate) -> None:
        self.missing.discard(key)
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def pop(self, key: UUID, default: None = None) -> LedgerAggregate | None:
        self.missing.discard(key)
        return self._items.pop(key, default)

    def clear(self) -> None:
        self._items.clear()
        self.missing.clear()

#: Non-empty once every handler module is imported (at the first command of the process).

#: Readable key prefixes, in the order ``history KEY`` tries them for a bare key.
KEY_KINDS = ("community", "town", "case", "meeting", "firm", "oc", "appraisal", "matter")


class CommandResult(BaseModel):
    """What :meth:`GovernanceLedger.execute` returns."""

    command_id: str
    type: str
    outcome: Literal["accepted", "duplicate", "dry_run"]
    positions: list[int] = []
    """Log positions (notification ids) of the events written."""
    events: list[str] = []
    """Type names of the events written."""
    detail: dict[str, Any] = {}
    recorded_at: str | None = None


@dataclass(frozen=True)
class LineOutcome:
    """The outcome of one line of a JSON Lines file given to :meth:`GovernanceLedger.apply`."""

    line: int
    result: CommandResult | None
    error: LedgerError | None

    @property
    def ok(self) -> bool:
        return self.error is None


class CommandIdReusedError(RuleViolationError):
    """Raised when a command_id already used for a different command is sent again."""

    code = "command_id_reused"


def _prior_result(command_id: str, digest: str, stored_text: str) -> CommandResult:
    stored = json.loads(stored_text)
    if stored["digest"] != digest:
        raise CommandIdReusedError(
            _("command_id {show!r} was already used for a different command; use a new command_id").format(
                show=show(command_id)))
    result = CommandResult.model_validate(stored["result"])
    return result.model_copy(update={"outcome": "duplicate"})


class _Batch:
    """What one ``apply`` batch knows about command ids: those logged before it and its own."""

    def __init__(self, logged: dict[str, str]) -> None:
        self.logged = logged
        self.rows: list[tuple[Any, ...]] = []
        self.mine: dict[str, tuple[str, CommandResult]] = {}

    def prior(self, command_id: str, digest: str) -> CommandResult | None:
        if command_id in self.mine:
            first_digest, result = self.mine[command_id]
            if first_digest != digest:
                raise CommandIdReusedError(
                    _("command_id {show!r} was already used for a different command; use a "
                      "new command_id").format(
                        show=show(command_id)))
            return result.model_copy(update={"outcome": "duplicate"})
        if command_id in self.logged:
            return _prior_result(command_id, digest, self.logged[command_id])
        return None

    def add(self, row: tuple[Any, ...], digest: str, result: CommandResult) -> None:
        self.rows.append(row)
        self.mine[result.command_id] = (digest, result)


def normalize_url(url: str) -> str:
    """Accept ``sqlite:///file``, ``postgresql://…`` and ``postgresql+psycopg://…``."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not (url.startswith("sqlite://") or url.startswith("postgresql+psycopg://")):
        raise ConfigurationError(
            _("unsupported database URL {split!r}: use sqlite:///FILE or "
              "postgresql+psycopg://USER@HOST:PORT/DB").format(split=url.split(':', 1)[0])
        )
    return url


def read_command(data: Command | Mapping[str, Any] | str | bytes | dsse.Envelope,
                 ) -> tuple[Command, dsse.Envelope | None]:
    """The command and, for a DSSE envelope, the envelope: the command is parsed from the
    envelope's exact payload bytes (the bytes whose signature is checked)."""
    if isinstance(data, dsse.Envelope):
        envelope = data
    elif isinstance(data, Command):
        return data, None
    elif isinstance(data, (str, bytes)):
        marker = b'"payloadType"' if isinstance(data, bytes) else '"payloadType"'
        if marker not in data:  # type: ignore[operator]
            return parse_command(data), None
        try:
            envelope = dsse.parse_envelope(data)
        except dsse.EnvelopeError as e:
            raise CommandValidationError(str(e)) from None
    elif dsse.is_envelope(data):
        try:
            envelope = dsse.parse_envelope(data)
        except dsse.EnvelopeError as e:
            raise CommandValidationError(str(e)) from None
    else:
        return parse_command(data), None
    if envelope.payload_type != dsse.PAYLOAD_TYPE:
        raise signatures.SignatureError(
            _("envelope payloadType {payload_type!r} is not {payload_type2!r}").format(
                payload_type=envelope.payload_type[:80], payload_type2=dsse.PAYLOAD_TYPE),
            "signature_invalid")
    return parse_command(envelope.payload), envelope


def _peek(data: Any) -> dict[str, Any] | None:
    """What can be read of a command that could not be parsed (for the refusals log)."""
    try:
        if isinstance(data, dsse.Envelope):
            data = data.payload
        if isinstance(data, (str, bytes)) and len(data) <= 200_000:
            data = json.loads(data)
        if isinstance(data, Mapping) and dsse.is_envelope(data):
            data = json.loads(dsse.parse_envelope(data).payload)
        return dict(data) if isinstance(data, Mapping) else None
    except (ValueError, TypeError, RecursionError, dsse.EnvelopeError):
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


#: ``json.dumps(…, sort_keys=True)`` without building an encoder per call (the same text).
_DIGEST_JSON = json.JSONEncoder(sort_keys=True)
_NOT_DIGESTED = {"command_id"}


def _command_digest(cmd: Command) -> str:
    body = cmd.model_dump(mode="json", exclude_unset=True, exclude=_NOT_DIGESTED)
    body["type"] = cmd.type
    return hashlib.sha256(_DIGEST_JSON.encode(body).encode()).hexdigest()


#: orjson refuses (and the result goes through pydantic) anything that is not plain JSON:
#: datetimes, dataclasses, subclasses of str, int, dict and list, non-text keys.
_PLAIN_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | \
    orjson.OPT_PASSTHROUGH_DATACLASS


def _result_json(result: CommandResult) -> str:
    """The JSON of an accepted command's result as the command log keeps it: encoded by
    orjson straight from the fields when its detail is plain JSON (the same text as pydantic's),
    by pydantic otherwise."""
    try:  # a model's __dict__ holds its fields in their declared order, as pydantic writes them
        return orjson.dumps(result.__dict__, option=_PLAIN_JSON).decode()
    except TypeError:
        return result.model_dump_json()


class GovernanceLedger(Application[UUID]):
    """The ledger: commands in through :meth:`execute`, plain data out through queries."""

    name = "Ledger"

    def __init__(self, db_url: str | None = None, *, settings: Settings | None = None) -> None:
        settings = settings or (Settings(db_url=db_url) if db_url else Settings())
        self.settings = settings
        url = normalize_url(settings.db_url)
        self.read_only = False
        """Opened read-only: the SQLite file or its directory is not writable. Reads (and
        ``verify``) work on a private copy read from it read-only; every write is refused
        at once (:class:`ReadOnlyLedgerError`)."""
        self.read_only_path: Path | None = None
        self._private_copy: Path | None = None
        file = sqlite_file(url)
        if file is not None and file.exists() and is_read_only(file):
            self.read_only, self.read_only_path = True, file
            self._private_copy = Path(tempfile.mkdtemp(prefix="ledger-read-only-"))
            try:
                read_only_copy(file, self._private_copy / "ledger.db")
            except BaseException:
                shutil.rmtree(self._private_copy, ignore_errors=True)
                raise
            url = f"sqlite:///{self._private_copy / 'ledger.db'}"
        env = {
            "PERSISTENCE_MODULE": "ledger.kernel.store:LedgerFactory",
            "SQLALCHEMY_URL": url,
            "LEDGER_SQLITE_SYNC": settings.sqlite_sync,
            "CREATE_TABLE": "y",
            "IS_SNAPSHOTTING_ENABLED": "n",
        }
        try:
            super().__init__(env)
        except (sqlalchemy.exc.OperationalError, OperationalError) as e:
            raise _cannot_open(url, e) from None
        datastore = self.factory.datastore  # type: ignore[attr-defined]
        self.datastore = datastore
        self.engine: Engine = datastore.engine
        self.events_table: Table = self.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
        domains.load_projections()
        self.projections: dict[str, Projection] = discover()  # registers their tables
        self._create_schema()
        self.txn_sealer = TxnSealer(settings, self.events_table.name, self.mapper,
                                    pg=self.engine.dialect.name == "postgresql")
        self._writer = writer.Writer(self.engine, writer.Statements.build(
            self.engine, self.events_table, command_log,
            self.recorder.channel_name, signed_commands), self.txn_sealer)  # type: ignore[attr-defined]
        appendonly.install(self.engine, [self.events_table.name, command_log.name,
                                         refusals.name, *INTEGRITY_TABLES])
        self._aggregates = AggregateCache(AGGREGATE_CACHE_SIZE)
        self._known_head: int | None = None
        self._write_lock = threading.RLock()
        self._overlay: dict[UUID, LedgerAggregate] | None = None
        self._overlay_commands: set[str] = set()
        # The handlers (and with them every command model) load with the first command, so
        # that a ledger opened to read (status, verify, the feed) does not build them.

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON format, encoded and decoded with orjson (ledger.kernel.transcoder)."""
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def _create_schema(self) -> None:
        """Create our tables (idempotent; processes starting together take turns).

        When every table exists already (the usual start), no write lock is taken.
        """
        with self.engine.connect() as conn:
            if set(metadata.tables) <= set(inspect(conn).get_table_names()):
                return
        with write_intent(), self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(7342000)))
            metadata.create_all(conn)
            # Ledgers of earlier releases: the command log is looked up by its first event.
            conn.execute(sql_text("CREATE INDEX IF NOT EXISTS ledger_command_log_first "
                              "ON ledger_command_log (first_notification_id)"))

    # ------------------------------------------------------------------ writing
    def execute(self, command: Command | Mapping[str, Any] | str | bytes | dsse.Envelope, *,
                dry_run: bool = False, channel: str = "python") -> CommandResult:
        """Validate, check the signature, authorize and record one command atomically; return
        what was written.

        *command* is a command (model, mapping or JSON text) or a DSSE envelope of one
        (``ledger.integrity.dsse``; a mapping or JSON text with ``payloadType``, or an
        :class:`~ledger.integrity.dsse.Envelope`). A repeated ``command_id`` writes nothing and
        returns the first result (outcome ``duplicate``). Raises a :class:`LedgerError`
        subclass on refusal; nothing is written, and the refusal is recorded
        (``ledger_refusals``, ``ledger audit refused``) unless *dry_run*. A ledger opened
        read-only refuses every write at once (a dry run is a read).
        """
        if not dry_run:
            self.check_writable()
        try:
            cmd, signed = read_command(command)
        except LedgerError as e:
            _log_command(outcome="rejected", error=e.code, reason=str(e))
            if not dry_run:
                self.record_refused(e, None, _peek(command), channel)
            raise
        who = {"command_id": cmd.command_id, "type": cmd.type, "actor": cmd.actor}
        try:
            result = self._dry_run(cmd, signed) if dry_run else self._execute(cmd, signed)
        except LedgerError as e:
            _log_command(**who, outcome="rejected", error=e.code, reason=str(e))
            if not dry_run:
                self.record_refused(e, cmd, None, channel)
            raise
        _log_command(**who, outcome=result.outcome, positions=result.positions)
        return result

    def record_refused(self, error: LedgerError, cmd: Command | None,
                 peek: Mapping[str, Any] | None, channel: str) -> None:
        """Record a refused write (``ledger_refusals``); not on a read-only ledger."""
        if self.read_only:
            return
        src: Any = cmd if cmd is not None else (peek or {})
        get = (lambda k: getattr(src, k, None)) if cmd is not None else src.get
        values = {k: get(k) for k in ("command_id", "type", "actor")}
        signatures.record_refusal(
            self.engine, error, command_id=_text(values["command_id"]),
            type_=_text(values["type"]), actor=_text(values["actor"]), channel=channel)

    def check_writable(self) -> None:
        """Raise :class:`ReadOnlyLedgerError` if the ledger was opened read-only."""
        if self.read_only:
            raise ReadOnlyLedgerError(_(
                "read-only ledger: {path} (or its directory) is not writable, so it is open for "
                "reading only and nothing was written; to write, restore it into a writable "
                "place ('ledger --db sqlite:///NEW.db restore {path}')").format(
                    path=self.read_only_path))

    def write_nothing(self) -> None:
        """An empty write transaction: the writers' lock, the tree checked against the log's
        head (``ledger.integrity.intxn``), an earlier release's unsealed tail sealed."""
        self.check_writable()
        with self._write_lock, self._writer.transaction():
            pass

    def _handler(self, cmd: Command) -> Any:
        domains.load_for_command(cmd.type)
        handler = HANDLERS.get(cmd.type)
        if handler is None:  # pragma: no cover - every registered command has a handler
            raise LedgerError(_("internal: no handler for {type}").format(type=cmd.type))
        return handler

    def _execute(self, cmd: Command, signed: dsse.Envelope | None = None) -> CommandResult:
        handler = self._handler(cmd)
        digest = _command_digest(cmd)
        with self._write_lock:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    with gc_paused(), self._writer.transaction() as txn:
                        self._check_head(txn)
                        result = self._run(cmd, handler, digest, txn, signed=signed)
                    self._committed(result)
                    return result
                except LedgerError:
                    raise
                except retryable() as e:
                    # A concurrent writer took the same aggregate version or the same
                    # command_id, or the database was busy: retry from a fresh read.
                    self._aggregates.clear()
                    prior = self._prior(cmd.command_id, digest)
                    if prior:
                        return prior
                    if attempt == MAX_ATTEMPTS - 1:
                        raise ConcurrencyError(
                            _("{type} {command_id}: still conflicting with concurrent writers after "
                              "{max_attempts} attempts ({short}); send it again").format(
                                type=cmd.type, command_id=cmd.command_id,
                                max_attempts=MAX_ATTEMPTS, short=_short(e))
                        ) from None
                    time.sleep(random.uniform(0.002, 0.01) * (2 ** attempt))  # noqa: S311
                except BaseException:
                    self._aggregates.clear()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _run(self, cmd: Command, handler: Any, digest: str, txn: WriteTxn,
             batch: _Batch | None = None, *, signed: dsse.Envelope | None = None,
             ) -> CommandResult:
        """Run one command inside an open write transaction; no commit here.

        In a batch, duplicates are looked up in the batch's pre-read of the command log and
        the command-log row is written with the rest of the batch's rows.
        """
        if batch is not None:
            prior = batch.prior(cmd.command_id, digest)
            if prior and cmd.command_id in batch.logged:
                self.txn_sealer.check_bound(txn.cursor, cmd.command_id)
        else:
            prior = self._prior(cmd.command_id, digest, txn)
        if prior:
            return prior
        ctx = Context(self, cmd, dry_run=False, txn=txn)
        try:
            ctx.envelope["signature"] = self._signature(ctx, cmd, signed)
            detail = handler(ctx, cmd) or {}
            if not ctx.authorized:  # pragma: no cover - programming error guard
                raise LedgerError(_("internal: handler for {type} never authorized").format(
                                      type=cmd.type))
            events = [e for agg in ctx.touched.values() for e in agg.collect_events()]
            to_stored = self.mapper.to_stored_event
            positions = txn.insert_events([to_stored(e) for e in events])
        except BaseException:
            # The command's aggregates may be half-changed in memory: forget them.
            for agg_id in ctx.loaded:
                self._aggregates.pop(agg_id, None)
            raise
        result = CommandResult.model_construct(  # built from checked values: no validation
            command_id=cmd.command_id, type=cmd.type, outcome="accepted", positions=positions,
            events=[type(e).__qualname__ for e in events],
            detail=detail, recorded_at=ctx.now.isoformat(),
        )
        row = (cmd.command_id, cmd.type, cmd.actor, result.recorded_at,
               positions[0] if positions else None, positions[-1] if positions else None,
               f'{{"digest": "{digest}", "result": {_result_json(result)}}}')
        if batch is not None:
            batch.add(row, digest, result)
        else:
            txn.insert_commands([row])
        if signed is not None:
            txn.insert_signed([(cmd.command_id, signed.payload_type, signed.payload,
                                signed.payload_sha256, ",".join(ctx.subjects) or None)])
        for agg_id, agg in ctx.loaded.items():
            self._aggregates.put(agg_id, agg)
        return result

    def _check_head(self, txn: WriteTxn) -> None:
        """Forget cached aggregates if anyone else wrote since this process last committed."""
        head = txn.head()
        if head != self._known_head:
            self._aggregates.clear()
            self._known_head = head

    def _committed(self, result: CommandResult) -> None:
        if result.positions and result.outcome == "accepted":
            self._known_head = max(self._known_head or 0, result.positions[-1])

    def _prior(self, command_id: str, digest: str,
               txn: WriteTxn | None = None) -> CommandResult | None:
        if txn is not None:
            stored = txn.prior(command_id)
            if stored is not None:
                self.txn_sealer.check_bound(txn.cursor, command_id)
        else:
            with self.engine.connect() as conn:
                stored = conn.execute(_PRIOR_COMMAND, {"cid": command_id}).scalar()
                if stored is not None:
                    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    try:
                        self.txn_sealer.check_bound(cursor, command_id)
                    finally:
                        cursor.close()
        if stored is None:
            return None
        return _prior_result(command_id, digest, stored)

    # Dry runs
    # Dry runs: every check and every aggregate method runs, against an in-memory overlay.
    @contextmanager
    def dry_run_session(self) -> Iterator[None]:
        """Within this block, dry-run commands see the effects of earlier dry-run commands."""
        self._overlay, self._overlay_commands = {}, set()
        try:
            yield
        finally:
            self._overlay, self._overlay_commands = None, set()

    def _signature(self, ctx: Context, cmd: Command, signed: dsse.Envelope | None,
                   ) -> dict[str, Any]:
        """The events' ``signature`` member, checked against the actor's keys now."""
        keys = None if cmd.actor.startswith("system:") else ctx.find(PersonKeys, cmd.actor)
        return signatures.check(cmd, signed, keys, allow_unsigned=self.settings.allow_unsigned,
                                when=ctx.now)

    def _dry_run(self, cmd: Command, signed: dsse.Envelope | None = None) -> CommandResult:
        handler = self._handler(cmd)
        digest = _command_digest(cmd)
        if cmd.command_id in self._overlay_commands:
            return CommandResult(command_id=cmd.command_id, type=cmd.type, outcome="duplicate")
        prior = self._prior(cmd.command_id, digest)
        if prior:
            return prior
        ctx = Context(self, cmd, dry_run=True)
        ctx.envelope["signature"] = self._signature(ctx, cmd, signed)
        detail = handler(ctx, cmd) or {}
        events: list[str] = []
        for agg in ctx.touched.values():
            events += [type(e).__qualname__ for e in agg.collect_events()]
            if self._overlay is not None:
                self._overlay[agg.id] = agg
        self._overlay_commands.add(cmd.command_id)
        return CommandResult(command_id=cmd.command_id, type=cmd.type, outcome="dry_run",
                             events=events, detail=detail)

    def load(self, agg_id: UUID, *, dry_run: bool = False) -> LedgerAggregate | None:
        """The aggregate with *agg_id* as stored (or as changed by earlier dry-run commands).

        Writes reuse aggregates cached by this process while nobody else has written
        (checked against the log head in the same transaction); dry runs always copy.
        """
        if dry_run:
            if self._overlay is not None and agg_id in self._overlay:
                return copy.deepcopy(self._overlay[agg_id])
        else:
            cached = self._aggregates.get(agg_id)
            if cached is not None:
                return cached
            txn = writer.current.get()
            if txn is not None:
                if agg_id in self._aggregates.missing:
                    return None
                found = self._load_in(txn, agg_id)
                if found is None and len(self._aggregates.missing) < AGGREGATE_CACHE_SIZE:
                    self._aggregates.missing.add(agg_id)
                return found
        try:
            agg: Any = self.repository.get(agg_id)
        except LibAggregateNotFound:
            return None
        return agg if isinstance(agg, LedgerAggregate) else None

    def _load_in(self, txn: WriteTxn, agg_id: UUID) -> LedgerAggregate | None:
        """Replay an aggregate from its events, read inside the open write transaction."""
        agg = snapshot_store.replay(self.mapper, agg_id, txn.aggregate_rows(agg_id))
        return agg if isinstance(agg, LedgerAggregate) else None

    def is_empty(self, *, dry_run: bool = False) -> bool:
        """Whether the ledger holds no events (counting dry-run changes when *dry_run*)."""
        if dry_run and self._overlay:
            return False
        txn = writer.current.get()
        if txn is not None and not dry_run:
            # Inside a write: what this transaction has read and written counts too (an
            # earlier line of the same apply batch may not be committed yet).
            return txn.head() is None and txn.next_id == 1
        return self.recorder.max_notification_id() is None

    def apply(self, lines: Iterable[str | bytes | dsse.Envelope], *, dry_run: bool = False,
              keep_going: bool = False, batch_size: int = APPLY_BATCH,
              channel: str = "apply", atomic: bool = False) -> Iterator[LineOutcome]:
        """Execute one command per JSON Lines line, each atomically, yielding each outcome.

        Lines are committed in batches of *batch_size* (one transaction, each line in its own
        savepoint, so a refused line undoes only itself); outcomes are yielded once their batch
        has committed. Blank lines are skipped, and a byte-order mark before the first line.
        Without *keep_going* it stops after the first refused line, keeping the lines before
        it. With *atomic* every line goes into one transaction: all are written or none (a
        refused line undoes the lines before it, which are then reported as checked with
        outcome ``dry_run``).
        """
        if atomic and keep_going:
            raise ValueError("atomic and keep_going exclude each other")
        if not dry_run:
            self.check_writable()
        numbered = ((n, t) for n, t in enumerate(_without_bom(lines), start=1)
                    if isinstance(t, dsse.Envelope) or t.strip())
        if atomic and not dry_run:
            yield from self._apply_atomic(list(numbered), channel)
            return
        if dry_run:
            with self.dry_run_session():
                for number, text in numbered:
                    outcome = self._line(number, lambda t=text: self.execute(t, dry_run=True))
                    yield outcome
                    if not (outcome.ok or keep_going):
                        return
            return
        while True:
            batch = list(itertools.islice(numbered, max(1, batch_size)))
            if not batch:
                return
            outcomes = self._apply_batch(batch, keep_going, channel)
            yield from outcomes
            if outcomes and not outcomes[-1].ok and not keep_going:
                return

    @staticmethod
    def _line(number: int, run: Any) -> LineOutcome:
        try:
            return LineOutcome(number, run(), None)
        except LedgerError as e:
            return LineOutcome(number, None, e)

    def _apply_batch(self, batch: list[tuple[int, str | bytes | dsse.Envelope]],
                     keep_going: bool, channel: str) -> list[LineOutcome]:
        """One transaction for the batch; each line in a savepoint. Falls back to one
        transaction per line if the batch as a whole hits a concurrent writer."""
        with self._write_lock:
            try:
                with gc_paused(), self._writer.transaction() as txn:
                    parsed, outcomes = self._lines_in(
                        txn, batch, stop=lambda o: not (o.ok or keep_going))
                for o in outcomes:
                    if o.result is not None:
                        self._committed(o.result)
                self._record_refused_lines(batch, parsed, outcomes, channel)
                return outcomes
            except retryable():
                self._aggregates.clear()
        # Someone else wrote the same aggregates meanwhile: go line by line, with retries.
        outcomes = []
        for number, text in batch:
            outcome = self._line(number, lambda t=text: self.execute(t, channel=channel))
            outcomes.append(outcome)
            if not (outcome.ok or keep_going):
                break
        return outcomes

    def _lines_in(self, txn: WriteTxn, batch: list[tuple[int, str | bytes | dsse.Envelope]],
                  stop: Callable[[LineOutcome], bool],
                  ) -> tuple[list[tuple[int, tuple[Command, dsse.Envelope | None] | LedgerError]],
                             list[LineOutcome]]:
        """Run *batch*'s lines in the write transaction *txn*, each in a savepoint, until
        *stop* says so after a line; record the accepted commands. Returns the parsed lines
        and each line's outcome."""
        txn.batch_line = True
        self._check_head(txn)
        parsed = [(n, self._parse_line(n, t)) for n, t in batch]
        state = _Batch(txn.priors([c[0].command_id for _, c in parsed if isinstance(c, tuple)]))
        outcomes: list[LineOutcome] = []
        for number, cmd in parsed:
            outcome = self._batched_line(number, cmd, txn, state)
            outcomes.append(outcome)
            if stop(outcome):
                break
        txn.insert_commands(state.rows)
        return parsed, outcomes

    def _apply_atomic(self, batch: list[tuple[int, str | bytes | dsse.Envelope]],
                      channel: str) -> list[LineOutcome]:
        """Every line in one transaction, committed only if none is refused (retried whole
        from a fresh read after a concurrent writer or a busy database)."""
        with self._write_lock:
            for attempt in range(MAX_ATTEMPTS):
                outcomes: list[LineOutcome] = []
                parsed: list[tuple[int, tuple[Command, dsse.Envelope | None] | LedgerError]] = []
                try:
                    with gc_paused(), self._writer.transaction() as txn:
                        parsed, outcomes = self._lines_in(txn, batch, stop=lambda o: not o.ok)
                        if outcomes and not outcomes[-1].ok:
                            raise _UndoAll  # the transaction rolls back: nothing is written
                except _UndoAll:
                    self._aggregates.clear()
                    self._record_refused_lines(batch, parsed, outcomes[-1:], channel)
                    return [o if o.result is None or o.result.outcome != "accepted" else
                            LineOutcome(o.line, o.result.model_copy(
                                update={"outcome": "dry_run", "positions": []}), None)
                            for o in outcomes]
                except retryable() as e:
                    self._aggregates.clear()
                    if attempt == MAX_ATTEMPTS - 1:
                        raise ConcurrencyError(_(
                            "apply: still conflicting with concurrent writers after {n} "
                            "attempts ({reason}); nothing was written; send it again").format(
                                n=MAX_ATTEMPTS, reason=_short(e))) from None
                    time.sleep(random.uniform(0.002, 0.01) * (2 ** attempt))  # noqa: S311
                    continue
                except BaseException:
                    self._aggregates.clear()
                    raise
                for o in outcomes:
                    if o.result is not None:
                        self._committed(o.result)
                return outcomes
        raise AssertionError("unreachable")  # pragma: no cover

    def _record_refused_lines(self, batch: list[tuple[int, Any]],
                        parsed: list[tuple[int, tuple[Command, dsse.Envelope | None] | LedgerError]],
                        outcomes: list[LineOutcome], channel: str) -> None:
        """Record the refused lines of a committed batch (``ledger_refusals``)."""
        by_line = dict(parsed)
        raw = dict(batch)
        for o in outcomes:
            if o.error is None:
                continue
            item = by_line.get(o.line)
            cmd = item[0] if isinstance(item, tuple) else None
            self.record_refused(o.error, cmd, None if cmd else _peek(raw.get(o.line)), channel)

    @staticmethod
    def _parse_line(number: int, text: str | bytes | dsse.Envelope,
                    ) -> tuple[Command, dsse.Envelope | None] | LedgerError:
        try:
            return read_command(text)
        except LedgerError as e:
            _log_command(outcome="rejected", error=e.code, reason=str(e), line=number)
            return e

    def _batched_line(self, number: int,
                      item: tuple[Command, dsse.Envelope | None] | LedgerError, txn: WriteTxn,
                      batch: _Batch) -> LineOutcome:
        """One line inside a batch. A line writes only once it can no longer be refused
        (its events, last), unless it needs the database earlier (a personal-data key):
        then :attr:`WriteTxn.connection` opens a savepoint, undone if the line is refused."""
        if isinstance(item, LedgerError):
            return LineOutcome(number, None, item)
        cmd, signed = item
        who = {"command_id": cmd.command_id, "type": cmd.type, "actor": cmd.actor}
        try:
            result = self._run(cmd, self._handler(cmd), _command_digest(cmd), txn, batch,
                               signed=signed)
        except LedgerError as e:
            txn.end_line(ok=False)
            _log_command(**who, outcome="rejected", error=e.code, reason=str(e), line=number)
            return LineOutcome(number, None, e)
        txn.end_line(ok=True)
        _log_command(**who, outcome=result.outcome, positions=result.positions, line=number)
        return LineOutcome(number, result, None)

    # ------------------------------------------------------------------ reading
    def catch_up(self, name: str | None = None) -> None:
        """Bring projections (all, or *name*) up to the end of the log."""
        if name is None:  # one pass over the log for all of them
            catch_up_many(self, list(self.projections.values()))
            return
        for key, projection in self.projections.items():
            if key == name:
                catch_up(self, projection)

    def rebuild(self, name: str | None = None, *,
                progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
        """Rebuild projections (all, or *name*) from zero in one pass over the log; return
        events read per projection. *progress* is told how far it is
        (:data:`ledger.projections.runner.RebuildProgress`)."""
        return rebuild_many(self, [p for key, p in self.projections.items()
                                   if name is None or key == name], progress=progress)

    def projection_status(self) -> list[dict[str, Any]]:
        """Each projection's tracked position and how many log positions it is behind, with
        the schema version its tables have (``schema_version``, ``None`` if never built) and
        the one this release builds (``builds``). Tables of another version are rebuilt from
        zero: their ``lag`` is the whole log."""
        head = self.recorder.max_notification_id() or 0
        out = []
        with self.engine.connect() as conn:
            for name, p in self.projections.items():
                tracked = position(conn, name)
                pos = tracked[0] if tracked else 0
                version = tracked[1] if tracked else None
                stale = version is not None and version != p.schema_version
                out.append({"name": name, "position": pos, "head": head,
                            "lag": head if stale else head - pos, "schema_version": version,
                            "builds": p.schema_version})
        return out

    def status(self, community: str | None = None) -> dict[str, Any]:
        """Towns and communities with who holds each post now."""
        self.catch_up("status")
        when = now()
        with self.engine.connect() as conn:
            q = select(communities).order_by(communities.c.code)
            if community:
                q = q.where(communities.c.code == community)
            comms = [dict(r._mapping) for r in conn.execute(q)]
            if community and not comms:
                raise CommunityNotFoundError(_("community {community!r} does not exist").format(
                                                 community=community))
            town_rows = [dict(r._mapping) for r in conn.execute(select(towns).order_by(towns.c.code))]
            scopes = [c["code"] for c in comms] + ([] if community else [t["code"] for t in town_rows])
            holders = self._terms_at(conn, scopes, utc_key(when))
        return quickread.status_answer(comms, town_rows, holders, community, when)

    def departments(self) -> list[dict[str, Any]]:
        """The departments registered on each town: ``town``, ``code``, ``name``."""
        self.catch_up("status")
        with self.engine.connect() as conn:
            q = select(departments).order_by(departments.c.town, departments.c.code)
            return [dict(r._mapping) for r in conn.execute(q)]

    def roster(self, community: str, as_of: datetime | None = None) -> dict[str, Any]:
        """Who held each post of *community* at *as_of* (default now), with later changes."""
        self.catch_up("status")
        when = as_of or now()
        at = utc_key(when)
        with self.engine.connect() as conn:
            row = conn.execute(select(communities).where(communities.c.code == community)).first()
            if row is None:
                raise CommunityNotFoundError(_("community {community!r} does not exist").format(
                                                 community=community))
            held = self._terms_at(conn, [community], at)
        return {"community": dict(row._mapping), "as_of": when.isoformat(), "posts": held}

    @staticmethod
    def _terms_at(conn: Any, scopes: list[str], at: str) -> list[dict[str, Any]]:
        if not scopes:
            return []
        rows = conn.execute(
            select(post_terms).where(and_(
                post_terms.c.scope.in_(scopes),
                post_terms.c.from_utc <= at,
                or_(post_terms.c.to_utc.is_(None), post_terms.c.to_utc > at),
            )).order_by(post_terms.c.scope, post_terms.c.post, post_terms.c.from_utc)
        ).all()
        # Concurrent posts (兼任): what else each person held at that moment.
        terms: list[dict[str, Any]] = [dict(r._mapping) for r in rows]
        return quickread.with_also_holds(terms)

    def resolve_key(self, key: str) -> tuple[str, str, UUID]:
        """Turn ``community:ZQ-001``, ``ZQ-001`` or a UUID into (kind, key, id)."""
        try:
            agg_id = UUID(key)
        except ValueError:
            pass
        else:
            return ("aggregate", key, agg_id)
        if ":" in key:
            kind, _sep, rest = key.partition(":")
            return (kind, rest, aggregate_id(kind, rest))
        with self.engine.connect() as conn:
            for kind in KEY_KINDS:
                agg_id = aggregate_id(kind, key)
                hit = conn.execute(select(self.events_table.c.id)
                                   .where(self.events_table.c.originator_id == agg_id)
                                   .limit(1)).first()
                if hit:
                    return (kind, key, agg_id)
        raise AggregateNotFoundError(
            _("no aggregate has the key {key!r}; try a prefixed key such as community:ZQ-001").format(
                key=key)
        )

    def history(self, key: str) -> list[LoggedEvent]:
        """Every event of one aggregate, oldest first, with envelopes and recorded times."""
        _kind, _key, agg_id = self.resolve_key(key)
        with self.engine.connect() as conn:
            events = list(read_aggregate(conn, self.events_table, self.mapper, agg_id))
        if not events:
            raise AggregateNotFoundError(_("no events for {key!r}").format(key=key))
        return events

    # ------------------------------------------------------------------ snapshots
    def state(self, key: str, version: int | None = None) -> dict[str, Any]:
        """The state of aggregate *key* at *version* (default: latest), from its latest
        usable snapshot and the events after it (see :mod:`ledger.snapshots`)."""
        return snapshot_store.aggregate_state(self, key, version)

    def take_snapshots(self, keys: list[str] | tuple[str, ...] = (), *,
                       every: int = snapshot_store.SNAPSHOT_EVERY) -> list[dict[str, Any]]:
        """Snapshot *keys*, or every aggregate with *every* events since its last snapshot."""
        self.check_writable()
        return snapshot_store.take_snapshots(self, keys, every=every)

    def close(self) -> None:
        """Release database connections."""
        self._writer.close()
        super().close()
        self.engine.dispose()
        if self._private_copy is not None:
            shutil.rmtree(self._private_copy, ignore_errors=True)
            self._private_copy = None


def _cannot_open(url: str, e: BaseException) -> ConfigurationError:
    """A clear error for a database that cannot be opened: a PostgreSQL database that does not
    exist (exit status 2 on the command line, as a missing SQLite file), a server that cannot
    be reached, or anything else the driver says."""
    from sqlalchemy.engine import make_url

    reason = _short(e)
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return ConfigurationError(
            _("cannot open the ledger database: {reason}").format(reason=reason))
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if "does not exist" in reason and "database" in reason:
        return LedgerNotFoundError(_(
            "no ledger: the PostgreSQL database {db!r} does not exist on {where}; check --db "
            "(or LEDGER_DB), or create it (createdb {db}) and run 'ledger init'").format(
                db=parsed.database, where=where))
    return ConfigurationError(_(
        "cannot connect to the PostgreSQL ledger {db!r} on {where} as {user}: {reason}").format(
            db=parsed.database, where=where, user=parsed.username or "(default user)",
            reason=reason))


class _UndoAll(Exception):
    """Raised inside an atomic apply's transaction to undo every line."""


def _without_bom(lines: Iterable[Any]) -> Iterator[Any]:
    """*lines* with a UTF-8 byte-order mark (as Windows Notepad writes) removed from the
    first."""
    items = iter(lines)
    first = next(items, None)
    if first is None:
        return
    if isinstance(first, bytes):
        first = first.removeprefix(b"\xef\xbb\xbf")
    elif isinstance(first, str):
        first = first.removeprefix("\ufeff")
    yield first
    yield from items


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:300]
