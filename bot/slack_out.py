"""The one way out to Slack: every message, ephemeral, DM, edit, file, modal and App Home the app sends.

Commands, jobs and listeners decide what to say; this module says it. In one place, then:
- pacing: posts to one channel (or one person's DM) at least a second apart, across every thread of the process
  (https://docs.slack.dev/reference/methods/chat.postMessage: "1 per second per channel", short bursts allowed);
- 429s: the background clients (`client_for`) sleep out Retry-After and try again
  (slack_sdk's RateLimitErrorRetryHandler, https://docs.slack.dev/apis/web-api/rate-limits); the request's own
  client, passed for a modal, does not wait (its answer is due within 3 seconds);
- errors: a call Slack refuses is logged once, here, with what it was, and comes back as `Sent(ok=False, error=…)`
  for the caller to act on (tell the person, record a failed digest); it never raises. A connection that fails
  after slack_sdk's retries still raises, so a claimed digest stays claimed and is retaken later.
Nothing outside this module calls the Web API's write methods (tests/unit/test_house.py reads the code for it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

# Slack allows about one message per second per channel (https://docs.slack.dev/apis/web-api/rate-limits, "Posting
# messages"), counted as the posts arrive: a margin over the second keeps two posts whose requests left a second
# apart from arriving closer than that when the first was slower on its way
CHANNEL_GAP = 1.05

# the Web API methods that change something in Slack: only this module calls them
WRITE_METHODS = frozenset(
    {
        "chat_postMessage",
        "chat_postEphemeral",
        "chat_update",
        "chat_delete",
        "chat_scheduleMessage",
        "files_upload_v2",
        "views_open",
        "views_update",
        "views_push",
        "views_publish",
        "reactions_add",
        "reactions_remove",
        "conversations_join",
    }
)


@dataclass(frozen=True)
class Sent:
    """What came of one call: the message's ts when posted, or the error Slack answered."""

    ok: bool
    ts: str | None = None
    error: str | None = None

    def __bool__(self) -> bool:
        return self.ok


class ChannelPacer:
    """Spaces posts to one channel at least `gap` seconds apart, across every thread of this process."""

    def __init__(
        self,
        gap: float = CHANNEL_GAP,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.gap = gap
        self.monotonic = monotonic
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, channel: str) -> None:
        with self._lock:
            now = self.monotonic()
            at = max(now, self._next.get(channel, 0.0))
            self._next[channel] = at + self.gap
        if at > now:
            self.sleep(at - now)


class SlackOut:
    """Sends to Slack for one process: `client_for(team_id)` is the workspace's background client."""

    def __init__(self, client_for: Callable[[str], WebClient], pacer: ChannelPacer | None = None) -> None:
        self.client_for = client_for
        self.pacer = pacer or ChannelPacer()

    def _call(self, what: str, where: str, call: Callable[[], Any]) -> Sent:
        try:
            res = call()
        except SlackApiError as e:
            error = str(e.response.get("error") or f"HTTP {e.response.status_code}")
            log.warning("Slack refused %s in %s: %s", what, where, error)
            return Sent(False, error=error)
        ts = res.get("ts") if res is not None else None
        return Sent(True, ts=ts if isinstance(ts, str) else None)

    # --- messages ---------------------------------------------------------------------

    def post(
        self,
        team_id: str,
        channel: str,
        text: str,
        blocks: list[Any] | None = None,
        *,
        thread_ts: str | None = None,
        what: str = "a message",
        client: WebClient | None = None,
    ) -> Sent:
        """chat.postMessage, paced per channel, links not unfurled (quotes and links are the team's own)."""
        c = client or self.client_for(team_id)
        self.pacer.wait(channel)
        return self._call(
            what,
            channel,
            lambda: c.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            ),
        )

    def dm(
        self,
        team_id: str,
        user: str,
        text: str,
        blocks: list[Any] | None = None,
        *,
        what: str = "a direct message",
        client: WebClient | None = None,
    ) -> Sent:
        """A message in the app's DM with `user` (chat.postMessage with the user's id as the channel)."""
        return self.post(team_id, user, text, blocks, what=what, client=client)

    def ephemeral(
        self,
        team_id: str,
        channel: str,
        user: str,
        text: str,
        blocks: list[Any] | None = None,
        *,
        thread_ts: str | None = None,
        what: str = "an ephemeral message",
        client: WebClient | None = None,
    ) -> Sent:
        """chat.postEphemeral: seen by `user` only (not paced: nothing is added to the channel)."""
        c = client or self.client_for(team_id)
        return self._call(
            what,
            channel,
            lambda: c.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks, thread_ts=thread_ts),
        )

    def ephemeral_or_dm(
        self, team_id: str, channel: str, user: str, text: str, blocks: list[Any] | None = None, *, what: str
    ) -> Sent:
        """Ephemeral in `channel`; by DM when the app cannot post there (not a member, or no such channel)."""
        sent = self.ephemeral(team_id, channel, user, text, blocks, what=what)
        if sent.error in ("not_in_channel", "channel_not_found"):
            return self.dm(team_id, user, text, blocks, what=what)
        return sent

    def update(
        self,
        team_id: str,
        channel: str,
        ts: str,
        text: str,
        blocks: list[Any] | None = None,
        *,
        what: str = "an edit",
        client: WebClient | None = None,
    ) -> Sent:
        """chat.update of a message the app posted."""
        c = client or self.client_for(team_id)
        return self._call(what, channel, lambda: c.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))

    def upload(
        self,
        team_id: str,
        channel: str,
        content: bytes,
        filename: str,
        title: str,
        *,
        thread_ts: str | None = None,
        what: str = "a file",
    ) -> Sent:
        """files_upload_v2 (Slack's upload flow: getUploadURLExternal, the upload, completeUploadExternal)."""
        c = self.client_for(team_id)
        self.pacer.wait(channel)
        return self._call(
            what,
            channel,
            lambda: c.files_upload_v2(
                channel=channel, thread_ts=thread_ts, content=content, filename=filename, title=title
            ),
        )

    # --- surfaces ---------------------------------------------------------------------

    def publish_home(self, team_id: str, user: str, view: dict[str, Any]) -> Sent:
        """views.publish of `user`'s App Home."""
        c = self.client_for(team_id)
        return self._call("App Home", user, lambda: c.views_publish(user_id=user, view=view))

    def open_modal(self, client: WebClient, trigger_id: str | None, view: dict[str, Any]) -> Sent:
        """views.open on the request's client, now: a trigger_id expires 3 seconds after the interaction
        (https://docs.slack.dev/surfaces/modals)."""
        return self._call("a modal", "views.open", lambda: client.views_open(trigger_id=trigger_id, view=view))

    def update_modal(self, client: WebClient, view_id: str, view: dict[str, Any], view_hash: str | None = None) -> Sent:
        """views.update of an open modal; with its hash, a modal changed meanwhile is not overwritten."""
        return self._call(
            "a modal update", view_id, lambda: client.views_update(view_id=view_id, hash=view_hash, view=view)
        )
