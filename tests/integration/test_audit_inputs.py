"""``audit decision`` on every rule outcome lists the rule's parameters and each input with
who entered it: bottom three, elimination, ban, routing, warning suggestion and measures,
supervision (issue 17, build item 7). Run on the sample year."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ledger.application import GovernanceLedger
from ledger.audit import decision
from ledger.cli import cli
from ledger.kernel.config import localize
from ledger.kernel.eventlog import LoggedEvent
from ledger.supervision import run


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GovernanceLedger, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('audit') / 'year.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "demo", "--json"])
    assert result.exit_code == 0, result.output
    led = GovernanceLedger(url)
    from datetime import datetime

    run(led, "ZQ", localize(datetime(2025, 12, 31, 18)))
    yield led, url
    led.close()


def _first(led: GovernanceLedger, event_type: str, **data: object) -> LoggedEvent:
    from ledger.kernel.eventlog import iter_log

    with led.engine.connect() as conn:
        for e in iter_log(conn, led.events_table, led.mapper):
            if e.type == event_type and all(e.data.get(k) == v for k, v in data.items()):
                return e
    raise AssertionError(f"no {event_type} {data} in the sample year")


def _check(led: GovernanceLedger, ev: LoggedEvent, rule: str, *, inputs: bool = True) -> dict:
    answer = decision(led, ev.position)
    [chosen] = [r for r in answer["rules"] if r["rule"] == rule]
    assert chosen["parameters"] is not None or rule == ""
    if inputs:
        assert chosen["inputs"], f"{ev.type}: no inputs"
        for i in chosen["inputs"]:
            assert not i.get("missing"), i
            assert i["actor"] and i["type"] and "occurred_at" in i
    return chosen


@pytest.mark.parametrize(("event_type", "data", "rule"), [
    ("PropertyFirm.AppraisalOutcomeRecorded", {}, "firm.appraisal@1"),
    ("PropertyFirm.InterviewRequired", {}, "firm.appraisal@1"),          # bottom three
    ("PropertyFirm.WrittenWarningIssued", {}, "firm.appraisal@1"),       # bottom three
    ("PropertyFirm.PutOnEliminationList", {}, "firm.appraisal@1"),       # elimination
    ("PropertyFirm.BiddingBanned", {"kind": "elimination"}, "firm.appraisal@1"),  # ban
    ("Matter.Routed", {}, "matter.routing@1"),
    ("CommunityWarning.Raised", {}, "warning.suggest@1"),
    ("Case.Escalated", {}, "case.supervision@1"),
    ("CommunityWarning.MeasureEscalated", {}, "case.supervision@1"),
    ("Meeting.ItemEscalated", {}, "case.supervision@1"),
])
def test_every_rule_outcome_lists_its_parameters_and_who_entered_each_input(
        year: tuple[GovernanceLedger, str], event_type: str, data: dict, rule: str) -> None:
    led, _url = year
    _check(led, _first(led, event_type, **data), rule)


def test_the_scores_behind_an_elimination_are_listed_with_who_entered_them(
        year: tuple[GovernanceLedger, str]) -> None:
    led, _url = year
    chosen = _check(led, _first(led, "PropertyFirm.PutOnEliminationList"), "firm.appraisal@1")
    assert {i["type"] for i in chosen["inputs"]} >= {"AppraisalYear.FirmScoreRecorded",
                                                     "AppraisalYear.SatisfactionRecorded"}
    assert chosen["parameters"]["elimination"]["score_below"] == "60.00"


def test_a_warning_decision_lists_both_rules_and_the_cases_it_counted(
        year: tuple[GovernanceLedger, str]) -> None:
    led, _url = year
    ev = _first(led, "CommunityWarning.Raised")
    answer = decision(led, ev.position)
    assert [r["rule"] for r in answer["rules"]] == ["warning.suggest@1", "warning.measures@1"]
    suggestion = answer["rules"][0]
    counted = {i["type"] for i in suggestion["inputs"]}
    assert "Case.Received" in counted
    assert answer["rules"][1]["parameters"]["red_onsite_supervision_within_days"] == 3


def test_a_ban_after_a_dismissal_lists_the_termination_that_imposed_it(
        year: tuple[GovernanceLedger, str]) -> None:
    led, _url = year
    ev = _first(led, "PropertyFirm.BiddingBanned", kind="dismissal")
    [only] = decision(led, ev.position)["rules"]
    assert only["rule"] == "" and only["what"].startswith("dismissal")
    [termination] = only["inputs"]
    assert termination["type"] == "PropertyFirm.ContractTerminated"
    assert termination["post"] == "owners_committee.director@ZQ-003"


def test_an_escalation_names_the_event_that_set_the_due_date(
        year: tuple[GovernanceLedger, str], tmp_path: Path) -> None:
    led, url = year
    ev = _first(led, "Case.Escalated")
    chosen = _check(led, ev, "case.supervision@1")
    assert chosen["parameters"] == {"grace_days": 0, "remind_after_days": 1,
                                    "supervise_after_days": 3, "notify_after_days": 7}
    assert chosen["inputs"][0]["type"].startswith("Case.")
    out = CliRunner().invoke(cli, ["--db", url, "--lang", "en", "audit", "decision",
                                   str(ev.position)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "rule: case.supervision@1" in out.output and "parameters:" in out.output
