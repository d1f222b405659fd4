"""What a workspace taught the classifier: the kinds its people corrected in Slack, consulted before the cues
and the model for every later message of that workspace (never another's).

A message is classified the corrected way when at least MIN_AGREEING corrected messages of the same
workspace read alike (rapidfuzz similarity >= SIMILAR_AT on the normalised text, numbers masked) and most of
those were corrected to one kind. Corrections are read from the signals table (storage.repo.corrected_signals),
cached per workspace, dropped from the cache when someone corrects a kind in this process and re-read after
REFRESH_SECONDS otherwise (corrections made through another process).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy.orm import Session, sessionmaker

from storage import repo

SIMILAR_AT = 82.0
_NUMBER = re.compile(r"\d+")
MIN_AGREEING = 2
MAX_REMEMBERED = 5000  # the most recent corrections of a workspace
REFRESH_SECONDS = 60.0


@dataclass(frozen=True)
class Recalled:
    kind: str
    count: int  # corrected messages like this one that agree on the kind


class _Memory:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sf: sessionmaker[Session] | None = None
        self.teams: dict[str, tuple[float, list[str], list[str]]] = {}


_MEM = _Memory()


def install(sf: sessionmaker[Session]) -> None:
    """Read corrections through `sf` from now on (called once per app, when its services are made)."""
    with _MEM.lock:
        _MEM.sf = sf
        _MEM.teams.clear()


def uninstall(sf: sessionmaker[Session]) -> None:
    """The app that installed `sf` stopped: nothing is read through it any more (a process that builds several
    apps, like the tests, never reads one app's corrections through another's database)."""
    with _MEM.lock:
        if _MEM.sf is sf:
            _MEM.sf = None
            _MEM.teams.clear()


def forget(team_id: str) -> None:
    """A correction was made: the workspace's memory is read again at its next message."""
    with _MEM.lock:
        _MEM.teams.pop(team_id, None)


def _load(team_id: str, normalise: Callable[[str], str]) -> tuple[list[str], list[str]] | None:
    with _MEM.lock:
        sf, cached = _MEM.sf, _MEM.teams.get(team_id)
    if sf is None:
        return None
    if cached is not None and time.monotonic() - cached[0] < REFRESH_SECONDS:
        return cached[1], cached[2]
    with sf() as s:
        rows = list(repo.corrected_signals(s, team_id=team_id))[-MAX_REMEMBERED:]
    texts, kinds = [_NUMBER.sub("#", normalise(r.text)) for r in rows], [r.kind for r in rows]
    with _MEM.lock:
        if _MEM.sf is sf:
            _MEM.teams[team_id] = (time.monotonic(), texts, kinds)
    return texts, kinds


def recall(team_id: str, t: str, normalise: Callable[[str], str]) -> Recalled | None:
    """The kind this workspace's people gave messages like normalised text `t`, if they agree on one; the
    corrected texts are put in the same form by `normalise` (bot.classify's, passed in: no import circle)."""
    loaded = _load(team_id, normalise)
    if not loaded or not loaded[0]:
        return None
    texts, kinds = loaded
    near = process.extract(_NUMBER.sub("#", t), texts, scorer=fuzz.ratio, score_cutoff=SIMILAR_AT, limit=25)
    if len(near) < MIN_AGREEING:
        return None
    votes = Counter(kinds[i] for _, _, i in near)
    kind, n = votes.most_common(1)[0]
    if n < MIN_AGREEING or n * 2 <= len(near):
        return None
    return Recalled(kind, n)
