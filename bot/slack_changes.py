"""What Slack changes under the app: a channel's id (a private channel shared through Slack Connect)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from bot.effects import Effect, ScheduleChanged
from storage import slack_state

log = logging.getLogger(__name__)


def channel_moved(session: Session, team_id: str, old: str, new: str) -> list[Effect]:
    """channel_id_changed: the channel's links, watch setting, schedule, digests and signals follow it to its new
    id, in the caller's transaction; routing is re-read. https://docs.slack.dev/reference/events/channel_id_changed
    """
    if not old or not new or old == new:
        return []
    moved = slack_state.move_channel(session, team_id=team_id, old=old, new=new)
    log.info("channel %s of %s is now %s: %d row(s) moved", old, team_id, new, moved)
    # the scheduler drops the old id's digest job and schedules the new one's
    return [ScheduleChanged(old), ScheduleChanged(new)]
