"""Validation of the 18-character unified social credit code (GB 32100-2015)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ledger.rules.credit_code import (
    CHARSET,
    CreditCode,
    InvalidCreditCodeError,
    credit_code_check_character,
    make_credit_code,
    organisation_code_check_character,
    validate_credit_code,
)

# Codes of real companies as they publish them; each passes both check characters, which a
# mistyped code does about once in 341.
REAL_CODES = {
    "914403001922038216": "华为技术有限公司 (Huawei Technologies)",
    "91110000710926094P": "中国石油化工股份有限公司 (Sinopec)",
    "91100000100003962T": "中国工商银行股份有限公司 (ICBC)",
    "91440300192317458F": "比亚迪股份有限公司 (BYD)",
    "91440300100012316L": "中国平安保险(集团)股份有限公司 (Ping An)",
    "91440300708461136T": "深圳市腾讯计算机系统有限公司 (Tencent)",
    "91330100799655058B": "阿里巴巴(中国)有限公司 (Alibaba China)",
    "91110000802100433B": "北京百度网讯科技有限公司 (Baidu)",
    "91110108558521630L": "小米通讯技术有限公司 (Xiaomi)",
    # Organisation codes with letters (issued after 2015, "MA…").
    "91330108MA27Y5XH5G": "杭州趣链科技有限公司 (Hyperchain)",
    "91350206MA2XN2XQ4A": "厦门科汛软件有限公司",
}


@pytest.mark.parametrize("code", sorted(REAL_CODES))
def test_published_codes_of_real_companies_validate(code: str) -> None:
    assert validate_credit_code(code) == code


def test_surrounding_whitespace_and_lower_case_are_normalised() -> None:
    assert validate_credit_code("  91330108ma27y5xh5g\n") == "91330108MA27Y5XH5G"


def test_a_code_of_the_wrong_length_says_the_length_found() -> None:
    with pytest.raises(InvalidCreditCodeError, match="has 17 characters; it must have 18") as info:
        validate_credit_code("91440300192317458")
    assert info.value.problem == "length"
    with pytest.raises(InvalidCreditCodeError, match="has 0 characters"):
        validate_credit_code("   ")


@pytest.mark.parametrize(
    ("code", "character", "position"),
    [
        ("91440300192317458I", "'I'", 18),
        ("O14403001922038216", "'O'", 1),
        ("91440300192317S58F", "'S'", 15),
        ("9144030019231745VF", "'V'", 17),
        ("914403001Z2317458F", "'Z'", 10),
        ("91440300 92317458F", "' '", 9),
        ("9144030019231745８F", "'８'", 17),
    ],
)
def test_an_illegal_character_is_named_with_its_position(
    code: str, character: str, position: int
) -> None:
    with pytest.raises(InvalidCreditCodeError) as info:
        validate_credit_code(code)
    assert f"illegal character {character} at position {position}" in str(info.value)
    assert (info.value.problem, info.value.position) == ("character", position)


def test_a_letter_in_the_administrative_division_code_is_refused() -> None:
    with pytest.raises(
        InvalidCreditCodeError, match=r"position 5; positions 3-8 .* must be digits"
    ):
        validate_credit_code("9144A300192317458F")


def test_a_wrong_organisation_code_check_says_expected_and_found() -> None:
    # Position 17 changed and position 18 recomputed, so only the inner check is wrong.
    first17 = "91440300192317459"
    code = first17 + credit_code_check_character(first17)
    with pytest.raises(InvalidCreditCodeError) as info:
        validate_credit_code(code)
    assert "organisation code check character (position 17) should be '8', found '9'" in str(
        info.value
    )
    assert (info.value.problem, info.value.expected, info.value.found) == (
        "organisation_check",
        "8",
        "9",
    )
    assert validate_credit_code(code, check_organisation_code=False) == code


def test_a_wrong_final_check_character_says_expected_and_found() -> None:
    with pytest.raises(InvalidCreditCodeError) as info:
        validate_credit_code("91440300192317458G")
    assert "check character (position 18) should be 'F', found 'G'" in str(info.value)
    assert (info.value.problem, info.value.position) == ("check_character", 18)


def test_the_organisation_check_maps_ten_to_x_and_eleven_to_zero() -> None:
    assert organisation_code_check_character("00000000") == "0"
    assert organisation_code_check_character("MA27Y5XH") == "5"
    assert any(organisation_code_check_character(f"{n:08d}") == "X" for n in range(20))


def test_make_credit_code_appends_both_check_characters() -> None:
    assert make_credit_code("9144030019231745") == "91440300192317458F"
    with pytest.raises(ValueError, match="need the first 16 characters"):
        make_credit_code("91440300")


def test_a_credit_code_field_validates_and_normalises() -> None:
    class Firm(BaseModel):
        code: CreditCode

    assert Firm(code=" 914403001922038216").code == "914403001922038216"
    with pytest.raises(ValidationError, match="position 18"):
        Firm(code="914403001922038217")


prefixes = st.tuples(
    st.sampled_from(CHARSET),
    st.sampled_from(CHARSET),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(CHARSET, min_size=8, max_size=8),
).map("".join)


@settings(database=None, deadline=None, max_examples=200)
@given(prefixes)
def test_every_generated_code_validates(prefix: str) -> None:
    code = make_credit_code(prefix)
    assert validate_credit_code(code) == code
    assert validate_credit_code(code.lower()) == code


@settings(database=None, deadline=None, max_examples=60)
@given(prefixes)
def test_every_single_character_substitution_of_a_valid_code_is_rejected(prefix: str) -> None:
    code = make_credit_code(prefix)
    for index in range(len(code)):
        for replacement in CHARSET:
            if replacement == code[index]:
                continue
            changed = code[:index] + replacement + code[index + 1 :]
            with pytest.raises(InvalidCreditCodeError):
                validate_credit_code(changed)
            # The final check alone catches it too, whatever position changed.
            with pytest.raises(InvalidCreditCodeError):
                validate_credit_code(changed, check_organisation_code=False)
