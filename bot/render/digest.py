"""The weekly digest as Slack messages: the first is posted, the rest continue in its thread."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import ActionsBlock, Block, DividerBlock

from bot.explain import EXPLANATIONS
from bot.kinds import KIND_EMOJI, KIND_ORDER, kind_count
from bot.render.blocks import MAX_BLOCKS, button, chunks, context, section, to_dicts
from bot.safety import quote, readable
from bot.text import QUESTION, fmt_date, plural

QUOTES_IN_MAIN = 4  # quotes per customer in the digest itself; the rest continue in the thread


def _who_when(q: Any) -> str:
    people = [p for p in (*getattr(q, "others", ()), q.author) if p]
    if len(people) > 3:
        who = ", ".join(quote(p, 30) for p in people[:2]) + f" and {len(people) - 2} others"
    elif len(people) > 1:
        who = ", ".join(quote(p, 30) for p in people[:-1]) + f" and {quote(people[-1], 30)}"
    else:
        who = quote(people[0], 40) if people else ""
    times = f" · {q.count}×" if getattr(q, "count", 1) > 1 else ""
    link = f" <{q.permalink}|link>" if q.permalink and q.permalink.startswith("https://") else ""
    return f"— {who}{times}{', ' if who else ''}{fmt_date(q.at)}{link}"


FIRST_HAND = "🗣"  # Slack Connect: in the customer's own words, said in their shared channel


def quote_line(q: Any, names: dict[str, str] | None = None, limit: int = 200) -> str:
    tie = f" · #{q.milestone}" if q.milestone else ""
    own = f"{FIRST_HAND} " if getattr(q, "first_hand", False) else ""
    return f"> {own}{KIND_EMOJI.get(q.kind, '')} “{quote(readable(q.text, names), limit)}” {_who_when(q)}{tie}"


def waiting_lines(sec: Any) -> list[str]:
    """Slack Connect: the customer's questions nobody on the team has answered yet, and how long they waited."""
    out = [f":hourglass: *Still unanswered* ({len(sec.waiting)}) — their questions and requests in their channel"]
    for text, author, link, hours in sec.waiting[:5]:
        waited = f"{hours // 24} d {hours % 24} h" if hours >= 24 else f"{hours} h"
        where = f" <{link}|link>" if link and link.startswith("https://") else ""
        who = f"{quote(author, 40)}, " if author else ""
        out.append(f"> {FIRST_HAND} “{quote(text, 160)}” — {who}waiting {waited}{where}")
    return out


STATE_LABEL = {
    "achieved": ":white_check_mark: *Achieved:*",
    "at_risk": ":warning: *At risk:*",
    "overdue": ":alarm_clock: *Overdue:*",
    "stalled": ":hourglass: *Stalled:*",
    "started": ":arrow_forward: *Started:*",
    "reopened": ":arrow_forward: *Reopened:*",
    "back_on_track": ":arrow_forward: *Back on track:*",
}


def state_line(st: Any, names: dict[str, str] | None = None) -> str:
    """One milestone's latest state: what, which, since when, why, whose."""
    when = f" ({fmt_date(st.at)})" if st.at else ""
    details = " · ".join(quote(d, 200) for d in st.details)
    line = f"{STATE_LABEL[st.state]} {st.position}. {quote(st.title)}{when}" + (f" — {details}" if details else "")
    if st.ask:
        line += f"\n      :speech_balloon: time for the ask: {quote(st.ask)}"
    if st.evidence is not None:
        line += f"\n      “{quote(readable(st.evidence.text, names), 140)}” {_who_when(st.evidence)}"
    return line


def _kinds_line(kinds: dict[str, int]) -> str:
    return " · ".join(kind_count(k, kinds[k]) for k in KIND_ORDER if kinds.get(k))


def customer_blocks(
    sec: Any,
    with_gap_buttons: bool = True,
    names: dict[str, str] | None = None,
    run_id: int | None = None,
    explain: set[str] | None = None,
) -> tuple[list[Block], list[str]]:
    """One customer's part of the digest, and the quotes that continue in the thread. `explain`: the sections
    still to be explained in this digest (bot.explain); the first customer showing one takes it off the set."""
    explain = explain if explain is not None else set()
    seg = f" · {quote(sec.segment)}" if sec.segment else ""
    where = (
        f"milestone {sec.next_position} of {sec.total} ({sec.achieved_count} achieved)"
        if sec.next_position
        else (f"all {sec.total} milestones achieved" if sec.total else "no milestones yet")
    )
    head = f"*{quote(sec.name)}*{seg} · {where}"
    if sec.outcome_required:
        exp = f", {quote(sec.outcome_experience)}" if sec.outcome_experience else ""
        head += f"\n_Desired outcome: {quote(sec.outcome_required)}{exp}_"
    blocks: list[Block] = [section(head)]
    if sec.narrative:
        blocks.append(section(f":sparkles: {sec.narrative}"))
    lines: list[str] = [state_line(st, names) for st in sec.states]
    if sec.slowdown is not None:
        lines.append(
            f":turtle: *Slowing down:* {sec.slowdown.recent} milestones in the last 30 days against "
            f"{sec.slowdown.expected} expected from {sec.slowdown.basis}"
        )
    for rv in sec.impact:
        lines.append(rv.line())
    if sec.impact and "impact" in explain:
        explain.discard("impact")
        lines.append(f"      _{EXPLANATIONS['impact']}_")
    if sec.told:
        told = [quote(t, 160) for t, done in sec.told if done]
        untold = [quote(t, 160) for t, done in sec.told if not done]
        if told:
            lines.append(":speech_balloon: *Told the customer:* " + " · ".join(told))
        if untold:
            lines.append(":mute: *Not told yet:* " + " · ".join(untold))
    if lines:
        blocks += [section(chunk) for chunk in chunks(lines)]
    if sec.signal_count:
        said = f"*What they said* ({sec.signal_count}) — {_kinds_line(sec.kinds)}"
        shown = sec.quotes[:QUOTES_IN_MAIN]
        rest = [quote_line(q, names) for q in sec.quotes[QUOTES_IN_MAIN:]]
        body = [said] + [quote_line(q, names) for q in shown]
        if rest:
            body.append(f"   …and {len(rest)} more in the thread :thread:")
        if sec.private_count:
            body.append(f"   _{sec.private_count} from private channels, counted but not quoted here_")
        if sec.first_hand:
            body.append(f"   _{FIRST_HAND} {sec.first_hand} in their own words (their shared channel), shown first_")
        said_blocks = [section(chunk) for chunk in chunks(body)]
        if run_id and sec.quotes:
            # a kind a careful reader would overrule is one click from being corrected
            first = said_blocks[0].text
            assert first is not None  # section() always sets the text
            said_blocks[0] = section(
                first.text,
                accessory=button("Correct kinds", "correct_kinds", f"{run_id}|{sec.customer_id}"),
            )
        blocks += said_blocks
    else:
        rest = []
        blocks.append(context("No signals this week."))
    if getattr(sec, "waiting", None):
        blocks += [section(chunk) for chunk in chunks(waiting_lines(sec))]
    if sec.gap:
        g = sec.gap[0]
        text = (
            f"*Success gap* — talked about, covered by no milestone: {quote(g.theme)} "
            f"({g.count} this week, {plural(g.total, 'signal')} over {plural(g.weeks, 'week')})"
        )
        others = ", ".join(f"{quote(x.theme)} ({x.total})" for x in sec.gap[1:])
        if others:
            text += f"; also {others}"
        acc = None
        if with_gap_buttons and g.weeks >= 3:
            acc = button("Add as milestone", "gap_add_milestone", f"{sec.customer_id}|{g.theme[:60]}")
        blocks.append(section(text, accessory=acc))
        if "gap" in explain:
            explain.discard("gap")
            blocks.append(context(f"_{EXPLANATIONS['gap']}_"))
    elif sec.gap_count:
        blocks.append(context(f"{plural(sec.gap_count, 'signal')} tied to no milestone (the success gap)"))
    return blocks, ([f"*{quote(sec.name)}* — more of what they said"] + rest if rest else [])


def digest_header(dg: Any) -> list[Block]:
    where = f"  ·  <#{dg.channel_id}>" if dg.channel_id else ""
    title = f":bar_chart: *Weekly customer loop — week {dg.week.week} ({dg.week.span_label()})*{where}"
    people = f"{plural(dg.signal_count, 'signal')} from {plural(dg.people, 'person', 'people')}"
    stats = (
        f"{people} (last week {dg.last_week_count}) · {plural(dg.achieved_count, 'milestone')} achieved · "
        f"{dg.at_risk_count} at risk"
    )
    if dg.churn:
        n = sum(k for _, k in dg.churn)
        who = ", ".join(quote(name, 60) for name, _ in dg.churn[:5]) + ("…" if len(dg.churn) > 5 else "")
        stats += f" · :red_circle: {kind_count('churn-risk', n)}: {who}"
    blocks: list[Block] = [section(title), context(stats)]
    if dg.focus:
        blocks.append(context(f":dart: Focus: “{quote(dg.focus, 200)}” — what matches it comes first"))
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
        owner = f" — {quote(dg.names.get(d.owner_id) or 'someone', 40)}" if d.owner_id else ""
        due = f", review {fmt_date(d.review_on)}" if d.review_on else ""
        again = " _(still open)_" if d.outcome == "still_open" else ""
        blocks.append(
            section(f"• “{quote(d.decision, 300)}”{owner}{due}{again}\n   _because: {quote(d.learning, 200)}_")
        )
        blocks.append(
            ActionsBlock(
                block_id=f"review:{d.learning_id}",
                elements=[
                    button("Held", "decision_held", str(d.learning_id), "primary"),
                    button("Changed", "decision_changed", str(d.learning_id)),
                    button("Still open", "decision_still_open", str(d.learning_id)),
                ],
            )
        )
    if len(dg.decisions) > 8:
        blocks.append(context(f"…and {len(dg.decisions) - 8} more: `/loop decisions`"))
    return blocks


TAIL_SECTIONS = 3


def tail_blocks(dg: Any, run_id: int | None) -> tuple[list[Block], list[str]]:
    """Quiet / collecting-without-acting / themes, then the question; lines that don't fit go to the thread."""
    blocks: list[Block] = []
    lines = []
    if dg.silent:
        heard = ", ".join(
            f"{quote(name)} ({plural(n, 'signal')} last week)" if n else quote(name) for name, n in dg.silent[:10]
        )
        more = f" and {len(dg.silent) - 10} more" if len(dg.silent) > 10 else ""
        lines.append(f"*Heard here recently, nothing this week:* {heard}{more}")
    for name, weeks, title in dg.quiet:
        during = f" while “{quote(title)}” is in progress" if title else ""
        lines.append(f"*Quiet:* {quote(name)} — no signals for {plural(weeks, 'week')}{during}")
    for name, n in dg.collecting:
        lines.append(
            f"*Collecting without acting:* {quote(name)} — {plural(n, 'signal')} in 3 weeks, no decision recorded"
        )
    if dg.collecting and "collecting" in getattr(dg, "explain", ()):
        lines.append(f"   _{EXPLANATIONS['collecting']}_")
    for t in dg.themes:
        lines.append(t.line() if hasattr(t, "line") else str(t))
    overflow: list[str] = []
    if lines:
        parts = chunks(lines)
        blocks.append(DividerBlock())
        blocks += [section(c) for c in parts[:TAIL_SECTIONS]]
        overflow = parts[TAIL_SECTIONS:]
    blocks.append(DividerBlock())
    value = str(run_id or 0)
    blocks.append(
        section(
            f":thinking_face: *{QUESTION}*\nReply in the thread, or add one here.",
            accessory=button("Add a learning", "add_learning", value, "primary"),
        )
    )
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
    pending = set(getattr(dg, "explain", ()))  # each explained once, by the first customer showing it
    for sec in dg.customers:
        blocks, rest = customer_blocks(sec, names=dg.names, run_id=run_id, explain=pending)
        more_quotes += rest
        group = [DividerBlock(), *blocks][:MAX_BLOCKS]
        if len(group) <= budget and not overflowed:
            main += group
            budget -= len(group)
        else:
            overflowed += 1
            thread_blocks.append(group)
    if overflowed:
        tail.insert(
            0, context(f":thread: {overflowed} more customer{'s' if overflowed != 1 else ''} continue in the thread.")
        )
    main += tail
    messages = [(fallback, to_dicts(main[:MAX_BLOCKS]))]
    # thread: whole customers first, then the remaining quotes, each message under the limits
    batch: list[Block] = []
    for group in thread_blocks:
        if len(batch) + len(group) > MAX_BLOCKS:
            messages.append((f"{fallback} (continued)", to_dicts(batch)))
            batch = []
        batch += group[1:] if not batch else group
    for chunk in chunks(more_quotes) + tail_overflow:
        if len(batch) + 1 > MAX_BLOCKS:
            messages.append((f"{fallback} (continued)", to_dicts(batch)))
            batch = []
        batch.append(section(chunk))
    if batch:
        messages.append((f"{fallback} (continued)", to_dicts(batch)))
    return messages


MAX_THREAD_MESSAGES = 4


def cap_thread(
    messages: list[tuple[str, list[dict[str, Any]]]], limit: int = MAX_THREAD_MESSAGES
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
    note = context(
        f":page_facing_up: {rest} more message{'s' if rest != 1 else ''} of this digest did not fit "
        "in the thread: the whole digest is in the attached file."
    ).to_dict()
    kept[-1] = (text, [*blocks, note])
    return kept, True
