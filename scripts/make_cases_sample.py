"""Write ledger/samples/zq/20-cases.jsonl: the sample year's cases, duties, warnings, documents.

Run from the repository root: ``python scripts/make_cases_sample.py``. The output is sorted by
business time, so every decision sees the cases as they stood then; command ids are fixed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "ledger" / "samples" / "zq" / "20-cases.jsonl"

MAYOR = ("P-0003", "town.government.mayor@ZQ")
PEACE = ("P-0004", "town.peace_office.director@ZQ")
PEACE_STAFF = ("P-0005", "town.peace_office.staff@ZQ")
JEO = ("P-0006", "town.joint_enforcement_office.director@ZQ")
JEO_STAFF = ("P-0007", "town.joint_enforcement_office.staff@ZQ")
SUP = ("P-0008", "town.supervision_team.leader@ZQ")
SUP2 = ("P-0009", "town.supervision_team.member@ZQ")
STAFF = {
    "police": ("P-0040", "department.police.staff@ZQ"),
    "urban_management": ("P-0041", "department.urban_management.staff@ZQ"),
    "housing": ("P-0042", "department.housing.staff@ZQ"),
    "demolition": ("P-0043", "department.demolition.staff@ZQ"),
    "market_supervision": ("P-0044", "department.market_supervision.staff@ZQ"),
    "comprehensive_enforcement": ("P-0046", "department.comprehensive_enforcement.staff@ZQ"),
}
RC = {"ZQ-001": "P-1002", "ZQ-002": "P-2002", "ZQ-003": "P-3002", "ZQ-004": "P-4002",
      "ZQ-005": "P-5002", "ZQ-006": "P-6002"}

PLACES = {"ZQ-001": "阳光花园", "ZQ-002": "银杏苑", "ZQ-003": "紫藤新村", "ZQ-004": "文博苑",
          "ZQ-005": "金榜新苑", "ZQ-006": "北桥小区"}
WHAT = {
    "illegal_construction": ("屋顶违法搭建阳光房", "违建"),
    "group_renting": ("一套房屋隔成多间出租，疑似群租", "群租"),
    "unlicensed_business": ("沿街无证无照经营小吃店", "无照经营"),
    "other": ("楼道堆物占用消防通道", "堆物"),
}
SINGLE = {"illegal_construction": "demolition", "group_renting": "housing",
          "unlicensed_business": "market_supervision", "other": "urban_management"}
JOINT = {"illegal_construction": ["demolition", "urban_management"],
         "group_renting": ["housing", "police"],
         "unlicensed_business": ["market_supervision", "urban_management"],
         "other": ["urban_management", "comprehensive_enforcement"]}

lines: list[dict[str, Any]] = []


def cmd(type_: str, who: tuple[str, str], at: str, **fields: Any) -> None:
    lines.append({"type": type_, "actor": who[0], "post": who[1],
                  "occurred_at": f"{at}+08:00" if "T" in at else f"{at}T09:00:00+08:00",
                  **fields})


def rc(community: str, at: str) -> tuple[str, str]:
    person = RC[community]
    if community == "ZQ-002" and at >= "2025-09-01":
        person = "P-2005"
    return (person, f"residents_committee.director@{community}")


def day(month: int, d: int, hour: int = 9) -> str:
    return f"2025-{month:02d}-{d:02d}T{hour:02d}:00:00"


def case(n: int, community: str, ptype: str, channel: str, month: int, d: int, *,
         mode: str = "single", stop: str | None = None, returned: bool = False,
         reopen: bool = False, stage: str = "classified_management",
         deadline_days: int = 20, satisfied: bool = True) -> str:
    """One case's commands up to *stop* (default: callback)."""
    ref = f"ZQ-2025-{n:06d}"
    desc, short = WHAT[ptype]
    t = [0]

    def at(hours: int = 3) -> str:
        t[0] += hours
        total = (d - 1) * 24 + 9 + t[0]
        dd, hh = divmod(total, 24)
        mm = month
        while dd >= 28:
            dd -= 28
            mm += 1
        return day(mm, dd + 1, hh)

    receiver = rc(community, day(month, d)) if channel == "rc_report" else (
        SUP2 if channel == "street_patrol" else PEACE_STAFF)
    extra: dict[str, Any] = {}
    if channel == "hotline":
        extra["caller"] = {"name": f"{PLACES[community][:1]}先生", "phone": f"1380000{n:04d}"}
    cmd("case.receive", receiver, day(month, d), ref=ref, community=community, channel=channel,
        problem_type=ptype, stage=stage, location=f"{PLACES[community]}{n % 30 + 1}号楼",
        description=desc, **extra)
    steps = ["accept", "assess", "dispatch", "acknowledge", "plan", "inspect", "rectify",
             "feedback", "verify", "close", "callback"]
    if stop == "receive":
        return ref
    if stop == "reject":
        cmd("case.reject", PEACE_STAFF, at(), ref=ref, reason="经核实不属于本镇管辖范围")
        return ref
    for step in steps:
        if step == "accept":
            cmd("case.accept", PEACE_STAFF, at(), ref=ref)
        elif step == "assess":
            cmd("case.assess", JEO, at(), ref=ref, mode=mode,
                reason="涉及多个部门职责" if mode == "multi" else f"{short}属单一部门职责")
        elif step == "dispatch":
            if returned:
                wrong = "urban_management" if SINGLE[ptype] != "urban_management" else "housing"
                cmd("case.dispatch", PEACE, at(), ref=ref, departments=[wrong])
                cmd("case.return", STAFF[wrong], at(20), ref=ref,
                    reason=f"{short}不属本部门职责，请重新研判")
                cmd("case.assess", JEO, at(), ref=ref, mode="single", reason="退单后重新研判")
            depts = JOINT[ptype] if mode == "multi" else [SINGLE[ptype]]
            cmd("case.dispatch", PEACE, at(), ref=ref, departments=depts)
        elif step == "acknowledge":
            who = JEO_STAFF if mode == "multi" else STAFF[SINGLE[ptype]]
            cmd("case.acknowledge", who, at(), ref=ref)
        elif step == "plan":
            if mode != "multi":
                continue
            cmd("case.plan", JEO, at(20), ref=ref,
                subtasks=dict.fromkeys(JOINT[ptype], f"按职责开展{short}联合处置"))
        elif step == "inspect":
            depts = JOINT[ptype] if mode == "multi" else [SINGLE[ptype]]
            for dep in depts:
                cmd("case.inspect", STAFF[dep], at(24), ref=ref,
                    findings=f"现场核查属实：{desc}", evidence=[f"现场照片:{ref}-{dep}"])
        elif step == "rectify":
            who = JEO_STAFF if mode == "multi" else STAFF[SINGLE[ptype]]
            start = at(24)
            y, m, dd = int(start[:4]), int(start[5:7]), int(start[8:10])
            dd += deadline_days
            while dd > 28:
                dd -= 28
                m += 1
            cmd("case.rectify", who, start, ref=ref, plan=f"责令限期整改{short}",
                deadline=f"{y}-{m:02d}-{dd:02d}")
        elif step == "feedback":
            who = JEO_STAFF if mode == "multi" else STAFF[SINGLE[ptype]]
            cmd("case.feedback", who, at(24 * (deadline_days - 2)), ref=ref,
                result=f"{short}已整改到位", evidence=[f"整改照片:{ref}"])
        elif step == "verify":
            cmd("case.verify", SUP, at(24), ref=ref, note="督导组现场复核属实")
        elif step == "close":
            cmd("case.close", PEACE, at(), ref=ref)
        elif step == "callback":
            cmd("case.callback", PEACE_STAFF, at(48), ref=ref,
                satisfied=satisfied and not reopen,
                note="回访满意" if satisfied and not reopen else "回访不满意，问题反弹")
        if stop == step:
            return ref
    if reopen:
        cmd("case.reopen", SUP, at(24), ref=ref, reason="回访不满意，问题反弹")
        cmd("case.assess", JEO, at(), ref=ref, mode="single", reason="重启后重新研判")
        cmd("case.dispatch", PEACE, at(), ref=ref, departments=[SINGLE[ptype]])
        cmd("case.acknowledge", STAFF[SINGLE[ptype]], at(), ref=ref)
    return ref


def build() -> None:
    # Town parameters: time limits and the warning measures' cadence.
    for name, value in (("case.limit.dispatched_days", 2), ("case.limit.inspecting_days", 10),
                        ("warning.measures.orange_spot_check_every_days", 14),
                        ("warning.measures.red_rectification_plan_within_days", 7),
                        ("warning.measures.black_review_after_days", 30)):
        cmd("town.set_parameter", MAYOR, "2025-01-20", town="ZQ", name=name, value=value,
            basis="颛桥镇协同治理工作规则 2025")
    # Responsibility lists: v1 in February, v2 (adding unlicensed business) in June.
    v1 = []
    for ptype in ("illegal_construction", "group_renting"):
        dept = SINGLE[ptype]
        v1 += [
            {"problem_type": ptype, "stage": "source_control", "party": "residents_committee",
             "duties": [{"code": "inspection_patrol", "text": "日常巡查、发现上报"},
                        {"code": "rental_registration", "text": "出租房屋信息登记"}
                        if ptype == "group_renting" else
                        {"code": "renovation_filing", "text": "装修搭建登记备案、劝阻"}]},
            {"problem_type": ptype, "stage": "classified_management",
             "party": f"department:{dept}",
             "duties": [{"code": "timely_handling", "text": "按时限签收、核查、处置"}]},
            {"problem_type": ptype, "stage": "consolidation", "party": "residents_committee",
             "duties": [{"code": "rebound_watch", "text": "整改后防反弹巡查"}]},
        ]
    cmd("duty.issue", MAYOR, "2025-02-10", town="ZQ", entries=v1,
        basis="颛桥镇顽症问题责任清单（第一版）")
    v2 = [*v1,
          {"problem_type": "unlicensed_business", "stage": "source_control",
           "party": "residents_committee",
           "duties": [{"code": "inspection_patrol", "text": "日常巡查、发现上报"}]},
          {"problem_type": "unlicensed_business", "stage": "classified_management",
           "party": "department:market_supervision",
           "duties": [{"code": "timely_handling", "text": "按时限签收、核查、处置"}]}]
    cmd("duty.issue", MAYOR, "2025-06-02", town="ZQ", entries=v2,
        basis="颛桥镇顽症问题责任清单（第二版）")

    n = 0

    def nxt() -> int:
        nonlocal n
        n += 1
        return n

    # ZQ-001 Sunny Garden: mostly handled well; an autumn wave of illegal construction.
    case(nxt(), "ZQ-001", "illegal_construction", "hotline", 2, 3)
    case(nxt(), "ZQ-001", "other", "rc_report", 2, 17)
    case(nxt(), "ZQ-001", "group_renting", "street_patrol", 3, 10, returned=True)
    case(nxt(), "ZQ-001", "illegal_construction", "rc_report", 10, 13, stop="rectify",
         deadline_days=10)
    case(nxt(), "ZQ-001", "illegal_construction", "hotline", 10, 20, stop="inspect")
    case(nxt(), "ZQ-001", "illegal_construction", "street_patrol", 11, 3, stop="dispatch")
    # ZQ-002 Ginkgo Court: group renting, orange all summer.
    case(nxt(), "ZQ-002", "group_renting", "hotline", 3, 3, mode="multi")
    case(nxt(), "ZQ-002", "group_renting", "hotline", 3, 24)
    g1 = case(nxt(), "ZQ-002", "group_renting", "rc_report", 4, 7, stop="assess")
    dup = case(nxt(), "ZQ-002", "group_renting", "hotline", 4, 8, stop="receive")
    cmd("case.merge", PEACE_STAFF, "2025-04-08T15:00:00", ref=dup, into=g1)
    case(nxt(), "ZQ-002", "group_renting", "street_patrol", 4, 14, reopen=True)
    case(nxt(), "ZQ-002", "unlicensed_business", "hotline", 5, 5)
    case(nxt(), "ZQ-002", "other", "hotline", 6, 2, stop="reject")
    # ZQ-003 Wisteria Village: group renting turns red; the rectification plan never comes.
    case(nxt(), "ZQ-003", "group_renting", "hotline", 3, 17, mode="multi")
    late = case(nxt(), "ZQ-003", "group_renting", "rc_report", 4, 21, stop="dispatch")
    case(nxt(), "ZQ-003", "group_renting", "hotline", 4, 28, stop="accept")
    case(nxt(), "ZQ-003", "group_renting", "street_patrol", 5, 6, returned=True, stop="inspect")
    case(nxt(), "ZQ-003", "group_renting", "hotline", 5, 12, reopen=True)
    case(nxt(), "ZQ-003", "illegal_construction", "hotline", 7, 7)
    # ZQ-004 Wenbo Court: unlicensed business, red in spring, eased and lifted by autumn.
    case(nxt(), "ZQ-004", "unlicensed_business", "street_patrol", 2, 24, mode="multi")
    case(nxt(), "ZQ-004", "unlicensed_business", "hotline", 3, 3)
    case(nxt(), "ZQ-004", "unlicensed_business", "rc_report", 3, 10, returned=True)
    case(nxt(), "ZQ-004", "unlicensed_business", "hotline", 3, 17, mode="multi")
    case(nxt(), "ZQ-004", "other", "hotline", 8, 4, stop="reject")
    case(nxt(), "ZQ-004", "group_renting", "rc_report", 9, 1)
    # ZQ-005 Jinbang New Court: illegal construction goes black; no improvement at review.
    case(nxt(), "ZQ-005", "illegal_construction", "hotline", 4, 1, mode="multi")
    case(nxt(), "ZQ-005", "illegal_construction", "street_patrol", 4, 15, reopen=True)
    case(nxt(), "ZQ-005", "illegal_construction", "rc_report", 5, 5, stop="acknowledge")
    case(nxt(), "ZQ-005", "illegal_construction", "hotline", 5, 19, mode="multi",
         stop="rectify", deadline_days=15)
    case(nxt(), "ZQ-005", "illegal_construction", "hotline", 5, 26, stop="dispatch")
    case(nxt(), "ZQ-005", "illegal_construction", "street_patrol", 6, 2, stop="accept")
    case(nxt(), "ZQ-005", "unlicensed_business", "hotline", 6, 16)
    # ZQ-006 North Bridge: black in autumn, clear improvement at review, eased to orange.
    case(nxt(), "ZQ-006", "illegal_construction", "street_patrol", 8, 4, mode="multi")
    case(nxt(), "ZQ-006", "illegal_construction", "hotline", 8, 11, reopen=True)
    case(nxt(), "ZQ-006", "illegal_construction", "rc_report", 8, 18, returned=True)
    case(nxt(), "ZQ-006", "illegal_construction", "hotline", 8, 25, stop="acknowledge")
    case(nxt(), "ZQ-006", "group_renting", "hotline", 9, 8, stop="reject")
    case(nxt(), "ZQ-006", "other", "street_patrol", 9, 15, mode="multi")

    # Coordination and supervision of the overdue ZQ-003 case (dispatched, never acknowledged).
    cmd("case.supervise", SUP, "2025-05-06T10:00:00", ref=late,
        instruction="超期未签收，限两日内签收处置", deadline="2025-05-08")
    cmd("document.file", SUP, "2025-05-06T10:30:00", template="coordination_supervision",
        case=late, fields={"supervised_party": "department:housing",
                           "matter": "群租案件派单后超期未签收",
                           "requirement": "两日内签收并开展核查", "deadline": "2025-05-08"})
    cmd("case.supervise", SUP2, "2025-11-10T10:00:00", ref="ZQ-2025-000006",
        instruction="派单超期，请城管中队尽快签收")

    # Warnings. ZQ-004 unlicensed business: red in March, eased in July, lifted in October.
    w = {"community": "ZQ-004", "problem_type": "unlicensed_business"}
    cmd("warning.raise", PEACE, "2025-03-20T10:00:00", **w, level="red",
        reason="一个月内无照经营案件集中，含两起多部门案件",
        evidence=["ZQ-2025-000020", "ZQ-2025-000023"])
    cmd("warning.measure", SUP, "2025-03-21T10:00:00", **w, measure="onsite_supervision",
        person="P-0009", evidence=["督导记录:ZQ-004-0321"], note="派督导组成员现场督导")
    cmd("warning.measure", rc("ZQ-004", "2025-03-26"), "2025-03-26T10:00:00", **w,
        measure="rectification_plan", evidence=["整改方案:ZQ-004-2025-01"],
        note="居委会协同市场监管所制定整改方案")
    cmd("warning.deescalate", PEACE, "2025-07-01T10:00:00", **w, level="orange",
        reason="连续两月无新增无照经营案件", evidence=["分析点评:ZQ-004-2025Q2"])
    cmd("warning.measure", SUP2, "2025-07-14T10:00:00", **w, measure="spot_check_patrol",
        evidence=["抽查记录:ZQ-004-0714"])
    cmd("warning.measure", SUP2, "2025-07-28T10:00:00", **w, measure="spot_check_patrol",
        evidence=["抽查记录:ZQ-004-0728"])
    cmd("warning.lift", PEACE, "2025-10-09T10:00:00", **w, reason="整改成效巩固，解除预警",
        evidence=["抽查记录:ZQ-004-0930"])
    cmd("document.file", PEACE, "2025-07-01T11:00:00", template="analysis_review",
        community="ZQ-004", problem_type="unlicensed_business",
        fields={"period": "2025年第二季度", "situation": "无照经营案件由3月高发转为零新增",
                "analysis": "市场监管所与城管联合执法、居委会前端巡查到位",
                "comments": "各方履职良好，建议降为橙色预警"})
    # ZQ-002 group renting: orange from April, spot checks until they lapse in August.
    w = {"community": "ZQ-002", "problem_type": "group_renting"}
    cmd("warning.raise", PEACE, "2025-04-15T10:00:00", **w, level="orange",
        reason="群租投诉集中，一案重复举报", evidence=["ZQ-2025-000009", "ZQ-2025-000010"])
    for md in ("04-29", "05-13", "05-27", "06-10", "06-24", "07-08"):
        cmd("warning.measure", SUP2, f"2025-{md}T10:00:00", **w, measure="spot_check_patrol",
            evidence=[f"抽查记录:ZQ-002-{md}"])
    cmd("document.file", PEACE, "2025-04-15T11:00:00", template="assessment_warning",
        community="ZQ-002", problem_type="group_renting",
        fields={"problem_type": "group_renting", "assessment": "群租案件多发，存在反弹风险",
                "suggested_level": "orange", "recommendation": "纳入关注级，定期抽查巡查"})
    # ZQ-003 group renting: red from May; staff sent, but the rectification plan never comes.
    w = {"community": "ZQ-003", "problem_type": "group_renting"}
    cmd("warning.raise", SUP, "2025-05-20T10:00:00", **w, level="red",
        reason="群租案件反复，派单超期，居委前端管控缺位",
        evidence=["ZQ-2025-000015", "ZQ-2025-000018", "督办单:ZQ-2025-000015"])
    cmd("warning.measure", SUP, "2025-05-22T10:00:00", **w, measure="onsite_supervision",
        person="P-0009", evidence=["督导记录:ZQ-003-0522"])
    cmd("document.file", SUP, "2025-05-22T11:00:00", template="advice_guidance",
        community="ZQ-003", problem_type="group_renting",
        fields={"addressee": "紫藤新村居委会", "advice": "建立出租房屋台账，每周巡查一次",
                "references": ["颛桥镇顽症问题责任清单（第一版）"]})
    cmd("duty.record_failure", SUP, "2025-06-05T10:00:00", party="residents_committee",
        community="ZQ-003", problem_type="group_renting", stage="source_control",
        duty="rental_registration", case="ZQ-2025-000016",
        description="出租房屋未登记，群租发现滞后")
    cmd("duty.record_failure", SUP, "2025-06-05T10:30:00", party="department:housing",
        community="ZQ-003", problem_type="group_renting", stage="classified_management",
        duty="timely_handling", case="ZQ-2025-000015", description="派单后超期未签收")
    # ZQ-005 illegal construction: black from June; no clear improvement at the review.
    w = {"community": "ZQ-005", "problem_type": "illegal_construction"}
    cmd("document.file", PEACE, "2025-06-09T09:00:00", template="assessment_warning",
        community="ZQ-005", problem_type="illegal_construction",
        fields={"problem_type": "illegal_construction",
                "assessment": "违建案件集中且有重启，整改进度滞后",
                "suggested_level": "black", "recommendation": "列为重点整治对象，督导组蹲点"})
    cmd("warning.raise", PEACE, "2025-06-09T10:00:00", **w, level="black",
        reason="违建案件集中，重启案件整改反弹",
        evidence=["ZQ-2025-000026", "ZQ-2025-000027", "研判预警:ZQ-005-0609"])
    cmd("warning.measure", SUP, "2025-06-10T09:00:00", **w,
        measure="supervision_team_stationed", person="P-0009",
        evidence=["蹲点安排:ZQ-005-0610"], note="督导组蹲点督查指导整改")
    cmd("duty.record_failure", SUP2, "2025-06-20T10:00:00", party="department:demolition",
        community="ZQ-005", problem_type="illegal_construction", stage="classified_management",
        duty="timely_handling", case="ZQ-2025-000028", description="整改期限届满未反馈")
    cmd("warning.measure", SUP, "2025-07-09T10:00:00", **w, measure="improvement_review",
        outcome="not_improved", third_party="上海城安巡查服务有限公司",
        evidence=["复核报告:ZQ-005-0709"], note="30日内无明显改善，组织第三方力量巡查管控")
    cmd("document.file", SUP, "2025-07-09T11:00:00", template="notification_feedback",
        community="ZQ-005", problem_type="illegal_construction",
        fields={"audience": "金榜新苑居民区党组织、居委会、拆违办",
                "content": "黑色预警复核未见明显改善，已组织第三方力量巡查管控",
                "feedback": "拆违办承诺两周内完成存量违建拆除"})
    # ZQ-006 illegal construction: black in September, clear improvement, eased to orange.
    w = {"community": "ZQ-006", "problem_type": "illegal_construction"}
    cmd("warning.raise", PEACE, "2025-09-01T10:00:00", **w, level="black",
        reason="一月内四起违建，其中一起重启", evidence=["ZQ-2025-000034", "ZQ-2025-000035"])
    cmd("warning.measure", SUP, "2025-09-02T09:00:00", **w,
        measure="supervision_team_stationed", person="P-0008", evidence=["蹲点安排:ZQ-006-0902"])
    cmd("warning.measure", SUP2, "2025-10-01T10:00:00", **w, measure="improvement_review",
        outcome="improved", evidence=["复核报告:ZQ-006-1001"], note="存量违建已拆除，明显改善")
    cmd("warning.deescalate", PEACE, "2025-11-03T10:00:00", **w, level="orange",
        reason="明显改善并保持一个月", evidence=["复核报告:ZQ-006-1001"])
    cmd("warning.measure", SUP2, "2025-11-17T10:00:00", **w, measure="spot_check_patrol",
        evidence=["抽查记录:ZQ-006-1117"])
    cmd("warning.measure", SUP2, "2025-12-01T10:00:00", **w, measure="spot_check_patrol",
        evidence=["抽查记录:ZQ-006-1201"])
    cmd("warning.measure", SUP2, "2025-12-15T10:00:00", **w, measure="spot_check_patrol",
        evidence=["抽查记录:ZQ-006-1215"])
    # ZQ-001 illegal construction: an autumn wave, orange in November.
    w = {"community": "ZQ-001", "problem_type": "illegal_construction"}
    cmd("warning.raise", PEACE, "2025-11-05T10:00:00", **w, level="orange",
        reason="10月以来违建案件三起，一起整改超期", evidence=["ZQ-2025-000004",
                                                             "ZQ-2025-000005"])
    cmd("warning.measure", SUP2, "2025-11-19T10:00:00", **w, measure="spot_check_patrol",
        evidence=["抽查记录:ZQ-001-1119"])


def main() -> None:
    build()
    ordered = sorted(enumerate(lines), key=lambda p: (p[1]["occurred_at"], p[0]))
    with OUT.open("w", encoding="utf-8") as fh:
        for i, (_n, line) in enumerate(ordered, start=1):
            line["command_id"] = f"zq-cases-{i:04d}"
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"wrote {len(ordered)} commands to {OUT}")


if __name__ == "__main__":
    main()
