"""CLI for the ledger's words: posts, departments, warning measures and problem types, each
with its code and its Chinese and English names (``ledger posts``, ``ledger departments``,
``ledger measures``, ``ledger problem-types``)."""

from __future__ import annotations

from typing import Any

import click

from ledger.cli import json_option, renderer, state
from ledger.complete import communities
from ledger.kernel.i18n import _, add_labels, t

add_labels({
    "vocab.code": "code",
    "vocab.zh": "Chinese",
    "vocab.en": "English",
    "vocab.level": "level",
    "vocab.body": "body",
    "vocab.holders": "holders",
    "vocab.filled_by": "filled by",
    "vocab.example": "example",
    "vocab.post": "post",
    "vocab.held_by": "held by now",
    "vocab.town": "town",
    "vocab.source": "source",
    "vocab.due": "due",
    "vocab.condition": "condition",
    "vocab.warning_levels": "warnings",
    "vocab.posts_title": "Posts",
    "vocab.community_posts_title": "Posts of",
    "vocab.departments_title": "Departments",
    "vocab.measures_title": "Measures of the three-colour warnings",
    "vocab.problem_types_title": "Problem types",
    "vocab.level:town": "town",
    "vocab.level:community": "community",
    "vocab.level:unit": "unit",
    "vocab.one": "one person",
    "vocab.several": "several people",
    "vocab.by:appointment": "appointment",
    "vocab.by:election": "owners' election",
    "vocab.by:contract": "property contract",
    "vocab.from:ledger": "registered on the town",
    "vocab.from:standard": "standard (no ledger yet)",
    "vocab.at_once": "at once",
    "vocab.within_days": "within {days} days",
    "vocab.every_days": "every {days} days",
    "vocab.after_days": "after {days} days",
    "vocab.no_clear_improvement": "if no clear improvement",
    "department:police": "police station",
    "department:urban_management": "urban management squadron",
    "department:housing": "housing office",
    "department:demolition": "illegal-construction removal office",
    "department:market_supervision": "market supervision office",
    "department:safety_supervision": "work safety office",
    "department:comprehensive_enforcement": "comprehensive enforcement team",
    "department:health_supervision": "health supervision office",
})


def _both(key: str) -> tuple[str, str]:
    return t(key, "zh"), t(key, "en")


def _example(pattern: str, level: str, community: str, town: str) -> str:
    path = pattern.replace("*", "housing")
    if level == "town":
        return f"{path}@{town}"
    if level == "unit":
        return f"{path}@{community}/B12"
    return f"{path}@{community}"


def post_kinds(community: str | None = None) -> list[dict[str, Any]]:
    """The posts of the catalogue (:data:`ledger.kernel.posts.CATALOGUE`): code, names, level,
    body, one holder or several, how the post is filled, and an example post id (in
    *community* when given)."""
    from ledger.kernel.posts import CATALOGUE, town_of_community

    comm = community or "ZQ-001"
    town = town_of_community(comm)
    out = []
    for kind in CATALOGUE:
        body = kind.pattern.split(".")[0]
        if body == "town" and kind.pattern.count(".") > 1:
            body = "town"
        out.append({"code": kind.pattern, "name_zh": kind.zh, "name_en": kind.en,
                    "level": kind.level, "body": body,
                    "body_zh": t(f"body:{body}", "zh"), "body_en": t(f"body:{body}", "en"),
                    "multi": kind.multi, "filled_by": kind.requires or "appointment",
                    "example": _example(kind.pattern, kind.level, comm, town)})
    return out


@click.command("posts")
@click.option("--community", shell_complete=communities, metavar="COMMUNITY",
              help="Show the posts of COMMUNITY as post ids, with who holds each now.")
@json_option
def posts_cmd(community: str | None, as_json: bool) -> None:
    """List the posts the ledger knows: code, Chinese and English names, level, body, one
    holder or several, and how the post is filled (appointment, owners' election, property
    contract). A * in a code stands for a department code (see 'ledger departments'); a
    unit-level post adds a unit, e.g. building_leader@ZQ-001/B12.

    \b
    Example:
      ledger posts
      ledger posts --community ZQ-001
      ledger posts --format csv
    """
    r = renderer(as_json)
    kinds = post_kinds(community)
    if community is None:
        if as_json:
            r.emit(kinds)
            return
        r.table(r.label("vocab.posts_title"),
                ("vocab.code", "vocab.zh", "vocab.en", "vocab.level", "vocab.body",
                 "vocab.holders", "vocab.filled_by"),
                [[k["code"], k["name_zh"], k["name_en"], r.label(f"vocab.level:{k['level']}"),
                  k["body_zh"] if r.lang == "zh" else k["body_en"],
                  r.label("vocab.several" if k["multi"] else "vocab.one"),
                  r.label(f"vocab.by:{k['filled_by']}")] for k in kinds])
        return
    from ledger import quickread
    from ledger.kernel.config import now

    st = state()
    data = (quickread.status(st.db_url, community, now())
            or st.ledger().status(community))
    held: dict[str, list[str]] = {}
    for c in data["communities"]:
        for p in c["posts"]:
            held.setdefault(p["post"], []).append(f"{p['person']} {p['person_name']}")
    rows = []
    departments = [d["code"] for d in department_list()]
    for k in kinds:
        if k["level"] == "town":
            continue
        ids = ([k["example"].replace("housing", code, 1) for code in departments]
               if "*" in k["code"] else [k["example"]])
        if k["level"] == "unit":
            unit_ids = sorted(p for p in held if p.split("@")[0] == k["code"])
            ids = unit_ids or ids
        for post_id in ids:
            rows.append({**k, "post": post_id, "held_by": held.get(post_id, [])})
    if as_json:
        r.emit(rows)
        return
    r.table(f"{r.label('vocab.community_posts_title')} {community}",
            ("vocab.post", "vocab.zh", "vocab.en", "vocab.body", "vocab.holders",
             "vocab.filled_by", "vocab.held_by"),
            [[row["post"], row["name_zh"], row["name_en"],
              row["body_zh"] if r.lang == "zh" else row["body_en"],
              r.label("vocab.several" if row["multi"] else "vocab.one"),
              r.label(f"vocab.by:{row['filled_by']}"), ", ".join(row["held_by"])]
             for row in rows])


def department_list() -> list[dict[str, Any]]:
    """The departments: those registered on the towns of the ledger (its status read model)
    when there is one, else the standard ones every town starts with."""
    from ledger import quickread
    from ledger.aggregates.town import STANDARD_DEPARTMENTS

    st = state()
    rows = quickread.lookup(st.db_url, "SELECT town, code, name FROM rm_departments "
                                       "ORDER BY town, code")
    if not rows:
        from ledger.cli import NoLedgerError, require_ledger

        try:
            require_ledger(st.db_url)
        except NoLedgerError:
            rows = None
        else:
            rows = st.ledger().departments()
    source = "ledger"
    if not rows:
        source = "standard"
        rows = [{"town": "", "code": code, "name": name}
                for code, name in STANDARD_DEPARTMENTS.items()]
    out = []
    for row in rows:
        key = f"department:{row['code']}"
        en = t(key, "en")
        out.append({"town": row["town"], "code": row["code"], "name_zh": row["name"],
                    "name_en": row["name"] if en == key else en,
                    "post_head": f"department.{row['code']}.head@{row['town'] or 'ZQ'}",
                    "source": source})
    return out


@click.command("departments")
@json_option
def departments_cmd(as_json: bool) -> None:
    """List the departments (职能部门) cases are dispatched to: code, Chinese and English
    names, and the post of its head. Read from the ledger's towns when the ledger exists,
    else the standard departments every town starts with.

    \b
    Example:
      ledger departments
      ledger case dispatch ZQ-2025-000123 --department housing --department police
    """
    r = renderer(as_json)
    rows = department_list()
    if as_json:
        r.emit(rows)
        return
    title = r.label("vocab.departments_title")
    if rows and rows[0]["source"] == "standard":
        title = f"{title} — {r.label('vocab.from:standard')}"
    r.table(title, ("vocab.code", "vocab.zh", "vocab.en", "vocab.town", "vocab.example"),
            [[d["code"], d["name_zh"], d["name_en"], d["town"], d["post_head"]] for d in rows])


def measure_list() -> list[dict[str, Any]]:
    """The measures each warning level mandates (rule ``warning.measures@1`` with its
    default parameters)."""
    from ledger.rules.warning import LEVELS, MeasuresParameters, _level_measures

    params = MeasuresParameters()
    out = []
    for level in LEVELS:
        for m in sorted(_level_measures(level, params), key=lambda m: m.due_in_days):
            out.append({"code": m.code, "name_zh": m.name_zh, "name_en": m.name_en,
                        "level": m.level, "due_in_days": m.due_in_days,
                        "repeat_every_days": m.repeat_every_days, "condition": m.condition})
    return out


def _due(r: Any, m: dict[str, Any]) -> str:
    if m["repeat_every_days"]:
        text = r.label("vocab.every_days").format(days=m["repeat_every_days"])
    elif m["due_in_days"] == 0:
        text = r.label("vocab.at_once")
    elif m["condition"] or m["code"] == "improvement_review":
        text = r.label("vocab.after_days").format(days=m["due_in_days"])
    else:
        text = r.label("vocab.within_days").format(days=m["due_in_days"])
    return str(text)


@click.command("measures")
@json_option
def measures_cmd(as_json: bool) -> None:
    """List the measures the three-colour warnings mandate: code, Chinese and English names,
    the level that mandates each and when it is due (rule warning.measures@1, default
    parameters). The code is what 'ledger warning fulfil' takes.

    \b
    Example:
      ledger measures
      ledger measures --format json
    """
    import ledger.commandline.cases  # noqa: F401 - the labels of warning levels

    r = renderer(as_json)
    rows = measure_list()
    if as_json:
        r.emit(rows)
        return
    r.table(r.label("vocab.measures_title"),
            ("vocab.code", "vocab.zh", "vocab.en", "vocab.level", "vocab.due",
             "vocab.condition"),
            [[m["code"], m["name_zh"], m["name_en"], r.label(f"level:{m['level']}"),
              _due(r, m),
              r.label("vocab.no_clear_improvement") if m["condition"] else ""] for m in rows])


def problem_type_list() -> list[dict[str, Any]]:
    """The problem types of cases, with whether the three-colour warnings watch them."""
    import ledger.commandline.cases  # noqa: F401 - the labels of problem types
    from ledger.aggregates.case import PROBLEM_TYPES

    watched = ("illegal_construction", "group_renting", "unlicensed_business")
    return [{"code": code, "name_zh": t(f"problem:{code}", "zh"),
             "name_en": t(f"problem:{code}", "en"), "warnings": code in watched}
            for code in PROBLEM_TYPES]


@click.command("problem-types")
@json_option
def problem_types_cmd(as_json: bool) -> None:
    """List the problem types of cases: code, Chinese and English names, and whether the
    three-colour warnings are kept for it. The code is what --problem-type takes.

    \b
    Example:
      ledger problem-types
      ledger case receive --community ZQ-001 --channel hotline --problem-type group_renting
    """
    import ledger.commandline.cases  # noqa: F401 - the labels of problem types

    r = renderer(as_json)
    rows = problem_type_list()
    if as_json:
        r.emit(rows)
        return
    yes = _("yes")
    r.table(r.label("vocab.problem_types_title"),
            ("vocab.code", "vocab.zh", "vocab.en", "vocab.warning_levels"),
            [[p["code"], p["name_zh"], p["name_en"], yes if p["warnings"] else ""]
             for p in rows])


def _register() -> None:
    from ledger.cli import cli

    for command in (posts_cmd, departments_cmd, measures_cmd, problem_types_cmd):
        cli.add_command(command)


_register()
