"""A reminder in the thread of each digest that collected no learning in two days: its own periodic job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.render import blocks as rb
from bot.slack_out import SlackOut
from bot.text import QUESTION
from storage import repo

REMIND_AFTER = timedelta(days=2)
# a digest older than this is not reminded about (the app was down when it fell due): by then the next week's digest
# asks the question again, and a reminder in an old thread would only be noise
REMIND_WITHIN = timedelta(days=6)


class Reminders:
    def __init__(self, sf: sessionmaker[Session], clock: Callable[[], datetime], slack: SlackOut) -> None:
        self.sf = sf
        self.clock = clock
        self.slack = slack

    def send(self) -> int:
        """One reminder per quiet digest, claimed first (two instances never remind twice); returns those sent."""
        now = self.clock()
        sent = 0
        with self.sf() as s:
            runs = [
                (r.id, r.team_id, r.channel_id, r.message_ts)
                for r in repo.runs_needing_reminder(
                    s, posted_before=now - REMIND_AFTER, posted_after=now - REMIND_WITHIN
                )
            ]
        for run_id, team_id, channel_id, ts in runs:
            with self.sf.begin() as s:
                if not repo.claim_reminder(s, run_id=run_id, now=now):
                    continue
            blocks = rb.to_dicts(
                [
                    rb.section(
                        f":wave: No learnings yet from this digest. *{QUESTION}*\nReply here, or:",
                        accessory=rb.button("Add a learning", "add_learning", str(run_id), "primary"),
                    )
                ]
            )
            text = f"No learnings yet from this digest. {QUESTION}"
            sent += bool(self.slack.post(team_id, channel_id, text, blocks, thread_ts=ts, what="a digest's reminder"))
        return sent
