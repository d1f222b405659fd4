"""`/milestone`: status, and changes to a customer's milestones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot import customers as cust
from bot import framing, outcomes
from bot import milestones as ms
from bot.commands.parsing import (
    USER_MENTION,
    Clock,
    Ctx,
    UsageError,
    customer_prefix,
    did_you_mean,
    milestone_of,
    parse_date,
    parse_number,
    split_title,
    strip_quotes,
    take_quoted,
)
from bot.effects import DirectMessage, Effect, Post, RefreshHome, Reply
from bot.render import blocks as rb
from bot.render import milestones as rm
from bot.safety import quote, safe
from bot.text import fmt_date, plural
from storage import connect as connect_repo
from storage import repo
from storage.models import Customer, Milestone, MilestoneEvent


@dataclass(frozen=True)
class MilestoneVerb:
    """One `/milestone` sub-command: its names, the MilestoneCommands method it runs, its lines in the help."""

    names: tuple[str, ...]
    method: str  # run as getattr(commands, method)(session, ctx, rest) — or (session, ctx, verb, rest)
    help: tuple[str, ...]
    with_verb: bool = False  # the method is told which of its names was used


# help, dispatch and "did you mean" all read this table
MILESTONE_TABLE: tuple[MilestoneVerb, ...] = (
    MilestoneVerb(
        ("add",),
        "_add",
        ('`/milestone add <customer> "<title>" [due YYYY-MM-DD] [impact "<what they will notice>"]`',),
    ),
    MilestoneVerb(
        ("start", "done", "reopen", "risk"),
        "_transition",
        ("`/milestone start|done|reopen <customer> <number>`", "`/milestone risk <customer> <number> [reason]`"),
        with_verb=True,
    ),
    MilestoneVerb(
        ("impact",), "_impact", ("`/milestone impact <customer> <number> <what the customer should notice>`",)
    ),
    MilestoneVerb(("owner",), "_owner", ("`/milestone owner <customer> <number> @person`",)),
    MilestoneVerb(("due",), "_due", ("`/milestone due <customer> <number> YYYY-MM-DD|none`",)),
    MilestoneVerb(("rename",), "_rename", ('`/milestone rename <customer> <number> "<new title>"`',)),
    MilestoneVerb(("move",), "_move", ("`/milestone move <customer> <number> <new position>`",)),
    MilestoneVerb(
        ("remove",),
        "_remove",
        ("`/milestone remove <customer> <number>` — kept in the history; its signals are untied",),
    ),
    MilestoneVerb(
        ("ask",),
        "_ask",
        ("`/milestone ask <customer> <number> [advocacy|expansion] <the ask when it is achieved>`",),
    ),
)
MILESTONE_USAGE = "\n".join(
    [
        "*/milestone* — milestone status and changes",
        "• `/milestone` — every customer, one line each",
        "• `/milestone <customer>` — one customer's milestones, with buttons",
        *(f"• {line}" for v in MILESTONE_TABLE for line in v.help),
    ]
)
VERBS = [n for v in MILESTONE_TABLE for n in v.names] + ["help"]


class MilestoneCommands:
    """/milestone, and the milestone changes buttons and modals make too."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def run(self, s: Session, ctx: Ctx, text: str) -> Reply:
        verb, _, rest = text.partition(" ")
        verb = verb.casefold()
        if not text:
            return self.portfolio_reply(s, ctx.team_id)
        if verb in ("help", "-h", "--help"):
            return Reply(MILESTONE_USAGE)
        entry = next((v for v in MILESTONE_TABLE if verb in v.names), None)
        if entry is not None:
            run = getattr(self, entry.method)
            reply: Reply = run(s, ctx, verb, rest) if entry.with_verb else run(s, ctx, rest)
            return reply
        found = cust.resolve_exact(s, ctx.team_id, strip_quotes(text))
        if isinstance(found, cust.NoMatch):
            # "/milestone finish Acme 2": a sub-command nobody knows, not a customer called "finish Acme 2"
            if rest and (
                cust.resolve_prefix(s, ctx.team_id, rest.strip()).__class__ is cust.Match or did_you_mean(verb, VERBS)
            ):
                raise UsageError(
                    f"Unknown command `/milestone {safe(verb)}`.{did_you_mean(verb, VERBS)} "
                    f"The commands: {', '.join(f'`{v}`' for v in VERBS)}.\n{MILESTONE_USAGE}"
                )
            raise UsageError(cust.no_match_message(found) + "\n" + MILESTONE_USAGE)
        return self.customer_reply(s, found)

    def portfolio_reply(self, s: Session, team_id: str) -> Reply:
        now = self.clock()
        last = repo.last_signal_at(s, team_id=team_id)
        statuses = [ms.customer_status(c, now, last.get(c.id)) for c in repo.list_customers(s, team_id=team_id)]
        return Reply(f"Milestones for {len(statuses)} customers", blocks=rm.portfolio(statuses))

    def customer_reply(self, s: Session, c: Customer, note: str | None = None) -> Reply:
        now = self.clock()
        last = repo.last_signal_at(s, team_id=c.team_id).get(c.id)
        blocks = rm.customer_milestones(ms.customer_status(c, now, last), now)
        if note:
            blocks.insert(0, rb.section(note).to_dict())
        return Reply(note or f"Milestones for {c.name}", blocks=blocks[: rb.MAX_BLOCKS])

    def _target(self, s: Session, ctx: Ctx, rest: str, usage: str) -> tuple[Customer, Milestone, str]:
        c, after = customer_prefix(s, ctx, rest, usage)
        token, _, tail = after.partition(" ")
        if not token:
            raise UsageError(f"Which milestone of {safe(c.name)}? Add its number. {usage}")
        return c, milestone_of(s, c, token), tail.strip()

    def _add(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = 'Usage: `/milestone add <customer> "<title>" [due YYYY-MM-DD] [impact "<text>"]`'
        c, after = customer_prefix(s, ctx, rest, usage)
        title, opts = split_title(after)
        if not title:
            raise UsageError(f"The milestone needs a title. {usage}")
        if len(title) > ms.MAX_TITLE:
            raise UsageError(f"That title is {len(title)} characters; keep it under {ms.MAX_TITLE}.")
        due, impact = _parse_add_options(opts, usage)
        return self.add_milestone(s, ctx.user_id, c, title, due, impact)

    def add_milestone(
        self,
        s: Session,
        actor: str,
        c: Customer,
        title: str,
        due: date | None,
        impact: str | None,
        reason: str = "added",
    ) -> Reply:
        """Append a milestone (command, modal, success-gap button); the framing check is advice only."""
        now = self.clock()
        m = ms.new_milestone(
            c, repo.next_position(s, customer=c), title, now, actor, due=due, impact=impact, reason=reason
        )
        s.add(m)
        s.flush()
        s.refresh(c)
        advice = framing.advice(title, c.name)
        note = f":heavy_plus_sign: Added milestone {m.position} for *{safe(c.name)}*: “{quote(title)}”"
        if due and due < now.date():
            note += f"\n:information_source: Its due date {fmt_date(due)} is already past."
        if advice:
            note += "\n" + advice
        reply = self.customer_reply(s, c, note)
        if advice:
            assert reply.blocks is not None  # customer_reply always sets them
            reply.blocks = [*reply.blocks[:1], rename_offer(m), *reply.blocks[1:]][: rb.MAX_BLOCKS]
        reply.effects.append(RefreshHome())
        return reply

    def add_from_gap(
        self, s: Session, actor: str, c: Customer, title: str, due: date | None, impact: str | None, theme: str
    ) -> Reply:
        """ "Add as milestone" from a success gap: the new milestone, with the signals behind the theme tied to it,
        so the gap is no longer reported."""
        from bot.digest import gap_signal_ids

        reply = self.add_milestone(s, actor, c, title, due, impact, reason=f"from the success gap: {theme or '?'}")
        m = max((x for x in c.milestones if x.removed_at is None), key=lambda x: x.position)
        tied = (
            repo.tie_signals(s, team_id=c.team_id, ids=gap_signal_ids(s, c, theme, self.clock()), milestone_id=m.id)
            if theme
            else 0
        )
        if tied:
            reply.text += f"\n:link: {plural(tied, 'signal')} about “{quote(theme)}” now count toward it."
        return reply

    def _transition(self, s: Session, ctx: Ctx, verb: str, rest: str) -> Reply:
        usage = f"Usage: `/milestone {verb} <customer> <number>" + (" [reason]`" if verb == "risk" else "`")
        c, m, tail = self._target(s, ctx, rest, usage)
        if tail and verb != "risk":
            raise UsageError(f"Unexpected “{safe(tail)}” after the milestone number. {usage}")
        reply = self.transition(s, ctx.user_id, m, verb, strip_quotes(tail) or None)
        reply.blocks = self.customer_reply(s, c, reply.text).blocks
        return reply

    def transition(self, s: Session, actor: str, m: Milestone, verb: str, reason: str | None) -> Reply:
        """Change a milestone's status (commands and buttons); raises UsageError when it makes no sense."""
        now = self.clock()
        try:
            ms.apply_transition(m, verb, actor, now, reason)
        except ms.TransitionError as e:
            raise UsageError(str(e)) from None
        s.flush()
        c = m.customer
        label = ms.STATUS_LABEL[m.status]
        text = f"{ms.STATUS_EMOJI[m.status]} *{safe(c.name)}* milestone {m.position} “{quote(m.title)}” is now {label}."
        if m.status == ms.AT_RISK and reason:
            text += f"\n      _{quote(reason, 200)}_"
        effects: list[Effect] = [RefreshHome()]
        if m.status == ms.ACHIEVED:
            effects += self._achieved_effects(s, c, m, now)
        return Reply(text, effects=effects)

    def _achieved_effects(self, s: Session, c: Customer, m: Milestone, now: datetime) -> list[Effect]:
        out: list[Effect] = []
        done, total = ms.progress(c.milestones)
        links = [link.channel_id for link in repo.links_for_customer(s, team_id=c.team_id, customer_id=c.id)]
        # not in a channel shared with the customer's organisation (Slack Connect): milestones are the team's notes
        shared = {i.channel_id for i in connect_repo.channels(s, team_id=c.team_id, ids=links) if i.is_ext_shared}
        for channel_id in (ch for ch in links if ch not in shared):
            out.append(
                Post(
                    channel_id,
                    f":tada: Milestone reached for *{safe(c.name)}*: “{quote(m.title)}” ({done} of {total}).",
                )
            )
        # the people whose signals are tied to it hear what came of them; the owner is prompted to tell the customer
        outcome = outcomes.milestone_achieved(s, c, m, now)
        out += outcomes.announce(
            s, c.team_id, outcome, repo.signals_tied_to(s, team_id=c.team_id, milestone_id=m.id), now
        )
        # the advocacy or expansion ask, once per milestone: reopening and achieving again does not ask twice
        if m.owner_id and m.ask and m.ask_sent_at is None:
            m.ask_sent_at = now
            kind = {"advocacy": "an advocacy ask", "expansion": "an expansion conversation"}.get(
                m.ask_kind or "", "the ask"
            )
            out.append(
                DirectMessage(
                    m.owner_id,
                    f":speech_balloon: *{safe(c.name)}* just achieved "
                    f"“{quote(m.title)}”. Time for {kind}: {quote(m.ask)}",
                )
            )
        return out

    def _impact(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone impact <customer> <number> <what the customer should notice>`"
        c, m, tail = self._target(s, ctx, rest, usage)
        text = strip_quotes(tail)
        if not text:
            raise UsageError(f"Say what {safe(c.name)} should notice once it is achieved. {usage}")
        if len(text) > 500:
            raise UsageError("Keep the expected impact under 500 characters.")
        self.set_impact(s, ctx.user_id, m, text)
        return self.customer_reply(
            s,
            c,
            f":dart: Milestone {m.position} “{quote(m.title)}”: once it is achieved, "
            f"{safe(c.name)} should notice “{quote(text)}”. signalloop checks "
            f"whether they did.",
        )

    def note_change(self, m: Milestone, actor: str | None, reason: str) -> None:
        """A history row for a change that keeps the status (owner, due date, impact, title…)."""
        m.history.append(
            MilestoneEvent(
                team_id=m.team_id,
                actor_id=actor,
                at=self.clock(),
                from_status=m.status,
                to_status=m.status,
                reason=reason,
            )
        )

    def confirm_on_track(self, s: Session, actor: str, m: Milestone) -> Reply:
        """ "Still on track" from a nudge: recorded, and the stall clock starts again."""
        if m.status not in (ms.IN_PROGRESS, ms.PLANNED):
            raise UsageError(
                f"Milestone {m.position} (“{m.title}”) is {ms.STATUS_LABEL[m.status]}; nothing to confirm."
            )
        self.note_change(m, actor, "confirmed on track")
        m.status_changed_at = self.clock()
        s.flush()
        return Reply(
            f":white_check_mark: Noted: *{safe(m.customer.name)}* milestone {m.position} “{quote(m.title)}” "
            "is on track. The stall clock starts again.",
            effects=[RefreshHome()],
        )

    def _rename(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = 'Usage: `/milestone rename <customer> <number> "<new title>"`'
        c, m, tail = self._target(s, ctx, rest, usage)
        title = strip_quotes(tail)
        if not title:
            raise UsageError(f"Give the new title after the number. {usage}")
        if len(title) > ms.MAX_TITLE:
            raise UsageError(f"That title is {len(title)} characters; keep it under {ms.MAX_TITLE}.")
        return self.rename(s, ctx.user_id, c, m, title)

    def rename(self, s: Session, actor: str, c: Customer, m: Milestone, title: str) -> Reply:
        """A new title (command or the framing check's button); the old one stays in the history."""
        old = m.title
        if title == old:
            raise UsageError(f"Milestone {m.position} is already called “{quote(title)}”.")
        m.title = title
        self.note_change(m, actor, f"renamed from “{old}”")
        s.flush()
        note = f":pencil2: Milestone {m.position} of *{safe(c.name)}* is now “{quote(title)}” (was “{quote(old)}”)."
        if advice := framing.advice(title, c.name):
            note += "\n" + advice
        reply = self.customer_reply(s, c, note)
        if advice:
            assert reply.blocks is not None  # customer_reply always sets them
            reply.blocks = [*reply.blocks[:1], rename_offer(m), *reply.blocks[1:]][: rb.MAX_BLOCKS]
        reply.effects.append(RefreshHome())
        return reply

    def _move(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone move <customer> <number> <new position>`"
        c, m, tail = self._target(s, ctx, rest, usage)
        live = sorted(ms.live(c.milestones), key=lambda x: x.position)
        to = parse_number(tail) if tail else None
        if to is None:
            raise UsageError(f"Give the new position as a number from 1 to {len(live)}. {usage}")
        if not 1 <= to <= len(live):
            raise UsageError(f"{safe(c.name)} has milestones 1–{len(live)}: pick a position in that range.")
        if to == m.position:
            raise UsageError(f"Milestone {m.position} is already at position {to}.")
        order = [x for x in live if x.id != m.id]
        order.insert(to - 1, m)
        old = m.position
        _renumber(s, c, order)
        self.note_change(m, ctx.user_id, f"moved from {old} to {to}")
        s.flush()
        reply = self.customer_reply(s, c, f":arrow_up_down: “{quote(m.title)}” moved from {old} to {to}.")
        reply.effects.append(RefreshHome())
        return reply

    def _remove(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone remove <customer> <number>`"
        c, m, tail = self._target(s, ctx, rest, usage)
        if tail:
            raise UsageError(f"Unexpected “{safe(tail)}” after the milestone number. {usage}")
        now = self.clock()
        untied = repo.untie_signals(s, team_id=c.team_id, milestone_id=m.id)
        m.removed_at = now
        self.note_change(m, ctx.user_id, f"removed (was milestone {m.position})")
        m.position = -m.id  # off the list; its history stays
        s.flush()
        _renumber(s, c, sorted((x for x in ms.live(c.milestones) if x.id != m.id), key=lambda x: x.position))
        s.refresh(c)
        what = f" {plural(untied, 'signal')} tied to it now count toward the success gap again." if untied else ""
        reply = self.customer_reply(
            s,
            c,
            f":wastebasket: Removed “{quote(m.title)}” from *{safe(c.name)}*'s milestones (kept in the history).{what}",
        )
        reply.effects.append(RefreshHome())
        return reply

    def _ask(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone ask <customer> <number> [advocacy|expansion] <the ask when it is achieved>`"
        c, m, tail = self._target(s, ctx, rest, usage)
        kind_word, _, after = tail.partition(" ")
        kind = kind_word.casefold() if kind_word.casefold() in ("advocacy", "expansion") else None
        text = strip_quotes(after if kind else tail)
        if not text:
            raise UsageError(f"Say what to ask {safe(c.name)} once it is achieved. {usage}")
        if len(text) > 500:
            raise UsageError("Keep the ask under 500 characters.")
        m.ask, m.ask_kind = (
            text,
            kind
            or (
                "expansion"
                if re.search(
                    r"\b(upgrade|add-?on|expand|expansion|more (seats|sites|licen[cs]es)|upsell|rollout)\b", text, re.I
                )
                else "advocacy"
            ),
        )
        m.ask_sent_at = None
        self.note_change(m, ctx.user_id, f"ask ({m.ask_kind}): {text}")
        s.flush()
        who = f" <@{m.owner_id}> gets it" if m.owner_id else " Its owner gets it (set one with `/milestone owner`)"
        return self.customer_reply(
            s,
            c,
            f":speech_balloon: When “{quote(m.title)}” is achieved, it is time for "
            f"an {m.ask_kind} ask: "
            f"“{quote(text)}”.{who}.",
        )

    def set_impact(self, s: Session, actor: str, m: Milestone, text: str) -> None:
        m.expected_impact = text
        self.note_change(m, actor, f"expected impact: {text}")
        s.flush()

    def _owner(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone owner <customer> <number> @person`"
        c, m, tail = self._target(s, ctx, rest, usage)
        um = USER_MENTION.match(tail.strip())
        if not um:
            if tail.strip().startswith("@"):
                raise UsageError(
                    f"“{safe(tail.strip())}” reached signalloop as plain text, not a mention: pick the "
                    f"person from Slack's @ list. (Apps made from `signalloop manifest` get mentions.)"
                )
            raise UsageError(f"Mention the owner as @person. {usage}")
        m.owner_id = um.group(1)
        self.note_change(m, ctx.user_id, f"owner <@{m.owner_id}>")
        s.flush()
        return self.customer_reply(
            s, c, f":bust_in_silhouette: <@{m.owner_id}> now owns milestone {m.position} “{quote(m.title)}”."
        )

    def _due(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone due <customer> <number> YYYY-MM-DD` (or `none` to clear it)"
        c, m, tail = self._target(s, ctx, rest, usage)
        if not tail:
            raise UsageError(f"Give the new due date. {usage}")
        m.due_date = None if tail.casefold() == "none" else parse_date(tail, "due date")
        self.note_change(m, ctx.user_id, f"due {m.due_date or 'cleared'}")
        s.flush()
        when = (
            f"is now due {m.due_date:%a %b} {m.due_date.day}, {m.due_date.year}"
            if m.due_date
            else "no longer has a due date"
        )
        return self.customer_reply(s, c, f":calendar: Milestone {m.position} “{quote(m.title)}” {when}.")


def rename_offer(m: Milestone) -> dict[str, Any]:
    """The framing check's rewrite, one click away."""
    return {
        "type": "actions",
        "block_id": f"rename:{m.id}",
        "elements": [rb.button("Rewrite it as their outcome", "ms_rename", str(m.id), "primary").to_dict()],
    }


def _renumber(s: Session, c: Customer, order: list[Milestone]) -> None:
    """Give the milestones positions 1..n in `order` without ever breaking the one-per-position rule."""
    for m in order:
        m.position = -m.id  # out of the way first
    s.flush()
    for i, m in enumerate(order, start=1):
        m.position = i
    s.flush()


def _parse_add_options(opts: str, usage: str) -> tuple[date | None, str | None]:
    due: date | None = None
    impact: str | None = None
    rest = opts.strip()
    while rest:
        word, _, tail = rest.partition(" ")
        w = word.casefold()
        if w == "due":
            value, _, rest = tail.strip().partition(" ")
            if not value:
                raise UsageError(f"`due` needs a date as YYYY-MM-DD. {usage}")
            due = parse_date(value, "due date")
        elif w == "impact":
            q = take_quoted(tail.strip())
            if q is None:
                impact, rest = strip_quotes(tail), ""
            else:
                impact, rest = q[0].strip(), q[1]
            if not impact:
                raise UsageError(f"`impact` needs the text the customer should notice. {usage}")
            if len(impact) > 500:
                raise UsageError("Keep the expected impact under 500 characters.")
        else:
            raise UsageError(
                f"Unexpected “{safe(word)}” after the title: only `due YYYY-MM-DD` and "
                f'`impact "<text>"` may follow. {usage}'
            )
        rest = rest.strip()
    return due, impact
