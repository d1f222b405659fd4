"""What the app learns from Slack about people, channels and the workspace, cached in the database.

Nothing on the path from a Slack request to its acknowledgement waits on Slack's Web API: a person's
name comes from the cache, and an unknown person is looked up afterwards by a background thread
(users.info), which then fills the name into their signals. Permalinks are built locally from the
workspace's URL (auth.test, once per workspace, also in the background).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from storage import connect as connect_repo
from storage import repo

log = logging.getLogger(__name__)

FRESH = timedelta(days=7)
RETRY_SECONDS = 30.0  # an unanswered look-up is tried again this long after it failed


def permalink(base: str | None, channel_id: str, ts: str, thread_ts: str | None = None) -> str | None:
    """A message's permalink from the workspace URL (what chat.getPermalink answers, without the call)."""
    if not base or ts.startswith("cmd:"):
        return None
    link = f"{base.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel_id}"
    return link


def _save_channel(s: Session, team_id: str, ch: dict[str, Any], now: datetime) -> None:
    """What conversations.info said, Slack Connect's fields with it (https://docs.slack.dev/apis/slack-connect)."""
    connect_repo.save_channel(
        s,
        team_id=team_id,
        channel_id=ch["id"],
        name=ch.get("name"),
        is_private=bool(ch.get("is_private") or ch.get("is_im") or ch.get("is_mpim")),
        is_ext_shared=bool(ch.get("is_ext_shared")),
        is_shared=bool(ch.get("is_shared")),
        connected_team_ids=ch.get("connected_team_ids") or [],
        is_member=None,
        now=now,
    )


class Directory:
    """Names, privacy and permalinks from caches; what is missing is asked of Slack in the background."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime],
        client_for: Callable[[str], WebClient] | None = None,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.sf = session_factory
        self.retry_seconds = retry_seconds
        self.clock = clock
        self.client_for = client_for
        self._lock = threading.Lock()
        self._names: dict[tuple[str, str], str] = {}
        # names read from rows older than FRESH: kept in memory like the others, and asked of Slack again once
        self._stale: set[tuple[str, str]] = set()
        self._private: dict[tuple[str, str], bool] = {}
        self._urls: dict[str, str] = {}
        self._channel_names: dict[tuple[str, str], str] = {}
        self._pending: set[tuple[str, str]] = set()  # (team, user id) or (team, "") for the workspace URL
        self._again: set[tuple[str, str]] = set()
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- reads on the hot path: caches only ---------------------------------------------------------

    def user_name(self, team_id: str, user_id: str | None) -> str | None:
        """A person's display name if known (never a mention: quoting someone must not ping them).

        Unknown or stale: None (or the old name) now; call `learn` once what uses the name is committed (`stale`
        tells). A stale name is kept in memory like a fresh one: the hot path reads the database for it once, not
        for every message until Slack is asked again.
        """
        if not user_id:
            return None
        k = (team_id, user_id)
        name = self._names.get(k)
        if name is not None:
            return name
        with self.sf() as s:
            u = repo.slack_user(s, team_id=team_id, user_id=user_id)
            fresh = u is not None and u.name and self.clock() - u.updated_at < FRESH
            name = u.name if u is not None else None
        if name:
            with self._lock:
                self._names[k] = name
                if not fresh:
                    self._stale.add(k)
        return name

    def stale(self, team_id: str, user_id: str | None) -> bool:
        """The name `user_name` gave is older than FRESH and Slack has not been asked again yet."""
        return user_id is not None and (team_id, user_id) in self._stale

    def learn_channels(self, team_id: str, text: str) -> None:
        """Channels a message mentions without their name (`<#C…>`): their names are looked up in the background,
        so quotes show #name."""
        for channel_id in re.findall(r"<#([CG][A-Z0-9]+)(?:\|)?>", text):
            if (team_id, channel_id) not in self._channel_names:
                self._ask(team_id, "#" + channel_id)

    def remember_channel(self, team_id: str, channel_id: str, name: str | None) -> None:
        """A channel's name as a command's payload gave it (no Web API call)."""
        if not name or name in ("privategroup", "directmessage") or name.startswith("mpdm-"):
            return
        if self._channel_names.get((team_id, channel_id)) == name:
            return
        with self.sf.begin() as s:
            repo.save_channel_name(s, team_id=team_id, channel_id=channel_id, name=name, now=self.clock())
        with self._lock:
            self._channel_names[(team_id, channel_id)] = name

    def learn(self, team_id: str, user_id: str | None) -> None:
        """After signals were committed without a name or permalink: look the person (and, once, the workspace's
        URL) up in the background, then fill them into those signals."""
        if user_id:
            self._ask(team_id, user_id)
        if team_id not in self._urls:
            self._ask(team_id, "")

    def user_tz(self, team_id: str, user_id: str) -> str | None:
        with self.sf() as s:
            u = repo.slack_user(s, team_id=team_id, user_id=user_id)
            return u.tz if u else None

    def workspace_url(self, team_id: str) -> str | None:
        url = self._urls.get(team_id)
        if url is not None:
            return url
        with self.sf() as s:
            ws = repo.get_workspace(s, team_id=team_id)
            url = ws.url if ws else None
        if url:
            with self._lock:
                self._urls[team_id] = url
        return url

    def permalink(self, team_id: str, channel_id: str, ts: str, thread_ts: str | None = None) -> str | None:
        return permalink(self.workspace_url(team_id), channel_id, ts, thread_ts)

    def channel_private(
        self, client: WebClient, team_id: str, channel_id: str, channel_type: str | None = None
    ) -> bool:
        """True for private channels and DMs; a message event's channel_type answers without a call.

        Only paths that already call Slack for the message itself (a reaction, a shortcut) reach
        conversations.info here.
        """
        if channel_type:
            return channel_type in ("group", "im", "mpim")
        # never from the id's first letter: Slack's own is_private (conversations.info), cached
        k = (team_id, channel_id)
        if k in self._private:
            return self._private[k]
        known = self.cached_private(team_id, channel_id)
        if known is not None:
            return known
        try:
            ch = client.conversations_info(channel=channel_id)["channel"]
            private = bool(ch.get("is_private") or ch.get("is_im") or ch.get("is_mpim"))
        except SlackApiError as e:
            # unknown: treat as private, the safe side for quoting
            log.warning("conversations.info failed for %s: %s", channel_id, e.response.get("error"))
            return True
        with self.sf.begin() as s:
            _save_channel(s, team_id, ch, self.clock())
        with self._lock:
            self._private[k] = private
        return private

    def cached_private(self, team_id: str, channel_id: str) -> bool | None:
        """Whether Slack said the channel is private, from the cache; None when Slack has not said yet."""
        k = (team_id, channel_id)
        if k in self._private:
            return self._private[k]
        with self.sf() as s:
            info = repo.channel_info(s, team_id=team_id, channel_id=channel_id)
            if info is None or info.checked_at is None:
                return None
            private = info.is_private
        with self._lock:
            self._private[k] = private
        return private

    # --- the background look-ups ------------------------------------------------------------------

    def _ask(self, team_id: str, user_id: str) -> None:
        if self.client_for is None:
            return
        with self._lock:
            if (team_id, user_id) in self._pending:
                # asked while a look-up runs: signals stored meanwhile get the name in one more pass
                self._again.add((team_id, user_id))
                return
            self._pending.add((team_id, user_id))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="directory", daemon=True)
                self._thread.start()
        self._queue.put((team_id, user_id))

    def _run(self) -> None:
        retry: list[tuple[float, tuple[str, str]]] = []
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                item = None
            if self._stop.is_set():
                return
            if item is not None:
                if not self._resolve(*item):
                    retry.append((time.monotonic() + self.retry_seconds, item))
                    continue
                with self._lock:
                    self._stale.discard(item)  # Slack answered (a new name, or none): not asked again for it
                    if item in self._again:
                        self._again.discard(item)
                        self._queue.put(item)
                    else:
                        self._pending.discard(item)
            now = time.monotonic()
            due = [r for r in retry if r[0] <= now]
            retry = [r for r in retry if r[0] > now]
            for _, again in due:
                self._queue.put(again)

    def _resolve(self, team_id: str, user_id: str) -> bool:
        """Ask Slack once; True when answered (or when Slack says the person does not exist)."""
        assert self.client_for is not None
        try:
            client = self.client_for(team_id)
            if user_id.startswith("#"):
                ch = client.conversations_info(channel=user_id[1:])["channel"]
                private = bool(ch.get("is_private") or ch.get("is_im") or ch.get("is_mpim"))
                with self.sf.begin() as s:
                    _save_channel(s, team_id, {**ch, "id": user_id[1:], "is_private": private}, self.clock())
                with self._lock:
                    self._channel_names[(team_id, user_id[1:])] = ch.get("name") or ""
                return True
            if not user_id:
                url = client.auth_test().get("url")
                if url:
                    with self.sf.begin() as s:
                        repo.ensure_workspace(s, team_id=team_id, now=self.clock()).url = url
                        repo.fill_permalinks(s, team_id=team_id, link=lambda ch, ts, th: permalink(url, ch, ts, th))
                    with self._lock:
                        self._urls[team_id] = url
                return True
            known = self._names.get((team_id, user_id))
            if known is not None and (team_id, user_id) not in self._stale:
                with self.sf.begin() as s:
                    repo.fill_author_names(s, team_id=team_id, user_id=user_id, name=known)
                return True
            user = client.users_info(user=user_id)["user"]
        except SlackApiError as e:
            err = e.response.get("error") if e.response is not None else str(e)
            if err in ("user_not_found", "account_inactive", "channel_not_found"):
                return True
            log.warning("Slack look-up failed for %s/%s: %s; trying again later", team_id, user_id or "workspace", err)
            return False
        except Exception as e:  # noqa: BLE001 - a network fault: try again later, never crash the thread
            log.warning(
                "Slack look-up failed for %s/%s: %s; trying again later",
                team_id,
                user_id or "workspace",
                type(e).__name__,
            )
            return False
        prof = user.get("profile") or {}
        name = prof.get("display_name") or prof.get("real_name") or user.get("real_name") or user.get("name")
        try:
            with self.sf.begin() as s:
                repo.save_slack_user(
                    s,
                    team_id=team_id,
                    user_id=user_id,
                    name=name,
                    is_bot=bool(user.get("is_bot")),
                    tz=user.get("tz"),
                    now=self.clock(),
                )
                if name:
                    repo.fill_author_names(s, team_id=team_id, user_id=user_id, name=name)
        except Exception:  # noqa: BLE001 - the database is away: try again later
            log.warning("could not store the name of %s/%s; trying again later", team_id, user_id, exc_info=True)
            return False
        if name:
            with self._lock:
                self._names[(team_id, user_id)] = name
        return True

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every queued look-up has been answered (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)  # wakes the thread at once
        if self._thread is not None:
            self._thread.join(timeout=2)
