"""Settings, from flags and the environment, in one place.

| setting | flag | environment | default |
|---|---|---|---|
| database URL | ``--db`` | ``LEDGER_DB`` | ``sqlite:///ledger.db`` (working directory) |
| time zone for naive datetimes and bare dates | | ``LEDGER_TZ`` | ``Asia/Shanghai`` |
| label language | ``--lang`` | ``LEDGER_LANG`` | ``zh`` |
| SQLite durability | | ``LEDGER_SQLITE_SYNC`` | ``NORMAL`` (WAL) |
| checkpoint signing key file | ``--signing-key`` | ``LEDGER_SIGNING_KEY`` | beside the SQLite |
|  |  |  | file, else ``./ledger-signing.key`` |
| the official's own key (signs each write) | ``--key-file`` | ``LEDGER_KEY_FILE`` | none |
| accept unsigned commands of actors with no key | ``--allow-unsigned`` |
|  |  | ``LEDGER_ALLOW_UNSIGNED=1`` | off |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.kernel.errors import ConfigurationError
from ledger.kernel.i18n import _

DEFAULT_DB_URL = "sqlite:///ledger.db"
DEFAULT_TZ = "Asia/Shanghai"
LANGS = ("zh", "en")
SQLITE_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


@lru_cache(maxsize=8)
def zone(name: str) -> ZoneInfo:
    """Return the time zone called *name*, with a clear error for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            _("unknown time zone {name!r} in LEDGER_TZ; use an IANA name such as Asia/Shanghai").format(
                name=name)
        ) from None


def ledger_tz() -> ZoneInfo:
    """The zone in which naive datetimes and bare dates are read (``LEDGER_TZ``)."""
    return zone(os.environ.get("LEDGER_TZ") or DEFAULT_TZ)


def localize(value: datetime | date) -> datetime:
    """Make *value* an aware datetime: bare dates are midnight, naive times are ``LEDGER_TZ``."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0, 0))
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        value = value.replace(tzinfo=ledger_tz())
    return value


def local_day(when: datetime) -> date:
    """The calendar day of *when* in ``LEDGER_TZ``."""
    return when.astimezone(ledger_tz()).date()


def now() -> datetime:
    """The current time, aware, in ``LEDGER_TZ``."""
    return datetime.now(ledger_tz())


def default_lang() -> str:
    """The label language from ``LEDGER_LANG`` (``zh`` or ``en``; default ``zh``)."""
    lang = (os.environ.get("LEDGER_LANG") or "zh").strip().lower()
    if lang.startswith("zh"):
        return "zh"
    if lang.startswith("en"):
        return "en"
    raise ConfigurationError(_("LEDGER_LANG={lang!r} is not supported; use zh or en").format(lang=lang))


def default_db_url() -> str:
    """The database URL from ``LEDGER_DB``, else ``sqlite:///ledger.db``."""
    return os.environ.get("LEDGER_DB") or DEFAULT_DB_URL


def sqlite_sync() -> str:
    """SQLite ``synchronous`` setting from ``LEDGER_SQLITE_SYNC`` (default NORMAL, in WAL mode)."""
    mode = (os.environ.get("LEDGER_SQLITE_SYNC") or "NORMAL").strip().upper()
    if mode not in SQLITE_SYNC_MODES:
        raise ConfigurationError(
            _("LEDGER_SQLITE_SYNC={mode!r} is not one of {sqlite_sync_modes}").format(
                mode=mode, sqlite_sync_modes=', '.join(SQLITE_SYNC_MODES))
        )
    return mode


def env_flag(name: str) -> bool:
    """A yes/no environment variable: 1, true, yes, on (any case) are yes."""
    return (os.environ.get(name) or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one ledger."""

    db_url: str = field(default_factory=default_db_url)
    sqlite_sync: str = field(default_factory=sqlite_sync)
    key_file: str | None = field(default_factory=lambda: os.environ.get("LEDGER_SIGNING_KEY"))
    """The ledger's checkpoint signing key (not an official's key)."""
    allow_unsigned: bool = field(default_factory=lambda: env_flag("LEDGER_ALLOW_UNSIGNED"))
    """Accept unsigned commands of actors who have no registered key (marked ``unsigned``)."""

    def resolved_key_file(self) -> str:
        """Where the checkpoint signing key lives: the flag/env, else beside the SQLite file."""
        if self.key_file:
            return self.key_file
        if self.db_url.startswith("sqlite:///") and ":memory:" not in self.db_url:
            return self.db_url.removeprefix("sqlite:///") + ".signing.key"
        return "ledger-signing.key"
