"""Rendering for the CLI: rich tables on a terminal (plain text elsewhere) or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import click
from rich.console import Console
from rich.table import Table

from ledger.kernel.i18n import t


def _default(obj: Any) -> Any:
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, (UUID, Decimal)):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(obj).__name__}")


def to_json(obj: Any) -> str:
    """JSON text for CLI output (UTF-8, not escaped)."""
    return json.dumps(obj, ensure_ascii=False, default=_default, indent=2)


def short_time(value: str | None) -> str:
    """``2025-03-01T09:30:00+08:00`` → ``2025-03-01 09:30`` (midnight shows the date only)."""
    if not value:
        return ""
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        return value
    if (dt.hour, dt.minute, dt.second) == (0, 0, 0):
        return dt.strftime("%Y-%m-%d")
    return dt.strftime("%Y-%m-%d %H:%M")


@dataclass
class Renderer:
    """How one CLI invocation prints: language and JSON or tables."""

    lang: str
    json: bool

    @property
    def console(self) -> Console:
        out = sys.stdout
        tty = out.isatty()
        return Console(file=out, width=None if tty else 160, no_color=not tty, soft_wrap=False)

    def label(self, key: str) -> str:
        return t(key, self.lang)

    def emit(self, obj: Any) -> None:
        """Print *obj* as JSON."""
        click.echo(to_json(obj))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Print a table; *columns* are label keys."""
        table = Table(title=title, title_justify="left", show_lines=False)
        for col in columns:
            table.add_column(self.label(col), overflow="fold")
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        self.console.print(table)

    def line(self, text: str) -> None:
        click.echo(text)
