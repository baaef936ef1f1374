"""The command line: parse, call :class:`~ledger.application.GovernanceLedger`, render.

Domain modules in :mod:`ledger.commandline` attach their own command groups. The root group
knows each of them by name and one-line help (:data:`LAZY`) and imports a module only when
one of its commands runs, so ``ledger --help`` loads neither the ledger nor its libraries;
``tests/e2e/test_cli.py`` keeps the table equal to what the modules register.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ledger import __version__, complete
from ledger.kernel.config import default_db_url, default_lang
from ledger.kernel.errors import ConfigurationError, LedgerError, LedgerNotEmptyError
from ledger.kernel.i18n import _, add_labels, set_language
from ledger.kernel.logs import LEVELS, configure

if TYPE_CHECKING:
    from ledger.application import CommandResult, GovernanceLedger, LineOutcome
    from ledger.render import Renderer

F = TypeVar("F", bound=Callable[..., Any])

CLICK_MODULES = ("core", "exceptions", "formatting", "parser", "types", "decorators", "termui",
                 "shell_completion")
"""Click's modules whose messages ("Usage:", "Error:", "Missing option") are rendered through
our catalogs: click calls the standard library's ``gettext`` under the name ``_`` (and
``ngettext``), which follows the process's locale, not the language of this invocation."""


def _use_our_catalogs_for_click() -> None:
    from ledger.kernel import i18n

    for name in CLICK_MODULES:
        module = sys.modules.get(f"click.{name}")
        if module is None:
            continue
        if hasattr(module, "_"):
            module._ = i18n._  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = i18n.ngettext  # type: ignore[attr-defined]


_use_our_catalogs_for_click()


def _language_in(args: Iterable[str]) -> str:
    """The language asked for by ``--lang`` in *args*, else ``LEDGER_LANG``, else ``zh``."""
    items = list(args)
    for i, arg in enumerate(items):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(items):
            return items[i + 1]
        if arg.startswith("--lang="):
            return arg.removeprefix("--lang=")
    try:
        return default_lang()
    except ConfigurationError:
        return "zh"
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
DEMO_DB = "sqlite:///ledger-demo.db"


class State:
    """Per-invocation state: settings, renderer, and the ledger (opened on first use)."""

    def __init__(self, db_url: str, lang: str, db_given: bool, key_file: str | None = None,
                 personal_key: str | None = None, allow_unsigned: bool = False,
                 profile: dict[str, str] | None = None) -> None:
        self.db_url = db_url
        self.profile = profile or {}
        """The profile chosen with ``--profile`` / ``LEDGER_PROFILE`` (:mod:`ledger.profiles`)."""
        self.lang = lang
        self.db_given = db_given
        self.key_file = key_file
        """The ledger's checkpoint signing key (``--signing-key``)."""
        self.personal_key = personal_key
        """The official's own key that signs each write (``--key-file``)."""
        self.allow_unsigned = allow_unsigned
        self._ledger: GovernanceLedger | None = None
        self._private_key: Any = None

    def ledger(self, db_url: str | None = None, *, create: bool = False) -> GovernanceLedger:
        """The ledger at ``--db`` (opened once). A SQLite file that does not exist is an
        error (:func:`require_ledger`) unless *create* (``init``, ``demo``)."""
        if self._ledger is None:
            from ledger.application import GovernanceLedger
            from ledger.kernel.config import Settings

            if not create:
                require_ledger(db_url or self.db_url)
            extra: dict[str, Any] = {"key_file": self.key_file} if self.key_file else {}
            if self.allow_unsigned:
                extra["allow_unsigned"] = True
            self._ledger = GovernanceLedger(settings=Settings(db_url=db_url or self.db_url,
                                                              **extra))
        return self._ledger

    def private_key(self) -> Any:
        """The official's key (``--key-file``), loaded once; None without one."""
        if self.personal_key is None:
            return None
        if self._private_key is None:
            from ledger.integrity.checkpoint import KeyFileError, load_private_key

            try:
                self._private_key = load_private_key(self.personal_key)
            except KeyFileError as e:
                raise click.ClickException(_("--key-file: {e}").format(e=e)) from None
        return self._private_key

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


class NoLedgerError(click.ClickException):
    """Raised when ``--db`` names a SQLite file that does not exist (exit status 2)."""

    exit_code = 2


def require_ledger(db_url: str) -> None:
    """Raise :class:`NoLedgerError` if *db_url* is a SQLite file that does not exist (a typo
    in ``--db`` must not create an empty ledger)."""
    from ledger.kernel.store import sqlite_file

    try:
        path = sqlite_file(db_url)
    except Exception:  # noqa: BLE001 - an unusable URL is reported when it is opened
        return
    if path is not None and not path.exists():
        raise NoLedgerError(_(
            "no ledger at {path}: the file does not exist. Check --db (or LEDGER_DB); to "
            "create a ledger there, run 'ledger --db {url} init'").format(path=path, url=db_url))


class LedgerClickError(click.ClickException):
    """A :class:`LedgerError` as the command line reports it (``Error: …``)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc] # click reads it per instance


def _debugging(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("debug"))


_EXAMPLE_LINE = re.compile(r"^(?:[A-Z_]+=\S*\s+)*(?:ledger|python|curl|cat|echo|export|\$)\b|^[{\[<]")


def translate_help(text: str, translate: Callable[[str], str] = _) -> str:
    """A command's help (its docstring) in the reader's language, paragraph by paragraph: each
    paragraph is one message (its words joined by single spaces; click wraps it again); in a
    verbatim block (``\\b``) each line of words is one, and example command lines are kept."""
    out = []
    for para in re.split(r"\n[ \t]*\n", inspect.cleandoc(text)):
        if para.startswith("\b"):
            lines = para.split("\n")
            kept = [lines[0]]
            continued = False
            for line in lines[1:]:
                body = line.strip()
                if continued or not re.search("[A-Za-z]", body) or _EXAMPLE_LINE.match(body):
                    kept.append(line)
                else:
                    kept.append(line[: len(line) - len(line.lstrip())] + translate(body))
                continued = body.endswith("\\")
            out.append("\n".join(kept))
        else:
            out.append(translate(" ".join(para.split())))
    return "\n\n".join(out)


def translate_option_help(text: str) -> str:
    """An option's help in the reader's language."""
    words = " ".join(text.split())
    return _(words)


@contextmanager
def _swapped(obj: Any, **values: Any) -> Iterator[None]:
    """Set attributes of *obj* for the duration (click reads help texts from its objects)."""
    saved = {k: getattr(obj, k) for k in values}
    try:
        for k, v in values.items():
            setattr(obj, k, v)
        yield
    finally:
        for k, v in saved.items():
            setattr(obj, k, v)


HELP_OPTION_HELP = "Show this message and exit."
VERSION_OPTION_HELP = "Show the version and exit."
"""click's own help texts for --help and --version (in its catalog, and so in ours)."""


class TranslatedHelp(click.Command):
    """A command whose help, short help and options' help are shown in the reader's language
    (translated when shown, so one process can answer in either language)."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        help_ = translate_help(self.help) if self.help else self.help
        with _swapped(self, help=help_):
            super().format_help_text(ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        short = translate_option_help(self.short_help) if self.short_help else None
        help_ = translate_help(self.help) if self.help else self.help
        with _swapped(self, help=help_, short_help=short):
            return super().get_short_help_str(limit)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        first = getattr(self, "_help_option", None) is None
        option = super().get_help_option(ctx)
        if option is not None and first:
            # click words it once, in the language of its first use; keep it in English here
            # and translate it when shown, like every other help text.
            option.help = HELP_OPTION_HELP
        return option

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with ExitStack() as stack:
            for param in self.get_params(ctx):
                text = getattr(param, "help", None)
                if text:
                    stack.enter_context(_swapped(param, help=translate_option_help(text)))
            super().format_options(ctx, formatter)


class LedgerCommand(TranslatedHelp):
    """A command of the ledger (help in the reader's language)."""


class LedgerGroup(TranslatedHelp, click.Group):
    """A group that turns every :class:`LedgerError` into ``Error: …`` (exit status 1, or the
    error's own ``exit_code``) and any other failure into one line too: tracebacks are shown
    only with ``--debug``. Its commands and groups are of the same kind (help in the reader's
    language)."""

    command_class = LedgerCommand
    group_class: type[click.Group] | type[type] | None = type

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LedgerError as e:
            if _debugging(ctx):
                import traceback

                traceback.print_exc()
            raise LedgerClickError(str(e), getattr(e, "exit_code", 1)) from None
        except (click.exceptions.ClickException, click.exceptions.Abort,
                click.exceptions.Exit, KeyboardInterrupt, EOFError):
            raise
        except BrokenPipeError:
            # The reader went away (ledger … | head): stop quietly, as other tools do.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(1) from None
        except Exception as e:
            if _debugging(ctx):
                raise
            reason = " ".join(str(e).split())[:300] or type(e).__name__
            raise click.ClickException(_(
                "unexpected failure ({kind}): {reason}; run again with --debug to see "
                "where").format(kind=type(e).__name__, reason=reason)) from None


#: The commands of the domain modules (``ledger.commandline.*``), by name: the module that
#: registers it and its one-line help (``get_short_help_str(limit=60)``), shown by
#: ``ledger --help`` without importing it.
LAZY: dict[str, tuple[str, str]] = {
    "appraisal": ("appraisal", "Year-end appraisal (年末考核): firm grading, bottom three,..."),
    "audit": ("audit", "Auditors' questions: who decided something, and what a..."),
    "backup": ("maintenance", "Write a consistent copy of the SQLite ledger to FILE..."),
    "blacklist": ("owners", "List firms banned from every property tender in the town:..."),
    "case": ("cases", "Problem cases (案件): intake, assessment, dispatch,..."),
    "cases": ("cases", "Show the case board: each case's state, time limit and..."),
    "checkpoint": ("integrity", "Sign a checkpoint of the log, send it to the witnesses,..."),
    "contract": ("owners", "Property service contracts: sign, renew, terminate."),
    "contracts": ("owners", "List property service contracts; with --as-of, which firm..."),
    "credit-file": ("owners", "Show the credit file of every firm (or FIRM):..."),
    "departments": ("vocabulary", "List the departments (职能部门) cases are dispatched to:..."),
    "district-report": ("owners", "The report to the district housing bureau: banned firms..."),
    "document": ("cases", "The five template documents (五大制度模板) filed on a case or a..."),
    "documents": ("cases", "List the template documents filed (on a case, a..."),
    "duties": ("cases", "Show the responsibility list in force and the duty..."),
    "duty": ("cases", "Responsibility lists (工作清单) and duty failures (履责不力)."),
    "erase-subject": ("maintenance", "Destroy the key of a resident's personal data..."),
    "escalations": ("cases", "Show the escalations automatic supervision recorded (提醒,..."),
    "firm": ("owners", "Property firms (物业服务企业): registration and elimination."),
    "key": ("integrity", "Signing keys: the ledger's checkpoint key (export) and..."),
    "matter": ("deliberation", "Matters: raise, route by rule matter.routing@1, override,..."),
    "matters": ("deliberation", "List matters and topics: route (by rule or overridden)..."),
    "measures": ("vocabulary", "List the measures the three-colour warnings mandate:..."),
    "meeting": ("deliberation", "Meetings: convene, record attendance, close with minutes..."),
    "meetings": ("deliberation", "List meetings with attendance, resolution items and items..."),
    "oc": ("owners", "Owners' committees (业委会): formation, election, term,..."),
    "ocs": ("owners", "List owners' committees: election, turnout, director,..."),
    "profile": ("profiles", "Profiles: your --actor, --post and --key-file, chosen..."),
    "project": ("feed", "Bring projections (all, or NAME...) up to date; with..."),
    "posts": ("vocabulary", "List the posts the ledger knows: code, Chinese and..."),
    "problem-types": ("vocabulary", "List the problem types of cases: code, Chinese and..."),
    "prove": ("integrity", "Proofs over the Merkle log: that an event is in it, that..."),
    "resolution": ("deliberation", "Resolutions and their items: adopt, progress, complete,..."),
    "resolutions": ("deliberation", "Track resolution items: open, overdue, done, done late —..."),
    "restore": ("maintenance", "Restore the backup FILE as the ledger given by --db; then..."),
    "serve": ("feed", "Serve the feed, queries, commands, Open311 and the board."),
    "snapshot": ("snapshots", "Snapshot the state of aggregates, so 'ledger state' need..."),
    "state": ("snapshots", "Show the current state of one aggregate (or its state at..."),
    "supervise": ("cases", "Escalate overdue work: remind → 督办 → 通报 (rule..."),
    "tender": ("owners", "Public tenders (公开招投标) of owners' committees."),
    "topic": ("deliberation", "Deliberation-platform topics: raised by residents, heard,..."),
    "verify": ("integrity", "Check the whole log against its Merkle tree and signed..."),
    "warning": ("cases", "Three-level, three-colour warnings (三级三色预警) and their..."),
    "warnings": ("cases", "Show the colour of each community and problem type, with..."),
    "witness": ("witness", "Run a witness: cosign another log's checkpoints, refuse..."),
}
"""Kept equal to the registrations by ``tests/e2e/test_cli.py`` (names, modules, help)."""


def load_all_commands() -> None:
    """Import every domain module of the command line (what ``ledger demo`` shows needs them,
    and so does listing every command)."""
    import importlib

    for module in sorted({m for m, _help in LAZY.values()}):
        importlib.import_module(f"ledger.commandline.{module}")
    import ledger.commandline.keys  # noqa: F401 - adds to the key group
    importlib.import_module("ledger.commandline.overview")  # the demo's first screen, labels


class RootGroup(LedgerGroup):
    """The root group: the domain modules' commands are imported when first used."""

    group_class = LedgerGroup

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        # The language is chosen before anything is parsed, so that click's own messages
        # (usage errors, "Missing option") are in it too.
        set_language(_language_in(args))
        return super().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY:
            import importlib

            importlib.import_module(f"ledger.commandline.{LAZY[cmd_name][0]}")
            if cmd_name == "key":
                import ledger.commandline.keys  # noqa: F401 - adds to the key group
        return self.commands.get(cmd_name)

    def shell_complete(self, ctx: click.Context,
                       incomplete: str) -> list[click.shell_completion.CompletionItem]:
        """Command names with their one-line help, from :data:`LAZY` for the modules not
        loaded (completing ``ledger ca`` imports no domain module), then the options."""
        from click.shell_completion import CompletionItem

        items = []
        for name in self.list_commands(ctx):
            if not name.startswith(incomplete):
                continue
            cmd = self.commands.get(name)
            if cmd is None:
                items.append(CompletionItem(name, help=_(LAZY[name][1])))
            elif not cmd.hidden:
                items.append(CompletionItem(name, help=cmd.get_short_help_str()))
        return items + click.Command.shell_complete(self, ctx, incomplete)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name)
            if cmd is not None:
                if cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(formatter.width - 6 - len(name))))
            else:
                rows.append((name, _(LAZY[name][1])))
        if rows:
            with formatter.section(_("Commands")):
                formatter.write_dl(rows)


_NUMBER = r"-?[0-9]+(\.[0-9]+)?"

if TYPE_CHECKING:  # generic in the click this is checked with; plain in click 8.1
    _ParamType = click.ParamType[str, Any]
else:
    _ParamType = click.ParamType


class Number(_ParamType):
    """An exact decimal as text (``1250.00``, ``-35.5``): checked here, parsed by the ledger."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        import re

        text = str(value).strip()
        if not re.fullmatch(_NUMBER, text):
            self.fail(_("{value!r} is not a number: write digits with an optional sign and "
                        "decimal point, e.g. 1250.00 or -35.5").format(value=text), param, ctx)
        return text


#: A number argument; negative ones need no ``--`` in a :class:`NumbersCommand`.
NUMBER = Number()


class NumbersCommand(click.Command):
    """A command whose number arguments may be negative (``-35.5``) without ``--``.

    Unknown options are left for the arguments (click's ``ignore_unknown_options``), but only
    negative numbers may be: any other unknown option is still refused by name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["context_settings"] = {**(kwargs.get("context_settings") or {}),
                                      "ignore_unknown_options": True}
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        import re

        options = [p for p in self.get_params(ctx) if isinstance(p, click.Option)]
        known = {o for p in options for o in (*p.opts, *p.secondary_opts)}
        takes_value = {o for p in options if not p.is_flag and not p.count for o in p.opts}
        skip = False
        for arg in args:
            if skip:
                skip = False
                continue
            if arg == "--":
                break
            name = arg.split("=", 1)[0]
            if name in takes_value and "=" not in arg:
                skip = True
            elif arg.startswith("-") and len(arg) > 1 and name not in known \
                    and not re.fullmatch(_NUMBER, arg):
                raise click.NoSuchOption(name, ctx=ctx)
        return super().parse_args(ctx, args)


def add_aliases(group: click.Group, aliases: dict[str, str]) -> None:
    """Keep earlier names of commands working, hidden: ``{old: new}`` (the names of the
    command line follow the command types, e.g. ``record-firm-score`` for
    ``appraisal.record_firm_score``)."""
    import copy
    import inspect

    for old, new in aliases.items():
        command = group.commands[new]
        alias = copy.copy(command)
        alias.hidden = True
        # English paragraphs of the help, translated when shown like the rest of it
        # (translate_help), so that the help is in the reader's language whenever it is read.
        text = inspect.cleandoc(command.help or "")
        alias.help = f"{text}\n\nThe earlier name of '{new}'."
        group.add_command(alias, old)
        command.help = f"{text}\n\nEarlier name, still accepted: {old}."


OUTPUT_FORMATS = ("table", "csv", "tsv", "json", "jsonl")
"""The choices of ``--format`` (:data:`ledger.render.FORMATS`, kept here so that ``ledger
--help`` imports nothing)."""


def json_option(f: F) -> F:
    """``--format table|csv|tsv|json|jsonl`` and ``--json`` (the same as ``--format json``).

    The command receives ``as_json``: true for ``json`` and ``jsonl`` (it emits its data);
    otherwise it prints tables, which :func:`renderer` prints as a table, CSV or TSV. Without
    either option the format is ``LEDGER_FORMAT``'s, else a table on a terminal and TSV when
    piped (:func:`ledger.render.default_format`)."""
    import functools

    @functools.wraps(f)
    def chosen(*args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.pop("output_format", None)
        flag = bool(kwargs.pop("as_json", False))
        if flag:
            fmt = "json"
        elif fmt is None:
            from ledger.render import default_format

            fmt = default_format()
        click.get_current_context().meta["ledger.format"] = fmt
        kwargs["as_json"] = fmt in ("json", "jsonl")
        return f(*args, **kwargs)

    chosen = click.option(
        "--format", "output_format", type=click.Choice(OUTPUT_FORMATS), default=None,
        help="Output format: table, csv, tsv, json or jsonl (default: LEDGER_FORMAT, else a "
             "table on a terminal and tsv when piped).")(chosen)
    chosen = click.option("--json", "as_json", is_flag=True,
                          help="Print JSON (the same as --format json).")(chosen)
    return chosen  # type: ignore[return-value]


def envelope_options(f: F) -> F:
    """The audit envelope of a write command, and ``--dry-run``."""
    options = [
        click.option("--actor", envvar="LEDGER_ACTOR", metavar="PERSON",
                     help="Who acts (person id, e.g. P-0001); required unless the profile "
                          "(--profile) names it. Env: LEDGER_ACTOR."),
        click.option("--post", "acting_post", envvar="LEDGER_POST", metavar="POST",
                     shell_complete=complete.posts,
                     help="The post you act in, e.g. town.ledger_admin@ZQ (default: the "
                          "profile's). Env: LEDGER_POST."),
        click.option("--basis", metavar="REF", help="Resolution, rule or document reference."),
        click.option("--at", "occurred_at", metavar="DATETIME",
                     help="Business time (ISO date or datetime; default now, LEDGER_TZ)."),
        click.option("--command-id", metavar="ID",
                     help="Idempotency key; repeating it writes nothing."),
        click.option("--dry-run", "dry_run", is_flag=True,
                     help="Check the command (signature, authority, rules) and show what it "
                          "would record; write nothing."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _from_profile(ctx: click.Context, param: str, value: Any, field: str) -> Any:
    """An option's value: as given on the command line, else the profile's, else as click
    found it (its environment variable)."""
    from click.core import ParameterSource

    if ctx.get_parameter_source(param) == ParameterSource.COMMANDLINE:
        return value
    return state().profile.get(field) or value


def envelope(kw: dict[str, Any]) -> dict[str, Any]:
    """Pop the envelope options out of *kw* as command fields (``--actor`` and ``--post``
    filled from the profile when not given), and note ``--dry-run`` for :func:`execute`."""
    ctx = click.get_current_context()
    ctx.meta["ledger.dry_run"] = bool(kw.pop("dry_run", False))
    actor = _from_profile(ctx, "actor", kw.pop("actor"), "actor")
    post = _from_profile(ctx, "acting_post", kw.pop("acting_post"), "post")
    if not actor:
        raise click.UsageError(_(
            "Missing option '--actor' (who acts, e.g. P-0001): give it, set LEDGER_ACTOR, or "
            "choose a profile that names it ('ledger profile set NAME --actor PERSON --post "
            "POST', then 'ledger --profile NAME …')"), ctx)
    out = {"actor": actor, "post": post, "basis": kw.pop("basis"),
           "occurred_at": kw.pop("occurred_at"), "command_id": kw.pop("command_id")}
    return {k: v for k, v in out.items() if v is not None}


def state() -> State:
    return click.get_current_context().find_object(State)  # type: ignore[return-value]


def output_format() -> str:
    """The format of this invocation (``--format``, ``--json``, ``LEDGER_FORMAT`` or where
    stdout goes)."""
    fmt = click.get_current_context().meta.get("ledger.format")
    if fmt is None:
        from ledger.render import default_format

        fmt = default_format()
    return str(fmt)


def renderer(as_json: bool) -> Renderer:
    from ledger.render import Renderer

    fmt = output_format()
    if as_json and fmt not in ("json", "jsonl"):
        fmt = "json"
    return Renderer(lang=state().lang, json=as_json, format=fmt)


def sign_payload(command: dict[str, Any], key: Any) -> Any:
    """A DSSE envelope of *command* (given a ``command_id`` if it has none) signed by *key*."""
    from uuid import uuid4

    from ledger.integrity import dsse

    body = {"command_id": str(uuid4()), **command}
    return dsse.sign_command(key, json.dumps(body, ensure_ascii=False,
                                             separators=(",", ":")).encode("utf-8"))


def execute(payload: dict[str, Any], as_json: bool, *, events: bool = True) -> CommandResult:
    """Run one command through the ledger, signed with ``--key-file`` when given, and print
    its outcome (without the events written when not *events*: the caller says what
    happened)."""
    command = {k: v for k, v in payload.items() if v is not None}
    st = state()
    dry_run = bool(click.get_current_context().meta.get("ledger.dry_run"))
    key = st.private_key()
    ledger = st.ledger()
    if isinstance(command.get("firm"), str):
        # A firm may be named by its name, a part of it or of its credit code; the command
        # (and what is signed) carries the credit code itself.
        from ledger.projections.owners import find_firm

        command["firm"] = find_firm(ledger, command["firm"])
    result = ledger.execute(sign_payload(command, key) if key is not None else command,
                            channel="cli", dry_run=dry_run)
    r = renderer(as_json)
    if as_json:
        r.emit(result)
    elif dry_run:
        r.line(f"{r.label(result.outcome)}: {result.type} [{result.command_id}] "
               + ", ".join(result.events) + " — " + _("nothing written"))
    else:
        written = ", ".join(f"{e}#{p}" for e, p in zip(result.events, result.positions,
                                                       strict=False)) if events else ""
        r.line(_("{label}: {type} [{command_id}] {events}").format(
                   label=r.label(result.outcome), type=result.type, command_id=result.command_id,
                   events=written).rstrip())
    return result


@click.group(cls=RootGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="ledger", help=VERSION_OPTION_HELP)
@click.option("--db", metavar="URL", envvar="LEDGER_DB", default=None,
              help="Ledger database: sqlite:///FILE (default sqlite:///ledger.db) or "
                   "postgresql+psycopg://USER@HOST:PORT/DB. Env: LEDGER_DB.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None,
              help="Label language (default zh). Env: LEDGER_LANG.")
@click.option("--log-level", type=click.Choice(LEVELS), default="warning", show_default=True,
              help="Log level; logs go to stderr (JSON when not a terminal).")
@click.option("--key-file", metavar="PATH", envvar="LEDGER_KEY_FILE", default=None,
              help="Your own signing key ('ledger key new'): every write is signed with it. "
                   "Env: LEDGER_KEY_FILE.")
@click.option("--allow-unsigned", is_flag=True, envvar="LEDGER_ALLOW_UNSIGNED",
              help="Accept unsigned commands of actors who have no registered key (imports, "
                   "tests); their events are marked unsigned. Env: LEDGER_ALLOW_UNSIGNED=1.")
@click.option("--signing-key", metavar="PATH", envvar="LEDGER_SIGNING_KEY", default=None,
              help="The ledger's checkpoint signing key (default: beside the SQLite file, else "
                   "./ledger-signing.key). Env: LEDGER_SIGNING_KEY.")
@click.option("--profile", "profile_name", metavar="NAME", envvar="LEDGER_PROFILE",
              help="Your profile ('ledger profile set'): the default --actor, --post and "
                   "--key-file of every write. Env: LEDGER_PROFILE.")
@click.option("--debug", is_flag=True, envvar="LEDGER_DEBUG",
              help="Show the traceback of a failure (default: one line). Env: LEDGER_DEBUG=1.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, lang: str | None, log_level: str,
        key_file: str | None, allow_unsigned: bool, signing_key: str | None,
        profile_name: str | None, debug: bool) -> None:
    """Zhuanqiao governance ledger (颛桥镇协同治理台账): every appointment, resolution, warning,
    inspection and rating as an immutable, attributed event.

    \b
    Example:
      ledger init --town ZQ --town-name 颛桥镇 --admin P-0001 --admin-name 王明
      ledger apply ledger/samples/zq/00-roster.jsonl
      ledger status ZQ-001
    """
    configure(log_level)
    try:
        resolved_lang = lang or default_lang()
    except ConfigurationError as e:
        raise click.ClickException(str(e)) from None
    set_language(resolved_lang)
    profile: dict[str, str] = {}
    if profile_name:
        from ledger import profiles

        profile = profiles.get(profile_name)
        if profile.get("key_file"):
            from click.core import ParameterSource

            if ctx.get_parameter_source("key_file") != ParameterSource.COMMANDLINE:
                key_file = profile["key_file"]
    st = State(db_url=db or default_db_url(), lang=resolved_lang, db_given=db is not None,
               key_file=signing_key, personal_key=key_file, allow_unsigned=allow_unsigned,
               profile=profile)
    ctx.obj = st
    ctx.call_on_close(st.close)


# ---------------------------------------------------------------------------- init
@cli.command()
@click.option("--town", metavar="CODE", help="Town code to bootstrap, e.g. ZQ.")
@click.option("--town-name", metavar="NAME", help="Town name, e.g. 颛桥镇.")
@click.option("--admin", metavar="PERSON", help="Person id of the first ledger administrator.")
@click.option("--admin-name", metavar="NAME", help="Name of the first ledger administrator.")
@click.option("--at", "occurred_at", metavar="DATETIME", help="Business time (default now).")
@json_option
def init(town: str | None, town_name: str | None, admin: str | None, admin_name: str | None,
         occurred_at: str | None, as_json: bool) -> None:
    """Create the ledger's tables (idempotent) and, with --town, bootstrap the town.

    The bootstrap records the Town and its first post, a town ledger administrator, as events
    by system:bootstrap. It runs once: a ledger that already holds events refuses it.
    Init also creates the checkpoint signing key (mode 0600) unless it exists, and seals.

    \b
    With --key-file (the administrator's own key, from 'ledger key new') the key is
    registered with the town and the bootstrap is signed by it.

    \b
    Example:
      ledger key new --person P-0001 --out ~/.ledger/P-0001.key
      ledger --key-file ~/.ledger/P-0001.key init --town ZQ --town-name 颛桥镇 \\
          --admin P-0001 --admin-name 王明
    """
    from ledger.integrity import sealer

    ledger = state().ledger(create=True)
    ledger.check_writable()
    given = [v for v in (town, town_name, admin, admin_name) if v]
    if given and len(given) != 4:
        raise click.UsageError(_("--town, --town-name, --admin and --admin-name go together"))
    key_path, created = sealer.ensure_key_file(ledger.settings)
    if created:
        click.echo(_("signing key created at {key_path} (keep it private; 'ledger key export' prints the "
                     "public key)").format(key_path=key_path), err=True)
    if not given:
        click.echo(_("ledger ready at {db_url}").format(db_url=state().db_url))
        return
    admin_key = state().private_key()
    if admin_key is None and not ledger.settings.allow_unsigned:
        raise click.UsageError(
            _("--key-file is required: the administrator's own key, registered with the town (make one "
              "with 'ledger key new --person {admin}'); or --allow-unsigned").format(admin=admin))
    public = None
    if admin_key is not None:
        from ledger.integrity.dsse import public_key_b64

        public = public_key_b64(admin_key.public_key())
    execute({"type": "town.bootstrap", "actor": "system:bootstrap", "code": town,
             "name": town_name, "admin": admin, "admin_name": admin_name,
             "admin_public_key": public, "occurred_at": occurred_at}, as_json)
    sealer.seal(ledger)


# ---------------------------------------------------------------------------- apply
def _report(outcome: LineOutcome) -> dict[str, Any]:
    if outcome.error is not None:
        return {"line": outcome.line, "outcome": "rejected", "error": outcome.error.code,
                "message": str(outcome.error)}
    res = outcome.result
    if res is None:  # pragma: no cover - an outcome has a result or an error
        raise LedgerError(_("internal: empty outcome"))
    return {"line": outcome.line, "outcome": res.outcome, "type": res.type,
            "command_id": res.command_id, "positions": res.positions, "events": res.events}


@contextmanager
def _open_lines(path: str) -> Iterator[Iterator[bytes]]:
    """Lines as bytes: each is decoded (and refused if not UTF-8) on its own. A UTF-8
    byte-order mark before the first line (as Windows Notepad saves) is dropped."""
    if path == "-":
        yield _drop_bom(iter(sys.stdin.buffer))
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise click.ClickException(_("cannot read {path}: {strerror}").format(
                                       path=path, strerror=e.strerror)) from None
    with fh:
        yield _drop_bom(iter(fh))


def _drop_bom(lines: Iterator[bytes]) -> Iterator[bytes]:
    first = next(lines, None)
    if first is None:
        return
    yield first.removeprefix(b"\xef\xbb\xbf")
    yield from lines


def signed_lines(lines: Iterable[bytes | str], key: Any = None,
                 keys: Callable[[str], Any] | None = None) -> Iterator[Any]:
    """Each line as it is when it is an envelope already, else signed: with *key*, or with
    ``keys(actor)`` (None: left unsigned). A line without a ``command_id`` gets one first (the
    id is part of what is signed); a line that is not a JSON object is passed on unread, for
    the ledger to refuse."""
    from ledger.integrity import dsse

    for raw in lines:
        text = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        body = text.strip()
        if not body or b'"payloadType"' in body:
            yield raw
            continue
        try:
            data = json.loads(body)
        except ValueError:
            yield raw
            continue
        if not isinstance(data, dict):
            yield raw
            continue
        signer = key if key is not None else (keys(str(data.get("actor"))) if keys else None)
        if signer is None:
            yield raw
            continue
        # A line with its command_id is signed as it is; one without gets an id first.
        yield dsse.sign_command(signer, body) if "command_id" in data else \
            sign_payload(data, signer)


def keys_in(directory: Path) -> Callable[[str], Any]:
    """``actor -> key`` from DIR/<actor>.key files (None when there is none), each loaded once."""
    from ledger.integrity.checkpoint import KeyFileError, load_private_key

    cache: dict[str, Any] = {}

    def get(actor: str) -> Any:
        if actor not in cache:
            path = directory / f"{actor}.key"
            try:
                cache[actor] = load_private_key(path) if path.exists() else None
            except KeyFileError as e:
                raise click.ClickException(_("--keys-dir: {e}").format(e=e)) from None
        return cache[actor]

    return get


@cli.command()
@click.argument("file", metavar="FILE.jsonl")
@click.option("--dry-run", is_flag=True, help="Check every line (each seeing the ones before) "
              "and write nothing.")
@click.option("--keep-going", is_flag=True, help="Go on after a rejected line (each line is "
              "atomic on its own); default: stop at the first.")
@click.option("--atomic", is_flag=True, help="All lines or none: every line in one "
              "transaction, nothing written if any line is rejected.")
@click.option("--keys-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Sign each line with DIR/<actor>.key (e.g. when importing for several "
                   "officials); lines of actors without a file there stay unsigned.")
@json_option
def apply(file: str, dry_run: bool, keep_going: bool, atomic: bool, keys_dir: Path | None,
          as_json: bool) -> None:
    """Apply a JSON Lines file of commands, one per line, each atomic; report every line.

    A line is a command or a DSSE envelope of one (signed already). With the global
    --key-file every other line is signed with that key; with --keys-dir, with its actor's.
    Exit status 1 if any line was rejected. FILE may be - for standard input; it may start
    with a byte-order mark. With --atomic the file is applied whole or not at all.

    \b
    Example:
      ledger apply --dry-run --keep-going commands.jsonl
      ledger apply --atomic year-2025.jsonl
      ledger --key-file ~/.ledger/P-0001.key apply ledger/samples/zq/00-roster.jsonl
      ledger apply --keys-dir ./keys import.jsonl
    """
    if atomic and keep_going:
        raise click.UsageError(_("--atomic and --keep-going exclude each other: --atomic "
                                 "writes nothing when a line is rejected"))
    r = renderer(as_json)
    ledger = state().ledger()
    key = state().private_key()
    reports = []
    counts = {"accepted": 0, "duplicate": 0, "dry_run": 0, "rejected": 0}
    last_line = 0
    with _open_lines(file) as raw_lines:
        lines: Iterable[Any] = raw_lines
        if key is not None or keys_dir is not None:
            lines = signed_lines(raw_lines, key, keys_in(keys_dir) if keys_dir else None)
        for outcome in ledger.apply(lines, dry_run=dry_run, keep_going=keep_going,
                                    atomic=atomic):
            rep = _report(outcome)
            last_line = outcome.line
            counts[rep["outcome"]] += 1
            if as_json:
                reports.append(rep)
            elif rep["outcome"] == "rejected":
                r.line(_("line {line}: {label}: {message}").format(
                           line=rep['line'], label=r.label('rejected'), message=rep['message']))
            else:
                r.line(_("line {line}: {label}: {message}").format(
                           line=rep['line'], label=r.label(rep['outcome']),
                           message=f"{rep['type']} [{rep['command_id']}]"
                           + (f" → {','.join(map(str, rep['positions']))}"
                              if rep["positions"] else "")))
    stopped = counts["rejected"] > 0 and not keep_going
    undone = stopped and atomic and not dry_run
    summary = {k: v for k, v in counts.items() if v} | (
        {"stopped_at_line": last_line} if stopped else {}) | (
        {"written": False} if undone else {})
    if as_json:
        r.emit({"lines": reports, "summary": summary, "dry_run": dry_run})
    else:
        text = ", ".join(f"{v} {r.label(k)}" for k, v in counts.items() if v) or \
            _("nothing to do")
        if undone:
            text += "; " + _("nothing written: line {line} was rejected and --atomic applies "
                             "all lines or none").format(line=last_line)
        elif stopped:
            text += "; " + _("stopped at line {line} (later lines not applied; see "
                             "--keep-going)").format(line=last_line)
        click.echo(text, err=True)
    if counts["rejected"]:
        sys.exit(1)


# ---------------------------------------------------------------------------- community, post
@cli.group()
def community() -> None:
    """Register communities (居民区)."""


@community.command("register")
@click.argument("code")
@click.argument("name")
@click.option("--town", metavar="CODE", help="Town code (default: the code's prefix).")
@click.option("--address", default="", help="Address or area description.")
@envelope_options
@json_option
def community_register(code: str, name: str, town: str | None, address: str, as_json: bool,
                       **kw: Any) -> None:
    """Register a residential area.

    \b
    Example:
      ledger community register ZQ-001 阳光花园 --actor P-0001 --post town.ledger_admin@ZQ
    """
    execute({"type": "community.register", "code": code, "name": name, "town": town,
             "address": address, **envelope(kw)}, as_json)


@cli.group()
def post() -> None:
    """Appoint to and vacate posts (岗位任免)."""


@post.command("appoint")
@click.argument("target_post", metavar="POST", shell_complete=complete.posts)
@click.argument("person")
@click.option("--name", "person_name", required=True, help="The person's name.")
@click.option("--from", "effective_from", metavar="DATETIME",
              help="Effective from (default: --at, i.e. now).")
@click.option("--election", metavar="OC",
              help="For an owners'-committee post: the election that filled it "
                   "(<community>/<term>).")
@envelope_options
@json_option
def post_appoint(target_post: str, person: str, person_name: str, effective_from: str | None,
                 election: str | None, as_json: bool, **kw: Any) -> None:
    """Appoint PERSON to POST (named <body>.<role>@<scope>).

    \b
    Example:
      ledger post appoint party_org.secretary@ZQ-001 P-0101 --name 李华 \\
          --actor P-0001 --post town.ledger_admin@ZQ --from 2025-01-01
    """
    execute({"type": "post.appoint", "target_post": target_post, "person": person,
             "person_name": person_name, "effective_from": effective_from,
             "election": election, **envelope(kw)},
            as_json)


@post.command("vacate")
@click.argument("target_post", metavar="POST", shell_complete=complete.posts)
@click.argument("person")
@click.option("--to", "effective_to", metavar="DATETIME",
              help="Effective end (default: --at, i.e. now).")
@click.option("--reason", default="", help="Why the post is vacated.")
@envelope_options
@json_option
def post_vacate(target_post: str, person: str, effective_to: str | None, reason: str,
                as_json: bool, **kw: Any) -> None:
    """End PERSON's term in POST.

    \b
    Example:
      ledger post vacate building_leader@ZQ-001/B12 P-0150 --reason 搬离 \\
          --actor P-0101 --post party_org.secretary@ZQ-001
    """
    execute({"type": "post.vacate", "target_post": target_post, "person": person,
             "effective_to": effective_to, "reason": reason, **envelope(kw)}, as_json)


# ---------------------------------------------------------------------------- queries
def _post_rows(r: Renderer, posts: list[dict[str, Any]]) -> list[list[Any]]:
    from ledger.kernel.posts import parse_post
    from ledger.render import short_time

    rows = []
    for p in posts:
        label = parse_post(p["post"]).label(r.lang)
        rows.append([label, p["post"], p["person"], p["person_name"],
                     short_time(p["effective_from"]),
                     short_time(p["effective_to"]) if p.get("effective_to") else "",
                     ", ".join(p.get("also_holds", []))])
    return rows


POST_COLUMNS = ("role", "post", "person", "person_name", "since", "until", "also_holds")


@cli.command()
@click.argument("community_code", metavar="[COMMUNITY]", required=False,
                shell_complete=complete.communities)
@json_option
def status(community_code: str | None, as_json: bool) -> None:
    """Show communities and who holds each post now (and the town's posts).

    \b
    Example:
      ledger status
      ledger --lang en status ZQ-001 --json
    """
    from ledger import quickread
    from ledger.kernel.config import now

    st = state()
    data = quickread.status(st.db_url, community_code, now()) or st.ledger().status(community_code)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    for t in data["towns"]:
        r.table(f"{t['name']} ({t['code']}) — {r.label('town_posts')}", POST_COLUMNS,
                _post_rows(r, t["posts"]))
    for c in data["communities"]:
        r.table(f"{c['code']} {c['name']}", POST_COLUMNS, _post_rows(r, c["posts"]))
    if not data["communities"] and not data["towns"]:
        r.line(_("the ledger holds no towns or communities yet (see ledger init, ledger demo)"))


@cli.command()
@click.argument("community_code", metavar="COMMUNITY", shell_complete=complete.communities)
@click.option("--as-of", metavar="DATETIME", help="Show the roster as it was then.")
@json_option
def roster(community_code: str, as_of: str | None, as_json: bool) -> None:
    """Show who held each post of COMMUNITY at a time (default now).

    Someone since vacated shows with the end of their term.

    \b
    Example:
      ledger roster ZQ-001 --as-of 2025-03-01
    """
    from ledger import quickread
    from ledger.kernel.config import now

    when = _parse_when_option(as_of, "--as-of") if as_of else now()
    st = state()
    data = (quickread.roster(st.db_url, community_code, when)
            or st.ledger().roster(community_code, when))
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    from ledger.render import short_time

    c = data["community"]
    r.table(f"{r.label('roster_title')} {c['code']} {c['name']} — {r.label('as_of')} "
            f"{short_time(data['as_of'])}", POST_COLUMNS, _post_rows(r, data["posts"]))


def _parse_when_option(value: str, name: str) -> datetime:
    from pydantic import TypeAdapter, ValidationError

    from ledger.kernel.command import When

    try:
        return TypeAdapter(When).validate_python(value)
    except ValidationError as e:
        msg = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise click.BadParameter(msg, param_hint=name) from None


@cli.command()
@click.argument("key")
@click.option("--recorded-by", "--as-of", "as_of", metavar="DATETIME",
              help="What had the ledger recorded by then? (record time, recorded_at; "
                   "earlier name --as-of)")
@click.option("--in-effect-on", "--effective", "effective", metavar="DATETIME",
              help="What was in effect then? (business time, occurred_at; earlier name "
                   "--effective)")
@json_option
def history(key: str, as_of: str | None, effective: str | None, as_json: bool) -> None:
    """Show the events of one aggregate, oldest first, with their audit envelopes.

    KEY is a readable key such as ZQ-001, community:ZQ-001 or town:ZQ. Two questions, two
    clocks: --recorded-by answers "what had the ledger recorded by then?" (record time), and
    --in-effect-on "what was in effect then?" (business time, the events' occurred_at; data
    entered later for earlier dates shows here). The output names the clock it used.

    \b
    Example:
      ledger history ZQ-001
      ledger history ZQ-001 --in-effect-on 2025-03-01
      ledger history ZQ-001 --recorded-by 2025-03-01
      ledger history town:ZQ --json
    """
    if as_of and effective:
        raise click.UsageError(_("--recorded-by and --in-effect-on are two different clocks: "
                                 "give one"))
    led = state().ledger()
    r = renderer(as_json)
    view: dict[str, Any] | None = None
    if as_of or effective:
        from ledger import audit

        when = _parse_when_option(as_of or effective or "",
                                  "--recorded-by" if as_of else "--in-effect-on")
        view = audit.as_of(led, key, when, effective=bool(effective))
        events = [e for e in led.history(key) if e.position in
                  {p["position"] for p in view["events"]}]
    else:
        events = led.history(key)
    if as_json:
        r.emit(view if view is not None else [e.public() for e in events])
        return
    from ledger.kernel.fields import payload_text
    from ledger.render import short_time

    rows = []
    for e in events:
        env = e.envelope
        rows.append([e.position, e.version, e.type, env.get("actor"), env.get("post") or "",
                     env.get("basis") or "", short_time(env.get("occurred_at")),
                     e.recorded_at.isoformat(timespec="seconds"),
                     payload_text(e.data, r.lang)])
    r.table(f"{r.label('history_title')}: {key}",
            ("position", "version", "event", "actor", "acting_post", "basis", "occurred_at",
             "recorded_at", "data"), rows)
    if view is not None:
        clock = (_("in effect on {when} (business time, occurred_at)") if effective else
                 _("recorded by {when} (record time, recorded_at)")).format(when=view["as_of"])
        r.note(_("{clock}: {n} later event(s) not shown").format(
            clock=clock, n=view["later_events"]))
        r.note(json.dumps(view["state"], ensure_ascii=False, default=str))
        if view["note"]:
            r.note(view["note"])


@cli.command("commands")
@click.argument("type_", metavar="[TYPE]", required=False)
def commands_(type_: str | None) -> None:
    """List the command types, or print the JSON schema of one.

    \b
    Example:
      ledger commands
      ledger commands post.appoint
    """
    from ledger.domains import all_command_types as known_types
    from ledger.kernel.command import COMMANDS
    from ledger.render import to_json

    if type_ is None:
        for name in known_types():
            doc = (COMMANDS[name].__doc__ or "").strip().splitlines()[0]
            click.echo(_("{name:32} {doc}").format(name=name, doc=doc))
        return
    if type_ not in known_types():
        raise click.ClickException(_("unknown command type {type!r}; run 'ledger commands'").format(
                                       type=type_))
    click.echo(to_json(COMMANDS[type_].model_json_schema()))


# ---------------------------------------------------------------------------- projections
add_labels({"projections.head": "log head", "projections.runner": "runner",
            "projections.running": "running", "projections.not_running": "not running"})


@cli.group()
def projections() -> None:
    """Read models: status and rebuild."""


@projections.command("rebuild")
@click.argument("name", required=False)
def projections_rebuild(name: str | None) -> None:
    """Rebuild read models (all, or NAME) from zero; the rows come out identical.

    Queries keep working meanwhile. On a terminal a progress bar on stderr shows the events
    rebuilt and the time left, then the tables swapped in; the last line says how long it
    took.

    \b
    Example:
      ledger projections rebuild
      ledger projections rebuild status
    """
    import time

    ledger = state().ledger()
    if name is not None and name not in ledger.projections:
        raise click.ClickException(
            _("unknown projection {name!r}; known: {projections}").format(
                name=name, projections=', '.join(sorted(ledger.projections))))
    started = time.perf_counter()
    counts = rebuild_with_progress(ledger, name)
    seconds = time.perf_counter() - started
    for key, count in counts.items():
        click.echo(_("{key}: rebuilt from {count} events").format(key=key, count=count))
    events = max(counts.values(), default=0)
    click.echo(_("{n} read model(s) rebuilt in {seconds:.1f} s ({rate} events/s)").format(
        n=len(counts), seconds=seconds, rate=round(events / seconds) if seconds > 0 else 0))


def rebuild_with_progress(ledger: GovernanceLedger, name: str | None = None) -> dict[str, int]:
    """Rebuild read models (all, or *name*), with a progress bar on stderr when it is a
    terminal: the events the rebuild has read, then the tables swapped in; the events read
    per read model."""
    from ledger.render import progress_bar

    building, swapping = _("rebuilding read models"), _("swapping in the new tables")
    with progress_bar(building, sys.stderr.isatty()) as bar:
        if bar is None:
            return ledger.rebuild(name)

        def told(phase: str, done: int, total: int) -> None:
            bar(done, total, label=building if phase == "build" else swapping)

        return ledger.rebuild(name, progress=told)


@projections.command("status")
@json_option
def projections_status(as_json: bool) -> None:
    """Show each projection's position in the log, its lag, and whether a runner follows it.

    \b
    Example:
      ledger projections status
      ledger projections status --json
    """
    from ledger.projections.runner import runner_states

    ledger = state().ledger()
    data = ledger.projection_status()
    running = runner_states(ledger)
    for d in data:
        d["runner"] = running.get(d["name"], False)
    r = renderer(as_json)
    if as_json:
        r.emit(data)
        return
    r.table(r.label("projection"),
            ("projection", "position", "projections.head", "lag", "projections.runner"),
            [[d["name"], d["position"], d["head"], d["lag"],
              r.label("projections.running" if d["runner"] else "projections.not_running")]
             for d in data])
    for d in data:
        if d["schema_version"] is not None and d["schema_version"] != d["builds"]:
            r.note(_("{name}: its tables have schema version {old}, this release builds {new}: "
                     "the next query that reads it rebuilds it from zero in its own process; "
                     "run 'ledger projections rebuild {name}' to build it in the background "
                     "instead").format(name=d["name"], old=d["schema_version"],
                                       new=d["builds"]))


# ---------------------------------------------------------------------------- demo
def sample_files() -> list[Path]:
    """The bundled sample year, in load order."""
    from importlib import resources

    root = resources.files("ledger") / "samples" / "zq"
    return sorted((Path(str(p)) for p in root.iterdir() if p.name.endswith(".jsonl")),
                  key=lambda p: p.name)


def demo_keys_dir(db_url: str) -> Path:
    """Where the demo keeps its officials' keys: beside the SQLite file, else a new temporary
    directory."""
    if db_url.startswith("sqlite:///") and ":memory:" not in db_url:
        path = Path(db_url.removeprefix("sqlite:///") + ".keys")
    else:
        import tempfile

        path = Path(tempfile.mkdtemp(prefix="ledger-demo-keys-"))
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def signed_sample(keys_dir: Path) -> Iterator[tuple[Path, Iterator[Any]]]:
    """The sample year as it would be recorded with every official signing: a key for each
    person who acts in it (``keys_dir/<person>.key``, made unless there), the administrator's
    key registered by the bootstrap (which it signs), every other key registered by the
    administrator right after it, and each line signed by its actor's key."""
    from ledger.integrity import dsse
    from ledger.integrity.checkpoint import generate_key_file, load_private_key

    files = sample_files()
    actors: dict[str, None] = {}
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    actor = json.loads(line)["actor"]
                    if not actor.startswith("system:"):
                        actors[actor] = None
    keys = {}
    for actor in actors:
        file = keys_dir / f"{actor}.key"
        keys[actor] = load_private_key(file) if file.exists() else generate_key_file(file)

    def dumps(data: dict[str, Any]) -> bytes:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def lines(path: Path) -> Iterator[Any]:
        with path.open("rb") as fh:
            for raw in fh:
                if not raw.strip():
                    continue
                data = json.loads(raw)
                if data["type"] == "town.bootstrap":
                    admin = data["admin"]
                    data["admin_public_key"] = dsse.public_key_b64(keys[admin].public_key())
                    yield dsse.sign_command(keys[admin], dumps(data))
                    for n, (person, key) in enumerate(keys.items(), start=1):
                        if person == admin:
                            continue
                        yield dsse.sign_command(keys[admin], dumps({
                            "type": "person.key.register", "actor": admin,
                            "post": f"town.ledger_admin@{data['code']}", "town": data["code"],
                            "person": person,
                            "public_key": dsse.public_key_b64(key.public_key()),
                            "occurred_at": data["occurred_at"],
                            "basis": "启用个人签名密钥", "command_id": f"zq-keys-{n:04d}"}))
                elif data["actor"] in keys:
                    yield dsse.sign_command(keys[data["actor"]], raw.strip())
                else:
                    yield raw

    for path in files:
        yield path, lines(path)


DEMO_SECTIONS: list[Callable[[GovernanceLedger, Renderer], None]] = []
"""Extra demo output registered by domain modules (resolution tracker, warnings, tables…)."""


DEMO_END = (2025, 12, 31, 18, 0)
"""The end of the sample year (Shanghai time): the overview shows the town as it was then."""


@cli.command()
@click.option("--full", is_flag=True,
              help="After the overview, also print the long tables: every roster, the "
                   "appraisal and indicator tables, the warnings board, the resolution tracker, "
                   "the checkpoint, the owners' committees, the contracts and the ban list.")
@json_option
def demo(full: bool, as_json: bool) -> None:
    """Load the bundled Zhuanqiao sample year into a new ledger and show the town.

    Uses --db when given, else a new ledger-demo.db in the working directory. Refuses a
    ledger that already holds events. Prints one screen first: the warnings per community
    and problem type, the overdue cases, the resolution items, the year's appraisal outcome
    and the verification of the log; the long tables only with --full.

    \b
    Example:
      ledger demo
      ledger demo --full
      ledger --db sqlite:///tmp/zq.db --lang en demo
    """
    load_all_commands()  # their sections of the demo
    from ledger.commandline import overview
    from ledger.integrity import sealer
    from ledger.kernel.config import localize

    st = state()
    ledger = st.ledger(None if st.db_given else DEMO_DB, create=True)
    if not ledger.is_empty():
        raise LedgerNotEmptyError(
            _("{db_url} already holds events; the demo loads into an empty ledger (pass a new --db, or "
              "remove the file)").format(db_url=ledger.settings.db_url))
    r = renderer(as_json)
    loaded = 0
    keys_dir = demo_keys_dir(ledger.settings.db_url)
    for path, lines in signed_sample(keys_dir):
        for outcome in ledger.apply(lines, channel="demo"):
            if outcome.error is not None:
                raise LedgerError(_("sample {name} line {line}: {error}").format(
                                      name=path.name, line=outcome.line, error=outcome.error))
            loaded += 1
    sealer.ensure_key_file(ledger.settings)
    sealer.seal(ledger)
    data = overview.town_overview(ledger, localize(datetime(*DEMO_END)))
    checked = overview.verification(ledger)
    if as_json:
        r.emit({"commands": loaded, "keys": str(keys_dir), "overview": data,
                "verification": checked, "status": ledger.status()})
        return
    r.line(_("loaded {loaded} commands from the sample year into {db_url}, each signed by its official "
             "(their keys: {keys_dir})").format(
               loaded=loaded, db_url=ledger.settings.db_url, keys_dir=keys_dir))
    overview.render(r, data, checked)
    if full:
        ctx = click.get_current_context()
        ctx.invoke(status, community_code=None, as_json=False)
        for section in DEMO_SECTIONS:
            section(ledger, r)
    else:
        r.note(_("The rosters and the year's long tables (appraisal, indicators, committees, "
                 "contracts, the ban list) are printed with --full."))
    if not checked["ok"]:
        sys.exit(1)


def main() -> None:
    """Entry point for ``python -m ledger``."""
    cli(prog_name="ledger")



