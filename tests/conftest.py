"""Fixtures: both databases, a local fake Slack Web API, and the app served over signed HTTP."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.services import Deps
from devtools.fakeslack import (
    DEADLINE_SECONDS,
    DeadlineMissed,
    FakeSlackServer,
    FakeSlackState,
    block_kit_errors,
    slash_text,
    view_errors,
)
from entry.app import build_app, http_handler
from entry.server import SlackHTTPServer, make_server
from storage import db

CHANNEL_NAMES = {"C1": "cs-acme", "C2": "feedback", "C3": "general", "G1": "privategroup", "C4": "cs-portfolio"}
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET = "test-signing-secret"
TEAM = "T0TEAM"


def _pg_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL") or PG_DEFAULT
    try:
        eng = db.make_engine(url, connect_args={"connect_timeout": 2})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return url
    except Exception:  # noqa: BLE001
        return None


PG_URL = _pg_url()


class Clock:
    """A controlled clock: tests move it, nothing sleeps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


class MigratedTemplates:
    """The migrations run once per test session; each test gets a copy of their result.

    SQLite: a migrated file, copied per test. PostgreSQL: the statements the migrations ran on a scratch
    schema, recorded as they went to the server and replayed into each test's own schema (unqualified, so the
    connection's search_path puts them there). The same DDL as `alembic upgrade`, in a fraction of its time.
    A finished test's schema is emptied (its rows deleted, its sequences restarted: what the migrations left)
    and renamed for the next test, which costs a few milliseconds where creating one costs half a second of the
    server's time; a schema that cannot be emptied is dropped.
    """

    _WRITES = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE", "COMMENT")

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._sqlite: Path | None = None
        self._pg: str | None = None
        self._empty: str | None = None  # the statements that empty a schema the test used
        self._ready: list[str] = []  # schemas emptied after a test, for the next
        self._admin: Engine | None = None

    @property
    def admin(self) -> Engine:
        """The session's own connections to PostgreSQL (default search_path): it makes, empties and drops schemas."""
        if self._admin is None:
            assert PG_URL is not None
            self._admin = db.make_engine(PG_URL)
        return self._admin

    def sqlite(self, target: Path) -> str:
        if self._sqlite is None:
            self._sqlite = self.folder / "template.db"
            db.upgrade(f"sqlite:///{self._sqlite}")
        shutil.copyfile(self._sqlite, target)
        return f"sqlite:///{target}"

    def postgresql(self, admin: Engine, schema: str) -> None:
        """Create `schema` and everything the migrations make in it, in one transaction and one round trip."""
        if self._ready:
            with admin.begin() as c:
                c.exec_driver_sql(f"ALTER SCHEMA {self._ready.pop()} RENAME TO {schema}")
            return
        if self._pg is None:
            self._pg = self._record_pg()
        with admin.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema};\n{self._pg}")
            if self._empty is None:
                self._empty = self._emptying(c, schema)

    def release(self, admin: Engine, schema: str, terminate: str) -> None:
        """After its test: `schema` emptied and put aside under another name for the next test, or dropped.
        `terminate`: which backends are the test's (pg_stat_activity), ended before and after."""
        end = text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {terminate}")
        ready = "t_ready_" + uuid.uuid4().hex[:12]
        try:
            with admin.begin() as c:
                c.execute(end)
                c.execute(text("SET LOCAL lock_timeout = '5s'"))
                c.exec_driver_sql(f"SET LOCAL search_path TO {schema}; {self._empty}")
                c.exec_driver_sql(f"ALTER SCHEMA {schema} RENAME TO {ready}")
            self._ready.append(ready)
        except Exception:  # noqa: BLE001 - whatever went wrong, the next test gets a new schema
            with admin.begin() as c:
                c.execute(text("SET LOCAL lock_timeout = '15s'"))
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        with admin.begin() as c:
            c.execute(end)

    def close(self) -> None:
        if self._admin is None:
            return
        with self._admin.begin() as c:
            for schema in self._ready:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        self._admin.dispose()

    def _record_pg(self) -> str:
        assert PG_URL is not None
        schema = "tpl_" + uuid.uuid4().hex[:12]
        admin = db.make_engine(PG_URL)
        recorded: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
            if statement.lstrip().split(None, 1)[0].upper() in self._WRITES:
                assert not parameters, f"a migration statement with parameters cannot be replayed: {statement}"
                recorded.append(statement.strip().rstrip(";"))

        with admin.begin() as c:
            c.execute(text(f"CREATE SCHEMA {schema}"))
        sep = "&" if "?" in PG_URL else "?"
        event.listen(Engine, "before_cursor_execute", record)
        try:
            db.upgrade(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
        finally:
            event.remove(Engine, "before_cursor_execute", record)
            with admin.begin() as c:
                c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
        return ";\n".join(recorded)

    @staticmethod
    def _emptying(c: Any, schema: str) -> str:
        """DELETE from every table a test can write, children before parents; every sequence restarted."""
        edges = c.execute(
            text(
                "SELECT t.relname, p.relname FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace "
                "LEFT JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype = 'f' "
                "LEFT JOIN pg_class p ON p.oid = k.confrelid "
                "WHERE n.nspname = :s AND t.relkind IN ('r', 'p')"
            ),
            {"s": schema},
        ).all()
        parents: dict[str, set[str]] = {}
        for table, parent in edges:
            parents.setdefault(table, set())
            if parent and parent != table:
                parents[table].add(parent)
        order: list[str] = []
        while parents:
            leaves = sorted(t for t in parents if not any(t in ps for u, ps in parents.items() if u != t))
            assert leaves, f"foreign keys in a circle: {parents}"
            for t in leaves:
                order.append(t)
                del parents[t]
        sequences = c.execute(
            text(
                "SELECT s.relname FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace "
                "WHERE n.nspname = :s AND s.relkind = 'S' ORDER BY 1"
            ),
            {"s": schema},
        ).scalars()
        # alembic_version keeps its row: it is what the migrations wrote
        deletes = [f'DELETE FROM "{t}"' for t in order if t != "alembic_version"]
        return "; ".join(deletes + [f'ALTER SEQUENCE "{q}" RESTART' for q in sequences])


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, migrated: MigratedTemplates) -> Iterator[str]:
    """A migrated database: a fresh SQLite file, or a schema of its own on PostgreSQL (emptied after, or dropped)."""
    if request.param == "sqlite":
        yield migrated.sqlite(tmp_path / "test.db")
        return
    if PG_URL is None:
        pytest.skip("PostgreSQL is not answering at 127.0.0.1:5432 (set TEST_DATABASE_URL to run these)")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = migrated.admin
    migrated.postgresql(admin, schema)
    sep = "&" if "?" in PG_URL else "?"
    # the schema's name is also the connections' application name: the leak check below looks at this
    # test's connections only, not at another test run sharing the server
    url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}&application_name={schema}"
    yield url
    # a connection the test leaked would block the drop forever: fail loudly instead of hanging CI
    mine = "state = 'idle in transaction' AND application_name = :app AND pid <> pg_backend_pid()"

    def idle_in_transaction() -> list[str]:
        # each one's last statement says which code left it open; a fresh transaction reads fresh statistics
        with admin.connect() as c:
            return list(c.execute(text(f"SELECT query FROM pg_stat_activity WHERE {mine}"), {"app": schema}).scalars())

    # a process the test stopped a moment ago may still be closing (through the outage tests' proxy):
    # its backends end within moments, a connection the test still holds does not
    leaked = idle_in_transaction()
    deadline = time.monotonic() + 3
    while leaked and time.monotonic() < deadline:
        time.sleep(0.1)
        leaked = idle_in_transaction()
    # whatever connection of the test is still open ends now, so none can write into the schema once it is
    # emptied for the next test (nor, renamed, find its tables again)
    migrated.release(admin, schema, terminate=f"application_name = '{schema}' AND pid <> pg_backend_pid()")
    assert not leaked, f"{len(leaked)} database connection(s) left idle in a transaction by the test: {leaked}"


@pytest.fixture
def engine(db_url: str):  # noqa: ANN201
    eng = db.make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sf(engine):  # noqa: ANN001, ANN201
    return db.make_session_factory(engine)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 18, 10, 0, tzinfo=UTC))  # a Wednesday, ISO week 47


@pytest.fixture
def slack() -> Iterator[FakeSlackServer]:
    state = FakeSlackState(team_id=TEAM)
    for uid, name in [("U1", "Priya"), ("U2", "Marco"), ("U3", "Sam"), ("U4", "Lee")]:
        state.users[uid] = {
            "id": uid,
            "name": name.lower(),
            "real_name": name,
            "tz": "Europe/London",
            "profile": {"display_name": name, "real_name": name},
        }
    for cid, name, private in [
        ("C1", "cs-acme", False),
        ("C2", "feedback", False),
        ("C3", "general", False),
        ("G1", "acme-private", True),
        ("C4", "cs-portfolio", False),
    ]:
        state.channels[cid] = {"id": cid, "name": name, "is_private": private}
    server = FakeSlackServer(state).start()
    yield server
    server.stop()


def make_settings(db_url: str, slack: FakeSlackServer, **extra: Any) -> Settings:
    values = dict(
        SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack.url, DATABASE_URL=db_url
    )
    values.update(extra)
    return Settings(_env_file=None, **values)


@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str]
    elapsed: float = 0.0  # seconds until the app answered (Slack waits DEADLINE_SECONDS)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# interactive payloads Slack issues a trigger_id with (https://docs.slack.dev/interactivity/handling-user-interaction)
_TRIGGERING = ("block_actions", "shortcut", "message_action", "view_submission")


class SlackDriver:
    """Sends what Slack sends: signed HTTP requests to POST /slack/events, held to Slack's contract.

    With the Slack simulator (`slack`) it also: escapes a slash command's text as the manifest's should_escape
    makes Slack do; issues every trigger_id it hands out; fails a request answered after 3 seconds the way Slack
    counts it (DeadlineMissed: operation_timeout for commands and interactive payloads; an event is sent again
    with X-Slack-Retry-Num first); refuses acknowledgements whose blocks Slack would refuse; then waits for the
    app's after-the-answer work (`settle`) so a test reads what followed.
    """

    def __init__(
        self,
        base: str,
        response_base: str,
        secret: str = SECRET,
        slack: FakeSlackServer | None = None,
        settle: Any = None,
    ) -> None:
        self.base = base
        self.response_base = response_base
        self.verifier = SignatureVerifier(secret)
        self.slack = slack
        self.settle = settle  # called after each answer: waits for the app's work after the answer
        self._n = 0

    @property
    def deadline(self) -> float | None:
        if self.slack is None or not self.slack.state.contract.deadline:
            return None
        return DEADLINE_SECONDS

    def post(
        self,
        body: str,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
        retry: int | None = None,
        kind: str = "request",
        settle: bool = True,
    ) -> Response:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature or self.verifier.generate_signature(timestamp=ts, body=body)
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        req = urllib.request.Request(self.base + "/slack/events", data=body.encode(), headers=headers)
        since = len(self.slack.state.calls) if self.slack is not None else 0
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                resp = Response(r.status, r.read().decode(), dict(r.headers))
        except urllib.error.HTTPError as e:
            resp = Response(e.code, e.read().decode(), dict(e.headers))
        resp.elapsed = time.monotonic() - started
        if self.deadline is not None and resp.elapsed > self.deadline:
            if kind == "event":
                # Slack stops waiting after 3 s and sends the event again (https://docs.slack.dev/apis/events-api/)
                self.post(body, content_type, retry=(retry or 0) + 1, kind="retry", settle=False)
                raise DeadlineMissed(f"event answered after {resp.elapsed:.2f} s: Slack retried it (X-Slack-Retry-Num)")
            raise DeadlineMissed(
                f"{kind} answered after {resp.elapsed:.2f} s: Slack showed the person operation_timeout "
                "and dropped the answer"
            )
        if self.slack is not None and self.slack.state.contract.answer_first:
            early = self.slack.state.calls_before_answer(since)
            if early:
                raise AssertionError(
                    f"{kind}: {', '.join(c.method for c in early)} called before answering Slack (3 s): "
                    "only opening a modal may come first; do the rest after the answer (handlers.effects)"
                )
        if self.slack is not None and self.slack.state.contract.block_kit and resp.status == 200:
            self._check_answer(resp)
        if settle and self.settle is not None:
            self.settle()
        return resp

    def _check_answer(self, resp: Response) -> None:
        """An acknowledgement's blocks or view, checked as Slack checks them before showing them."""
        try:
            body = resp.json()
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        errors = block_kit_errors(body.get("blocks"))
        if isinstance(body.get("view"), dict):
            errors += view_errors(body["view"])
        if body.get("options") is not None and len(body["options"]) > 100:
            errors.append("options: must provide at most 100 items")
        if errors:
            raise AssertionError(f"Slack would refuse this answer (invalid_blocks): {errors}")

    def event(
        self,
        event: dict[str, Any],
        team: str = TEAM,
        event_id: str | None = None,
        retry: int | None = None,
        settle: bool = True,
        **kw: Any,
    ) -> Response:
        self._n += 1
        payload = {
            "token": "x",
            "team_id": team,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id or f"Ev{self._n:08d}{uuid.uuid4().hex[:6]}",
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
        }
        return self.post(json.dumps(payload), "application/json", retry=retry, kind="event", settle=settle, **kw)

    def message(
        self, channel: str, text: str, user: str = "U2", ts: str | None = None, team: str = TEAM, **extra: Any
    ) -> Response:
        self._n += 1
        ev = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": ts or f"{1763460000 + self._n}.000100",
            "channel_type": "channel",
            **extra,
        }
        return self.event(ev, team=team)

    def command(
        self,
        command: str,
        text: str,
        user: str = "U1",
        channel: str = "C1",
        team: str = TEAM,
        channel_name: str | None = None,
        settle: bool = True,
    ) -> Response:
        """`text` is what the person typed; `<@U…>`, `<#C…>` and `<url|label>` in it are people, channels and
        links they picked, which Slack sends as the manifest's should_escape for `command` says."""
        self._n += 1
        # what Slack sends as the channel's name (the names of the fake Slack's channels)
        channel_name = channel_name or CHANNEL_NAMES.get(channel, "general")
        trigger_id = f"trig.{self._n}.{uuid.uuid4().hex[:8]}"
        if self.slack is not None:
            text = slash_text(self.slack.state, command, text)
            self.slack.state.issue_trigger(trigger_id)
        form = {
            "token": "x",
            "team_id": team,
            "team_domain": "demo",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": "someone",
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": f"{self.response_base}response/{self._n}",
            "trigger_id": trigger_id,
        }
        return self.post(urlencode(form), "application/x-www-form-urlencoded", kind=command, settle=settle)

    def interact(self, payload: dict[str, Any], settle: bool = True) -> Response:
        payload.setdefault("team", {"id": TEAM})
        payload.setdefault("api_app_id", "A1")
        payload.setdefault("token", "x")
        kind = str(payload.get("type") or "interaction")
        if kind in _TRIGGERING:
            self._n += 1
            payload.setdefault("trigger_id", f"trig.{self._n}.{uuid.uuid4().hex[:8]}")
            if self.slack is not None:
                self.slack.state.issue_trigger(payload["trigger_id"])
        return self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", kind=kind, settle=settle
        )

    def submit_view(
        self,
        callback_id: str,
        values: dict[str, Any],
        metadata: str = "",
        user: str = "U1",
        blocks: list[dict[str, Any]] | None = None,
        view_id: str = "V1",
        settle: bool = True,
    ) -> Response:
        """A modal submitted as Slack sends it (view_submission): the view with its inputs' state (and its blocks,
        when given)."""
        view: dict[str, Any] = {
            "id": view_id,
            "type": "modal",
            "callback_id": callback_id,
            "state": {"values": values},
            "private_metadata": metadata,
        }
        if blocks is not None:
            view["blocks"] = blocks
        return self.interact({"type": "view_submission", "user": {"id": user}, "view": view}, settle=settle)


@dataclass
class Running:
    deps: Deps
    slack: FakeSlackServer
    driver: SlackDriver
    sf: Any
    clock: Clock
    server: SlackHTTPServer


@pytest.fixture
def start_app(db_url: str, slack: FakeSlackServer, clock: Clock, engine, sf):  # noqa: ANN001, ANN201
    """Start the app over HTTP on 127.0.0.1 with extra settings; stopped after the test."""
    started: list[Running] = []

    def start(read_timeout: float = 10.0, **extra: Any) -> Running:
        settings = make_settings(db_url, slack, **extra)
        app, deps = build_app(settings, sf, clock=clock)
        # posts to one channel are spaced 1 s apart in production (tests.scenario.test_scale checks it); not here
        deps.digest_runner.pacer.gap = 0.01
        server = make_server(http_handler(app), engine, 0, threads=8, host="127.0.0.1", read_timeout=read_timeout)
        server.serve_in_thread()
        # the driver holds the app to Slack's contract (devtools.fakeslack) and waits for its after-answer work
        driver = SlackDriver(
            f"http://127.0.0.1:{server.port}", slack.url.removesuffix("api/"), slack=slack, settle=deps.after.wait_idle
        )
        slack.reset()
        r = Running(deps, slack, driver, sf, clock, server)
        started.append(r)
        return r

    yield start
    for r in started:
        r.server.drain(timeout=2)
        r.deps.close()


@pytest.fixture
def running(start_app) -> Running:  # noqa: ANN001
    """The app served over HTTP on 127.0.0.1, talking to the fake Slack Web API."""
    return start_app()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A test's figures ride on its report, so they reach the summary from pytest-xdist's workers too."""
    from tests.helpers import FIGURES

    outcome = yield
    if call.when == "teardown":
        report = outcome.get_result()
        report.user_properties.extend(("figure", f"{test}: {text}") for test, text in FIGURES)
        FIGURES.clear()


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    lines = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        for key, value in getattr(report, "user_properties", ())
        if key == "figure"
    ]
    if lines:
        terminalreporter.section("figures measured by the tests")
        for line in lines:
            terminalreporter.write_line(line)


# The tiers are folders (tests/unit, tests/scenario, tests/process) and markers, set here from what a test uses:
# `slow` for the process tier (`signalloop run` as a subprocess; `pytest -m slow` runs it alone), `unit` for a test
# that needs no database, no Slack, no server and no subprocess (`make test-fast`). `alone` is set by hand on a
# test timed against the clock to 100 ms: `make test` runs those after the others, one at a time.
SCENARIO_FIXTURES = {"db_url", "engine", "sf", "slack", "start_app", "running", "procs", "fuzz_commands"}
# what a test's own code may start: a process, or the demo (a SQLite database and the Slack simulator)
NOT_UNIT = ("subprocess.", "run_cli(", "sys.executable", "demo.build(")


def _spawns_processes(item: pytest.Item) -> bool:
    try:
        source = inspect.getsource(item.function)  # type: ignore[attr-defined]
    except (AttributeError, OSError, TypeError):
        return False
    return any(s in source for s in NOT_UNIT)


# The longest tests (each 10 s or more on a quiet machine) start first: `make test` runs the tiers together on
# both cores (pytest-xdist's worksteal: each worker takes half of this order, an idle one takes the rest of the
# other's), so the workers end on short tests, together. A test left off this list only ends the run later.
LONGEST_FIRST = (
    "test_instances_started_together",
    "test_realistic_week.py",
    "test_no_acknowledged_signal_is_lost",
    "test_sigterm_under_load",
    "test_a_300_row",
    "test_huge_week",
    "test_two_instances_on_postgresql",
    "test_socket_mode_serves",
    "test_a_running_app",
    "test_scheduler_resumes",
    "test_demo_runs_as_a_subprocess",
)


def _order(item: pytest.Item) -> int:
    return next((i for i, name in enumerate(LONGEST_FIRST) if name in item.nodeid), len(LONGEST_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "procs" in fixtures or "process" in item.path.parts:
            item.add_marker(pytest.mark.slow)
        elif not fixtures & SCENARIO_FIXTURES and not _spawns_processes(item):
            item.add_marker(pytest.mark.unit)
    items.sort(key=_order)  # stable: the rest keep their order


@pytest.fixture
def procs() -> Iterator[list]:
    """`signalloop run` processes a test started (tests.processes.AppProcess); stopped after it."""
    started: list = []
    yield started
    for p in started:
        p.stop()
