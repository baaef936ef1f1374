"""The roster looks a person's terms up instead of scanning every holder a post ever had; the
answers are those of the scan, whatever the appointments and departures before them, and
however the lookups and changes interleave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.aggregates.base import Roster
from ledger.kernel.errors import PostNotHeldError

START = datetime(2025, 1, 1, tzinfo=UTC)
PEOPLE = [f"V-{i:03d}" for i in range(6)]
POSTS = ["volunteer@ZQ-001", "secretary@ZQ-001"]


def day(n: int) -> str:
    return (START + timedelta(days=n)).isoformat()


def scan_term_of(terms: dict[str, list[dict[str, Any]]], person: str, post: str,
                 when: datetime) -> dict[str, Any] | None:
    """The answer before the lookup: the first term of *post* in force at *when* held by
    *person*, scanning every term."""
    for t in terms.get(post, []):
        if (datetime.fromisoformat(t["effective_from"]) <= when
                and (t["effective_to"] is None
                     or when < datetime.fromisoformat(t["effective_to"]))
                and t["person"] == person):
            return t
    return None


# One step: appoint someone, end someone's open term, or ask about someone at some day.
steps = st.lists(st.tuples(st.sampled_from(["add", "end", "ask"]), st.sampled_from(POSTS),
                           st.sampled_from(PEOPLE), st.integers(0, 400)),
                 min_size=1, max_size=120)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_lookups_answer_as_a_scan_of_every_term_would(ops: list[tuple[str, str, str, int]],
                                                      ) -> None:
    terms: dict[str, list[dict[str, Any]]] = {}
    roster = Roster(terms)
    for what, post, person, n in ops:
        if what == "add":
            roster.add_term(post, person, person, day(n), {"actor": "P-0001"})
        elif what == "end":
            open_terms = [t for t in terms.get(post, [])
                          if t["person"] == person and t["effective_to"] is None]
            if open_terms:
                Roster(terms).end_term(post, person, day(n + 1000))
                assert open_terms[0]["effective_to"] == day(n + 1000)
            else:
                try:
                    roster.open_term(post, person)
                except PostNotHeldError:
                    pass
                else:
                    raise AssertionError("an open term was found where there is none")
        when = START + timedelta(days=n)
        # A new Roster over the same terms (as each aggregate's property makes) and the same
        # one give the scan's answers.
        for r in (roster, Roster(terms)):
            assert r.terms_of(post, person) == [t for t in terms.get(post, [])
                                                if t["person"] == person]
            expected = scan_term_of(terms, person, post, when)
            assert r.term_of(person, post, when) is expected
            assert r.holds(person, post, when) is (expected is not None)


def test_a_post_with_hundreds_of_holders_is_answered_by_lookup() -> None:
    terms: dict[str, list[dict[str, Any]]] = {}
    roster = Roster(terms)
    for i in range(500):
        roster.add_term("volunteer@ZQ-001", f"V-{i:04d}", "志愿者", day(i), {})
    assert roster.terms_of("volunteer@ZQ-001", "V-0499") == [terms["volunteer@ZQ-001"][-1]]
    assert roster.holds("V-0250", "volunteer@ZQ-001", START + timedelta(days=300))
    assert not roster.holds("V-0250", "volunteer@ZQ-001", START + timedelta(days=200))
    roster.end_term("volunteer@ZQ-001", "V-0250", day(310))
    assert not roster.holds("V-0250", "volunteer@ZQ-001", START + timedelta(days=320))
    roster.add_term("volunteer@ZQ-001", "V-0250", "志愿者", day(330), {})
    assert [t["effective_from"] for t in roster.terms_of("volunteer@ZQ-001", "V-0250")] == \
        [day(250), day(330)]
    assert roster.open_term("volunteer@ZQ-001", "V-0250")["effective_from"] == day(330)
