"""The first hour with real data (issue 29): bulk changes that never damage silently, destructive commands that
show before they act, a careful command line, a review fit for a customer meeting, a readable terminal digest,
answers that keep the README's promise, and a first run and deployment that refuse what Slack would refuse.

Everything is driven as a person would: the CLI with a person's arguments and environment (in this process, and as
a subprocess where the process is the point), Slack through signed HTTP requests."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.impact import ImpactReview
from devtools.fakeopenai import FakeOpenAI, evidence_of
from storage.models import (
    ChannelLink,
    Customer,
    CustomerAlias,
    Milestone,
    MilestoneEvent,
    Outbox,
    Signal,
)
from tests.conftest import TEAM, Running
from tests.helpers import Ran, figure, run_signalloop, wait_for
from tests.scenario.test_digest import ROOT, ts
from tests.scenario.test_find import asked, history
from tests.scenario.test_truth import button

COLUMNS = ["name", "segment", "aliases", "outcome", "experience", "owner", "channel", "milestones"]


def cli(args: list[str], db_url: str | None, cwd: Path | None = None, stdin: str | None = None) -> Ran:
    """The command as a person runs it, with DATABASE_URL alone set; in this process (tests.helpers.run_signalloop):
    what is about the process itself (a pipe closed early, exit codes under compose) starts a real one below."""
    env = {"PATH": "/usr/bin:/bin"}
    if db_url is not None:
        env["DATABASE_URL"] = db_url
    return run_signalloop(args, env, cwd=cwd or ROOT, stdin=stdin, timeout=180)


def n(sf, table, *where) -> int:  # noqa: ANN001
    with sf() as s:
        return s.scalar(select(func.count()).select_from(table).where(*where)) or 0


def links(sf) -> dict[str, tuple[str, int | None]]:  # noqa: ANN001
    with sf() as s:
        return {lk.channel_id: (lk.kind, lk.customer_id) for lk in s.scalars(select(ChannelLink))}


def team_with_routing(r: Running) -> None:
    """Acme owns #cs-acme (C1); #feedback (C2) is the team's shared watch channel; the names come from commands."""
    d = r.driver
    d.command("/loop", "customer add Acme segment smb")
    d.command("/loop", "link Acme", channel="C1")
    d.command("/loop", "watch", channel="C2")
    d.command("/loop", "help", channel="C3")  # #general's name is seen too


def rows_csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    w.writerows(rows)
    return buf.getvalue()


PLAIN = 50  # what is checked is each row's report, not the volume: tests/scenario/test_find.py imports 300 rows


def big_file() -> tuple[str, dict[str, int]]:
    """60 rows: 50 plain new customers, and ten that re-link, duplicate, update or carry bad dates."""
    rows = [
        [f"Customer {i:03d}", "smb", "", "Close the month in a day", "", f"U{i % 4 + 1}", f"CX{i:03d}", "Go live"]
        for i in range(PLAIN)
    ]
    special = [
        ["Lunchbox Ltd", "smb", "", "", "", "", "#feedback", ""],  # the watch channel: refused without --relink
        ["Borrower Inc", "smb", "", "", "", "", "#cs-acme", ""],  # Acme's channel: refused without --relink
        ["Acme", "enterprise", "Acme Corp", "", "", "U9", "", "Champion replaced due 31/12/2026"],  # an update
        ["Twin One", "smb", "", "", "", "", "CDUP", ""],  # two rows naming one channel
        ["Twin Two", "smb", "", "", "", "", "CDUP", ""],
        ["Echo", "smb", "", "", "", "", "", ""],  # one customer twice
        ["echo", "smb", "", "", "", "", "", ""],
        ["Vague", "not a segment!", "", "", "", "nobody", "", "Kickoff due 03/04/2027"],  # every problem at once
        ["Newseg", "hospitality", "", "", "", "", "", "Pilot due Dec 31 2026"],  # an unknown segment warns
        ["Datey", "smb", "", "", "", "", "", "Onboarded due 31 Dec 2026; Due diligence done"],
    ]
    lines = {r[0]: PLAIN + i + 2 for i, r in enumerate(special)}  # the header is line 1
    return rows_csv(rows + special), lines


def test_a_60_row_import_shows_every_change_and_changes_nothing_until_confirmed(
    running: Running, db_url: str, tmp_path
) -> None:  # noqa: ANN001
    r = running
    team_with_routing(r)
    text, line = big_file()
    path = tmp_path / "customers.csv"
    path.write_text(text)
    before = links(r.sf)
    acme = before["C1"][1]
    milestones_before = n(r.sf, Milestone)
    dry = cli(["customers", "import", str(path), "--dry-run"], db_url)
    out, err = dry.stdout, dry.stderr
    assert dry.returncode == 1, err
    assert f"Dry run: {PLAIN + 2} would be created, 1 would be updated" in out and "7 rows left out" in out
    # per row, what would change
    assert "line 2 Customer 000: would be created: new customer; segment “smb”; outcome" in out
    assert "links CX000" in out and "milestone “Go live”" in out
    acme_line = next(x for x in out.splitlines() if x.strip().startswith(f"line {line['Acme']} Acme:"))
    assert "segment “smb” → “enterprise”" in acme_line and "owner — → “U9”" in acme_line
    assert "alias “Acme Corp”" in acme_line and "milestone “Champion replaced” (due 2026-12-31)" in acme_line
    assert f"line {line['Datey']} Datey: would be created" in out and "“Onboarded” (due 2026-12-31)" in out
    assert "milestone “Due diligence done”" in out  # "due" without a date is part of the title
    assert f"line {line['Newseg']} Newseg: warning: segment “hospitality” is new" in out
    # the moves: refused, each saying from where and how to allow it
    assert f"line {line['Lunchbox Ltd']}: #feedback (C2) is a watch channel: pass --relink" in err
    assert f"line {line['Borrower Inc']}: #cs-acme (C1) is linked to Acme: pass --relink" in err
    # duplicates: both rows, each naming the other
    assert f"line {line['Twin One']}: channel CDUP is also on line {line['Twin Two']}" in err
    assert f"line {line['Twin Two']}: channel CDUP is also on line {line['Twin One']}" in err
    assert f"line {line['Echo']}: “Echo” is also on line {line['echo']}" in err
    assert f"line {line['echo']}: “echo” is also on line {line['Echo']}" in err
    # every problem of a row, and a date that could be March or April says which forms work
    vague = next(x for x in err.splitlines() if f"line {line['Vague']}:" in x)
    assert "must be one word" in vague and "“nobody” is neither" in vague
    assert "“03/04/2027” is ambiguous" in vague and "31 Dec 2026" in vague
    # nothing changed
    assert links(r.sf) == before and n(r.sf, Customer) == 1 and n(r.sf, Milestone) == milestones_before
    with r.sf() as s:
        assert s.get(Customer, acme).segment == "smb"
    # applied without --relink: the refused rows are left out, the watch channel and Acme's link stay
    res = cli(["customers", "import", str(path)], db_url)
    assert res.returncode == 1 and f"{PLAIN + 2} created, 1 updated, 0 unchanged; 7 rows left out" in res.stdout
    assert "re-run with --relink" in res.stderr
    after = links(r.sf)
    assert after["C2"] == ("watch", None) and after["C1"] == ("customer", acme)
    with r.sf() as s:
        champion = s.scalar(select(Milestone).where(Milestone.title == "Champion replaced"))
        assert champion is not None and champion.due_date.isoformat() == "2026-12-31"
    # with --relink, the moves are made and said
    moved = cli(["customers", "import", str(path), "--relink"], db_url)
    assert "2 links moved" in moved.stdout
    assert "moves the link of #feedback (C2) from the watch channel" in moved.stdout
    assert "moves the link of #cs-acme (C1) from Acme" in moved.stdout
    final = links(r.sf)
    with r.sf() as s:
        lunch = s.scalar(select(Customer.id).where(Customer.name == "Lunchbox Ltd"))
        borrower = s.scalar(select(Customer.id).where(Customer.name == "Borrower Inc"))
    assert final["C2"] == ("customer", lunch) and final["C1"] == ("customer", borrower)
    figure(
        f"{PLAIN + 10}-row customers file: the dry run listed every created and updated row, 2 refused re-links and 4 "
        "duplicate rows, and changed nothing; --relink moved the 2 links and said from where"
    )


def submit(r: Running, callback_id: str, values: dict, metadata: str = "") -> dict:
    return r.driver.submit_view(callback_id, values, metadata).json()


def checked(r: Running, values: dict) -> dict:
    """Submit the first step; the check runs after the answer (Slack waits 3 s) and updates the modal."""
    r.slack.reset()
    resp = submit(r, "import_modal", values)
    assert resp["response_action"] == "update"
    return wait_for(lambda: (r.slack.calls("views.update") or [None])[-1]).args["view"]


def applied(r: Running, metadata: str) -> str:
    r.slack.reset()
    submit(r, "import_apply", {}, metadata)
    dm = wait_for(lambda: [c for c in r.slack.calls("chat.postMessage") if "imported" in c.args.get("text", "")])
    return dm[-1].args["text"]


def test_the_import_modal_shows_each_change_and_moves_links_only_when_ticked(running: Running) -> None:
    r = running
    team_with_routing(r)
    text = rows_csv(
        [
            ["Lunchbox Ltd", "smb", "", "", "", "", "#feedback", "Kickoff due 31/12/2026"],
            ["Acme", "mid-market", "", "", "", "", "", ""],
        ]
    )
    csv_value = {"csv": {"csv": {"type": "plain_text_input", "value": text}}}
    view = checked(r, csv_value)
    shown = json.dumps(view, ensure_ascii=False)
    assert "segment “smb” → “mid-market”" in shown and "#feedback (C2) is a watch channel" in shown
    assert "0 created, 1 updated" in applied(r, view["private_metadata"])
    assert links(r.sf)["C2"] == ("watch", None)  # not ticked: the watch channel stays
    assert n(r.sf, Customer, Customer.name == "Lunchbox Ltd") == 0
    ticked = {**csv_value, "relink": {"relink": {"type": "checkboxes", "selected_options": [{"value": "relink"}]}}}
    view = checked(r, ticked)
    shown = json.dumps(view, ensure_ascii=False)
    assert "moves the link of #feedback (C2) from the watch channel" in shown
    assert "Kickoff” (due 2026-12-31)" in shown
    assert links(r.sf)["C2"] == ("watch", None)  # the check writes nothing
    assert "1 link moved" in applied(r, view["private_metadata"])
    with r.sf() as s:
        lunch = s.scalar(select(Customer.id).where(Customer.name == "Lunchbox Ltd"))
    assert links(r.sf)["C2"] == ("customer", lunch)


# --- 2. destructive commands show before they act ------------------------------------------------------------


def customer_with_everything(r: Running) -> None:
    """Harbor Legal (alias Harbor): a linked channel, milestones, signals, a decision and the DMs it queued."""
    d = r.driver
    d.command("/loop", "customer add Harbor Legal segment smb")
    d.command("/loop", "customer alias Harbor Legal Harbor")
    d.command("/loop", "customer add Bystander")
    d.command("/loop", "link Harbor Legal", channel="C1")
    d.command("/signal", "Bystander their export works", channel="C3")
    for i in range(3):
        d.message("C1", f"The intake form lost a matter again ({i})", ts=ts(17, 10, i), user=f"U{i + 2}")
    d.command("/milestone", "done Harbor 1", channel="C1")  # queues "what came of your signal" DMs


def footprint(r: Running, cid: int) -> dict[str, int]:
    return {
        "aliases": n(r.sf, CustomerAlias, CustomerAlias.customer_id == cid),
        "links": n(r.sf, ChannelLink, ChannelLink.customer_id == cid),
        "milestones": n(r.sf, Milestone, Milestone.customer_id == cid),
        "signals": n(r.sf, Signal, Signal.customer_id == cid),
        "customer": n(r.sf, Customer, Customer.id == cid),
    }


def test_purge_shows_everything_it_would_delete_and_deletes_it_whole_with_yes(running: Running, db_url: str) -> None:
    r = running
    customer_with_everything(r)
    with r.sf() as s:
        cid = s.scalar(select(Customer.id).where(Customer.name == "Harbor Legal"))
        other = s.scalar(select(Customer.id).where(Customer.name == "Bystander"))
    outbox = n(r.sf, Outbox)
    assert outbox > 0 and footprint(r, cid)["signals"] == 3
    was = footprint(r, cid)
    preview = cli(["purge", "--customer", "harbor"], db_url)
    assert preview.returncode == 0, preview.stderr
    out = preview.stdout
    assert out.startswith("“harbor” is an alias of Harbor Legal.")
    for item in ("the customer Harbor Legal", "1 alias: Harbor", "1 channel link: C1", "3 signals", "outbox row"):
        assert item in out, item
    assert f"{was['milestones']} milestones and their history" in out
    assert "Nothing was deleted: run it again with --yes" in out
    assert footprint(r, cid) == was and n(r.sf, Outbox) == outbox  # a preview deletes nothing
    done = cli(["purge", "--customer", "Harbor", "--yes"], db_url)
    assert done.returncode == 0 and "Deleted Harbor Legal: 3 signals" in done.stdout
    assert set(footprint(r, cid).values()) == {0}
    with r.sf() as s:
        assert s.scalar(select(func.count()).select_from(MilestoneEvent)) == 0 or all(
            e.milestone.customer_id != cid for e in s.scalars(select(MilestoneEvent))
        )
        left = [o.dedupe_key for o in s.scalars(select(Outbox))]
    assert not left, left  # every queued DM was about Harbor Legal's milestone
    assert footprint(r, other)["customer"] == 1 and footprint(r, other)["signals"] == 1  # nobody else's data
    # the channel records nothing for the deleted customer any more
    r.driver.message("C1", "Anyone for lunch?", ts=ts(18, 12))
    assert n(r.sf, Signal, Signal.channel_id == "C1") == 0
    gone = cli(["purge", "--customer", "Harbor"], db_url)
    assert gone.returncode == 2 and "no customer or alias is called “Harbor”" in gone.stderr


def test_loop_forget_previews_and_only_the_confirm_button_deletes(running: Running) -> None:
    r = running
    customer_with_everything(r)
    with r.sf() as s:
        cid = s.scalar(select(Customer.id).where(Customer.name == "Harbor Legal"))
    resp = r.driver.command("/loop", "forget Harbor confirm", channel="C3").json()
    text = resp["text"]
    assert "“Harbor” is an alias of Harbor Legal." in text and "3 signals" in text and "1 alias: Harbor" in text
    assert footprint(r, cid)["signals"] == 3  # typing "confirm" deletes nothing: the button does
    [btn] = [e for b in resp["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert btn["style"] == "danger" and btn["confirm"]["confirm"]["text"] == "Delete"
    button(r, "forget_confirm", btn["value"], channel="C3")
    assert set(footprint(r, cid).values()) == {0}
    button(r, "forget_confirm", btn["value"], channel="C3")  # a second press finds nothing, deletes nothing
    assert n(r.sf, Customer) == 1


# --- 3. the command line as careful as the app ---------------------------------------------------------------


def test_every_bad_database_url_is_one_line_and_exit_2(tmp_path) -> None:  # noqa: ANN001
    for url, says in [
        ("sqlite://signalloop.db", "has two slashes"),
        ("nosuchdriver://x/y", "unknown database driver"),
        ("mysql://u@127.0.0.1/x", "driver that is not installed"),
        ("postgresql+psycopg://nobody@127.0.0.1:9/x", "cannot reach the database"),
        ("not a url", "must be a SQLAlchemy URL"),
    ]:
        res = cli(["export", "signals"], url, cwd=tmp_path)
        assert res.returncode == 2 and says in res.stderr, (url, res.stderr)
        assert res.stderr.count("\n") == 1 and "DATABASE_URL" in res.stderr and "Traceback" not in res.stderr
    # under compose (SIGNALLOOP_CONFIG_ERROR_EXIT=0) a configuration error stops for good; an unreachable
    # database still exits 2, so `restart: on-failure` retries until it answers
    for url, code in (("sqlite://signalloop.db", 0), ("postgresql+psycopg://nobody@127.0.0.1:9/x", 2)):
        env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": url, "SIGNALLOOP_CONFIG_ERROR_EXIT": "0"}
        res = subprocess.run(
            [sys.executable, "-m", "entry.cli", "export", "signals"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
        assert res.returncode == code and "DATABASE_URL" in res.stderr, (url, res.stderr)
    # without DATABASE_URL, a command that reads data says where it looked and creates nothing
    for args in (["export", "signals"], ["review", "--customer", "x"], ["digest", "--channel", "C1", "--print"]):
        res = cli(args, None, cwd=tmp_path)
        assert res.returncode == 2 and f"no database at {tmp_path / 'signalloop.db'}" in res.stderr
        assert "DATABASE_URL is not set, so the default sqlite:///signalloop.db" in res.stderr
    res = cli(["purge", "--customer", "x"], f"sqlite:///{tmp_path / 'typo.db'}", cwd=tmp_path)
    assert res.returncode == 2 and "(from DATABASE_URL)" in res.stderr
    assert list(tmp_path.iterdir()) == []
    # a file that is there but is no signalloop database is not turned into one
    (tmp_path / "other.db").write_bytes(b"")
    res = cli(["export", "customers"], f"sqlite:///{tmp_path / 'other.db'}", cwd=tmp_path)
    assert res.returncode == 2 and "holds no signalloop data" in res.stderr


def test_pipes_channels_since_and_classify_input(running: Running, db_url: str, tmp_path) -> None:  # noqa: ANN001
    r = running
    history(r)
    # a reader that goes away ends the command quietly
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": db_url}
    piped = subprocess.run(
        f"{sys.executable} -m entry.cli export signals | head -1",
        shell=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert piped.stdout.startswith("posted_at,customer") and "Error" not in piped.stderr, piped.stderr
    # --since as search takes it
    recent = cli(["export", "signals", "--since", "30d", "--format", "jsonl"], db_url)
    assert recent.returncode == 0 and len(recent.stdout.splitlines()) == 5, recent.stderr
    bad = cli(["export", "signals", "--since", "lately"], db_url)
    assert bad.returncode == 2 and "30d" in bad.stderr
    # --channel: a #name the database knows, an unknown one is an error (not a portfolio digest under its name)
    named = cli(["digest", "--channel", "#cs-acme", "--print"], db_url)
    assert named.returncode == 0 and "#cs-acme" in named.stdout, named.stderr
    for unknown in ("#cs-leads", "C0NOPE"):
        res = cli(["digest", "--channel", unknown, "--print"], db_url)
        assert res.returncode == 2 and "the database knows no" in res.stderr and "#cs-acme" in res.stderr
        assert res.stdout == ""
    preview = cli(["llm", "preview", "--channel", "cs-acme"], db_url)
    assert preview.returncode == 0 and "C1" in preview.stdout
    if not db_url.startswith("sqlite"):
        return
    # classify: a text column (or --column), an id echoed, errors on what it cannot read
    (tmp_path / "m.csv").write_text("id,Message\nA1,The export keeps failing\nA2,Love the new calendar\n")
    res = cli(["classify", str(tmp_path / "m.csv")], db_url)
    assert res.returncode == 2 and "no `text` column" in res.stderr and "Message" in res.stderr
    assert res.stdout == ""  # the header is never classified as a message
    res = cli(["classify", str(tmp_path / "m.csv"), "--column", "Message"], db_url)
    out = [json.loads(x) for x in res.stdout.splitlines()]
    assert res.returncode == 0 and [o["id"] for o in out] == ["A1", "A2"] and out[0]["kind"] == "problem"
    lines = cli(["classify"], db_url, stdin="first\n\nthird\n")
    assert [json.loads(x)["id"] for x in lines.stdout.splitlines()] == [1, 3]
    (tmp_path / "sheet.csv").write_bytes(b"PK\x03\x04\xff\xfe\x00binary")
    res = cli(["classify", str(tmp_path / "sheet.csv")], db_url)
    assert res.returncode == 2 and "not UTF-8" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"text": \n')
    res = cli(["classify", str(tmp_path / "bad.jsonl")], db_url)
    assert res.returncode == 2 and "line 2: not JSON" in res.stderr


# --- 4. a review fit for a customer meeting -------------------------------------------------------------------


def q3_customer(r: Running) -> None:
    """Marlow Dental's third quarter: the same complaint from three people, a question asked three times, a
    milestone achieved; then in October (the next quarter) milestone 2 goes at risk."""
    d = r.driver
    r.clock.now = datetime(2026, 7, 1, 9, tzinfo=UTC)
    d.command("/loop", "customer add Marlow Dental segment multi-site")
    d.command("/loop", "link Marlow Dental", channel="C1")
    n_ = 0

    def say(day: datetime, text: str, user: str) -> None:
        nonlocal n_
        n_ += 1
        d.message("C1", text, ts=f"{day.timestamp():.0f}.{n_:06d}", user=user)

    for i, user in enumerate(("U2", "U3", "U4")):
        say(datetime(2026, 8, 3 + i, 10, tzinfo=UTC), "Reminder texts still go out twice at two clinics", user)
        say(datetime(2026, 8, 10 + i, 10, tzinfo=UTC), "Can the waiting list show which hygienist they prefer?", user)
    say(datetime(2026, 9, 1, 10, tzinfo=UTC), "The shared calendar made mornings so much calmer", "U2")
    say(datetime(2026, 9, 2, 10, tzinfo=UTC), "Shared calendar sync was slow on Monday", "U3")
    r.clock.now = datetime(2026, 8, 20, 9, tzinfo=UTC)
    d.command("/milestone", "done Marlow Dental 1", channel="C1")
    r.clock.now = datetime(2026, 10, 14, 9, tzinfo=UTC)
    d.command("/milestone", "risk Marlow Dental 2 the waiting list import is stuck", channel="C1")


def test_a_past_quarters_review_quotes_once_and_states_milestones_as_they_stood(running: Running, db_url: str) -> None:
    r = running
    q3_customer(r)
    md = cli(["review", "--customer", "Marlow Dental", "--quarter", "2026-Q3"], db_url)
    assert md.returncode == 0, md.stderr
    text = md.stdout
    assert text.endswith("\n") and not text.endswith("\n\n")
    # each quote once, folded with who said it and how often
    assert text.count("Reminder texts still go out twice at two clinics") == 1
    assert text.count("which hygienist they prefer") == 1 and "3×" in text
    # no fragments as themes, "new this quarter" once
    assert "**two**" not in text and "**twice**" not in text
    assert text.count("new this quarter") == 1
    # as of the quarter's end: milestone 2 was not at risk yet on Sep 30 (it went at risk in October)
    assert "waiting list import is stuck" not in text and " — at risk" not in text, text
    assert "- 2. Cancelled slots are offered to the waiting list automatically — planned" in text
    assert "overdue since Aug 15" in text  # what was true on Sep 30: due Aug 15, not achieved
    assert "Milestones (at the quarter's end, Sep 30 2026)" in text
    # Markdown lists and quotes that render on GitHub (Slack shows the same file)
    assert "\n- 1. Every site books from one shared calendar — achieved" in text and "\n  > “" in text
    assert "•" not in text
    doc = json.loads(
        cli(["review", "--customer", "Marlow Dental", "--quarter", "2026-Q3", "--format", "json"], db_url).stdout
    )
    assert set(doc) >= {"milestones", "achieved", "kinds", "decisions", "questions", "themes", "at_risk"}
    assert doc["quarter"] == "2026-Q3" and doc["period"] == {"start": "2026-07-01", "end": "2026-09-30"}
    assert [m["status"] for m in doc["milestones"]][:2] == ["achieved", "planned"]
    assert [x["why"] for x in doc["at_risk"]] == ["overdue since Aug 15", "overdue since Sep 14"]
    [achieved] = doc["achieved"]
    assert achieved["title"] == "Every site books from one shared calendar" and achieved["verdict"] in (
        "felt",
        "not yet felt",
        "regressed",
        "no evidence",
    )
    assert doc["kinds"]["problem"]["previous_quarter"] == 0 and doc["kinds"]["problem"]["this_quarter"] >= 3
    [asked] = doc["questions"]["asked"]
    assert asked["count"] == 3 and "hygienist" in asked["text"]
    # this quarter's review shows today's risk
    now = cli(["review", "--customer", "Marlow Dental", "--quarter", "2026-Q4", "--format", "json"], db_url)
    assert any("waiting list import is stuck" in x["why"] for x in json.loads(now.stdout)["at_risk"])


# --- 5. a digest a newcomer can read ------------------------------------------------------------------------


def test_the_terminal_digest_renders_mrkdwn_and_emoji(running: Running, db_url: str, tmp_path) -> None:  # noqa: ANN001
    from bot.render.terminal import mrkdwn_to_rich

    t = mrkdwn_to_rich(":large_orange_circle: *Success gap* — _talked about_ a*b snake_case_name `code` :seedling:")
    assert t.plain == "🟠 Success gap — talked about a*b snake_case_name code 🌱"
    styles = {t.plain[s.start : s.end]: str(s.style) for s in t.spans}
    assert styles == {"Success gap": "bold", "talked about": "italic", "code": "cyan"}
    if not db_url.startswith("sqlite"):
        return
    history(running)
    out = cli(["digest", "--channel", "#cs-acme", "--print"], db_url)
    assert out.returncode == 0 and "Weekly customer loop" in out.stdout
    import re

    assert not re.search(r":[a-z_]+:", out.stdout), out.stdout  # no emoji code left raw
    assert not re.search(r"(?<!\w)\*\S[^*\n]*\S\*(?!\w)", out.stdout), out.stdout  # no *bold* markers
    # `make demo`: a newcomer's first digest says what each section means, rendered
    demo = cli(["demo", "--db", str(tmp_path / "demo.db"), "--chart", str(tmp_path / "c.png")], None, cwd=tmp_path)
    flat = " ".join(demo.stdout.split())
    assert demo.returncode == 0 and "Weekly customer loop" in flat, demo.stderr
    for explained in ("Progress vs impact: two weeks after", "Success gap: what a customer keeps", "Collecting"):
        assert explained in flat, explained
    assert ":large_orange_circle:" not in flat and "*Success gap*" not in flat


def test_a_verdict_never_reads_against_its_figures() -> None:
    at = datetime(2026, 11, 3, tzinfo=UTC)
    same = ImpactReview("Acme", 1, 1, "Shared calendar", at, 14, "regressed", 1, 3, -0.4, -0.42, 1, 3, ())
    assert "problem signals up: 1 in the 2 weeks before → 3 after" in same.evidence()
    assert "sentiment about the same (-0.4 → -0.4)" in same.evidence()
    weighed = ImpactReview("Acme", 1, 1, "Calendar", at, 14, "regressed", 1, 1, 0.1, -0.5, 2, 2, (), 1, 2)
    assert "problem signals up" in weighed.evidence() and "(1 → 2 with the customer's own words counted twice)" in (
        weighed.evidence()
    )
    assert "sentiment down (+0.1 → -0.5)" in weighed.evidence()
    felt = ImpactReview("Acme", 1, 1, "Calendar", at, 14, "felt", 3, 0, -0.5, 0.2, 3, 1, ())
    assert "problem signals down" in felt.evidence() and "sentiment up" in felt.evidence()


# --- 6. answers keep the README's promise ----------------------------------------------------------------------


@pytest.fixture
def model():  # noqa: ANN201
    """devtools' fake OpenAI-compatible server on 127.0.0.1."""
    srv = FakeOpenAI().start()
    yield srv
    srv.stop()


def test_an_invented_citation_beside_a_real_one_means_no_ai_answer(start_app, model) -> None:  # noqa: ANN001
    r: Running = start_app(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=model.base_url, SIGNALLOOP_LLM_TIMEOUT="5")
    history(r)

    def real_and_invented(request: dict) -> dict:
        real = evidence_of(request)["signals"][0]["id"]
        return {"content": json.dumps({"answer": "Two customers asked for it.", "signal_ids": [real, "S999999"]})}

    model.script = [real_and_invented]
    out = asked(r, "who asked for an offline mode?")
    assert "No AI answer: the AI answer cited a signal that was not among those sent to it" in out
    assert "Two customers asked for it" not in out and "offline mode for the clinics" in out
    # one real citation alone still gives the answer
    model.script = [
        lambda req: {
            "content": json.dumps(
                {"answer": "One clinic asked for it.", "signal_ids": [evidence_of(req)["signals"][0]["id"]]}
            )
        }
    ]
    assert "One clinic asked for it." in asked(r, "who asked for an offline mode?")


# --- 7. first run and deployment -------------------------------------------------------------------------------


def test_the_manifest_refuses_what_slack_refuses(tmp_path) -> None:  # noqa: ANN001
    for args, says in [
        (["--url", "http://localhost:3000"], "Slack only calls https:// URLs"),
        (["--url", "x.example.com"], "write it with https://, e.g. https://x.example.com"),
        (["--url", "https://x.example.com?a=1"], "public base URL only"),
        (["--url", "https://x.example.com", "--socket-mode"], "a Socket Mode app has no request or redirect URLs"),
    ]:
        res = cli(["manifest", *args], None, cwd=tmp_path)
        assert res.returncode == 2 and says in res.stderr and res.stderr.count("\n") == 1, (args, res.stderr)
    tunnel = json.loads(cli(["manifest", "--url", "http://abc.tunnel.test", "--allow-http"], None, cwd=tmp_path).stdout)
    assert tunnel["settings"]["event_subscriptions"]["request_url"] == "http://abc.tunnel.test/slack/events"
    socket = cli(["manifest", "--socket-mode"], None, cwd=tmp_path).stdout
    assert "http" not in socket.replace("https://", "").lower() or "://" not in socket
    assert "://" not in socket  # no request URL, no OAuth redirect: a Socket Mode manifest has no URL at all


def test_signalloop_host_sets_the_bind_address_and_configuration_errors_exit_2(
    db_url: str, slack, tmp_path, procs
) -> None:  # noqa: ANN001
    from tests.processes import AppProcess

    if not db_url.startswith("sqlite"):
        pytest.skip("binding is the same on both databases")
    app = AppProcess(db_url, slack, tmp_path, SIGNALLOOP_HOST="127.0.0.1")
    procs.append(app)
    app.start()
    assert app.health() == 200
    app.stop()
    assert f"listening on 127.0.0.1:{app.port}" in app.log.read_text()
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "SIGNALLOOP_HOST": "not an address!"}
    bad = subprocess.run(
        [sys.executable, "-m", "entry.cli", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": db_url, **env},
        timeout=60,
    )
    assert bad.returncode == 2 and "SIGNALLOOP_HOST must be an address to bind" in bad.stderr
    # docker-compose.yml maps a configuration error to 0 so `restart: on-failure` does not crash-loop on it
    quiet = subprocess.run(
        [sys.executable, "-m", "entry.cli", "run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": db_url, **env, "SIGNALLOOP_CONFIG_ERROR_EXIT": "0"},
        timeout=60,
    )
    assert quiet.returncode == 0 and "SIGNALLOOP_HOST" in quiet.stderr
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "restart: on-failure" in compose and 'SIGNALLOOP_CONFIG_ERROR_EXIT: "0"' in compose
    docker = (ROOT / "Dockerfile").read_text()
    assert "chown signalloop:signalloop /data" in docker and "DATABASE_URL=sqlite:////data/signalloop.db" in docker
    assert "SIGNALLOOP_HOST=0.0.0.0" in docker
    example = (ROOT / ".env.example").read_text().splitlines()
    assert example[2].startswith("SLACK_BOT_TOKEN=") and example[3].startswith("SLACK_APP_TOKEN=")


def test_a_section_is_explained_the_first_time_a_channel_sees_it(running: Running) -> None:
    from bot.weeks import week_at

    r = running
    d = r.driver
    r.clock.now = datetime(2026, 11, 16, 9, tzinfo=UTC)
    d.command("/loop", "customer add Acme")
    d.command("/loop", "link Acme", channel="C1")

    def week_of_complaints(day: int) -> str:
        for i, text in enumerate(
            ("The invoice export fails every Monday", "Invoice export broke again", "invoice export is slow")
        ):
            d.message("C1", text, ts=ts(day, 10 + i, i), user=f"U{i + 2}")
        r.clock.now = datetime(2026, 11, day + 2, 15, tzinfo=UTC)
        r.slack.reset()
        res = r.deps.digest_runner.post(TEAM, "C1", week_at(r.clock.now), late=False, requested_by=None)
        assert res.status == "posted", res
        return "\n".join(
            json.dumps(c.args.get("blocks"), ensure_ascii=False) for c in r.slack.calls("chat.postMessage")
        )

    first = week_of_complaints(17)
    assert "Success gap" in first and "Success gap: what a customer keeps talking about" in first
    second = week_of_complaints(24)
    assert "Success gap" in second and "what a customer keeps talking about" not in second
