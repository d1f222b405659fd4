"""App Home: the portfolio at a glance, published to each person who opens it and refreshed after changes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import milestones as ms
from bot import search
from bot.errors import UsageError
from bot.render.milestones import home_view
from bot.slack_out import SlackOut
from storage import repo

log = logging.getLogger(__name__)

# After a change, App Home is re-published for the people who opened it this recently; anyone else gets a fresh one
# when they next open it (app_home_opened). views.publish is Tier 4, about 100 a minute a workspace
# (https://docs.slack.dev/reference/methods/views.publish): re-publishing to everyone who ever looked would spend it
# on tabs nobody has open.
REFRESH_VIEWERS_WITHIN = timedelta(hours=24)


class Home:
    def __init__(self, sf: sessionmaker[Session], clock: Callable[[], datetime], slack: SlackOut) -> None:
        self.sf = sf
        self.clock = clock
        self.slack = slack

    def view(self, team_id: str, user_id: str | None = None, search_text: str = "") -> dict[str, Any]:
        now = self.clock()
        with self.sf() as s:
            last = repo.last_signal_at(s, team_id=team_id)
            statuses = [ms.customer_status(c, now, last.get(c.id)) for c in repo.list_customers(s, team_id=team_id)]
            me = repo.slack_user(s, team_id=team_id, user_id=user_id) if user_id else None
            found: list[dict[str, Any]] = []
            if search_text:
                try:
                    q = search.parse(s, team_id, search_text, now)
                    # App Home is no channel: private channels' signals are not shown here
                    found = search.results_blocks(s, team_id, q, "")[1]
                except UsageError as e:
                    found = [{"type": "context", "elements": [{"type": "mrkdwn", "text": str(e)}]}]
            return home_view(statuses, now, dm_opt_out=bool(me and me.dm_opt_out), search_text=search_text, found=found)

    def publish(self, team_id: str, user_id: str, search_text: str = "") -> None:
        with self.sf.begin() as s:
            repo.mark_home_opened(s, team_id=team_id, user_id=user_id, now=self.clock())
        self.slack.publish_home(team_id, user_id, self.view(team_id, user_id, search_text))

    def viewers(self, team_id: str) -> list[str]:
        """The people who opened App Home in this workspace in the last day (re-published after a change)."""
        with self.sf() as s:
            return list(repo.home_viewers(s, team_id=team_id, since=self.clock() - REFRESH_VIEWERS_WITHIN))

    def set_dm_opt_out(self, team_id: str, user_id: str, opt_out: bool) -> None:
        """A person turns "what came of your signals" messages off (or on again) from App Home."""
        with self.sf.begin() as s:
            repo.set_dm_opt_out(s, team_id=team_id, user_id=user_id, opt_out=opt_out, now=self.clock())
