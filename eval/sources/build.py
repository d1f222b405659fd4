"""Rebuild the samples in eval/sources/ from snapshots of the public repositories they come from.

python -m eval.sources.build MIRROR_DIR   (MIRROR_DIR holds owner+name/repo git directories, e.g. /work/.mirror)

Each source: the repository, the commit read, its licence, and how its labels map to our six kinds are in
eval/sources/README.md. Only what the licence allows is kept, and only a sample: the repository stays small.
Run once by hand; the eval reads the .jsonl files, never the network.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261207

BANKING77 = ("PolyAI-LDN/task-specific-datasets", "57ec275d8078af65b7731c2a98be812d844a6d6b")
IS22 = ("jsdabrowski/IS-22", "2b685b1442001b665f5275cd29954f13f6a954ec")
WEBAPPS = ("sebischair/NLU-Evaluation-Corpora", "9bac08b980f0f570c4166e2d7243c2971df50d8f")
FINEGRAINED = ("oscartackstrom/sentence-sentiment-data", "da58c4d997c31aec2e61dc0178eb0863330bb21e")

# banking77 intent -> our kind; intents whose queries mix kinds (a card that has not arrived yet may be a
# question or a problem, "I want a virtual card" an ask or a question) are left out, not guessed
BANKING_KINDS = {
    "churn-risk": ["terminate_account"],
    "problem": [
        "card_not_working",
        "contactless_not_working",
        "virtual_card_not_working",
        "declined_card_payment",
        "declined_cash_withdrawal",
        "declined_transfer",
        "failed_transfer",
        "top_up_failed",
        "top_up_reverted",
        "card_swallowed",
        "wrong_amount_of_cash_received",
        "card_payment_wrong_exchange_rate",
        "wrong_exchange_rate_for_cash_withdrawal",
        "transaction_charged_twice",
        "transfer_not_received_by_recipient",
        "balance_not_updated_after_bank_transfer",
        "Refund_not_showing_up",
        "unable_to_verify_identity",
        "card_payment_not_recognised",
        "cash_withdrawal_not_recognised",
        "direct_debit_payment_not_recognised",
        "compromised_card",
        "beneficiary_not_allowed",
        "reverted_card_payment?",
    ],
    "question": [
        "activate_my_card",
        "age_limit",
        "atm_support",
        "card_acceptance",
        "country_support",
        "exchange_rate",
        "exchange_via_app",
        "exchange_charge",
        "fiat_currency_support",
        "supported_cards_and_currencies",
        "top_up_limits",
        "top_up_by_card_charge",
        "top_up_by_bank_transfer_charge",
        "top_up_by_cash_or_cheque",
        "transfer_timing",
        "verify_my_identity",
        "why_verify_identity",
        "disposable_card_limits",
        "receiving_money",
        "transfer_into_account",
        "automatic_top_up",
        "visa_or_mastercard",
    ],
}
PER_INTENT = {"churn-risk": 60, "problem": 10, "question": 9}


def git_show(mirror: Path, repo: tuple[str, str], path: str) -> bytes:
    d = mirror / repo[0].replace("/", "+") / "repo"
    return subprocess.run(["git", "-C", str(d), "show", f"{repo[1]}:{path}"], check=True, capture_output=True).stdout


def banking77(mirror: Path) -> list[dict]:
    rows = []
    for part in ("test", "train"):
        text = git_show(mirror, BANKING77, f"banking_data/{part}.csv").decode("utf-8")
        rows += list(csv.DictReader(io.StringIO(text)))
    by_intent: dict[str, list[str]] = {}
    for r in rows:
        by_intent.setdefault(r["category"], []).append(" ".join(r["text"].split()))
    rnd = random.Random(SEED)
    out = []
    for kind, intents in BANKING_KINDS.items():
        for intent in intents:
            texts = sorted(set(by_intent[intent]))
            for t in rnd.sample(texts, min(PER_INTENT[kind], len(texts))):
                out.append({"text": t, "kind": kind, "sentiment": None, "label": intent})
    rnd.shuffle(out)
    return out


_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def _xlsx_rows(data: bytes) -> list[dict[str, str | None]]:
    """The first sheet of an .xlsx as rows of {column letter: text} (no spreadsheet library needed)."""
    z = zipfile.ZipFile(io.BytesIO(data))
    shared = ["".join(t.text or "" for t in si.iter(_NS + "t")) for si in ET.fromstring(z.read("xl/sharedStrings.xml"))]
    rows = []
    for r in ET.fromstring(z.read("xl/worksheets/sheet1.xml")).iter(_NS + "row"):
        row: dict[str, str | None] = {}
        for c in r.findall(_NS + "c"):
            col = re.match(r"[A-Z]+", c.get("r", "")).group(0)
            v = c.find(_NS + "v")
            row[col] = (
                shared[int(v.text)] if c.get("t") == "s" and v is not None else (v.text if v is not None else None)
            )
        rows.append(row)
    return rows


def is22(mirror: Path) -> list[dict]:
    """App-review sentences with the features their annotators found praised or criticised: only positive
    opinions -> praise (+1), only negative -> problem (-1); mixed or neutral sentences are left out."""
    path = "Study 1 - Opinion Mining/Dataset/Ground truth - annotated reviews/Ground_truth.xlsx"
    out = []
    for r in _xlsx_rows(git_show(mirror, IS22, path))[1:]:
        text = " ".join((r.get("D") or "").split())
        pos, neg = bool(r.get("E")), bool(r.get("G"))
        if not text or pos == neg:
            continue
        kind, sentiment = ("praise", 1) if pos else ("problem", -1)
        out.append({"text": text, "kind": kind, "sentiment": sentiment, "label": "positive" if pos else "negative"})
    return out


# Web Applications corpus intent -> our kind: by the labelling rule, looking for an alternative to a service
# (evaluating a competitor), deleting the account and exporting all one's data are churn signals. The other
# intents mix how-to questions with problems ("Google Calendar not syncing…", "users can't reset their
# passwords anymore?") and are left out rather than guessed, as is "None".
WEBAPPS_KINDS = {"Find Alternative": "churn-risk", "Delete Account": "churn-risk", "Export Data": "churn-risk"}


def webapps(mirror: Path) -> list[dict]:
    """Questions asked on webapps.stackexchange.com (Braun et al., SIGdial 2017), the churn-risk intents."""
    data = json.loads(git_show(mirror, WEBAPPS, "WebApplicationsCorpus.json"))
    out = []
    for s in data["sentences"]:
        kind = WEBAPPS_KINDS.get(s["intent"])
        if kind:
            text = " ".join(s["text"].split())
            out.append({"text": text, "kind": kind, "sentiment": None, "label": s["intent"]})
    return out


# the product-review domains of the finegrained set whose sentences are about a product people use (books,
# films and music are reviewed for their content)
FINEGRAINED_DOMAINS = ("electronics", "videogames")


def finegrained(mirror: Path) -> list[dict]:
    """Product-review sentences annotated for sentiment one by one (Täckström & McDonald, ECIR 2011): positive
    -> praise (+1), negative -> problem (-1); neutral, mixed and no-sentiment sentences are left out."""
    text = git_show(mirror, FINEGRAINED, "data/finegrained.txt").decode("utf-8")
    out, domain = [], None
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 2:
            continue
        label, content = parts[0], " ".join(parts[1].split())
        if label in ("books", "dvds", "electronics", "music", "videogames"):
            domain = label
        elif domain in FINEGRAINED_DOMAINS and label in ("pos", "neg") and content:
            kind, sentiment = ("praise", 1) if label == "pos" else ("problem", -1)
            out.append({"text": content, "kind": kind, "sentiment": sentiment, "label": f"{domain}/{label}"})
    return out


# The labelling rule (eval/README.md) applied to the sources' own labels: sentences that say the customer is
# leaving, returning the product, wants the money back or will not buy again are churn-risk, whatever the
# dataset's sentiment label. Found by searching every kept sentence for uninstall, unsubscribe, cancel,
# switch, return, refund, never buy, get rid, alternative and competitor, each match read and judged by the rule
# (2026-12-07); the matches left as they were are problems about uninstalling or unsubscribing, or praise.
CHURN_BY_RULE = {
    "Very disappointed thinking of cancelling subscription",
    "If I could, I would like to return it or exchange for something better.",
    "They seemed really flimsy, even though they were the 25th anniversary edition which was a contributing factor "
    "for me returning them.",
    "I'll never buy another moto",
    "I will return this one and gladly pay more to get rid of this crap.",
    "If I could return it and get a refund I would.",
    "The 40 bucks I spent for this game is sorley missed, refund is desired k thanks.",
}


def by_rule(rows: list[dict]) -> list[dict]:
    return [dict(r, kind="churn-risk") if r["text"] in CHURN_BY_RULE else r for r in rows]


def write(name: str, rows: list[dict]) -> None:
    with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{name}: {len(rows)} rows", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    mirror = Path(args[0] if args else "/work/.mirror")
    write("banking77", banking77(mirror))
    write("app_reviews_is22", by_rule(is22(mirror)))
    write("webapps_stackexchange", by_rule(webapps(mirror)))
    write("product_reviews_finegrained", by_rule(finegrained(mirror)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
