"""Minutes of events Slack held back, read back from history.

Past 30,000 events an hour from one workspace Slack stops sending that workspace's events and sends one
`app_rate_limited` notice instead, with the minute it began (https://docs.slack.dev/reference/events/app_rate_limited).
The gap is noted (in the database, so a restart keeps it); when events flow again for the workspace — the first
event after the notice — every linked and watch channel is read from the gap's first minute to then, through the
paced history reader (bot.history: 1 request a minute for a distributed app), and each person's message is
routed as if its event had come. Signals are unique per message and customer, so what did arrive is not doubled.
Thread replies are not read back: each thread would cost a request of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot import capture
from bot.capture import MessageIn, is_person_message
from bot.directory import Directory
from bot.history import HistoryReader
from bot.safety import unescape
from storage import repo, slack_state

log = logging.getLogger(__name__)


class Backfill:
    """Notes Slack's gaps (on the request, database only) and reads them back (on the history reader)."""

    def __init__(
        self,
        sf: sessionmaker[Session],
        clock: Callable[[], datetime],
        reader: HistoryReader,
        directory: Directory,
        client_for: Callable[[str], WebClient],
        route: Callable[[MessageIn], tuple[str, list[int]] | None] | None = None,
    ) -> None:
        self.sf = sf
        self.clock = clock
        self.reader = reader
        self.directory = directory
        self.client_for = client_for
        self.route = route  # the live path's routing (bot.routing.Router.route), Slack Connect's rules included
        self._lock = threading.Lock()
        self._open: dict[str, bool] = {}  # team -> a gap waits for events to flow again (unknown: not in it)
        self._running: set[str] = set()

    def noticed(self, team_id: str, minute: int) -> bool:
        """An app_rate_limited notice: the gap noted (False when it already was)."""
        start = datetime.fromtimestamp(minute, tz=UTC)
        with self.sf.begin() as s:
            new = slack_state.save_gap(s, team_id=team_id, start_at=start, now=self.clock())
        with self._lock:
            self._open[team_id] = True
        if not new:
            return False
        log.warning(
            "Slack is holding back events for %s since %s (more than 30,000 events an hour, app_rate_limited): "
            "the linked and watch channels will be read back from history once events flow again",
            team_id,
            start.isoformat(),
        )
        return True

    def event_arrived(self, team_id: str) -> None:
        """Any event of the workspace: after a gap, events flow again, so the gap can be read back now."""
        with self._lock:
            open_ = self._open.get(team_id)
        if open_ is None:
            with self.sf() as s:
                open_ = bool(slack_state.open_gaps(s, team_id=team_id))
            with self._lock:
                self._open[team_id] = open_
        if not open_:
            return
        with self._lock:
            if team_id in self._running:
                return
            self._running.add(team_id)
        self._start(team_id)

    def _start(self, team_id: str) -> None:
        with self.sf() as s:
            gaps = [(g.id, g.start_at) for g in slack_state.open_gaps(s, team_id=team_id)]
            channels = [link.channel_id for link in repo.channel_links(s, team_id=team_id)]
        if not gaps:
            self._done(team_id, [])
            return
        oldest = min(start for _, start in gaps)
        ids = [gid for gid, _ in gaps]
        log.info("reading back %d channel(s) of %s from %s", len(channels), team_id, oldest.isoformat())
        left = [len(channels)]
        if not channels:
            self._done(team_id, ids)
            return

        def finished() -> None:
            with self._lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                self._done(team_id, ids)

        for channel_id in channels:
            self.reader.window(team_id, channel_id, oldest, self._page(team_id, channel_id), finished)

    def _page(self, team_id: str, channel_id: str) -> Callable[[list[dict[str, Any]], str | None], None]:
        def page(msgs: list[dict[str, Any]], error: str | None) -> None:
            if error:
                log.warning("could not read back %s of %s: %s", channel_id, team_id, error)
                return
            client = self.client_for(team_id)
            stored = 0
            for m in msgs:
                if not is_person_message(m):
                    continue
                msg = MessageIn(
                    team_id=team_id,
                    channel_id=channel_id,
                    ts=m["ts"],
                    text=unescape(m.get("text") or ""),
                    user_id=m.get("user"),
                    thread_ts=m.get("thread_ts"),
                    is_private=self.directory.channel_private(client, team_id, channel_id),
                    author_name=self.directory.user_name(team_id, m.get("user")),
                    permalink=self.directory.permalink(team_id, channel_id, m["ts"], m.get("thread_ts")),
                    author_team_id=m.get("user_team") or m.get("team"),  # Slack Connect: the author's organisation
                )
                route = self.route(msg) if self.route is not None else None
                if self.route is not None and (route is None or not route[1]):
                    continue  # routed as its event would have been: not a customer's
                with self.sf.begin() as s:
                    new = capture.capture_channel_message(s, msg, self.clock(), route=route)
                stored += len(new)
                if new and msg.author_name is None:
                    self.directory.learn(team_id, msg.user_id)
            log.info("read back %d message(s) of %s in %s: %d new signal(s)", len(msgs), team_id, channel_id, stored)

        return page

    def _done(self, team_id: str, gap_ids: list[int]) -> None:
        now = self.clock()
        with self.sf.begin() as s:
            for gid in gap_ids:
                slack_state.close_gap(s, gap_id=gid, now=now)
            # a notice that came while these were read is read back at the next event
            more = bool(slack_state.open_gaps(s, team_id=team_id))
        with self._lock:
            self._running.discard(team_id)
            self._open[team_id] = more
        log.info("events Slack held back for %s are read back", team_id)
