"""The personal-data detector: phones and ID-card numbers are found in free text; case
numbers, dates, amounts and credit codes are not (issue 17, build item 10)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.kernel.errors import PersonalDataInTextError
from ledger.kernel.personal_data import (
    check_free_text,
    check_subject_id,
    find_personal_data,
    id_card_check_character,
    is_id_card_number,
    looks_like_personal_id,
)
from ledger.rules.credit_code import CHARSET, make_credit_code

#: A made-up but well-formed ID number: Minhang district (310112), born 1990-03-07.
ID_17 = "31011219900307123"
ID = ID_17 + id_card_check_character(ID_17)

# --- examples ------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "kind"), [
    ("张先生 13800138000 反映楼顶搭建", "mobile"),
    ("联系电话:138-0013-8000", "mobile"),
    ("电话 138 0013 8000。", "mobile"),
    ("call +86 13800138000 please", "mobile"),
    ("+86-139-1234-5678", "mobile"),
    ("座机021-64301234", "landline"),
    ("座机 (021) 6430 1234", "landline"),
    ("座机（021）64301234", "landline"),
    ("02164301234", "landline"),
    ("0571-8765432", "landline"),
    (f"身份证{ID}", "id_card"),
    (f"ID {ID.lower() if ID.endswith('X') else ID}.", "id_card"),
])
def test_phone_and_id_numbers_are_found(text: str, kind: str) -> None:
    found = find_personal_data(text)
    assert [f.kind for f in found] == [kind]
    assert "*" in found[0].masked


@pytest.mark.parametrize("text", [
    "案件 ZQ-2025-000123 已结案", "2025-03-01 09:30", "20250301", "金额 1860000.00 元",
    "13800000000.00 元", "统一社会信用代码 91310112MA1GB3K258", "914403001922038216",
    "颛委〔2025〕9号", "阳光花园12号楼302室", "12345热线", "64301234", "第3组 7人",
    "HT-ZQ001-2025-01", "P-0001", "S-ZQ-2025-000001", "ZQ-001-M-2025-03/R1/2",
    "31011219900307124",  # 17 digits: not an ID number
    ID_17 + ("0" if ID[-1] != "0" else "1"),  # wrong check character
    "310112199002301234",  # 30 February: no such birth date
])
def test_ordinary_governance_text_is_not_taken_for_personal_data(text: str) -> None:
    assert find_personal_data(text) == []


def test_the_id_check_character_is_gb_11643() -> None:
    # The standard's own example: 11010519491231002X.
    assert id_card_check_character("11010519491231002") == "X"
    assert is_id_card_number("11010519491231002X")
    assert not is_id_card_number("110105194912310021")


def test_a_refusal_names_the_field_masks_the_number_and_points_to_caller() -> None:
    with pytest.raises(PersonalDataInTextError) as err:
        check_free_text("case.receive", "description", "王女士13800138000反映")
    message = str(err.value)
    assert "field 'description'" in message and "a mobile phone number" in message
    assert "'caller'" in message
    assert "13800138000" not in message and "138******00" in message


@pytest.mark.parametrize("subject", ["13800138000", "tel-13800138000", "021-64301234", ID,
                                     "C138-0013-8000"])
def test_a_subject_id_that_looks_like_a_phone_or_id_number_is_refused(subject: str) -> None:
    assert looks_like_personal_id(subject)
    with pytest.raises(PersonalDataInTextError, match="subject id"):
        check_subject_id("case.receive", "caller.subject", subject)


@pytest.mark.parametrize("subject", ["S-ZQ-2025-000001", "HL-20250301-0042", "caller:8812"])
def test_opaque_subject_ids_are_accepted(subject: str) -> None:
    check_subject_id("case.receive", "caller.subject", subject)


# --- properties ----------------------------------------------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
mobiles = st.builds(lambda second, rest: f"1{second}{rest}",
                    st.sampled_from("3456789"), st.text(alphabet="0123456789", min_size=9,
                                                        max_size=9))
separators = st.sampled_from(["", " ", "-"])
chinese = st.text(alphabet="阳光花园楼道堆物违建群租反映处置居民区", max_size=12)


@given(chinese, mobiles, separators, chinese)
def test_any_mobile_number_in_text_is_found(before: str, mobile: str, sep: str,
                                             after: str) -> None:
    shown = f"{mobile[:3]}{sep}{mobile[3:7]}{sep}{mobile[7:]}"
    found = find_personal_data(before + shown + after)
    assert [f.kind for f in found] == ["mobile"]
    assert found[0].start == len(before)


@given(st.sampled_from(["010", "021", "0571", "0755"]), st.sampled_from("23456789"),
       st.text(alphabet="0123456789", min_size=6, max_size=7), separators, chinese)
def test_any_landline_with_an_area_code_is_found(area: str, first: str, rest: str, sep: str,
                                                 before: str) -> None:
    found = find_personal_data(f"{before}{area}{sep}{first}{rest}")
    assert [f.kind for f in found] == ["landline"]


@given(st.sampled_from(["110105", "310112", "440305", "510104"]),
       st.dates(min_value=__import__("datetime").date(1920, 1, 1),
                max_value=__import__("datetime").date(2020, 12, 31)),
       st.text(alphabet="0123456789", min_size=3, max_size=3), chinese)
def test_any_well_formed_id_number_is_found(area: str, born: object, seq: str,
                                            before: str) -> None:
    first17 = f"{area}{born:%Y%m%d}{seq}"
    number = first17 + id_card_check_character(first17)
    assert [f.kind for f in find_personal_data(before + number)] == ["id_card"]


@given(st.sampled_from(["ZQ", "T001", "MH"]), st.integers(2000, 2200),
       st.integers(0, 999_999))
def test_case_references_are_never_personal_data(town: str, year: int, n: int) -> None:
    assert find_personal_data(f"案件{town}-{year}-{n:06d}") == []


@given(st.dates(), st.times())
def test_dates_and_times_are_never_personal_data(day: object, time: object) -> None:
    assert find_personal_data(f"{day} {time}") == []
    assert find_personal_data(f"{day:%Y%m%d}") == []  # type: ignore[str-format]


@given(st.decimals(min_value=0, max_value=10 ** 15 - 1, places=2, allow_nan=False,
                   allow_infinity=False))
def test_amounts_with_decimals_are_never_personal_data(amount: object) -> None:
    assert find_personal_data(f"金额{amount:f}元") == []  # type: ignore[str-format]


@given(st.integers(0, 9_999_999_999))
def test_amounts_of_up_to_ten_digits_are_never_personal_data(amount: int) -> None:
    assert find_personal_data(f"合同金额 {amount} 元") == []


@given(st.text(alphabet=CHARSET, min_size=14, max_size=14),
       st.sampled_from(["91", "92", "93", "Y1"]),
       st.sampled_from(["310112", "110105", "440305", "510104", "320219"]))
def test_enterprise_credit_codes_are_never_personal_data(body: str, prefix: str,
                                                         division: str) -> None:
    code = make_credit_code(prefix + division + body[6:])
    assert find_personal_data(f"企业代码{code}") == []


@given(st.text(alphabet=CHARSET, min_size=8, max_size=8), st.sampled_from(["11", "12", "51"]),
       st.sampled_from(["310112", "110105", "440305"]))
def test_other_credit_codes_outside_counties_19_and_20_are_never_personal_data(
        body: str, prefix: str, division: str) -> None:
    code = make_credit_code(prefix + division + body)
    assert find_personal_data(code) == []


# --- the one-scan screen -------------------------------------------------------------------

@given(st.text(alphabet=st.sampled_from("0123456789 -+()（）Xx.abc号年"), max_size=40))
def test_the_one_scan_screen_clears_only_texts_with_nothing_found(text: str) -> None:
    from ledger.kernel.personal_data import may_hold_personal_data

    if not may_hold_personal_data(text):
        assert find_personal_data(text) == []
    if find_personal_data(text):
        assert may_hold_personal_data(text)
        assert len(text) >= 10  # the walk's screen passes shorter texts unscanned


def test_a_command_with_nothing_of_the_shape_is_not_walked_and_one_with_it_is() -> None:
    from ledger.handlers import _needs_personal_data_walk

    assert not _needs_personal_data_walk({"command_id": "13800138000", "note": "第3次会议"},
                                         top=True)
    assert _needs_personal_data_walk({"note": ["ok", {"x": "tel 13800138000"}]}, top=True)
    assert _needs_personal_data_walk({"caller": {"subject": "S-1"}}, top=True)
