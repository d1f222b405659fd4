"""Customer lookup by name or alias: longest match wins, near misses get "did you mean"."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.cards import CustomerCard
from bot.text import QUOTES, as_id, take_quoted
from storage import repo
from storage.models import Customer

MAX_NAME = 80


# Slack turns a typed domain into a link when the command escapes ("acme.io" arrives as
# "<http://acme.io|acme.io>"): https://docs.slack.dev/interactivity/implementing-slash-commands
_LINK = re.compile(r"<((?:https?|mailto):[^|>]*)(?:\|([^>]*))?>")


def unlink(text: str) -> str:
    """Slack's link markup as the person typed it: the label, else the address."""
    return _LINK.sub(lambda m: m.group(2) or m.group(1).removeprefix("mailto:"), text)


def key(name: str) -> str:
    """The case-insensitive, whitespace-folded form names and aliases are matched by."""
    return " ".join(unlink(name).strip().strip(QUOTES).split()).casefold()


def clean_name(name: str) -> str:
    return " ".join(unlink(name).strip().strip(QUOTES).split())


@dataclass(frozen=True)
class Match:
    customer_id: int
    name: str
    rest: str  # what follows the name in the text


@dataclass(frozen=True)
class NoMatch:
    tried: str  # what the user seemed to name
    suggestions: list[str]


def resolve_prefix(session: Session, team_id: str, text: str) -> Match | NoMatch:
    """Find the customer named at the start of `text` (quoted or not); the longest name wins."""
    index = repo.name_index(session, team_id=team_id)
    quoted = take_quoted(text)
    if quoted is not None:
        name, rest = quoted
        k = key(name)
        for nk, cid, cname in index:
            if nk == k:
                return Match(cid, cname, rest)
        return NoMatch(clean_name(name), suggest(index, k))
    words = text.split()
    folded = [unlink(w).casefold() for w in words]
    best: Match | None = None
    best_len = 0
    for nk, cid, cname in index:
        parts = nk.split()
        n = len(parts)
        if n <= len(folded) and folded[:n] == parts and n > best_len:
            best, best_len = Match(cid, cname, " ".join(words[n:])), n
    if best is not None:
        return best
    # no exact name: suggest against the first one to four words, whichever is closest; with nothing close, the
    # name is most likely the leading run of capitalised words ("Fenwick Harbour Lines asked for a demo")
    tried = plausible_name(words)
    suggestions: list[str] = []
    for n in range(min(4, len(words)), 0, -1):
        s = suggest(index, " ".join(folded[:n]))
        if s:
            tried, suggestions = " ".join(words[:n]), s
            break
    return NoMatch(clean_name(tried), suggestions)


def search(session: Session, team_id: str, query: str, limit: int = 100) -> list[tuple[int, str]]:
    """(id, name) of the customers whose name or an alias matches what was typed: names starting with it first,
    then a word starting with it, then containing it; near misses when nothing matches; by name within each."""
    q = key(query)
    index = repo.name_index(session, team_id=team_id)
    best: dict[int, tuple[int, str]] = {}
    for nk, cid, cname in index:
        if not q or nk.startswith(q):
            rank = 0
        elif any(w.startswith(q) for w in nk.split()):
            rank = 1
        elif q in nk:
            rank = 2
        else:
            continue
        if cid not in best or rank < best[cid][0]:
            best[cid] = (rank, cname)
    if not best and len(q) >= 3:
        # a near miss ("zephir"): the closest part of a name or alias
        from rapidfuzz import fuzz, process

        keys = {nk: (cid, cname) for nk, cid, cname in index}
        for nk, score, _ in process.extract(q, list(keys), scorer=fuzz.partial_ratio, score_cutoff=80, limit=limit):
            cid, cname = keys[nk]
            if cid not in best:
                best[cid] = (3 + int(100 - score), cname)
    ranked = sorted(best.items(), key=lambda kv: (kv[1][0], kv[1][1].casefold()))
    return [(cid, name) for cid, (_, name) in ranked[:limit]]


def plausible_name(words: list[str]) -> str:
    """The longest leading run of capitalised words (joined by &, and, of, the), else the first word."""
    run: list[str] = []
    for w in words[:8]:
        bare = w.strip(QUOTES + ",.:;")
        if bare[:1].isupper() or bare[:1].isdigit() and run or (run and bare.casefold() in ("&", "and", "of", "the")):
            run.append(bare)
        else:
            break
    while run and run[-1].casefold() in ("&", "and", "of", "the"):
        run.pop()
    return " ".join(run) if run else (words[0] if words else "")


def resolve_exact(session: Session, team_id: str, name: str) -> Customer | NoMatch:
    """The customer whose name or alias is exactly `name` (case-insensitive)."""
    k = key(name)
    c = repo.customer_by_key(session, team_id=team_id, key=k) or repo.alias_owner(session, team_id=team_id, key=k)
    if c is not None:
        return c
    return NoMatch(clean_name(name), suggest(repo.name_index(session, team_id=team_id), k))


def suggest(index: list[tuple[str, int, str]], k: str) -> list[str]:
    """Up to three customer names close to `k` (by name or alias)."""
    if not k:
        return []
    by_key = {nk: cname for nk, _, cname in index}
    close = difflib.get_close_matches(k, list(by_key), n=5, cutoff=0.72)
    # a name that starts with what was typed is a near miss too ("tallwood" → "Tallwood Dental")
    close += [nk for nk in by_key if len(k) >= 3 and nk.startswith(k) and nk not in close]
    out: list[str] = []
    for nk in close:
        if by_key[nk] not in out:
            out.append(by_key[nk])
    return out[:3]


def no_match_message(miss: NoMatch) -> str:
    if miss.suggestions:
        options = " or ".join(f"*{s}*" for s in miss.suggestions)
        return f"No customer named “{miss.tried}” — did you mean {options}?"
    return (
        f"No customer named “{miss.tried}”. Add it with `/loop customer add {miss.tried}`, "
        "or see every customer with `/milestone`."
    )


def mentioned(index: list[tuple[str, int, str]], text: str) -> list[int]:
    """Customers named in `text` by name or alias: whole words, case-insensitive, longest first.

    A shorter name inside a longer one that matched ("Acme" in "Acme Health") does not count twice.
    """
    folded = text.casefold()
    taken: list[tuple[int, int]] = []
    found: list[int] = []
    for nk, cid, _ in sorted(index, key=lambda r: -len(r[0])):
        for m in re.finditer(r"(?<![\w])" + re.escape(nk) + r"(?![\w])", folded):
            span = (m.start(), m.end())
            if any(s <= span[0] and span[1] <= e for s, e in taken):
                continue
            taken.append(span)
            if cid not in found:
                found.append(cid)
    return found


def by_id(session: Session, team_id: str, value: str | int | None) -> Customer | None:
    """The workspace's customer whose id a button or modal carried ("12" or 12), or None."""
    row_id = as_id(value)
    return repo.customer_by_id(session, team_id=team_id, customer_id=row_id) if row_id else None


def card_by_id(session: Session, team_id: str, value: str | int | None) -> CustomerCard | None:
    """`by_id`, as the plain card a modal is rendered from."""
    row = by_id(session, team_id, value)
    return CustomerCard.of(row) if row is not None else None


def any_customers(session: Session, team_id: str) -> bool:
    """Whether the workspace has a customer yet."""
    return bool(repo.name_index(session, team_id=team_id))
