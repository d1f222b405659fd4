"""A bare Bolt app with a no-op message listener, behind the same production server, thread count and health
route as `signalloop run` (the ingestion baseline)."""

from __future__ import annotations

import os
import sys

from slack_bolt import App
from slack_sdk import WebClient

from entry.app import http_handler
from entry.server import make_server
from storage import db


def main() -> None:
    port = int(sys.argv[1])
    client = WebClient(token="xoxb-bench", base_url=os.environ["SLACK_API_URL"])
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=client,
        process_before_response=True,
        token_verification_enabled=False,
    )

    @app.event("message")
    def noop() -> None:
        pass

    threads = int(os.environ.get("SIGNALLOOP_HTTP_THREADS", "16"))
    make_server(http_handler(app), db.make_engine("sqlite://"), port, threads=threads, host="127.0.0.1").run()


if __name__ == "__main__":
    main()
