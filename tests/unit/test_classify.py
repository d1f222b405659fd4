"""The rule-based classifier on realistic customer messages."""

from __future__ import annotations

import numpy as np
import pytest

from bot.classify import KINDS, classify, classify_with, normalise
from bot.textmodel import LinearModel, features
from eval.metrics import SOURCES, source_rows

TABLE = [
    ("If the double texts continue past January our COO wants to re-tender the contract", "churn-risk", -1),
    ("We're evaluating a competitor for next year", "churn-risk", -1),
    ("Honestly we might not renew if this keeps happening", "churn-risk", -1),
    ("Our CFO asked whether we should cancel the subscription", "churn-risk", -1),
    ("Leadership is looking at alternatives after the outage", "churn-risk", -1),
    ("We are considering switching to another provider", "churn-risk", -1),
    ("Patients at Elm Street got two reminders again", "problem", -1),
    ("The export to CSV is broken since Tuesday", "problem", -1),
    ("Login fails with an error on Safari", "problem", -1),
    ("The dashboard is really slow in the mornings", "problem", -1),
    ("front desk still spends mornings calling people back", "problem", -1),
    ("Payroll run got stuck at step 3", "problem", -1),
    ("We still have to fix the rota manually every week", "problem", -1),
    ("Reminder texts still go out twice at two clinics", "problem", -1),
    ("The sync keeps timing out for the Leeds depot", "problem", -1),
    ("two clinics still double booking", "problem", -1),
    ("We were double charged for November", "problem", -1),
    ("The app keeps logging out the night shift", "problem", -1),
    ("Could the waiting list show which hygienist they prefer?", "request", 0),
    ("Can the waiting list show which hygienist they prefer?", "question", 0),  # asks whether it can
    ("It would be great to have an export to Xero", "request", 0),
    ("We need a way to bulk approve leave requests", "request", 0),
    ("Any plans to support SSO with Okta?", "request", 0),
    ("Would love a weekly summary email for managers", "request", 1),
    ("Could you add a dark mode for the night shift?", "request", 0),
    ("How do I reset a clinic manager's password?", "question", 0),
    ("When is the next release going out?", "question", 0),
    ("Is there a limit on how many sites we can add?", "question", 0),
    ("Where can I find the invoice for October?", "question", 0),
    ("The new booking page cut our no-shows noticeably", "praise", 1),
    ("Thanks, the onboarding session was really helpful", "praise", 1),
    ("Love the new rota view, the team is delighted", "praise", 1),
    ("Great job on the quick fix yesterday", "praise", 1),
    ("Month end was smooth for the first time, awesome", "praise", 1),
    ("Meeting moved to Thursday 3pm", "other", 0),
    ("Sharing the slides from today's QBR", "other", 0),
    ("Ok noted", "other", 0),
]


@pytest.mark.parametrize("text,kind,sign", TABLE)
def test_kind_and_sentiment_sign(text: str, kind: str, sign: int) -> None:
    c = classify(text)
    assert c.kind == kind, (text, c)
    assert -1 <= c.sentiment <= 1
    if sign < 0:
        assert c.sentiment < 0, (text, c)
    elif sign > 0:
        assert c.sentiment > 0, (text, c)
    else:
        assert -0.4 <= c.sentiment <= 0.4, (text, c)


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 30


def test_a_clear_tone_decides_what_no_cue_recognised() -> None:
    # the cues alone (no model): no cue in either, the tone of the words decides and says so
    good = classify_with("The pictures come out beautifully", None)
    bad = classify_with("The pictures come out horribly ugly", None)
    assert (good.kind, bad.kind) == ("praise", "problem"), (good, bad)
    assert "tone" in good.why[0] and "tone" in bad.why[0]
    # logistics with no feeling stay other
    assert classify_with("Meeting moved to Thursday 3pm", None).kind == "other"


def _sure_model(classes: list[str], says: str) -> LinearModel:
    """A model that says `says`, 99% sure, of any text with a word in it."""
    coef = np.array([[0.0] * 2 for _ in classes])
    coef[classes.index(says)] = [20.0, 20.0]
    return LinearModel(["w:a", "w:the"], np.ones(2), coef, np.zeros(len(classes)), classes)


def test_the_model_overrules_only_kinds_it_was_fitted_on_and_never_a_churn_risk() -> None:
    knows_no_requests = _sure_model(["churn-risk", "praise", "problem", "question"], "problem")
    assert classify_with("Would love a weekly summary email for the managers", knows_no_requests).kind == "request"
    knows_all = _sure_model(["churn-risk", "other", "praise", "problem", "question", "request"], "problem")
    c = classify_with("Would love a weekly summary email for the managers", knows_all)
    assert c.kind == "problem" and "the model, 100% sure" in c.why[-1], c
    assert classify_with("We're evaluating a competitor for the renewal", knows_all).kind == "churn-risk"
    # nor does it say "other": what it says when it recognises nothing
    says_other = _sure_model(["churn-risk", "other", "praise", "problem", "question", "request"], "other")
    assert classify_with("The export to CSV is broken since Tuesday", says_other).kind == "problem"


def _model_saying(says: str, sure: float) -> LinearModel:
    """A model that says `says`, `sure` sure, of any text with "the" in it (the rest shared evenly)."""
    classes = ["churn-risk", "other", "praise", "problem", "question", "request"]
    coef = np.zeros((len(classes), 1))
    coef[classes.index(says)] = np.log(sure / (1 - sure) * (len(classes) - 1))
    return LinearModel(["w:the"], np.ones(1), coef, np.zeros(len(classes)), classes)


def test_an_unsure_model_gives_way_to_the_tone_on_praise_or_problem() -> None:
    text = "The pictures come out horribly ugly"  # no cue; VADER -0.77
    unsure = classify_with(text, _model_saying("praise", 0.6))
    assert unsure.kind == "problem" and unsure.sentiment < 0, unsure
    assert "the model unsure (60% praise)" in unsure.why[-1] and "lean negative" in unsure.why[-1], unsure
    sure = classify_with(text, _model_saying("praise", 0.95))
    assert sure.kind == "praise" and sure.sentiment > 0, sure
    # without the lean (the previous combination) the unsure model's kind stood, and the sign with it
    assert classify_with(text, _model_saying("praise", 0.6), unsure_below=None).kind == "praise"
    # a question stays a question, neutral, whatever the tone
    asked = classify_with("The pictures come out horribly ugly", _model_saying("question", 0.6))
    assert asked.kind == "question" and abs(asked.sentiment) < 0.15, asked


def test_every_kinds_probability_agrees_with_the_prediction() -> None:
    from bot import textmodel
    from bot.classify import _probabilities, normalise

    model = textmodel.shipped()
    assert model is not None
    for text in ("can't log in with the authenticator app after the update", "Battery lasts two days", "ok"):
        pred = model.predict(features(normalise(text)))
        p = _probabilities(model, pred)
        assert max(p, key=p.__getitem__) == pred.kind and abs(p[pred.kind] - pred.probability) < 1e-9, (text, p)
        assert abs(sum(p.values()) - 1) < 1e-9


def test_the_tone_is_a_feature_in_two_steps_each_way() -> None:
    assert {k for k in features("fine", tone=0.2) if k.startswith("s:")} == {"s:+"}
    assert {k for k in features("awful", tone=-0.8) if k.startswith("s:")} == {"s:-", "s:--"}
    assert not {k for k in features("ok", tone=0.0) if k.startswith("s:")}


def test_every_source_is_labelled_in_our_kinds_and_documented() -> None:
    from eval.sources.build import BUILDERS

    docs = (SOURCES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}.jsonl`" in docs for name in BUILDERS)  # licence, commit and mapping written down
    rows = source_rows()  # built from this machine's snapshots (not committed); a missing one is left out
    assert set(rows) <= set(BUILDERS)
    for name, srows in rows.items():
        assert f"`{name}.jsonl`" in docs, name  # licence, commit and mapping written down
        assert srows and all(r["kind"] in KINDS and r["sentiment"] in (-1, 0, 1, None) for r in srows), name


def test_a_cue_runs_its_expression_only_when_a_needle_is_there_and_that_changes_no_verdict() -> None:
    from bot.classify import CHURN, PRAISE, PROBLEM, QUESTION, REQUEST, normalise
    from eval.metrics import FROZEN, TUNE, load

    cues = CHURN + PROBLEM + REQUEST + QUESTION + PRAISE
    assert all(c.needles for c in cues)  # every cue's expression has strings one of which it needs
    texts = [normalise(r["text"]) for r in load(TUNE) + load(FROZEN)]
    for t in texts:
        for c in cues:
            assert (c.pattern.search(t) is not None) == c.search(t), (c.name, t)


def test_a_leading_label_naming_the_customer_does_not_change_the_kind() -> None:
    """People file a customer's words as "Riverside: …": the label names the customer (routing reads it), and the
    message is read as if it were not there (a question still opens with its question word)."""
    for said in (
        "Is there a way to block lunch breaks across all sites?",
        "Love how fast the calendar loads now",
        "We need a way to merge two waiting lists",
    ):
        for label in ("Riverside", "Harbor Legal", "Tallwood Dental Group"):
            assert classify(f"{label}: {said}") == classify(said)
    # not a label: a lower-case word after the colon, or reported speech
    assert normalise("Acme said: we are looking at other vendors").startswith("acme said:")
    assert normalise("Note: the export").startswith("note:")
