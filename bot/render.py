"""Plain data -> Block Kit (slack_sdk.models.blocks), within Slack's limits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

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
from bot.safety import quote, safe
from storage.models import Customer, Milestone

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """'1 signal', '3 signals' ('1 person', '2 people' with nouns given)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def fmt_date(d: date | datetime) -> str:
    return f"{d:%b} {d.day}"


def fmt_day(d: date) -> str:
    return f"{d:%a} {d:%b} {d.day}, {d.year}"


def mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text[:MAX_SECTION])


def section(text: str, accessory: Any = None) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text), accessory=accessory)


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(text)])


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=text[:MAX_HEADER])


def button(text: str, action_id: str, value: str, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=text, action_id=action_id, value=value, style=style)


def to_dicts(blocks: Sequence[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in blocks]


def outcome_line(c: Customer) -> str | None:
    if not c.outcome_required:
        return None
    text = quote(c.outcome_required)
    if c.outcome_experience:
        text += f", {quote(c.outcome_experience)}"
    return f"_Desired outcome: {text}_"


def milestone_line(m: Milestone, now: datetime, stall_days: int) -> str:
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


def milestone_buttons(m: Milestone) -> ActionsBlock | None:
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
    blocks: list[Block] = [header(f"{c.name}{seg} — {status.achieved} of {status.total} achieved")]
    if (line := outcome_line(c)) is not None:
        blocks.append(context(line))
    else:
        blocks.append(context(f"No desired outcome yet: `/loop customer outcome {safe(c.name)} <the outcome "
                              "they need> | <the experience they need it in>`"))
    if not c.milestones:
        blocks.append(section(f"No milestones yet. Add the first: `/milestone add {safe(c.name)} "
                              "\"<what the customer can do>\" due YYYY-MM-DD`"))
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


def portfolio_line(st: CustomerStatus) -> str:
    c = st.customer
    seg = f" ({quote(c.segment)})" if c.segment else ""
    head = f"*{quote(c.name)}*{seg} — {st.achieved}/{st.total}"
    if st.next is not None:
        head += f" · next: {st.next.position}. {quote(st.next.title, 80)} ({STATUS_LABEL[st.next.status]})"
    elif st.total:
        head += " · every milestone achieved :tada:"
    else:
        head += " · no milestones yet"
    if st.flags:
        head += " · " + " ".join(st.flags)
    return head


def portfolio(statuses: Sequence[CustomerStatus]) -> list[dict[str, Any]]:
    """/milestone with no customer: one line per customer, grouped into sections under the limits."""
    if not statuses:
        return to_dicts([section("No customers yet. Add one with `/loop customer add <name> "
                                 "[segment <segment>]`.")])
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
        blocks = blocks[: MAX_BLOCKS - 1] + [context("…more customers than fit: name one with "
                                                     "`/milestone <customer>`.")]
    blocks.append(context("Details and buttons: `/milestone <customer>`"))
    return to_dicts(blocks[:MAX_BLOCKS])


def customer_options(customers: Sequence[Customer]) -> list[dict[str, Any]]:
    """Static-select options (Slack allows 100), by name."""
    return [{"text": {"type": "plain_text", "text": c.name[:75]}, "value": str(c.id)}
            for c in sorted(customers, key=lambda c: c.name_key)[:100]]


def customer_picker(channel_id: str, ts: str, customers: Sequence[Customer]) -> list[dict[str, Any]]:
    """Ephemeral question after the capture reaction when no customer could be found."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "I couldn't tell which customer this message "
                                                                "is about. Pick one to record it:"}},
        {"type": "actions", "block_id": f"capture:{channel_id}:{ts}", "elements": [
            {"type": "static_select", "action_id": "capture_pick_customer",
             "placeholder": {"type": "plain_text", "text": "Customer"},
             "options": customer_options(customers)}]},
    ]


KIND_LABELS = {"auto": "Decide from the text", "problem": "Problem", "request": "Request",
               "question": "Question", "praise": "Praise", "churn-risk": "Churn risk", "other": "Other"}


def capture_modal(customers: Sequence[Customer], customer: Customer | None, metadata: str,
                  message_preview: str) -> dict[str, Any]:
    """The shortcut's modal: customer (prefilled when known), milestone, kind, optional note."""
    cust_el: dict[str, Any] = {"type": "static_select", "action_id": "customer",
                               "placeholder": {"type": "plain_text", "text": "Customer"},
                               "options": customer_options(customers)}
    if customer is not None:
        cust_el["initial_option"] = next(o for o in cust_el["options"] if o["value"] == str(customer.id))
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "> " + quote(message_preview, 280)}]},
        {"type": "input", "block_id": "customer", "dispatch_action": True, "label":
            {"type": "plain_text", "text": "Customer"}, "element": cust_el},
    ]
    ms_opts = [{"text": {"type": "plain_text", "text": f"{m.position}. {m.title}"[:75]}, "value": str(m.id)}
               for m in (customer.milestones if customer else [])][:100]
    if ms_opts:
        blocks.append({"type": "input", "block_id": "milestone", "optional": True,
                       "label": {"type": "plain_text", "text": "Milestone it is about"},
                       "hint": {"type": "plain_text", "text": "Leave empty when no milestone covers it: "
                                                              "it counts toward the success gap."},
                       "element": {"type": "static_select", "action_id": "milestone",
                                   "placeholder": {"type": "plain_text", "text": "None"},
                                   "options": ms_opts}})
    kinds = [{"text": {"type": "plain_text", "text": v}, "value": k} for k, v in KIND_LABELS.items()]
    blocks += [
        {"type": "input", "block_id": "kind", "label": {"type": "plain_text", "text": "Kind"},
         "element": {"type": "static_select", "action_id": "kind", "options": kinds,
                     "initial_option": kinds[0]}},
        {"type": "input", "block_id": "note", "optional": True,
         "label": {"type": "plain_text", "text": "Note"},
         "element": {"type": "plain_text_input", "action_id": "note", "multiline": True, "max_length": 1000}},
    ]
    return {"type": "modal", "callback_id": "capture_modal", "private_metadata": metadata,
            "title": {"type": "plain_text", "text": "Customer signal"},
            "submit": {"type": "plain_text", "text": "Record"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def impact_modal(m: Milestone) -> dict[str, Any]:
    el: dict[str, Any] = {"type": "plain_text_input", "action_id": "impact", "multiline": True,
                          "max_length": 500,
                          "placeholder": {"type": "plain_text", "text": "e.g. depot managers stop emailing HR"}}
    if m.expected_impact:
        el["initial_value"] = m.expected_impact
    return {"type": "modal", "callback_id": "impact_modal", "private_metadata": str(m.id),
            "title": {"type": "plain_text", "text": "Expected impact"},
            "submit": {"type": "plain_text", "text": "Save"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{m.position}. {quote(m.title)}*"}},
                       {"type": "input", "block_id": "impact", "element": el,
                        "label": {"type": "plain_text", "text": "What should the customer notice?"}}]}


def home_view(statuses: Sequence[CustomerStatus], now: datetime) -> dict[str, Any]:
    """App Home: the portfolio by segment — next milestone, status, flags, last signal."""
    blocks: list[Block] = [header("Customer portfolio")]
    if not statuses:
        blocks.append(section("No customers yet. Start with `/loop customer add <name> segment <segment>`, "
                              "then `/loop link <name>` in their channel. `/loop help` lists everything."))
    seg: str | None = "\0"
    for st in statuses:
        if len(blocks) >= MAX_BLOCKS - 2:
            blocks.append(context(f"…{len(statuses)} customers in all; `/milestone` lists every one."))
            break
        if st.customer.segment != seg:
            seg = st.customer.segment
            blocks.append(DividerBlock())
            blocks.append(section(f"*{quote(seg) if seg else 'No segment'}*"))
        last = (f"last signal {fmt_date(st.last_signal)}" if st.last_signal else "no signals yet")
        blocks.append(section(portfolio_line(st) + f"\n_{last}_"))
    blocks.append(context(f"Updated {now:%Y-%m-%d %H:%M} UTC · `/loop help`"))
    return {"type": "home", "blocks": to_dicts(blocks[:MAX_BLOCKS])}


# --- the weekly digest --------------------------------------------------------------------

QUESTION = "What are we learning, and what decision does it affect?"


def _who_when(q: Any) -> str:
    who = f"{quote(q.author, 40)}, " if q.author else ""
    link = f" <{q.permalink}|link>" if q.permalink and q.permalink.startswith("https://") else ""
    return f"— {who}{fmt_date(q.at)}{link}"


def quote_line(q: Any, limit: int = 200) -> str:
    from bot.digest import KIND_EMOJI

    tie = f" · #{q.milestone}" if q.milestone else ""
    return f"> {KIND_EMOJI.get(q.kind, '')} “{quote(q.text, limit)}” {_who_when(q)}{tie}"


def _kinds_line(kinds: dict[str, int]) -> str:
    from bot.digest import KIND_ORDER, KIND_PLURAL, KIND_SINGULAR

    return " · ".join(f"{kinds[k]} {KIND_SINGULAR.get(k, KIND_PLURAL[k]) if kinds[k] == 1 else KIND_PLURAL[k]}"
                      for k in KIND_ORDER if kinds.get(k))


def customer_blocks(sec: Any, with_gap_buttons: bool = True) -> tuple[list[Block], list[str]]:
    """One customer's part of the digest, and the quotes that continue in the thread."""
    from bot.digest import QUOTES_IN_MAIN

    seg = f" · {quote(sec.segment)}" if sec.segment else ""
    where = f"milestone {sec.next_position} of {sec.total}" if sec.next_position else (
        f"all {sec.total} milestones achieved" if sec.total else "no milestones yet")
    head = f"*{quote(sec.name)}*{seg} · {where}"
    if sec.outcome_required:
        exp = f", {quote(sec.outcome_experience)}" if sec.outcome_experience else ""
        head += f"\n_Desired outcome: {quote(sec.outcome_required)}{exp}_"
    blocks: list[Block] = [section(head)]
    if sec.narrative:
        blocks.append(section(f":sparkles: {sec.narrative}"))
    lines: list[str] = []
    for a in sec.achieved:
        lines.append(f":white_check_mark: *Achieved:* {quote(a.title)} ({fmt_date(a.at)})")
        if a.ask:
            lines.append(f"      :speech_balloon: time for the ask: {quote(a.ask)}")
    for mv in sec.moves:
        if mv.to_status in ("in_progress",) and mv.from_status in ("planned", "achieved", "at_risk"):
            verb = {"planned": "Started", "achieved": "Reopened", "at_risk": "Back on track"}[mv.from_status]
            lines.append(f":arrow_forward: *{verb}:* {quote(mv.title)} ({fmt_date(mv.at)})")
    labels = {"at_risk": ":warning: *At risk:*", "stalled": ":hourglass: *Stalled:*",
              "overdue": ":alarm_clock: *Overdue:*"}
    for f in sec.flags:
        line = f"{labels[f.kind]} {quote(f.title)} — {f.detail}"
        if f.evidence is not None:
            line += f"\n      “{quote(f.evidence.text, 140)}” {_who_when(f.evidence)}"
        lines.append(line)
    if sec.slowdown is not None:
        lines.append(f":turtle: *Slowing down:* {sec.slowdown.recent} milestones in the last 30 days against "
                     f"{sec.slowdown.expected} expected from {sec.slowdown.basis}")
    for rv in sec.impact:
        lines.append(rv.line())
    if lines:
        blocks += [section(chunk) for chunk in _chunks(lines)]
    if sec.signal_count:
        said = f"*What they said* ({sec.signal_count}) — {_kinds_line(sec.kinds)}"
        shown = sec.quotes[:QUOTES_IN_MAIN]
        rest = [quote_line(q) for q in sec.quotes[QUOTES_IN_MAIN:]]
        body = [said] + [quote_line(q) for q in shown]
        if rest:
            body.append(f"   …and {len(rest)} more in the thread :thread:")
        if sec.private_count:
            body.append(f"   _{sec.private_count} from private channels, counted but not quoted here_")
        blocks += [section(chunk) for chunk in _chunks(body)]
    else:
        rest = []
        blocks.append(context("No signals this week."))
    if sec.gap:
        g = sec.gap[0]
        text = (f"*Success gap* — talked about, covered by no milestone: {quote(g.theme)} "
                f"({g.count} this week, {plural(g.total, 'signal')} over {plural(g.weeks, 'week')})")
        others = ", ".join(f"{quote(x.theme)} ({x.total})" for x in sec.gap[1:])
        if others:
            text += f"; also {others}"
        acc = None
        if with_gap_buttons and g.weeks >= 3:
            acc = button("Add as milestone", "gap_add_milestone", f"{sec.customer_id}|{g.theme[:60]}")
        blocks.append(section(text, accessory=acc))
    elif sec.gap_count:
        blocks.append(context(f"{plural(sec.gap_count, 'signal')} tied to no milestone (the success gap)"))
    return blocks, ([f"*{quote(sec.name)}* — more of what they said"] + rest if rest else [])


def _chunks(lines: list[str], limit: int = MAX_SECTION - 50) -> list[str]:
    """Join lines into texts under Slack's section limit (a single long line is cut)."""
    out: list[str] = []
    cur = ""
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        if cur and len(cur) + 1 + len(line) > limit:
            out.append(cur)
            cur = line
        else:
            cur = f"{cur}\n{line}" if cur else line
    if cur:
        out.append(cur)
    return out


def digest_header(dg: Any) -> list[Block]:
    where = f"  ·  <#{dg.channel_id}>" if dg.channel_id else ""
    title = f":bar_chart: *Weekly customer loop — week {dg.week.week} ({dg.week.span_label()})*{where}"
    people = f"{plural(dg.signal_count, 'signal')} from {plural(dg.people, 'person', 'people')}"
    stats = (f"{people} (last week {dg.last_week_count}) · {plural(dg.achieved_count, 'milestone')} achieved · "
             f"{dg.at_risk_count} at risk")
    blocks: list[Block] = [section(title), context(stats)]
    if dg.late:
        blocks.append(context(":clock3: Posted late: the app was not running at the scheduled time."))
    if dg.llm_note:
        blocks.append(context(dg.llm_note))
    return blocks


def decision_blocks(dg: Any) -> list[Block]:
    if not dg.decisions:
        return []
    blocks: list[Block] = [section(":arrows_counterclockwise: *Last week's decisions — did they hold?*")]
    for d in dg.decisions[:8]:
        owner = f" — <@{d.owner_id}>" if d.owner_id else ""
        due = f", review {fmt_date(d.review_on)}" if d.review_on else ""
        again = " _(still open)_" if d.outcome == "still_open" else ""
        blocks.append(section(f"• “{quote(d.decision, 300)}”{owner}{due}{again}\n"
                              f"   _because: {quote(d.learning, 200)}_"))
        blocks.append(ActionsBlock(block_id=f"review:{d.learning_id}", elements=[
            button("Held", "decision_held", str(d.learning_id), "primary"),
            button("Changed", "decision_changed", str(d.learning_id)),
            button("Still open", "decision_still_open", str(d.learning_id))]))
    if len(dg.decisions) > 8:
        blocks.append(context(f"…and {len(dg.decisions) - 8} more: `/loop decisions`"))
    return blocks


TAIL_SECTIONS = 3


def tail_blocks(dg: Any, run_id: int | None) -> tuple[list[Block], list[str]]:
    """Quiet / collecting-without-acting / themes, then the question; lines that don't fit go to the thread."""
    blocks: list[Block] = []
    lines = []
    for name, weeks, title in dg.quiet:
        during = f" while “{quote(title)}” is in progress" if title else ""
        lines.append(f"*Quiet:* {quote(name)} — no signals for {plural(weeks, 'week')}{during}")
    for name, n in dg.collecting:
        lines.append(f"*Collecting without acting:* {quote(name)} — {plural(n, 'signal')} in 3 weeks, "
                     "no decision recorded")
    for t in dg.themes:
        lines.append(t.line() if hasattr(t, "line") else str(t))
    overflow: list[str] = []
    if lines:
        chunks = _chunks(lines)
        blocks.append(DividerBlock())
        blocks += [section(c) for c in chunks[:TAIL_SECTIONS]]
        overflow = chunks[TAIL_SECTIONS:]
    blocks.append(DividerBlock())
    value = str(run_id or 0)
    blocks.append(section(f":thinking_face: *{QUESTION}*\nReply in the thread, or add one here.",
                          accessory=button("Add a learning", "add_learning", value, "primary")))
    return blocks, overflow


def digest_messages(dg: Any, run_id: int | None = None) -> list[tuple[str, list[dict[str, Any]]]]:
    """The digest as Slack messages: the first is posted, the rest continue in its thread.

    Every message stays within 50 blocks and 3000 characters per section; nothing is dropped.
    """
    fallback = f"Weekly customer loop — week {dg.week.week}: {plural(dg.signal_count, 'signal')}"
    head = digest_header(dg) + decision_blocks(dg)
    tail, tail_overflow = tail_blocks(dg, run_id)
    budget = MAX_BLOCKS - len(head) - len(tail) - 1  # one block kept for the "continues in the thread" note
    main: list[Block] = list(head)
    thread_blocks: list[list[Block]] = []
    more_quotes: list[str] = []
    overflowed = 0
    for sec in dg.customers:
        blocks, rest = customer_blocks(sec)
        more_quotes += rest
        group = [DividerBlock(), *blocks][:MAX_BLOCKS]
        if len(group) <= budget and not overflowed:
            main += group
            budget -= len(group)
        else:
            overflowed += 1
            thread_blocks.append(group)
    if overflowed:
        tail.insert(0, context(f":thread: {overflowed} more customer{'s' if overflowed != 1 else ''} "
                               "continue in the thread."))
    main += tail
    messages = [(fallback, to_dicts(main[:MAX_BLOCKS]))]
    # thread: whole customers first, then the remaining quotes, each message under the limits
    batch: list[Block] = []
    for group in thread_blocks:
        if len(batch) + len(group) > MAX_BLOCKS:
            messages.append((f"{fallback} (continued)", to_dicts(batch)))
            batch = []
        batch += group[1:] if not batch else group
    for chunk in _chunks(more_quotes) + tail_overflow:
        if len(batch) + 1 > MAX_BLOCKS:
            messages.append((f"{fallback} (continued)", to_dicts(batch)))
            batch = []
        batch.append(section(chunk))
    if batch:
        messages.append((f"{fallback} (continued)", to_dicts(batch)))
    return messages


MAX_THREAD_MESSAGES = 4


def cap_thread(messages: list[tuple[str, list[dict[str, Any]]]], limit: int = MAX_THREAD_MESSAGES
               ) -> tuple[list[tuple[str, list[dict[str, Any]]]], bool]:
    """At most `limit` replies in the thread; when more would be needed the last one points to the full file.

    The number of Web API calls per digest stays the same however big the week is.
    """
    if len(messages) <= 1 + limit:
        return messages, False
    kept = messages[: 1 + limit]
    text, blocks = kept[-1]
    if len(blocks) >= MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1]
    rest = len(messages) - 1 - limit
    note = context(f":page_facing_up: {rest} more message{'s' if rest != 1 else ''} of this digest did not fit "
                   "in the thread: the whole digest is in the attached file.").to_dict()
    kept[-1] = (text, [*blocks, note])
    return kept, True


def digest_text(dg: Any, names: dict[str, str] | None = None) -> str:
    """The digest as plain terminal text (mrkdwn kept readable), for `--print` and the demo.

    `names` maps user and channel ids to the names Slack would show for their mentions.
    """
    names = names or {}
    import re as _re

    out: list[str] = []
    for i, (_, blocks) in enumerate(digest_messages(dg, dg.run_id)):
        if i == 1:
            out.append("\n────────── in the digest's thread ──────────")
        for b in blocks:
            t = b.get("type")
            if t == "divider":
                out.append("─" * 60)
            elif t == "section":
                line = b["text"]["text"]
                acc = b.get("accessory")
                if acc and acc.get("type") == "button":
                    line += f"  [{acc['text']['text']}]"
                out.append(line)
            elif t == "context":
                out.append("  " + " ".join(e.get("text", "") for e in b["elements"]))
            elif t == "actions":
                out.append("   " + " ".join(f"[{e['text']['text']}]" for e in b["elements"]))
            elif t == "header":
                out.append(b["text"]["text"])
    text = "\n".join(out)
    text = _re.sub(r" <(https?://[^|>]+)\|link>", "", text)
    text = _re.sub(r"<#([A-Z0-9]+)>", lambda m: "#" + names.get(m.group(1), m.group(1)), text)
    text = _re.sub(r"<@([A-Z0-9]+)>", lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def learning_modal(customers: Sequence[Customer], metadata: str, user: str, review_on: date,
                   text: str | None = None, decision: str | None = None,
                   selected_customers: Sequence[int] = (), title: str = "Add a learning") -> dict[str, Any]:
    """What are we learning, which decision it affects, for which customers and milestones, who, by when."""
    def plain(block: str, label: str, optional: bool, initial: str | None, multiline: bool, max_len: int,
              placeholder: str) -> dict[str, Any]:
        el: dict[str, Any] = {"type": "plain_text_input", "action_id": block, "multiline": multiline,
                              "max_length": max_len, "placeholder": {"type": "plain_text", "text": placeholder}}
        if initial:
            el["initial_value"] = initial[:max_len]
        return {"type": "input", "block_id": block, "optional": optional, "element": el,
                "label": {"type": "plain_text", "text": label}}

    blocks: list[dict[str, Any]] = [
        plain("learning", "What are we learning?", False, text, True, 2000,
              "e.g. double texts hurt trust more than a missing WhatsApp channel"),
        plain("decision", "Which decision does it affect?", True, decision, False, 500,
              "e.g. ship the SMS fix before adding WhatsApp"),
    ]
    opts = customer_options(customers)
    if opts:
        el: dict[str, Any] = {"type": "multi_static_select", "action_id": "customers", "options": opts,
                              "placeholder": {"type": "plain_text", "text": "Customers"}}
        chosen = [o for o in opts if int(o["value"]) in set(selected_customers)]
        if chosen:
            el["initial_options"] = chosen
        blocks.append({"type": "input", "block_id": "customers", "optional": True, "element": el,
                       "label": {"type": "plain_text", "text": "Customers"}})
        ms_opts = [{"text": {"type": "plain_text", "text": f"{c.name[:30]} · {m.position}. {m.title}"[:75]},
                    "value": str(m.id)} for c in sorted(customers, key=lambda c: c.name_key)
                   for m in c.milestones][:100]
        if ms_opts:
            blocks.append({"type": "input", "block_id": "milestones", "optional": True,
                           "label": {"type": "plain_text", "text": "Milestones"},
                           "element": {"type": "multi_static_select", "action_id": "milestones",
                                       "options": ms_opts,
                                       "placeholder": {"type": "plain_text", "text": "Milestones"}}})
    blocks += [
        {"type": "input", "block_id": "owner", "optional": True, "label": {"type": "plain_text", "text": "Owner"},
         "element": {"type": "users_select", "action_id": "owner", "initial_user": user}},
        {"type": "input", "block_id": "review", "optional": True,
         "label": {"type": "plain_text", "text": "Review the decision on"},
         "element": {"type": "datepicker", "action_id": "review", "initial_date": review_on.isoformat()}},
    ]
    return {"type": "modal", "callback_id": "learning_modal", "private_metadata": metadata,
            "title": {"type": "plain_text", "text": title}, "submit": {"type": "plain_text", "text": "Save"},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": blocks}


def milestone_add_modal(customer: Customer, title: str, metadata: str) -> dict[str, Any]:
    """Add a milestone, prefilled (from a success-gap theme)."""
    return {"type": "modal", "callback_id": "milestone_add_modal", "private_metadata": metadata,
            "title": {"type": "plain_text", "text": "Add a milestone"},
            "submit": {"type": "plain_text", "text": "Add"}, "close": {"type": "plain_text", "text": "Cancel"},
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{quote(customer.name)}* — a step toward "
                                                                       "their outcome, in their words."}},
                {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Milestone"},
                 "element": {"type": "plain_text_input", "action_id": "title", "initial_value": title[:200],
                             "max_length": 200}},
                {"type": "input", "block_id": "due", "optional": True, "label": {"type": "plain_text", "text": "Due"},
                 "element": {"type": "datepicker", "action_id": "due"}},
                {"type": "input", "block_id": "impact", "optional": True,
                 "label": {"type": "plain_text", "text": "What will the customer notice?"},
                 "element": {"type": "plain_text_input", "action_id": "impact", "max_length": 500}},
            ]}
