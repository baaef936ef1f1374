"""Logging: structlog, pretty on a terminal, JSON lines on stderr otherwise.

Configured once at CLI start (:func:`configure`). The command path logs one line per command
with ``command_id``, ``type``, ``actor`` and the outcome.

structlog itself is imported only when a line is about to be written: :func:`get_logger`
returns a logger that loads and configures it on first use, so a command that logs nothing
(the default level is ``warning``) never pays for it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

LEVELS = ("debug", "info", "warning", "error")

#: The configured level (absent until :func:`configure` runs: structlog's defaults apply).
_configured: dict[str, int] = {}
#: Whether lines are JSON (set by :func:`configure`; applied when structlog is first loaded).
_settings: dict[str, bool] = {}


def enabled(level: int) -> bool:
    """Whether a line at *level* would be written (lets hot paths skip building it)."""
    threshold = _configured.get("level")
    return threshold is None or level >= threshold


def configure(level: str = "warning", *, json_logs: bool | None = None) -> None:
    """Set up logging to stderr at *level* (JSON unless stderr is a terminal)."""
    _configured["level"] = getattr(logging, level.upper(), logging.WARNING)
    _settings["json"] = (not sys.stderr.isatty()) if json_logs is None else json_logs
    _settings.pop("applied", None)
    if "structlog" in sys.modules:
        _apply()


def _apply() -> None:
    """Configure structlog as :func:`configure` asked (once per configuration)."""
    if "json" not in _settings or _settings.get("applied"):
        return
    import structlog

    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False) if _settings["json"]
        else structlog.dev.ConsoleRenderer(colors=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_configured["level"]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _settings["applied"] = True


class _LazyLogger:
    """A structlog logger, loaded (and configured) when first used."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        import structlog

        _apply()
        return getattr(structlog.get_logger(self._name), attr)


def get_logger(name: str) -> Any:
    """A logger named *name* that loads structlog only when it writes its first line."""
    return _LazyLogger(name)
