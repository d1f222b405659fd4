"""The loop: answers to the question -> learnings and decisions, and next week's review of them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import outcomes
from bot.cards import CustomerCard
from bot.effects import Effect, Ephemeral
from bot.errors import UsageError
from bot.safety import quote, safe
from bot.text import fmt_date
from storage import repo
from storage.models import Learning, LearningCustomer, LearningMilestone

MAX_LEARNING = 2000
OUTCOMES = {"held": "Held", "changed": "Changed", "still_open": "Still open"}


def learning_line(s: Session, team_id: str, r: Learning) -> str:
    names = []
    for lc in r.customers:
        c = repo.customer_by_id(s, team_id=team_id, customer_id=lc.customer_id)
        if c:
            names.append(c.name)
    who = f" — <@{r.author_id}>" if r.author_id else ""
    about = f" · {', '.join(quote(n) for n in names)}" if names else ""
    decision = (
        f"\n   :arrow_right: decision: “{quote(r.decision, 200)}”" if r.decision else "\n   _no decision named yet_"
    )
    return f"• {fmt_date(r.created_at)}: “{quote(r.text, 300)}”{who}{about}{decision}"


# --- recording answers ------------------------------------------------------------------


def record_thread_reply(
    s: Session, team_id: str, channel_id: str, ts: str, thread_ts: str, user_id: str | None, text: str, now: datetime
) -> tuple[Learning | None, bool]:
    """A reply in a digest's thread -> a learning. Returns (learning or None if already stored, is_digest_thread)."""
    run = repo.digest_run_by_ts(s, team_id=team_id, channel_id=channel_id, ts=thread_ts)
    if run is None:
        return None, False
    body = text.strip()
    if not body:
        return None, True
    row = Learning(
        team_id=team_id,
        channel_id=channel_id,
        message_ts=ts,
        digest_run_id=run.id,
        text=body[:MAX_LEARNING],
        author_id=user_id,
        owner_id=user_id,
        review_on=next_review(now),
        created_at=now,
    )
    return repo.add_learning(s, learning=row, customer_ids=[], milestone_ids=[]), True


def next_review(now: datetime) -> date:
    """Review date default: a week from now (next week's digest)."""
    return (now + timedelta(days=7)).date()


def decision_offer(channel_id: str, user: str, learning_id: int) -> Ephemeral:
    return Ephemeral(
        channel_id,
        user,
        "Recorded as a learning. Which decision does it affect?",
        blocks=[
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": ":bulb: Recorded your reply as a learning. *Which decision does it affect?*",
                },
                "accessory": {
                    "type": "button",
                    "action_id": "name_decision",
                    "value": str(learning_id),
                    "text": {"type": "plain_text", "text": "Name the decision"},
                },
            }
        ],
    )


def set_outcome(s: Session, team_id: str, learning_id: int, outcome: str, user: str, now: datetime) -> Learning:
    if outcome not in OUTCOMES:
        raise UsageError("Unknown outcome.")
    row = repo.learning_by_id(s, team_id=team_id, learning_id=learning_id)
    if row is None or not row.decision:
        raise UsageError("That decision no longer exists.")
    row.outcome, row.outcome_by, row.outcome_at = outcome, user, now
    return row


@dataclass
class Submitted:
    errors: dict[str, str]
    message: str = ""
    learning_id: int | None = None
    effects: list[Effect] = field(default_factory=list)


def submit_learning(
    sf: sessionmaker[Session], team_id: str, user: str, meta: dict[str, Any], values: dict[str, Any], now: datetime
) -> Submitted:
    """The learning modal: validate every field, then write the learning in one transaction."""
    errors: dict[str, str] = {}
    text = (values.get("learning") or "").strip()
    decision = (values.get("decision") or "").strip() or None
    if not text:
        errors["learning"] = "Say what you are learning (one or two sentences)."
    elif len(text) > MAX_LEARNING:
        errors["learning"] = f"Keep it under {MAX_LEARNING} characters."
    if decision and len(decision) > 500:
        errors["decision"] = "Keep the decision under 500 characters."
    review: date | None = None
    if values.get("review"):
        try:
            review = date.fromisoformat(values["review"])
        except ValueError:
            errors["review"] = "Pick a date."
        else:
            if review < now.date():
                errors["review"] = "Pick a review date from today on."
    owner = values.get("owner") or user
    ids = [v for v in values.get("customers") or [] if str(v).isdecimal()]
    m_ids = [v for v in values.get("milestones") or [] if str(v).isdecimal()]
    if errors:
        return Submitted(errors)
    with sf.begin() as s:
        customers = [
            c for c in (repo.customer_by_id(s, team_id=team_id, customer_id=int(i)) for i in ids) if c is not None
        ]
        milestones = [
            m for m in (repo.milestone_by_id(s, team_id=team_id, milestone_id=int(i)) for i in m_ids) if m is not None
        ]
        # a milestone names its customer too
        cust_ids = {c.id for c in customers} | {m.customer_id for m in milestones}
        if meta.get("learning"):
            row = repo.learning_by_id(s, team_id=team_id, learning_id=int(meta["learning"]))
            if row is None:
                return Submitted({"learning": "This learning no longer exists."})
            row.text, row.decision, row.owner_id, row.review_on = text, decision, owner, review
            row.customers = [LearningCustomer(customer_id=c) for c in sorted(cust_ids)]
            row.milestones = [LearningMilestone(milestone_id=m.id) for m in milestones]
        else:
            run_id = int(meta.get("run") or 0) or None
            if run_id is not None and repo.digest_run_by_id(s, team_id=team_id, run_id=run_id) is None:
                run_id = None
            row = repo.add_learning(
                s,
                learning=Learning(
                    team_id=team_id,
                    channel_id=meta.get("channel"),
                    message_ts=None,
                    digest_run_id=run_id,
                    text=text,
                    decision=decision,
                    author_id=user,
                    owner_id=owner,
                    review_on=review,
                    created_at=now,
                ),
                customer_ids=cust_ids,
                milestone_ids=[m.id for m in milestones],
            )
        assert row is not None
        effects: list[Effect] = []
        if decision:
            # the people behind the signals it rests on hear about the decision
            s.flush()
            s.refresh(row)
            cited = outcomes.cite_signals(s, row, now)
            outcome = outcomes.decision_taken(s, row)
            if outcome is not None:
                effects = outcomes.announce(s, team_id, outcome, cited, now)
        what = (
            f" — decision: “{safe(decision)}”, reviewed in next week's digest"
            if decision
            else " (no decision named yet: add one from `/loop learnings`)"
        )
        return Submitted({}, f":bulb: Learning recorded{what}.", row.id, effects)


def outcome_line(row: Learning) -> str:
    when = fmt_date(row.outcome_at) if row.outcome_at else ""
    label = OUTCOMES[row.outcome or "still_open"]
    line = f"*{label}* — “{quote(row.decision or '', 200)}” · <@{row.outcome_by}> {when}"
    if row.outcome == "changed" and row.changed_to:
        line += f"\n   :arrow_right: now: “{quote(row.changed_to, 300)}”"
    return line


def answer_in_thread(
    sf: sessionmaker[Session],
    team_id: str,
    channel_id: str,
    ts: str,
    thread_ts: str | None,
    user_id: str | None,
    text: str,
    now: datetime,
) -> list[Effect] | None:
    """A reply in a digest's thread becomes a learning; None when the thread is not a digest's."""
    if not thread_ts or thread_ts == ts:
        return None
    with sf.begin() as s:
        row, is_digest = record_thread_reply(s, team_id, channel_id, ts, thread_ts, user_id, text, now)
        learning_id = row.id if row is not None else None
    if not is_digest:
        return None
    if learning_id is None or not user_id:
        return []
    return [decision_offer(channel_id, user_id, learning_id)]


def learning_modal_for(
    s: Session, team_id: str, user: str, meta: dict[str, Any], now: datetime, learning_id: int | None = None
) -> dict[str, Any] | None:
    """The learning modal, empty or filled with a learning to name its decision; None when it is gone."""
    from bot.render.modals import learning_modal

    everyone = repo.list_customers(s, team_id=team_id)
    text = decision = None
    chosen: list[int] = []
    review = next_review(now)
    if learning_id is not None:
        row = repo.learning_by_id(s, team_id=team_id, learning_id=learning_id)
        if row is None:
            return None
        text, decision = row.text, row.decision
        chosen = [lc.customer_id for lc in row.customers]
        review = row.review_on or review
        meta = dict(meta, learning=learning_id)
    return learning_modal(
        [CustomerCard.of(c) for c in everyone],
        json.dumps(meta),
        user,
        review,
        text,
        decision,
        chosen,
        title="Name the decision" if learning_id else "Add a learning",
    )


MAX_CHANGED_TO = 500


def record_change(s: Session, team_id: str, learning_id: int, changed_to: str, user: str, now: datetime) -> Learning:
    """A decision marked Changed, with what it changed to."""
    text = changed_to.strip()
    if not text:
        raise UsageError("Say what the decision changed to.")
    if len(text) > MAX_CHANGED_TO:
        raise UsageError(f"Keep it under {MAX_CHANGED_TO} characters.")
    row = set_outcome(s, team_id, learning_id, "changed", user, now)
    row.changed_to = text
    return row
