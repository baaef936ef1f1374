"""Prebuilt statements for projections: built once per table, executed with parameters.

Building a Core statement with literal values (``insert(t).values(a=1)``,
``select(t).where(t.c.k == v)``) costs far more than running it: each one is a new object whose
cache key SQLAlchemy has to compute. These helpers return one statement per table (and key
column) whose values are bound at execution, e.g. ``conn.execute(ins(t), {"a": 1})`` or
``conn.execute(upd_by(t, "code"), {KEY: code, "status": "closed"})``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update

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
