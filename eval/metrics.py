"""Per-kind precision and recall, a confusion matrix and sentiment-sign agreement for a labelled set."""

from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.kinds import KINDS

HERE = Path(__file__).resolve().parent
TUNE = HERE / "tune.jsonl"
FROZEN = HERE / "frozen.jsonl"
NEUTRAL = 0.15  # |sentiment| below this reads as neutral when signs are compared


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sign(x: float) -> int:
    return 0 if abs(x) < NEUTRAL else (1 if x > 0 else -1)


@dataclass
class Report:
    n: int
    accuracy: float
    sentiment_agreement: float
    per_kind: dict[str, tuple[float, float, int]]  # kind -> (precision, recall, support)
    confusion: dict[str, Counter]  # true kind -> predicted kind -> count
    misses: list[tuple[str, str, str]]  # (true, predicted, text)

    def table(self) -> str:
        lines = [
            f"messages {self.n} · kind accuracy {self.accuracy:.3f} · sentiment sign agreement "
            f"{self.sentiment_agreement:.3f}",
            "",
            "| kind | precision | recall | support |",
            "| --- | ---: | ---: | ---: |",
        ]
        for k in KINDS:
            p, r, s = self.per_kind[k]
            lines.append(f"| {k} | {p:.2f} | {r:.2f} | {s} |")
        lines += [
            "",
            "Confusion (rows: the label, columns: what the classifier said)",
            "",
            "| label \\ said | " + " | ".join(KINDS) + " |",
            "| --- |" + " ---: |" * len(KINDS),
        ]
        for k in KINDS:
            lines.append(f"| {k} | " + " | ".join(str(self.confusion[k][p]) for p in KINDS) + " |")
        return "\n".join(lines)


def evaluate(rows: Iterable[dict], classify: Callable[[str], tuple[str, float]]) -> Report:
    rows = list(rows)
    confusion: dict[str, Counter] = {k: Counter() for k in KINDS}
    agree = 0
    misses = []
    for r in rows:
        kind, sentiment = classify(r["text"])
        confusion[r["kind"]][kind] += 1
        agree += sign(sentiment) == r["sentiment"]
        if kind != r["kind"]:
            misses.append((r["kind"], kind, r["text"]))
    per_kind = {}
    for k in KINDS:
        tp = confusion[k][k]
        said = sum(confusion[t][k] for t in KINDS)
        support = sum(confusion[k].values())
        per_kind[k] = (tp / said if said else 0.0, tp / support if support else 0.0, support)
    correct = sum(confusion[k][k] for k in KINDS)
    return Report(len(rows), correct / len(rows), agree / len(rows), per_kind, confusion, misses)


SOURCES = HERE / "sources"


def source_rows(build: bool = True) -> dict[str, list[dict]]:
    """Labelled text written by others, one list per source (eval/sources/README.md), by file name. The samples
    are built on first use from the machine's snapshots of their repositories (never committed); a source whose
    snapshot is missing is left out, and said so."""
    if build:
        from eval.sources.build import DEFAULT_MIRROR, ensure

        for repo in ensure(DEFAULT_MIRROR):
            print(
                f"eval: {repo} is left out: no snapshot under {DEFAULT_MIRROR} (fetch github:{repo}, "
                "or set SIGNALLOOP_EVAL_MIRROR)",
                file=sys.stderr,
            )
    return {p.stem: load(p) for p in sorted(SOURCES.glob("*.jsonl"))}
