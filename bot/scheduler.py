"""APScheduler 3.x wiring only: in-memory jobs rebuilt from the digest_schedules table.

APScheduler's guide says a job store must never be shared between schedulers, so each instance keeps
its jobs in memory and rebuilds them from `digest_schedules` (the truth) at start, after a change made
here, and every RESYNC seconds for changes made on other instances. Exactly once comes from the claims
in `digest_runs` (bot.runner), not from the scheduler.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import OperationalError

from bot.weeks import WEEKDAYS
from storage import repo

if TYPE_CHECKING:
    from bot.llm import LLMClassifier
    from bot.nudges import Nudger
    from bot.outcomes import Outbox
    from bot.runner import DigestRunner

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30
RETRY_SECONDS = 10  # a due digest whose claim could not be written (the database away) is tried again this soon


class DigestJobs:
    """One cron job per enabled schedule, kept in step with the table."""

    def __init__(self, scheduler: BackgroundScheduler, runner: DigestRunner) -> None:
        self.scheduler = scheduler
        self.runner = runner
        self._jobs: dict[str, tuple] = {}  # job id -> (weekday, hour, minute, tz)

    @staticmethod
    def job_id(team_id: str, channel_id: str) -> str:
        return f"digest:{team_id}:{channel_id}"

    def _set(self, team_id: str, channel_id: str, when: tuple | None) -> None:
        jid = self.job_id(team_id, channel_id)
        if when is None:
            if self._jobs.pop(jid, None) is not None:
                try:
                    self.scheduler.remove_job(jid)
                except JobLookupError:
                    pass
            return
        if self._jobs.get(jid) == when:
            return
        weekday, hour, minute, tz = when
        trigger = CronTrigger(day_of_week=WEEKDAYS[weekday][:3], hour=hour, minute=minute, timezone=tz)
        self.scheduler.add_job(self.fire, trigger, args=[team_id, channel_id], id=jid, replace_existing=True)
        self._jobs[jid] = when

    def fire(self, team_id: str, channel_id: str) -> None:
        """The minute came: claim and queue; with the database away, try again shortly until it answers."""
        try:
            self.runner.on_due(team_id, channel_id)
        except OperationalError:
            log.warning(
                "database unavailable at the digest's minute for %s/%s; trying again in %d s",
                team_id,
                channel_id,
                RETRY_SECONDS,
            )
            self.scheduler.add_job(
                self.fire,
                "date",
                args=[team_id, channel_id],
                id=f"retry:{team_id}:{channel_id}",
                replace_existing=True,
                run_date=datetime.now(UTC) + timedelta(seconds=RETRY_SECONDS),
            )

    def resync(self) -> None:
        """Make the jobs match every enabled schedule in the database."""
        try:
            with self.runner.sf() as s:
                rows = {
                    (r.team_id, r.channel_id): (r.weekday, r.hour, r.minute, r.tz) for r in repo.enabled_schedules(s)
                }
        except OperationalError:
            log.warning("database unavailable: the digest schedules keep their jobs until it answers")
            return
        wanted = {self.job_id(*k) for k in rows}
        for jid in list(self._jobs):
            if jid not in wanted:
                _, team_id, channel_id = jid.split(":", 2)
                self._set(team_id, channel_id, None)
        for (team_id, channel_id), when in rows.items():
            self._set(team_id, channel_id, when)

    def sync_channel(self, team_id: str, channel_id: str) -> None:
        """A schedule changed here (`/loop digest schedule|off`): apply it now."""
        with self.runner.sf() as s:
            row = repo.schedule_for(s, team_id, channel_id)
            when = (row.weekday, row.hour, row.minute, row.tz) if row is not None and row.enabled else None
        self._set(team_id, channel_id, when)


def make_scheduler(workers: int = 10) -> BackgroundScheduler:
    """Jobs in memory; the threads that fire them only claim (builds run on the runner's own pool)."""
    return BackgroundScheduler(
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )


def register_jobs(
    scheduler: BackgroundScheduler,
    runner: DigestRunner,
    classifier: LLMClassifier | None = None,
    retention: bool = False,
    outbox: Outbox | None = None,
    nudger: Nudger | None = None,
) -> DigestJobs:
    """Wire the scheduled work, mirroring handlers.register(app): digests, reminders, catch-up, retention."""
    jobs = DigestJobs(scheduler, runner)
    jobs.resync()
    scheduler.add_job(jobs.resync, "interval", seconds=RESYNC_SECONDS, id="resync")
    scheduler.add_job(runner.send_reminders, "interval", minutes=10, id="reminders")
    scheduler.add_job(runner.catch_up, "interval", minutes=15, id="catch_up", next_run_time=runner.clock())
    if retention:
        scheduler.add_job(runner.apply_retention, "interval", hours=6, id="retention", next_run_time=runner.clock())
    if outbox is not None:  # what came of people's signals, nudges: sent in their daytime
        scheduler.add_job(outbox.send_due, "interval", minutes=2, id="outbox")
    if nudger is not None:
        scheduler.add_job(nudger.run, "interval", minutes=10, id="nudges")
    if classifier is not None:  # optional: the model re-reads recent signals' kind and sentiment
        scheduler.add_job(classifier.run, "interval", minutes=10, id="llm_classify")
    return jobs


def start_scheduler(
    runner: DigestRunner, classifier: LLMClassifier | None = None, retention: bool = False
) -> tuple[BackgroundScheduler, DigestJobs]:
    scheduler = make_scheduler()
    jobs = register_jobs(scheduler, runner, classifier, retention)
    scheduler.start()
    return scheduler, jobs
