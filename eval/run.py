"""`make eval`: the classifier on the frozen part of the corpus (never used to tune), written to EVAL.md.

python -m eval.run            figures on the frozen part, and EVAL.md updated
python -m eval.run --tune     figures on the tuning part, with every miss listed (for developing the rules)
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.classify import classify
from eval.metrics import FROZEN, TUNE, evaluate, load, sha256

ROOT = Path(__file__).resolve().parents[1]
EVAL_MD = ROOT / "EVAL.md"
TARGETS = {"accuracy": 0.85, "churn_recall": 0.85, "sentiment": 0.85, "p99_ms": 1.0}
MARK = "<!-- figures: written by `make eval` -->"


def latency_ms(texts: list[str], rounds: int = 5) -> tuple[float, float]:
    """Median and p99 of classifying one message, in milliseconds (each text timed alone, warm)."""
    for t in texts:
        classify(t)
    times = []
    for _ in range(rounds):
        for t in texts:
            t0 = time.perf_counter()
            classify(t)
            times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tune", action="store_true", help="the tuning part, with its misses (EVAL.md untouched)")
    args = p.parse_args(argv)
    path = TUNE if args.tune else FROZEN
    rows = load(path)
    report = evaluate(rows, lambda t: (lambda c: (c.kind, c.sentiment))(classify(t)))
    median, p99 = latency_ms([r["text"] for r in rows])
    churn_recall = report.per_kind["churn-risk"][1]
    print(f"{'Tuning' if args.tune else 'Frozen'} part: {path.name} (sha256 {sha256(path)[:16]}…)")
    print(report.table())
    print(f"\nOne message classified: median {median:.3f} ms, p99 {p99:.3f} ms")
    checks = {
        "kind accuracy": (report.accuracy, TARGETS["accuracy"], ">="),
        "churn-risk recall": (churn_recall, TARGETS["churn_recall"], ">="),
        "sentiment sign agreement": (report.sentiment_agreement, TARGETS["sentiment"], ">="),
        "p99 ms per message": (p99, TARGETS["p99_ms"], "<"),
    }
    ok = True
    for name, (value, target, op) in checks.items():
        met = value >= target if op == ">=" else value < target
        ok &= met
        print(f"  {name}: {value:.3f} (target {op} {target}) {'met' if met else 'MISSED'}")
    if args.tune:
        print("\nMisses (label -> said | text):")
        for true, pred, text in report.misses:
            print(f"  {true:10} -> {pred:10} | {text}")
        return 0
    write_eval_md(report.table(), sha256(path), len(load(TUNE)), median, p99, checks)
    print(f"\nWritten to {EVAL_MD.name}")
    return 0 if ok else 1


def write_eval_md(table: str, digest: str, n_tune: int, median: float, p99: float, checks: dict) -> None:
    machine = f"{platform.machine()}, {platform.system()} {platform.release()}, Python {platform.python_version()}"
    lines = [
        MARK,
        "",
        f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}.",
        "",
        f"Frozen part: `eval/frozen.jsonl`, sha256 `{digest}` (tuning part: {n_tune} messages).",
        "",
        table,
        "",
        f"One message classified: median {median:.3f} ms, p99 {p99:.3f} ms.",
        "",
        "| target | value | goal |",
        "| --- | ---: | --- |",
    ]
    for name, (value, target, op) in checks.items():
        lines.append(f"| {name} | {value:.3f} | {op} {target} |")
    body = "\n".join(lines) + "\n"
    text = EVAL_MD.read_text(encoding="utf-8") if EVAL_MD.exists() else ""
    head = text.split(MARK)[0] if MARK in text else text
    EVAL_MD.write_text(head.rstrip("\n") + "\n\n" + body if head.strip() else body, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
