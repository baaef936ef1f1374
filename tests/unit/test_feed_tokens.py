"""Scoped tokens: the two configuration formats, what is refused at startup, the scope of each
route, and browser stream credentials."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ledger.feed import tokens as t


def test_env_entries_give_each_token_an_id_a_secret_and_scopes() -> None:
    parsed = t.parse_env("hotline:hl-secret-1:write:intake+read:cases, credit:cr-secret-1:read:events")
    assert [(x.id, x.secret, sorted(x.scopes)) for x in parsed] == [
        ("hotline", "hl-secret-1", ["read:cases", "write:intake"]),
        ("credit", "cr-secret-1", ["read:events"])]
    assert not any(x.legacy for x in parsed)


def test_a_bare_secret_of_the_earlier_format_is_an_admin_token_marked_legacy() -> None:
    [old] = t.parse_env("alpha-token")
    assert old.id == "legacy-1" and old.scopes == {"admin"} and old.legacy


@pytest.mark.parametrize(("value", "says"), [
    (" , ", "holds no token"),
    ("", "holds no token"),
    ("a:secret-123:read:events,", "entry 2 is empty"),
    ("a:secret-123:read:everything", "unknown scope 'read:everything'"),
    ("a:secret-123:", "no scope"),
    ("a::read:events", "not ID:SECRET:SCOPE"),
    ("A B:secret-123:read:events", "token id"),
    ("a:short:read:events", "at least 8"),
    ("a:secret-123:read:events,a:secret-456:read:events", "given twice"),
    ("a:secret-123:read:events,b:secret-123:read:cases", "same secret"),
])
def test_a_blank_or_malformed_token_list_is_refused_with_the_reason(value: str, says: str,
                                                                    ) -> None:
    with pytest.raises(t.TokenConfigError, match=says):
        t.parse_env(value)


def test_the_tokens_file_holds_scopes_rates_and_an_intake_identity(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text('''
[tokens.hotline]
secret = "hotline-secret-1"
scopes = ["write:intake", "read:cases"]
rate = 5
[tokens.hotline.intake]
person = "HL-12345"
post = "town.peace_office.staff@ZQ"
key_file = "hotline.key"

[tokens.ops]
secret_env = "OPS_TOKEN_FOR_TEST"
scopes = ["admin"]
''')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPS_TOKEN_FOR_TEST", "ops-secret-12")
        hotline, ops = t.parse_file(path)
    assert hotline.rate == 5 and hotline.intake is not None
    assert hotline.intake.key_file == str(tmp_path / "hotline.key")
    assert ops.secret == "ops-secret-12" and ops.allows(frozenset({"read:audit"}))


@pytest.mark.parametrize(("text", "says"), [
    ("[tokens]\n", "empty"),
    ("x = 1\n", "only \\[tokens.ID\\]"),
    ("[tokens.a]\nsecret = 'secret-123'\n", "scopes must be a list"),
    ("[tokens.a]\nscopes = ['admin']\n", "give secret or secret_env"),
    ("[tokens.a]\nsecret = 'secret-123'\nscopes = ['read:cases']\n"
     "[tokens.a.intake]\nperson = 'HL-1'\npost = 'p@ZQ'\nkey_file = 'k'\n", "write:intake"),
    ("[tokens.a\n", "not valid TOML"),
    ("[tokens.a]\nsecret = 'secret-123'\nscopes = ['admin']\ncolour = 'red'\n", "unknown key"),
])
def test_a_malformed_tokens_file_is_refused(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(text)
    with pytest.raises(t.TokenConfigError, match=says):
        t.parse_file(path)


def test_both_sources_at_once_are_refused_and_neither_means_authentication_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(t.TOKENS_ENV, raising=False)
    assert t.configured(None) is None
    assert "OFF" in t.describe(None)
    monkeypatch.setenv(t.TOKENS_ENV, "a:secret-123:admin")
    with pytest.raises(t.TokenConfigError, match="both"):
        t.configured(str(tmp_path / "x.toml"))
    assert t.describe(t.configured(None)).startswith("authentication: on, 1 token(s): a [admin]")


@pytest.mark.parametrize(("method", "path", "scopes"), [
    ("GET", "/events", {"read:events"}),
    ("GET", "/events/stream", {"read:events"}),
    ("GET", "/cases", {"read:cases"}),
    ("GET", "/audit/actor/P-0001", {"read:audit"}),
    ("GET", "/history/ZQ-001", {"read:audit"}),
    ("POST", "/commands", {"write:commands"}),
    ("POST", "/open311/v2/requests.json", {"write:intake"}),
    ("GET", "/open311/v2/requests.xml", {"read:cases"}),
    ("GET", "/open311/v2/services.json", {"read:cases", "write:intake"}),
    ("GET", "/health", set()),
    ("GET", "/eventsX", None),
    ("GET", "/nowhere", None),
])
def test_each_route_needs_its_scope(method: str, path: str, scopes: set[str] | None) -> None:
    assert t.scopes_for(method, path) == (None if scopes is None else frozenset(scopes))


def test_a_stream_credential_opens_the_stream_only_until_it_expires() -> None:
    reader = t.Token("credit", "credit-secret", frozenset({"read:events"}))
    hotline = t.Token("hotline", "hotline-secret", frozenset({"write:intake"}))
    registry = t.Registry([reader, hotline])
    assert registry.find("credit-secret") is reader and registry.find("nope") is None
    credential, expires = registry.issue_credential(reader, 60)
    assert abs(expires - time.time() - 60) < 2
    assert "credit-secret" not in credential
    seen = registry.check_credential(credential)
    assert seen is not None and seen.id == "credit~stream" and seen.scopes == {"read:events"}
    # Tampered, from another server, expired, or issued to a token without read:events.
    assert registry.check_credential(credential[:-2] + "AA") is None
    assert t.Registry([reader]).check_credential(credential) is None
    old, _ = registry.issue_credential(reader, -1)
    assert registry.check_credential(old) is None
    wrong, _ = registry.issue_credential(hotline, 60)
    assert registry.check_credential(wrong) is None


def test_the_startup_line_about_authentication_is_in_the_operators_language(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.kernel import i18n

    monkeypatch.setenv(t.TOKENS_ENV, "a:secret-123:admin")
    i18n.set_language("zh")
    try:
        assert t.describe(None).startswith("身份验证:关闭(OFF;")
        assert t.describe(t.configured(None)) == "身份验证:开启,1 个令牌:a [admin]"
    finally:
        i18n.set_language("en")
