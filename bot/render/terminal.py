"""The digest for a terminal, for `--print` and the demo: Slack's mrkdwn rendered with rich (bold, italics,
strike-through, code, emoji codes), or as plain text (`digest_text`, also the file a long digest attaches)."""

from __future__ import annotations

import re
from typing import Any

from rich.emoji import Emoji
from rich.markup import escape
from rich.text import Text

from bot.render.digest import digest_messages

# Slack's emoji names that rich's table spells differently
SLACK_EMOJI = {"large_orange_circle": "🟠", "large_green_circle": "🟢", "large_yellow_circle": "🟡"}
_CODE = re.compile(r":([a-z0-9_+\-]+):")
# mrkdwn's rules: the markers hug the words and do not sit inside a word
# (https://docs.slack.dev/messaging/formatting-message-text#basic-formatting)
_STYLES = [
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"), "bold"),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"), "italic"),
    (re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"), "strike"),
    (re.compile(r"`([^`\n]+)`"), "cyan"),
]


def emojize(text: str) -> str:
    """:seedling: → 🌱 (Slack's names; an unknown code stays as it is)."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1)
        if name in SLACK_EMOJI:
            return SLACK_EMOJI[name]
        out = Emoji.replace(m.group(0))
        return out

    return _CODE.sub(one, text)


def mrkdwn_to_rich(text: str) -> Text:
    """Slack mrkdwn as a rich Text: styles applied, markers gone, emoji codes as emoji."""
    markup = escape(emojize(text))
    for pattern, style in _STYLES:

        def styled(m: re.Match[str], st: str = style) -> str:
            return f"[{st}]{m.group(1)}[/{st}]"

        markup = pattern.sub(styled, markup)
    try:
        return Text.from_markup(markup, emoji=False)
    except Exception:  # noqa: BLE001 - a pattern this renderer did not foresee: show the words, unstyled
        return Text(emojize(text))


def digest_rich(dg: Any, names: dict[str, str] | None = None) -> Text:
    """The digest for a terminal: what `digest_text` says, rendered as Slack would show it."""
    return mrkdwn_to_rich(digest_text(dg, names))


def digest_text(dg: Any, names: dict[str, str] | None = None) -> str:
    """The digest as plain terminal text (mrkdwn kept readable), for `--print` and the demo.

    `names` maps user and channel ids to the names Slack would show for their mentions.
    """
    names = names or {}
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
    text = re.sub(r" <(https?://[^|>]+)\|link>", "", text)
    text = re.sub(r"<#([A-Z0-9]+)>", lambda m: "#" + names.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<@([A-Z0-9]+)>", lambda m: "@" + names.get(m.group(1), m.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
