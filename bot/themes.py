"""Themes in customer text: the phrases a person would write ("shift swaps", "holiday pay"), shared by several
messages.

Candidate phrases come from YAKE (keyphrases of one to three words) read over the messages together; each is
matched in every message by its Snowball stems ("swap shifts" and "shift swaps" differ, "shift swap" and
"shift swaps" do not), and themes are the candidates most messages share, each message counted once.
Stems are also what impact reviews match milestones and signals by.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import snowballstemmer
import yake

STOP = frozenset(
    """
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further get gets got had hadn't has hasn't have haven't having he her here hers herself him
himself his how i i'm if in into is isn't it it's its itself just let's like me more most much my myself
need needs no nor not now of off on once one only or other our ours ourselves out over own please same
she should shouldn't so some still such than that that's the their theirs them themselves then there
these they they're this those through to too under until up us very was wasn't we we're were weren't
what when where which while who whom why will with won't would wouldn't you your yours yourself again
really today yesterday tomorrow week weeks morning mornings afternoon afternoons evening evenings night nights
end weekend weekends month months year years monday tuesday wednesday thursday friday thanks thank
said says asked ask want wants wanted new every way lot lots time times day days last next first
without within
two three four five six seven eight nine ten twice half
great good bad love could would can will make makes made see seen
""".split()
)

_WORD = re.compile(r"[a-z][a-z'\-]{2,}")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9'\-]*")
_STEMMER = snowballstemmer.stemmer("english")
MAX_TEXTS_FOR_CANDIDATES = 300  # the newest messages YAKE reads; every message is still matched


def words(text: str, exclude: Iterable[str] = ()) -> list[str]:
    return _words(text, STOP.union(exclude) if exclude else STOP)


def _words(text: str, excluded: frozenset[str]) -> list[str]:
    """Content words in order; `excluded` already holds the stop words (built once per call site)."""
    return [w.strip("'-") for w in _WORD.findall(text.casefold()) if w not in excluded]


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem: "manually" and "manual", "runs" and "run" meet."""
    stemmed: str = _STEMMER.stemWord(word)  # snowballstemmer has no type hints
    return stemmed


def stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


@lru_cache(maxsize=1 << 12)
def _phrase_stems(phrase: str) -> tuple[str, ...]:
    """A candidate phrase's stems: a digest checks the same phrases against every customer's texts."""
    return tuple(stem(w) for w in phrase.split())


Prepared = tuple[frozenset[str], str, frozenset[str], str, int]


@lru_cache(maxsize=1 << 12)
def _prepared(phrase: str) -> Prepared:
    """A candidate phrase as `themes` looks for it: its words (to exclude), its key (its stems joined), the set of
    its stems, the needle found in a text's stem line and how many words it has."""
    key_stems = _phrase_stems(phrase)
    return frozenset(phrase.split()), " ".join(key_stems), frozenset(key_stems), _needle(key_stems), len(key_stems)


@lru_cache(maxsize=64)
def _pool(phrases: tuple[str, ...]) -> tuple[list[tuple[str, Prepared]], frozenset[str]]:
    """The phrases prepared, and every stem they hold."""
    items = [(p, _prepared(p)) for p in phrases]
    return items, frozenset(st for _, prepared in items for st in prepared[2])


@lru_cache(maxsize=1 << 16)
def _token_stem(token: str) -> str:
    """A token's stem, quotes and hyphens at its ends left out: one cache lookup per token of a text."""
    return stem(token.strip("'-"))


def _stem_seq(text: str) -> list[str]:
    return list(map(_token_stem, _TOKEN.findall(text.casefold())))


@lru_cache(maxsize=1)
def _extractor() -> yake.KeywordExtractor:
    return yake.KeywordExtractor(lan="en", n=3, top=60, dedupLim=0.9)


# a theme names a thing, not an action: phrases opening with one of these verbs are not themes
_VERBS = frozenset(
    """
show shows showing see sees get gets getting make makes making use uses using add adds adding keep keeps
send sends sending take takes taking give gives find finds look looks looking work works working help helps
go goes going come comes try tries trying call calls calling tell tells let lets put puts set sets
""".split()
)


def candidates(texts: Sequence[str], exclude: Iterable[str] = ()) -> list[str]:
    """Keyphrases worth checking: YAKE's, read over (at most the newest MAX_TEXTS_FOR_CANDIDATES of) `texts`,
    with no stop word or excluded name in them and no verb opening them. Reading many customers' texts once
    gives the candidates for all of them (a digest), which is what keeps YAKE affordable."""
    excluded = STOP.union(w.casefold() for w in exclude)
    doc = ".\n".join(t.strip().rstrip(".!?") for t in texts[-MAX_TEXTS_FOR_CANDIDATES:])
    out = []
    for phrase, _ in _extractor().extract_keywords(doc):
        ws = phrase.casefold().split()
        if not ws or any(w in excluded or not _WORD.fullmatch(w) for w in ws) or ws[0] in _VERBS:
            continue
        out.append(" ".join(ws))
    return out


def _stem_line(text: str) -> str:
    """The text as its stems, space-delimited and space-bounded: a phrase is in it when `_needle(phrase)` is."""
    return " " + " ".join(_stem_seq(text)) + " "


def _needle(key_stems: Sequence[str]) -> str:
    return " " + " ".join(key_stems) + " "


def themes(
    texts: Sequence[tuple[int, str]],
    exclude: Iterable[str] = (),
    min_count: int = 2,
    limit: int = 5,
    phrases: Sequence[str] | None = None,
) -> list[tuple[str, list[int]]]:
    """(theme, ids) for phrases shared by at least `min_count` texts, most shared first (longer phrases first
    when as common); a text counts toward one theme only, so counts add up.

    `phrases`: candidates already read (bot.digest reads them once for all its customers); else YAKE reads
    these texts. The texts' own frequent content words are candidates too.
    """
    if len(texts) < min_count:
        return []
    excluded = STOP.union(w.casefold() for w in exclude)
    # the texts' own frequent content words (verbs taken out after counting: the order of the rest is the same)
    folded = [t.casefold() for _, t in texts]  # read twice below (words, then stems)
    shared: Counter[str] = Counter()
    for t in folded:
        shared.update({w.strip("'-") for w in _WORD.findall(t) if w not in excluded})  # as _words, once a text
    for verb in _VERBS.intersection(shared):
        del shared[verb]
    own = [w for w, _ in shared.most_common(20)]
    # the phrases to look for, prepared once (a digest checks the same ones for every customer), and the stems
    # they need: only those are indexed below
    pool, needed = _pool(tuple(phrases if phrases is not None else candidates([t for _, t in texts], excluded)))
    wanted = [item for item in pool if excluded.isdisjoint(item[1][0])]
    if own:
        more = _pool(tuple(own))
        wanted += [item for item in more[0] if excluded.isdisjoint(item[1][0])]
        needed = needed | more[1]
    # each text as its stems: a phrase's stems are found by one substring test, in the texts holding its rarest
    # stem (an inverted index: which texts hold each stem, in order)
    seqs: list[str] = []
    holding: dict[str, list[int]] = {}
    for i, t in enumerate(folded):
        stemmed = list(map(_token_stem, _TOKEN.findall(t)))  # as _stem_line
        seqs.append(" " + " ".join(stemmed) + " ")
        for st in needed.intersection(stemmed):
            holding.setdefault(st, []).append(i)
    present = holding.keys()
    counted: dict[str, list[int]] = {}
    surface: dict[str, str] = {}
    for phrase, (_, key, key_stems, needle, length) in wanted:
        if key in counted or not present >= key_stems:
            continue  # a phrase with a stem none of the texts has
        if length == 1:
            ids = [texts[i][0] for i in holding[key]]
        else:
            ids = [texts[i][0] for i in min((holding[st] for st in key_stems), key=len) if needle in seqs[i]]
        if len(ids) >= min_count:
            counted[key], surface[key] = ids, phrase
    # a single word gives way to a phrase that holds it and covers a third of its texts ("shift" to "shift
    # swaps", "prefers" to "hygienist preference"): phrases are what a person would write
    longer = [(set(p.split()), len(ids)) for p, ids in counted.items() if " " in p]
    for k in [k for k in counted if " " not in k]:
        if any(k in ws and 3 * n >= len(counted[k]) for ws, n in longer):
            del counted[k]
    ranked = sorted(counted, key=lambda k: (-len(counted[k]), -k.count(" "), k))
    out: list[tuple[str, list[int]]] = []
    used: set[int] = set()
    for k in ranked:
        ids = [tid for tid in counted[k] if tid not in used]
        if len(ids) < min_count:
            continue
        out.append((surface[k], ids))
        used.update(ids)
        if len(out) >= limit:
            break
    return out


def matching(texts: Sequence[tuple[int, str]], phrase: str) -> list[int]:
    """Ids of the texts that contain `phrase`, matched by stems as themes are."""
    needle = _needle(_phrase_stems(phrase.casefold()))
    return [tid for tid, text in texts if needle in _stem_line(text)]
