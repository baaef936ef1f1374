"""The command log's copy of a result: the same JSON text as pydantic writes, whether orjson
encodes it (plain JSON detail) or pydantic does (anything else)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import CommandResult, _result_json


@pytest.mark.parametrize("detail", [
    {},
    {"post": "volunteer@ZQ-001", "person": "V-1", "n": 3, "ok": True, "none": None},
    {"text": "志愿者 \"引号\" \\ \n\t\u0001", "nested": {"list": [1, 2.5, "三"]}},
    {"when": datetime(2025, 1, 1, tzinfo=UTC)},        # pydantic's own form ("Z")
    {"amount": Decimal("12.50")},
    {"set": {1}},
])
def test_the_logged_result_is_pydantics_json(detail: dict[str, Any]) -> None:
    result = CommandResult.model_construct(
        command_id="c-1", type="post.appoint", outcome="accepted", positions=[4, 5],
        events=["Community.PostAppointed"], detail=detail,
        recorded_at="2025-01-01T08:00:00+08:00")
    assert _result_json(result) == result.model_dump_json()
