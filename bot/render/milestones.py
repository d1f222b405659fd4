"""Milestones as Block Kit: /milestone, the portfolio and App Home."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, DividerBlock

from bot.cards import MilestoneCard
from bot.milestones import (
    ACHIEVED,
    AT_RISK,
    IN_PROGRESS,
    PLANNED,
    STATUS_EMOJI,
    STATUS_LABEL,
    CustomerStatus,
    days_overdue,
    days_unchanged,
    is_overdue,
    is_stalled,
    segment_rules,
)
from bot.render.blocks import MAX_BLOCKS, MAX_SECTION, button, context, header, section, to_dicts
from bot.safety import quote, safe
from bot.text import fmt_date


def outcome_line(required: str | None, experience: str | None) -> str | None:
    """A customer's desired outcome, and the experience they need it in."""
    if not required:
        return None
    text = quote(required)
    if experience:
        text += f", {quote(experience)}"
    return f"_Desired outcome: {text}_"


def milestone_line(m: MilestoneCard, now: datetime, stall_days: int) -> str:
    """One milestone: status emoji, number, title, then due/overdue/stalled/owner with reasons."""
    today = now.date()
    parts = [f"{STATUS_EMOJI[m.status]} *{m.position}. {quote(m.title)}* — {STATUS_LABEL[m.status]}"]
    if m.status == ACHIEVED and m.achieved_at:
        parts.append(f"on {fmt_date(m.achieved_at)}")
    if m.due_date and m.status != ACHIEVED:
        if is_overdue(m, today):
            parts.append(f":alarm_clock: overdue {days_overdue(m, today)}d (due {fmt_date(m.due_date)})")
        else:
            parts.append(f"due {fmt_date(m.due_date)}")
    if is_stalled(m, now, stall_days):
        parts.append(f":hourglass: no change for {days_unchanged(m, now)} days")
    if m.owner_id:
        parts.append(f"owner <@{m.owner_id}>")
    line = " · ".join(parts)
    if m.status == AT_RISK and m.risk_reason:
        line += f"\n      _{quote(m.risk_reason, 200)}_"
    if m.expected_impact:
        line += f"\n      :dart: expected impact: {quote(m.expected_impact, 200)}"
    return line


def milestone_buttons(m: MilestoneCard) -> ActionsBlock | None:
    value = str(m.id)
    buttons = []
    if m.status in (PLANNED, AT_RISK):
        buttons.append(button("Start", "ms_start", value))
    if m.status != ACHIEVED:
        buttons.append(button("Done", "ms_done", value, "primary"))
    if m.status in (PLANNED, IN_PROGRESS):
        buttons.append(button("At risk", "ms_risk", value, "danger"))
    if m.status == ACHIEVED:
        buttons.append(button("Reopen", "ms_reopen", value))
    buttons.append(button("Expected impact", "ms_impact", value))
    return ActionsBlock(block_id=f"ms:{m.id}", elements=buttons)


def customer_milestones(status: CustomerStatus, now: datetime) -> list[dict[str, Any]]:
    """/milestone <customer>: outcome on top, n of m, one line and buttons per milestone."""
    c = status.customer
    rules = segment_rules(c.segment)
    seg = f" · {c.segment}" if c.segment else ""
    blocks: list[Block] = [header(f"{c.name}{seg} — {where(status)}".replace(" :tada:", ""))]
    if (line := outcome_line(c.outcome_required, c.outcome_experience)) is not None:
        blocks.append(context(line))
    else:
        blocks.append(
            context(
                f"No desired outcome yet: `/loop customer outcome {safe(c.name)} <the outcome "
                "they need> | <the experience they need it in>`"
            )
        )
    if not c.milestones:
        blocks.append(
            section(
                f"No milestones yet. Add the first: `/milestone add {safe(c.name)} "
                '"<what the customer can do>" due YYYY-MM-DD`'
            )
        )
    room = MAX_BLOCKS - len(blocks) - 1
    shown = 0
    for m in c.milestones:
        if room < 2:
            break
        blocks.append(section(milestone_line(m, now, rules.stall_days)))
        acts = milestone_buttons(m)
        if acts is not None:
            blocks.append(acts)
        room -= 2
        shown += 1
    if shown < len(c.milestones):
        blocks.append(context(f"…and {len(c.milestones) - shown} more milestones not shown."))
    return to_dicts(blocks)


def where(st: CustomerStatus) -> str:
    """ "milestone 2 of 5 (1 achieved)": the same words in the digest, App Home and /milestone."""
    if st.next is not None:
        return f"milestone {st.next.position} of {st.total} ({st.achieved} achieved)"
    if st.total:
        return f"all {st.total} milestones achieved :tada:"
    return "no milestones yet"


def portfolio_line(st: CustomerStatus) -> str:
    c = st.customer
    seg = f" ({quote(c.segment)})" if c.segment else ""
    head = f"*{quote(c.name)}*{seg} — {where(st)}"
    if st.next is not None:
        head += f" · next: {quote(st.next.title, 80)} ({STATUS_LABEL[st.next.status]})"
    if st.flags:
        head += " · " + " ".join(st.flags)
    return head


def portfolio(statuses: Sequence[CustomerStatus]) -> list[dict[str, Any]]:
    """/milestone with no customer: one line per customer, grouped into sections under the limits."""
    if not statuses:
        return to_dicts([section("No customers yet. Add one with `/loop customer add <name> [segment <segment>]`.")])
    blocks: list[Block] = [header(f"Milestones — {len(statuses)} customers")]
    chunk = ""
    for st in statuses:
        line = portfolio_line(st)
        if len(chunk) + len(line) + 1 > MAX_SECTION - 100:
            blocks.append(section(chunk))
            chunk = ""
        chunk += line + "\n"
    if chunk:
        blocks.append(section(chunk))
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1] + [
            context("…more customers than fit: name one with `/milestone <customer>`.")
        ]
    blocks.append(context("Details and buttons: `/milestone <customer>`"))
    return to_dicts(blocks[:MAX_BLOCKS])


def home_view(
    statuses: Sequence[CustomerStatus],
    now: datetime,
    dm_opt_out: bool = False,
    search_text: str = "",
    found: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """App Home: a search box over what customers said, the portfolio by segment — next milestone, status, flags,
    last signal — and your settings."""
    box: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "home_search",
        "dispatch_action_config": {"trigger_actions_on": ["on_enter_pressed"]},
        "placeholder": {"type": "plain_text", "text": 'e.g. "single sign-on" customer:Marlow since:90d'},
    }
    if search_text:
        box["initial_value"] = search_text[:150]
    search_blocks: list[Any] = [
        {
            "type": "input",
            "block_id": "home_search",
            "dispatch_action": True,
            "label": {"type": "plain_text", "text": "Search what customers said"},
            "element": box,
        },
        *list(found)[:12],
    ]
    blocks: list[Block] = [header("Customer portfolio")]
    if not statuses:
        blocks.append(
            section(
                "No customers yet. Start with `/loop customer add <name> segment <segment>`, "
                "then `/loop link <name>` in their channel. `/loop help` lists everything."
            )
        )
    seg: str | None = "\0"
    for st in statuses:
        if len(blocks) >= MAX_BLOCKS - 5:
            blocks.append(context(f"…{len(statuses)} customers in all; `/milestone` lists every one."))
            break
        if st.customer.segment != seg:
            seg = st.customer.segment
            blocks.append(DividerBlock())
            blocks.append(section(f"*{quote(seg) if seg else 'No segment'}*"))
        last = f"last signal {fmt_date(st.last_signal)}" if st.last_signal else "no signals yet"
        blocks.append(section(portfolio_line(st) + f"\n_{last}_"))
    blocks.append(DividerBlock())
    if dm_opt_out:
        note = ":no_bell: You don't get messages about what came of the signals you raised."
        toggle = button("Turn them on", "home_dm_opt_in", "on")
    else:
        note = (
            ":bell: When a milestone or decision comes of a signal you raised, you get one message a day "
            "at most, never at night."
        )
        toggle = button("Turn them off", "home_dm_opt_out", "off")
    blocks.append(section(note, accessory=toggle))
    blocks.append(context(f"Updated {now:%Y-%m-%d %H:%M} UTC · `/loop help`"))
    room = MAX_BLOCKS - len(search_blocks)
    return {"type": "home", "blocks": search_blocks + to_dicts(blocks[:room])}
