"""Command handlers: one function per command type, registered with :func:`handles`.

A handler loads what it needs through the :class:`Context`, calls ``ctx.authorize(...)`` with
the command's target scope before changing anything, then calls aggregate methods. The
application saves every aggregate the context touched in one atomic write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from ledger.aggregates.base import LedgerAggregate
from ledger.aggregates.community import Community
from ledger.aggregates.town import Town
from ledger.kernel.authority import matrix
from ledger.kernel.command import Command
from ledger.kernel.config import now
from ledger.kernel.errors import (
    AuthorityError,
    CommandValidationError,
    CommunityNotFoundError,
    ImplausibleTimeError,
    LedgerError,
    PostNotHeldError,
    TownNotFoundError,
)
from ledger.kernel.i18n import _
from ledger.kernel.personal_data import may_hold_personal_data as _may_hold
from ledger.kernel.posts import parse_post

#: Fields that hold sealed personal data (encrypted under the subject's key), not free text.
SEALED_FIELDS = frozenset({"caller", "resident_ref"})
#: Keys under which a data subject is named (checked as a subject id, not as free text).
_SUBJECT_KEYS = SEALED_FIELDS | {"subject"}
#: Envelope fields that are not free text.
ENVELOPE_FIELDS = frozenset({"type", "actor", "post", "command_id", "occurred_at"})

#: Town parameter: how many days ahead of now a business time may lie.
FUTURE_DAYS_PARAMETER = "plausibility.future_days"
#: Its default: one day (clocks and time zones differ; a whole day ahead is not a slip).
DEFAULT_FUTURE_DAYS = 1

if TYPE_CHECKING:
    from ledger.kernel.ports import LedgerPort as GovernanceLedger
    from ledger.kernel.writer import WriteTxn

A = TypeVar("A", bound=LedgerAggregate)
Handler = Callable[["Context", Any], Any]

#: Handler for each command type.
HANDLERS: dict[str, Handler] = {}


def handles(*command_classes: type[Command]) -> Callable[[Handler], Handler]:
    """Register a handler for the given command classes."""

    def deco(fn: Handler) -> Handler:
        for cls in command_classes:
            HANDLERS[cls.__pydantic_fields__["type"].default] = fn
        return fn

    return deco


def _needs_personal_data_walk(value: Any, *, top: bool = False) -> bool:
    """Whether :meth:`Context.check_personal_data` has to walk the command: some free-text
    value has the shape of a phone or ID-card number, or the command names a data subject.
    Visits the values the walk visits (the fields of a model, the members of a mapping and of
    a list or tuple; not the envelope's fields at the top), without building paths."""
    if isinstance(value, BaseModel):
        value = value.__dict__  # a model's fields (extra fields are forbidden)
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _SUBJECT_KEYS:
                return True
            if top and k in ENVELOPE_FIELDS:
                continue
            t = type(v)
            if t is str:
                # the shortest phone number is ten characters long
                if len(v) >= 10 and _may_hold(v):
                    return True
            elif t is int or t is bool or v is None:
                continue
            elif _needs_personal_data_walk(v):
                return True
        return False
    if isinstance(value, str):
        return len(value) >= 10 and _may_hold(value)
    if isinstance(value, (list, tuple)):
        return any(_needs_personal_data_walk(v) for v in value)
    return False


class Context:
    """What a handler works with: the command, its envelope, and the aggregates it touches."""

    def __init__(self, ledger: GovernanceLedger, command: Command, *, dry_run: bool,
                 txn: WriteTxn | None = None) -> None:
        self.ledger = ledger
        self.txn = txn
        self.now = now()
        """The record time of the command: the ledger's clock when it began (one reading for
        the plausibility check, the signature check and the result)."""
        self.command = command
        self.dry_run = dry_run
        self.authorized = False
        self.after_authorizing: list[Callable[[], None]] = []
        """Checks that run once the command is authorized (so that a refusal for authority
        comes first): see :meth:`check_once_authorized`."""
        self.loaded: dict[Any, LedgerAggregate] = {}
        self.touched: dict[Any, LedgerAggregate] = {}
        self.result: dict[str, Any] = {}
        #: Data subjects whose personal data this command sealed (their signed command bytes
        #: are blanked when they are erased).
        self.subjects: list[str] = []
        self.envelope: dict[str, Any] = {
            "actor": command.actor,
            "post": command.post,
            "basis": command.basis,
            "occurred_at": command.occurred_at.isoformat(),
            "command_id": command.command_id,
            "command": command.type,
            "authority": matrix().version,
        }

    @property
    def at(self) -> datetime:
        """The command's business time."""
        return self.command.occurred_at

    # Loading.
    def find(self, cls: type[A], key: str) -> A | None:
        """The aggregate of *cls* with readable *key*, or ``None``."""
        agg_id = cls.id_for(key)
        if agg_id in self.loaded:
            return self.loaded[agg_id]  # type: ignore[return-value]
        agg = self.ledger.load(agg_id, dry_run=self.dry_run)
        if agg is None:
            return None
        if not isinstance(agg, cls):
            raise LedgerError(_("{key!r} is a {name}, not a {name2}").format(
                                  key=key, name=type(agg).__name__, name2=cls.__name__))
        self.loaded[agg_id] = agg
        return agg

    def get(self, cls: type[A], key: str, error: type[LedgerError], what: str) -> A:
        """The aggregate of *cls* with *key*; raise *error* naming *what* when missing."""
        agg = self.find(cls, key)
        if agg is None:
            raise error(f"{what} {key!r} does not exist")
        return agg

    def town(self, code: str) -> Town:
        """The town *code*; :class:`TownNotFoundError` if not registered."""
        return self.get(Town, code, TownNotFoundError, "town")

    def community(self, code: str) -> Community:
        """The community *code*; :class:`CommunityNotFoundError` if not registered."""
        return self.get(Community, code, CommunityNotFoundError, "community")

    def scope_roster(self, post_scope: str, level: str) -> Town | Community:
        """The aggregate holding the roster of a post's scope."""
        return self.town(post_scope) if level == "town" else self.community(post_scope)

    # Writing.
    def add(self, *aggs: LedgerAggregate) -> None:
        """Mark aggregates (new or changed) to be saved with this command."""
        if not self.authorized:
            raise LedgerError(_("internal: a handler changed state before authorizing"))
        for agg in aggs:
            self.touched[agg.id] = agg
            self.loaded[agg.id] = agg

    # Personal data.
    def seal_personal(self, subject: str, data: dict[str, Any]) -> dict[str, str]:
        """Encrypt a resident's personal data under their own key (see ledger.kernel.privacy)."""
        from ledger.kernel import privacy

        if subject not in self.subjects:
            self.subjects.append(subject)
        if self.txn is None:  # dry run: check the id, create no key
            if not privacy.SUBJECT_RE.match(subject):
                raise privacy.PersonalDataError(_("subject id {subject!r} is not a valid id").format(
                                                    subject=subject[:40]))
            return {"subject": subject, "nonce": "", "ciphertext": ""}
        return privacy.seal(self.txn, subject, data)

    def check_once_authorized(self, check: Callable[[], None]) -> None:
        """Run *check* now if the command is already authorized, else right after
        :meth:`authorize` succeeds."""
        if self.authorized:
            check()
        else:
            self.after_authorizing.append(check)

    # Personal data in free text.
    def check_personal_data(self) -> None:
        """Raise :class:`~ledger.kernel.errors.PersonalDataInTextError` if any free-text value of the
        command holds a phone or ID-card number, or a data-subject id looks like one. The
        sealed fields (``caller``, ``resident_ref``) are exempt: they are encrypted."""
        from ledger.kernel.personal_data import check_free_text, check_subject_id

        if not _needs_personal_data_walk(self.command.__dict__, top=True):
            return  # no text of the shape of a phone or ID number, and no subject id
        tag = self.command.type

        def walk(value: Any, where: str) -> None:
            # Only text as given is free text: amounts, dates and numbers are typed values
            # (an amount of 13800000000 is not a phone number), so the model is walked, not
            # its JSON form.
            if isinstance(value, str):
                check_free_text(tag, where, value)
            elif isinstance(value, BaseModel):
                walk({k: getattr(value, k) for k in type(value).model_fields}, where)
            elif isinstance(value, dict):
                for k, v in value.items():
                    path = f"{where}.{k}" if where else str(k)
                    if k in SEALED_FIELDS:
                        subject = getattr(v, "subject", None) if isinstance(v, BaseModel) \
                            else (v.get("subject") if isinstance(v, dict) else None)
                        if isinstance(subject, str):
                            check_subject_id(tag, f"{path}.subject", subject)
                    elif k == "subject" and isinstance(v, str):
                        check_subject_id(tag, path, v)
                    elif k not in ENVELOPE_FIELDS or where:
                        walk(v, path)
            elif isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    walk(v, f"{where}[{i}]")

        walk(self.command, "")

    # Plausibility.
    def check_not_in_future(self, town: str | None) -> None:
        """Raise :class:`ImplausibleTimeError` if the command's business time is further in the
        future than the town's tolerance (town parameter ``plausibility.future_days``, default
        :data:`DEFAULT_FUTURE_DAYS`): what has not happened yet cannot be recorded."""
        found = self.find(Town, town) if town else None
        raw = (found.parameters if found is not None else {}).get(FUTURE_DAYS_PARAMETER)
        days = DEFAULT_FUTURE_DAYS if raw is None else int(raw)
        limit = self.now + timedelta(days=days)
        if self.at > limit:
            raise ImplausibleTimeError(
                _("{type}: field 'occurred_at': {at} is in the future: later than now ({now}) plus the "
                  "town's tolerance of {days} day(s) (town parameter {future_days_parameter}); record what "
                  "happened, when it happened").format(
                    type=self.command.type, at=self.at.isoformat(),
                    now=self.now.isoformat(timespec='seconds'), days=days,
                    future_days_parameter=FUTURE_DAYS_PARAMETER))

    # Authority.
    def authorize(self, *, town: str | None, community: str | None = None) -> None:
        """Check the actor held the claimed post at ``occurred_at`` and that the post may issue
        this command for this scope (the authority matrix). Raises on refusal.
        """
        cmd = self.command
        self.check_not_in_future(town)
        self.check_personal_data()
        key = cmd.authority_key()
        m = matrix()
        if cmd.actor.startswith("system:"):
            if not (cmd.system_allowed and m.permits_system(key, cmd.actor)):
                raise AuthorityError(
                    _("{actor} may not issue {type}: system actors only bootstrap the ledger and record "
                      "rule outcomes").format(actor=cmd.actor, type=cmd.type)
                )
            self._authorized()
            return
        if not cmd.post:
            raise CommandValidationError(
                _("{type}: field 'post': required: the post {actor} acts in").format(
                    type=cmd.type, actor=cmd.actor)
            )
        post = parse_post(cmd.post)
        holder = self.scope_roster(post.scope, post.kind.level)
        if not holder.roster.holds(cmd.actor, post.name, self.at):
            held = holder.roster.holders(post.name, self.at)
            who = ", ".join(f"{t['person']} ({t['person_name']})" for t in held) or "nobody"
            later = [t["effective_from"] for t in holder.roster.terms.get(post.name, [])
                     if t["person"] == cmd.actor and t["effective_from"] > self.at.isoformat()]
            since = (f"; {cmd.actor} was appointed to it only from {min(later)}, after the "
                     f"command's date {self.at.isoformat()}" if later else "")
            raise PostNotHeldError(
                _("{actor} did not hold {name} at {at} (held then by {who}); act in a post you held at "
                  "that time{since}").format(
                    actor=cmd.actor, name=post.name, at=self.at.isoformat(), who=who, since=since)
            )
        if not m.permits(key, post.name, town, community):
            allowed = m.allowed_posts(key, town, community)
            raise AuthorityError(
                _("{name} has no authority for {key} in {value}; allowed: {value2}").format(
                    name=post.name, key=key, value=community or town,
                    value2=', '.join(allowed) or 'nobody (not in the authority matrix)')
            )
        self._authorized()

    def _authorized(self) -> None:
        self.authorized = True
        checks, self.after_authorizing = self.after_authorizing, []
        for check in checks:
            check()

