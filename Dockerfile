# signalloop: the Slack app in HTTP mode (or Socket Mode with SLACK_APP_TOKEN).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY prompts ./prompts
RUN pip install . && useradd --system --uid 10001 signalloop
USER signalloop

ENV SIGNALLOOP_PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"SIGNALLOOP_PORT\"]}/healthz', timeout=4)"
# `run` applies pending migrations before it serves (instances take turns on a PostgreSQL lock)
CMD ["signalloop", "run"]
