"""SQLAlchemy 2.0 typed models: every row that belongs to a workspace carries team_id."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class Base(DeclarativeBase):
    pass


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every database (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TZDateTime = UTCDateTime()


class Workspace(Base):
    __tablename__ = "workspaces"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    # base of message permalinks (https://<domain>.slack.com/), learned once from auth.test
    url: Mapped[str | None] = mapped_column(String(200))
    # The LLM step never sees private channels' signals unless a workspace opts in.
    llm_include_private: Mapped[bool] = mapped_column(Boolean, default=False)
    # personal data (e-mails, phone, card and IBAN numbers) is replaced by placeholders before the model sees it
    llm_redact: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # bumped by every change to links, customers and aliases: each instance re-reads its routing cache when it moves
    routing_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # the workspace's nudge settings as JSON (bot.nudges.NudgeSettings); NULL = the defaults
    nudge_settings: Mapped[str | None] = mapped_column(Text)
    # Slack Connect settings as JSON (bot.connect.ConnectSettings): name patterns, business hours, where to ask
    connect_settings: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("team_id", "name_key", name="uq_customers_team_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # casefolded name: lookups and uniqueness are case-insensitive on every database
    name_key: Mapped[str] = mapped_column(String(120))
    segment: Mapped[str | None] = mapped_column(String(60))
    outcome_required: Mapped[str | None] = mapped_column(Text)
    outcome_experience: Mapped[str | None] = mapped_column(Text)
    # the person who looks after the customer: nudges and "tell the customer" prompts go to them
    owner_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)

    aliases: Mapped[list[CustomerAlias]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerAlias.id"
    )
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="Milestone.position"
    )


class CustomerAlias(Base):
    __tablename__ = "customer_aliases"
    __table_args__ = (UniqueConstraint("team_id", "alias_key", name="uq_alias_team_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    alias: Mapped[str] = mapped_column(String(120))
    alias_key: Mapped[str] = mapped_column(String(120))

    customer: Mapped[Customer] = relationship(back_populates="aliases")


class ChannelLink(Base):
    """A channel that belongs to one customer (kind=customer) or a shared feedback channel (kind=watch)."""

    __tablename__ = "channel_links"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", name="uq_channel_links_team_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # "customer" | "watch"
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    linked_by: Mapped[str | None] = mapped_column(String(32))
    # `/loop replies on`: a short thread reply on a captured message when something came of it
    thread_replies: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(TZDateTime)

    customer: Mapped[Customer | None] = relationship()


class ChannelInfo(Base):
    """What the app learned about a channel from Slack (name, privacy): cached per team."""

    __tablename__ = "channel_info"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    # Slack Connect (conversations.info): shared with another organisation, and with which teams (JSON list)
    is_ext_shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_shared: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    connected_team_ids: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime | None] = mapped_column(TZDateTime)  # when Slack last said (not a payload's name)
    is_member: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # auto-link proposals: once per channel; Ignore stops them; Not this customer remembers (JSON list of ids)
    link_proposed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    link_ignored: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    link_rejected: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime)


class ConnectedTeam(Base):
    """An organisation a channel is shared with (team.info), and the customer it is, once the team said so."""

    __tablename__ = "connected_teams"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime)


class SlackUser(Base):
    """Display names cached from users.info, so digests quote people without pinging them."""

    __tablename__ = "slack_users"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(120))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    tz: Mapped[str | None] = mapped_column(String(64))
    # set when the person opens App Home, so a change can refresh the views people have seen
    home_opened_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    # the person turned off "what came of your signals" messages (App Home toggle)
    dm_opt_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    updated_at: Mapped[datetime] = mapped_column(TZDateTime)


class Milestone(Base):
    __tablename__ = "milestones"
    __table_args__ = (UniqueConstraint("customer_id", "position", name="uq_milestones_customer_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="planned")
    due_date: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[str | None] = mapped_column(String(32))
    expected_impact: Mapped[str | None] = mapped_column(Text)
    ask: Mapped[str | None] = mapped_column(Text)  # suggested advocacy/expansion ask when achieved
    ask_kind: Mapped[str | None] = mapped_column(String(16))  # "advocacy" | "expansion"
    risk_reason: Mapped[str | None] = mapped_column(Text)
    # the ask goes out once per milestone, however often it is reopened and achieved again
    ask_sent_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    # removed milestones stay for their history; their signals are untied
    removed_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    started_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    achieved_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(TZDateTime)
    created_at: Mapped[datetime] = mapped_column(TZDateTime)

    customer: Mapped[Customer] = relationship(back_populates="milestones")
    history: Mapped[list[MilestoneEvent]] = relationship(
        back_populates="milestone", cascade="all, delete-orphan", order_by="MilestoneEvent.id"
    )


class MilestoneEvent(Base):
    """One row per change of a milestone: who, when, from -> to, why."""

    __tablename__ = "milestone_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(TZDateTime)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)

    milestone: Mapped[Milestone] = relationship(back_populates="history")


class Signal(Base):
    """A customer signal: one per (team, channel, message, customer) whatever path captured it first."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "message_ts", "customer_id", name="uq_signals_message_customer"),
        # the digest reads one week of one team: this index keeps it flat in history size
        Index("ix_signals_team_posted", "team_id", "posted_at"),
        Index("ix_signals_customer_posted", "customer_id", "posted_at"),
        Index("ix_signals_unanswered", "team_id", "first_hand", "answered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    # Slack ts of the message; for /signal, "cmd:<trigger_id>" so a command is stored once
    message_ts: Mapped[str] = mapped_column(String(64))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    author_name: Mapped[str | None] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    permalink: Mapped[str | None] = mapped_column(String(500))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("milestones.id", ondelete="SET NULL"))
    capture_path: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    sentiment: Mapped[float] = mapped_column(Float)
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    # Slack Connect: the author's organisation (the event's user_team); first_hand = said by the customer's own
    # people in a shared channel, not a team member's report of it
    author_team_id: Mapped[str | None] = mapped_column(String(32))
    first_hand: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # a first-hand question or request: answered by the team (a thread reply or a reaction), or nudged once
    answered_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    answered_by: Mapped[str | None] = mapped_column(String(32))
    unanswered_nudged_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    # rules | model | kept (the model gave no valid answer): see the optional LLM classification
    classified_by: Mapped[str] = mapped_column(String(8), default="rules", server_default="rules")
    # a person corrected the kind in Slack: never overwritten by the rules or the model afterwards
    corrected_by: Mapped[str | None] = mapped_column(String(32))
    corrected_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    event_id: Mapped[str | None] = mapped_column(String(64))
    recorded_by: Mapped[str | None] = mapped_column(String(32))
    posted_at: Mapped[datetime] = mapped_column(TZDateTime)
    recorded_at: Mapped[datetime] = mapped_column(TZDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(TZDateTime)

    customer: Mapped[Customer] = relationship()
    milestone: Mapped[Milestone | None] = relationship()


class DigestSchedule(Base):
    __tablename__ = "digest_schedules"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", name="uq_digest_schedules_team_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    hour: Mapped[int] = mapped_column(Integer)
    minute: Mapped[int] = mapped_column(Integer)
    tz: Mapped[str] = mapped_column(String(64))
    portfolio: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    llm_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    chart_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # `/loop digest focus <text>`: the team's question for this channel's digest
    focus: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(TZDateTime)


class DigestRun(Base):
    """The claim that makes a digest exactly-once per (team, channel, ISO week)."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "week", name="uq_digest_runs_week"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    week: Mapped[str] = mapped_column(String(10))  # "2026-W47"
    status: Mapped[str] = mapped_column(String(16))  # claimed | posted | failed
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime] = mapped_column(TZDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    message_ts: Mapped[str | None] = mapped_column(String(32), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    llm_model: Mapped[str | None] = mapped_column(String(80))
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    llm_status: Mapped[str | None] = mapped_column(String(32))
    llm_detail: Mapped[str | None] = mapped_column(Text)  # why the summary is unavailable or partial
    redacted: Mapped[int | None] = mapped_column(Integer)  # personal data items replaced before the model saw them
    reminder_sent_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    # the explained sections this digest showed (gap, impact, collecting): each is explained once per channel
    sections: Mapped[str | None] = mapped_column(String(100))


class Learning(Base):
    """An answer to "What are we learning, and what decision does it affect?"."""

    __tablename__ = "learnings"
    __table_args__ = (UniqueConstraint("team_id", "channel_id", "message_ts", name="uq_learnings_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32), index=True)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    # set for thread replies (one learning per reply); "modal:<view id>" for modal submissions
    message_ts: Mapped[str | None] = mapped_column(String(64))
    digest_run_id: Mapped[int | None] = mapped_column(ForeignKey("digest_runs.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(32))
    owner_id: Mapped[str | None] = mapped_column(String(32))
    review_on: Mapped[date | None] = mapped_column(Date)
    outcome: Mapped[str | None] = mapped_column(String(16))  # held | changed | still_open
    outcome_by: Mapped[str | None] = mapped_column(String(32))
    outcome_at: Mapped[datetime | None] = mapped_column(TZDateTime)
    changed_to: Mapped[str | None] = mapped_column(Text)  # what a "Changed" decision changed to
    created_at: Mapped[datetime] = mapped_column(TZDateTime)

    customers: Mapped[list[LearningCustomer]] = relationship(cascade="all, delete-orphan")
    milestones: Mapped[list[LearningMilestone]] = relationship(cascade="all, delete-orphan")


class LearningCustomer(Base):
    __tablename__ = "learning_customers"

    learning_id: Mapped[int] = mapped_column(ForeignKey("learnings.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)


class LearningMilestone(Base):
    __tablename__ = "learning_milestones"

    learning_id: Mapped[int] = mapped_column(ForeignKey("learnings.id", ondelete="CASCADE"), primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestones.id", ondelete="CASCADE"), primary_key=True)


class LearningSignal(Base):
    """A signal a learning cites (the people who raised it hear what came of it)."""

    __tablename__ = "learning_signals"

    learning_id: Mapped[int] = mapped_column(ForeignKey("learnings.id", ondelete="CASCADE"), primary_key=True)
    signal_id: Mapped[int] = mapped_column(ForeignKey("signals.id", ondelete="CASCADE"), primary_key=True)


class Outbox(Base):
    """A message to one person, sent once at or after `due_at` (batched per person, quiet hours respected)."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("team_id", "dedupe_key", name="uq_outbox_dedupe"),
        Index("ix_outbox_due", "sent_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(24))  # outcome | nudge | tell_customer
    # one outcome per (person, signal, what happened): re-achieving a milestone does not tell twice
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)  # JSON: what to say
    due_at: Mapped[datetime] = mapped_column(TZDateTime)
    created_at: Mapped[datetime] = mapped_column(TZDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class Nudge(Base):
    """A nudge sent: at most one per (customer or milestone, kind, period)."""

    __tablename__ = "nudges"
    __table_args__ = (UniqueConstraint("team_id", "subject", "kind", "period", name="uq_nudges_once"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(64))  # "customer:12" | "milestone:40"
    kind: Mapped[str] = mapped_column(String(24))  # burst | stalled | overdue | quiet
    period: Mapped[str] = mapped_column(String(16))  # "2026-11-18" (a day) or "2026-W47" (a week)
    sent_to: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)


class CustomerTold(Base):
    """An outcome (a milestone achieved, a decision) and whether the customer's owner told the customer."""

    __tablename__ = "customer_told"
    __table_args__ = (UniqueConstraint("team_id", "outcome_key", name="uq_customer_told_outcome"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    outcome_key: Mapped[str] = mapped_column(String(64))  # "milestone:40:achieved:2026-11-18" | "learning:7"
    summary: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(TZDateTime)
    told_by: Mapped[str | None] = mapped_column(String(32))
    told_at: Mapped[datetime | None] = mapped_column(TZDateTime)


class MilestoneTemplate(Base):
    """A workspace's own milestone template for a segment (beside the bundled ones)."""

    __tablename__ = "milestone_templates"
    __table_args__ = (UniqueConstraint("team_id", "segment", name="uq_milestone_templates_segment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    segment: Mapped[str] = mapped_column(String(60))
    label: Mapped[str | None] = mapped_column(String(120))
    titles: Mapped[str] = mapped_column(Text)  # JSON list of {"title", "days", "impact", "ask", "ask_kind"}
    updated_by: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(TZDateTime)


class CaptureDraft(Base):
    """The message a capture modal is about, when it does not fit the modal's private_metadata (3000 characters):
    the submission reads it here instead of reading the message again from Slack."""

    __tablename__ = "capture_drafts"
    __table_args__ = (UniqueConstraint("team_id", "draft_key", name="uq_capture_drafts_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    draft_key: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime, index=True)


class EventGap(Base):
    """Minutes Slack stopped sending events (app_rate_limited), and whether they were read back from history."""

    __tablename__ = "event_gaps"
    __table_args__ = (UniqueConstraint("team_id", "start_at", name="uq_event_gaps_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    start_at: Mapped[datetime] = mapped_column(TZDateTime)  # the minute_rate_limited Slack sent
    noticed_at: Mapped[datetime] = mapped_column(TZDateTime)
    done_at: Mapped[datetime | None] = mapped_column(TZDateTime)
