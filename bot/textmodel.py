"""A linear model over words, word pairs, character n-grams, the rules' own cues and the words' tone (VADER), read
from a file shipped
in the package (bot/model/kinds.npz): no download, no scikit-learn at run time, a few hundred microseconds a
message. Trained by `python -m eval.train` on every labelled source (eval/sources/README.md); how it was
chosen and what it scores across sources is in EVAL.md.

Features are computed the same way here and when training (`features`), so the file holds only the
vocabulary, the idf weights and the coefficients.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).resolve().parent / "model" / "kinds.npz"
_TOKEN = re.compile(r"[a-z0-9']+")
CHAR_N = (3, 4, 5)


TONE_AT = (0.05, 0.5)  # VADER compound: a tone at all, a clear tone


def features(t: str, cues: Iterable[str] = (), rule_kind: str | None = None, tone: float | None = None) -> Counter[str]:
    """Counts of each feature of normalised text `t`: words, word pairs, character n-grams within words,
    the rules' cues that matched, the rules' kind and the tone of the words (VADER's compound score, in two
    steps each way): what a tone means carries from one source to another better than what a word means."""
    words = _TOKEN.findall(t)
    grams = ["w:" + w for w in words]
    grams += ["b:" + a + " " + b for a, b in zip(words, words[1:], strict=False)]
    for w in words:
        s = "c: " + w + " "  # n-grams of " word ", after the 2-character prefix
        grams += [s[:2] + s[i : i + n] for n in CHAR_N for i in range(2, len(s) - n + 1)]
    f: Counter[str] = Counter(grams)
    if t.rstrip().endswith("?"):
        f["p:?"] += 1
    for c in cues:
        f["q:" + c] += 1
    if rule_kind:
        f["r:" + rule_kind] += 1
    if tone is not None:
        for i, at in enumerate(TONE_AT):
            if tone >= at:
                f["s:" + "+" * (i + 1)] += 1
            elif tone <= -at:
                f["s:" + "-" * (i + 1)] += 1
    return f


@dataclass(frozen=True)
class Prediction:
    kind: str
    probability: float
    features: np.ndarray  # indexes of the message's known features
    weights: np.ndarray  # their tf-idf weights


class LinearModel:
    """Multinomial logistic regression over sublinear tf-idf features, l2-normalised (as scikit-learn's
    TfidfTransformer(sublinear_tf=True) then LogisticRegression)."""

    def __init__(self, vocab: list[str], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray, classes: list[str]):
        self.index = {f: i for i, f in enumerate(vocab)}
        self.vocab = vocab
        self.idf = np.asarray(idf, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.weights = np.ascontiguousarray(self.coef.T)  # one row per feature: gathered per message
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.classes = [str(c) for c in classes]

    def predict(self, f: Counter[str]) -> Prediction:
        ids = np.fromiter(map(self.index.get, f.keys(), repeat(-1)), dtype=np.int64, count=len(f))
        known = ids >= 0
        ix = ids[known]
        if not len(ix):
            scores = self.intercept
            v = np.zeros(0)
        else:
            v = (1.0 + np.log(np.fromiter(f.values(), dtype=np.float64, count=len(f))[known])) * self.idf[ix]
            v /= np.sqrt(v @ v) or 1.0
            scores = v @ self.weights[ix] + self.intercept
        p = np.exp(scores - scores.max())
        p /= p.sum()
        k = int(p.argmax())
        return Prediction(self.classes[k], float(p[k]), ix, v)

    def evidence(self, pred: Prediction, most: int = 3) -> tuple[str, ...]:
        """The readable features (words, word pairs, cues) that pushed most towards the predicted kind."""
        if not len(pred.features):
            return ()
        col = self.weights[pred.features, self.classes.index(pred.kind)] * pred.weights
        shown: list[str] = []
        for j in np.argsort(-col)[:12]:
            if col[j] <= 0:
                break
            name = self.vocab[pred.features[j]]
            if name[:2] in ("w:", "b:"):
                shown.append(f'"{name[2:]}"')
            elif name.startswith("q:"):
                shown.append(f"cue {name[2:]}")
            elif name.startswith("s:"):
                tone = "a positive tone" if "+" in name else "a negative tone"
                if tone not in shown:  # the two steps of one tone read as one
                    shown.append(tone)
            if len(shown) == most:
                break
        return tuple(shown)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path,
            vocab=np.array(self.vocab),
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float16),
            intercept=self.intercept.astype(np.float32),
            classes=np.array(self.classes),
        )

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        with np.load(path, allow_pickle=False) as z:
            return cls(list(z["vocab"]), z["idf"], z["coef"], z["intercept"], list(z["classes"]))


@lru_cache(maxsize=1)
def shipped() -> LinearModel | None:
    """The model in the package, or None when it is absent (the rules then decide alone)."""
    return LinearModel.load(MODEL_FILE) if MODEL_FILE.exists() else None
