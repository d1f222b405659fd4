"""Search over 1M signals: `/signal search` answered end to end (parse, query, counts, blocks) on SQLite and PostgreSQL.

The history is generated from our own labelled corpus (eval/tune.jsonl): each signal is one of its sentences, half
of them with a second clause from another, and one in fifty carries a feature phrase ("single sign-on",
"offline mode", …) at a realistic skew. So common words ("export", "app") match tens of thousands of signals,
as they would in a real workspace, and the queries are the ones people type.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

from bot import search
from storage import db
from storage.models import ChannelLink, Customer, Signal, Workspace

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"
TEAM = "T0SEARCH"
CUSTOMERS = 1000
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
KINDS = ["problem", "request", "praise", "question", "other", "churn-risk"]
FEATURES = [
    "single sign-on",
    "offline mode",
    "payroll export",
    "shift swaps",
    "holiday pay",
    "two-factor login",
    "bulk upload",
    "calendar sync",
    "audit log",
    "custom fields",
    "waiting list",
    "driver app",
    "invoice reminders",
    "api rate limit",
    "dark mode",
]
QUERIES = [
    '"single sign-on"',
    "offline mode",
    "export",
    "payroll export",
    "exports csv",
    "invoice",
    "app crashes",
    "login",
    "slow",
    "cancel",
    "renewal",
    '"holiday pay" since:90d',
    "calendar sync kind:request",
    "kind:churn-risk contract",
    "shift swaps since:30d",
    "report since:2026-10-01",
    "dashboard kind:problem",
    "{customer} export",
    "{customer} login",
    '"audit log" {customer}',
    "waiting list",
    "driver app freezing",
    "nobody can log in",
    "missing timesheets",
]


def corpus() -> list[str]:
    path = ROOT / "eval" / "tune.jsonl"
    return [json.loads(line)["text"] for line in path.read_text().splitlines() if line.strip()]


def rows(n: int, rnd: random.Random, start_id: int = 1) -> list[dict]:
    texts = corpus()
    weights = [1 / (i + 1) for i in range(len(FEATURES))]  # a few features are asked about far more than others
    t0 = NOW - timedelta(days=730)
    out = []
    for i in range(n):
        t = rnd.choice(texts)
        if rnd.random() < 0.5:
            t += ", and " + rnd.choice(texts)[:80].lower()
        if rnd.random() < 0.02:
            t += f" — we still need {rnd.choices(FEATURES, weights)[0]}"
        at = t0 + timedelta(seconds=730 * 86400 * (start_id + i) / 1_000_000)
        out.append(
            {
                "id": start_id + i,
                "team_id": TEAM,
                "channel_id": f"C{rnd.randint(1, 200):05d}",
                "message_ts": f"{at.timestamp():.6f}",
                "user_id": f"U{rnd.randint(1, 80)}",
                "author_name": f"User {rnd.randint(1, 80)}",
                "text": t,
                "customer_id": rnd.randint(1, CUSTOMERS),
                "capture_path": "watch",
                "kind": rnd.choice(KINDS),
                "sentiment": rnd.uniform(-1, 1),
                "is_private": rnd.random() < 0.05,
                "posted_at": at,
                "recorded_at": at,
                "deleted_at": at if rnd.random() < 0.01 else None,
            }
        )
    return out


def generate(url: str, n: int) -> float:
    """Write the workspace, its customers and `n` signals (the search index fills as rows go in)."""
    t0 = time.monotonic()
    rnd = random.Random(7)
    db.upgrade(url)
    engine = db.make_engine(url)
    with engine.begin() as c:
        c.execute(insert(Workspace), [{"team_id": TEAM, "created_at": NOW, "llm_include_private": False}])
        c.execute(
            insert(Customer),
            [
                {
                    "id": i + 1,
                    "team_id": TEAM,
                    "name": f"Account {i:04d}",
                    "name_key": f"account {i:04d}",
                    "segment": "smb",
                    "created_at": NOW,
                }
                for i in range(CUSTOMERS)
            ],
        )
        c.execute(insert(ChannelLink), [{"team_id": TEAM, "channel_id": "C00001", "kind": "watch", "created_at": NOW}])
    step = 20_000
    for start in range(1, n + 1, step):
        with engine.begin() as c:
            c.execute(insert(Signal), rows(min(step, n - start + 1), rnd, start))
    if engine.dialect.name == "postgresql":
        with engine.begin() as c:
            c.execute(text("SELECT setval(pg_get_serial_sequence('signals', 'id'), (SELECT max(id) FROM signals))"))
            c.execute(text("ANALYZE signals"))
    engine.dispose()
    return time.monotonic() - t0


def sqlite_dataset(n: int) -> str:
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"search-{n}.db"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        for p in CACHE.glob(tmp.name + "*"):
            p.unlink()
        took = generate(f"sqlite:///{tmp}", n)
        shutil.move(tmp, path)
        print(f"  generated {n:,} signals in {took:.0f}s → {path}")
    return f"sqlite:///{path}"


def measure(url: str, database: str, queries: int = 400, seed: int = 11) -> dict:
    """`queries` searches drawn from QUERIES, each answered as `/signal search` answers it; first pass warms caches."""
    engine = db.make_engine(url)
    sf = db.make_session_factory(engine)
    rnd = random.Random(seed)
    with sf() as s:
        total = s.scalar(select(func.count()).select_from(Signal).where(Signal.team_id == TEAM))
    drawn = [
        rnd.choice(QUERIES).format(customer=f'customer:"Account {rnd.randint(0, CUSTOMERS - 1):04d}"')
        for _ in range(queries)
    ]
    times, per_query, matches = [], {}, {}
    for warm in (True, False):
        for q in list(dict.fromkeys(drawn)) if warm else drawn:
            t0 = time.perf_counter()
            with sf() as s:
                parsed = search.parse(s, TEAM, q, NOW)
                search.results_blocks(s, TEAM, parsed, "C00001")
            took = (time.perf_counter() - t0) * 1000
            if warm:
                with sf() as s:
                    matches.setdefault(_template(q), sum(search.run(s, TEAM, parsed, "C00001")[1].values()))
            else:
                times.append(took)
                per_query.setdefault(_template(q), []).append(took)
    engine.dispose()
    times.sort()
    worst = sorted(((max(v), k) for k, v in per_query.items()), reverse=True)[:3]
    return {
        "database": database,
        "signals": total,
        "queries": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
        "slowest_queries": [{"query": k, "max_ms": round(v, 1), "matches": matches[k]} for v, k in worst],
        "most_matches": max(matches.values()),
    }


def _template(q: str) -> str:
    return re.sub(r'customer:"Account \d+"', "customer:<one of 1,000>", q)


def run(n: int, pg_url: str | None) -> list[dict]:
    out = [measure(sqlite_dataset(n), "sqlite")]
    if pg_url:
        took = generate(pg_url, n)
        print(f"  loaded {n:,} signals into PostgreSQL in {took:.0f}s")
        out.append(measure(pg_url, "postgresql"))
    return out


if __name__ == "__main__":
    import sys

    from bench.pg import drop_pg_schema, fresh_pg_schema, pg_available

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    url = fresh_pg_schema() if pg_available() else None
    try:
        for r in run(n, url):
            print(json.dumps(r, indent=2))
    finally:
        if url:
            drop_pg_schema(url)
