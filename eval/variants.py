"""The combination's variants measured leave-one-source-out, and each one chosen blind to the source it is tested on.

python -m eval.variants          print the tables EVAL.md records ("What was tried in the third pass")

Each source's model is fitted once without it (as `make eval` does); every variant of `classify_with`'s
combination (its thresholds, and whether praise or a problem the model is unsure of gives way to the lean of its
praise-vs-problem and the tone) is then run on every source
left out. Nested choice: for each source, the variant is chosen on the other sources' figures alone (the
largest sum of their kind, churn-risk and sentiment figures, none lower than now by more than NOISE), and that
variant's figure on the source is its blind figure. Needs scikit-learn (`pip install -e '.[eval]'`).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Callable

from bot import classify as c
from eval.metrics import FROZEN, TUNE, load, sign, source_rows
from eval.run import CHURN_SUPPORT

NOISE = 0.005
Variant = dict[str, float | None]
Figures = dict[str, float]  # "source:k" kind accuracy, "source:c" churn-risk recall, "source:s" sentiment sign


def folds() -> dict[str, tuple[list[dict], object]]:
    """Each source's rows with the model fitted without it; our frozen part with and without our tuning part."""
    from eval.train import fit

    tune = [dict(r, source="ours") for r in load(TUNE)]
    sources = {name: [dict(r, source=name) for r in rows] for name, rows in source_rows().items()}
    out: dict[str, tuple[list[dict], object]] = {}
    for name, test in sources.items():
        out[name] = (test, fit(tune + [r for n in sources if n != name for r in sources[n]]))
    everyone = [r for rows in sources.values() for r in rows]
    out["ours (without ours)"] = (load(FROZEN), fit(everyone))
    out["ours (shipped)"] = (load(FROZEN), fit(tune + everyone))
    return out


def figures(data: dict[str, tuple[list[dict], object]], variant: Variant) -> Figures:
    f: Figures = {}
    for name, (rows, model) in data.items():
        said = [c.classify_with(r["text"], model, **variant) for r in rows]  # type: ignore[arg-type]
        f[name + ":k"] = sum(s.kind == r["kind"] for s, r in zip(said, rows, strict=True)) / len(rows)
        churn = [s.kind == "churn-risk" for s, r in zip(said, rows, strict=True) if r["kind"] == "churn-risk"]
        if len(churn) >= CHURN_SUPPORT:
            f[name + ":c"] = sum(churn) / len(churn)
        if any(r.get("sentiment") is not None for r in rows):
            agree = sum(sign(s.sentiment) == r["sentiment"] for s, r in zip(said, rows, strict=True))
            f[name + ":s"] = agree / len(rows)
    return f


def nested(results: list[tuple[Variant, Figures]], now: Figures, held: str) -> tuple[Variant, Figures]:
    """The variant chosen on every source but `held` (our two rows count as one source)."""
    blind = {held} | ({"ours (shipped)", "ours (without ours)"} if held.startswith("ours") else set())

    def score(item: tuple[Variant, Figures]) -> tuple[bool, float]:
        f = item[1]
        keys = [k for k in f if k.split(":")[0] not in blind]
        return min(f[k] - now[k] for k in keys) >= -NOISE, sum(f[k] - now[k] for k in keys)

    return max(results, key=score)


def show(name: str, f: Figures, sources: list[str]) -> str:
    cells = []
    for s in sources:
        cell = f"{f[s + ':k']:.3f}"
        if s + ":c" in f:
            cell += f" (churn {f[s + ':c']:.3f})"
        if s + ":s" in f:
            cell += f" / {f[s + ':s']:.3f}"
        cells.append(cell)
    return f"| {name} | " + " | ".join(cells) + " |"


def grid(data: dict, variants: list[Variant], now: Figures, title: str, label: Callable[[Variant], str]) -> None:
    sources = list(data)
    results = [(v, figures(data, v)) for v in variants]
    print(f"\n{title}: kind accuracy (churn-risk recall, of at least {CHURN_SUPPORT}) / sentiment sign\n")
    print("| variant | " + " | ".join(sources) + " |")
    print("| --- |" + " ---: |" * len(sources))
    print(show("now", now, sources))
    for v, f in results:
        print(show(label(v), f, sources))
    print("\nChosen on the other sources alone (the held-out source's figure is then blind):\n")
    print("| source held out | variant chosen on the others | its figure there (now) |")
    print("| --- | --- | ---: |")
    for s in sources:
        v, f = nested(results, now, s)
        keys = [k for k in f if k.startswith(s + ":")]
        print(f"| {s} | {label(v)} | " + ", ".join(f"{k.split(':')[1]} {f[k]:.3f} ({now[k]:.3f})" for k in keys) + " |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_args(argv)
    data = folds()
    before: Variant = {"unsure_below": None}
    now = figures(data, before)
    print("now (the model's praise or problem stands however unsure):", {k: round(v, 3) for k, v in now.items()})
    sign_variants: list[Variant] = [
        {"unsure_below": s, "tone_weight": w, "lean_margin": m}
        for s, w, m in itertools.product((0.7, 0.8, 0.9, 1.01), (0.5, 1.0, 2.0, 3.0), (0.05, 0.1, 0.2))
    ]
    grid(
        data,
        sign_variants,
        now,
        "Praise or a problem the model decided under S sure gives way to its lean and the tone",
        lambda v: f"S {v['unsure_below']}, tone weight {v['tone_weight']}, margin {v['lean_margin']}",
    )
    thresholds: list[Variant] = [
        {"overrule_at": o, "decide_at": d, "churn_at": ch, "tone_at": t, "unsure_below": None}
        for o, d, ch, t in itertools.product((0.5, 0.6, 0.7, 0.8), (0.2, 0.3, 0.4), (0.3, 0.4, 0.5), (0.3, 0.5, None))
    ]
    grid(
        data,
        thresholds,
        now,
        "The combination's thresholds (the model's praise or problem standing however unsure)",
        lambda v: f"overrule {v['overrule_at']}, decide {v['decide_at']}, churn {v['churn_at']}, tone {v['tone_at']}",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
