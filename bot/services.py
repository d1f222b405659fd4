"""The services the listeners and the scheduled jobs share, built once per process and injected: no globals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.afterwards import Afterwards
from bot.ask import Asker
from bot.backfill import Backfill
from bot.commands import Commands
from bot.config import Settings
from bot.connect import Connector
from bot.directory import Directory
from bot.history import HistoryReader, RecentMessages
from bot.home import Home
from bot.ingest import Ingest
from bot.nudges import Nudger
from bot.outcomes import Outbox
from bot.reminders import Reminders
from bot.retention import Retention
from bot.routing import Router
from bot.runner import DigestRunner
from bot.slack_out import SlackOut
from storage.writer import SignalWriter

if TYPE_CHECKING:
    from bot.llm import LLMClassifier

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _no_scheduler(job_id: str) -> None:
    """Without a scheduler in this process (tests, one-off CLI commands) the periodic scans are run by hand."""


class ScheduleSync(Protocol):
    """What a listener needs of the scheduler (bot.scheduler.DigestJobs, which imports Deps: typed by this)."""

    def sync_channel(self, team_id: str, channel_id: str) -> None: ...


@dataclass
class Deps:
    """What the listeners and jobs need."""

    settings: Settings
    session_factory: sessionmaker[Session]
    clock: Clock
    client_for: Callable[[str], WebClient]  # the workspace's own bot client (OAuth installs have one each): reads
    slack: SlackOut  # every write to Slack: posts, ephemerals, DMs, edits, files, modals, App Home (bot.slack_out)
    commands: Commands
    directory: Directory
    router: Router
    home: Home
    signal_writer: SignalWriter
    digest_runner: DigestRunner
    outbox: Outbox
    nudger: Nudger
    asker: Asker
    reminders: Reminders  # the digests' thread reminders (a periodic job)
    retention: Retention  # SIGNALLOOP_RETENTION_DAYS (a periodic job)
    history: HistoryReader | None = None  # Slack's history read back, paced (bot.history)
    backfill: Backfill | None = None  # events Slack held back, read back (bot.backfill)
    recent: RecentMessages = field(default_factory=RecentMessages)  # messages received as events
    classifier: LLMClassifier | None = None
    connect: Connector | None = None  # Slack Connect: shared channels, proposals, unanswered questions
    digest_jobs: ScheduleSync | None = None  # bot.scheduler.DigestJobs, set when the scheduler runs here
    # runs a periodic job (bot.scheduler.periodic_jobs) soon, off the caller's thread; no-op without a scheduler
    wake: Callable[[str], None] = _no_scheduler
    # work after an answer to Slack (posts, DMs, App Home, look-ups): never on the request's thread
    after: Afterwards = field(default_factory=Afterwards)
    # a message in, a signal out: routing, the writer and the directory behind one call (set by make_deps)
    ingest: Ingest = field(init=False)

    def close(self) -> None:
        """Finish digests being built, stop the signal writer and the directory's look-ups."""
        from bot import memory

        self.after.close()  # first: what it runs may hand digests to the runner
        memory.uninstall(self.session_factory)
        self.digest_runner.close()
        self.signal_writer.close()
        self.directory.close()
        if self.history is not None:
            self.history.close()


def make_deps(
    settings: Settings, sf: sessionmaker[Session], clock: Clock, client_for: Callable[[str], WebClient]
) -> Deps:
    """Every service of one process, wired together."""
    from bot.chart import render_png

    enrich = None
    classifier = None
    step = None
    if settings.llm_enabled:
        from bot.llm import LLMClassifier, LLMStep

        step = LLMStep(settings, timeout=settings.llm_timeout)
        enrich = step.enrich
        if settings.llm_classify:
            classifier = LLMClassifier(settings, sf, clock, step)
    router = Router(sf)
    slack = SlackOut(client_for)  # the one way out to Slack, shared: one pacer per channel for the process
    connector = Connector(sf, clock, client_for, slack)  # one view of shared channels for the runner and the jobs
    directory = Directory(sf, clock, client_for)
    history = HistoryReader(client_for, clock, settings.distribution)
    deps = Deps(
        settings=settings,
        session_factory=sf,
        clock=clock,
        client_for=client_for,
        commands=Commands(sf, clock, settings.capture_emoji),
        directory=directory,
        router=router,
        slack=slack,
        home=Home(sf, clock, slack),
        signal_writer=SignalWriter(sf.kw["bind"]),
        digest_runner=DigestRunner(
            settings,
            sf,
            clock,
            client_for=client_for,
            chart=render_png,
            enrich=enrich,
            slack=slack,
            connector=connector,
        ),
        outbox=Outbox(sf, clock, slack),
        nudger=Nudger(sf, clock, slack),
        asker=Asker(sf, clock, step, slack),
        reminders=Reminders(sf, clock, slack),
        retention=Retention(settings.retention_days, sf, clock),
        history=history,
        backfill=Backfill(sf, clock, history, directory, client_for, router.route),
        classifier=classifier,
        connect=connector,
    )
    deps.ingest = Ingest(
        sf,
        clock,
        router,
        deps.signal_writer,
        directory,
        deps.recent,
        deps.connect,
        submit=deps.after.submit,
        wake=lambda job: deps.wake(job),  # the scheduler sets deps.wake once it runs in this process
    )
    return deps
