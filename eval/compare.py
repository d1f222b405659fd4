"""What else was tried, scored the same way (`python -m eval.compare`; needs scikit-learn: pip install -e '.[eval]').

- the rules as they were before the corpus (eval/baseline_rules_v1.py);
- VADER alone for sentiment;
- a bag-of-words model (TF-IDF of words and character n-grams, logistic regression) trained on the tuning
  part: 5-fold cross-validation on the tuning part, then trained on all of it and scored on the frozen part;
- the scored cues (bot.classify), and the cues with the model deciding where the cues find nothing.
"""

from __future__ import annotations

import statistics
import time

from bot.classify import classify
from eval import baseline_rules_v1
from eval.metrics import FROZEN, TUNE, evaluate, load, sign


def model(train: list[dict]):  # noqa: ANN201
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    features = FeatureUnion(
        [
            ("w", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("c", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
        ]
    )
    pipe = make_pipeline(features, LogisticRegression(max_iter=2000, C=8.0))
    pipe.fit([r["text"] for r in train], [r["kind"] for r in train])
    return pipe


def cross_validate(rows: list[dict], folds: int = 5) -> float:
    correct = 0
    for k in range(folds):
        test = rows[k::folds]
        train = [r for i, r in enumerate(rows) if i % folds != k]
        pipe = model(train)
        correct += sum(p == r["kind"] for p, r in zip(pipe.predict([r["text"] for r in test]), test, strict=True))
    return correct / len(rows)


def timed(fn, texts: list[str]) -> float:  # noqa: ANN001
    times = []
    for t in texts:
        t0 = time.perf_counter()
        fn(t)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return times[int(len(times) * 0.99) - 1]


def main() -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    tune, frozen = load(TUNE), load(FROZEN)
    texts = [r["text"] for r in frozen]
    print("approach | tuning part | frozen part | sentiment (frozen) | p99 ms")
    old = evaluate(frozen, lambda t: (lambda c: (c.kind, c.sentiment))(baseline_rules_v1.classify(t)))
    old_t = evaluate(tune, lambda t: (lambda c: (c.kind, c.sentiment))(baseline_rules_v1.classify(t)))
    print(
        f"rules before the corpus | {old_t.accuracy:.3f} | {old.accuracy:.3f} | {old.sentiment_agreement:.3f} | "
        f"{timed(baseline_rules_v1.classify, texts):.3f}"
    )
    vader = SentimentIntensityAnalyzer()
    agree = statistics.mean(sign(vader.polarity_scores(r["text"])["compound"]) == r["sentiment"] for r in frozen)
    print(f"VADER alone (sentiment only) | – | – | {agree:.3f} | {timed(vader.polarity_scores, texts):.3f}")
    cv = cross_validate(tune)
    pipe = model(tune)
    predicted = pipe.predict(texts)
    acc = statistics.mean(p == r["kind"] for p, r in zip(predicted, frozen, strict=True))
    print(
        f"TF-IDF + logistic regression | {cv:.3f} (5-fold CV) | {acc:.3f} | – | "
        f"{timed(lambda t: pipe.predict([t]), texts):.3f}"
    )
    new = evaluate(frozen, lambda t: (lambda c: (c.kind, c.sentiment))(classify(t)))
    new_t = evaluate(tune, lambda t: (lambda c: (c.kind, c.sentiment))(classify(t)))
    print(
        f"scored cues (shipped) | {new_t.accuracy:.3f} | {new.accuracy:.3f} | {new.sentiment_agreement:.3f} | "
        f"{timed(classify, texts):.3f}"
    )

    def hybrid(t: str) -> tuple[str, float]:
        c = classify(t)
        return (pipe.predict([t])[0] if c.kind == "other" else c.kind), c.sentiment

    hyb = evaluate(frozen, hybrid)
    print(
        f"cues, the model where they find nothing | – | {hyb.accuracy:.3f} | {hyb.sentiment_agreement:.3f} | "
        f"{timed(hybrid, texts):.3f}"
    )


if __name__ == "__main__":
    main()
