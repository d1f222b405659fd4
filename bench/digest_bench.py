"""Digest build time against history size; LLM prompt tokens against week size; Slack calls per digest; memory."""

from __future__ import annotations

import random
import resource
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, insert

from bot import llm
from bot.config import Settings
from bot.digest import GAP_WEEKS, build_digest
from bot.render.digest import digest_messages
from bot.runner import DigestRunner
from bot.weeks import Week
from devtools.fakeslack import FakeSlackServer, FakeSlackState
from storage import db
from storage.models import ChannelLink, Customer, DigestRun, Milestone, MilestoneEvent, Signal, Workspace
from storage.repo import SIGNAL_COLUMNS

CACHE = Path(__file__).resolve().parent / ".cache"
TEAM = "T0BENCH"
WEEK = Week(2026, 47)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
RECENT_WEEKS = 7
RECENT_PER_WEEK = 5_000
KINDS = ["problem", "request", "praise", "question", "other", "churn-risk"]
WORDS = (
    "export payroll reminder waiting list calendar booking invoice rota shift depot clinic mobile report "
    "dashboard sync login timesheet leave overtime holiday"
).split()


def generate(
    path: Path, history: int, week_signals: int = 20_000, customers: int = 1000, milestones_per: int = 5, seed: int = 1
) -> None:
    """A synthetic workspace written with bulk inserts: `history` signals, `week_signals` of them in WEEK."""
    rnd = random.Random(seed)
    url = f"sqlite:///{path}"
    db.upgrade(url)
    engine = db.make_engine(url)
    start, end = WEEK.bounds()
    t0 = start - timedelta(days=365 * 2)
    with engine.begin() as c:
        c.execute(insert(Workspace), [{"team_id": TEAM, "created_at": t0, "llm_include_private": False}])
        c.execute(
            insert(Customer),
            [
                {
                    "id": i + 1,
                    "team_id": TEAM,
                    "name": f"Customer {i:04d}",
                    "name_key": f"customer {i:04d}",
                    "segment": ["smb", "multi-site", "enterprise"][i % 3],
                    "outcome_required": "close the month in two days",
                    "outcome_experience": "without chasing timesheets",
                    "created_at": t0,
                }
                for i in range(customers)
            ],
        )
        c.execute(
            insert(ChannelLink),
            [{"team_id": TEAM, "channel_id": "CPORT", "kind": "watch", "customer_id": None, "created_at": t0}],
        )
        ms_rows, ev_rows = [], []
        mid = 0
        for i in range(customers):
            for n in range(1, milestones_per + 1):
                mid += 1
                status = rnd.choice(["planned", "in_progress", "at_risk", "achieved"])
                changed = start - timedelta(days=rnd.randint(0, 60))
                ms_rows.append(
                    {
                        "id": mid,
                        "team_id": TEAM,
                        "customer_id": i + 1,
                        "position": n,
                        "title": f"Customer {i} can run {rnd.choice(WORDS)} without manual fixes ({n})",
                        "status": status,
                        "due_date": (start + timedelta(days=rnd.randint(-30, 60))).date(),
                        "status_changed_at": changed,
                        "created_at": t0,
                        "achieved_at": changed if status == "achieved" else None,
                    }
                )
                ev_rows.append(
                    {"team_id": TEAM, "milestone_id": mid, "at": changed, "from_status": "planned", "to_status": status}
                )
        c.execute(insert(Milestone), ms_rows)
        c.execute(insert(MilestoneEvent), ev_rows)
    # the seven weeks before the digest's week carry the same volume in every dataset (the digest looks at
    # them for trends and impact reviews); everything else is older history, the part that must not matter
    recent = min(RECENT_WEEKS * RECENT_PER_WEEK, history - week_signals)
    older = history - week_signals - recent
    recent_start = start - timedelta(weeks=RECENT_WEEKS)
    span = (recent_start - t0).total_seconds()
    batch: list[dict] = []

    def flush() -> None:
        with engine.begin() as c:
            c.execute(insert(Signal), batch)
        batch.clear()

    # signals arrive in time order, as they do from Slack: rows of one week sit together on disk
    times = (
        sorted(t0 + timedelta(seconds=rnd.uniform(0, span)) for _ in range(older))
        + sorted(recent_start + timedelta(seconds=rnd.uniform(0, RECENT_WEEKS * 7 * 86400)) for _ in range(recent))
        + sorted(start + timedelta(seconds=rnd.uniform(0, (NOW - start).total_seconds())) for _ in range(week_signals))
    )
    for n in range(history):
        at = times[n]
        cid = rnd.randint(1, customers)
        batch.append(
            {
                "team_id": TEAM,
                "channel_id": "CPORT",
                "message_ts": f"{at.timestamp():.6f}.{n}",
                "user_id": f"U{n % 50}",
                "author_name": f"User {n % 50}",
                "text": f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} problem number {n} for the team",
                "customer_id": cid,
                "milestone_id": (cid - 1) * milestones_per + 1 if n % 7 == 0 else None,
                "capture_path": "watch",
                "kind": KINDS[n % 6],
                "sentiment": rnd.uniform(-1, 1),
                "is_private": False,
                "posted_at": at,
                "recorded_at": at,
            }
        )
        if len(batch) >= 50_000:
            flush()
    if batch:
        flush()
    engine.dispose()


def dataset(history: int) -> Path:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"digest-{history}.db"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        for p in CACHE.glob(tmp.name + "*"):
            p.unlink()
        t0 = time.monotonic()
        generate(tmp, history)
        shutil.move(tmp, path)
        print(f"  generated {history:,} signals in {time.monotonic() - t0:.0f}s → {path}")
    return path


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_read(engine: Engine) -> int:
    """Read, through the DB-API cursor alone (no ORM, no SQLAlchemy rows), the rows a digest of WEEK uses: the
    week's signals with the columns the digest reads, the trail of the weeks before it that trends and the
    success gap read, the customers and their milestones. Returns the number of rows."""
    start, end = WEEK.bounds()
    hist_start, _ = WEEK.previous(GAP_WEEKS - 1).bounds()

    def at(d: datetime) -> str:  # as SQLAlchemy stores a datetime in SQLite
        return d.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    cols = ", ".join(c.name for c in SIGNAL_COLUMNS)
    live = "team_id = ? AND posted_at >= ? AND posted_at < ? AND deleted_at IS NULL"
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        n = 0
        for sql, params in (
            (f"SELECT {cols} FROM signals WHERE {live} ORDER BY posted_at DESC, id DESC", (TEAM, at(start), at(end))),
            (
                f"SELECT id, customer_id, posted_at, milestone_id, text FROM signals WHERE {live}",
                (TEAM, at(hist_start), at(start)),
            ),
            ("SELECT * FROM customers WHERE team_id = ?", (TEAM,)),
            ("SELECT * FROM milestones WHERE team_id = ?", (TEAM,)),
        ):
            n += len(cur.execute(sql, params).fetchall())
        cur.close()
        return n
    finally:
        raw.close()


def digest_time(history: int, repeats: int = 3) -> dict:
    """The digest's build (and render) time, median of `repeats` after a warm-up, against the raw read of the rows
    it uses (`raw_read`), measured in the same run, alternating, so the ratio holds on a busy machine."""
    engine = db.make_engine(f"sqlite:///{dataset(history)}")
    sf = db.make_session_factory(engine)
    times, render_times, reads = [], [], []
    rows = 0
    for _ in range(repeats + 1):  # the first run warms the page cache and is not counted
        t0 = time.perf_counter()
        rows = raw_read(engine)
        reads.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with sf() as s:
            dg = build_digest(s, TEAM, "CPORT", WEEK, NOW, portfolio=True)
        t1 = time.perf_counter()
        messages = digest_messages(dg, 1)
        times.append(t1 - t0)
        render_times.append(time.perf_counter() - t1)
    times, render_times, reads = times[1:], render_times[1:], reads[1:]
    engine.dispose()
    median = sorted(times)[len(times) // 2]
    read = sorted(reads)[len(reads) // 2]
    return {
        "raw_read_rows": rows,
        "raw_read_seconds_median": round(read, 3),
        "build_over_raw_read": round(median / read, 2),
        "history": history,
        "week_signals": dg.signal_count,
        "customers": len(dg.customers),
        "seconds_best": round(min(times), 3),
        "seconds_median": round(sorted(times)[len(times) // 2], 3),
        "render_seconds_median": round(sorted(render_times)[len(render_times) // 2], 3),
        "messages_before_thread_cap": len(messages),
        "rss_mb_after": round(rss_mb(), 1),
    }


def llm_tokens(week_sizes: tuple[int, ...] = (1_000, 20_000, 100_000)) -> list[dict]:
    from tests.scenario.test_llm import synthetic_week

    prompt = llm.load_prompt()
    out = []
    for n in week_sizes:
        dg = synthetic_week(n, n_customers=1000 if n >= 20_000 else 200)
        t0 = time.perf_counter()
        ev = llm.build_evidence(dg, 12_000, include_private=False, prompt=prompt)
        naive_payload = {
            "customers": [{"customer": c.name, "signals": [q.text for q in c.quotes]} for c in dg.customers]
        }
        naive = llm.messages_tokens(llm.digest_prompt(prompt, dg, llm.evidence_json(naive_payload), ""))
        out.append(
            {
                "week_signals": n,
                "prompt_tokens": ev.tokens,
                "naive_tokens": naive,
                "signals_in_prompt": len(ev.signals),
                "customers_in_prompt": len(ev.customers),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
    return out


def slack_calls(week_sizes: tuple[int, ...] = (1_000, 20_000)) -> list[dict]:
    """Web API calls to post one digest, counted on the fake Slack server."""
    out = []
    for n in week_sizes:
        path = CACHE / f"calls-{n}.db"
        if not path.exists():
            generate(path, n, week_signals=n)
        engine = db.make_engine(f"sqlite:///{path}")
        sf = db.make_session_factory(engine)
        with sf.begin() as s:
            s.execute(delete(DigestRun))
        slack = FakeSlackServer(FakeSlackState(team_id=TEAM)).start()
        settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_SIGNING_SECRET="x",
            SLACK_API_URL=slack.url,
            DATABASE_URL=f"sqlite:///{path}",
        )
        from slack_sdk import WebClient

        client = WebClient(token="xoxb-bench", base_url=slack.url)
        runner = DigestRunner(settings, sf, lambda: NOW, client_for=lambda _t, c=client: c)
        res = runner.post(TEAM, "CPORT", WEEK, late=False, requested_by=None)
        calls = slack.calls()
        by_method = {m: sum(1 for c in calls if c.method == m) for m in sorted({c.method for c in calls})}
        out.append({"week_signals": n, "status": res.status, "api_calls": len(calls), "by_method": by_method})
        slack.stop()
        engine.dispose()
    return out
