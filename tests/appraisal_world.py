"""A small world for the year-end appraisal tests.

Town ZQ with its housing office director (P-0010) and legal counsel (P-0011); community ZQ-001
Sunny Garden with owners' committee ZQ-001/2025 served by Evergreen Property under contract HT-1;
resident representatives P-0301 and P-0302 of ZQ-001; and firms A-H (Evergreen, Golden Bridge,
Chunshen and five more) registered in the town.
"""

from __future__ import annotations

from typing import Any

from ledger.application import GovernanceLedger
from ledger.kernel.errors import AggregateNotFoundError
from ledger.rules.credit_code import make_credit_code
from tests.conftest import ADMIN
from tests.owners_world import CHUNSHEN, EVERGREEN, GOLDEN, HOUSING, run, served_by_evergreen

EXTRA = {name: make_credit_code(f"91310112MA1H{i:02d}00")
         for i, name in enumerate(("delta", "eagle", "falcon", "grove", "harbour"), start=1)}
FIRMS = {"evergreen": EVERGREEN, "golden": GOLDEN, "chunshen": CHUNSHEN, **EXTRA}
PEACE = {"actor": "P-0004", "post": "town.peace_office.director@ZQ"}
SECRETARY = {"actor": "P-0101", "post": "party_org.secretary@ZQ-001"}


def world(led: GovernanceLedger) -> None:
    """The world above."""
    served_by_evergreen(led)
    for name, code in EXTRA.items():
        run(led, "firm.register", HOUSING, "2025-01-20", code=code, name=f"{name} 物业",
            head=f"P-F{name[:3].upper()}", head_name="负责人")
    run(led, "post.appoint", ADMIN, "2025-01-02", target_post="town.peace_office.director@ZQ",
        person="P-0004", person_name="梁建华")
    for person, name in (("P-0301", "林强"), ("P-0302", "许文")):
        run(led, "post.appoint", ADMIN, "2025-01-05",
            target_post="resident_representative@ZQ-001", person=person, person_name=name)


def grade(led: GovernanceLedger, year: int, grades: dict[str, tuple[str, str]], at: str,
          *, close: bool = True, close_at: str | None = None) -> Any:
    """Open *year* (if needed), record every firm's score and satisfaction at *at*, and close
    it (at *close_at*, default the same day at 18:00). Returns the close result."""
    if not any(e.type == "AppraisalYear.Opened" for e in _events(led, f"appraisal:ZQ/{year}")):
        run(led, "appraisal.open_year", ADMIN, at, year=year)
    for name, (score, satisfaction) in grades.items():
        run(led, "appraisal.record_firm_score", HOUSING, at, year=year, firm=FIRMS[name],
            score=score, appraising_body="镇房管办考核组")
        run(led, "appraisal.record_satisfaction", HOUSING, at, year=year, firm=FIRMS[name],
            percent=satisfaction, sample_size=200, survey=f"满意度测评{year}")
    if close:
        return run(led, "appraisal.close_year", HOUSING, close_at or f"{at}T18:00", year=year)
    return None


def _events(led: GovernanceLedger, key: str) -> list[Any]:
    try:
        return led.history(key)
    except AggregateNotFoundError:
        return []


def types(led: GovernanceLedger, key: str) -> list[str]:
    """Event types of one aggregate, in order."""
    return [e.type for e in _events(led, key)]
