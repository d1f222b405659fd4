"""The digest as plain terminal text, for `--print` and the demo."""

from __future__ import annotations

import re
from typing import Any

from bot.render.digest import digest_messages


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
