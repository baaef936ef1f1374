"""Post names and the catalogue of posts that exist.

A post is named ``<body>.<role>@<scope>``: ``party_org.secretary@ZQ-001``,
``building_leader@ZQ-001/B12``, ``department.urban_management.liaison@ZQ-001``,
``town.peace_office.director@ZQ``. The scope is a town code, a community code, or a
community code with a unit (``ZQ-001/B12``) for the "three heads".

The catalogue says which posts exist, at which level, whether a post has one holder or many,
and whether it can only be filled through an election or a contract (owners' committee and
property-firm posts, recorded by their own commands).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import lru_cache

from ledger.kernel.errors import InvalidPostError
from ledger.kernel.i18n import _

_POST_RE = re.compile(
    r"^(?P<path>[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)@(?P<scope>[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*)"
    r"(?:/(?P<unit>[A-Za-z0-9][A-Za-z0-9_-]{0,31}))?$"
)
COMMUNITY_RE = re.compile(r"^[A-Z][A-Z0-9]*-[0-9]{3,}$")
TOWN_RE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")


@dataclass(frozen=True)
class PostKind:
    """One kind of post in the catalogue (a pattern over the post path)."""

    pattern: str
    """Glob over the dotted path, ``*`` standing for a department code."""
    level: str
    """``town``, ``community`` or ``unit`` (community plus a unit such as a building)."""
    multi: bool
    """Whether several people may hold it at once (members, volunteers, staff)."""
    zh: str
    en: str
    requires: str | None = None
    """``election`` or ``contract`` when only those commands may fill the post."""


CATALOGUE: tuple[PostKind, ...] = (
    # Town level.
    PostKind("town.ledger_admin", "town", True, "镇台账管理员", "town ledger administrator"),
    PostKind("town.party_committee.secretary", "town", False, "镇党委书记", "town party secretary"),
    PostKind("town.party_committee.deputy_secretary", "town", True, "镇党委副书记",
             "town deputy party secretary"),
    PostKind("town.party_committee.member", "town", True, "镇党委委员", "town party committee member"),
    PostKind("town.government.mayor", "town", False, "镇长", "mayor"),
    PostKind("town.government.deputy_mayor", "town", True, "副镇长", "deputy mayor"),
    PostKind("town.peace_office.director", "town", False, "镇平安办主任", "peace office director"),
    PostKind("town.peace_office.staff", "town", True, "镇平安办工作人员", "peace office staff"),
    PostKind("town.joint_enforcement_office.director", "town", False, "联合执法办主任",
             "joint-enforcement office director"),
    PostKind("town.joint_enforcement_office.staff", "town", True, "联合执法办工作人员",
             "joint-enforcement office staff"),
    PostKind("town.supervision_team.leader", "town", True, "督导组组长", "supervision team leader"),
    PostKind("town.supervision_team.member", "town", True, "督导组成员", "supervision team member"),
    PostKind("town.housing_office.director", "town", False, "镇房管办主任", "town housing office director"),
    PostKind("town.legal_counsel", "town", True, "镇法律顾问", "town legal counsel"),
    PostKind("department.*.head", "town", False, "部门负责人", "department head"),
    PostKind("department.*.staff", "town", True, "部门工作人员", "department staff"),
    # Community level: the 1 and the 3.
    PostKind("party_org.secretary", "community", False, "居民区党组织书记", "party organisation secretary"),
    PostKind("party_org.deputy_secretary", "community", True, "居民区党组织副书记",
             "party organisation deputy secretary"),
    PostKind("party_org.member", "community", True, "居民区党组织委员", "party organisation member"),
    PostKind("residents_committee.director", "community", False, "居委会主任",
             "residents' committee director"),
    PostKind("residents_committee.deputy_director", "community", True, "居委会副主任",
             "residents' committee deputy director"),
    PostKind("residents_committee.member", "community", True, "居委会委员",
             "residents' committee member"),
    PostKind("owners_committee.director", "community", False, "业委会主任",
             "owners' committee director", requires="election"),
    PostKind("owners_committee.deputy_director", "community", True, "业委会副主任",
             "owners' committee deputy director", requires="election"),
    PostKind("owners_committee.member", "community", True, "业委会委员",
             "owners' committee member", requires="election"),
    PostKind("property_firm.manager", "community", False, "物业项目经理",
             "property-firm project manager", requires="contract"),
    # The N: the three heads and volunteers.
    PostKind("party_group_leader", "unit", False, "党小组长", "party-group leader"),
    PostKind("resident_group_leader", "unit", False, "居民组长", "resident-group leader"),
    PostKind("building_leader", "unit", False, "楼组长", "building leader"),
    PostKind("volunteer", "community", True, "志愿者", "volunteer"),
    PostKind("volunteer_team.leader", "unit", False, "志愿者团队负责人", "volunteer team leader"),
    PostKind("resident_representative", "community", True, "居民代表", "resident representative"),
    PostKind("social_organisation.representative", "unit", False, "社会组织代表",
             "social organisation representative"),
    # The X: departments brought down to the community.
    PostKind("department.*.liaison", "community", True, "下沉部门联络员", "department liaison"),
)

#: The bodies a post belongs to, with labels (first path component, or department:<code>).
BODIES: dict[str, tuple[str, str]] = {
    "town": ("镇", "town"),
    "party_org": ("居民区党组织", "party organisation"),
    "residents_committee": ("居委会", "residents' committee"),
    "owners_committee": ("业委会", "owners' committee"),
    "property_firm": ("物业服务企业", "property firm"),
    "party_group_leader": ("党小组长", "party-group leaders"),
    "resident_group_leader": ("居民组长", "resident-group leaders"),
    "building_leader": ("楼组长", "building leaders"),
    "volunteer": ("志愿者", "volunteers"),
    "volunteer_team": ("志愿者团队", "volunteer teams"),
    "resident_representative": ("居民代表", "resident representatives"),
    "social_organisation": ("社会组织", "social organisations"),
    "department": ("职能部门", "departments"),
}


@dataclass(frozen=True)
class PostName:
    """A parsed post name."""

    path: str
    scope: str
    unit: str | None
    kind: PostKind

    @property
    def name(self) -> str:
        """The canonical text of the post."""
        return f"{self.path}@{self.scope}" + (f"/{self.unit}" if self.unit else "")

    @property
    def body(self) -> str:
        """The body: ``party_org``, ``department:urban_management``, ``town.peace_office``…"""
        parts = self.path.split(".")
        if parts[0] == "department":
            return f"department:{parts[1]}"
        if parts[0] == "town" and len(parts) > 2:
            return f"town.{parts[1]}"
        return parts[0]

    @property
    def department(self) -> str | None:
        """The department code for ``department.<code>.*`` posts."""
        parts = self.path.split(".")
        return parts[1] if parts[0] == "department" else None

    @property
    def community(self) -> str | None:
        """The community code of a community- or unit-level post."""
        return self.scope if self.kind.level in ("community", "unit") else None

    def label(self, lang: str) -> str:
        """A human label: the kind's name plus department and unit where they apply."""
        text = self.kind.zh if lang == "zh" else self.kind.en
        if self.department:
            text = f"{text}({self.department})" if lang == "zh" else f"{text} ({self.department})"
        if self.unit:
            text = f"{text} {self.unit}"
        return text

    def __str__(self) -> str:
        return self.name


@lru_cache(maxsize=131_072)
def parse_post(text: str) -> PostName:
    """Parse and check a post name against the catalogue.

    Raises :class:`InvalidPostError` naming what is wrong: the syntax, an unknown post, a
    town post given a community scope (or the reverse), or a missing/extra unit.
    """
    m = _POST_RE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise InvalidPostError(
            _("post {text!r} is not of the form <body>.<role>@<scope>, e.g. party_org.secretary@ZQ-001 or "
              "building_leader@ZQ-001/B12").format(text=text)
        )
    path, scope, unit = m["path"], m["scope"], m["unit"]
    kind = next((k for k in CATALOGUE if fnmatchcase(path, k.pattern)), None)
    if kind is None or ("*" in kind.pattern and path.count(".") != kind.pattern.count(".")):
        raise InvalidPostError(
            _("post {text!r} does not exist: no post {path!r} in the catalogue (see docs/authority.md for "
              "the posts the ledger knows)").format(text=text, path=path)
        )
    is_town_scope = COMMUNITY_RE.match(scope) is None
    if kind.level == "town" and (not is_town_scope or unit):
        raise InvalidPostError(_("post {text!r}: {path} is a town post; its scope is a town "
                                 "code like ZQ").format(
                                   text=text, path=path))
    if kind.level in ("community", "unit") and is_town_scope:
        raise InvalidPostError(
            _("post {text!r}: {path} is a community post; its scope is a community code like ZQ-001").format(
                text=text, path=path)
        )
    if kind.level == "unit" and not unit:
        raise InvalidPostError(
            _("post {text!r}: {path} needs a unit after the community, e.g. {path}@{scope}/B12").format(
                text=text, path=path, scope=scope)
        )
    if kind.level == "community" and unit:
        raise InvalidPostError(_("post {text!r}: {path} takes no unit; use {path}@{scope}").format(
                                   text=text, path=path, scope=scope))
    return PostName(path=path, scope=scope, unit=unit, kind=kind)


def town_of_community(code: str) -> str:
    """The town prefix of a community code (``ZQ-001`` → ``ZQ``)."""
    return code.split("-", 1)[0]
