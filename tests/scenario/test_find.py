"""Find what customers said, ask a question of it, bring customers in by the hundred, review a quarter."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from bot import search as search_module
from devtools.fakeopenai import FakeOpenAI, evidence_of
from storage import repo
from storage.models import ChannelLink, Customer, Signal
from tests.conftest import Running
from tests.helpers import Ran, figure, run_signalloop
from tests.scenario.test_digest import ROOT, all_text, at, ts
from tests.scenario.test_truth import button

OTHER = "T0OTHER"


def history(r: Running) -> None:
    d = r.driver
    r.clock.now = at(2, 9)
    for name in ("Marlow Dental", "Fenwick Freight"):
        d.command("/loop", f"customer add {name}")
    d.command("/loop", "link Marlow Dental", channel="C1")
    d.command("/loop", "link Marlow Dental", channel="G1", channel_name="privategroup")
    d.command("/loop", "link Fenwick Freight", channel="C3")
    d.message("C1", "They asked again about single sign-on with Okta", ts=ts(3, 10))
    d.message("C1", "Exports keep timing out on Mondays", ts=ts(10, 10))
    d.message("C1", "Would love an offline mode for the clinics with bad wifi", ts=ts(17, 10))
    d.message("C3", "Drivers want an offline mode in the tunnels", ts=ts(17, 11), user="U3")
    d.message("C3", "The export to Sage failed twice", ts=ts(18, 11), user="U3")
    d.message("G1", "Confidential: Marlow wants single sign-on before renewal", ts=ts(18, 12), channel_type="group")
    d.message("C1", "hello from another workspace: single sign-on please", ts=ts(18, 13), team=OTHER)
    r.clock.now = at(20, 15)


def search(r: Running, text: str, channel: str = "C3") -> str:
    resp = r.driver.command("/signal", f"search {text}", channel=channel).json()
    return resp["text"] + "\n" + all_text([("", resp.get("blocks") or [])])


def test_search_by_stems_phrases_and_filters_within_the_rules(running: Running) -> None:
    r = running
    history(r)
    out = search(r, "export")
    assert "Exports keep timing out" in out and "export to Sage failed" in out  # "export" finds "Exports"
    assert "2 signals" in out and "Marlow Dental 1" in out and "Fenwick Freight 1" in out
    out = search(r, '"offline mode"')
    assert "offline mode for the clinics" in out and "offline mode in the tunnels" in out
    assert "Drivers want" in search(r, "offline customer:Fenwick") and "clinics" not in search(
        r, "offline customer:Fenwick"
    )
    assert "2 signals" in search(r, "offline kind:request")
    assert "Exports keep timing out" not in search(r, "export since:2026-11-16")
    assert "export to Sage" in search(r, "export since:7d")
    # another workspace's signals never; a private channel's only in that channel
    sso = search(r, '"single sign-on"')
    assert "Okta" in sso and "another workspace" not in sso and "Confidential" not in sso
    assert "Confidential" in search(r, '"single sign-on"', channel="G1")
    # edits and deletions are followed
    edit = {
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "channel_type": "channel",
        "message": {"type": "message", "user": "U2", "ts": ts(10, 10), "text": "Reports keep timing out"},
        "event_ts": ts(20, 15, 1),
        "ts": ts(20, 15, 1),
    }
    r.driver.event(edit)
    assert "Exports keep" not in search(r, "export") and "Reports keep timing out" in search(r, "reports")
    r.driver.event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": "C3",
            "channel_type": "channel",
            "deleted_ts": ts(18, 11),
            "ts": ts(20, 15, 2),
        }
    )
    assert "No signals match" in search(r, "Sage")
    # a corrected kind is searched by its new kind at once (PostgreSQL keeps it in the indexed column)
    with r.sf() as s:
        s.execute(update(Signal).where(Signal.text.like("Drivers want%")).values(kind="problem"))
        s.commit()
    assert "Drivers want" in search(r, "offline kind:problem") and "clinics" not in search(r, "offline kind:problem")
    assert "1 signal " in search(r, "offline kind:request")
    for bad, expect in [
        ("", "Search for some words"),
        ("kind:maybe sso", "is not a kind"),
        ("sso since:yesterday", "is not a date"),
        ("sso customer:Nobody", "No customer named"),
        ('"unclosed', "not closed"),
    ]:
        assert expect in search(r, bad), bad


def test_search_pages_with_more(running: Running) -> None:
    r = running
    r.driver.command("/loop", "customer add Acme")
    r.driver.command("/loop", "link Acme", channel="C1")
    for i in range(13):
        r.driver.message("C1", f"The dashboard number {i} looks wrong", ts=ts(18, 10, i))
    first = r.driver.command("/signal", "search dashboard").json()
    more = next(b for b in first["blocks"] if b.get("block_id") == "search_more")["elements"][0]
    assert "13 signals" in first["text"]
    button(r, "search_more", more["value"])
    page = r.slack.calls("response_url")[-1].args
    assert "showing 11–13" in all_text([("", page["blocks"])])


def test_a_search_matching_more_than_it_ranks_says_so(running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    r = running
    r.driver.command("/loop", "customer add Acme")
    r.driver.command("/loop", "link Acme", channel="C1")
    for i in range(8):
        r.driver.message(
            "C1", f"The dashboard number {i} looks wrong" + (" again, dashboard" if i == 1 else ""), ts=ts(18, 10, i)
        )
    with r.sf() as s:
        team = s.scalar(select(Customer.team_id))
        rows, counts = repo.search_signals(s, team_id=team, terms=["dashboard"], phrases=[], limit=3, candidates=5)
    # the newest five are ranked and counted; the oldest three (the twice-said one among them) are not
    assert sum(counts.values()) == 5
    assert [row.text.split()[3] for row in rows] == ["7", "6", "5"]
    monkeypatch.setattr(search_module, "CANDIDATES", 5)
    out = search(r, "dashboard", channel="C1")
    assert "More than 5 signals" in out and "Narrow it with" in out


def answering(answer: str, cite: str = "first") -> dict:  # noqa: ANN001
    def respond(request: dict) -> dict:
        ev = evidence_of(request)
        ids = [s["id"] for s in ev["signals"]]
        cited = ids[:2] if cite == "first" else ["S999999"]
        words = " ".join(ev["signals"][0]["text"].split()[:3])
        return {"content": json.dumps({"answer": answer.format(words=words), "signal_ids": cited})}

    return respond


@pytest.fixture
def model():  # noqa: ANN201
    srv = FakeOpenAI().start()
    yield srv
    srv.stop()


def asked(r: Running, question: str) -> str:
    r.slack.reset()
    assert r.driver.command("/loop", f"ask {question}", channel="C3").status == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        calls = r.slack.calls("chat.postEphemeral")
        if calls:
            return calls[-1].args.get("text", "") + "\n" + all_text([("", calls[-1].args.get("blocks") or [])])
        time.sleep(0.05)
    raise AssertionError("no answer")


def test_ask_answers_with_citations_and_falls_back_to_search(start_app, model: FakeOpenAI) -> None:  # noqa: ANN001
    r: Running = start_app(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=model.base_url, SIGNALLOOP_LLM_TIMEOUT="2")
    history(r)
    model.script = [
        answering("Two customers asked for it: “{words}” and the drivers <!channel> see <https://evil.example|x>")
    ]
    out = asked(r, "who asked for an offline mode?")
    assert "Two customers asked for it" in out and "What it rests on" in out
    assert "offline mode for the clinics" in out and "<!channel>" not in out and "evil.example" not in out
    sent = json.dumps(model.requests[-1]["messages"])
    assert "Confidential" not in sent and "another workspace" not in sent  # private and foreign signals stay out
    # invented ids or quotes: the search results, and it says so
    model.script = [answering("They said “we will pay double”", cite="ghost")]
    out = asked(r, "offline mode")
    assert "No AI answer" in out and "offline mode in the tunnels" in out and "pay double" not in out
    # the model fails or times out: the search results, in time
    for step in ({"status": 500}, {"delay": 5, "content": "{}"}):
        model.script = [step, step]
        t0 = time.monotonic()
        out = asked(r, "offline mode")
        assert "No AI answer" in out and "offline mode" in out and time.monotonic() - t0 < 15
    figure("/loop ask: cited answer shown; invented citations, a 500 and a timeout each fell back to search results")


def test_ask_without_a_model_gives_the_search_results(running: Running) -> None:
    history(running)
    out = asked(running, "offline mode")
    assert "no model is set up" in out and "offline mode for the clinics" in out


def customers_csv(n: int, bad: set[int]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["name", "segment", "aliases", "outcome", "experience", "owner", "channel", "milestones"])
    for i in range(n):
        row = [
            f"Customer {i:03d}",
            "smb",
            f"C{i:03d} Ltd",
            "Close the month in a day",
            "without spreadsheets",
            f"U{i % 4 + 1}",
            f"CX{i:03d}",
            f"First close without help due 2026-12-{1 + i % 28:02d}; Month end in a day",
        ]
        if i in bad:
            row = [
                ["", "smb"],
                [f"Customer {i:03d}", "not a segment!"],
                [f"Customer {i:03d}", "smb", "", "", "", "nobody"],
                [f"Customer {i:03d}", "smb", "", "", "", "", "not a channel!"],
                [f"Customer {i:03d}", "smb", "", "", "", "", "", "Go live due 2026-02-31"],
            ][i % 5]
        w.writerow(row)
    return buf.getvalue()


def cli(args: list[str], db_url: str, stdin: str | None = None) -> Ran:
    """The command with DATABASE_URL alone set, in this process (tests.helpers.run_signalloop)."""
    return run_signalloop(args, {"DATABASE_URL": db_url, "PATH": "/usr/bin"}, cwd=ROOT, stdin=stdin)


def test_a_300_row_csv_with_10_bad_rows(running: Running, db_url: str, tmp_path) -> None:  # noqa: ANN001
    if not db_url.startswith("sqlite"):
        pytest.skip("the CLI path is the same on both databases; the import itself runs on both below")
    running.driver.command("/loop", "help")  # the workspace exists
    bad = {7, 40, 81, 99, 123, 150, 201, 222, 260, 299}
    path = tmp_path / "customers.csv"
    path.write_text(customers_csv(300, bad))
    dry = cli(["customers", "import", str(path), "--dry-run"], db_url)
    assert "Dry run: 290 would be created" in dry.stdout
    with running.sf() as s:
        assert s.scalar(select(Customer.id)) is None  # nothing written by a dry run
    res = cli(["customers", "import", str(path)], db_url)
    assert res.returncode == 1 and "290 created, 0 updated, 0 unchanged; 10 rows left out" in res.stdout
    lines = sorted(int(x.split()[1].rstrip(":")) for x in res.stderr.splitlines() if x.strip().startswith("line"))
    assert lines == sorted(b + 2 for b in bad)  # the header is line 1
    with running.sf() as s:
        c = s.scalar(select(Customer).where(Customer.name == "Customer 001"))
        assert (c.segment, c.owner_id, c.outcome_required) == ("smb", "U2", "Close the month in a day")
        assert [m.title for m in c.milestones] == ["First close without help", "Month end in a day"]
        assert s.scalar(select(ChannelLink.customer_id).where(ChannelLink.channel_id == "CX001")) == c.id
    again = cli(["customers", "import", str(path)], db_url)
    assert "0 created, 0 updated, 290 unchanged" in again.stdout
    # export → import round-trips: a second workspace's import of the export equals the first
    exported = cli(["export", "customers", "--format", "csv"], db_url)
    assert exported.returncode == 0 and exported.stdout.count("\n") == 291
    (tmp_path / "back.csv").write_text(exported.stdout)
    back = cli(["customers", "import", str(tmp_path / "back.csv")], db_url)
    assert "0 created, 0 updated, 290 unchanged" in back.stdout
    jsonl = cli(["export", "milestones", "--format", "jsonl", "--customer", "Customer 001"], db_url)
    assert [json.loads(x)["title"] for x in jsonl.stdout.splitlines()] == [
        "First close without help",
        "Month end in a day",
    ]
    figure(
        "CSV of 300 rows with 10 bad: 290 imported, 10 reported by line; the second run and the export's "
        "round trip changed nothing"
    )


def test_the_import_modal_checks_first_and_applies_on_both_databases(running: Running) -> None:
    r = running
    r.driver.command("/loop", "customers import")
    assert r.slack.calls("views.open")[-1].args["view"]["callback_id"] == "import_modal"
    text = customers_csv(6, {2})
    csv = {"csv": {"csv": {"type": "plain_text_input", "value": text}}}
    resp = r.driver.submit_view("import_modal", csv).json()
    # answered at once ("Checking…"); the rows are checked against Slack after the answer, then shown
    assert resp["response_action"] == "update" and resp["view"]["callback_id"] == "import_checking"
    [update] = r.slack.calls("views.update")
    assert update.args["view_id"] == "V1" and "5 would be created" in json.dumps(update.args["view"])
    resp = {"view": update.args["view"]}
    with r.sf() as s:
        assert s.scalar(select(Customer.id)) is None
    r.driver.submit_view("import_apply", {}, resp["view"]["private_metadata"])
    with r.sf() as s:
        assert len(s.scalars(select(Customer)).all()) == 5
    assert "5 created" in r.slack.calls("chat.postMessage")[-1].args["text"]


def test_a_quarterly_review_shows_each_section_with_the_right_figures(running: Running, db_url: str) -> None:
    r = running
    d = r.driver
    r.clock.now = datetime(2026, 7, 1, 9, tzinfo=UTC)
    d.command("/loop", "customer add Marlow Dental segment multi-site")
    d.command("/loop", "link Marlow Dental", channel="C1")
    d.message("C1", "Reminders went out twice", ts=f"{datetime(2026, 8, 3, 10, tzinfo=UTC).timestamp():.0f}.000001")
    for day, text in [
        (6, "The reminder texts are duplicated again"),
        (13, "Double reminders confuse patients"),
        (20, "How do we change the reminder wording?"),
        (27, "Can reminders be sent in Welsh?"),
    ]:
        r.clock.now = datetime(2026, 10, day, 10, tzinfo=UTC)
        d.message("C1", text, ts=f"{r.clock.now.timestamp():.0f}.000100")
    r.clock.now = datetime(2026, 10, 14, 9, tzinfo=UTC)
    d.command("/milestone", "done Marlow Dental 1")
    d.command("/milestone", "risk Marlow Dental 2 the waiting list import is stuck")
    r.clock.now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    from bot import review

    with r.sf() as s:
        c = s.scalar(select(Customer))
        rv = review.build(s, c, review.parse_quarter("2026-Q4", r.clock.now), r.clock.now)
    assert [t for t, _, _ in rv.achieved] == ["Every site books from one shared calendar"]
    assert rv.achieved[0][2] is not None  # its impact review is due: a verdict with evidence
    assert rv.at_risk[0] == (
        "Cancelled slots are offered to the waiting list automatically",
        "the waiting list import is stuck",
    )
    assert ("Patients confirm or move appointments themselves by text", "overdue since Sep 14") in rv.at_risk
    assert rv.signals == 4 and rv.signals_before == 1 and rv.kinds["question"] == 2
    assert any(theme.startswith("reminder") for theme, _, _ in rv.themes)
    assert any("change the reminder wording" in q.text for q in rv.asked)
    md = review.markdown(rv)
    for heading in (
        "Milestones achieved",
        "At risk or stalled",
        "What they said",
        "Decisions and whether they held",
        "Outcomes they were told about",
        "Open questions for the meeting",
    ):
        assert f"## {heading}" in md
    assert "4 signals (+300% on last quarter)" in md
    # in Slack: posted in the channel, the Markdown and the chart in its thread
    r.slack.reset()
    d.command("/loop", "review Marlow Dental 2026-Q4", channel="C1")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(r.slack.calls("files.completeUploadExternal")) < 2:
        time.sleep(0.05)
    [post] = [c for c in r.slack.calls("chat.postMessage") if c.args["channel"] == "C1"]
    assert "quarterly review 2026-Q4" in all_text([("", post.args["blocks"])])
    assert len(r.slack.calls("files.completeUploadExternal")) == 2
    assert "is not a quarter" in d.command("/loop", "review Marlow Dental 2026-Q9").json()["text"]
    if db_url.startswith("sqlite"):
        out = cli(["review", "--customer", "Marlow Dental", "--quarter", "2026-Q4"], db_url)
        assert out.returncode == 0 and "## What they said" in out.stdout
