"""End-to-end tests read the English messages (the text written in the code): the command line
and the processes they start run with ``LEDGER_LANG=en``, except tests marked ``zh_default``,
which check the product's default language (Chinese) as a clerk gets it."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def english_command_line(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("zh_default"):
        monkeypatch.delenv("LEDGER_LANG", raising=False)
    else:
        monkeypatch.setenv("LEDGER_LANG", "en")
