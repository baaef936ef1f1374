"""A small Zhuanqiao for case and warning tests: the offices, three departments, two communities.

| person | post |
|---|---|
| P-0001 | town ledger administrator |
| P-0003 | mayor |
| P-0004 / P-0005 | peace office director / staff |
| P-0006 / P-0007 | joint-enforcement office director / staff |
| P-0008 / P-0009 | supervision team leader / member |
| P-0021 / P-0041 | urban management head / staff |
| P-0022 / P-0042 | housing head / staff |
| P-0024 / P-0044 | market supervision head / staff |
| P-1002 | residents' committee director of ZQ-001 Sunny Garden |
"""

from __future__ import annotations

from itertools import count
from typing import Any

from ledger.application import CommandResult, GovernanceLedger

ADMIN = {"actor": "P-0001", "post": "town.ledger_admin@ZQ"}
PEACE = {"actor": "P-0004", "post": "town.peace_office.director@ZQ"}
PEACE_STAFF = {"actor": "P-0005", "post": "town.peace_office.staff@ZQ"}
JEO = {"actor": "P-0006", "post": "town.joint_enforcement_office.director@ZQ"}
JEO_STAFF = {"actor": "P-0007", "post": "town.joint_enforcement_office.staff@ZQ"}
SUPERVISOR = {"actor": "P-0008", "post": "town.supervision_team.leader@ZQ"}
SUPERVISOR2 = {"actor": "P-0009", "post": "town.supervision_team.member@ZQ"}
URBAN = {"actor": "P-0041", "post": "department.urban_management.staff@ZQ"}
URBAN_HEAD = {"actor": "P-0021", "post": "department.urban_management.head@ZQ"}
HOUSING = {"actor": "P-0042", "post": "department.housing.staff@ZQ"}
MARKET = {"actor": "P-0044", "post": "department.market_supervision.staff@ZQ"}
RC = {"actor": "P-1002", "post": "residents_committee.director@ZQ-001"}

_POSTS = (
    ("town.government.mayor@ZQ", "P-0003", "胡霞"),
    ("town.peace_office.director@ZQ", "P-0004", "梁建华"),
    ("town.peace_office.staff@ZQ", "P-0005", "邓国平"),
    ("town.joint_enforcement_office.director@ZQ", "P-0006", "袁强"),
    ("town.joint_enforcement_office.staff@ZQ", "P-0007", "程文"),
    ("town.supervision_team.leader@ZQ", "P-0008", "姚琳"),
    ("town.supervision_team.member@ZQ", "P-0009", "汪伟"),
    ("department.urban_management.head@ZQ", "P-0021", "严平"),
    ("department.urban_management.staff@ZQ", "P-0041", "汤雪"),
    ("department.housing.head@ZQ", "P-0022", "黄美玲"),
    ("department.housing.staff@ZQ", "P-0042", "朱勇"),
    ("department.market_supervision.head@ZQ", "P-0024", "董芳"),
    ("department.market_supervision.staff@ZQ", "P-0044", "叶涛"),
    ("residents_committee.director@ZQ-001", "P-1002", "向红梅"),
)

_ids = count(1)


def world(led: GovernanceLedger) -> None:
    """Town ZQ with its offices and three departments; communities ZQ-001 and ZQ-002."""
    led.execute({"type": "town.bootstrap", "actor": "system:bootstrap", "code": "ZQ",
                 "name": "颛桥镇", "admin": "P-0001", "admin_name": "王明",
                 "occurred_at": "2025-01-01"})
    for code, name in (("ZQ-001", "阳光花园"), ("ZQ-002", "银杏苑")):
        led.execute({"type": "community.register", **ADMIN, "code": code, "name": name,
                     "occurred_at": "2025-01-02"})
    for post, person, name in _POSTS:
        led.execute({"type": "post.appoint", **ADMIN, "target_post": post, "person": person,
                     "person_name": name, "occurred_at": "2025-01-03"})


def run(led: GovernanceLedger, type_: str, who: dict[str, str], at: str,
        **fields: Any) -> CommandResult:
    """Execute one command of *type_* by *who* at *at*."""
    return led.execute({"type": type_, **who, "occurred_at": at, **fields})


def receive(led: GovernanceLedger, ref: str, at: str = "2025-03-01T09:00:00", *,
            community: str = "ZQ-001", problem_type: str = "illegal_construction",
            channel: str = "hotline", **extra: Any) -> CommandResult:
    """Receive a case through the peace office."""
    return run(led, "case.receive", PEACE_STAFF, at, ref=ref, community=community,
               channel=channel, problem_type=problem_type,
               location="阳光花园12号楼屋顶", description="屋顶违法搭建", **extra)


def single_to_closed(led: GovernanceLedger, ref: str, *, day: int = 1,
                     handler: dict[str, str] = URBAN, department: str = "urban_management",
                     stop: str | None = None) -> None:
    """Take a single-department case from receipt to closure (or stop after *stop*)."""
    steps: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        ("case.receive", PEACE_STAFF, {}),
        ("case.accept", PEACE_STAFF, {}),
        ("case.assess", JEO, {"mode": "single", "reason": "城管职责"}),
        ("case.dispatch", PEACE, {"departments": [department]}),
        ("case.acknowledge", handler, {}),
        ("case.inspect", handler, {"findings": "确认搭建约20平方米", "evidence": ["photo:1"]}),
        ("case.rectify", handler, {"plan": "限期自行拆除", "deadline": f"2025-03-{day + 20:02d}"}),
        ("case.feedback", handler, {"result": "已拆除", "evidence": ["photo:2"]}),
        ("case.verify", SUPERVISOR, {"note": "现场核实"}),
        ("case.close", PEACE, {}),
    ]
    for n, (type_, who, fields) in enumerate(steps):
        at = f"2025-03-{day:02d}T{9 + n:02d}:00:00"
        if type_ == "case.receive":
            receive(led, ref, at)
        else:
            run(led, type_, who, at, ref=ref, **fields)
        if stop == type_:
            return
