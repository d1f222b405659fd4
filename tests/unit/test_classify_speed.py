"""The classifier's fast paths give what the straightforward ones give: which cues a text can match (needles
looked up by their pieces), the model's prediction (feature ids looked up per word) and the tone (VADER asked
only when a word of its lexicon is there)."""

from __future__ import annotations

import random
from collections import Counter
from itertools import repeat

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import textmodel
from bot.classify import (
    _NEEDLES,
    _PROBLEM_ENDED,
    _SARCASM,
    CHURN,
    PRAISE,
    PROBLEM,
    QUESTION,
    REQUEST,
    Cue,
    _kind,
    _tone,
    _vader,
    normalise,
)
from eval.metrics import FROZEN, TUNE, load

CUES = [*CHURN, *PROBLEM, *REQUEST, *QUESTION, *PRAISE, _SARCASM, _PROBLEM_ENDED]


def _texts() -> list[str]:
    """The labelled corpus, and as many word shuffles of it (words meeting that never met in it)."""
    texts = [normalise(r["text"]) for r in load(TUNE) + load(FROZEN)]
    rnd = random.Random(30)
    shuffled = []
    for _ in range(len(texts)):
        words = " ".join(rnd.sample(texts, 2)).split()
        rnd.shuffle(words)
        shuffled.append(" ".join(words[: rnd.randint(1, len(words))]))
    return texts + shuffled


TEXTS = _texts()


def test_the_cues_present_are_those_with_a_needle_in_the_text() -> None:
    for t in TEXTS:
        assert _NEEDLES.present(t) == {c for c in CUES if any(n in t for n in c.needles or ())}, t


@pytest.mark.parametrize("cue", CUES, ids=lambda c: c.name)
def test_every_match_of_a_cue_holds_one_of_its_needles(cue: Cue) -> None:
    @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(cue.pattern, alphabet=st.characters(min_codepoint=32, max_codepoint=126)))
    def check(text: str) -> None:
        assert cue.search(text), text

    check()


def _straightforward_predict(model: textmodel.LinearModel, f: Counter[str]) -> textmodel.Prediction:
    """LinearModel.predict as first written: every feature string looked up, then sublinear tf-idf for each."""
    ids = np.fromiter(map(model.index.get, f.keys(), repeat(-1)), dtype=np.int64, count=len(f))
    known = ids >= 0
    ix = ids[known]
    if not len(ix):
        scores, v = model.intercept, np.zeros(0)
    else:
        v = (1.0 + np.log(np.fromiter(f.values(), dtype=np.float64, count=len(f))[known])) * model.idf[ix]
        v /= np.sqrt(v @ v) or 1.0
        scores = v @ model.weights[ix] + model.intercept
    p = np.exp(scores - scores.max())
    p /= p.sum()
    k = int(p.argmax())
    return textmodel.Prediction(model.classes[k], float(p[k]), ix, v)


def test_the_model_reads_a_text_as_it_reads_its_features() -> None:
    model = textmodel.shipped()
    assert model is not None
    for t in TEXTS + ["", "?", "zzqx"]:
        found: dict[str, list[str]] = {}
        kind, _ = _kind(t, [], found)
        cues, tone = [c for k in found for c in found[k]], _tone(t)
        slow = _straightforward_predict(model, textmodel.features(t, cues, kind, tone))
        for fast in (model.predict_text(t, cues, kind, tone), model.predict(textmodel.features(t, cues, kind, tone))):
            assert (fast.kind, fast.probability) == (slow.kind, slow.probability), t
            assert fast.features.tolist() == slow.features.tolist(), t
            assert fast.weights.tolist() == slow.weights.tolist(), t
            assert model.evidence(fast) == model.evidence(slow), t


def test_the_tone_is_vaders_whether_or_not_it_is_asked() -> None:
    emoji = ["love it 😍", "ugh 🙄 again", "ok 👍", "fine ✅ now", "café déjà vu"]
    for t in TEXTS + emoji + [r["text"] for r in load(FROZEN)]:  # normalised and as written
        assert _tone(t) == _vader().polarity_scores(t)["compound"], t
