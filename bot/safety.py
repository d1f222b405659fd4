"""The one place where text that came from people or a model is made safe to post to Slack."""

from __future__ import annotations

import re
from collections.abc import Collection
from urllib.parse import urlparse

_MASS = re.compile(r"<!(channel|here|everyone)(\|[^>]*)?>|<!subteam\^[^>]*>", re.IGNORECASE)
_BARE_MASS = re.compile(r"(?<![\w])@(channel|here|everyone)\b", re.IGNORECASE)
ZWSP = "\u200b"


def escape(text: str) -> str:
    """Escape &, <, > so customer text cannot form Slack links or mentions in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Slack's text as people typed it: Slack sends &, < and > as &amp;, &lt; and &gt; (the reverse of escape)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def defuse(text: str) -> str:
    """Remove mass-mention tokens and break bare @channel/@here/@everyone (already escaped text)."""
    text = _MASS.sub(lambda m: "@" + m.group(1).lower() if m.group(1) else "@group", text)
    return _BARE_MASS.sub(lambda m: "@" + ZWSP + m.group(1), text)


_REF_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_REF_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_REF_LINK = re.compile(r"<((?:https?|mailto):[^|>]*)(?:\|([^>]*))?>")


def readable(text: str, names: dict[str, str] | None = None) -> str:
    """Slack markup as a person reads it: `<@U…>` as @name, `<#C…>` as #channel, a link as its label.

    Plain text, so still to be escaped (quote() does): nothing in it can ping or link.
    """
    names = names or {}
    t = _REF_USER.sub(lambda m: "@" + (names.get(m.group(1)) or m.group(2) or "someone"), text)
    t = _REF_CHANNEL.sub(lambda m: "#" + (m.group(2) or names.get(m.group(1)) or "channel"), t)
    return _REF_LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), t)


def quote(text: str, limit: int | None = None) -> str:
    """Customer text ready for mrkdwn: one line, shortened, escaped, defused."""
    one_line = " ".join(text.split())
    if limit is not None and len(one_line) > limit:
        one_line = one_line[: max(0, limit - 1)].rstrip() + "…"
    return defuse(escape(one_line))


def safe(text: str) -> str:
    """Text typed into a command or written by a model: escaped and defused, line breaks kept."""
    return defuse(escape(text))


_ANY_SPECIAL = re.compile(r"<!(channel|here|everyone)[^>]*>|<!subteam\^[^>]*>|<!\w+[^>]*>", re.IGNORECASE)
_USER = re.compile(r"<@([UW][A-Z0-9]+)(\|[^>]*)?>")
_URL = re.compile(r"<?(https?://[^\s|>]+)(\|[^>]*)?>?")


def model_text(text: str, allowed_users: Collection[str], allowed_hosts: Collection[str], limit: int) -> str:
    """Text a model wrote: no mass mentions, no mention or link outside what was allowed, bounded, escaped.

    Everything is escaped except the mentions it was allowed to keep, which stay real `<@U…>` mentions.
    """
    text = _ANY_SPECIAL.sub("", text)
    text = _BARE_MASS.sub(lambda m: m.group(1), text)
    kept: list[str] = []

    def keep(m: re.Match[str]) -> str:
        if m.group(1) not in allowed_users:
            return ""
        kept.append(f"<@{m.group(1)}>")
        return f"\x00{len(kept) - 1}\x00"

    text = _USER.sub(keep, text.replace("\x00", ""))
    text = _URL.sub(lambda m: m.group(1) if (urlparse(m.group(1)).hostname or "") in allowed_hosts else "", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], safe(text)).replace("\x00", "")
