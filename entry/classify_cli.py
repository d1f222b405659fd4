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


def messages(source: TextIO, fmt: str, column: str | None = None) -> Iterator[tuple[str | int, str]]:
    """(id, message) from plain lines, CSV (the `text` column, or `column`) or JSONL (the `text` field, or
    `column`). The id is the input's own `id` column or field when it has one, else the line number."""
    col_name = column or "text"
    if fmt == "csv":
        rows = csv.reader(source)
        try:
            header = next(rows, None)
        except csv.Error as e:
            raise InputError(f"line 1: not CSV ({e})") from None
        if header is None:
            return
        names = [h.strip().lstrip("\ufeff") for h in header]
        folded = [h.casefold() for h in names]
        if col_name.casefold() not in folded:
            raise InputError(
                f"no `{col_name}` column (the header is: {', '.join(names)[:200]}); "
                + ("name the column with --column" if not column else "check --column")
            )
        col = folded.index(col_name.casefold())
        id_col = folded.index("id") if "id" in folded else None
        n = 1
        try:
            for row in rows:
                n = rows.line_num
                if not any(v.strip() for v in row):
                    continue
                if len(row) <= col:
                    raise InputError(f"line {n}: no `{names[col]}` value (a comma inside a message needs quotes)")
                yield (row[id_col] if id_col is not None and id_col < len(row) and row[id_col] else n), row[col]
        except csv.Error as e:
            raise InputError(f"line {n + 1}: not CSV ({e})") from None
        return
    for n, line in enumerate(source, start=1):
        if not line.strip():
            continue
        if fmt == "jsonl":
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"line {n}: not JSON ({e.msg})") from None
            except ValueError as e:  # not a decode error, so no .msg: e.g. a number past Python's 4300 digits
                raise InputError(f"line {n}: not JSON ({e})") from None
            if not isinstance(item, dict) or not isinstance(item.get(col_name), str):
                raise InputError(f'line {n}: each line needs a "{col_name}" field with the message')
            ident = item.get("id")
            yield (ident if isinstance(ident, str | int) and not isinstance(ident, bool) else n), item[col_name]
        else:
            yield n, line.rstrip("\n")


def run_classify(args: argparse.Namespace) -> int:
    if args.export_corrections:
        return export_corrections(args)
    fmt = args.format
    if args.file and fmt == "auto":
        fmt = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(Path(args.file).suffix.lower(), "lines")
    elif fmt == "auto":
        fmt = "lines"
    column = getattr(args, "column", None)
    if column and fmt == "lines":
        print("signalloop classify: --column needs a CSV or JSONL input (--format csv|jsonl)", file=sys.stderr)
        return 2
    try:
        source = open(args.file, encoding="utf-8-sig", newline="") if args.file else sys.stdin  # noqa: SIM115
    except OSError as e:
        print(f"signalloop classify: cannot read {args.file}: {e.strerror}", file=sys.stderr)
        return 2
    where = args.file or "stdin"
    try:
        for ident, text in messages(source, fmt, column):
            c = classify(text)
            print(
                json.dumps(
                    {"id": ident, "text": text, "kind": c.kind, "sentiment": c.sentiment, "why": list(c.why)},
                    ensure_ascii=False,
                )
            )
    except InputError as e:
        print(f"signalloop classify: {where}: {e}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"signalloop classify: {where} is not UTF-8 text (a spreadsheet? save it as CSV UTF-8)", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"signalloop classify: cannot read {where}: {e.strerror}", file=sys.stderr)
        return 2
    finally:
        if args.file:
            source.close()
    return 0


def export_corrections(args: argparse.Namespace) -> int:
    """Every kind a person corrected in Slack, as JSONL the corpus can take (text, kind, who, when)."""
    from bot import corrections
    from bot.config import load_settings
    from entry.clidb import engine_and_sessions

    settings = load_settings()
    engine, sf = engine_and_sessions(settings, migrate=False, existing=True)
    try:
        with sf() as s:
            n = 0
            for row in corrections.export_rows(s, args.team):
                print(json.dumps(row, ensure_ascii=False))
                n += 1
    finally:
        engine.dispose()
    print(f"{n} corrected signal{'s' if n != 1 else ''} exported", file=sys.stderr)
    return 0
