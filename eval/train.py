"""Fit the kind model shipped in bot/model/kinds.npz on every labelled source (never the frozen part).

python -m eval.train          fit on the tuning part and every source in eval/sources/, write the model file

Needs scikit-learn (`pip install -e '.[eval]'`); the app reads the file with numpy alone (bot.textmodel).
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from bot.classify import _kind, _tone, normalise
from bot.textmodel import MODEL_FILE, LinearModel, features
from eval.metrics import TUNE, load, source_rows

C = 16.0  # inverse regularisation, chosen on the leave-one-source-out figures (EVAL.md)
MIN_DF = 2


def row_features(text: str, with_cues: bool = True, with_tone: bool = True) -> Counter:
    t = normalise(text)
    found: dict[str, list[str]] = {}
    kind, _ = _kind(t, [], found)
    tone = _tone(t) if with_tone else None
    if not with_cues:
        return features(t, tone=tone)
    return features(t, [c for k in found for c in found[k]], kind, tone)


def fit(
    rows: list[dict], with_cues: bool = True, c: float = C, balance_sources: bool = True, with_tone: bool = True
) -> LinearModel:
    """A model from labelled rows ({"text", "kind", "source"}): classes balanced, and each source weighing
    the same in total, so that no one source's style decides."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    feats = [row_features(r["text"], with_cues, with_tone) for r in rows]
    df: Counter = Counter()
    for f in feats:
        df.update(f.keys())
    keep = {k for k, n in df.items() if n >= MIN_DF or k[:2] in ("q:", "r:", "s:")}
    feats = [{k: v for k, v in f.items() if k in keep} for f in feats]
    dv = DictVectorizer()
    x = dv.fit_transform(feats)
    x.data = 1.0 + np.log(x.data)  # sublinear tf, as LinearModel.predict
    tfidf = TfidfTransformer(sublinear_tf=False)
    x = tfidf.fit_transform(x)
    y = [r["kind"] for r in rows]
    w = np.ones(len(rows))
    if balance_sources:
        per_source = Counter(r.get("source", "") for r in rows)
        w = np.array([len(rows) / (len(per_source) * per_source[r.get("source", "")]) for r in rows])
    per_kind = Counter(y)
    w *= np.array([len(rows) / (len(per_kind) * per_kind[k]) for k in y])
    lr = LogisticRegression(C=c, max_iter=3000)
    lr.fit(x, y, sample_weight=w)
    coef, intercept, classes = lr.coef_, lr.intercept_, list(lr.classes_)
    if len(classes) == 2:  # binary: scikit-learn keeps one row; the softmax wants one per class
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return LinearModel(list(dv.feature_names_), tfidf.idf_, coef, intercept, classes)


def training_rows() -> list[dict]:
    rows = [dict(r, source="ours") for r in load(TUNE)]
    for name, srows in source_rows().items():
        rows += [dict(r, source=name) for r in srows]
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.parse_args(argv)
    rows = training_rows()
    model = fit(rows)
    model.save(MODEL_FILE)
    print(f"{len(rows)} messages, {len(model.vocab)} features -> {MODEL_FILE} ({MODEL_FILE.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
