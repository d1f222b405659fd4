"""What the app learns from Slack about people, channels and the workspace, cached in the database.

One users.info per person, one conversations.info per channel and one auth.test per workspace,
so capturing a message costs no Web API call once the cache is warm.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session, sessionmaker

from storage import repo

log = logging.getLogger(__name__)

FRESH = timedelta(days=7)


class Directory:
    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.sf = session_factory
        self.clock = clock
        self._lock = threading.Lock()
        self._names: dict[tuple[str, str], str | None] = {}
        self._private: dict[tuple[str, str], bool] = {}
        self._urls: dict[str, str | None] = {}

    def user_name(self, client: WebClient, team_id: str, user_id: str | None) -> str | None:
        """A person's display name (never a mention: quoting someone must not ping them)."""
        if not user_id:
            return None
        k = (team_id, user_id)
        if k in self._names:
            return self._names[k]
        with self.sf() as s:
            u = repo.slack_user(s, team_id, user_id)
            if u is not None and u.name and self.clock() - u.updated_at < FRESH:
                self._names[k] = u.name
                return u.name
        name, is_bot, tz = None, False, None
        try:
            user = client.users_info(user=user_id)["user"]
            prof = user.get("profile") or {}
            name = prof.get("display_name") or prof.get("real_name") or user.get("real_name") or user.get("name")
            is_bot, tz = bool(user.get("is_bot")), user.get("tz")
        except SlackApiError as e:
            log.warning("users.info failed for %s: %s", user_id, e.response.get("error"))
            return None
        with self.sf.begin() as s:
            repo.save_slack_user(s, team_id, user_id, name, is_bot, tz, self.clock())
        with self._lock:
            self._names[k] = name
        return name

    def user_tz(self, team_id: str, user_id: str) -> str | None:
        with self.sf() as s:
            u = repo.slack_user(s, team_id, user_id)
            return u.tz if u else None

    def channel_private(self, client: WebClient, team_id: str, channel_id: str,
                        channel_type: str | None = None) -> bool:
        """True for private channels and DMs; the event's channel_type answers without a call."""
        if channel_type:
            return channel_type in ("group", "im", "mpim")
        k = (team_id, channel_id)
        if k in self._private:
            return self._private[k]
        with self.sf() as s:
            info = repo.channel_info(s, team_id, channel_id)
            if info is not None:
                self._private[k] = info.is_private
                return info.is_private
        try:
            ch = client.conversations_info(channel=channel_id)["channel"]
            private = bool(ch.get("is_private") or ch.get("is_im") or ch.get("is_mpim"))
            name = ch.get("name")
        except SlackApiError as e:
            # unknown: treat as private, the safe side for quoting
            log.warning("conversations.info failed for %s: %s", channel_id, e.response.get("error"))
            return True
        with self.sf.begin() as s:
            repo.save_channel_info(s, team_id, channel_id, name, private, self.clock())
        with self._lock:
            self._private[k] = private
        return private

    def permalink(self, client: WebClient, team_id: str, channel_id: str, ts: str,
                  thread_ts: str | None = None) -> str | None:
        """The message's permalink, built from the workspace URL (auth.test, once per workspace)."""
        base = self._urls.get(team_id)
        if team_id not in self._urls:
            with self.sf() as s:
                ws = repo.get_workspace(s, team_id)
                base = ws.url if ws else None
            if base is None:
                try:
                    base = client.auth_test().get("url")
                except SlackApiError as e:
                    log.warning("auth.test failed: %s", e.response.get("error"))
                    return None
                if base:
                    with self.sf.begin() as s:
                        repo.ensure_workspace(s, team_id, self.clock()).url = base
            with self._lock:
                self._urls[team_id] = base
        if not base:
            return None
        link = f"{base.rstrip('/')}/archives/{channel_id}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel_id}"
        return link
