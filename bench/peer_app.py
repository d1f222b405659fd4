"""The hand-written peer: what a Python team would write from Bolt's and SQLAlchemy's docs to store every message.

Bolt's WSGI adapter under the same production server as `signalloop run` (waitress, 16 threads), a `message`
listener that runs one INSERT and one COMMIT per message into a table with a unique key (a Slack retry is not
stored twice), and Bolt's acknowledgement only after the commit (`process_before_response=True`). No routing,
no classification, no full-text index: the baseline signalloop's ingestion is measured against.

Its engine is `create_engine(DATABASE_URL)` as the docs write it. On SQLite that means the driver's defaults
(synchronous=FULL: every commit is flushed to disk; the file is in WAL mode because signalloop, which shares it,
set that), where signalloop's engine sets synchronous=NORMAL (bot-side durability: storage/db.py). PostgreSQL
has nothing to tune per connection: both commit the same way there.
"""

from __future__ import annotations

import os
import sys

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, UniqueConstraint, create_engine
from sqlalchemy.dialects import postgresql, sqlite

from entry.app import http_handler
from entry.server import make_server

metadata = MetaData()
messages = Table(
    "peer_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", String(32), nullable=False),
    Column("channel_id", String(32), nullable=False),
    Column("ts", String(64), nullable=False),
    Column("user_id", String(32)),
    Column("text", Text, nullable=False),
    UniqueConstraint("team_id", "channel_id", "ts", name="uq_peer_messages"),
)


def main() -> None:
    port = int(sys.argv[1])
    engine = create_engine(os.environ["DATABASE_URL"])  # as SQLAlchemy's docs show it: no tuning
    metadata.create_all(engine)
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(messages).on_conflict_do_nothing(index_elements=["team_id", "channel_id", "ts"])
    client = WebClient(token="xoxb-bench", base_url=os.environ["SLACK_API_URL"])
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=client,
        process_before_response=True,
        token_verification_enabled=False,
    )

    @app.event("message")
    def store(body: dict, event: dict) -> None:
        with engine.begin() as conn:  # one INSERT, one COMMIT; Bolt acknowledges after this returns
            conn.execute(
                insert,
                {
                    "team_id": body.get("team_id") or "",
                    "channel_id": event.get("channel") or "",
                    "ts": event["ts"],
                    "user_id": event.get("user"),
                    "text": event.get("text") or "",
                },
            )

    threads = int(os.environ.get("SIGNALLOOP_HTTP_THREADS", "16"))
    make_server(http_handler(app), engine, port, threads=threads, host="127.0.0.1").run()


if __name__ == "__main__":
    main()
