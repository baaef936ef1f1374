"""Pure, versioned decision rules.

A rule is a pure function ``(inputs, parameters) -> decision`` with an id and a version, for
example ``firm.elimination@1``. Inputs, parameters and decisions are frozen pydantic models that
forbid unknown fields and round-trip through JSON (``model_dump(mode="json")`` /
``model_validate``), so a decision can be recomputed from what was recorded:

>>> from ledger.rules import get_rule
>>> rule = get_rule("warning.suggest@1")
>>> inputs = rule.Inputs(community="ZQ-001", problem_type="group_renting", open_cases=4)
>>> rule.decide(inputs).level
'orange'

Parameters carry documented defaults; the town overrides them (later, by events). A changed
meaning is a new version of the rule, never an edit of an old one: ``RULES`` keeps every version
an event may name.

Percentages and scores are exact decimals with two places (``Score``, ``Percentage``); floats are
refused, and every value is normalised to two places so that equal values serialise equally.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    JsonValue,
    ValidationError,
    WithJsonSchema,
)

from ledger.kernel.decimals import json_schema, make_parser

__all__ = [
    "RULES",
    "DuplicateRuleError",
    "Evaluation",
    "InvalidParameterError",
    "ParameterInfo",
    "Percentage",
    "Reason",
    "RecordMismatchError",
    "Rule",
    "RuleError",
    "RuleInputError",
    "RuleModel",
    "Score",
    "UnknownParameterError",
    "UnknownRuleError",
    "canonical_json",
    "describe_parameters",
    "firm",
    "get_rule",
    "inputs_digest",
    "parse_overrides",
    "register",
    "reproduce",
    "routing",
    "supervision",
    "warning",
]


# --- errors ---------------------------------------------------------------------------------


class RuleError(ValueError):
    """Raised when a rule cannot be found, configured or applied as asked."""


class UnknownRuleError(RuleError):
    """Raised when a rule key ``id@version`` names no registered rule."""


class DuplicateRuleError(RuleError):
    """Raised when a second rule is registered under a key that is already taken."""


class UnknownParameterError(RuleError):
    """Raised when an override names a parameter the rule does not have."""


class InvalidParameterError(RuleError):
    """Raised when an override is not ``NAME=VALUE`` or its value is not valid for the parameter."""


class RuleInputError(RuleError):
    """Raised when a rule is given inputs or parameters that are not its own models."""


class RecordMismatchError(RuleError):
    """Raised when a recorded evaluation does not reproduce: its digest or decision differs."""


# --- shared model pieces --------------------------------------------------------------------


class RuleModel(BaseModel):
    """Base of rule models: frozen, no unknown fields, defaults validated, docstrings described."""

    # defer_build: a rule's models build their validators the first time they are used, so a
    # process that never evaluates the rule does not pay for them.
    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, use_attribute_docstrings=True,
        defer_build=True,
    )


def _two_places(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


_parse_score = make_parser(minimum=Decimal(0), maximum=Decimal(100), places=2, what="scores",
                           trailing_zeros=True)
_parse_percentage = make_parser(minimum=Decimal(0), maximum=Decimal(100), places=2,
                                what="percentages", trailing_zeros=True)
_SCORE_SCHEMA = json_schema(minimum=Decimal(0), maximum=Decimal(100), places=2,
                            trailing_zeros=True,
                            description="A score from 0 to 100: decimal text with at most two "
                            "places (\"59.99\") or an integer; no floats, no exponent form")
_PERCENTAGE_SCHEMA = json_schema(minimum=Decimal(0), maximum=Decimal(100), places=2,
                                 trailing_zeros=True,
                                 description="A percentage from 0 to 100 (50 means 50 %): "
                                 "decimal text with at most two places or an integer; no "
                                 "floats, no exponent form")

Score = Annotated[
    Decimal,
    BeforeValidator(_parse_score),
    WithJsonSchema(_SCORE_SCHEMA),
    AfterValidator(_two_places),
]
"""A score from 0 to 100 with at most two decimals, kept exact and normalised to two places."""

Percentage = Annotated[
    Decimal,
    BeforeValidator(_parse_percentage),
    WithJsonSchema(_PERCENTAGE_SCHEMA),
    AfterValidator(_two_places),
]
"""A percentage from 0 to 100, at most two decimals (50 means 50 %), normalised to two places."""


class Reason(RuleModel):
    """Why a rule decided what it did: a stable code and the same statement in two languages."""

    code: str
    """Stable machine code, e.g. ``score_and_satisfaction_below``; part of the rule's version."""
    en: str
    """Human text in English."""
    zh: str
    """Human text in Chinese."""


# --- canonical JSON and digests -------------------------------------------------------------


def canonical_json(model: BaseModel) -> bytes:
    """The canonical UTF-8 JSON of a model: JSON mode, sorted keys, no spaces, no escapes."""
    return json.dumps(
        model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def inputs_digest(inputs: BaseModel) -> str:
    """The sha256 hex digest of the canonical JSON of a rule's inputs."""
    return hashlib.sha256(canonical_json(inputs)).hexdigest()


# --- the rule -------------------------------------------------------------------------------

InputsT = TypeVar("InputsT", bound=BaseModel)
ParamsT = TypeVar("ParamsT", bound=BaseModel)
DecisionT = TypeVar("DecisionT", bound=BaseModel)


class Evaluation(RuleModel):
    """One application of a rule as an event records it, enough to recompute and check it."""

    rule: str
    """The rule key, ``id@version``."""
    parameters: dict[str, JsonValue]
    """The parameters used, in JSON mode."""
    inputs: dict[str, JsonValue]
    """The inputs seen, in JSON mode."""
    inputs_digest: str
    """sha256 hex of the canonical JSON of the inputs."""
    decision: dict[str, JsonValue]
    """The decision, in JSON mode."""


@dataclass(frozen=True)
class Rule(Generic[InputsT, ParamsT, DecisionT]):
    """A pure, versioned decision rule: ``decide(inputs, params) -> decision``."""

    rule_id: str
    """Dotted id, e.g. ``firm.elimination``."""
    version: int
    """Version, from 1; a new meaning is a new version."""
    Inputs: type[InputsT]
    """The inputs model."""
    Parameters: type[ParamsT]
    """The parameters model; ``Parameters()`` gives the documented defaults."""
    Decision: type[DecisionT]
    """The decision model."""
    function: Callable[[InputsT, ParamsT], DecisionT]
    """The pure function that decides."""
    summary: str
    """One line saying what the rule decides."""

    def __post_init__(self) -> None:
        parts = self.rule_id.split(".")
        if len(parts) < 2 or not all(part.isidentifier() and part.islower() for part in parts):
            msg = f"rule id {self.rule_id!r} must be dotted lower-case words, e.g. 'firm.ranking'"
            raise RuleError(msg)
        if self.version < 1:
            msg = f"rule {self.rule_id!r} has version {self.version}; versions start at 1"
            raise RuleError(msg)

    @property
    def key(self) -> str:
        """The registry key, ``id@version``."""
        return f"{self.rule_id}@{self.version}"

    def defaults(self) -> ParamsT:
        """The parameters with their documented defaults."""
        return self.Parameters()

    def decide(self, inputs: InputsT, params: ParamsT | None = None) -> DecisionT:
        """Decide on ``inputs`` under ``params`` (the defaults when omitted)."""
        if not isinstance(inputs, self.Inputs):
            msg = (
                f"{self.key} takes inputs of type {self.Inputs.__name__}, "
                f"got {type(inputs).__name__}"
            )
            raise RuleInputError(msg)
        chosen = self.defaults() if params is None else params
        if not isinstance(chosen, self.Parameters):
            msg = (
                f"{self.key} takes parameters of type {self.Parameters.__name__}, "
                f"got {type(chosen).__name__}"
            )
            raise RuleInputError(msg)
        return self.function(inputs, chosen)

    def evaluate(self, inputs: InputsT, params: ParamsT | None = None) -> Evaluation:
        """Decide and return the full record: rule key, parameters, inputs, digest, decision."""
        chosen = self.defaults() if params is None else params
        decision = self.decide(inputs, chosen)
        # Every value below is a model dumped in JSON mode: valid by construction, so the
        # (recursive, costly) JsonValue validation is skipped.
        return Evaluation.model_construct(
            rule=self.key,
            parameters=chosen.model_dump(mode="json"),
            inputs=inputs.model_dump(mode="json"),
            inputs_digest=inputs_digest(inputs),
            decision=decision.model_dump(mode="json"),
        )

    def __repr__(self) -> str:
        return f"<Rule {self.key}>"


RULES: dict[str, Rule[Any, Any, Any]] = {}
"""Every rule version the ledger knows, keyed by ``id@version``."""


def register(rule: Rule[InputsT, ParamsT, DecisionT]) -> Rule[InputsT, ParamsT, DecisionT]:
    """Add ``rule`` to ``RULES``; a key may be registered only once."""
    if rule.key in RULES:
        msg = f"rule {rule.key} is already registered; a changed rule needs a new version"
        raise DuplicateRuleError(msg)
    RULES[rule.key] = rule
    return rule


#: Imports the rule modules (set by the application, :mod:`ledger.domains`): a rule module
#: registers its rules when it is imported, and this package imports none of them.
_loader: list[Callable[[str], None]] = []


def set_loader(loader: Callable[[str], None]) -> None:
    """Install the function that imports the module registering a rule key."""
    _loader[:] = [loader]


def get_rule(key: str) -> Rule[Any, Any, Any]:
    """The rule registered under ``key`` (``id@version``), its module imported on first use."""
    if key not in RULES and _loader:
        _loader[0](key)
    try:
        return RULES[key]
    except KeyError:
        known = ", ".join(sorted(RULES)) or "none"
        msg = f"no rule {key!r}; known rules: {known}"
        raise UnknownRuleError(msg) from None


def reproduce(evaluation: Evaluation) -> BaseModel:
    """Recompute a recorded evaluation from its JSON and return the decision if it matches.

    Raises ``RecordMismatchError`` when the inputs digest or the decision differs from what the
    recorded inputs and parameters yield now.
    """
    rule = get_rule(evaluation.rule)
    inputs = rule.Inputs.model_validate(evaluation.inputs)
    params = rule.Parameters.model_validate(evaluation.parameters)
    digest = inputs_digest(inputs)
    if digest != evaluation.inputs_digest:
        msg = (
            f"{rule.key}: recorded inputs digest {evaluation.inputs_digest} "
            f"but the recorded inputs hash to {digest}"
        )
        raise RecordMismatchError(msg)
    decision: BaseModel = rule.decide(inputs, params)
    if decision.model_dump(mode="json") != evaluation.decision:
        msg = f"{rule.key}: the recorded decision differs from the recomputed one"
        raise RecordMismatchError(msg)
    return decision


# --- parameters: description and overrides --------------------------------------------------


class ParameterInfo(RuleModel):
    """One settable parameter of a rule, for help texts and documentation."""

    name: str
    """Dotted name, as ``parse_overrides`` takes it."""
    default: JsonValue
    """The default value, in JSON mode."""
    description: str
    """What the parameter means."""


def _group_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def describe_parameters(rule: Rule[Any, Any, Any]) -> list[ParameterInfo]:
    """Every settable parameter of ``rule`` with its default and description, in order."""
    defaults = rule.defaults().model_dump(mode="json")
    found: list[ParameterInfo] = []

    def walk(model: type[BaseModel], values: dict[str, Any], prefix: str) -> None:
        for name, field in model.model_fields.items():
            group = _group_model(field.annotation)
            if group is not None:
                walk(group, values[name], f"{prefix}{name}.")
            else:
                found.append(
                    ParameterInfo(
                        name=f"{prefix}{name}",
                        default=values[name],
                        description=field.description or "",
                    )
                )

    walk(rule.Parameters, defaults, "")
    return found


_NONE_WORDS = frozenset({"none", "null"})


def parse_overrides(
    rule: Rule[Any, ParamsT, Any],
    overrides: Iterable[str],
    base: ParamsT | None = None,
) -> ParamsT:
    """New parameters for ``rule``: ``base`` (default: the defaults) with ``NAME=VALUE`` applied.

    Names are dotted for grouped parameters (``elimination.score_below=65``). Values are read as
    the parameter's type would read them from JSON text; ``none`` or ``null`` clears an optional
    threshold.

    >>> from ledger.rules import get_rule
    >>> params = parse_overrides(get_rule("firm.appraisal@1"), ["elimination.score_below=65"])
    >>> params.elimination.score_below
    Decimal('65.00')
    """
    params: ParamsT = rule.defaults() if base is None else base
    data: dict[str, Any] = params.model_dump(mode="json")
    known = [info.name for info in describe_parameters(rule)]
    seen: set[str] = set()
    for text in overrides:
        name, equals, raw = text.partition("=")
        name, raw = name.strip(), raw.strip()
        if not equals or not name:
            msg = f"override {text!r} is not NAME=VALUE (e.g. {known[0] if known else 'name'}=…)"
            raise InvalidParameterError(msg)
        if name in seen:
            msg = f"parameter {name!r} is given twice"
            raise InvalidParameterError(msg)
        seen.add(name)
        if name not in known:
            msg = f"{rule.key} has no parameter {name!r}; its parameters are: {', '.join(known)}"
            raise UnknownParameterError(msg)
        *groups, leaf = name.split(".")
        container = data
        for group in groups:
            container = container[group]
        previous = container[leaf]
        candidates: list[str | None] = [raw, None] if raw.lower() in _NONE_WORDS else [raw]
        first_error: ValidationError | None = None
        for candidate in candidates:
            container[leaf] = candidate
            try:
                params = rule.Parameters.model_validate(data)
            except ValidationError as error:
                first_error = first_error or error
            else:
                break
        else:
            container[leaf] = previous
            errors = first_error.errors() if first_error is not None else []
            problem = "; ".join(_describe_error(item) for item in errors)
            msg = f"{rule.key}: bad value for {name}={raw!r}: {problem}"
            raise InvalidParameterError(msg)
    return params


def _describe_error(item: Any) -> str:
    location = ".".join(str(part) for part in item.get("loc", ()))
    message = str(item.get("msg", "invalid"))
    return f"{message} ({location})" if location else message

