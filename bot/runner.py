"""Builds and posts weekly digests, exactly once per channel and week, on a bounded pool of threads.

Exactly once comes from the database, not the scheduler: a digest_runs row unique on (team, channel,
ISO week) is claimed and committed before anything is built, so two instances, a restart across the
scheduled minute and the start-up catch-up all post one digest. A build thread claims a due digest when it
is free, before it builds: the instance that loses the claim builds nothing and moves to the next, and a
minute with a thousand digests is shared among every instance instead of taken whole by the first.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import connect, explain
from bot.config import Settings
from bot.digest import Digest, build_digest, gc_paused
from bot.digest_send import Rendered, send_first, send_thread
from bot.render.digest import cap_thread, digest_messages
from bot.render.terminal import digest_text
from bot.slack_out import ChannelPacer, SlackOut
from bot.weeks import Week, scheduled_at, week_at
from storage import repo
from storage.models import DigestRun

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=5)
STALE_CLAIM = timedelta(minutes=15)
CLAIM_RETRY_SECONDS = 5.0  # a claim the database could not take (it went away) is tried again this soon


@dataclass
class PostResult:
    status: str  # posted | already | failed | empty
    run_id: int | None = None
    ts: str | None = None
    error: str | None = None
    messages: int = 0


@dataclass(frozen=True)
class ChannelSchedule:
    """A channel's digest settings, read once per digest and handed to the build and the send."""

    exists: bool = False
    enabled: bool = False
    weekday: int = 0
    hour: int = 0
    minute: int = 0
    tz: str = "UTC"
    portfolio: bool = False
    focus: str | None = None
    llm_enabled: bool = True
    chart_enabled: bool = False
    created_by: str | None = None

    @classmethod
    def read(cls, s: Session, team_id: str, channel_id: str) -> ChannelSchedule:
        row = repo.schedule_for(s, team_id=team_id, channel_id=channel_id)
        if row is None:
            return cls()
        return cls(
            exists=True,
            enabled=row.enabled,
            weekday=row.weekday,
            hour=row.hour,
            minute=row.minute,
            tz=row.tz,
            portfolio=row.portfolio,
            focus=row.focus,
            llm_enabled=row.llm_enabled,
            chart_enabled=row.chart_enabled,
            created_by=row.created_by,
        )


class DigestRunner:
    """Claims, builds and posts digests; every entry point is a plain function of (store, client, now)."""

    def __init__(
        self,
        settings: Settings,
        sf: sessionmaker[Session],
        clock: Callable[[], datetime],
        client_for: Callable[[str], WebClient],
        enrich: Callable[[Session, Digest, Any], None] | None = None,
        chart: Callable[[Session, Digest], bytes | None] | None = None,
        pacer: ChannelPacer | None = None,
        slack: SlackOut | None = None,
        connector: connect.Connector | None = None,
    ) -> None:
        self.settings = settings
        self.sf = sf
        self.clock = clock
        self.client_for = client_for
        self.enrich = enrich
        self.chart = chart
        self.slack = slack or SlackOut(client_for, pacer)  # every post, ephemeral and file goes out through it
        self.pacer = self.slack.pacer
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.pool = ThreadPoolExecutor(max_workers=settings.digest_workers, thread_name_prefix="digest")
        self.builds = 0  # digests this process started to build (claims won)
        # claims this process dropped because the database went away before anything was posted: retake at once
        self._abandoned: set[int] = set()
        # posted to Slack, but the database went away before it could be recorded: record, never repost
        self._unrecorded: dict[int, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        # what the process learns of the workspaces' channels (Deps.connect, described at start-up and every 6 h),
        # shared by every digest it posts; a runner built alone keeps its own
        self.connector = connector or connect.Connector(self.sf, self.clock, self.client_for, self.slack)

    def close(self) -> None:
        """Let digests being built finish, then stop the pool."""
        self._closing.set()
        self.pool.shutdown(wait=True)

    # --- entry points -------------------------------------------------------------------

    def _due(self, team_id: str, channel_id: str, now: datetime) -> tuple[Week, bool, ChannelSchedule] | None:
        """This week, whether it is late and the schedule, when the channel's scheduled minute has come."""
        with self.sf() as s:
            sched = ChannelSchedule.read(s, team_id, channel_id)
        if not sched.enabled:
            return None
        week = week_at(now, sched.tz)
        due = scheduled_at(week, sched.weekday, sched.hour, sched.minute, sched.tz)
        if now < due - timedelta(minutes=1):
            return None  # a misfire from last week replayed in a new week before its minute: skip
        return week, now - due > LATE_AFTER, sched

    def on_due(self, team_id: str, channel_id: str) -> Future[PostResult] | None:
        """The scheduled minute came: queue this week's digest. A build thread claims it when it is free and
        builds only if it won; one that lost moves to the next at once. Claiming when a thread is free, rather
        than when the minute fires, shares a minute with a thousand digests among every instance."""
        due = self._due(team_id, channel_id, self.clock())
        if due is None:
            return None
        week, late, sched = due
        return self.pool.submit(self._claim_and_run, team_id, channel_id, week, late, sched)

    def _claim_and_run(
        self, team_id: str, channel_id: str, week: Week, late: bool, sched: ChannelSchedule | None = None
    ) -> PostResult:
        while True:
            try:
                run_id = self.claim(team_id, channel_id, week, late, retry_failed=False)
                break
            except OperationalError:
                if self._closing.is_set():
                    raise
                log.warning("database unavailable while claiming %s/%s; trying again shortly", team_id, channel_id)
                self._closing.wait(CLAIM_RETRY_SECONDS)
        if run_id is None:
            return PostResult("already")
        return self.run_claimed(run_id, team_id, channel_id, week, late, None, None, sched)

    def run_scheduled(self, team_id: str, channel_id: str) -> PostResult | None:
        """The scheduled minute's work done here and now (the demo, the CLI and the tests wait for it)."""
        due = self._due(team_id, channel_id, self.clock())
        if due is None:
            return None
        week, late, _sched = due
        return self.post(team_id, channel_id, week, late=late, requested_by=None)

    def catch_up(self, wait: bool = True) -> list[PostResult]:
        """At start-up (and every quarter hour): claim every digest whose minute passed this week and was missed,
        and build them in parallel on the pool."""
        now = self.clock()
        with self._lock:
            unrecorded = list(self._unrecorded.items())
        for run_id, (ts, meta) in unrecorded:
            self._finish(run_id, "posted", ts=ts, meta=meta)
            with self._lock:
                del self._unrecorded[run_id]
        with self.sf() as s:
            rows = [(r.team_id, r.channel_id, r.tz, r.weekday, r.hour, r.minute) for r in repo.enabled_schedules(s)]
        futures: list[Future[PostResult]] = []
        for team_id, channel_id, tz, weekday, hour, minute in rows:
            week = week_at(now, tz)
            due = scheduled_at(week, weekday, hour, minute, tz)
            if due > now:
                continue
            with self.sf() as s:
                run = repo.digest_run(s, team_id=team_id, channel_id=channel_id, week=week.label)
                if run is not None and not self._retakeable(run, now):
                    continue
            late = now - due > LATE_AFTER
            futures.append(self.pool.submit(self._claim_and_run, team_id, channel_id, week, late))
        if not wait:
            return []
        out = []
        for f in futures:
            try:
                out.append(f.result())
            except Exception as e:  # noqa: BLE001 - logged where it happened; the others still count
                out.append(PostResult("failed", error=str(e)))
        return [r for r in out if r.status != "already"]  # another instance took those

    def run_now(self, client: WebClient | None, team_id: str, channel_id: str, user_id: str) -> PostResult:
        """`/loop digest now`: one answer — "already posted (link)", or "building…" followed by the digest.

        It runs after the command was answered, so a failure is told to the person who asked.
        """
        client = client or self.client_for(team_id)
        try:
            with self.sf() as s:
                sched = ChannelSchedule.read(s, team_id, channel_id)
            week = week_at(self.clock(), sched.tz)
            run_id = self.claim(team_id, channel_id, week, late=False, retry_failed=True)
            if run_id is None:
                self._tell_already(client, team_id, channel_id, week, user_id)
                return PostResult("already")
            self._ephemeral(
                client,
                team_id,
                channel_id,
                user_id,
                ":hourglass_flowing_sand: Building this week's digest for this channel…",
            )
            return self.run_claimed(run_id, team_id, channel_id, week, False, user_id, client, sched)
        except Exception as e:  # the requester must hear about it; the log has the details
            log.exception("/loop digest now failed for %s/%s", team_id, channel_id)
            why = "the database did not answer" if isinstance(e, OperationalError) else "an internal error (logged)"
            self._ephemeral(
                client,
                team_id,
                channel_id,
                user_id,
                f":warning: This week's digest could not be built: {why}. Nothing was posted; try "
                "`/loop digest now` again in a minute.",
            )
            return PostResult("failed", error=str(e))

    def post(
        self,
        team_id: str,
        channel_id: str,
        week: Week,
        late: bool,
        requested_by: str | None,
        client: WebClient | None = None,
    ) -> PostResult:
        """Claim and post the digest of `week` (the CLI and the tests)."""
        client = client or self.client_for(team_id)
        run_id = self.claim(team_id, channel_id, week, late, retry_failed=requested_by is not None)
        if run_id is None:
            if requested_by:
                self._tell_already(client, team_id, channel_id, week, requested_by)
            return PostResult("already")
        return self.run_claimed(run_id, team_id, channel_id, week, late, requested_by, client)

    # --- the work -----------------------------------------------------------------------

    def _retakeable(self, run: DigestRun, now: datetime) -> bool:
        """A claim abandoned mid-post: by a crashed instance (stale), or by this one (e.g. the database went away)."""
        if run.status != "claimed":
            return False
        with self._lock:
            if run.id in self._unrecorded:
                return False
            if now - run.claimed_at > STALE_CLAIM:
                return True
            return run.id in self._abandoned

    def claim(self, team_id: str, channel_id: str, week: Week, late: bool, retry_failed: bool) -> int | None:
        """Claim (team, channel, week); a stale claim (a crash mid-post) or, when asked, a failed one is retaken."""
        now = self.clock()
        with self.sf.begin() as s:
            repo.ensure_workspace(s, team_id=team_id, now=now)
            run_id = repo.claim_digest_run(
                s,
                values=dict(
                    team_id=team_id,
                    channel_id=channel_id,
                    week=week.label,
                    status="claimed",
                    late=late,
                    claimed_by=self.instance,
                    claimed_at=now,
                ),
            )
            if run_id is not None:
                return run_id
            existing = repo.digest_run(s, team_id=team_id, channel_id=channel_id, week=week.label)
            if existing is None:
                return None
            retake = self._retakeable(existing, now) or (retry_failed and existing.status == "failed")
            if not retake:
                return None
            retaken = repo.retake_digest_run(s, run=existing, claimed_by=self.instance, now=now, late=late)
            return existing.id if retaken else None

    def build(
        self, s: Session, team_id: str, channel_id: str, week: Week, sched: ChannelSchedule | None = None
    ) -> Digest:
        """The digest of `week` for a channel, with the schedule's zone, scope and focus (read here when not given).
        Reads only: it claims nothing and sends nothing."""
        sched = sched or ChannelSchedule.read(s, team_id, channel_id)
        prev = repo.digest_run(s, team_id=team_id, channel_id=channel_id, week=week.previous().label)
        start_override = prev.posted_at if prev is not None and prev.posted_at else None
        dg = build_digest(
            s,
            team_id,
            channel_id,
            week,
            self.clock(),
            tz=sched.tz,
            portfolio=sched.portfolio,
            start_override=start_override,
            impact_days=self.settings.impact_review_days,
            focus=sched.focus,
        )
        explain.mark(s, dg)  # a section new to this channel carries one line saying what it means
        return dg

    def render(
        self, team_id: str, channel_id: str, week: Week, late: bool, run_id: int, sched: ChannelSchedule
    ) -> tuple[Digest, Rendered]:
        """Build the digest, with the model's narrative and the chart when the channel has them on, and render it
        into Slack messages within Slack's limits."""
        with self.sf() as s:
            dg = self.build(s, team_id, channel_id, week, sched)
            dg.late, dg.run_id = late, run_id
            if self.enrich is not None and sched.llm_enabled:
                self.enrich(s, dg, run_id)
            chart = self.chart(s, dg) if self.chart is not None and sched.exists and sched.chart_enabled else None
            names = dg.names or repo.display_names(s, team_id=team_id)  # the build read them moments ago
        with gc_paused():  # rendering a large week allocates as much as building it
            messages, truncated = cap_thread(digest_messages(dg, run_id))
            full_text = digest_text(dg, names) if truncated else None
        return dg, Rendered(week, messages, full_text, chart)

    def run_claimed(
        self,
        run_id: int,
        team_id: str,
        channel_id: str,
        week: Week,
        late: bool,
        requested_by: str | None,
        client: WebClient | None,
        sched: ChannelSchedule | None = None,
    ) -> PostResult:
        """Build and send a digest this instance has claimed, recording it as posted once its first message is."""
        client = client or self.client_for(team_id)
        if self._shared(client, team_id, channel_id):
            # Slack Connect: the team's notes about customers never go into a channel shared with another organisation
            self._finish(run_id, "failed", error="refused: the channel is shared with another organisation")
            if requested_by:
                self._ephemeral(client, team_id, channel_id, requested_by, connect.refusal("digests"))
            return PostResult("failed", run_id, error="shared channel")
        with self._lock:
            self._abandoned.discard(run_id)
            self.builds += 1
        try:
            if sched is None:
                with self.sf() as s:
                    sched = ChannelSchedule.read(s, team_id, channel_id)
            dg, rendered = self.render(team_id, channel_id, week, late, run_id, sched)
        except OperationalError:
            # nothing posted: the next catch-up (every 15 minutes) retakes the claim once the database is back
            log.warning(
                "database unavailable while building the digest for %s/%s %s; it will be retried",
                team_id,
                channel_id,
                week.label,
            )
            with self._lock:
                self._abandoned.add(run_id)
            raise
        except Exception as e:
            log.exception("building the digest failed for %s/%s %s", team_id, channel_id, week.label)
            self._finish(run_id, "failed", error=f"build: {e}")
            raise
        first = send_first(self.slack, team_id, channel_id, rendered, client)
        if not first.ok or first.ts is None:
            err = first.error or "no ts"
            self._finish(run_id, "failed", error=err)
            self._tell_failure(client, team_id, channel_id, err, requested_by or sched.created_by)
            return PostResult("failed", run_id, error=err)
        ts = first.ts
        # the sections shown are recorded with the run: the next digest explains only what is new to the channel
        dg.llm_meta = {**dg.llm_meta, "sections": explain.recorded(dg)}
        try:
            self._finish(run_id, "posted", ts=ts, meta=dg.llm_meta)
        except OperationalError:
            log.warning(
                "digest for %s/%s %s posted but not yet recorded (database unavailable)",
                team_id,
                channel_id,
                week.label,
            )
            with self._lock:
                self._unrecorded[run_id] = (ts, dg.llm_meta)
        send_thread(self.slack, team_id, channel_id, ts, rendered, client)
        n = len(rendered.messages)
        log.info("digest posted for %s/%s %s (%d messages)", team_id, channel_id, week.label, n)
        return PostResult("posted", run_id, ts, messages=n)

    def _shared(self, client: WebClient, team_id: str, channel_id: str) -> bool:
        """Is the channel shared with another organisation (Slack's is_ext_shared, cached; asked when unknown)?"""
        return self.connector.shared_for_posting(client, team_id, channel_id)

    def _finish(
        self,
        run_id: int,
        status: str,
        ts: str | None = None,
        error: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        with self.sf.begin() as s:
            run = s.get(DigestRun, run_id)
            if run is None:
                return
            run.status, run.error = status, error
            if meta:
                run.llm_model, run.prompt_version = meta.get("llm_model"), meta.get("prompt_version")
                run.llm_status, run.llm_detail = meta.get("llm_status"), meta.get("llm_detail")
                run.redacted = meta.get("redacted")
                run.sections = meta.get("sections")
            if ts:
                run.message_ts, run.posted_at = ts, self.clock()

    def _ephemeral(self, client: WebClient | None, team_id: str, channel_id: str, user: str, text: str) -> None:
        self.slack.ephemeral(team_id, channel_id, user, text, what="a word about the digest", client=client)

    def _tell_already(self, client: WebClient, team_id: str, channel_id: str, week: Week, user: str) -> None:
        with self.sf() as s:
            run = repo.digest_run(s, team_id=team_id, channel_id=channel_id, week=week.label)
            ws = repo.get_workspace(s, team_id=team_id)
        where = ""
        if run is not None and run.message_ts and ws is not None and ws.url:
            where = f": <{ws.url.rstrip('/')}/archives/{channel_id}/p{run.message_ts.replace('.', '')}|see it here>"
        text = (
            f"This week's digest ({week.label}) was already posted in this channel{where}. "
            "There is one per channel per week; answer its question in its thread."
        )
        if run is not None and run.status == "claimed":
            text = "This week's digest is being posted right now; it will appear in a moment."
        self._ephemeral(client, team_id, channel_id, user, text)

    def _tell_failure(self, client: WebClient, team_id: str, channel_id: str, err: str, target: str | None) -> None:
        """Say where it can be heard why the digest did not go out: the requester, or whoever scheduled it."""
        if not target:
            return
        why = {
            "not_in_channel": f"I'm not a member of <#{channel_id}>: `/invite @signalloop` there",
            "channel_not_found": f"<#{channel_id}> can't be found (deleted, or private without me in it)",
            "is_archived": f"<#{channel_id}> is archived: unarchive it or schedule the digest elsewhere",
        }.get(err, f"Slack answered `{err}`")
        text = (
            f":warning: This week's digest for <#{channel_id}> could not be posted — {why}. The schedule is "
            "kept; once fixed, `/loop digest now` there posts this week's digest."
        )
        self.slack.dm(team_id, target, text, what="news of a failed digest", client=client)
