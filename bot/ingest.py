"""A message in, a signal out: the one capture service behind every listener that records what was said.

It owns the way from a Slack message to a committed row: the message read once into a `MessageIn` (author
and permalink from the directory's caches, never a Web API wait), routed from the in-memory routing cache,
written by the group-commit writer (which checks the routing version in the insert's own transaction), and
what follows a stored signal (the author's name learned afterwards, a burst scan woken). Handlers parse the
payload and make one call here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from bot import capture, learning
from bot.capture import MessageIn
from bot.effects import Effect
from bot.kinds import BURST_KINDS
from bot.routing import Router
from bot.safety import unescape
from storage.writer import SignalWriter

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.connect import Connector
    from bot.directory import Directory
    from bot.history import RecentMessages


class Ingest:
    """Messages from Slack's events (and from paths that read them back) into signals."""

    def __init__(
        self,
        sf: sessionmaker[Session],
        clock: Callable[[], datetime],
        router: Router,
        writer: SignalWriter,
        directory: Directory,
        recent: RecentMessages,
        connect: Connector | None,
        submit: Callable[..., object],
        wake: Callable[[str], None],
    ) -> None:
        self.sf = sf
        self.clock = clock
        self.router = router
        self.writer = writer
        self.directory = directory
        self.recent = recent
        self.connect = connect
        self.submit = submit  # runs work after the answer to Slack (bot.afterwards)
        self.wake = wake  # brings a periodic job forward (bot.scheduler.Wakeups)

    def message_in(
        self,
        team_id: str,
        channel_id: str,
        msg: dict[str, Any],
        event_id: str | None = None,
        channel_type: str | None = None,
        client: WebClient | None = None,
        named: bool = True,
    ) -> MessageIn:
        """A Slack message payload as capture needs it: author and permalink from caches, never a Web API wait.

        Privacy comes from the event's channel_type; only a path that already reads the message from Slack
        (a reaction, a shortcut: `client` given) may ask conversations.info. `named=False` leaves the author's
        name and the permalink out (`named` adds them).
        """
        ts = msg["ts"]
        thread_ts = msg.get("thread_ts")
        if channel_type:
            private = channel_type in ("group", "im", "mpim")
        elif client is not None:
            private = self.directory.channel_private(client, team_id, channel_id)
        else:  # Slack's is_private from the cache; unknown is taken as private, the safe side for quoting
            known = self.directory.cached_private(team_id, channel_id)
            private = True if known is None else known
        return MessageIn(
            team_id=team_id,
            channel_id=channel_id,
            ts=ts,
            text=unescape(msg.get("text") or ""),
            user_id=msg.get("user"),
            thread_ts=thread_ts,
            event_id=event_id,
            is_private=private,
            author_name=self.directory.user_name(team_id, msg.get("user")) if named else None,
            permalink=self.directory.permalink(team_id, channel_id, ts, thread_ts) if named else None,
            # Slack Connect: the author's own organisation (https://docs.slack.dev/apis/slack-connect: user_team)
            author_team_id=msg.get("user_team") or msg.get("team"),
        )

    def named(self, msg: MessageIn) -> MessageIn:
        """`msg` with its author's name and permalink, from the directory's caches."""
        return replace(
            msg,
            author_name=self.directory.user_name(msg.team_id, msg.user_id),
            permalink=self.directory.permalink(msg.team_id, msg.channel_id, msg.ts, msg.thread_ts),
        )

    def message(self, team_id: str, event: dict[str, Any], event_id: str | None) -> list[Effect]:
        """A person's new message: a learning when it answers a digest's question, else the signals of its
        customers, committed before this returns (the acknowledgement that follows means stored)."""
        channel_id = event.get("channel") or ""
        # kept for a capture reaction on it later: read here rather than from Slack's rate-limited history
        self.recent.add(team_id, channel_id, event)
        # named only once routed: most messages are in channels that store nothing, and a name the directory
        # does not hold in memory is a database read
        msg = self.message_in(team_id, channel_id, event, event_id, event.get("channel_type"), named=False)
        thread_ts = event.get("thread_ts")
        replying = bool(thread_ts and thread_ts != msg.ts)
        if replying:
            # a reply in a digest's thread is an answer to the loop's question, not a customer signal
            effects = learning.answer_in_thread(
                self.sf, team_id, channel_id, msg.ts, thread_ts, msg.user_id, msg.text, self.clock()
            )
            if effects is not None:
                return effects
        if self.connect is not None and self.connect.met(team_id, channel_id, msg.external):
            # a channel shared with another organisation: what it is, and whose, asked of Slack after the answer
            self.submit(self.connect.discover, team_id, channel_id)
        route, version = self.router.route_cached(msg, self.writer)
        if route is None or not route[1]:
            return []  # not a linked or watch channel, or no customer named: nothing to store
        if replying and thread_ts is not None and not msg.external and self.connect is not None:
            # a team member's reply in a customer's thread answers their question (no more waiting, no nudge)
            self.connect.answered(team_id, channel_id, thread_ts, msg.user_id)
        msg = self.named(msg)
        rows = self.router.store(self.writer, msg, route, version, self.clock())
        if not rows:
            return []  # routed again after a change of links: no longer a customer's
        if any(row["kind"] in BURST_KINDS for row in rows):
            self.wake("nudges_burst")  # it may complete a burst: the owner hears in seconds, not at the next scan
        if msg.author_name is None or msg.permalink is None or self.directory.stale(team_id, msg.user_id):
            self.directory.learn(team_id, msg.user_id)  # the name follows, without holding the acknowledgement
        self.directory.learn_channels(team_id, msg.text)
        return []

    def edit(self, team_id: str, event: dict[str, Any]) -> None:
        """A person edited a message: its signals follow (their text, kind and sentiment; the edit time kept)."""
        new = event.get("message") or {}
        if not new.get("ts"):
            return
        channel_id = event.get("channel") or ""
        self.recent.edit(team_id, channel_id, new)
        edited = (new.get("edited") or {}).get("ts") or event.get("event_ts") or event.get("ts")
        assert edited is not None  # every event Slack sends has an event_ts
        msg = self.message_in(team_id, channel_id, new, None, event.get("channel_type") or "channel")
        route = self.router.route(msg)
        with self.sf.begin() as s:
            capture.edit_message(s, msg, route, capture.ts_to_datetime(edited), self.clock())

    def delete(self, team_id: str, event: dict[str, Any]) -> None:
        """A message was deleted: its signals are marked deleted and their text erased."""
        ts = event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts")
        if not ts:
            return
        with self.sf.begin() as s:
            capture.delete_message(s, team_id, event.get("channel") or "", ts, self.clock())
