"""A linear model over words, word pairs, character n-grams, the rules' own cues and the words' tone (VADER), read
from a file shipped
in the package (bot/model/kinds.npz): no download, no scikit-learn at run time, a few hundred microseconds a
message. Trained by `python -m eval.train` on every labelled source (eval/sources/README.md); how it was
chosen and what it scores across sources is in EVAL.md.

Features are computed the same way here and when training (`features`), so the file holds only the
vocabulary, the idf weights and the coefficients.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_FILE = Path(__file__).resolve().parent / "model" / "kinds.npz"
_TOKEN = re.compile(r"[a-z0-9']+")
CHAR_N = (3, 4, 5)
WORDS_REMEMBERED = 20_000  # words whose feature ids a model keeps (LinearModel.predict_text): a few MB


TONE_AT = (0.05, 0.5)  # VADER compound: a tone at all, a clear tone


def features(t: str, cues: Iterable[str] = (), rule_kind: str | None = None, tone: float | None = None) -> Counter[str]:
    """Counts of each feature of normalised text `t`: words, word pairs, character n-grams within words,
    the rules' cues that matched, the rules' kind and the tone of the words (VADER's compound score, in two
    steps each way): what a tone means carries from one source to another better than what a word means.
    In the order they first occur (the model reads them in that order)."""
    words = _TOKEN.findall(t)
    grams = ["w:" + w for w in words]
    grams += _pairs(words)
    for w in words:
        grams += _char_grams(w)
    return Counter(grams + _message_features(t, cues, rule_kind, tone))


def _pairs(words: list[str]) -> list[str]:
    return [f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)]


def _char_grams(word: str) -> list[str]:
    s = "c: " + word + " "  # n-grams of " word ", after the 2-character prefix
    return [s[:2] + s[i : i + n] for n in CHAR_N for i in range(2, len(s) - n + 1)]


def _message_features(t: str, cues: Iterable[str], rule_kind: str | None, tone: float | None) -> list[str]:
    """The features of the message as a whole: a question mark at the end, the cues, the rules' kind, the tone."""
    f = ["p:?"] if t.rstrip().endswith("?") else []
    f += ["q:" + c for c in cues]
    if rule_kind:
        f.append("r:" + rule_kind)
    if tone is not None:
        for i, at in enumerate(TONE_AT):
            if tone >= at:
                f.append("s:" + "+" * (i + 1))
            elif tone <= -at:
                f.append("s:" + "-" * (i + 1))
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
        self._word_ids = lru_cache(maxsize=WORDS_REMEMBERED)(self._look_up_word)

    def predict(self, f: Counter[str]) -> Prediction:
        """The kind features `f` (`features()`) point to, and how sure."""
        return self._predict(Counter({i: n for g, n in f.items() if (i := self.index.get(g)) is not None}))

    def predict_text(
        self, t: str, cues: Iterable[str] = (), rule_kind: str | None = None, tone: float | None = None
    ) -> Prediction:
        """`predict(features(t, cues, rule_kind, tone))`, the same to the last bit, without making the words'
        feature strings: a word's known features are looked up once (most of the time per message went there)."""
        words = _TOKEN.findall(t)
        looked_up = [self._word_ids(w) for w in words]
        ids = [i for i, _ in looked_up if i is not None]
        ids += self._known(_pairs(words))
        for _, char_ids in looked_up:
            ids += char_ids
        ids += self._known(_message_features(t, cues, rule_kind, tone))
        return self._predict(Counter(ids))  # Counter keeps first occurrences in order, as features() does

    def _look_up_word(self, word: str) -> tuple[int | None, tuple[int, ...]]:
        """The id of `word` as a feature, and of its known character n-grams in features()' order."""
        return self.index.get("w:" + word), tuple(self._known(_char_grams(word)))

    def _known(self, grams: list[str]) -> list[int]:
        index = self.index
        return [i for g in grams if (i := index.get(g)) is not None]

    def _predict(self, counts: Counter[int]) -> Prediction:
        """The prediction from the counts (each at least 1) of known features by id, in the order they first
        occur in the text."""
        ix = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        if not len(ix):
            scores = self.intercept
            v = np.zeros(0)
        else:
            v = self.idf.take(ix)  # a feature's tf-idf weight: its idf when it occurs once (1 + log 1 = 1)
            if counts.total() != len(counts):  # some occur more than once: sublinear tf
                v *= 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
            v /= math.sqrt(v @ v) or 1.0  # a correctly rounded square root, as np.sqrt's, for a numpy call less
            scores = v @ self.weights.take(ix, axis=0) + self.intercept  # take: self.weights[ix], 4x faster
        p = np.exp(scores - scores.max())
        p /= p.sum()
        k = int(p.argmax())
        return Prediction(self.classes[k], p.item(k), ix, v)

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
