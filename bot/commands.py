"""Parsing and running /signal, /milestone and /loop. Plain values in, a Reply out; no Slack here.

Every command runs in one transaction: a UsageError anywhere rolls it back, so nothing is
half-written, and the person gets the error's text as an ephemeral message.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import customers as cust
from bot import framing, render
from bot import milestones as ms
from bot.capture import PATH_COMMAND, MessageIn, record
from bot.effects import DirectMessage, Post, RefreshHome, Reply
from bot.safety import quote, safe
from storage import repo
from storage.models import Customer, Milestone, MilestoneEvent, Signal

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

SIGNAL_USAGE = ("Usage: `/signal <customer> [#<milestone number>] <what they said>` — "
                "e.g. `/signal Acme #2 Exports still time out on Mondays`")
MILESTONE_USAGE = (
    "*/milestone* — milestone status and changes\n"
    "• `/milestone` — every customer, one line each\n"
    "• `/milestone <customer>` — one customer's milestones, with buttons\n"
    "• `/milestone add <customer> \"<title>\" [due YYYY-MM-DD] [impact \"<what they will notice>\"]`\n"
    "• `/milestone start|done|reopen <customer> <number>`\n"
    "• `/milestone risk <customer> <number> [reason]`\n"
    "• `/milestone impact <customer> <number> <what the customer should notice>`\n"
    "• `/milestone owner <customer> <number> @person`\n"
    "• `/milestone due <customer> <number> YYYY-MM-DD|none`"
)
LOOP_HELP = (
    "*signalloop* — customer signals → a weekly learning loop\n"
    "*Customers*\n"
    "• `/loop customer add <name> [segment <segment>]` — segments with templates: {segments}\n"
    "• `/loop customer alias <name> <alias>` — another name people use for them\n"
    "• `/loop customer outcome <name> <the outcome they need> | <the experience they need it in>`\n"
    "*Channels*\n"
    "• `/loop link <customer>` — every message in this channel is a signal for that customer\n"
    "• `/loop watch` — a shared feedback channel: messages naming a customer are recorded\n"
    "• `/loop unlink` — stop recording this channel\n"
    "*Signals*\n"
    "• `/signal <customer> [#<milestone>] <text>` — record one by hand\n"
    "• React with :{emoji}: to any message, or use the message shortcut *Record as customer signal*\n"
    "*Milestones* — `/milestone help`\n"
    "*The weekly loop*\n"
    "• `/loop digest schedule <weekday> <HH:MM> [IANA time zone] [portfolio]` — e.g. "
    "`/loop digest schedule friday 15:00 Europe/London`\n"
    "• `/loop digest now` · `/loop digest off` · `/loop digest llm on|off` · `/loop digest chart on|off`\n"
    "• `/loop learnings [customer]` · `/loop decisions`\n"
    "*Data*\n"
    "• `/loop forget <customer>` — delete a customer's signals and learnings\n"
    "• `/loop privacy llm private on|off` — may the LLM step read private channels' signals"
)


class UsageError(Exception):
    """Bad input: the message says what was wrong and how to write it."""


@dataclass(frozen=True)
class Ctx:
    team_id: str
    user_id: str
    channel_id: str
    trigger_id: str | None = None
    user_name: str | None = None
    channel_private: bool = False


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUM = re.compile(r"^#?(\d{1,4})$")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(\|[^>]*)?>$")


def parse_date(text: str, what: str = "date") -> date:
    if not _DATE.match(text):
        raise UsageError(f"“{safe(text)}” is not a {what}: write it as YYYY-MM-DD, e.g. 2026-12-04.")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"“{safe(text)}” is not a real date: write it as YYYY-MM-DD, "
                         "e.g. 2026-12-04.") from None


def strip_quotes(text: str) -> str:
    t = text.strip()
    if len(t) >= 2 and t[0] in cust._QUOTES and t[-1] in cust._QUOTES:
        return t[1:-1].strip()
    return t


def take_quoted(text: str) -> tuple[str, str] | None:
    """("quoted", rest) when text starts with a quoted part."""
    return cust._split_quoted(text)


class Commands:
    """The slash commands, run against the database with an injected clock."""

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock, capture_emoji: str = "memo",
                 digest_hooks: DigestHooks | None = None,
                 on_change: Callable[[str], None] = lambda team_id: None) -> None:
        self.sf = session_factory
        self.clock = clock
        self.capture_emoji = capture_emoji
        self.digest_hooks = digest_hooks
        self.on_change = on_change  # customers, aliases or channel links changed in this workspace

    # --- plumbing -----------------------------------------------------------------------

    def _run(self, fn: Callable[[Session], Reply], ctx: Ctx) -> Reply:
        try:
            with self.sf.begin() as s:
                repo.ensure_workspace(s, ctx.team_id, self.clock())
                return fn(s)
        except UsageError as e:
            return Reply(str(e), ok=False)
        except IntegrityError:
            log.warning("command hit a constraint (a concurrent change?)", exc_info=True)
            return Reply("That clashed with a change made at the same moment; nothing was saved. "
                         "Please try again.", ok=False)
        except Exception:
            log.exception("command failed for team %s", ctx.team_id)
            return Reply(":warning: Sorry — something went wrong on our side and nothing was saved. "
                         "Please try again in a minute.", ok=False)

    def _customer_prefix(self, s: Session, ctx: Ctx, text: str, usage: str) -> tuple[Customer, str]:
        if not text.strip():
            raise UsageError(f"Name a customer. {usage}")
        found = cust.resolve_prefix(s, ctx.team_id, text)
        if isinstance(found, cust.NoMatch):
            raise UsageError(cust.no_match_message(found))
        c = repo.customer_by_id(s, ctx.team_id, found.customer_id)
        assert c is not None
        return c, found.rest.strip()

    def _customer_exact(self, s: Session, ctx: Ctx, name: str, usage: str) -> Customer:
        if not name.strip():
            raise UsageError(f"Name a customer. {usage}")
        found = cust.resolve_exact(s, ctx.team_id, name)
        if isinstance(found, cust.NoMatch):
            raise UsageError(cust.no_match_message(found))
        return found

    # --- /signal ------------------------------------------------------------------------

    def signal(self, ctx: Ctx, text: str) -> Reply:
        return self._run(lambda s: self._signal(s, ctx, text), ctx)

    def _signal(self, s: Session, ctx: Ctx, text: str) -> Reply:
        if not text.strip():
            raise UsageError(f"Nothing to record. {SIGNAL_USAGE}")
        c, rest = self._customer_prefix(s, ctx, text, SIGNAL_USAGE)
        milestone: Milestone | None = None
        m = re.match(r"^#(\S+)\s*", rest)
        if m:
            milestone = self._milestone_of(s, c, m.group(1))
            rest = rest[m.end():]
        body = strip_quotes(rest)
        if not body:
            raise UsageError(f"What did {safe(c.name)} say? Add the text after the name: "
                             f"`/signal {safe(c.name)} <what they said>`.")
        now = self.clock()
        msg = MessageIn(team_id=ctx.team_id, channel_id=ctx.channel_id,
                        ts=f"cmd:{ctx.trigger_id or uuid.uuid4().hex}", text=body, user_id=ctx.user_id,
                        author_name=ctx.user_name, is_private=ctx.channel_private)
        sid = record(s, msg, c.id, PATH_COMMAND, now, recorded_by=ctx.user_id,
                     milestone_id=milestone.id if milestone else None, posted_at=now)
        if sid is None:
            return Reply(f"Already recorded for *{safe(c.name)}*.")
        sig = s.get(Signal, sid)
        assert sig is not None
        tied = (f" · milestone {milestone.position} “{quote(milestone.title, 80)}”" if milestone
                else " · tied to no milestone (part of the success gap; add `#<n>` to tie one)")
        return Reply(f":memo: Recorded for *{safe(c.name)}*: {sig.kind} · sentiment {sig.sentiment:+.1f}{tied}",
                     effects=[RefreshHome()])

    def _milestone_of(self, s: Session, c: Customer, token: str) -> Milestone:
        m = _NUM.match(token.strip())
        n = len(c.milestones)
        span = f"it has 1–{n}" if n > 1 else ("it has only 1" if n == 1 else "it has none yet")
        if not m:
            raise UsageError(f"“{safe(token)}” is not a milestone number: use a number such as 2 "
                             f"({safe(c.name)}: {span}). See `/milestone {safe(c.name)}`.")
        found = repo.milestone_at(s, c, int(m.group(1)))
        if found is None:
            raise UsageError(f"{safe(c.name)} has no milestone {m.group(1)} — {span}. "
                             f"See `/milestone {safe(c.name)}`.")
        return found

    # --- /milestone ---------------------------------------------------------------------

    def milestone(self, ctx: Ctx, text: str) -> Reply:
        return self._run(lambda s: self._milestone(s, ctx, text.strip()), ctx)

    def _milestone(self, s: Session, ctx: Ctx, text: str) -> Reply:
        verb, _, rest = text.partition(" ")
        verb = verb.casefold()
        if not text:
            return self.portfolio_reply(s, ctx.team_id)
        if verb in ("help", "-h", "--help"):
            return Reply(MILESTONE_USAGE)
        if verb == "add":
            return self._ms_add(s, ctx, rest)
        if verb in ("start", "done", "reopen", "risk"):
            return self._ms_transition(s, ctx, verb, rest)
        if verb == "impact":
            return self._ms_impact(s, ctx, rest)
        if verb == "owner":
            return self._ms_owner(s, ctx, rest)
        if verb == "due":
            return self._ms_due(s, ctx, rest)
        found = cust.resolve_exact(s, ctx.team_id, text)
        if isinstance(found, cust.NoMatch):
            raise UsageError(cust.no_match_message(found) + "\n" + MILESTONE_USAGE)
        return self.customer_reply(s, found)

    def portfolio_reply(self, s: Session, team_id: str) -> Reply:
        now = self.clock()
        last = repo.last_signal_at(s, team_id)
        statuses = [ms.customer_status(c, now, last.get(c.id)) for c in repo.list_customers(s, team_id)]
        return Reply(f"Milestones for {len(statuses)} customers", blocks=render.portfolio(statuses))

    def customer_reply(self, s: Session, c: Customer, note: str | None = None) -> Reply:
        now = self.clock()
        last = repo.last_signal_at(s, c.team_id).get(c.id)
        blocks = render.customer_milestones(ms.customer_status(c, now, last), now)
        if note:
            blocks.insert(0, render.section(note).to_dict())
        return Reply(note or f"Milestones for {c.name}", blocks=blocks[: render.MAX_BLOCKS])

    def _ms_target(self, s: Session, ctx: Ctx, rest: str, usage: str) -> tuple[Customer, Milestone, str]:
        c, after = self._customer_prefix(s, ctx, rest, usage)
        token, _, tail = after.partition(" ")
        if not token:
            raise UsageError(f"Which milestone of {safe(c.name)}? Add its number. {usage}")
        return c, self._milestone_of(s, c, token), tail.strip()

    def _ms_add(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone add <customer> \"<title>\" [due YYYY-MM-DD] [impact \"<text>\"]`"
        c, after = self._customer_prefix(s, ctx, rest, usage)
        title, opts = _split_title(after)
        if not title:
            raise UsageError(f"The milestone needs a title. {usage}")
        if len(title) > ms.MAX_TITLE:
            raise UsageError(f"That title is {len(title)} characters; keep it under {ms.MAX_TITLE}.")
        due, impact = _parse_add_options(opts, usage)
        return self.add_milestone(s, ctx.user_id, c, title, due, impact)

    def add_milestone(self, s: Session, actor: str, c: Customer, title: str, due: date | None,
                      impact: str | None, reason: str = "added") -> Reply:
        """Append a milestone (command, modal, success-gap button); the framing check is advice only."""
        now = self.clock()
        m = ms.new_milestone(c, repo.next_position(s, c), title, now, actor, due=due, impact=impact,
                             reason=reason)
        s.add(m)
        s.flush()
        s.refresh(c)
        advice = framing.advice(title, c.name)
        note = f":heavy_plus_sign: Added milestone {m.position} for *{safe(c.name)}*: “{quote(title)}”"
        if due and due < now.date():
            note += f"\n:information_source: Its due date {render.fmt_date(due)} is already past."
        if advice:
            note += "\n" + advice
        reply = self.customer_reply(s, c, note)
        reply.effects.append(RefreshHome())
        return reply

    def _ms_transition(self, s: Session, ctx: Ctx, verb: str, rest: str) -> Reply:
        usage = (f"Usage: `/milestone {verb} <customer> <number>" + (" [reason]`" if verb == "risk" else "`"))
        c, m, tail = self._ms_target(s, ctx, rest, usage)
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
        effects: list = [RefreshHome()]
        if m.status == ms.ACHIEVED:
            effects += self._achieved_effects(s, c, m)
        return Reply(text, effects=effects)

    def _achieved_effects(self, s: Session, c: Customer, m: Milestone) -> list:
        out: list = []
        done, total = ms.progress(c.milestones)
        for link in repo.links_for_customer(s, c.team_id, c.id):
            out.append(Post(link.channel_id, f":tada: Milestone reached for *{safe(c.name)}*: "
                                             f"“{quote(m.title)}” ({done} of {total})."))
        if m.owner_id and m.ask:
            kind = {"advocacy": "an advocacy ask", "expansion": "an expansion conversation"}.get(
                m.ask_kind or "", "the ask")
            out.append(DirectMessage(m.owner_id, f":speech_balloon: *{safe(c.name)}* just achieved "
                                                 f"“{quote(m.title)}”. Time for {kind}: {quote(m.ask)}"))
        return out

    def _ms_impact(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone impact <customer> <number> <what the customer should notice>`"
        c, m, tail = self._ms_target(s, ctx, rest, usage)
        text = strip_quotes(tail)
        if not text:
            raise UsageError(f"Say what {safe(c.name)} should notice once it is achieved. {usage}")
        if len(text) > 500:
            raise UsageError("Keep the expected impact under 500 characters.")
        self.set_impact(s, ctx.user_id, m, text)
        return self.customer_reply(s, c, f":dart: Milestone {m.position} “{quote(m.title)}”: once it is achieved, "
                                         f"{safe(c.name)} should notice “{quote(text)}”. signalloop checks "
                                         f"whether they did.")

    def set_impact(self, s: Session, actor: str, m: Milestone, text: str) -> None:
        m.expected_impact = text
        m.history.append(MilestoneEvent(team_id=m.team_id, actor_id=actor, at=self.clock(),
                                             from_status=m.status, to_status=m.status,
                                             reason=f"expected impact: {text}"))
        s.flush()

    def _ms_owner(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone owner <customer> <number> @person`"
        c, m, tail = self._ms_target(s, ctx, rest, usage)
        um = _USER.match(tail.strip())
        if not um:
            if tail.strip().startswith("@"):
                raise UsageError(f"“{safe(tail.strip())}” reached signalloop as plain text, not a mention: pick the "
                                 f"person from Slack's @ list. (Apps made from `signalloop manifest` get mentions.)")
            raise UsageError(f"Mention the owner as @person. {usage}")
        m.owner_id = um.group(1)
        m.history.append(MilestoneEvent(team_id=m.team_id, actor_id=ctx.user_id, at=self.clock(),
                                             from_status=m.status, to_status=m.status,
                                             reason=f"owner <@{m.owner_id}>"))
        s.flush()
        return self.customer_reply(s, c, f":bust_in_silhouette: <@{m.owner_id}> now owns milestone {m.position} "
                                         f"“{quote(m.title)}”.")

    def _ms_due(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/milestone due <customer> <number> YYYY-MM-DD` (or `none` to clear it)"
        c, m, tail = self._ms_target(s, ctx, rest, usage)
        if not tail:
            raise UsageError(f"Give the new due date. {usage}")
        m.due_date = None if tail.casefold() == "none" else parse_date(tail, "due date")
        m.history.append(MilestoneEvent(team_id=m.team_id, actor_id=ctx.user_id, at=self.clock(),
                                             from_status=m.status, to_status=m.status,
                                             reason=f"due {m.due_date or 'cleared'}"))
        s.flush()
        when = f"is now due {m.due_date:%a %b} {m.due_date.day}, {m.due_date.year}" if m.due_date \
            else "no longer has a due date"
        return self.customer_reply(s, c, f":calendar: Milestone {m.position} “{quote(m.title)}” {when}.")

    # --- /loop --------------------------------------------------------------------------

    def help_text(self) -> str:
        segs = ", ".join(f"`{k}`" for k in ms.load_templates()) or "none"
        return LOOP_HELP.format(segments=segs, emoji=self.capture_emoji)

    def loop(self, ctx: Ctx, text: str) -> Reply:
        reply = self._run(lambda s: self._loop(s, ctx, text.strip()), ctx)
        if reply.ok:
            self.on_change(ctx.team_id)
        return reply

    def _loop(self, s: Session, ctx: Ctx, text: str) -> Reply:
        verb, _, rest = text.partition(" ")
        verb = verb.casefold()
        rest = rest.strip()
        if verb in ("", "help", "-h", "--help"):
            return Reply(self.help_text())
        if verb in ("customer", "customers"):
            sub, _, tail = rest.partition(" ")
            sub = sub.casefold()
            if sub == "add":
                return self._customer_add(s, ctx, tail.strip())
            if sub == "alias":
                return self._customer_alias(s, ctx, tail.strip())
            if sub == "outcome":
                return self._customer_outcome(s, ctx, tail.strip())
            raise UsageError("Usage: `/loop customer add <name> [segment <segment>]`, "
                             "`/loop customer alias <name> <alias>` or "
                             "`/loop customer outcome <name> <outcome> | <experience>`")
        if verb == "link":
            return self._link(s, ctx, rest)
        if verb == "watch":
            if rest:
                raise UsageError("`/loop watch` takes nothing after it: it makes this channel a shared "
                                 "feedback channel.")
            return self._watch(s, ctx)
        if verb == "unlink":
            if rest:
                raise UsageError("`/loop unlink` takes nothing after it: it stops recording this channel.")
            return self._unlink(s, ctx)
        if verb == "forget":
            return self._forget(s, ctx, rest)
        if verb == "privacy":
            return self._privacy(s, ctx, rest)
        if verb in ("digest", "learnings", "decisions"):
            if self.digest_hooks is None:
                raise UsageError("The weekly digest is not available in this process.")
            return self.digest_hooks.dispatch(s, ctx, verb, rest)
        raise UsageError(f"Unknown command `/loop {safe(verb)}`. Try `/loop help` for the full list.")

    def _customer_add(self, s: Session, ctx: Ctx, text: str) -> Reply:
        usage = "Usage: `/loop customer add <name> [segment <segment>]`"
        segment: str | None = None
        quoted = take_quoted(text)
        if quoted is not None:
            name, tail = quoted
        else:
            name, tail = text, ""
            m = re.match(r"^(.*?)\s+segment(?:\s+(.*))?$", text, re.IGNORECASE)
            if m:
                name, tail = m.group(1), "segment " + (m.group(2) or "")
        tail = tail.strip()
        bare = re.fullmatch(r"segment\s+(\S+)", text.strip(), re.IGNORECASE)
        if quoted is None and bare and bare.group(1).casefold() in ms.load_templates():
            raise UsageError(f"Give the customer's name before `segment`, e.g. `/loop customer add Acme segment "
                             f"{safe(bare.group(1))}`. {usage}")
        if tail:
            sm = re.match(r"^segment\s+(\S+)$", tail, re.IGNORECASE)
            if not sm:
                raise UsageError(f"After the name, only `segment <segment>` may follow. {usage}")
            segment = strip_quotes(sm.group(1)).casefold()
        elif re.search(r"\bsegment$", text, re.IGNORECASE) and quoted is not None:
            raise UsageError(f"`segment` needs a value, e.g. `segment smb`. {usage}")
        name = cust.clean_name(name)
        _check_name(name, usage)
        k = cust.key(name)
        if repo.customer_by_key(s, ctx.team_id, k) or repo.alias_owner(s, ctx.team_id, k):
            raise UsageError(f"A customer or alias named “{safe(name)}” already exists: see `/milestone {safe(name)}`.")
        now = self.clock()
        c = repo.add_customer(s, ctx.team_id, name, k, segment, now)
        templates = ms.load_templates()
        note = ""
        if segment and segment in templates:
            seg = templates[segment]
            for m in ms.instantiate_template(c, seg, now, ctx.user_id):
                s.add(m)
            s.flush()
            s.refresh(c)
            note = f" with the {len(seg.milestones)} milestones of the *{safe(seg.key)}* template"
            advice = [a for t in seg.milestones if (a := framing.advice(t.title, c.name))]
            if advice:
                note += "\n" + advice[0]
        elif segment:
            known = ", ".join(f"`{k}`" for k in templates) or "none"
            note = (f" in segment *{safe(segment)}* (no milestone template for it; templates: {known}). "
                    f"Add milestones with `/milestone add {safe(name)} \"<title>\"`")
        else:
            note = f". Add milestones with `/milestone add {safe(name)} \"<title>\"`"
        return Reply(f":bust_in_silhouette: Added *{safe(name)}*{note}.\nNext: `/loop customer outcome "
                     f"{safe(name)} <the outcome they need> | <the experience they need it in>` and "
                     f"`/loop link {safe(name)}` in their channel.", effects=[RefreshHome()])

    def _customer_alias(self, s: Session, ctx: Ctx, text: str) -> Reply:
        usage = "Usage: `/loop customer alias <name> <alias>`"
        c, rest = self._customer_prefix(s, ctx, text, usage)
        alias = cust.clean_name(rest)
        if not alias:
            raise UsageError(f"Give the alias after the name. {usage}")
        _check_name(alias, usage)
        k = cust.key(alias)
        owner = repo.customer_by_key(s, ctx.team_id, k) or repo.alias_owner(s, ctx.team_id, k)
        if owner is not None:
            raise UsageError(f"“{safe(alias)}” already names *{safe(owner.name)}*; pick another alias.")
        repo.add_alias(s, c, alias, k)
        return Reply(f":label: *{safe(c.name)}* can now also be called “{safe(alias)}”.")

    def _customer_outcome(self, s: Session, ctx: Ctx, text: str) -> Reply:
        usage = ("Usage: `/loop customer outcome <name> <the outcome they need> | <the experience they need "
                 "it in>`")
        c, rest = self._customer_prefix(s, ctx, text, usage)
        rest = strip_quotes(rest)
        if not rest:
            raise UsageError(f"Describe the outcome {safe(c.name)} needs. {usage}")
        if len(rest) > 1000:
            raise UsageError("Keep the desired outcome under 1000 characters.")
        required, _, experience = rest.partition("|")
        c.outcome_required = strip_quotes(required) or None
        c.outcome_experience = strip_quotes(experience) or None
        if not c.outcome_required:
            raise UsageError(f"The outcome before `|` is empty. {usage}")
        line = render.outcome_line(c) or ""
        hint = "" if c.outcome_experience else (
            "\nTip: add the experience they need it in after a `|`, e.g. `… | without phoning anyone`.")
        return Reply(f":dart: *{safe(c.name)}* — {line}{hint}", effects=[RefreshHome()])

    def _link(self, s: Session, ctx: Ctx, name: str) -> Reply:
        usage = "Usage: `/loop link <customer>` in the customer's channel"
        c = self._customer_exact(s, ctx, strip_quotes(name), usage)
        prev = repo.channel_link(s, ctx.team_id, ctx.channel_id)
        repo.set_channel_link(s, ctx.team_id, ctx.channel_id, "customer", c.id, ctx.user_id, self.clock())
        was = ""
        if prev is not None and prev.kind == "watch":
            was = " (it was a watch channel)"
        elif prev is not None and prev.customer_id != c.id and prev.customer is not None:
            was = f" (it belonged to {safe(prev.customer.name)})"
        return Reply(f":link: This channel now belongs to *{safe(c.name)}*{was}: every message posted here is "
                     f"recorded as a signal for them. `/loop unlink` stops it.", public=True)

    def _watch(self, s: Session, ctx: Ctx) -> Reply:
        repo.set_channel_link(s, ctx.team_id, ctx.channel_id, "watch", None, ctx.user_id, self.clock())
        return Reply(":eyes: This is now a shared feedback channel: a message that names a customer (or one "
                     "of their aliases) is recorded as a signal for each customer it names. "
                     "`/loop unlink` stops it.", public=True)

    def _unlink(self, s: Session, ctx: Ctx) -> Reply:
        if not repo.remove_channel_link(s, ctx.team_id, ctx.channel_id):
            raise UsageError("This channel isn't linked to a customer or watched, so there is nothing to "
                             "unlink. `/loop link <customer>` or `/loop watch` set it up.")
        return Reply(":no_entry_sign: Messages in this channel are no longer recorded. Signals already "
                     "recorded stay.", public=True)

    def _forget(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        usage = "Usage: `/loop forget <customer> confirm`"
        parts = rest.rsplit(" ", 1)
        confirmed = len(parts) == 2 and parts[1].casefold() == "confirm"
        name = parts[0] if confirmed else rest
        c = self._customer_exact(s, ctx, strip_quotes(name), usage)
        if not confirmed:
            raise UsageError(f"This deletes every signal and learning of *{safe(c.name)}* and cannot be undone. "
                             f"To go ahead: `/loop forget {safe(c.name)} confirm`")
        n_sig, n_learn = repo.forget_customer(s, ctx.team_id, c.id)
        log.info("forgot customer %s of team %s: %d signals, %d learnings", c.id, ctx.team_id, n_sig,
                 n_learn)
        return Reply(f":wastebasket: Deleted {render.plural(n_sig, 'signal')} and {render.plural(n_learn, 'learning')} "
                     f"of *{safe(c.name)}*. "
                     "The customer and its milestones stay.", effects=[RefreshHome()])

    def _privacy(self, s: Session, ctx: Ctx, rest: str) -> Reply:
        m = re.fullmatch(r"llm\s+private\s+(on|off)", rest.strip(), re.IGNORECASE)
        if not m:
            raise UsageError("Usage: `/loop privacy llm private on|off` — `on` lets the LLM step read "
                             "signals from private channels (off by default).")
        ws = repo.ensure_workspace(s, ctx.team_id, self.clock())
        ws.llm_include_private = m.group(1).casefold() == "on"
        return Reply(":lock: The LLM step " + ("may now read" if ws.llm_include_private else "no longer reads")
                     + " signals from private channels.")


class DigestHooks:
    """The digest and learning-loop part of /loop; implemented in bot.learning."""

    def dispatch(self, s: Session, ctx: Ctx, verb: str, rest: str) -> Reply:  # pragma: no cover
        raise NotImplementedError


def _check_name(name: str, usage: str) -> None:
    if not name:
        raise UsageError(f"Give the customer's name. {usage}")
    if len(name) > cust.MAX_NAME:
        raise UsageError(f"That name is {len(name)} characters; keep it under {cust.MAX_NAME}.")
    if re.search(r"[<>*_`|]", name) or name[0] in "#@":
        raise UsageError(f"“{safe(name)}” can't be a name: leave out <, >, *, _, `, | and a leading # or @.")
    if re.fullmatch(r"\d+", name):
        raise UsageError("A name can't be only digits (numbers name milestones).")
    if name.casefold() in {"add", "start", "done", "reopen", "risk", "help", "impact", "owner", "due"}:
        raise UsageError(f"“{safe(name)}” is a command word; pick a name /milestone can tell apart.")


def _split_title(text: str) -> tuple[str, str]:
    """(title, options) from `"<title>" due …` or an unquoted title up to ` due `/` impact `."""
    quoted = take_quoted(text)
    if quoted is not None:
        return quoted[0].strip(), quoted[1]
    m = re.search(r"\s(due|impact)\s", " " + text + " ", re.IGNORECASE)
    if m:
        cut = max(0, m.start() - 1)
        return text[:cut].strip(), text[cut:].strip()
    return text.strip(), ""


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
            raise UsageError(f"Unexpected “{safe(word)}” after the title: only `due YYYY-MM-DD` and "
                             f"`impact \"<text>\"` may follow. {usage}")
        rest = rest.strip()
    return due, impact

