"""`signalloop llm preview --channel C…`: the exact prompt the LLM step would send for this week's digest."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.services import utcnow
from entry.clidb import channel_week


def run_preview(settings: Settings, sf: sessionmaker[Session], team: str, args: argparse.Namespace) -> int:
    from bot.llm import LLMStep
    from bot.runner import DigestRunner

    try:
        week = channel_week(sf, team, args.channel, args.week)
    except ValueError as e:
        print(f"signalloop llm preview: {e}", file=sys.stderr)
        return 2
    runner = DigestRunner(settings, sf, utcnow, client_for=lambda _t: None)  # type: ignore[arg-type, return-value]
    step = LLMStep(settings)
    try:
        with sf() as s:
            dg = runner.build(s, team, args.channel, week)
            if not dg.customers:
                print(f"Nothing would be sent: the {week.label} digest of {args.channel} has no customer with news.")
                return 0
            ev, redactor = step.evidence(s, dg)
            messages = ev.messages(step.prompt, dg)
    finally:
        runner.close()
    redacted = f"{redactor.total} personal data items redacted" if redactor else "redaction is OFF for this workspace"
    print(
        f"# Prompt for {args.channel}, week {week.label}: model {settings.llm_model}, prompt {step.prompt.version}, "
        f"{ev.tokens} tokens (budget {settings.llm_prompt_budget}), {len(ev.signals)} signals "
        f"({ev.dropped_signals} left out by the budget or privacy), {redacted}"
    )
    for m in messages:
        print(f"\n## {m['role']}\n\n{m['content']}")
    return 0
