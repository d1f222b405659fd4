"""SIGNALLOOP_RETENTION_DAYS: the text of signals older than that is erased (the signal, its kind and its
customer stay for the counts). Its own periodic job, run at start-up and every 6 hours."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from storage import repo

log = logging.getLogger(__name__)


class Retention:
    def __init__(self, days: int | None, sf: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.days = days
        self.sf = sf
        self.clock = clock

    def apply(self) -> int:
        """Erase what is past the retention period; returns how many signals' text was erased."""
        if not self.days:
            return 0
        with self.sf.begin() as s:
            n = repo.erase_signal_text_before(s, cutoff=self.clock() - timedelta(days=self.days))
        if n:
            log.info("retention: erased the text of %d signals older than %d days", n, self.days)
        return n
