"""Parsing and running /signal, /milestone and /loop. Plain values in, a Reply out; no Slack here.

Every command runs in one transaction: a UsageError anywhere rolls it back, so nothing is
half-written, and the person gets the error's text as an ephemeral message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import connect, nudges
from bot import milestones as ms
from bot.ask import ASK_USAGE
from bot.commands import customers, digest, reviews, signal, templates
from bot.commands.milestone import MilestoneCommands
from bot.commands.parsing import Clock, Ctx, UsageError, did_you_mean
from bot.effects import OpenModal, Reply, RunAsk, RunLinkAuto
from bot.render.modals import import_modal
from bot.safety import safe
from storage import repo

log = logging.getLogger(__name__)

LOOP_HELP = (
    "*signalloop* — customer signals → a weekly learning loop\n"
    "*Customers*\n"
    "• `/loop customer add <name> [segment <segment>]` — segments with templates: {segments}\n"
    "• `/loop customer alias <name> <alias>` — another name people use for them\n"
    "• `/loop customer outcome <name> <the outcome they need> | <the experience they need it in>`\n"
    "• `/loop customer owner <name> @person` — who looks after them (nudges go there)\n"
    "• `/loop customers import` — paste a CSV of customers (or `signalloop customers import file.csv`)\n"
    "*Channels*\n"
    "• `/loop link <customer>` — every message in this channel is a signal for that customer\n"
    "• `/loop watch` — a shared feedback channel: messages naming a customer are recorded\n"
    "• `/loop unlink` — stop recording this channel\n"
    "• `/loop link auto` — every unlinked channel I'm in with its likely customer, linked in one go\n"
    "• `/loop connect` — Slack Connect: channel name patterns, business hours, where proposals go\n"
    "• `/loop digest own` — in a channel shared with the customer: this week's messages of that channel only\n"
    "*Signals*\n"
    "• `/signal <customer> [#<milestone>] <text>` — record one by hand\n"
    "• React with :{emoji}: to any message, or use the message shortcut *Record as customer signal*\n"
    "*Milestones* — `/milestone help`\n"
    "*The weekly loop*\n"
    "• `/loop digest schedule <weekday> <HH:MM> [IANA time zone] [portfolio]` — e.g. "
    "`/loop digest schedule friday 15:00 Europe/London`\n"
    "• `/loop digest now` · `/loop digest off` · `/loop digest llm on|off` · `/loop digest chart on|off`\n"
    "• `/loop digest focus <what the team wants to learn>|off`\n"
    "• `/loop learnings [customer]` · `/loop decisions`\n"
    "*Finding and reviewing*\n"
    "• `/signal search <words> [customer:<name>] [kind:<kind>] [since:<date or 30d>]` — what customers said\n"
    "• `/loop ask <question>` — an answer from what customers said, with the signals it rests on\n"
    "• `/loop review <customer> [2026-Q4]` — the customer's quarter, for the business review\n"
    "• `/loop nudges` — bursts of problems, stalled and overdue milestones, quiet customers (on/off, thresholds)\n"
    "• `/loop replies on|off` — a thread reply on a captured message when something comes of it\n"
    "• `/loop template [show|add|remove] …` — this workspace's milestone templates\n"
    "*Data*\n"
    "• `/loop forget <customer>` — delete a customer and everything stored about it (shows what first)\n"
    "• `/loop privacy` — what the LLM step may read (`llm private on|off`, `llm redact on|off`)"
)
LOOP_VERBS = [
    "help",
    "customer",
    "link",
    "connect",
    "watch",
    "unlink",
    "forget",
    "privacy",
    "digest",
    "learnings",
    "decisions",
]


# Slack Connect: what shows the team's notes about customers is never answered in a shared channel
INTERNAL_WHAT = {
    "digest": "digests (`/loop digest own` shows this channel's own messages only)",
    "ask": "answers from customer signals",
    "review": "customer reviews",
    "learnings": "the team's learnings",
    "decisions": "the team's decisions",
}


def _internal(verb: str, rest: str) -> bool:
    if verb == "digest":
        return rest.casefold().split(" ")[0] in ("now", "schedule")
    return verb in INTERNAL_WHAT


class Commands:
    """The slash commands, run against the database with an injected clock."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock, capture_emoji: str = "memo") -> None:
        self.sf = session_factory
        self.clock = clock
        self.capture_emoji = capture_emoji
        self.milestones = MilestoneCommands(clock)

    def _run(self, fn: Callable[[Session], Reply], ctx: Ctx) -> Reply:
        try:
            with self.sf.begin() as s:
                repo.ensure_workspace(s, ctx.team_id, self.clock())
                return fn(s)
        except UsageError as e:
            return Reply(str(e), ok=False)
        except IntegrityError:
            log.warning("command hit a constraint (a concurrent change?)", exc_info=True)
            return Reply(
                "That clashed with a change made at the same moment; nothing was saved. Please try again.", ok=False
            )
        except Exception:
            log.exception("command failed for team %s", ctx.team_id)
            return Reply(
                ":warning: Sorry — something went wrong on our side and nothing was saved. "
                "Please try again in a minute.",
                ok=False,
            )

    def signal(self, ctx: Ctx, text: str) -> Reply:
        return self._run(lambda s: signal.run(s, ctx, text, self.clock()), ctx)

    def milestone(self, ctx: Ctx, text: str) -> Reply:
        return self._run(lambda s: self.milestones.run(s, ctx, text.strip()), ctx)

    def help_text(self, s: Session, team_id: str) -> str:
        segs = ", ".join(f"`{k}`" for k in ms.templates_for(s, team_id)) or "none"
        return LOOP_HELP.format(segments=segs, emoji=self.capture_emoji)

    def loop(self, ctx: Ctx, text: str) -> Reply:
        return self._run(lambda s: self._loop(s, ctx, text.strip()), ctx)

    def _loop(self, s: Session, ctx: Ctx, text: str) -> Reply:
        verb, _, rest = text.partition(" ")
        verb = verb.casefold()
        rest = rest.strip()
        now = self.clock()
        if verb in ("", "help", "-h", "--help"):
            return Reply(self.help_text(s, ctx.team_id))
        if verb == "digest" and rest.casefold() == "own":
            # asked explicitly: this channel's own messages only (what a shared channel may be shown)
            text, blocks = connect.own_digest(s, ctx.team_id, ctx.channel_id, now)
            return Reply(text, blocks=blocks, public=True)
        if ctx.channel_shared and _internal(verb, rest):
            raise UsageError(connect.refusal(INTERNAL_WHAT.get(verb, "that")))
        if verb in ("customer", "customers") and not rest.casefold().startswith("import"):
            return customers.customer(s, ctx, rest, now)
        if verb == "link" and rest.casefold() == "auto":
            return Reply(
                ":mag: Looking at the channels I'm in; the unlinked ones follow here in a moment.",
                effects=[RunLinkAuto(ctx.channel_id, ctx.user_id)],
            )
        if verb == "connect":
            return Reply(connect.command(s, ctx.team_id, ctx.channel_id, ctx.channel_shared, rest, now))
        if verb == "nudges" and rest.casefold().startswith("unanswered"):
            return Reply(connect.unanswered_command(s, ctx.team_id, rest[len("unanswered") :], now))
        if verb == "link":
            return customers.link(s, ctx, rest, now)
        if verb == "watch":
            if rest:
                raise UsageError(
                    "`/loop watch` takes nothing after it: it makes this channel a shared feedback channel."
                )
            return customers.watch(s, ctx, now)
        if verb == "unlink":
            if rest:
                raise UsageError("`/loop unlink` takes nothing after it: it stops recording this channel.")
            return customers.unlink(s, ctx)
        if verb == "forget":
            return customers.forget(s, ctx, rest)
        if verb == "privacy":
            return customers.privacy(s, ctx, rest, now)
        if verb == "digest":
            return digest.digest(s, ctx, rest, now)
        if verb == "learnings":
            return digest.learnings(s, ctx, rest)
        if verb == "decisions":
            return digest.decisions(s, ctx, rest)
        if verb == "ask":
            if not rest:
                raise UsageError(ASK_USAGE)
            return Reply("", effects=[RunAsk(ctx.channel_id, ctx.user_id, rest)])
        if verb == "review":
            return reviews.command(s, ctx, rest, now)
        if verb in ("customers",) and rest.casefold().startswith("import"):
            return Reply("", effects=[OpenModal(import_modal())])
        if verb == "nudges":
            return Reply(nudges.command(s, ctx.team_id, rest, now))
        if verb == "replies":
            return customers.replies(s, ctx, rest)
        if verb in ("template", "templates"):
            return templates.template(s, ctx, rest, now)
        raise UsageError(
            f"Unknown command `/loop {safe(verb)}`.{did_you_mean(verb, LOOP_VERBS)} Try `/loop help` for the full list."
        )
