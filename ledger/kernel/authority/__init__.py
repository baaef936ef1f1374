"""The authority matrix: which post may issue which command, for which scope.

The matrix is data in this package (one TOML file per domain, merged); its version — the
declared :data:`MATRIX_VERSION` plus a digest of the files — is recorded on every event.
``python -m ledger.kernel.authority`` prints ``docs/authority.md`` from it.

Checks run against the roster **as it was at the command's** ``occurred_at``.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from importlib import resources

from ledger.kernel.i18n import _

#: Bumped by hand whenever the matrix's meaning changes; the digest catches every edit.
MATRIX_VERSION = "2"

#: What each version of the matrix changed (its number → one line). An event records the
#: version it was checked under (``authority@<n>+<digest>``); it is judged under that version.
VERSIONS: dict[int, str] = {
    1: "posts per command and scope",
    2: "resolution.complete: only the responsible body's posts, or the meeting's convenor "
       "(restriction responsible_body_or_convenor)",
}

#: Restrictions a matrix entry may name beyond its posts: the check, and the version that
#: introduced it. A restriction binds only commands checked under that version or later.
RESTRICTIONS: dict[str, tuple[int, str]] = {
    "responsible_body_or_convenor": (
        2, "the acting post belongs to the item's responsible body (or is the item's "
           "responsible post), or the actor convened the meeting in that post"),
}


def version_number(version: str | None) -> int:
    """The number of a recorded matrix version (``authority@2+ab12…`` → 2); 1 for anything
    unreadable, the first version."""
    text = (version or "").removeprefix("authority@").split("+", 1)[0]
    return int(text) if text.isdigit() else 1


@dataclass(frozen=True)
class Entry:
    """Who may issue one command (or one refined command key)."""

    key: str
    description: str
    posts: tuple[str, ...]
    system: tuple[str, ...]
    source: str
    restrict: tuple[str, ...] = ()

    def restrictions(self, version: str | None = None) -> tuple[str, ...]:
        """The entry's restrictions in force under matrix *version* (default: the current)."""
        number = version_number(version) if version else int(MATRIX_VERSION)
        return tuple(r for r in self.restrict if RESTRICTIONS[r][0] <= number)


@dataclass(frozen=True)
class Matrix:
    """The merged authority matrix."""

    version: str
    entries: dict[str, Entry]
    _permits: dict[tuple[str, str, bool, bool], bool] = field(
        default_factory=dict, compare=False, repr=False)

    def entry_for(self, key: str) -> Entry | None:
        """The entry for *key* (``type`` or ``type/qualifier``), falling back to ``type``."""
        if key in self.entries:
            return self.entries[key]
        base = key.split("/", 1)[0]
        return self.entries.get(base)

    def allowed_posts(self, key: str, town: str | None, community: str | None) -> list[str]:
        """The post patterns allowed for *key* with the scope filled in."""
        entry = self.entry_for(key)
        if entry is None:
            return []
        out = []
        for pattern in entry.posts:
            if "{community}" in pattern and community is None:
                continue
            if "{town}" in pattern and town is None:
                continue
            out.append(pattern.replace("{town}", town or "").replace("{community}", community or ""))
        return out

    def permits(self, key: str, post: str, town: str | None, community: str | None) -> bool:
        """Whether *post* may issue *key* in that scope.

        Placeholders stand only in a pattern's scope (after ``@``), so instead of filling
        them in (a new glob for every community) the post's own scope is written back in
        placeholder form and matched against the patterns as written; the answer per
        (key, post in that form, which scopes are given) is remembered.
        """
        name, at, scope = post.partition("@")
        if community and (scope == community or scope.startswith(community + "/")):
            scope = "{community}" + scope[len(community):]
        elif town and (scope == town or scope.startswith(town + "/")):
            scope = "{town}" + scope[len(town):]
        ask = (key, name + at + scope, town is not None, community is not None)
        answer = self._permits.get(ask)
        if answer is None:
            answer = any(fnmatchcase(ask[1], p) for p in self.patterns(key, town, community))
            self._permits[ask] = answer
        return answer

    def patterns(self, key: str, town: str | None, community: str | None) -> list[str]:
        """The post patterns of *key* as written, without those needing a missing scope."""
        entry = self.entry_for(key)
        if entry is None:
            return []
        return [p for p in entry.posts
                if not ("{community}" in p and community is None)
                and not ("{town}" in p and town is None)]

    def permits_system(self, key: str, actor: str) -> bool:
        """Whether the system actor *actor* may issue *key*."""
        entry = self.entry_for(key)
        return entry is not None and actor in entry.system


@lru_cache(maxsize=1)
def matrix() -> Matrix:
    """Load and merge every ``*.toml`` in this package."""
    entries: dict[str, Entry] = {}
    digest = hashlib.sha256()
    files = sorted(
        (f for f in resources.files(__package__).iterdir() if f.name.endswith(".toml")),
        key=lambda f: f.name,
    )
    for f in files:
        raw = f.read_bytes()
        digest.update(f.name.encode() + b"\0" + raw + b"\0")
        data = tomllib.loads(raw.decode("utf-8"))
        for key, spec in data.get("commands", {}).items():
            if key in entries:
                raise ValueError(_("authority matrix: {key!r} defined in {source} and {name}").format(
                                     key=key, source=entries[key].source, name=f.name))
            entries[key] = Entry(
                key=key,
                description=str(spec.get("description", "")),
                posts=tuple(spec.get("posts", [])),
                system=tuple(spec.get("system", [])),
                source=f.name,
                restrict=tuple(spec.get("restrict", [])),
            )
            unknown = [r for r in entries[key].restrict if r not in RESTRICTIONS]
            if unknown:
                raise ValueError(_("authority matrix: {key!r} in {name} names unknown restriction(s) "
                                   "{unknown}").format(key=key, name=f.name, unknown=', '.join(unknown)))
    return Matrix(version=f"authority@{MATRIX_VERSION}+{digest.hexdigest()[:12]}",
                  entries=entries)


def render_markdown(command_types: list[str]) -> str:
    """``docs/authority.md``: the posts, and who may issue each of *command_types*."""
    from ledger.kernel.posts import CATALOGUE

    m = matrix()
    lines = [
        "# Authority matrix",
        "",
        "Generated from `ledger/kernel/authority/*.toml` by",
        "`python -m ledger.catalogue authority > docs/authority.md`;",
        "a test fails when this file and the matrix differ. Every command is checked against the",
        "roster **as it was at the command's `occurred_at`**: the actor must hold the post named",
        "in the command's `post` at that moment, and that post must be listed here for the",
        "command in the command's scope.",
        "",
        f"Matrix version recorded on every event: `{m.version}` (the number is bumped by hand",
        "when the meaning changes; the digest changes with every edit).",
        "",
        "`{town}` and `{community}` stand for the command's target town and community;",
        "`*` matches any department code. A key `type/kind` refines `type` for that kind of post.",
        "",
        "## Commands",
        "",
        "| command | who may issue it | what it does |",
        "|---|---|---|",
    ]
    for key in sorted(m.entries):
        e = m.entries[key]
        who = ", ".join(f"`{p}`" for p in e.posts + e.system) or "nobody"
        only = "".join(f" Restriction `{r}` (since version {RESTRICTIONS[r][0]}): "
                       f"{RESTRICTIONS[r][1]}." for r in e.restrict)
        lines.append(f"| `{key}` | {who} | {e.description}{only} |")
    missing = [t for t in command_types if m.entry_for(t) is None]
    if missing:
        lines += ["", "Commands without an entry (refused for everyone): "
                  + ", ".join(f"`{t}`" for t in missing)]
    lines += [
        "",
        "## Versions",
        "",
        "An event is judged under the matrix version it records (`envelope.authority`); a",
        "restriction binds only events checked under the version that introduced it or a later",
        "one, so events written under an earlier version still verify as they were accepted.",
        "",
        "| version | what changed |",
        "|---|---|",
    ]
    lines += [f"| {n} | {what} |" for n, what in sorted(VERSIONS.items())]
    lines += [
        "",
        "## Posts",
        "",
        "| post | level | holders | filled by | 中文 |",
        "|---|---|---|---|---|",
    ]
    for k in CATALOGUE:
        example = {"town": "@ZQ", "community": "@ZQ-001", "unit": "@ZQ-001/B12"}[k.level]
        lines.append(
            f"| `{k.pattern}{example}` | {k.level} | {'many' if k.multi else 'one'} | "
            f"{k.requires or 'appointment'} | {k.zh} |"
        )
    return "\n".join(lines) + "\n"
