"""Rendering for the CLI: tables for people, CSV, TSV, JSON or JSON Lines for programs.

The format of one invocation is chosen by ``--format`` (``--json`` is ``--format json``), else
by ``LEDGER_FORMAT``, else by where the output goes: a table on a terminal, tab-separated
values with a header line when piped (``docs/output.md``).

Tables never split an id, a code, a date or an amount across lines: a column whose every cell
is one such token is never wrapped, and free text (names, notes, lists) wraps instead. A table
that cannot fit even so is printed wider than the terminal rather than cutting a token. The
width is the terminal's, or ``COLUMNS`` when set (piped output without it: 160 columns).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import click

from ledger.kernel.i18n import t

FORMATS = ("table", "csv", "tsv", "json", "jsonl")
"""The output formats of a read (``--format``)."""
FORMAT_ENV = "LEDGER_FORMAT"
"""The environment variable naming the default format (wherever the output goes)."""
PIPED_FORMAT = "tsv"
"""The default when stdout is not a terminal and neither ``--format`` nor ``LEDGER_FORMAT``
is given."""
PIPED_WIDTH = 160
"""The width of a table printed to a pipe when ``COLUMNS`` is not set."""


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


def to_json_lines(obj: Any) -> str:
    """JSON Lines: one compact JSON value a line; a list is printed one item a line."""
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    return "".join(json.dumps(item, ensure_ascii=False, default=_default,
                              separators=(",", ":")) + "\n" for item in items)


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


def default_format(stdout_is_tty: bool | None = None) -> str:
    """The format when none is given: ``LEDGER_FORMAT`` if set (and valid), else ``table`` on
    a terminal and :data:`PIPED_FORMAT` elsewhere."""
    env = os.environ.get(FORMAT_ENV, "").strip().lower()
    if env in FORMATS:
        return env
    tty = sys.stdout.isatty() if stdout_is_tty is None else stdout_is_tty
    return "table" if tty else PIPED_FORMAT


def output_width() -> int | None:
    """The width of tables: ``COLUMNS`` when set, else the terminal's (None: rich asks it),
    else :data:`PIPED_WIDTH`."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else PIPED_WIDTH


_WIDE = re.compile("[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f"
                   "\uff00-\uff60\uffe0-\uffe6\U00020000-\U0003fffd]")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?\S*")


SHORT_WORD = 8
"""Chinese without spaces up to this many characters is one word (a label such as 已制定联合方案,
a name): kept on one line like a token; longer Chinese is free text and wraps."""


def is_token(text: str) -> bool:
    """Whether *text* must stay on one line: an id, a code, a date (with its time), an
    amount — no spaces — or a short Chinese word (:data:`SHORT_WORD`)."""
    if not text:
        return True
    if _DATETIME.fullmatch(text):
        return True
    if any(c.isspace() for c in text):
        return False
    return _WIDE.search(text) is None or len(text) <= SHORT_WORD


def _longest_token(text: str) -> int:
    """The width of the longest word of *text* that must not be cut (Chinese may wrap
    anywhere, so its words count as two characters)."""
    from rich.cells import cell_len

    longest = 1
    for word in re.split(r"\s+", text):
        if not word:
            continue
        longest = max(longest, min(cell_len(word), 4) if _WIDE.search(word) else cell_len(word))
    return longest


FREE_MIN = 8
"""The narrowest a column of free text is made (unless its words are longer)."""
FREE_WHEN_WIDER = 16
"""How wide a column of free text may stay when the table is wider than the page anyway."""


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[str]],
                  width: int) -> tuple[list[bool], list[int], int]:
    """Plan a table of *rows* for *width* columns of text: which columns hold only tokens
    (never cut), each column's content width, and the width to print it at (more than
    *width* only when the tokens do not fit in it).

    Token columns are as wide as their widest cell; headers wrap between words. Free text
    gives way first, its widest columns first, down to :data:`FREE_MIN` (or its longest
    word)."""
    from rich.cells import cell_len

    n = len(headers)
    cols = [[row[i] for row in rows] for i in range(n)]
    fixed = [all(is_token(v) for v in col) for col in cols]
    natural = [max([cell_len(headers[i]), *(cell_len(line) for v in cols[i]
                                            for line in (v.splitlines() or [""]))])
               for i in range(n)]
    minimum = []
    for i in range(n):
        words = max([_longest_token(headers[i]), *(cell_len(v) if fixed[i] else
                                                    _longest_token(v) for v in cols[i])])
        minimum.append(min(natural[i], words if fixed[i] else max(words, FREE_MIN)))
    overhead = 3 * n + 1  # a space either side of each cell, and the n + 1 rules
    if sum(natural) + overhead <= width:
        return fixed, natural, width
    # Headers wrap first (between their words), then free text.
    natural = [max([minimum[i], *(cell_len(line) for v in cols[i]
                                  for line in (v.splitlines() or [""]))]) for i in range(n)]
    if sum(natural) + overhead <= width:
        return fixed, natural, width
    if sum(minimum) + overhead > width:
        widths = [minimum[i] if fixed[i] else min(natural[i], max(minimum[i], FREE_WHEN_WIDER))
                  for i in range(n)]
        return fixed, widths, max(width, sum(widths) + overhead)
    widths = list(natural)
    excess = sum(widths) + overhead - width
    while excess > 0:
        shrinkable = [i for i in range(n) if widths[i] > minimum[i]]
        widest = max(widths[i] for i in shrinkable)
        for i in shrinkable:
            if widths[i] == widest and excess > 0:
                widths[i] -= 1
                excess -= 1
    return fixed, widths, width


@dataclass
class Renderer:
    """How one CLI invocation prints: language, and format (``json`` is ``format == "json"``,
    kept for callers that ask only that)."""

    lang: str
    json: bool
    format: str = ""

    def __post_init__(self) -> None:
        if self.json and self.format not in ("json", "jsonl"):
            self.format = "json"
        elif not self.format:
            self.format = "table"
        self.json = self.format in ("json", "jsonl")

    @property
    def machine(self) -> bool:
        """Whether the output is for programs (CSV, TSV, JSON, JSON Lines)."""
        return self.format != "table"

    @property
    def console(self) -> Any:
        from rich.console import Console

        out = sys.stdout
        tty = out.isatty()
        return Console(file=out, width=output_width(), no_color=not tty, soft_wrap=False)

    def label(self, key: str) -> str:
        return t(key, self.lang)

    def emit(self, obj: Any) -> None:
        """Print *obj* as JSON (as JSON Lines with ``--format jsonl``)."""
        if self.format == "jsonl":
            click.echo(to_json_lines(obj), nl=False)
        else:
            click.echo(to_json(obj))

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Print a table; *columns* are label keys (the headers in the reader's language on a
        terminal; in CSV, TSV and JSON Lines the keys without their prefix, ``cases.ref`` →
        ``ref``, the same in every language)."""
        self.table_labelled(title, [self.label(c) for c in columns], rows,
                            keys=[c.rsplit(".", 1)[-1] for c in columns])

    def table_labelled(self, title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
                       keys: Sequence[str] | None = None) -> None:
        """Print a table whose *headers* are already words; *keys* name the columns for
        programs (default: the headers)."""
        cells = [["" if v is None else str(v) for v in row] for row in rows]
        names = list(keys) if keys is not None else list(headers)
        if self.format in ("csv", "tsv"):
            self._separated(names, cells)
            return
        if self.format in ("json", "jsonl"):
            click.echo(to_json_lines([dict(zip(names, row, strict=False)) for row in cells]),
                       nl=False)
            return
        self._rich_table(title, list(headers), cells)

    def _separated(self, names: list[str], cells: list[list[str]]) -> None:
        buf = io.StringIO()
        if self.format == "csv":
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(names)
            writer.writerows(cells)
        else:
            def clean(v: str) -> str:
                return " ".join(v.replace("\t", " ").splitlines())

            buf.write("\t".join(names) + "\n")
            for row in cells:
                buf.write("\t".join(clean(v) for v in row) + "\n")
        if getattr(self, "_tables", 0):
            click.echo("")
        self._tables = getattr(self, "_tables", 0) + 1
        click.echo(buf.getvalue(), nl=False)

    def _rich_table(self, title: str, headers: list[str], cells: list[list[str]]) -> None:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        console = self.console
        width = console.width
        _fixed, widths, needed = column_widths(headers, cells, width)
        if needed > width:
            console = Console(file=sys.stdout, width=needed, no_color=console.no_color,
                              soft_wrap=False)
        table = Table(title=title, title_justify="left", show_lines=False)
        for header, w in zip(headers, widths, strict=True):
            table.add_column(header, overflow="fold", width=w)
        for row in cells:
            table.add_row(*(Text(v, no_wrap=True) if is_token(v) else v for v in row))
        console.print(table)

    def line(self, text: str) -> None:
        click.echo(text)

    def note(self, text: str) -> None:
        """A remark beside the data: on stdout under a table, on stderr in the formats for
        programs (so that what they read stays CSV, TSV or JSON)."""
        click.echo(text, err=self.machine)


def xlsx(title: str, headers: list[str], cells: list[list[Any]]) -> bytes:
    """A one-sheet Excel workbook of a table (bold header row, frozen, columns sized to fit)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has a sheet
    ws.title = title[:31].replace("/", "-")
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in cells:
        ws.append(["" if v is None else v for v in row])
    for i, h in enumerate(headers, start=1):
        width = max([len(str(h))] + [len(str(r[i - 1] or "")) for r in cells]) + 2
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(width, 80)
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


#: Told how a long step is getting on: ``(done, total)``, and optionally a new label.
ProgressUpdate = Callable[..., None]


@contextmanager
def progress_bar(label: str, enabled: bool) -> Iterator[ProgressUpdate | None]:
    """A progress bar on stderr while a long step runs (``verify``, a rebuild), labelled
    *label*, with the count and the time left; nothing (``None``) when not *enabled*: stderr
    not a terminal, or output for a program. It is cleared when the step ends.

    An update with another *label* draws a bar of its own under the first (a rebuild's
    build and its swaps, which may go on at once), so that each bar only moves forward."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=Console(file=sys.stderr),
                  transient=True) as bar:
        tasks = {label: bar.add_task(label, total=None)}
        first = label

        def update(done: int, total: int, label: str | None = None) -> None:
            key = first if label is None else label
            task = tasks.get(key)
            if task is None:
                task = tasks[key] = bar.add_task(key, total=None)
            bar.update(task, completed=done, total=total)

        yield update
