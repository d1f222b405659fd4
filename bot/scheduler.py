"""APScheduler 3.x with its SQLAlchemy job store on DATABASE_URL; the jobs are plain functions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings

if TYPE_CHECKING:
    from bot.app import Deps

log = logging.getLogger(__name__)


def make_scheduler(engine: Engine) -> BackgroundScheduler:
    """A scheduler whose jobs live in the app's own database, so schedules survive restarts."""
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone="UTC",
    )


def start_scheduler(settings: Settings, engine: Engine, sf: sessionmaker[Session], deps: Deps
                    ) -> BackgroundScheduler:
    scheduler = make_scheduler(engine)
    register_jobs(scheduler, settings, sf, deps)
    scheduler.start()
    return scheduler


def register_jobs(scheduler: BackgroundScheduler, settings: Settings, sf: sessionmaker[Session],
                  deps: Deps) -> None:
    """Wire the periodic jobs (filled in by the digest runner when it exists)."""
    runner = getattr(deps, "digest_runner", None)
    if runner is not None:
        runner.register(scheduler)
