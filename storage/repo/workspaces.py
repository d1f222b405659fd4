"""Workspaces: the row itself, the routing version every routing change bumps, the list of teams."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from storage.models import Workspace
from storage.repo._sql import dialect_insert


def ensure_workspace(session: Session, *, team_id: str, now: datetime) -> Workspace:
    ws = session.get(Workspace, team_id)
    if ws is None:
        session.execute(
            dialect_insert(session, Workspace)
            .values(team_id=team_id, created_at=now, llm_include_private=False)
            .on_conflict_do_nothing(index_elements=["team_id"])
        )
        ws = session.get(Workspace, team_id)
    assert ws is not None
    return ws


def get_workspace(session: Session, *, team_id: str) -> Workspace | None:
    return session.get(Workspace, team_id)


def bump_routing(session: Session, *, team_id: str) -> None:
    """Links, customers or aliases changed: every instance re-reads its routing cache before the next event."""
    session.execute(
        update(Workspace).where(Workspace.team_id == team_id).values(routing_version=Workspace.routing_version + 1)
    )


_ROUTING_VERSIONS = select(Workspace.team_id, Workspace.routing_version).where(
    Workspace.team_id.in_(bindparam("team_ids", expanding=True))
)


def routing_version(conn: Connection, *, team_id: str) -> int:
    """The workspace's routing version (0 before anything was set up): one primary-key read."""
    return routing_versions(conn, team_ids=[team_id]).get(team_id, 0)


def routing_versions(conn: Connection, *, team_ids: Iterable[str]) -> dict[str, int]:
    """The routing versions of several workspaces at once (a workspace not set up yet is absent: version 0).

    The group-commit writer asks once per batch, so it is one prepared Core statement, not an ORM query."""
    rows = conn.execute(_ROUTING_VERSIONS, {"team_ids": list(team_ids)})
    return {team_id: version or 0 for team_id, version in rows}


def team_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Workspace.team_id)))
