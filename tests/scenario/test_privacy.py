"""Nothing personal reaches the model unless the workspace allows it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.redact import redact
from devtools.fakeopenai import FakeOpenAI, good_answer
from storage.models import DigestRun
from tests.conftest import TEAM, Running
from tests.helpers import run_signalloop
from tests.scenario.test_digest import ROOT, all_text, at, ts

# (text, what must be gone, what must stay)
SNIPPETS = [
    ("call me on 07700 900123 after lunch", ["07700 900123"], ["after lunch"]),
    ("ring +44 7700 900123 tomorrow", ["+44 7700 900123"], ["tomorrow"]),
    ("our office line is 020 7946 0958", ["020 7946 0958"], []),
    ("call 0044 20 7946 0958 ext 4", ["0044 20 7946 0958"], []),
    ("(415) 555-0132 is my cell", ["(415) 555-0132"], ["is my cell"]),
    ("reach me at +1 415 555 0132", ["+1 415 555 0132"], []),
    ("call me: 555-0132", ["555-0132"], []),
    ("Tel. 030 12345678 in Berlin", ["030 12345678"], ["Berlin"]),
    ("Handy +49 170 1234567", ["+49 170 1234567"], []),
    ("mobile 98765 43210", ["98765 43210"], []),
    ("WhatsApp +91 98765 43210 please", ["+91 98765 43210"], []),
    ("mail jane.doe+billing@acme.co.uk about it", ["jane.doe+billing@acme.co.uk"], ["about it"]),
    ("<mailto:bob@x.io|bob@x.io> wrote to us", ["bob@x.io"], ["wrote to us"]),
    ("cc finance@tallwood-dental.com", ["finance@tallwood-dental.com"], []),
    ("card 4111 1111 1111 1111 was declined", ["4111 1111 1111 1111"], ["declined"]),
    ("used 5500-0000-0000-0004 for the deposit", ["5500-0000-0000-0004"], ["deposit"]),
    ("card ending 4111111111111111 charged twice", ["4111111111111111"], ["charged twice"]),
    ("IBAN GB82 WEST 1234 5698 7654 32 for refunds", ["GB82 WEST 1234 5698 7654 32"], ["refunds"]),
    ("pay to DE89370400440532013000 please", ["DE89370400440532013000"], []),
    ("<@U04ABCD> said the export failed", ["<@U04ABCD>"], ["the export failed"]),
    ("see <https://drive.example.com/private/xyz|the sheet>", ["drive.example.com", "the sheet"], []),
    # look like numbers, are not personal: they stay
    ("order #4829311 shipped late", [], ["#4829311"]),
    ("invoice 2026-000123 is wrong", [], ["2026-000123"]),
    ("ticket 123456789 still open", [], ["123456789"]),
    ("due 2026-11-23 for the rollout", [], ["2026-11-23"]),
    ("released 11/23/2026", [], ["11/23/2026"]),
    ("upgraded to v3.14.159 last night", [], ["v3.14.159"]),
    ("price went to $1,299.00 per seat", [], ["$1,299.00"]),
    ("PO 4500123456 is stuck", [], ["4500123456"]),
    ("card 4111 1111 1111 1112 is not a real one", [], ["4111 1111 1111 1112"]),
    ("we have 1500 users across 12 sites", [], ["1500", "12 sites"]),
    ("1234567890 rows exported overnight", [], ["1234567890"]),
    ("build 20261123.4 failed", [], ["20261123.4"]),
    ("our account number 12345678 at the bank", [], ["12345678"]),
]


@pytest.mark.parametrize("text,gone,kept", SNIPPETS)
def test_what_is_redacted_and_what_is_not(text: str, gone: list[str], kept: list[str]) -> None:
    out, n = redact(text)
    for g in gone:
        assert g not in out, (text, out)
    for k in kept:
        assert k in out, (text, out)
    assert n == len(gone) or (gone and n >= 1), (text, out)
    assert ("[" in out) == bool(gone)


def test_the_table_is_large_enough() -> None:
    assert len(SNIPPETS) >= 30


def test_placeholders_are_stable_within_one_prompt() -> None:
    from bot.redact import Redactor

    r = Redactor()
    a = r("call 07700 900123 or mail a@b.co")
    b = r("again: 07700 900123, and c@d.co")
    assert a == "call [phone 1] or mail [email 1]" and b == "again: [phone 1], and [email 2]"
    assert r.total == 4 and r.counts["phone"] == 2


PERSONAL = [
    "Please call me on 07700 900123 about the double reminders",
    "Send the refund to GB82 WEST 1234 5698 7654 32, card 4111 1111 1111 1111 was charged twice",
    "Their billing contact is jane.doe+billing@tallwood.co.uk",
]


@pytest.fixture
def llm_app(start_app, openai_server: FakeOpenAI) -> Running:  # noqa: ANN001
    return start_app(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=openai_server.base_url, SIGNALLOOP_LLM_TIMEOUT="2")


@pytest.fixture
def openai_server():  # noqa: ANN201
    srv = FakeOpenAI().start()
    yield srv
    srv.stop()


def week_with_personal_data(r: Running) -> None:
    r.clock.now = at(16, 9)
    r.driver.command("/loop", "customer add Tallwood Dental Group")
    r.driver.command("/loop", "link Tallwood Dental Group", channel="C1")
    for i, text in enumerate(PERSONAL):
        r.driver.message("C1", text, ts=ts(18, 10, i), user="U2")
    r.driver.command("/loop", "digest schedule friday 15:00 UTC", channel="C1")
    r.clock.now = at(20, 15)


def test_the_prompt_holds_no_personal_data_while_the_digest_quotes_the_words(
    llm_app: Running, openai_server: FakeOpenAI
) -> None:
    r = llm_app
    week_with_personal_data(r)
    openai_server.script = [good_answer]
    res = r.deps.digest_runner.run_scheduled(TEAM, "C1")
    assert res is not None and res.status == "posted"
    prompt = json.dumps(openai_server.requests[0]["messages"])
    for secret in ("07700 900123", "GB82 WEST", "4111 1111 1111 1111", "jane.doe+billing@tallwood.co.uk"):
        assert secret not in prompt
    assert "[phone 1]" in prompt and "[iban 1]" in prompt and "[card 1]" in prompt and "[email 1]" in prompt
    posted = all_text([("", c.args["blocks"]) for c in r.slack.calls("chat.postMessage") if c.args["channel"] == "C1"])
    assert "07700 900123" in posted and ":sparkles:" in posted  # the digest quotes the original words
    with r.sf() as s:
        run = s.scalar(select(DigestRun))
        assert run.redacted == 4 and run.llm_status == "ok"


def test_redaction_can_be_turned_off_and_is_shown_in_privacy(llm_app: Running, openai_server: FakeOpenAI) -> None:
    r = llm_app
    week_with_personal_data(r)
    text = r.driver.command("/loop", "privacy").json()["text"]
    assert "Personal data redacted" in text and "*on*" in text
    assert "reach the model as typed" in r.driver.command("/loop", "privacy llm redact off").json()["text"]
    assert "*off*" in r.driver.command("/loop", "privacy").json()["text"]
    bad = r.driver.command("/loop", "privacy llm redact maybe").json()["text"]
    assert bad.startswith("Usage:")
    openai_server.script = [good_answer]
    r.deps.digest_runner.run_scheduled(TEAM, "C1")
    assert "07700 900123" in json.dumps(openai_server.requests[0]["messages"])


def test_llm_preview_prints_the_prompt_that_would_be_sent(db_url: str, running: Running) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("the CLI reads the same tables on both databases; run once")
    week_with_personal_data(running)
    env = {"DATABASE_URL": db_url, "PATH": "/usr/bin"}
    out = run_signalloop(["llm", "preview", "--channel", "C1", "--week", "2026-W47"], env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "## system" in out.stdout and "## user" in out.stdout and "4 personal data items redacted" in out.stdout
    assert "07700 900123" not in out.stdout and "[phone 1]" in out.stdout
    bad = run_signalloop(["llm", "preview", "--channel", "C1", "--week", "2026-W99"], env, cwd=ROOT)
    assert bad.returncode == 2 and "has no week 99" in bad.stderr
