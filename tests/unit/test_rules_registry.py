"""The rule registry, canonical digests, parameter overrides and reproduction of records."""

from __future__ import annotations

import doctest
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

import ledger.domains
import ledger.rules
import ledger.rules.credit_code
from ledger.rules import (
    RULES,
    DuplicateRuleError,
    Evaluation,
    InvalidParameterError,
    RecordMismatchError,
    Rule,
    RuleError,
    RuleInputError,
    UnknownParameterError,
    UnknownRuleError,
    describe_parameters,
    get_rule,
    inputs_digest,
    parse_overrides,
    register,
    reproduce,
)
from ledger.rules.firm import (
    FIRM_APPRAISAL,
    AppraisalInputs,
    FirmAppraisalParameters,
    FirmGrade,
    FirmGrades,
)
from ledger.rules.warning import WARNING_SUGGEST, CaseCounts

ledger.domains.load_all()  # every rule module, as a full catalogue of rules

ALL_KEYS = {
    "firm.ranking@1",
    "firm.bottom_three@1",
    "firm.elimination@1",
    "firm.appraisal@1",
    "matter.routing@1",
    "warning.suggest@1",
    "warning.measures@1",
    "case.supervision@1",
}

EVERGREEN = AppraisalInputs(
    year=2025,
    grades=(
        FirmGrade(firm_id="Evergreen Property", score=Decimal("59.99"), satisfaction=Decimal(40)),
        FirmGrade(firm_id="Sunny Garden Services", score=Decimal(88), satisfaction=Decimal(91)),
    ),
)


def test_every_rule_is_registered_under_its_id_and_version() -> None:
    assert set(RULES) == ALL_KEYS
    for key, rule in RULES.items():
        assert rule.key == key == f"{rule.rule_id}@{rule.version}"
        assert get_rule(key) is rule


def test_an_unknown_rule_key_is_refused_with_the_known_keys() -> None:
    with pytest.raises(UnknownRuleError, match=r"no rule 'firm\.elimination@2'; known rules: "):
        get_rule("firm.elimination@2")
    assert issubclass(UnknownRuleError, RuleError)
    assert issubclass(RuleError, ValueError)


def test_a_rule_key_cannot_be_registered_twice() -> None:
    with pytest.raises(DuplicateRuleError, match="already registered"):
        register(FIRM_APPRAISAL)


def test_a_rule_id_must_be_dotted_lower_case_and_versions_start_at_one() -> None:
    fields = {
        "Inputs": FirmGrades,
        "Parameters": FirmAppraisalParameters,
        "Decision": FirmGrades,
        "function": lambda inputs, params: inputs,
        "summary": "",
    }
    with pytest.raises(RuleError, match="dotted lower-case"):
        Rule(rule_id="Elimination", version=1, **fields)  # type: ignore[arg-type]
    with pytest.raises(RuleError, match="versions start at 1"):
        Rule(rule_id="firm.test", version=0, **fields)  # type: ignore[arg-type]


def test_every_rules_default_parameters_round_trip_through_json() -> None:
    for rule in RULES.values():
        defaults = rule.defaults()
        text = json.dumps(defaults.model_dump(mode="json"))
        assert rule.Parameters.model_validate(json.loads(text)) == defaults


def test_the_inputs_digest_is_sha256_of_canonical_json() -> None:
    canonical = json.dumps(
        EVERGREEN.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert inputs_digest(EVERGREEN) == hashlib.sha256(canonical).hexdigest()
    assert b'"score":"59.99"' in canonical


def test_equal_decimals_written_differently_have_one_digest() -> None:
    a = FirmGrades(
        year=2025,
        grades=(FirmGrade(firm_id="A", score=Decimal("60"), satisfaction=Decimal("50.0")),),
    )
    b = FirmGrades.model_validate(
        {"year": 2025, "grades": [{"firm_id": "A", "score": "60.00", "satisfaction": 50}]}
    )
    assert inputs_digest(a) == inputs_digest(b)


def test_a_rule_refuses_inputs_or_parameters_of_another_rule() -> None:
    with pytest.raises(RuleInputError, match="takes inputs of type AppraisalInputs"):
        FIRM_APPRAISAL.decide(CaseCounts(community="ZQ-001", problem_type="other"))  # type: ignore[arg-type]
    with pytest.raises(RuleInputError, match="takes parameters of type FirmAppraisalParameters"):
        FIRM_APPRAISAL.decide(EVERGREEN, WARNING_SUGGEST.defaults())  # type: ignore[arg-type]


def test_overrides_make_new_parameters_and_leave_the_rest_at_default() -> None:
    params = parse_overrides(
        FIRM_APPRAISAL, ["elimination.score_below=65", " bottom_three.size = 4 "]
    )
    assert params.elimination.score_below == Decimal("65.00")
    assert params.bottom_three.size == 4
    assert params.elimination.satisfaction_below == Decimal("50.00")
    assert FIRM_APPRAISAL.defaults().elimination.score_below == Decimal("60.00")


def test_overrides_apply_on_top_of_given_parameters() -> None:
    base = parse_overrides(FIRM_APPRAISAL, ["elimination.consecutive_years=3"])
    params = parse_overrides(FIRM_APPRAISAL, ["elimination.score_below=55"], base=base)
    assert (params.elimination.consecutive_years, params.elimination.score_below) == (
        3,
        Decimal("55.00"),
    )


def test_an_unknown_parameter_is_named_with_the_known_ones() -> None:
    with pytest.raises(UnknownParameterError) as info:
        parse_overrides(FIRM_APPRAISAL, ["elimination.score_blow=65"])
    message = str(info.value)
    assert "firm.appraisal@1 has no parameter 'elimination.score_blow'" in message
    assert "elimination.score_below" in message
    with pytest.raises(UnknownParameterError, match="no parameter 'elimination'"):
        parse_overrides(FIRM_APPRAISAL, ["elimination=65"])


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("elimination.score_below=sixty", "bad value for elimination.score_below='sixty'"),
        ("elimination.score_below=100.5", "at most 100"),
        ("elimination.score_below=59.999", "elimination.score_below"),
        ("bottom_three.size=0", "greater than or equal to 1"),
        ("elimination.consecutive_years=none", "consecutive_years='none'"),
        ("score_below", "is not NAME=VALUE"),
        ("=65", "is not NAME=VALUE"),
    ],
)
def test_a_bad_override_value_is_refused_with_a_clear_message(override: str, fragment: str) -> None:
    with pytest.raises(InvalidParameterError, match=None) as info:
        parse_overrides(FIRM_APPRAISAL, [override])
    assert fragment in str(info.value)


def test_a_parameter_given_twice_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="given twice"):
        parse_overrides(FIRM_APPRAISAL, ["bottom_three.size=4", "bottom_three.size=5"])


def test_describe_parameters_lists_dotted_names_defaults_and_descriptions() -> None:
    described = {info.name: info for info in describe_parameters(FIRM_APPRAISAL)}
    assert list(described) == [
        "bottom_three.size",
        "bottom_three.min_graded_exclusive",
        "elimination.score_below",
        "elimination.satisfaction_below",
        "elimination.consecutive_years",
    ]
    assert described["elimination.score_below"].default == "60.00"
    assert all(info.description for info in described.values())
    for rule in RULES.values():
        assert all(info.description for info in describe_parameters(rule)), rule.key


def test_a_recorded_evaluation_reproduces_and_a_tampered_one_does_not() -> None:
    record = FIRM_APPRAISAL.evaluate(EVERGREEN)
    assert record.rule == "firm.appraisal@1"
    assert record.inputs_digest == inputs_digest(EVERGREEN)
    stored = Evaluation.model_validate(json.loads(json.dumps(record.model_dump(mode="json"))))
    assert reproduce(stored) == FIRM_APPRAISAL.decide(EVERGREEN)

    decision = json.loads(json.dumps(record.decision))
    decision["elimination"]["eliminated"] = []
    with pytest.raises(RecordMismatchError, match="recorded decision differs"):
        reproduce(record.model_copy(update={"decision": decision}))

    inputs = json.loads(json.dumps(record.inputs))
    inputs["grades"][0]["score"] = "61.00"
    with pytest.raises(RecordMismatchError, match="recorded inputs digest"):
        reproduce(record.model_copy(update={"inputs": inputs}))


def test_what_if_a_year_is_replayed_under_other_parameters() -> None:
    record = FIRM_APPRAISAL.evaluate(EVERGREEN)
    rule = get_rule(record.rule)
    inputs = rule.Inputs.model_validate(record.inputs)
    lenient = parse_overrides(rule, ["elimination.score_below=59.99"])
    assert rule.decide(inputs, lenient).elimination.eliminated == ()
    assert rule.decide(inputs).elimination.eliminated == ("Evergreen Property",)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules.md"


def test_the_rules_document_names_every_rule_and_parameter() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for key, rule in RULES.items():
        assert f"`{key}`" in text, key
        for info in describe_parameters(rule):
            assert f"`{info.name}`" in text, f"{key}: {info.name}"


def test_the_examples_in_the_docstrings_run() -> None:
    for module in (ledger.rules, ledger.rules.credit_code):
        failed, attempted = doctest.testmod(module)
        assert (failed, attempted > 0) == (0, True), module.__name__
