"""APScheduler 3.x wiring only: in-memory jobs rebuilt from the digest_schedules table.

APScheduler's guide says a job store must never be shared between schedulers, so each instance keeps
its jobs in memory and rebuilds them from `digest_schedules` (the truth) at start, after a change made
here, and every RESYNC seconds for changes made on other instances. Exactly once comes from the claims
in `digest_runs` (bot.runner), not from the scheduler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.exc import OperationalError

from bot.weeks import WEEKDAYS
from storage import repo

if TYPE_CHECKING:
    from bot.runner import DigestRunner
    from bot.services import Deps

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30
RETRY_SECONDS = 10  # a due digest whose claim could not be written (the database away) is tried again this soon


class DigestJobs:
    """One cron job per enabled schedule, kept in step with the table."""

    def __init__(self, scheduler: BackgroundScheduler, runner: DigestRunner) -> None:
        self.scheduler = scheduler
        self.runner = runner
        self._jobs: dict[str, tuple[Any, ...]] = {}  # job id -> (weekday, hour, minute, tz)

    @staticmethod
    def job_id(team_id: str, channel_id: str) -> str:
        return f"digest:{team_id}:{channel_id}"

    def _set(self, team_id: str, channel_id: str, when: tuple[Any, ...] | None) -> None:
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
            row = repo.schedule_for(s, team_id=team_id, channel_id=channel_id)
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


@dataclass(frozen=True)
class PeriodicJob:
    """One job the app runs on the clock: `run` every `seconds`, the first time at start-up when `at_start`."""

    id: str
    run: Callable[[], object]
    seconds: int
    at_start: bool = False


# How often the loop's messages are looked for. A burst is found within BURST_SCAN s of the signal that completes
# it (sooner: a stored problem or churn risk wakes the scan) and the outbox sends within OUTBOX_SCAN s of a row
# falling due, so a burst reaches its owner within 2 minutes, and what came of a signal reaches its author within
# 2 minutes of the milestone or decision when it is their daytime.
OUTBOX_SCAN = 30
BURST_SCAN = 60
UNANSWERED_SCAN = 90  # a question is nudged within 90 s of its business-hours delay running out
WAKE_DELAY = 1.0  # a wake-up runs the job this soon: the signals of one burst arriving together make one scan


def periodic_jobs(deps: Deps) -> list[PeriodicJob]:
    """Every periodic job the app defines. The entry point registers exactly this list, so none is forgotten."""
    runner = deps.digest_runner
    jobs = [
        # at start-up too: a reminder that fell due while the app was down goes out now, not up to 10 minutes later
        PeriodicJob("reminders", deps.reminders.send, 10 * 60, at_start=True),
        PeriodicJob("catch_up", runner.catch_up, 15 * 60, at_start=True),
        PeriodicJob("outbox", deps.outbox.send_due, OUTBOX_SCAN),
        PeriodicJob("nudges_burst", _then_outbox(deps, deps.nudger.run_bursts), BURST_SCAN),
        PeriodicJob("nudges_weekly", deps.nudger.run_weekly, 10 * 60),
    ]
    if deps.connect is not None:
        # Slack Connect: a customer's question the team left unanswered too long; which channels are shared with
        # other organisations, and which are private
        jobs.append(PeriodicJob("unanswered", _then_outbox(deps, deps.connect.run_unanswered), UNANSWERED_SCAN))
        jobs.append(PeriodicJob("channels", deps.connect.learn_all, 6 * 3600, at_start=True))
    if deps.settings.retention_days:
        jobs.append(PeriodicJob("retention", deps.retention.apply, 6 * 3600, at_start=True))
    if deps.classifier is not None:  # optional: the model re-reads recent signals' kind and sentiment
        jobs.append(PeriodicJob("llm_classify", deps.classifier.run, 10 * 60))
    return jobs


def _then_outbox(deps: Deps, scan: Callable[[], object]) -> Callable[[], object]:
    """A scan that queues nudges for people, then the outbox woken: what it queued goes out within a second,
    not at the next outbox scan."""

    def run() -> object:
        found = scan()
        deps.wake("outbox")
        return found

    return run


class Wakeups:
    """Runs a periodic job soon, off the caller's thread: a signal that may complete a burst, an outcome queued.

    It moves the job's next run forward (APScheduler's `modify_job(next_run_time=…)`), so wake-ups coalesce
    and the job still never runs twice at once (max_instances=1).
    """

    def __init__(self, scheduler: BackgroundScheduler) -> None:
        self.scheduler = scheduler
        self._lock = threading.Lock()
        self._soonest: dict[str, datetime] = {}

    def __call__(self, job_id: str) -> None:
        now = datetime.now(UTC)
        when = now + timedelta(seconds=WAKE_DELAY)
        with self._lock:
            pending = self._soonest.get(job_id)
            if pending is not None and now <= pending <= when:
                return  # already woken for a run at least this soon
            self._soonest[job_id] = when
        try:
            job = self.scheduler.get_job(job_id)
            if job is not None and (job.next_run_time is None or job.next_run_time > when):
                job.modify(next_run_time=when)
        except JobLookupError:
            pass

    def ran(self, job_id: str) -> None:
        with self._lock:
            self._soonest.pop(job_id, None)


def register_jobs(scheduler: BackgroundScheduler, deps: Deps) -> DigestJobs:
    """Wire the scheduled work, mirroring handlers.register(app): the digests' cron jobs and every periodic job."""
    jobs = DigestJobs(scheduler, deps.digest_runner)
    jobs.resync()
    scheduler.add_job(jobs.resync, "interval", seconds=RESYNC_SECONDS, id="resync")
    wake = Wakeups(scheduler)
    for job in periodic_jobs(deps):
        # (next_run_time=None would add the job paused: leave it out for "one interval from now")
        first = {"next_run_time": datetime.now(UTC)} if job.at_start else {}
        scheduler.add_job(_then_ready(job, wake), "interval", seconds=job.seconds, id=job.id, **first)
    deps.wake = wake
    return jobs


QUIET_BELOW = 600  # a job that runs more often than every 10 minutes (and on wake-ups) is logged when it did something


def _then_ready(job: PeriodicJob, wake: Wakeups) -> Callable[[], object]:
    def run() -> object:
        wake.ran(job.id)
        result = job.run()
        # one line a run for the jobs of minutes and hours; the outbox and the scans, woken every second while
        # signals arrive, only when they found something (the scheduler's own per-run lines are off, entry/cli.py)
        level = logging.INFO if result or job.seconds >= QUIET_BELOW else logging.DEBUG
        done = len(result) if isinstance(result, list | tuple | set | dict) else result  # catch_up: the digests
        log.log(level, "job %s: %s", job.id, done)
        return result

    run.__name__ = run.__qualname__ = job.id  # the scheduler's log names the job: 'Running job "reminders (…)"'
    return run


def start_scheduler(deps: Deps) -> tuple[BackgroundScheduler, DigestJobs]:
    """The scheduler `signalloop run` starts: every job of `periodic_jobs` and one cron job per digest schedule."""
    scheduler = make_scheduler()
    jobs = register_jobs(scheduler, deps)
    scheduler.start()
    log.info("scheduled jobs: %s", ", ".join(sorted(j.id for j in scheduler.get_jobs() if ":" not in j.id)))
    return scheduler, jobs
