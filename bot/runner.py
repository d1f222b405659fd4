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
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot import connect, explain
from bot.config import Settings
from bot.digest import Digest, build_digest, gc_paused
from bot.render import blocks as rb
from bot.render.digest import cap_thread, digest_messages
from bot.render.terminal import digest_text
from bot.text import QUESTION
from bot.weeks import Week, scheduled_at, week_at
from storage import repo
from storage.models import DigestRun

log = logging.getLogger(__name__)

LATE_AFTER = timedelta(minutes=5)
STALE_CLAIM = timedelta(minutes=15)
REMIND_AFTER = timedelta(days=2)
CLAIM_RETRY_SECONDS = 5.0  # a claim the database could not take (it went away) is tried again this soon
CHANNEL_GAP = 1.0  # Slack allows about one message per second per channel


@dataclass
class PostResult:
    status: str  # posted | already | failed | empty
    run_id: int | None = None
    ts: str | None = None
    error: str | None = None
    messages: int = 0


class ChannelPacer:
    """Spaces posts to one channel at least `gap` seconds apart, across every thread of this process."""

    def __init__(
        self,
        gap: float = CHANNEL_GAP,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.gap = gap
        self.monotonic = monotonic
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, channel: str) -> None:
        with self._lock:
            now = self.monotonic()
            at = max(now, self._next.get(channel, 0.0))
            self._next[channel] = at + self.gap
        if at > now:
            self.sleep(at - now)


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
    ) -> None:
        self.settings = settings
        self.sf = sf
        self.clock = clock
        self.client_for = client_for
        self.enrich = enrich
        self.chart = chart
        self.pacer = pacer or ChannelPacer()
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.pool = ThreadPoolExecutor(max_workers=settings.digest_workers, thread_name_prefix="digest")
        self.builds = 0  # digests this process started to build (claims won)
        # claims this process dropped because the database went away before anything was posted: retake at once
        self._abandoned: set[int] = set()
        # posted to Slack, but the database went away before it could be recorded: record, never repost
        self._unrecorded: dict[int, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        # one per runner: what it learns of the workspaces' channels is shared by every digest it posts
        self.connector = connect.Connector(self.sf, self.clock, self.client_for)

    def close(self) -> None:
        """Let digests being built finish, then stop the pool."""
        self._closing.set()
        self.pool.shutdown(wait=True)

    # --- entry points -------------------------------------------------------------------

    def _due(self, team_id: str, channel_id: str, now: datetime) -> tuple[Week, bool] | None:
        """This week and whether it is late, when the channel's scheduled minute has come; else None."""
        with self.sf() as s:
            row = repo.schedule_for(s, team_id=team_id, channel_id=channel_id)
            if row is None or not row.enabled:
                return None
            week = week_at(now, row.tz)
            due = scheduled_at(week, row.weekday, row.hour, row.minute, row.tz)
        if now < due - timedelta(minutes=1):
            return None  # a misfire from last week replayed in a new week before its minute: skip
        return week, now - due > LATE_AFTER

    def on_due(self, team_id: str, channel_id: str) -> Future[PostResult] | None:
        """The scheduled minute came: queue this week's digest. A build thread claims it when it is free and
        builds only if it won; one that lost moves to the next at once. Claiming when a thread is free, rather
        than when the minute fires, shares a minute with a thousand digests among every instance."""
        due = self._due(team_id, channel_id, self.clock())
        if due is None:
            return None
        week, late = due
        return self.pool.submit(self._claim_and_run, team_id, channel_id, week, late)

    def _claim_and_run(self, team_id: str, channel_id: str, week: Week, late: bool) -> PostResult:
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
        return self.run_claimed(run_id, team_id, channel_id, week, late, None, None)

    def run_scheduled(self, team_id: str, channel_id: str) -> PostResult | None:
        """The scheduled minute's work done here and now (the demo, the CLI and the tests wait for it)."""
        due = self._due(team_id, channel_id, self.clock())
        if due is None:
            return None
        week, late = due
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
                row = repo.schedule_for(s, team_id=team_id, channel_id=channel_id)
                tz = row.tz if row else "UTC"
            week = week_at(self.clock(), tz)
            run_id = self.claim(team_id, channel_id, week, late=False, retry_failed=True)
            if run_id is None:
                self._tell_already(client, team_id, channel_id, week, user_id)
                return PostResult("already")
            self._ephemeral(
                client, channel_id, user_id, ":hourglass_flowing_sand: Building this week's digest for this channel…"
            )
            return self.run_claimed(run_id, team_id, channel_id, week, False, user_id, client)
        except Exception as e:  # the requester must hear about it; the log has the details
            log.exception("/loop digest now failed for %s/%s", team_id, channel_id)
            why = "the database did not answer" if isinstance(e, OperationalError) else "an internal error (logged)"
            self._ephemeral(
                client,
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

    def build(self, s: Session, team_id: str, channel_id: str, week: Week) -> Digest:
        """The digest of `week` for a channel, with the schedule's zone, scope and focus."""
        row = repo.schedule_for(s, team_id=team_id, channel_id=channel_id)
        tz = row.tz if row else "UTC"
        prev = repo.digest_run(s, team_id=team_id, channel_id=channel_id, week=week.previous().label)
        start_override = prev.posted_at if prev is not None and prev.posted_at else None
        dg = build_digest(
            s,
            team_id,
            channel_id,
            week,
            self.clock(),
            tz=tz,
            portfolio=bool(row and row.portfolio),
            start_override=start_override,
            impact_days=self.settings.impact_review_days,
            focus=row.focus if row else None,
        )
        explain.mark(s, dg)  # a section new to this channel carries one line saying what it means
        return dg

    def run_claimed(
        self,
        run_id: int,
        team_id: str,
        channel_id: str,
        week: Week,
        late: bool,
        requested_by: str | None,
        client: WebClient | None,
    ) -> PostResult:
        """Build and post a digest this instance has claimed."""
        client = client or self.client_for(team_id)
        if self._shared(client, team_id, channel_id):
            # Slack Connect: the team's notes about customers never go into a channel shared with another organisation
            self._finish(run_id, "failed", error="refused: the channel is shared with another organisation")
            if requested_by:
                self._ephemeral(client, channel_id, requested_by, connect.refusal("digests"))
            return PostResult("failed", run_id, error="shared channel")
        with self._lock:
            self._abandoned.discard(run_id)
            self.builds += 1
        try:
            with self.sf() as s:
                dg = self.build(s, team_id, channel_id, week)
                dg.late, dg.run_id = late, run_id
                row = repo.schedule_for(s, team_id=team_id, channel_id=channel_id)
                llm_on = row.llm_enabled if row else True
                if self.enrich is not None and llm_on:
                    self.enrich(s, dg, run_id)
                chart = self.chart(s, dg) if self.chart is not None and row is not None and row.chart_enabled else None
                names = dg.names or repo.display_names(s, team_id=team_id)  # the build read them moments ago
            with gc_paused():  # rendering a large week allocates as much as building it
                messages, truncated = cap_thread(digest_messages(dg, run_id))
                full_text = digest_text(dg, names) if truncated else None
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
        try:
            self.pacer.wait(channel_id)
            first = client.chat_postMessage(
                channel=channel_id, text=messages[0][0], blocks=messages[0][1], unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as e:
            err = str(e.response.get("error"))
            log.warning("digest for %s/%s %s not posted: %s", team_id, channel_id, week.label, err)
            self._finish(run_id, "failed", error=err)
            self._tell_failure(client, team_id, channel_id, err, requested_by)
            return PostResult("failed", run_id, error=err)
        ts = first["ts"]
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
        for text, blocks in messages[1:]:
            self._thread_post(
                client,
                channel_id,
                ts,
                "digest continuation",
                partial(
                    client.chat_postMessage,
                    channel=channel_id,
                    thread_ts=ts,
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                ),
            )
        if full_text:
            self._thread_post(
                client,
                channel_id,
                ts,
                "full digest file",
                lambda: client.files_upload_v2(
                    channel=channel_id,
                    thread_ts=ts,
                    content=full_text.encode("utf-8"),
                    filename=f"signalloop-{week.label}-digest.txt",
                    title=f"The whole digest — week {week.week}",
                ),
            )
        if chart:
            self._thread_post(
                client,
                channel_id,
                ts,
                "chart",
                lambda: client.files_upload_v2(
                    channel=channel_id,
                    thread_ts=ts,
                    content=chart,
                    filename=f"signalloop-{week.label}.png",
                    title=f"Signals and milestones — week {week.week}",
                ),
            )
        log.info("digest posted for %s/%s %s (%d messages)", team_id, channel_id, week.label, len(messages))
        return PostResult("posted", run_id, ts, messages=len(messages))

    def _thread_post(self, client: WebClient, channel_id: str, ts: str, what: str, call: Callable[[], Any]) -> None:
        self.pacer.wait(channel_id)
        try:
            call()
        except SlackApiError as e:
            log.warning("%s not posted in %s: %s", what, channel_id, e.response.get("error"))

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

    @staticmethod
    def _ephemeral(client: WebClient, channel_id: str, user: str, text: str) -> None:
        try:
            client.chat_postEphemeral(channel=channel_id, user=user, text=text)
        except SlackApiError as e:
            log.warning("could not tell %s: %s", user, e.response.get("error"))

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
        self._ephemeral(client, channel_id, user, text)

    def _tell_failure(self, client: WebClient, team_id: str, channel_id: str, err: str, user: str | None) -> None:
        """Say where it can be heard why the digest did not go out: the requester, or whoever scheduled it."""
        with self.sf() as s:
            row = repo.schedule_for(s, team_id=team_id, channel_id=channel_id)
            target = user or (row.created_by if row else None)
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
        try:
            client.chat_postMessage(channel=target, text=text)
        except SlackApiError as e:
            log.warning("could not tell %s about the failed digest: %s", target, e.response.get("error"))

    def send_reminders(self) -> int:
        """One reminder in the thread of each digest that collected no learning in two days."""
        now = self.clock()
        sent = 0
        with self.sf() as s:
            runs = [
                (r.id, r.team_id, r.channel_id, r.message_ts)
                for r in repo.runs_needing_reminder(s, posted_before=now - REMIND_AFTER)
            ]
        for run_id, team_id, channel_id, ts in runs:
            with self.sf.begin() as s:
                if not repo.claim_reminder(s, run_id=run_id, now=now):
                    continue
            try:
                self.pacer.wait(channel_id)
                self.client_for(team_id).chat_postMessage(
                    channel=channel_id,
                    thread_ts=ts,
                    text=f"No learnings yet from this digest. {QUESTION}",
                    blocks=rb.to_dicts(
                        [
                            rb.section(
                                f":wave: No learnings yet from this digest. *{QUESTION}*\nReply here, or:",
                                accessory=rb.button("Add a learning", "add_learning", str(run_id), "primary"),
                            )
                        ]
                    ),
                )
                sent += 1
            except SlackApiError as e:
                log.warning("reminder not posted: %s", e.response.get("error"))
        return sent

    def apply_retention(self) -> int:
        days = self.settings.retention_days
        if not days:
            return 0
        with self.sf.begin() as s:
            n = repo.erase_signal_text_before(s, cutoff=self.clock() - timedelta(days=days))
        if n:
            log.info("retention: erased the text of %d signals older than %d days", n, days)
        return n
