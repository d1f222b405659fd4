"""`/loop customer …`, `/loop link|watch|unlink`, `/loop forget` and `/loop privacy`: who the customers are,
which channels speak for them, and what may leave the workspace."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy.orm import Session

from bot import connect, framing
from bot import customers as cust
from bot import milestones as ms
from bot.commands.parsing import (
    Ctx,
    UsageError,
    check_name,
    customer_exact,
    customer_prefix,
    did_you_mean,
    strip_quotes,
    take_quoted,
)
from bot.effects import CheckMember, RefreshHome, Reply
from bot.render.milestones import outcome_line
from bot.safety import safe
from storage import repo

log = logging.getLogger(__name__)

CUSTOMER_USAGE = (
    "Usage: `/loop customer add <name> [segment <segment>]`, `/loop customer alias <name> <alias>`, "
    "`/loop customer outcome <name> <outcome> | <experience>` or "
    "`/loop customer owner <name> @person`"
)
CUSTOMER_VERBS = ["add", "alias", "outcome", "owner"]
# words a customer may not be called: the commands would read them as sub-commands
RESERVED = {
    "add",
    "start",
    "done",
    "reopen",
    "risk",
    "help",
    "impact",
    "owner",
    "due",
    "rename",
    "remove",
    "move",
    "ask",
    "search",
}


def customer(s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
    sub, _, tail = rest.partition(" ")
    sub, tail = sub.casefold(), tail.strip()
    if sub == "add":
        return add(s, ctx, tail, now)
    if sub == "alias":
        return alias(s, ctx, tail)
    if sub == "outcome":
        return outcome(s, ctx, tail)
    if sub == "owner":
        return owner(s, ctx, tail)
    hint = did_you_mean(sub, CUSTOMER_VERBS) if sub else ""
    raise UsageError((f"Unknown command `/loop customer {safe(sub)}`.{hint}\n" if sub else "") + CUSTOMER_USAGE)


def add(s: Session, ctx: Ctx, text: str, now: datetime) -> Reply:
    usage = "Usage: `/loop customer add <name> [segment <segment>]`"
    templates = ms.templates_for(s, ctx.team_id)
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
    if quoted is None and bare and bare.group(1).casefold() in templates:
        raise UsageError(
            f"Give the customer's name before `segment`, e.g. `/loop customer add Acme segment "
            f"{safe(bare.group(1))}`. {usage}"
        )
    if tail:
        sm = re.match(r"^segment\s+(\S+)$", tail, re.IGNORECASE)
        if not sm:
            raise UsageError(f"After the name, only `segment <segment>` may follow. {usage}")
        segment = strip_quotes(sm.group(1)).casefold()
    elif re.search(r"\bsegment$", text, re.IGNORECASE) and quoted is not None:
        raise UsageError(f"`segment` needs a value, e.g. `segment smb`. {usage}")
    name = cust.clean_name(name)
    check_name(name, usage, RESERVED)
    k = cust.key(name)
    if repo.customer_by_key(s, team_id=ctx.team_id, key=k) or repo.alias_owner(s, team_id=ctx.team_id, key=k):
        raise UsageError(f"A customer or alias named “{safe(name)}” already exists: see `/milestone {safe(name)}`.")
    c = repo.add_customer(s, team_id=ctx.team_id, name=name, key=k, segment=segment, now=now)
    repo.bump_routing(s, team_id=ctx.team_id)
    note = ""
    if segment and segment in templates:
        seg = templates[segment]
        for milestone in ms.instantiate_template(c, seg, now, ctx.user_id):
            s.add(milestone)
        s.flush()
        s.refresh(c)
        note = f" with the {len(seg.milestones)} milestones of the *{safe(seg.key)}* template"
        advice = [a for t in seg.milestones if (a := framing.advice(t.title, c.name))]
        if advice:
            note += "\n" + advice[0]
    elif segment:
        known = ", ".join(f"`{k}`" for k in templates) or "none"
        note = (
            f" in segment *{safe(segment)}* (no milestone template for it; templates: {known}). "
            f'Add milestones with `/milestone add {safe(name)} "<title>"`'
        )
    else:
        note = f'. Add milestones with `/milestone add {safe(name)} "<title>"`'
    return Reply(
        f":bust_in_silhouette: Added *{safe(name)}*{note}.\nNext: `/loop customer outcome "
        f"{safe(name)} <the outcome they need> | <the experience they need it in>` and "
        f"`/loop link {safe(name)}` in their channel.",
        effects=[RefreshHome()],
    )


def alias(s: Session, ctx: Ctx, text: str) -> Reply:
    usage = "Usage: `/loop customer alias <name> <alias>`"
    c, rest = customer_prefix(s, ctx, text, usage)
    name = cust.clean_name(rest)
    if not name:
        raise UsageError(f"Give the alias after the name. {usage}")
    check_name(name, usage, RESERVED)
    k = cust.key(name)
    owner_of = repo.customer_by_key(s, team_id=ctx.team_id, key=k) or repo.alias_owner(s, team_id=ctx.team_id, key=k)
    if owner_of is not None:
        raise UsageError(f"“{safe(name)}” already names *{safe(owner_of.name)}*; pick another alias.")
    repo.add_alias(s, customer=c, alias=name, key=k)
    repo.bump_routing(s, team_id=ctx.team_id)
    return Reply(f":label: *{safe(c.name)}* can now also be called “{safe(name)}”.")


def outcome(s: Session, ctx: Ctx, text: str) -> Reply:
    usage = "Usage: `/loop customer outcome <name> <the outcome they need> | <the experience they need it in>`"
    c, rest = customer_prefix(s, ctx, text, usage)
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
    line = outcome_line(c.outcome_required, c.outcome_experience) or ""
    hint = (
        ""
        if c.outcome_experience
        else ("\nTip: add the experience they need it in after a `|`, e.g. `… | without phoning anyone`.")
    )
    return Reply(f":dart: *{safe(c.name)}* — {line}{hint}", effects=[RefreshHome()])


def owner(s: Session, ctx: Ctx, text: str) -> Reply:
    from bot.commands.parsing import USER_MENTION

    usage = "Usage: `/loop customer owner <name> @person` (or `none`)"
    c, rest = customer_prefix(s, ctx, text, usage)
    rest = rest.strip()
    if rest.casefold() == "none":
        c.owner_id = None
        return Reply(f":bust_in_silhouette: *{safe(c.name)}* has no owner now; nudges go to its linked channel.")
    um = USER_MENTION.match(rest)
    if not um:
        if rest.startswith("@"):
            raise UsageError(
                f"“{safe(rest)}” reached signalloop as plain text, not a mention: pick the person from Slack's @ list."
            )
        raise UsageError(f"Mention the owner as @person. {usage}")
    c.owner_id = um.group(1)
    return Reply(
        f":bust_in_silhouette: <@{c.owner_id}> now looks after *{safe(c.name)}*: nudges and "
        "“tell the customer” prompts go to them.",
        effects=[RefreshHome()],
    )


def link(s: Session, ctx: Ctx, name: str, now: datetime) -> Reply:
    usage = "Usage: `/loop link <customer>` in the customer's channel"
    c = customer_exact(s, ctx, name, usage)
    prev = repo.channel_link(s, team_id=ctx.team_id, channel_id=ctx.channel_id)
    was = ""
    if prev is not None and prev.kind == "watch":
        was = " (it was a watch channel)"
    elif prev is not None and prev.customer_id != c.id and prev.customer is not None:
        was = f" (it belonged to {safe(prev.customer.name)})"
    repo.set_channel_link(
        s,
        team_id=ctx.team_id,
        channel_id=ctx.channel_id,
        kind="customer",
        customer_id=c.id,
        user_id=ctx.user_id,
        now=now,
    )
    # Slack Connect: the channel's organisation that is theirs makes their people's words first-hand
    connect.adopt_orgs(s, ctx.team_id, ctx.channel_id, c.id, now)
    repo.bump_routing(s, team_id=ctx.team_id)
    return Reply(
        f":link: This channel now belongs to *{safe(c.name)}*{was}: every message posted here is "
        f"recorded as a signal for them. `/loop unlink` stops it.",
        public=True,
        effects=[CheckMember(ctx.channel_id, ctx.user_id)],
    )


def watch(s: Session, ctx: Ctx, now: datetime) -> Reply:
    repo.set_channel_link(
        s, team_id=ctx.team_id, channel_id=ctx.channel_id, kind="watch", customer_id=None, user_id=ctx.user_id, now=now
    )
    repo.bump_routing(s, team_id=ctx.team_id)
    return Reply(
        ":eyes: This is now a shared feedback channel: a message that names a customer (or one "
        "of their aliases) is recorded as a signal for each customer it names. "
        "`/loop unlink` stops it.",
        public=True,
        effects=[CheckMember(ctx.channel_id, ctx.user_id)],
    )


def unlink(s: Session, ctx: Ctx) -> Reply:
    if not repo.remove_channel_link(s, team_id=ctx.team_id, channel_id=ctx.channel_id):
        raise UsageError(
            "This channel isn't linked to a customer or watched, so there is nothing to "
            "unlink. `/loop link <customer>` or `/loop watch` set it up."
        )
    repo.bump_routing(s, team_id=ctx.team_id)
    return Reply(
        ":no_entry_sign: Messages in this channel are no longer recorded. Signals already recorded stay.", public=True
    )


def replies(s: Session, ctx: Ctx, rest: str) -> Reply:
    value = rest.strip().casefold()
    if value not in ("on", "off"):
        raise UsageError(
            "Usage: `/loop replies on|off` in a linked or watch channel — on: when a milestone or a "
            "decision comes of a signal captured here, a short reply goes in that message's thread."
        )
    link = repo.channel_link(s, team_id=ctx.team_id, channel_id=ctx.channel_id)
    if link is None:
        raise UsageError(
            "This channel isn't linked or watched, so nothing is captured here to reply to. "
            "`/loop link <customer>` or `/loop watch` first."
        )
    link.thread_replies = value == "on"
    if link.thread_replies:
        return Reply(
            ":thread: When something comes of a signal captured here, its thread gets a short reply. "
            "`/loop replies off` stops them.",
            public=True,
        )
    return Reply(":thread: No more thread replies on captured messages in this channel.", public=True)


def forget(s: Session, ctx: Ctx, rest: str) -> Reply:
    """What would be deleted, and a confirm button (handlers.actions.forget deletes it, in one transaction)."""
    from bot import purge
    from bot.render.blocks import button, section, to_dicts

    usage = "Usage: `/loop forget <customer>`"
    name = re.sub(r"\s+confirm$", "", rest.strip(), flags=re.I)
    c = customer_exact(s, ctx, name, usage)
    t = purge.find(s, ctx.team_id, name)
    assert not isinstance(t, cust.NoMatch)
    head = purge.resolved(t)
    lines = [f":warning: {safe(head)}" if head else ":warning:"]
    lines[0] += f" This deletes *{safe(c.name)}* and everything stored about it; it cannot be undone:"
    lines += [f"• {safe(item)}" for item in purge.items(t, "<#{}>")]
    text = "\n".join(lines)
    confirm = {
        "title": {"type": "plain_text", "text": "Delete this customer?"},
        "text": {"type": "plain_text", "text": f"Delete {c.name[:100]} and everything stored about it?"},
        "confirm": {"type": "plain_text", "text": "Delete"},
        "deny": {"type": "plain_text", "text": "Keep"},
    }
    btn = button(f"Delete {c.name[:40]}", "forget_confirm", str(c.id), style="danger").to_dict()
    btn["confirm"] = confirm
    blocks = to_dicts([section(text[:2900])]) + [{"type": "actions", "block_id": "forget", "elements": [btn]}]
    return Reply(text, blocks=blocks)


PRIVACY_USAGE = (
    "Usage: `/loop privacy` shows the settings; `/loop privacy llm private on|off` lets the LLM step "
    "read private channels' signals (off by default); `/loop privacy llm redact on|off` replaces "
    "e-mails, phone, card and IBAN numbers with placeholders before the model sees them (on by default)."
)


def privacy(s: Session, ctx: Ctx, rest: str, now: datetime) -> Reply:
    ws = repo.ensure_workspace(s, team_id=ctx.team_id, now=now)
    if not rest.strip():
        return Reply(
            ":lock: *What the LLM step may read* (only when a model is configured)\n"
            f"• Private channels' signals: *{'on' if ws.llm_include_private else 'off'}*\n"
            f"• Personal data redacted (e-mails, phone, card and IBAN numbers, mentions, links): "
            f"*{'on' if ws.llm_redact else 'off'}*\n" + PRIVACY_USAGE
        )
    m = re.fullmatch(r"llm\s+(private|redact)\s+(on|off)", rest.strip(), re.IGNORECASE)
    if not m:
        raise UsageError(PRIVACY_USAGE)
    on = m.group(2).casefold() == "on"
    if m.group(1).casefold() == "private":
        ws.llm_include_private = on
        return Reply(
            ":lock: The LLM step " + ("may now read" if on else "no longer reads") + " signals from private channels."
        )
    ws.llm_redact = on
    if on:
        return Reply(
            ":lock: Personal data (e-mails, phone, card and IBAN numbers) is replaced by placeholders "
            "before any text reaches the model."
        )
    return Reply(
        ":warning: Redaction is off: e-mails and phone, card and IBAN numbers in signals reach the model "
        "as typed. `/loop privacy llm redact on` turns it back on."
    )
