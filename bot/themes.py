"""Themes in customer text: the recurring content words and word pairs, by transparent counting."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache

STOP = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further get gets got had hadn't has hasn't have haven't having he her here hers herself him
himself his how i i'm if in into is isn't it it's its itself just let's like me more most much my myself
need needs no nor not now of off on once one only or other our ours ourselves out over own please same
she should shouldn't so some still such than that that's the their theirs them themselves then there
these they they're this those through to too under until up us very was wasn't we we're were weren't
what when where which while who whom why will with won't would wouldn't you your yours yourself again
really today yesterday tomorrow week weeks morning monday tuesday wednesday thursday friday thanks thank
said says asked ask want wants wanted new every way lot lots time times day days last next first
without within
great good bad love could would can will make makes made see seen
""".split())

_WORD = re.compile(r"[a-z][a-z'\-]{2,}")


def words(text: str, exclude: Iterable[str] = ()) -> list[str]:
    return _words(text, STOP.union(exclude) if exclude else STOP)


def _words(text: str, excluded: frozenset[str]) -> list[str]:
    """Content words in order; `excluded` already holds the stop words (built once per call site)."""
    return [w.strip("'-") for w in _WORD.findall(text.casefold()) if w not in excluded]


def content_words(text: str) -> set[str]:
    return set(words(text))


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A crude English stem, enough to match "manually" with "manual" and "runs" with "run"."""
    for suffix in ("ing", "ed", "ly", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


def themes(texts: Sequence[tuple[int, str]], exclude: Iterable[str] = (), min_count: int = 2,
           limit: int = 5) -> list[tuple[str, list[int]]]:
    """(theme, ids) for words or word pairs shared by at least `min_count` texts, most shared first.

    A text counts toward one theme only (the most shared one it contains), so counts add up.
    """
    ex = STOP.union(exclude)
    having: defaultdict[str, list[int]] = defaultdict(list)  # term -> ids of the texts that contain it
    for tid, text in texts:
        ws = _words(text, ex)
        for term in set(ws).union(map(" ".join, zip(ws, ws[1:], strict=False))):
            having[term].append(tid)
    # prefer a pair over its words when the pair is as common
    ranked = sorted((t for t, ids in having.items() if len(ids) >= min_count),
                    key=lambda t: (-len(having[t]), -t.count(" "), t))
    out: list[tuple[str, list[int]]] = []
    used: set[int] = set()
    for term in ranked:
        ids = [tid for tid in having[term] if tid not in used]
        if len(ids) < min_count:
            continue
        out.append((term, ids))
        used.update(ids)
        if len(out) >= limit:
            break
    return out
