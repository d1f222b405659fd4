"""One verb table per command: `/loop help`, the dispatch and "did you mean" read the same table."""

from __future__ import annotations

import pytest

from bot.commands import LOOP_HELP, LOOP_TABLE, LOOP_VERBS, loop_verb
from bot.commands.milestone import VERBS as MILESTONE_VERBS
from bot.commands.parsing import did_you_mean

CANONICAL = sorted({v.names[0] for v in LOOP_TABLE if v.help})


@pytest.mark.parametrize("verb", CANONICAL)
def test_every_loop_verb_is_in_the_help_dispatched_and_suggested(verb: str) -> None:
    assert f"`/loop {verb}" in LOOP_HELP
    assert verb in LOOP_VERBS
    typo = verb[:-2] + verb[-1] + verb[-2]  # the last two letters swapped
    hint = did_you_mean(typo, LOOP_VERBS)
    suggested = hint.split("`")[1]
    assert suggested == verb or suggested.rstrip("s") == verb.rstrip("s"), (typo, hint)


def test_the_six_verbs_the_old_list_missed_are_suggested() -> None:
    for typo, verb in [("reveiw", "review"), ("aks", "ask"), ("nudgs", "nudges"), ("replys", "replies")]:
        assert f"`{verb}`" in did_you_mean(typo, LOOP_VERBS), typo
    assert {"ask", "review", "nudges", "replies", "template", "customers"} <= set(LOOP_VERBS)


def test_shared_names_go_by_what_follows() -> None:
    assert loop_verb("link", "auto").help[0].startswith("`/loop link auto`")
    assert loop_verb("link", "Acme").help[0].startswith("`/loop link <customer>`")
    assert loop_verb("customers", "import").help[0].startswith("`/loop customers import`")
    assert loop_verb("customers", "add Acme").help[0].startswith("`/loop customer add")
    assert loop_verb("digest", "own").shows is None
    assert loop_verb("digest", "now").shows_if("now") and not loop_verb("digest", "off").shows_if("off")
    assert loop_verb("nudges", "unanswered 2h").help[0].startswith("`/loop nudges unanswered")
    assert loop_verb("nope", "") is None
    assert all(v.help or v.names[0] in ("help", "decisions") for v in LOOP_TABLE)


def test_milestone_verbs_are_suggested() -> None:
    assert "`rename`" in did_you_mean("renmae", MILESTONE_VERBS)


def test_every_milestone_verb_is_in_the_help_dispatched_and_suggested() -> None:
    from bot.commands.milestone import MILESTONE_TABLE, MILESTONE_USAGE, MilestoneCommands

    for v in MILESTONE_TABLE:
        assert callable(getattr(MilestoneCommands, v.method)), v.method
        for name in v.names:
            assert name in MILESTONE_VERBS
            assert f"/milestone {name}" in MILESTONE_USAGE or f"|{name}" in MILESTONE_USAGE, name
            if len(name) > 3:
                typo = name[:-2] + name[-1] + name[-2]
                assert f"`{name}`" in did_you_mean(typo, MILESTONE_VERBS), typo
