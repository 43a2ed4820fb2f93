"""cProfile of requests through the Flask test client, against the benchmark's database."""

import cProfile
import io
import pstats
import re
import time
from collections import defaultdict

from sqlalchemy import event

from bench.load import Target
from bench.server import ROOT

SITE_PACKAGES = re.compile(r"\S*/site-packages/")


class SqlTimer:
    """Time every statement the engine runs, grouped by statement text."""

    def __init__(self, engine) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.times[statement].append(time.perf_counter() - conn.info.pop("bench_started"))

    def report(self, requests: int, top: int = 4) -> None:
        """Print statements and time per request, the slowest first."""
        total = sum(sum(t) for t in self.times.values())
        count = sum(len(t) for t in self.times.values())
        print(f"--- SQL: {count / requests:.1f} statements, {total / requests * 1000:.1f} ms per request ---")
        for statement, times in sorted(self.times.items(), key=lambda item: -sum(item[1]))[:top]:
            text = " ".join(statement.split())
            text = text if len(text) <= 150 else f"{text[:70]} … {text[-75:]}"
            print(f"  {sum(times) / requests * 1000:7.2f} ms  {len(times) / requests:4.1f}×  {text}")
        self.times.clear()


def _print_stats(profiler: cProfile.Profile, sort: str, restriction: str | None, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats(sort)
    stats.print_stats(*([restriction] if restriction else []), top)
    text = out.getvalue()
    text = SITE_PACKAGES.sub("", text[text.find("   ncalls") :].rstrip())
    print(text.replace(f"{ROOT}/", ""))


def profile_targets(database_url: str, targets: list[Target], requests: int = 20, top: int = 12) -> None:
    """Print, per target: time per request in-process, its SQL, own time by function, our code cumulative."""
    from notifier import create_app
    from notifier.db import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    client = app.test_client()
    with app.app_context():
        sql = SqlTimer(db.engine)
    for target in targets:
        headers = {"Accept-Language": "ru", **target.headers}
        for _ in range(3):  # warm caches: templates, compiled SQL, translations
            client.get(target.path, headers=headers)
        sql.times.clear()
        started = time.perf_counter()
        for _ in range(requests):
            status = client.get(target.path, headers=headers).status_code
        plain_ms = (time.perf_counter() - started) / requests * 1000
        print(f"\n=== profile {target.name}: {target.path} -> {status}, {plain_ms:.1f} ms/request in-process ===")
        sql.report(requests)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            client.get(target.path, headers=headers)
        profiler.disable()
        print(f"--- own time, {requests} requests under cProfile ---")
        _print_stats(profiler, "tottime", None, top)
        print("--- cumulative, our code (announcements/, notifier/, templates/) ---")
        _print_stats(profiler, "cumulative", rf"{ROOT}/(announcements|notifier|templates)/", top)
    with app.app_context():
        db.engine.dispose()
