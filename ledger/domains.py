"""The domains the application composes, each declared once with the modules of every layer.

The registries (command types, handlers, rules, read models, HTTP query routers) are filled
from here: a module registers what it declares when it is imported, and this module decides
what to import and when. No kernel module imports a domain.

A write loads only its own domain: :func:`load_for_command` imports the command models and
the handlers of the domain whose prefix the command type carries (``case.receive`` → cases),
plus the handlers of the domains it ``hooks`` into (the owners' checks that the roster's
appointments run). Reads that need everything (``ledger commands``, the catalogues, a full
rebuild) call :func:`load_all`.

``docs/architecture.md`` draws the same map as a table, and ``tests/unit/test_domain_map.py``
keeps the two equal.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

from ledger import rules
from ledger.kernel import command


@dataclass(frozen=True)
class Domain:
    """One domain's modules, by layer (module paths under ``ledger``)."""

    name: str
    #: Command types ``<prefix>.<verb>`` belong to this domain.
    prefixes: tuple[str, ...] = ()
    commands: str | None = None
    handlers: str | None = None
    aggregates: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    projections: tuple[str, ...] = ()
    commandline: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()
    #: Domains whose handlers register checks that this domain's handlers run.
    hooks: tuple[str, ...] = ()


DOMAINS: tuple[Domain, ...] = (
    Domain("roster", ("town", "community", "post"), "commands.roster", "handlers.roster",
           ("aggregates.town", "aggregates.community"), (), ("projections.status",),
           (), ("feed.queries.roster",), hooks=("owners",)),
    Domain("deliberation", ("meeting", "resolution", "topic", "matter"),
           "commands.deliberation", "handlers.deliberation",
           ("aggregates.meeting", "aggregates.matter"), ("rules.routing",),
           ("projections.deliberation",), ("commandline.deliberation",),
           ("feed.queries.deliberation",)),
    Domain("cases", ("case", "warning", "duty", "document"), "commands.cases", "handlers.cases",
           ("aggregates.case", "aggregates.warning", "aggregates.duties", "aggregates.problems"),
           ("rules.warning",), ("projections.cases",), ("commandline.cases",),
           ("feed.queries.cases",)),
    Domain("owners", ("oc", "firm", "contract", "tender"), "commands.owners", "handlers.owners",
           ("aggregates.owners_committee", "aggregates.property_firm"), ("rules.credit_code",),
           ("projections.owners",), ("commandline.owners",), ("feed.queries.owners",)),
    Domain("appraisal", ("appraisal",), "commands.appraisal", "handlers.appraisal",
           ("aggregates.appraisal_year",), ("rules.firm",), ("projections.appraisal",),
           ("commandline.appraisal",)),
    Domain("supervision", ("supervision",), "commands.supervision", "handlers.supervision",
           (), ("rules.supervision",), ("projections.supervision",), ("commandline.cases",)),
    Domain("keys", ("person",), "commands.keys", "handlers.keys", ("aggregates.person_keys",),
           (), (), ("commandline.keys",)),
    Domain("log", ("log",), "commands.log", "handlers.log", ("aggregates.log_identity",),
           (), (), ("commandline.maintenance",), ("feed.queries.integrity",)),
    Domain("audit", projections=("projections.audit",), commandline=("commandline.audit",),
           queries=("feed.queries.audit",)),
)

BY_NAME = {d.name: d for d in DOMAINS}
BY_PREFIX = {p: d for d in DOMAINS for p in d.prefixes}


def _import(*modules: str | None) -> None:
    for module in modules:
        if module:
            importlib.import_module(f"ledger.{module}")


def domain_of(command_type: str) -> Domain | None:
    """The domain a command type belongs to (by the part before its first dot)."""
    return BY_PREFIX.get(command_type.split(".", 1)[0])


def load_commands(command_type: str) -> None:
    """Import the command models of *command_type*'s domain (kernel's command loader)."""
    domain = domain_of(command_type)
    if domain is not None:
        _import(domain.commands)


@cache
def load_for_command(command_type: str) -> None:
    """Import what a write of *command_type* needs: its domain's commands and handlers, and
    the handlers of the domains it hooks into."""
    domain = domain_of(command_type)
    if domain is None:
        return
    _import(domain.commands, domain.handlers)
    for name in domain.hooks:
        _import(BY_NAME[name].commands, BY_NAME[name].handlers)


def load_rule(key: str) -> None:
    """Import the rule modules until *key* is registered (the rules' loader)."""
    for domain in DOMAINS:
        _import(*domain.rules)
        if key in rules.RULES:
            return


@cache
def load_all() -> None:
    """Import every domain's commands, handlers, aggregates and rules."""
    for domain in DOMAINS:
        _import(domain.commands, domain.handlers, *domain.aggregates, *domain.rules)


@cache
def load_projections() -> None:
    """Import every read model (importing one registers it)."""
    for domain in DOMAINS:
        _import(*domain.projections)


def query_modules() -> list[str]:
    """The HTTP query modules of every domain, in map order."""
    return [f"ledger.{q}" for d in DOMAINS for q in d.queries]


def all_command_types() -> list[str]:
    """Every command type of every domain, sorted."""
    load_all()
    return command.known_types()


command.set_loader(load_commands)
rules.set_loader(load_rule)
