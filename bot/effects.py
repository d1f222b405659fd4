"""What a command or event asks Slack to do, as plain data: handlers/effects.py carries it out through bot.slack_out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Post:
    channel: str
    text: str
    blocks: list[Any] | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class Ephemeral:
    channel: str
    user: str
    text: str
    blocks: list[Any] | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class DirectMessage:
    user: str
    text: str
    blocks: list[Any] | None = None


@dataclass(frozen=True)
class RefreshHome:
    """Re-publish App Home for the users who have opened it in this workspace."""


@dataclass(frozen=True)
class OpenModal:
    view: dict[str, Any]


@dataclass(frozen=True)
class RunDigest:
    """Build and post the channel's digest now (slow: run after the acknowledgement)."""

    channel: str
    user: str


@dataclass(frozen=True)
class RunAsk:
    """Answer `/loop ask` (slow: after the acknowledgement)."""

    channel: str
    user: str
    question: str


@dataclass(frozen=True)
class RunReview:
    """Post a customer's quarterly review in a channel (slow: after the acknowledgement)."""

    channel: str
    user: str
    customer_id: int
    quarter: str


@dataclass(frozen=True)
class ScheduleChanged:
    """The channel's digest schedule changed: the scheduler picks it up (after the change is committed)."""

    channel: str


@dataclass(frozen=True)
class OutboxQueued:
    """Messages to people were queued (bot.outcomes): send what is due now rather than at the next scan."""


@dataclass(frozen=True)
class RunLinkAuto:
    """`/loop link auto`: list the unlinked channels the app is in with their best match (after the answer)."""

    channel: str
    user: str


@dataclass(frozen=True)
class CheckMember:
    """After the answer: is the app a member of `channel`? If not, tell `user` to invite it (Slack delivers no
    messages of a channel the app is not in, and refuses its posts there with not_in_channel)."""

    channel: str
    user: str


Effect = (
    CheckMember
    | Post
    | Ephemeral
    | DirectMessage
    | RefreshHome
    | OpenModal
    | RunDigest
    | RunAsk
    | RunReview
    | ScheduleChanged
    | OutboxQueued
    | RunLinkAuto
)


@dataclass
class Reply:
    """The answer to the person who asked (ephemeral unless public) and what else should happen."""

    text: str
    blocks: list[Any] | None = None
    effects: list[Effect] = field(default_factory=list)
    public: bool = False
    ok: bool = True
