"""Prebuilt statements for projections: built once per table, executed with parameters.

Building a Core statement with literal values (``insert(t).values(a=1)``,
``select(t).where(t.c.k == v)``) costs far more than running it: each one is a new object whose
cache key SQLAlchemy has to compute. These helpers return one statement per table (and key
column) whose values are bound at execution, e.g. ``conn.execute(ins(t), {"a": 1})`` or
``conn.execute(upd_by(t, "code"), {KEY: code, "status": "closed"})``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Dialect,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from ledger.kernel.i18n import _

#: The parameter name carrying the key value in :func:`upd_by` and :func:`sel_by`.
KEY = "wkey"


@cache
def ins(table: Table) -> Any:
    """``INSERT INTO table`` (columns from the parameters)."""
    return insert(table)


@cache
def upd_by(table: Table, column: str) -> Any:
    """``UPDATE table SET … WHERE column = :wkey`` (SET columns from the other parameters)."""
    return update(table).where(table.c[column] == bindparam(KEY))


@cache
def sel_by(table: Table, column: str) -> Any:
    """``SELECT * FROM table WHERE column = :wkey``."""
    return select(table).where(table.c[column] == bindparam(KEY))


Key = tuple[Any, ...]


class TableBuffer:
    """The writes of one batch to one table, kept in memory and sent at flush with executemany.

    Rows are addressed by *key* (column names; the primary key unless given, e.g. another
    unique column). ``insert`` queues a row; ``update`` of a queued row changes it in place,
    of any other row queues ``UPDATE … WHERE key`` with the columns given (later updates of the
    same row merge into one); ``delete`` drops a queued row or queues ``DELETE … WHERE key``.
    ``flush`` sends deletes, then inserts, then updates: one ``executemany`` per statement shape.
    The final contents are what the same operations run one by one would leave, provided
    nothing else writes the table meanwhile.
    """

    def __init__(self, table: Table, key: tuple[str, ...] | None = None) -> None:
        self.table = table
        self.key = key or tuple(c.name for c in table.primary_key.columns)
        names = self.key
        self._keyof: Callable[[dict[str, Any]], Key] = (
            (lambda row: (row[names[0]],)) if len(names) == 1 else itemgetter(*names))
        self._new: dict[Key, dict[str, Any]] = {}
        self._upd: dict[Key, dict[str, Any]] = {}
        self._del: set[Key] = set()

    def __len__(self) -> int:
        return len(self._new) + len(self._upd) + len(self._del)

    def insert(self, row: dict[str, Any]) -> dict[str, Any]:
        """Queue *row* (returned: changing it before the flush changes what is written)."""
        key = self._keyof(row)
        if key in self._new:
            raise ValueError(_("{name}: row {key!r} inserted twice in one batch").format(
                                 name=self.table.name, key=key))
        self._new[key] = row
        return row

    def update(self, key: Key, values: dict[str, Any]) -> None:
        """``UPDATE table SET values WHERE key`` (a row that does not exist stays absent)."""
        row = self._new.get(key)
        if row is not None:
            row.update(values)
        elif key not in self._del:
            self._upd.setdefault(key, {}).update(values)

    def delete(self, key: Key) -> None:
        """``DELETE FROM table WHERE key``."""
        if self._new.pop(key, None) is None:
            self._del.add(key)
        self._upd.pop(key, None)

    def clear(self) -> None:
        """Forget everything queued."""
        self._new, self._upd, self._del = {}, {}, set()

    def flush(self, conn: Connection) -> None:
        """Send what is queued, then forget it."""
        if self._del:
            executemany(conn, _delete_by(self.table, self.key),
                        [{f"k_{k}": v for k, v in zip(self.key, key, strict=True)}
                         for key in self._del])
        if self._new:
            for cols, rows in _by_shape(self._new.values()).items():
                executemany(conn, _insert_cols(self.table, cols), rows)
        if self._upd:
            shaped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for key, values in self._upd.items():
                params = {f"k_{k}": v for k, v in zip(self.key, key, strict=True)}
                params.update(values)
                shaped.setdefault(tuple(sorted(values)), []).append(params)
            for cols, rows in shaped.items():
                executemany(conn, _update_cols(self.table, self.key, cols), rows)
        self.clear()


class Appender:
    """Rows only ever inserted into one table (an index of events, one row per event), kept
    as tuples in column order and sent at flush with one ``executemany``.

    Cheaper per row than :class:`TableBuffer`: no key, no dictionary, no reshaping. For tables
    whose rows a batch never updates or deletes.
    """

    def __init__(self, table: Table, columns: tuple[str, ...]) -> None:
        self.table = table
        self.columns = columns
        self.rows: list[tuple[Any, ...]] = []
        #: ``rows.append``, for the projection's loop.
        self.add = self.rows.append

    def __len__(self) -> int:
        return len(self.rows)

    def clear(self) -> None:
        """Forget everything queued."""
        self.rows.clear()

    def flush(self, conn: Connection) -> None:
        """Insert what is queued, then forget it."""
        if not self.rows:
            return
        sql, names, procs = _compiled(_insert_cols(self.table, self.columns), conn.dialect)
        if procs or (names is not None and names != self.columns):  # pragma: no cover
            index = {c: i for i, c in enumerate(self.columns)}
            executemany(conn, _insert_cols(self.table, self.columns),
                        [{c: r[index[c]] for c in self.columns} for r in self.rows])
        elif names is None:
            conn.exec_driver_sql(sql, [dict(zip(self.columns, r, strict=True))
                                       for r in self.rows])
        else:
            conn.exec_driver_sql(sql, self.rows)
        self.rows.clear()


def executemany(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Run *statement* once per row of parameters, straight through the driver.

    The statement is compiled once per dialect; rows go to the driver's ``executemany`` as
    they are (tuples for positional drivers), after the few bind processors the types have
    (booleans), which skips SQLAlchemy's per-row parameter handling.
    """
    sql, names, procs = _compiled(statement, conn.dialect)
    if procs:
        rows = [{**r, **{k: p(r[k]) for k, p in procs.items() if k in r}} for r in rows]
    if names is None:
        conn.exec_driver_sql(sql, rows)
    elif len(names) == 1:
        conn.exec_driver_sql(sql, [(r[names[0]],) for r in rows])
    else:
        get = itemgetter(*names)
        conn.exec_driver_sql(sql, [get(r) for r in rows])


_COMPILED: dict[tuple[Any, Any], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def _compiled(statement: Any, dialect: Dialect,
              ) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    key = (statement, dialect)
    got = _COMPILED.get(key)
    if got is None:
        c = statement.compile(dialect=dialect)
        names = tuple(c.positiontup) if dialect.positional else None
        procs = dict(c._bind_processors)
        if dialect.name == "sqlite":
            # sqlite3 stores True and False as 1 and 0, what the processor would make of them:
            # without it, rows with a boolean column go to the driver as they are.
            for bind, name in c.bind_names.items():
                if isinstance(bind.type, Boolean):
                    procs.pop(name, None)
        got = _COMPILED[key] = (c.string, names, procs)
    return got


def _by_shape(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    shaped: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    last: tuple[Any, ...] | None = None
    bucket: list[dict[str, Any]] = []
    for row in rows:
        keys = row.keys()
        if last is None or keys != last[1]:
            cols = tuple(sorted(keys))
            bucket = shaped.setdefault(cols, [])
            last = (cols, keys)
        bucket.append(row)
    return shaped


@cache
def _insert_cols(table: Table, cols: tuple[str, ...]) -> Any:
    return insert(table).values({c: bindparam(c) for c in cols})


@cache
def _update_cols(table: Table, key: tuple[str, ...], cols: tuple[str, ...]) -> Any:
    return update(table).where(
        and_(*(table.c[k] == bindparam(f"k_{k}") for k in key))).values(
        {c: bindparam(c) for c in cols})


@cache
def _delete_by(table: Table, key: tuple[str, ...]) -> Any:
    return delete(table).where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in key)))
