"""Parsing and running /signal, /milestone and /loop. Plain values in, a Reply out; no Slack here.

Every command runs in one transaction: a UsageError anywhere rolls it back, so nothing is
half-written, and the person gets the error's text as an ephemeral message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True)
class Verb:
    """One `/loop` sub-command: its names, what it runs, and its lines in `/loop help`, from one table.

    `run(commands, session, ctx, rest, now)`; `shows`: what it would show of the team's notes (refused in a
    channel shared with another organisation, see bot.connect).
    """

    names: tuple[str, ...]
    section: str
    help: tuple[str, ...]
    run: Callable[[Commands, Session, Ctx, str, datetime], Reply]
    shows: str | None = None
    # for verbs that share a name with another (`customers import`, `link auto`): does `rest` belong here?
    takes: Callable[[str], bool] = lambda rest: True
    # does this use of the verb show `shows` (`/loop digest now` does, `/loop digest off` does not)?
    shows_if: Callable[[str], bool] = lambda rest: True


def _no_arguments(usage: str, run: Callable[[Session, Ctx, datetime], Reply]) -> Callable[..., Reply]:
    def verb(c: Commands, s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
        if rest:
            raise UsageError(usage)
        return run(s, ctx, now)

    return verb


def _ask(c: Commands, s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
    if not rest:
        raise UsageError(ASK_USAGE)
    return Reply("", effects=[RunAsk(ctx.channel_id, ctx.user_id, rest)])


def _link_auto(c: Commands, s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
    return Reply(
        ":mag: Looking at the channels I'm in; the unlinked ones follow here in a moment.",
        effects=[RunLinkAuto(ctx.channel_id, ctx.user_id)],
    )


def _own_digest(c: Commands, s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
    # asked explicitly: this channel's own messages only (what a shared channel may be shown)
    text, blocks = connect.own_digest(s, ctx.team_id, ctx.channel_id, now)
    return Reply(text, blocks=blocks, public=True)


def _starts(word: str) -> Callable[[str], bool]:
    return lambda rest: rest.casefold() == word or rest.casefold().startswith(word + " ")


def _digest_shows(rest: str) -> bool:
    return rest.casefold().split(" ")[0] in ("now", "schedule")


LOOP_SECTIONS = ("Customers", "Channels", "Signals", "Milestones", "The weekly loop", "Finding and reviewing", "Data")
LOOP_TABLE: tuple[Verb, ...] = (
    Verb(
        ("help", "-h", "--help", ""),
        "",
        (),
        lambda c, s, ctx, rest, now: Reply(c.help_text(s, ctx.team_id)),
    ),
    Verb(
        ("customers",),
        "Customers",
        ("`/loop customers import` — paste a CSV of customers (or `signalloop customers import file.csv`)",),
        lambda c, s, ctx, rest, now: Reply("", effects=[OpenModal(import_modal())]),
        takes=_starts("import"),
    ),
    Verb(
        ("customer", "customers"),
        "Customers",
        (
            "`/loop customer add <name> [segment <segment>]` — segments with templates: {segments}",
            "`/loop customer alias <name> <alias>` — another name people use for them",
            "`/loop customer outcome <name> <the outcome they need> | <the experience they need it in>`",
            "`/loop customer owner <name> @person` — who looks after them (nudges go there)",
        ),
        lambda c, s, ctx, rest, now: customers.customer(s, ctx, rest, now),
    ),
    Verb(
        ("link",),
        "Channels",
        ("`/loop link auto` — every unlinked channel I'm in with its likely customer, linked in one go",),
        _link_auto,
        takes=lambda rest: rest.casefold() == "auto",
    ),
    Verb(
        ("link",),
        "Channels",
        ("`/loop link <customer>` — every message in this channel is a signal for that customer",),
        lambda c, s, ctx, rest, now: customers.link(s, ctx, rest, now),
    ),
    Verb(
        ("watch",),
        "Channels",
        ("`/loop watch` — a shared feedback channel: messages naming a customer are recorded",),
        _no_arguments(
            "`/loop watch` takes nothing after it: it makes this channel a shared feedback channel.",
            customers.watch,
        ),
    ),
    Verb(
        ("unlink",),
        "Channels",
        ("`/loop unlink` — stop recording this channel",),
        _no_arguments(
            "`/loop unlink` takes nothing after it: it stops recording this channel.",
            lambda s, ctx, now: customers.unlink(s, ctx),
        ),
    ),
    Verb(
        ("connect",),
        "Channels",
        ("`/loop connect` — Slack Connect: channel name patterns, business hours, where proposals go",),
        lambda c, s, ctx, rest, now: Reply(
            connect.command(s, ctx.team_id, ctx.channel_id, ctx.channel_shared, rest, now)
        ),
    ),
    Verb(
        ("digest",),
        "Channels",
        ("`/loop digest own` — in a channel shared with the customer: this week's messages of that channel only",),
        _own_digest,
        takes=lambda rest: rest.casefold() == "own",
    ),
    Verb(
        ("digest",),
        "The weekly loop",
        (
            "`/loop digest schedule <weekday> <HH:MM> [IANA time zone] [portfolio]` — e.g. "
            "`/loop digest schedule friday 15:00 Europe/London`",
            "`/loop digest now` · `/loop digest off` · `/loop digest llm on|off` · `/loop digest chart on|off`",
            "`/loop digest focus <what the team wants to learn>|off`",
        ),
        lambda c, s, ctx, rest, now: digest.digest(s, ctx, rest, now),
        shows="digests (`/loop digest own` shows this channel's own messages only)",
        shows_if=_digest_shows,
    ),
    Verb(
        ("learnings",),
        "The weekly loop",
        ("`/loop learnings [customer]` · `/loop decisions`",),
        lambda c, s, ctx, rest, now: digest.learnings(s, ctx, rest),
        shows="the team's learnings",
    ),
    Verb(
        ("decisions",),
        "The weekly loop",
        (),
        lambda c, s, ctx, rest, now: digest.decisions(s, ctx, rest),
        shows="the team's decisions",
    ),
    Verb(
        ("ask",),
        "Finding and reviewing",
        ("`/loop ask <question>` — an answer from what customers said, with the signals it rests on",),
        _ask,
        shows="answers from customer signals",
    ),
    Verb(
        ("review",),
        "Finding and reviewing",
        ("`/loop review <customer> [2026-Q4]` — the customer's quarter, for the business review",),
        lambda c, s, ctx, rest, now: reviews.command(s, ctx, rest, now),
        shows="customer reviews",
    ),
    Verb(
        ("nudges",),
        "Finding and reviewing",
        ("`/loop nudges unanswered 4h|off` — a customer's question in their shared channel left unanswered",),
        lambda c, s, ctx, rest, now: Reply(connect.unanswered_command(s, ctx.team_id, rest[len("unanswered") :], now)),
        takes=_starts("unanswered"),
    ),
    Verb(
        ("nudges",),
        "Finding and reviewing",
        ("`/loop nudges` — bursts of problems, stalled and overdue milestones, quiet customers (on/off, thresholds)",),
        lambda c, s, ctx, rest, now: Reply(nudges.command(s, ctx.team_id, rest, now)),
    ),
    Verb(
        ("replies",),
        "Finding and reviewing",
        ("`/loop replies on|off` — a thread reply on a captured message when something comes of it",),
        lambda c, s, ctx, rest, now: customers.replies(s, ctx, rest),
    ),
    Verb(
        ("template", "templates"),
        "Finding and reviewing",
        ("`/loop template [show|add|remove] …` — this workspace's milestone templates",),
        lambda c, s, ctx, rest, now: templates.template(s, ctx, rest, now),
    ),
    Verb(
        ("forget",),
        "Data",
        ("`/loop forget <customer>` — delete a customer and everything stored about it (shows what first)",),
        lambda c, s, ctx, rest, now: customers.forget(s, ctx, rest),
    ),
    Verb(
        ("privacy",),
        "Data",
        ("`/loop privacy` — what the LLM step may read (`llm private on|off`, `llm redact on|off`)",),
        lambda c, s, ctx, rest, now: customers.privacy(s, ctx, rest, now),
    ),
)
# every name a person can type, for "did you mean" (from the same table as the dispatch and the help)
LOOP_VERBS = sorted({n for v in LOOP_TABLE for n in v.names if n and not n.startswith("-")})
# the help's fixed lines: how to record signals, where milestones are
_EXTRA_HELP = {
    "Signals": (
        "`/signal <customer> [#<milestone>] <text>` — record one by hand",
        "React with :{emoji}: to any message, or use the message shortcut *Record as customer signal*",
        "`/signal search <words> [customer:<name>] [kind:<kind>] [since:<date or 30d>]` — what customers said",
    ),
    "Milestones": ("`/milestone help` — add, start, done, at risk, owners, due dates",),
}


def loop_help() -> str:
    """`/loop help`, drawn from LOOP_TABLE (with `{segments}` and `{emoji}` to fill in)."""
    lines = ["*signalloop* — customer signals → a weekly learning loop"]
    for section in LOOP_SECTIONS:
        lines.append(f"*{section}*")
        lines += [f"• {h}" for h in _EXTRA_HELP.get(section, ())]
        lines += [f"• {h}" for v in LOOP_TABLE if v.section == section for h in v.help]
    return "\n".join(lines)


LOOP_HELP = loop_help()


def loop_verb(verb: str, rest: str) -> Verb | None:
    """The table's entry for what was typed: the first whose name matches and that takes `rest`."""
    return next((v for v in LOOP_TABLE if verb in v.names and v.takes(rest)), None)


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
                repo.ensure_workspace(s, team_id=ctx.team_id, now=self.clock())
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
        entry = loop_verb(verb, rest)
        if entry is None:
            raise UsageError(
                f"Unknown command `/loop {safe(verb)}`.{did_you_mean(verb, LOOP_VERBS)} "
                "Try `/loop help` for the full list."
            )
        if ctx.channel_shared and entry.shows is not None and entry.shows_if(rest):
            raise UsageError(connect.refusal(entry.shows))  # Slack Connect: the customer's people read this channel
        return entry.run(self, s, ctx, rest, now)
