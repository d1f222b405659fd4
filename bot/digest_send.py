"""Sending a built digest: the first message, the rest in its thread, then the whole text and the chart as
files. Nothing here builds or claims; every call goes out through bot.slack_out (paced 1 a second a channel)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot.slack_out import Sent, SlackOut
from bot.weeks import Week


@dataclass(frozen=True)
class Rendered:
    """A digest ready to send: Slack messages (text, blocks), and the files for its thread."""

    week: Week
    messages: list[tuple[str, list[Any]]]
    full_text: str | None = None  # the whole digest as a file, when the thread had to be cut short
    chart: bytes | None = None  # the week's chart (PNG), when the channel asked for it


def send_first(
    slack: SlackOut, team_id: str, channel_id: str, digest: Rendered, client: WebClient | None = None
) -> Sent:
    """Post the digest's first message: its ts is recorded (the run is "posted") before the thread is sent, so
    a crash while the thread goes out never posts the digest twice."""
    text, blocks = digest.messages[0]
    return slack.post(team_id, channel_id, text, blocks, what=f"the digest {digest.week.label}", client=client)


def send_thread(
    slack: SlackOut, team_id: str, channel_id: str, ts: str, digest: Rendered, client: WebClient | None = None
) -> None:
    """The rest in the first message's thread; a continuation or a file Slack refuses is logged (by slack_out)
    and the others still go."""
    week = digest.week
    for text, blocks in digest.messages[1:]:
        slack.post(team_id, channel_id, text, blocks, thread_ts=ts, what="a digest continuation", client=client)
    if digest.full_text:
        slack.upload(
            team_id,
            channel_id,
            digest.full_text.encode("utf-8"),
            f"signalloop-{week.label}-digest.txt",
            f"The whole digest — week {week.week}",
            thread_ts=ts,
            what="the full digest file",
        )
    if digest.chart:
        slack.upload(
            team_id,
            channel_id,
            digest.chart,
            f"signalloop-{week.label}.png",
            f"Signals and milestones — week {week.week}",
            thread_ts=ts,
            what="the digest's chart",
        )
