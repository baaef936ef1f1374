"""Post names: the grammar and the catalogue."""

from __future__ import annotations

import pytest

from ledger.kernel.errors import InvalidPostError
from ledger.kernel.posts import parse_post


@pytest.mark.parametrize(("text", "body", "level"), [
    ("party_org.secretary@ZQ-001", "party_org", "community"),
    ("residents_committee.director@ZQ-001", "residents_committee", "community"),
    ("building_leader@ZQ-001/B12", "building_leader", "unit"),
    ("department.urban_management.liaison@ZQ-001", "department:urban_management", "community"),
    ("town.peace_office.director@ZQ", "town.peace_office", "town"),
])
def test_named_posts_parse_to_their_body_and_level(text: str, body: str, level: str) -> None:
    post = parse_post(text)
    assert post.name == text
    assert post.body == body
    assert post.kind.level == level


@pytest.mark.parametrize(("text", "message"), [
    ("secretary", "is not of the form"),
    ("party_org.treasurer@ZQ-001", "does not exist"),
    ("party_org.secretary@ZQ", "is a community post"),
    ("town.peace_office.director@ZQ-001", "is a town post"),
    ("building_leader@ZQ-001", "needs a unit"),
    ("party_org.secretary@ZQ-001/B1", "takes no unit"),
    ("department.police.liaison.extra@ZQ-001", "does not exist"),
])
def test_malformed_or_unknown_posts_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidPostError, match=message):
        parse_post(text)


def test_labels_are_chinese_and_english() -> None:
    post = parse_post("building_leader@ZQ-001/B12")
    assert post.label("zh") == "楼组长 B12"
    assert post.label("en") == "building leader B12"
