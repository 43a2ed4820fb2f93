"""The scheduler process: short interval jobs that claim their work from the database."""

import logging
import signal
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import current_app
from sqlalchemy import text

from notifier import dispatch
from notifier.db import db, utcnow

log = logging.getLogger("habarlama.worker")


def run_job(app, name: str, func) -> None:
    """Run one job in its own app context and commit what it did."""
    with app.app_context():
        try:
            done = func(utcnow())
            db.session.commit()
            if done:
                log.info("%s: %s", name, done)
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", name)
        finally:
            db.session.remove()


def run(once: bool = False) -> None:
    """Run every registered job on its interval until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = current_app._get_current_object()
    jobs = app.extensions.get("habarlama.jobs", [])
    if once:
        for name, func, _seconds in jobs:
            run_job(app, name, func)
        return
    # One thread: a job finishes its batch before the next starts, so shutdown waits for it.
    scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)}, job_defaults={"coalesce": True})
    for name, func, seconds in jobs:
        scheduler.add_job(
            run_job, "interval", seconds=seconds, args=[app, name, func], id=name, max_instances=1,
            next_run_time=datetime.now(UTC),  # first run at start, not one interval later
        )  # fmt: skip

    def stop(signum, frame):
        if dispatch.STOP.is_set():  # repeated: the first signal's handler is still waiting for the job in flight
            log.info("signal %s: already stopping", signum)
            return
        dispatch.STOP.set()  # dispatch finishes the request in flight and hands the rest back to the queue
        log.info("signal %s: finishing the job in flight, then exiting", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("worker started with jobs: %s", ", ".join(name for name, _f, _s in jobs))
    scheduler.start()


def analyze_sqlite(now) -> int:
    """Keep SQLite's planner statistics fresh (PostgreSQL's autovacuum does this by itself)."""
    if db.engine.dialect.name != "sqlite":
        return 0
    db.session.execute(text("PRAGMA analysis_limit=1000"))
    db.session.execute(text("ANALYZE"))
    return 1
