"""The status read model: towns, departments, communities, and every term of every post.

Times are stored twice: as recorded (with offset, for display) and as fixed-width UTC text
(``*_utc``) so that "who held what at time T" is a plain string comparison in SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import (
    Column,
    Connection,
    String,
    Table,
    Text,
    and_,
    bindparam,
    select,
)

from ledger.kernel.eventlog import LoggedEvent
from ledger.kernel.posts import parse_post
from ledger.kernel.store import ID, metadata
from ledger.projections import Projection, projection


def utc_key(value: str | datetime) -> str:
    """Fixed-width UTC text of an ISO datetime, comparable as a string."""
    if isinstance(value, str):
        return _utc_key_of_text(value)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


@lru_cache(maxsize=8192)
def _utc_key_of_text(value: str) -> str:
    # Business times repeat (every event of a command shares one): worth remembering.
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


towns = Table(
    "rm_towns", metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("registered_at", String(40), nullable=False),
)
departments = Table(
    "rm_departments", metadata,
    Column("town", String(32), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
)
communities = Table(
    "rm_communities", metadata,
    Column("code", String(32), primary_key=True),
    Column("town", String(32), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("address", Text(), nullable=False),
    Column("registered_at", String(40), nullable=False),
    Column("registered_by", String(64), nullable=False),
)
post_terms = Table(
    "rm_post_terms", metadata,
    Column("post", String(200), primary_key=True),
    Column("person", String(64), primary_key=True),
    Column("appointed_event", ID, primary_key=True),
    Column("scope", String(32), nullable=False, index=True),
    Column("community", String(32), index=True),
    Column("body", String(100), nullable=False),
    Column("kind", String(100), nullable=False),
    Column("person_name", String(200), nullable=False),
    Column("effective_from", String(40), nullable=False),
    Column("effective_to", String(40)),
    Column("from_utc", String(26), nullable=False),
    Column("to_utc", String(26)),
    Column("appointed_by", String(64)),
    Column("appointed_in", String(200)),
    Column("basis", Text()),
    Column("vacated_event", ID),
    Column("vacated_by", String(64)),
    Column("vacate_reason", Text()),
)


@projection
class StatusProjection(Projection):
    """Communities and who holds which post, with full term history for as-of queries."""

    name = "status"
    rebuild_cost = 0.19
    schema_version = 1
    tables = (towns, departments, communities, post_terms)
    topics = frozenset({
        "Town.Registered", "Town.DepartmentAdded", "Town.PostAppointed", "Town.PostVacated",
        "Community.Registered", "Community.PostAppointed", "Community.PostVacated",
    })

    def apply(self, conn: Connection, event: LoggedEvent) -> None:
        d, env = event.data, event.envelope
        if event.type == "Town.Registered":
            self.buffer(towns).insert({"code": d["code"], "name": d["name"],
                                       "registered_at": env.get("occurred_at", "")})
            for code, name in sorted(d["departments"].items()):
                self.buffer(departments).insert({"town": d["code"], "code": code, "name": name})
        elif event.type == "Town.DepartmentAdded":
            self.buffer(departments).insert({"town": d["town"], "code": d["code"],
                                             "name": d["name"]})
        elif event.type == "Community.Registered":
            self.buffer(communities).insert({
                "code": d["code"], "town": d["town"], "name": d["name"], "address": d["address"],
                "registered_at": env.get("occurred_at", ""), "registered_by": env.get("actor", "")})
        elif event.type.endswith(".PostAppointed"):
            post = parse_post(d["post"])
            self.buffer(post_terms).insert({
                "post": post.name, "person": d["person"], "appointed_event": event.position,
                "scope": post.scope, "community": post.community, "body": post.body,
                "kind": post.kind.pattern, "person_name": d["person_name"],
                "effective_from": d["effective_from"], "effective_to": None,
                "from_utc": utc_key(d["effective_from"]), "to_utc": None,
                "appointed_by": env.get("actor"), "appointed_in": env.get("post"),
                "basis": env.get("basis"), "vacated_event": None, "vacated_by": None,
                "vacate_reason": None,
            })
            # Terms opened since the tables were last read: a vacancy ends them too.
            opened = self.memo("open_terms").setdefault((post.name, d["person"]), [False, []])
            opened[1].append(event.position)
        elif event.type.endswith(".PostVacated"):
            key = (d["post"], d["person"])
            opened = self.memo("open_terms").get(key)
            if opened is None:
                opened = self.memo("open_terms")[key] = [False, []]
            if not opened[0]:  # merge in the open terms the tables hold
                if not self.complete:
                    opened[1] = sorted(set(opened[1]) | set(conn.execute(
                        _OPEN_TERMS, {"post": d["post"], "person": d["person"]}).scalars()))
                opened[0] = True
            values = {"effective_to": d["effective_to"], "to_utc": utc_key(d["effective_to"]),
                      "vacated_event": event.position, "vacated_by": env.get("actor"),
                      "vacate_reason": d.get("reason") or None}
            for appointed in opened[1]:
                self.buffer(post_terms).update((d["post"], d["person"], appointed), values)
            opened[1] = []


_OPEN_TERMS = select(post_terms.c.appointed_event).where(and_(
    post_terms.c.post == bindparam("post"), post_terms.c.person == bindparam("person"),
    post_terms.c.effective_to.is_(None)))
