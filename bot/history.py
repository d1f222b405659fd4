"""Reading messages back from Slack within its rate limits: what the app has seen, and a paced history reader.

Slack gives commercially distributed apps not approved for the Marketplace ONE conversations.history or
conversations.replies request a minute, of at most 15 messages, on installations made since 29 May 2025;
internal apps keep Tier 3 (50+ a minute): https://docs.slack.dev/apis/web-api/rate-limits and
https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps. So the app reads a
message again only when it has to (the capture reaction on a message it never received, the minutes of events
Slack held back), one queued request at a time per workspace, never while a Slack request waits for its answer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler

log = logging.getLogger(__name__)

# (requests a minute, messages a request) by how the app is distributed (SIGNALLOOP_SLACK_DISTRIBUTION)
HISTORY_LIMITS = {"internal": (50, 200), "marketplace": (50, 200), "distributed": (1, 15)}


class RecentMessages:
    """The last messages the app received as events, per process (bounded): the capture reaction reads a
    message here instead of asking Slack for it again."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._msgs: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()

    def add(self, team_id: str, channel_id: str, event: dict[str, Any]) -> None:
        keep = {k: event.get(k) for k in ("ts", "text", "user", "thread_ts", "channel_type", "user_team")}
        with self._lock:
            self._msgs[(team_id, channel_id, event["ts"])] = keep
            self._msgs.move_to_end((team_id, channel_id, event["ts"]))
            while len(self._msgs) > self.size:
                self._msgs.popitem(last=False)

    def get(self, team_id: str, channel_id: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            return self._msgs.get((team_id, channel_id, ts))

    def edit(self, team_id: str, channel_id: str, event: dict[str, Any]) -> None:
        """An edited message: the copy kept follows (only one already kept)."""
        with self._lock:
            known = self._msgs.get((team_id, channel_id, event.get("ts") or ""))
            if known is not None:
                known["text"] = event.get("text")


@dataclass
class Read:
    """One queued request: a message at `ts`, or a page of a channel's history from `oldest` on."""

    team_id: str
    channel_id: str
    done: Callable[[list[dict[str, Any]], str | None], None]  # (messages, Slack's error or None)
    ts: str | None = None
    oldest: str | None = None
    cursor: str | None = None
    replies: bool = False  # the message was not in the channel's history: a thread reply
    finished: Callable[[], None] | None = None  # a window read: after its last page
    also: list[Callable[[list[dict[str, Any]], str | None], None]] = field(default_factory=list)  # same read

    def answer(self, msgs: list[dict[str, Any]], error: str | None) -> None:
        for done in (self.done, *self.also):
            done(msgs, error)


class HistoryReader:
    """One worker reading Slack's history for every workspace, each workspace paced to its rate limit."""

    def __init__(
        self,
        client_for: Callable[[str], WebClient],
        clock: Callable[[], datetime],
        distribution: str = "internal",
    ) -> None:
        per_minute, self.page = HISTORY_LIMITS[distribution]
        # a token bucket per workspace: `per_minute` requests may go at once, refilled at that rate
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens a second
        self.client_for = client_for
        self.clock = clock
        self._cond = threading.Condition()
        self._queue: list[Read] = []
        self._bucket: dict[str, tuple[float, datetime]] = {}  # team -> (tokens, as of)
        self._busy = 0
        self._stop = False
        self._thread: threading.Thread | None = None

    # --- asking -----------------------------------------------------------------------------------------

    def message(
        self, team_id: str, channel_id: str, ts: str, done: Callable[[dict[str, Any] | None, str | None], None]
    ) -> None:
        """Read one message (history, then its thread); `done(message or None, error)` runs on the worker."""

        def found(msgs: list[dict[str, Any]], error: str | None) -> None:
            done(next((m for m in msgs if m.get("ts") == ts), None), error)

        with self._cond:
            # the same message asked again (a retried event, a second person reacting) rides on the queued read
            queued = next(
                (r for r in self._queue if (r.team_id, r.channel_id, r.ts) == (team_id, channel_id, ts)), None
            )
            if queued is not None:
                queued.also.append(found)
                return
        self._put(Read(team_id, channel_id, found, ts=ts))

    def window(
        self,
        team_id: str,
        channel_id: str,
        oldest: datetime,
        page: Callable[[list[dict[str, Any]], str | None], None],
        finished: Callable[[], None],
    ) -> None:
        """Read a channel's messages from `oldest` to now, page by page, each page a paced request; `page` runs
        for each page, then `finished` once (also after an error)."""
        self._put(Read(team_id, channel_id, page, oldest=f"{oldest.timestamp():.6f}", finished=finished))

    def wait(self, team_id: str, channel_id: str | None = None, ts: str | None = None) -> float:
        """Seconds before a read of this message asked for now would go: the workspace's next turn and the reads
        queued ahead (only those before it when the same read is queued already)."""
        with self._cond:
            ahead = 0
            for r in self._queue:
                if r.team_id != team_id:
                    continue
                if ts is not None and (r.channel_id, r.ts) == (channel_id, ts):
                    break
                ahead += 1
            return max(0.0, (ahead + 1 - self._tokens(team_id, self.clock())) / self.rate)

    def _tokens(self, team_id: str, now: datetime) -> float:
        """Requests the workspace may send now (below 1 until a 429's Retry-After has passed)."""
        tokens, at = self._bucket.get(team_id, (self.capacity, now))
        return min(self.capacity, tokens + (now - at).total_seconds() * self.rate)

    def wake(self) -> None:
        """Look again now (the clock moved, in tests)."""
        with self._cond:
            self._cond.notify_all()

    def idle(self) -> bool:
        with self._cond:
            return not self._queue and not self._busy

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- the worker -------------------------------------------------------------------------------------

    def _put(self, read: Read) -> None:
        with self._cond:
            self._queue.append(read)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="history-reader", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _take(self) -> Read | None:
        """The first queued read whose workspace may ask now; waits (on the clock) until there is one."""
        with self._cond:
            while not self._stop:
                now = self.clock()
                for i, r in enumerate(self._queue):
                    tokens = self._tokens(r.team_id, now)
                    if tokens >= 1:
                        self._bucket[r.team_id] = (tokens - 1, now)
                        self._busy += 1
                        return self._queue.pop(i)
                # nothing queued: sleep until asked; throttled: the injected clock (a test's, maybe) is looked at
                # again every half second
                self._cond.wait(timeout=0.5 if self._queue else None)
            return None

    def _run(self) -> None:
        while True:
            read = self._take()
            if read is None:
                return
            try:
                self._do(read)
            except Exception:  # noqa: BLE001 - one failed read must not stop the others
                log.exception("history read failed in %s", read.channel_id)
                if read.finished is not None:
                    read.finished()
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _client(self, team_id: str) -> WebClient:
        # 429s are waited out here, by pacing, not by the client sleeping on its own
        base = self.client_for(team_id)
        return WebClient(
            token=base.token,
            base_url=base.base_url,
            timeout=base.timeout,
            retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2)],
        )

    def _do(self, read: Read) -> None:
        client = self._client(read.team_id)
        try:
            if read.ts is not None and read.replies:
                res = client.conversations_replies(
                    channel=read.channel_id, ts=read.ts, oldest=read.ts, latest=read.ts, inclusive=True, limit=2
                )
            elif read.ts is not None:
                res = client.conversations_history(
                    channel=read.channel_id, latest=read.ts, oldest=read.ts, inclusive=True, limit=1
                )
            else:
                res = client.conversations_history(
                    channel=read.channel_id, oldest=read.oldest, inclusive=True, limit=self.page, cursor=read.cursor
                )
        except SlackApiError as e:
            error = e.response.get("error") or "error"
            if e.response.status_code == 429:
                wait = float(e.response.headers.get("Retry-After") or 60)
                log.info("history read for %s rate limited: again in %.0f s", read.team_id, wait)
                with self._cond:
                    # one request becomes possible when Retry-After has passed
                    self._bucket[read.team_id] = (1.0, self.clock() + timedelta(seconds=wait))
                    self._queue.insert(0, read)
                return
            log.warning("could not read history of %s: %s", read.channel_id, error)
            read.answer([], error)
            if read.finished is not None:
                read.finished()
            return
        msgs = list(res.get("messages") or [])
        if read.ts is not None and not read.replies and not any(m.get("ts") == read.ts for m in msgs):
            read.replies = True  # not in the channel's history: a reply in a thread, read on the next turn
            self._put(read)
            return
        read.answer(msgs, None)
        cursor = (res.get("response_metadata") or {}).get("next_cursor")
        if read.ts is None and res.get("has_more") and cursor:
            self._put(
                Read(
                    read.team_id, read.channel_id, read.done, oldest=read.oldest, cursor=cursor, finished=read.finished
                )
            )
        elif read.finished is not None:
            read.finished()
