"""Which customers a channel message is about, from a per-workspace cache that is never stale.

Every message event asks this, so it must not read every link and name each time. The cache holds
a workspace's links and names with the workspace's routing version. Every change to links, customers
and aliases bumps the version in the same transaction (storage.repo.bump_routing).

A new message is routed from the cache without reading the database. When that says "store it", the
rows go to the group-commit writer with the version they were routed by; the writer compares it with
the workspace's version inside the insert's own transaction and writes nothing if it moved, and the
message is routed again with fresh links. When the cache says "nothing to store", the writer checks
the version before the message is let go, in one read for every message waiting at that moment. So
an acknowledged message is never dropped nor misfiled because a cache was behind, on any instance.
(PostgreSQL LISTEN/NOTIFY would save the read, but arrives a little after the commit: an event in
between would still be routed with the old links.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import customers
from bot.capture import PATH_CHANNEL, PATH_WATCH, MessageIn, channel_message_rows
from storage import connect as connect_repo
from storage import repo
from storage.writer import RoutingChanged, SignalWriter


@dataclass(frozen=True)
class _Routes:
    version: int
    links: dict[str, tuple[str, int | None]]  # channel -> (kind, customer id)
    index: list[tuple[str, int, str]]  # (name key, customer id, name)
    orgs: dict[str, int] = field(default_factory=dict)  # Slack Connect: organisation team id -> customer id


Route = tuple[str, list[int]]  # (capture path, customer ids)


class Router:
    def __init__(self, sf: sessionmaker[Session]) -> None:
        self.sf = sf
        self.engine: Engine = sf.kw["bind"]
        self._lock = threading.Lock()
        self._teams: dict[str, _Routes] = {}

    def _routes(self, team_id: str, check: bool = True) -> _Routes:
        """The workspace's routes; `check`: read its version first and reload when it moved."""
        cached = self._teams.get(team_id)
        if cached is not None and not check:
            return cached
        with self.engine.connect() as conn:
            version = repo.routing_version(conn, team_id=team_id)
        if cached is not None and cached.version == version:
            return cached
        with self.sf() as s:
            links = {link.channel_id: (link.kind, link.customer_id) for link in repo.channel_links(s, team_id=team_id)}
            fresh = _Routes(
                version, links, repo.name_index(s, team_id=team_id), connect_repo.org_customers(s, team_id=team_id)
            )
        with self._lock:
            self._teams[team_id] = fresh
        return fresh

    def route(self, msg: MessageIn) -> Route | None:
        """(capture path, customer ids) for a message by the workspace's current routing, or None when its channel
        is neither linked nor watched."""
        return self._current(msg)[0]

    def _current(self, msg: MessageIn) -> tuple[Route | None, int]:
        """The message's route by the workspace's current routing, and that routing's version."""
        routes = self._routes(msg.team_id)
        return _route(routes, msg), routes.version

    def route_cached(self, msg: MessageIn, writer: SignalWriter) -> tuple[Route | None, int]:
        """The route of a new message and the routing version it was made by, for `store`.

        When the cache says there is something to store, the writer checks the version in the insert's own
        transaction. When it says there is nothing, the writer checks the version now, with the writes
        waiting at that moment, and the message is routed again if it moved.
        """
        routes = self._routes(msg.team_id, check=False)
        route = _route(routes, msg)
        if route is None or not route[1]:
            try:
                writer.check((msg.team_id, routes.version))
            except RoutingChanged:
                return self._current(msg)
        return route, routes.version

    def store(
        self, writer: SignalWriter, msg: MessageIn, route: Route, version: int, now: datetime
    ) -> list[dict[str, Any]]:
        """Store a message's signals as routed by `route_cached`: the rows written, none when, routed again, it
        has no customer.

        If the workspace's routing moved after the route was made, the writer writes nothing and the message
        is routed again by the current links and names (a change of links never drops nor misfiles a message).
        """
        for _ in range(_REROUTES):
            try:
                rows = channel_message_rows(msg, route, now)
                writer.insert(rows, routed=(msg.team_id, version))
                return rows
            except RoutingChanged:
                again, version = self._current(msg)
                if again is None or not again[1]:
                    return []
                route = again
        raise RoutingChanged(msg.team_id)


_REROUTES = 5  # routing changing this many times during one message's write is not a thing people do


def _route(routes: _Routes, msg: MessageIn) -> Route | None:
    link = routes.links.get(msg.channel_id)
    if link is None:
        return None
    kind, customer_id = link
    if msg.external:
        # Slack Connect (https://docs.slack.dev/apis/slack-connect: user_team): someone of another organisation
        # speaks for their own organisation's customer, never for the channel's. Unknown organisation: the linked
        # customer's people while it has no organisation on record, else a third party, not stored.
        theirs = routes.orgs.get(msg.author_team_id or "")
        path = PATH_CHANNEL if kind == "customer" else PATH_WATCH
        if theirs is not None:
            return path, [theirs]
        if kind == "customer" and customer_id is not None and customer_id not in routes.orgs.values():
            return PATH_CHANNEL, [customer_id]
        return path, []
    if kind == "customer" and customer_id is not None:
        return PATH_CHANNEL, [customer_id]
    return PATH_WATCH, customers.mentioned(routes.index, msg.text)
