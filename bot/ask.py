"""`/loop ask <question>`: an answer from what customers said, citing the signals it rests on.

The best-matching signals are retrieved by full-text search, budgeted and redacted as the digest's prompt is,
and the model's answer is validated and sanitised exactly as the digest's is: every cited id must have been
sent, every quote must be verbatim, no mentions or foreign links survive. Without a model, or when the call
or the validation fails, the answer is the search results, and it says so.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot import llm, search
from bot.errors import UsageError
from bot.redact import Redactor
from bot.render.blocks import context, section, to_dicts
from bot.safety import model_text, quote, readable
from bot.slack_out import SlackOut
from bot.text import fmt_date
from storage import repo

log = logging.getLogger(__name__)

# words a question is made of, that say nothing of what to look for
QUESTION_WORDS = frozenset(
    """
who whom whose what when where why how which anyone anybody else ask asks asked asking said say says told tell
want wants wanted customer customers client clients us we they them any did does do has have had about there
""".split()
)
MAX_ANSWER = 700
RETRIEVE = 40
ASK_BUDGET = 6_000
ASK_USAGE = "Usage: `/loop ask <question>` — e.g. `/loop ask who else asked for an offline mode?`"


class AskOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str
    signal_ids: list[str]


class Asker:
    def __init__(
        self, sf: sessionmaker[Session], clock: Callable[[], datetime], step: llm.LLMStep | None, slack: SlackOut
    ) -> None:
        self.sf = sf
        self.slack = slack
        self.clock = clock
        self.step = step
        self.prompt = llm.load_prompt("ask")

    def answer(self, client: WebClient, team_id: str, channel_id: str, user: str, question: str) -> str:
        """Answer and tell the person (ephemeral); returns how it was answered: model | search | none."""
        now = self.clock()
        with self.sf() as s:
            try:
                q = search.parse(s, team_id, question, now)
            except UsageError as e:
                self._tell(client, team_id, channel_id, user, str(e))
                return "none"
            q.terms = [t for t in q.terms if t not in QUESTION_WORDS] or q.terms
            rows, _ = search.run(s, team_id, q, channel_id, limit=RETRIEVE, any_term=True)
            ws = repo.get_workspace(s, team_id=team_id)
            customers = repo.customer_names(s, team_id=team_id, ids=[r.customer_id for r in rows])
            names = repo.display_names(s, team_id=team_id)
            found_text, found_blocks = search.results_blocks(s, team_id, q, channel_id)
        if not rows:
            self._tell(client, team_id, channel_id, user, found_text, found_blocks)
            return "none"
        if self.step is None or self.step.client is None:
            self._fallback(client, team_id, channel_id, user, "no model is set up (OPENAI_API_KEY)", found_blocks)
            return "search"
        allowed = [r for r in rows if not r.is_private or (ws is not None and ws.llm_include_private)]
        redactor = Redactor() if ws is None or ws.llm_redact else None
        clean = redactor or (lambda t: t)
        items, sent = [], {}
        used = llm.messages_tokens(llm.render_prompt(self.prompt, evidence="", max_answer=MAX_ANSWER))
        for r in allowed:
            item = {
                "id": f"S{r.id}",
                "customer": customers.get(r.customer_id, "?"),
                "kind": r.kind,
                "text": clean(r.text[: llm.MAX_SIGNAL_CHARS]),
            }
            cost = llm.count_tokens(json.dumps(item, ensure_ascii=False)) + 2
            if used + cost > ASK_BUDGET:
                break
            used += cost
            items.append(item)
            sent[item["id"]] = r
        payload = {"question": clean(question), "signals": items}
        messages = llm.render_prompt(self.prompt, evidence=llm.evidence_json(payload), max_answer=MAX_ANSWER)
        try:
            out = self.step.call(messages, AskOut)
            # the README's promise: a citation of any signal that was not sent means no AI answer at all, even
            # beside real ones (an invented id is an invented source; dropping it would show the rest as checked)
            cited = list(dict.fromkeys(sid.strip() for sid in out.signal_ids))
            invented = [sid for sid in cited if sid not in sent]
            if invented:
                raise llm.LLMFailure(f"the answer cited {len(invented)} signal(s) it was not given: {invented[:5]}")
            texts = [next(i["text"] for i in items if i["id"] == sid).casefold() for sid in cited]
            quotes_ok = all(
                any(qt.strip().casefold() in t for t in texts)
                for qt in re.findall(r"[“\"]([^”\"]{3,})[”\"]", out.answer)
            )
            if not cited or not quotes_ok or not out.answer.strip():
                raise llm.LLMFailure("the answer cited no signal it was given, or quoted words not in them")
        except llm.LLMFailure as e:
            log.warning("/loop ask fell back to search results for %s: %s", team_id, e)
            why = (
                "the AI answer cited a signal that was not among those sent to it"
                if "not given" in str(e)
                else "the AI answer could not be checked against the signals"
            )
            self._fallback(client, team_id, channel_id, user, why, found_blocks)
            return "search"
        hosts = {urlparse(r.permalink).hostname for r in sent.values() if r.permalink}
        text = model_text(out.answer, set(), {h for h in hosts if h}, MAX_ANSWER)
        lines = [f":speech_balloon: *{quote(question, 200)}*", text, "", "*What it rests on*"]
        # the customer's own words (first-hand, Slack Connect) lead what the answer rests on, marked
        for sid in sorted(cited[:8], key=lambda sid: not getattr(sent[sid], "first_hand", False)):
            r = sent[sid]
            link = f" <{r.permalink}|link>" if r.permalink and r.permalink.startswith("https://") else ""
            who = quote(r.author_name or names.get(r.user_id or "") or "someone", 40)
            own = "🗣 " if getattr(r, "first_hand", False) else ""
            lines.append(
                f"> {own}“{quote(readable(r.text, names), 200)}” — {who}, {fmt_date(r.posted_at)}{link} · "
                f"*{quote(customers.get(r.customer_id, '?'), 50)}*"
            )
        blocks = to_dicts(
            [
                section("\n".join(lines)[:2900]),
                context(
                    "An AI answer from the signals above, checked against them: every quote is "
                    "theirs. `/signal search` lists every match."
                ),
            ]
        )
        self._tell(client, team_id, channel_id, user, f"{question[:100]}: {text[:200]}", blocks)
        return "model"

    def _fallback(
        self, client: WebClient, team_id: str, channel_id: str, user: str, why: str, found: list[dict[str, Any]]
    ) -> None:
        note = {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f":information_source: No AI answer: {why}. Here is what the search found."}
            ],
        }
        self._tell(
            client, team_id, channel_id, user, f"No AI answer ({why}); the search results follow.", [note, *found]
        )

    def _tell(
        self, client: WebClient, team_id: str, channel_id: str, user: str, text: str, blocks: list[Any] | None = None
    ) -> None:
        self.slack.ephemeral(team_id, channel_id, user, text, blocks, what="an answer to /loop ask", client=client)
