"""`signalloop classify`: kind, sentiment and why for messages on stdin or in a file, one JSON object each;
`--export-corrections`: the kinds people corrected in Slack, as labelled data."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from bot.classify import classify


class InputError(ValueError):
    """The input cannot be read as messages; the message says why and how to fix it."""


def messages(source: TextIO, fmt: str) -> Iterator[str]:
    """Messages from plain lines, CSV (a `text` column, else the first column) or JSONL (a `text` field)."""
    if fmt == "csv":
        rows = csv.reader(source)
        header = next(rows, None)
        if header is None:
            return
        col = header.index("text") if "text" in header else 0
        if "text" not in header:
            yield header[col]
        for n, row in enumerate(rows, start=2):
            if len(row) <= col:
                raise InputError(f"line {n}: no column {col + 1} (give each row a text column)")
            yield row[col]
        return
    for n, line in enumerate(source, start=1):
        if not line.strip():
            continue
        if fmt == "jsonl":
            try:
                item = json.loads(line)
            except ValueError as e:
                raise InputError(f"line {n}: not JSON ({e.msg})") from None
            if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                raise InputError(f'line {n}: each line needs a "text" field with the message')
            yield item["text"]
        else:
            yield line.rstrip("\n")


def run_classify(args: argparse.Namespace) -> int:
    if args.export_corrections:
        return export_corrections(args)
    fmt = args.format
    if args.file and fmt == "auto":
        fmt = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(Path(args.file).suffix.lower(), "lines")
    elif fmt == "auto":
        fmt = "lines"
    try:
        source = open(args.file, encoding="utf-8", newline="") if args.file else sys.stdin  # noqa: SIM115
    except OSError as e:
        print(f"signalloop classify: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    try:
        for text in messages(source, fmt):
            c = classify(text)
            print(
                json.dumps(
                    {"text": text, "kind": c.kind, "sentiment": c.sentiment, "why": list(c.why)}, ensure_ascii=False
                )
            )
    except InputError as e:
        print(f"signalloop classify: {args.file or 'stdin'}: {e}", file=sys.stderr)
        return 2
    finally:
        if args.file:
            source.close()
    return 0


def export_corrections(args: argparse.Namespace) -> int:
    """Every kind a person corrected in Slack, as JSONL the corpus can take (text, kind, who, when)."""
    from bot import corrections
    from bot.config import load_settings
    from storage import db

    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    try:
        with db.make_session_factory(engine)() as s:
            n = 0
            for row in corrections.export_rows(s, args.team):
                print(json.dumps(row, ensure_ascii=False))
                n += 1
    finally:
        engine.dispose()
    print(f"{n} corrected signal{'s' if n != 1 else ''} exported", file=sys.stderr)
    return 0
