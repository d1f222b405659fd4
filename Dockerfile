# signalloop: the Slack app in HTTP mode (or Socket Mode with SLACK_APP_TOKEN).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY entry ./entry
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY prompts ./prompts
COPY devtools ./devtools
# the app's user owns /data, the volume its SQLite file lives on (when DATABASE_URL is not PostgreSQL)
RUN pip install . && useradd --system --uid 10001 signalloop \
  && mkdir -p /data && chown signalloop:signalloop /data
USER signalloop
VOLUME /data

# in a container the server must listen on every interface to be reachable through the published port
ENV SIGNALLOOP_PORT=3000 SIGNALLOOP_HOST=0.0.0.0 DATABASE_URL=sqlite:////data/signalloop.db
EXPOSE 3000
# /healthz answers in HTTP mode and in Socket Mode (503 while the database or Slack's socket is down)
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"SIGNALLOOP_PORT\"]}/healthz', timeout=4)"
# SIGTERM: stop accepting, finish the requests in flight (up to 20 s), then exit; give it that long
STOPSIGNAL SIGTERM
# `run` applies pending migrations before it serves (instances take turns on a PostgreSQL lock)
CMD ["signalloop", "run"]
