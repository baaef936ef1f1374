"""What the layers below the application need of the ledger: a narrow protocol.

Handlers, projections, the integrity code, snapshots, privacy, audit and supervision name
this protocol in their type hints instead of :class:`ledger.application.GovernanceLedger`,
so that nothing below the application imports it, not even for typing (the import
contracts in ``pyproject.toml``). ``GovernanceLedger`` satisfies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from eventsourcing.persistence import Mapper
    from sqlalchemy import Engine, Table

    from ledger.kernel.config import Settings
    from ledger.kernel.eventlog import LoggedEvent

__all__ = ["LedgerPort"]


class LedgerPort(Protocol):
    """The ledger as the lower layers use it."""

    settings: Settings
    engine: Engine
    events_table: Table
    projections: dict[str, Any]
    txn_sealer: Any

    @property
    def mapper(self) -> Mapper[UUID]: ...

    @property
    def recorder(self) -> Any: ...

    def load(self, agg_id: UUID, *, dry_run: bool = False) -> Any: ...

    def is_empty(self, *, dry_run: bool = False) -> bool: ...

    def catch_up(self, name: str | None = None) -> None: ...

    def history(self, key: str) -> list[LoggedEvent]: ...

    def resolve_key(self, key: str) -> tuple[str, str, UUID]: ...

    def execute(self, command: Any, *, dry_run: bool = False,
                channel: str = "python") -> Any: ...

    def write_nothing(self) -> None: ...

    def check_writable(self) -> None: ...

    def status(self, community: str | None = None) -> dict[str, Any]: ...

    def roster(self, community: str, as_of: Any = None) -> dict[str, Any]: ...

    def rebuild(self, name: str | None = None, *,
                progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]: ...

    def projection_status(self) -> list[dict[str, Any]]: ...

    def state(self, key: str, version: int | None = None) -> dict[str, Any]: ...

    def apply(self, lines: Any, *, dry_run: bool = False, keep_going: bool = False,
              batch_size: int = ..., channel: str = "apply") -> Any: ...

    def record_refused(self, error: Any, cmd: Any, peek: Mapping[str, Any] | None,
                       channel: str) -> None: ...
