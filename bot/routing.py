"""Which customers a channel message is about, from a per-workspace cache that is never stale.

Every message event asks this, so it must not read every link and name each time. The cache holds
a workspace's links and names with the workspace's routing version; each event reads that one
number (a primary-key read) and reloads the cache when it moved. Every change to links, customers
and aliases bumps the version in the same transaction (storage.repo.bump_routing), so the next
event on any instance routes with it: an acknowledged message is never dropped because a cache
was behind. (PostgreSQL LISTEN/NOTIFY would save the read, but arrives a little after the commit:
an event in between would still be routed with the old links.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot import customers
from bot.capture import PATH_CHANNEL, PATH_WATCH, MessageIn
from storage import repo


@dataclass(frozen=True)
class _Routes:
    version: int
    links: dict[str, tuple[str, int | None]]  # channel -> (kind, customer id)
    index: list[tuple[str, int, str]]  # (name key, customer id, name)


class Router:
    def __init__(self, sf: sessionmaker[Session]) -> None:
        self.sf = sf
        self._lock = threading.Lock()
        self._teams: dict[str, _Routes] = {}

    def _routes(self, team_id: str) -> _Routes:
        cached = self._teams.get(team_id)
        with self.sf() as s:
            version = repo.routing_version(s, team_id)
            if cached is not None and cached.version == version:
                return cached
            links = {link.channel_id: (link.kind, link.customer_id) for link in repo.channel_links(s, team_id)}
            fresh = _Routes(version, links, repo.name_index(s, team_id))
        with self._lock:
            self._teams[team_id] = fresh
        return fresh

    def route(self, msg: MessageIn) -> tuple[str, list[int]] | None:
        """(capture path, customer ids) for a message, or None when its channel is neither linked nor watched."""
        routes = self._routes(msg.team_id)
        link = routes.links.get(msg.channel_id)
        if link is None:
            return None
        kind, customer_id = link
        if kind == "customer" and customer_id is not None:
            return PATH_CHANNEL, [customer_id]
        return PATH_WATCH, customers.mentioned(routes.index, msg.text)
