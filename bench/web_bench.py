"""How fast the public page and the RSS feed are, as ratios to a static file served by the same app.

Run by hand: `.venv/bin/python bench/web_bench.py [--postgres]`. See bench/README.md.
"""

import argparse
import http.client
import json
import os
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make `notifier` and `bench` importable
    sys.path.insert(0, str(ROOT))

from bench import dataset, load, server  # noqa: E402
from bench.load import Result, Target  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FEED = "/feeds/announcements.rss"
STATIC = Target("static", "/static/style.css")
PAGE = Target("page", "/")
PLAIN_FEED = Target("feed", FEED)
DISTRICT_FEED = Target("feed ?district", f"{FEED}?district=al-farabi")
# Least requests/s as a share of the static file's; None: reported, no limit.
LIMITS = {"page": 0.3, "feed 304": 0.5, "feed": None, "feed ?district": None}
RATIOS = [
    ("page", "page / static"),
    ("feed 304", "conditional feed / static"),
    ("feed", "plain feed / static"),
    ("feed ?district", "district feed / static"),
]
SPREAD_WARNING = 0.25


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres",
        action="store_true",
        help=f"a fresh PostgreSQL database on BENCH_DATABASE_URL (default {dataset.DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--rows", type=int, default=10_000, help="announcements to insert (default 10000)")
    parser.add_argument(
        "--no-analyze",
        dest="analyze",
        action="store_false",
        help="leave SQLite without statistics (the worker ANALYZEs it hourly, so a live site has them)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--concurrency", type=int, default=12, help="open connections, 1-64 (default 12)")
    parser.add_argument("--duration", type=int, default=4, help="measured seconds per run (default 4)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured seconds before each (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all targets, 1-5 (default 2)")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto", help="load generator")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per run, python client")
    parser.add_argument("--profile", action="store_true", help="afterwards, cProfile each app target in-process")
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args()
    if not (1 <= args.duration <= 60 and 0 <= args.warmup <= 30 and 1 <= args.rounds <= 5):
        parser.error("--duration must be 1-60 s, --warmup 0-30 s, --rounds 1-5")
    if not (1 <= args.concurrency <= 64 and 1 <= args.workers <= 16 and 1 <= args.rows <= 1_000_000):
        parser.error("--concurrency must be 1-64, --workers 1-16, --rows 1-1000000")
    if args.client == "wrk" and not load.wrk_available():
        parser.error("wrk is not installed (apt-get install -y wrk); use --client python")
    if args.client == "auto":
        args.client = "wrk" if load.wrk_available() else "python"
    env_url = os.environ.get("BENCH_DATABASE_URL")
    args.postgres_url = (env_url or dataset.DEFAULT_POSTGRES_URL) if (args.postgres or env_url) else None
    return args


def _get(srv: server.Server, path: str, headers: dict[str, str] | None = None) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept-Language": "ru", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("ETag")
    finally:
        conn.close()


def ready_targets(srv: server.Server) -> tuple[list[Target], dict[str, str]]:
    """Ask each URL once; return the targets that answer as expected and why the others are skipped."""
    targets, skipped = [], {}
    for target in (STATIC, PAGE, PLAIN_FEED, DISTRICT_FEED):
        status, tag = _get(srv, target.path)
        if status != target.expect:
            skipped[target.name] = f"answers {status}"
            if target is PLAIN_FEED:
                skipped["feed 304"] = "no feed to ask conditionally"
            continue
        targets.append(target)
        if target is PLAIN_FEED:
            conditional = Target("feed 304", FEED, expect=304, headers={"If-None-Match": tag or ""})
            status, _tag = _get(srv, FEED, conditional.headers)
            if tag and status == 304:
                targets.append(conditional)
            else:
                skipped[conditional.name] = f"If-None-Match: {tag} answers {status}"
    return targets, skipped


def measure(srv: server.Server, targets: list[Target], args: argparse.Namespace) -> list[Result]:
    """Load each target between two loads of the static file, round after round.

    The machine's speed drifts (other processes, CPU boost); each target run is compared with the
    static runs just before and after it, which drift least from it.
    """
    runs: list[Result] = []

    def one(target: Target) -> None:
        if args.warmup:
            load.run(args.client, srv.host, srv.port, target, args.concurrency, args.warmup, args.max_requests)
        run = load.run(args.client, srv.host, srv.port, target, args.concurrency, args.duration, args.max_requests)
        print(f"    {target.name:16} {run.rps:8.1f} req/s  p50 {run.p50_ms:6.1f} ms  errors {run.errors}")
        runs.append(run)

    one(STATIC)
    for number in range(1, args.rounds + 1):
        print(f"  round {number} of {args.rounds}")
        for target in targets:
            if target is not STATIC:
                one(target)
                one(STATIC)
    return runs


def paired_ratios(runs: list[Result]) -> dict[str, list[float]]:
    """Return each target's requests/s over the mean of the static runs either side, per run."""
    ratios: dict[str, list[float]] = {}
    for before, run, after in zip(runs, runs[1:], runs[2:], strict=False):
        if run.target != STATIC.name and before.rps + after.rps:
            ratios.setdefault(run.target, []).append(run.rps / ((before.rps + after.rps) / 2))
    return ratios


def combine(runs: list[Result]) -> list[Result]:
    """Merge the runs of each target: requests over seconds, median p50, worst p95, all errors."""
    merged = []
    for name in dict.fromkeys(run.target for run in runs):
        mine = [run for run in runs if run.target == name]
        merged.append(
            Result(
                target=name,
                path=mine[0].path,
                client=mine[0].client,
                seconds=sum(run.seconds for run in mine),
                requests=sum(run.requests for run in mine),
                errors=sum(run.errors for run in mine),
                p50_ms=statistics.median(run.p50_ms for run in mine),
                p95_ms=max(run.p95_ms for run in mine),
                client_cpu_s=sum(run.client_cpu_s for run in mine),
            )
        )
    return merged


def verdict(name: str, ratio: float, errors: int) -> str:
    """Return PASS or MISS against the limit (errors always miss), "report" without one."""
    limit = LIMITS.get(name)
    if name == STATIC.name:
        return "baseline"
    if limit is None:
        return "report" + (" (errors)" if errors else "")
    return "PASS" if ratio >= limit and not errors else "MISS"


def report(runs: list[Result], skipped: dict[str, str]) -> dict:
    """Print the table and the ratios; return them for the JSON file."""
    results = combine(runs)
    per_run = paired_ratios(runs)
    statics = [run.rps for run in runs if run.target == STATIC.name]
    baseline = results[0].rps
    spread = (max(statics) - min(statics)) / baseline if baseline else 0.0
    rows = {}
    header = f"{'target':15} {'path':44} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'errors':>6} {'ratio':>6}  verdict"
    print("\n" + header + "\n" + "-" * len(header))
    for result in results:
        ratio = statistics.median(per_run[result.target]) if result.target in per_run else 1.0
        rows[result.target] = {
            **vars(result),
            "rps": result.rps,
            "ratio": ratio,
            "ratio_per_round": per_run.get(result.target, []),
            "limit": LIMITS.get(result.target),
            "verdict": verdict(result.target, ratio, result.errors),
        }
        print(
            f"{result.target:15} {result.path:44} {result.rps:7.1f} {result.p50_ms:7.1f} {result.p95_ms:7.1f} "
            f"{result.errors:6d} {ratio:6.2f}  {rows[result.target]['verdict']}"
        )
    for name, why in skipped.items():
        print(f"{name:15} skipped: {why}")
    runs_text = ", ".join(f"{rps:.0f}" for rps in statics)
    print(f"\nstatic file: {baseline:.1f} req/s over {len(statics)} runs ({runs_text}; spread {spread:.0%})")
    if spread > SPREAD_WARNING:
        print(f"WARNING: the static runs differ by more than {SPREAD_WARNING:.0%}: something else is using the CPUs")
    print("\nratios: requests/s of the target / requests/s of the static runs just before and after it")
    for name, label in RATIOS:
        row, limit = rows.get(name), LIMITS[name]
        wanted = f"target ≥ {limit:.2f}" if limit else "reported"
        if row is None:
            print(f"  {label:27}    n/a  ({wanted})  {'MISS, ' if limit else ''}skipped: {skipped.get(name, '?')}")
        else:
            rounds = ", ".join(f"{r:.2f}" for r in row["ratio_per_round"])
            print(f"  {label:27} {row['ratio']:6.2f}  ({wanted}; rounds {rounds})  {row['verdict']}")
    missed = [name for name, limit in LIMITS.items() if limit and rows.get(name, {}).get("verdict") != "PASS"]
    return {"baseline_rps": baseline, "baseline_spread": spread, "targets": rows, "skipped": skipped, "missed": missed}


def save(summary: dict, setup: dict) -> Path:
    """Write the run as JSON under bench/results/ (git-ignored)."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"web_bench-{setup['database']}-{stamp}.json"
    path.write_text(json.dumps({"setup": setup, **summary}, indent=2, ensure_ascii=False))
    return path


def _terminate(signum, frame):
    raise KeyboardInterrupt  # run every cleanup (gunicorn, database) on SIGTERM as on Ctrl-C


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    database = "postgresql" if args.postgres_url else "sqlite"
    setup = {
        key: getattr(args, key)
        for key in ("rows", "workers", "client", "concurrency", "duration", "warmup", "rounds", "analyze")
    } | {"database": database, "cpus": os.cpu_count()}
    print(
        f"web_bench: {database}, {args.rows:,} announcements, gunicorn with {args.workers} sync workers on "
        f"{os.cpu_count()} CPUs (shared with the load generator)\n"
        f"load: {args.client}, {args.concurrency} connections, {args.rounds} rounds of "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per target"
    )
    started = time.perf_counter()
    try:
        with dataset.fresh_database(args.postgres_url) as db:
            print("building the database")
            setup["statuses"] = dataset.prepare(db.url, args.rows, analyze=args.analyze)
            with server.gunicorn(db.url, args.workers) as srv:
                print(f"gunicorn ready on http://{srv.host}:{srv.port}")
                targets, skipped = ready_targets(srv)
                runs = measure(srv, targets, args)
            print("gunicorn stopped")
            if args.profile:
                from bench.profiling import profile_targets

                profile_targets(db.url, [target for target in targets if target is not STATIC])
            print("removing the database")
    except KeyboardInterrupt:
        print("\ninterrupted: gunicorn stopped and the database removed")
        return 130
    summary = report(runs, skipped)
    if summary["missed"]:
        hint = "" if args.profile else "; --profile shows where the time goes"
        print(f"\nmissed: {', '.join(summary['missed'])}{hint}")
    if not args.no_save:
        print(f"\nresults: {save(summary, setup).relative_to(ROOT)}")
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
