"""Fan-out of one announcement to N subscribers on PostgreSQL vs COPY of the same rows; peak RSS.

Run: .venv/bin/python bench/fanout_bench.py [--sizes 50000,200000] [--postgres URL]
Each size runs in its own process, so its peak RSS is its own. Targets: fan-out ≤ 2× COPY;
peak RSS < 200 MB and flat in the audience size.
"""

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dataset import DEFAULT_POSTGRES_URL, fresh_database  # noqa: E402

COPY_COLUMNS = (
    "event_id, subscriber_id, phone, language, purpose, with_stop_hint, urgent, status, next_attempt_at, "
    "reason, created_at"
)


def rss_mb() -> float:
    """Return this process's peak resident set size in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _subscribers(conn, size: int) -> None:
    """Load N confirmed subscribers in al-farabi following every service, with COPY (set-up, not measured)."""
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        with cur.copy("COPY subscribers (phone, language, status, created_at) FROM STDIN") as copy:
            for i in range(size):
                copy.write_row((f"+7701{i:07d}", "kk" if i % 3 == 0 else "ru", "active", "2026-11-01T00:00:00Z"))
        cur.execute("SELECT id FROM districts WHERE slug = 'al-farabi'")
        district = cur.fetchone()[0]
        cur.execute("INSERT INTO subscriber_districts SELECT id, %s FROM subscribers", (district,))
        cur.execute("INSERT INTO subscriber_departments SELECT s.id, d.id FROM subscribers s CROSS JOIN departments d")
    raw.commit()


def child(size: int, postgres_url: str) -> dict:
    """Measure one fan-out of `size` rows and a COPY of as many rows; return the figures."""
    from flask_migrate import upgrade

    from announcements import service
    from announcements.models import AnnouncementEvent
    from notifier import create_app
    from notifier.cli import load_demo_data
    from notifier.db import db, utcnow
    from subscribers import fanout
    from tests.factories import announcement_input, staff

    with fresh_database(postgres_url) as database:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.url, "QUIET_HOURS": "off"})
        with app.app_context():
            upgrade()
            load_demo_data()
            now = utcnow()
            # Published before anyone subscribed: the measured fan-out below is the whole audience.
            ann = service.create_draft(staff("water.editor"), announcement_input(), now)
            service.submit(staff("water.editor"), ann, now)
            service.approve(staff("water.approver"), ann, now)
            db.session.commit()
            event = db.session.scalar(db.select(AnnouncementEvent).where(AnnouncementEvent.kind == "published"))
            _subscribers(db.session.connection(), size)
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
            rss_before = rss_mb()
            started = time.perf_counter()
            queued = fanout.publication(event.id, ann.department_id, [d.id for d in ann.districts], False, now)
            db.session.commit()
            fanout_s = time.perf_counter() - started
            rss_after = rss_mb()
            copy_s = _copy_baseline(db, size, event.id, now + timedelta(seconds=1))
            db.session.remove()
            db.engine.dispose()
    return {
        "size": size,
        "queued": queued,
        "fanout_s": fanout_s,
        "copy_s": copy_s,
        "rss_before_mb": rss_before,
        "rss_peak_mb": rss_after,
    }


def _copy_baseline(db, size: int, event_id: int, now) -> float:
    """COPY the same number of rows into a table with the outbox's columns, defaults and indexes."""
    buffer = io.BytesIO()
    for i in range(size):
        language = "kk" if i % 3 == 0 else "ru"
        fields = [event_id, i + 1, f"+7701{i:07d}", language, "announcement", "t", "f", "queued", now.isoformat(), ""]
        buffer.write(("\t".join(map(str, fields)) + f"\t{now.isoformat()}\n").encode())
    payload = buffer.getvalue()
    raw = db.engine.raw_connection()
    try:
        with raw.cursor() as cur:
            cur.execute("CREATE TABLE outbox_copy (LIKE outbox INCLUDING ALL)")
            raw.commit()
            started = time.perf_counter()
            with cur.copy(f"COPY outbox_copy ({COPY_COLUMNS}) FROM STDIN") as copy:
                copy.write(payload)
            raw.commit()
            return time.perf_counter() - started
    finally:
        raw.close()


def main() -> int:
    """Run each size in a child process and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.postgres)))
        return 0
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"fan-out of {size:,} subscribers …", flush=True)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size), "--postgres", args.postgres],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n{'subscribers':>12} {'queued':>8} {'fan-out s':>10} {'COPY s':>8} {'ratio':>6} {'peak RSS MB':>12}")
    for r in results:
        ratio = r["fanout_s"] / r["copy_s"]
        print(
            f"{r['size']:>12,} {r['queued']:>8,} {r['fanout_s']:>10.2f} {r['copy_s']:>8.2f} {ratio:>5.2f}× "
            f"{r['rss_peak_mb']:>12.0f}  {'PASS' if ratio <= 2 else 'MISS'} (≤ 2×)"
        )
    peaks = [r["rss_peak_mb"] for r in results]
    growth = peaks[-1] - peaks[0]
    flat = growth < 20 and max(peaks) < 200
    verdict = "PASS" if flat else "MISS"
    print(f"peak RSS {peaks[0]:.0f} → {peaks[-1]:.0f} MB ({growth:+.0f} MB): {verdict} (< 200 MB, flat)")
    ok = all(r["queued"] == r["size"] for r in results)
    print(f"every subscriber queued exactly once: {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
