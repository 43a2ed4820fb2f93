"""Lanes: one job run split over threads, each with its own app context, session and connection.

On PostgreSQL a worker process runs a job in several lanes so that one lane's database work
overlaps another's waiting (on the network, on the database); the lanes never take the same row
(SKIP LOCKED, or a partition of the rows). SQLite has a single writer: always one lane.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from notifier.db import db


def lane_count(setting: str) -> int:
    """Return how many lanes a job may use: the setting on PostgreSQL, 1 elsewhere."""
    if db.session.get_bind().dialect.name != "postgresql":
        return 1
    return max(1, int(current_app.config[setting]))


def run_lanes(count: int, job: Callable, *args) -> list:
    """Run job(lane, count, *args) for each lane and return the results in lane order.

    One lane runs here, in the caller's session. Several run in threads; the caller's session is
    committed first so they see what it wrote; a lane's exception is raised once every lane ended.
    """
    if count == 1:
        return [job(0, 1, *args)]
    db.session.commit()
    app = current_app._get_current_object()

    def one(lane: int):
        with app.app_context():  # its own session, removed when the lane ends
            return job(lane, count, *args)

    with ThreadPoolExecutor(count, thread_name_prefix=getattr(job, "__name__", "lane")) as pool:
        futures = [pool.submit(one, lane) for lane in range(count)]
        return [future.result() for future in futures]
