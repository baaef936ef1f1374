"""Exact decimals (no floats, no exponent form, bounds) and working-day calendars: pure
functions, with properties (issue 17, build items 9 and 1)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.kernel.decimals import make_parser
from ledger.kernel.workdays import calendar_of

money = make_parser(minimum=Decimal(0), maximum=Decimal(10) ** 15, places=2, what="amounts",
                    maximum_exclusive=True)


@given(st.decimals(min_value=0, max_value=Decimal(10) ** 15 - 1, places=2, allow_nan=False,
                   allow_infinity=False))
def test_any_amount_written_in_digits_reads_back_exactly(amount: Decimal) -> None:
    assert money(f"{amount:f}") == amount


@given(st.integers(0, 10 ** 15 - 1))
def test_any_integer_in_bounds_is_an_exact_amount(amount: int) -> None:
    assert money(amount) == Decimal(amount)


@given(st.integers(1, 99), st.integers(0, 20), st.sampled_from(["e", "E"]),
       st.sampled_from(["", "+"]))
def test_the_exponent_form_is_always_refused(mantissa: int, exponent: int, e: str,
                                             sign: str) -> None:
    with pytest.raises(ValueError, match="exponent form"):
        money(f"{mantissa}{e}{sign}{exponent}")


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_float_is_always_refused(value: float) -> None:
    with pytest.raises(ValueError, match="exact decimals"):
        money(value)


CHINA = calendar_of({"case.calendar": "china"})


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 11, 30)),
       st.integers(1, 20))
def test_a_limit_counted_in_working_days_ends_on_a_working_day(start: date, days: int) -> None:
    end = CHINA.add(start, days)
    assert CHINA.is_working_day(end)
    assert CHINA.count_between(start, end) == days


def test_china_counts_the_national_day_holiday_and_the_weekend_make_up_day() -> None:
    # 2025: 1-8 October off; Saturday 11 October is a make-up working day (调休).
    assert CHINA.add(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert CHINA.add(date(2025, 10, 10), 1) == date(2025, 10, 11)
    # Monday-Friday misses both.
    plain = calendar_of({"case.calendar": "working_days"})
    assert plain.add(date(2025, 9, 30), 1) == date(2025, 10, 1)
    assert plain.add(date(2025, 10, 10), 1) == date(2025, 10, 13)


def test_the_town_adds_its_own_days_and_the_label_says_which_calendar() -> None:
    town = calendar_of({"case.calendar": "china", "case.holidays": "2025-10-09",
                        "case.workdays": "2025-10-12"})
    assert town.add(date(2025, 9, 30), 1) == date(2025, 10, 10)
    assert town.is_working_day(date(2025, 10, 12))
    assert town.label.startswith("working days: China statutory holidays and make-up days, "
                                 "chinese-calendar ")
    assert "town holidays: 1; town working days: 1" in town.label
    assert calendar_of({}).label == "calendar days"
