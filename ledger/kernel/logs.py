"""Logging: structlog, pretty on a terminal, JSON lines on stderr otherwise.

Configured once at CLI start (:func:`configure`). The command path logs one line per command
with ``command_id``, ``type``, ``actor`` and the outcome.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import structlog

LEVELS = ("debug", "info", "warning", "error")

#: The configured level (absent until :func:`configure` runs: structlog's defaults apply).
_configured: dict[str, int] = {}


def enabled(level: int) -> bool:
    """Whether a line at *level* would be written (lets hot paths skip building it)."""
    threshold = _configured.get("level")
    return threshold is None or level >= threshold


def configure(level: str = "warning", *, json_logs: bool | None = None) -> None:
    """Set up structlog to write to stderr at *level* (JSON unless stderr is a terminal)."""
    import structlog

    threshold = _configured["level"] = getattr(logging, level.upper(), logging.WARNING)
    if json_logs is None:
        json_logs = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if json_logs
        else structlog.dev.ConsoleRenderer(colors=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
