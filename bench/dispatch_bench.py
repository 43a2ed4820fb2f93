"""Dispatch of N queued SMS to a fake SMSC on loopback vs a bare client posting the same messages; 1 vs 2 workers.

Run: .venv/bin/python bench/dispatch_bench.py [--messages 100000] [--postgres URL]
     [--profile] [--no-workers] [--no-save]
Target: our dispatch ≥ 0.7× the messages/s of a bare httpx client posting the same messages in requests of
SMS_BATCH_SIZE phones to the same fake, without a database. Two `flask worker --once` processes vs one on
as many messages: reported; neither may send a phone twice.
"""

import argparse
import contextlib
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from sqlalchemy import event, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.dataset import DEFAULT_POSTGRES_URL, fresh_database  # noqa: E402
from bench.fanout_bench import _subscribers  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LOGIN, PASSWORD = "bench", "bench-password"
TARGET = 0.7  # ours / bare, messages per second
NOT_SLOWER = 0.95  # two workers / one worker: "not slower", with 5 % allowance for noise
STARTED = time.perf_counter()
WORKERS: list[subprocess.Popen] = []  # running worker processes, killed on Ctrl-C


def log(message: str) -> None:
    """Print a progress line with the time since the start."""
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", flush=True)


# --- the fake SMSC in its own process -------------------------------------------------------------


def _serve_fake(conn) -> None:
    """Child process: serve a quiet FakeSmsc and answer what it received since a mark."""
    from tests.fake_smsc import FakeSmsc

    # Not `python -m tests.fake_smsc`: its CLI hard-codes verbose=True, a print of every request's
    # parameters (100 phones and the text) that would cost the fake CPU even into /dev/null.
    fake = FakeSmsc(login=LOGIN, password=PASSWORD, balance=Decimal("1e15")).start("127.0.0.1", 0)
    conn.send(fake.url)
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        while (question := conn.recv()) is not None:
            messages, requests = question
            if messages is None:
                conn.send((len(fake.sent_messages), len(fake.requests)))
                continue
            endpoints = Counter(r.endpoint for r in fake.requests[requests:])
            sends = endpoints.pop("send", 0)
            phones = [m.phone for m in fake.sent_messages[messages:]]
            conn.send({"phones": phones, "requests": sends, "other_requests": dict(endpoints)})
    fake.stop()


class FakeProcess:
    """A FakeSmsc in a separate process (its CPU is not ours), asked over a pipe what arrived."""

    def __init__(self):
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_fake, args=(child,), daemon=True)
        self._process.start()
        self.url = self._ask(None)

    def _ask(self, question):
        if question is not None:
            self._conn.send(question)
        deadline = time.monotonic() + 60
        while not self._conn.poll(0.2):
            if not self._process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake SMSC process does not answer (exit code {self._process.exitcode})")
        return self._conn.recv()

    @property
    def pid(self) -> int:
        """The fake's process id."""
        return self._process.pid

    def config(self) -> dict:
        """Return the SMSC_* settings that point our client at the fake."""
        return {"SMSC_BASE_URL": self.url, "SMSC_LOGIN": LOGIN, "SMSC_PASSWORD": PASSWORD, "SMSC_APIKEY": None}

    def mark(self) -> tuple[int, int]:
        """Return a mark: how many messages and requests the fake has seen so far."""
        return self._ask((None, 0))

    def since(self, mark: tuple[int, int]) -> dict:
        """Return the phones sent and the send requests received since `mark`."""
        return self._ask(mark)

    def stop(self) -> None:
        """Stop serving and end the process."""
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()


# --- CPU of the other processes -------------------------------------------------------------------


def _cpu_of(pid: int) -> float:
    """Return a process's user + system CPU seconds so far (Linux /proc), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
    return pids


@contextlib.contextmanager
def other_cpu(fake: "FakeProcess", into: dict):
    """Add the CPU seconds the fake and the local PostgreSQL server spent inside the block to `into`."""
    pg_before = {pid: _cpu_of(pid) for pid in _postgres_pids()}
    fake_before = _cpu_of(fake.pid)
    yield
    into["fake_cpu_s"] = _cpu_of(fake.pid) - fake_before
    into["pg_cpu_s"] = sum(_cpu_of(pid) - pg_before.get(pid, 0.0) for pid in _postgres_pids())


# --- set-up ---------------------------------------------------------------------------------------


def prepare(size: int) -> None:
    """Migrate, load demo data and `size` subscribers in al-farabi following every service (COPY)."""
    from flask_migrate import upgrade

    from notifier.cli import load_demo_data
    from notifier.db import db

    upgrade()
    load_demo_data()
    db.session.commit()
    _subscribers(db.session.connection(), size)
    db.session.commit()
    log(f"migrated, demo data and {size:,} subscribers loaded")


def publish(now: datetime) -> tuple[int, int]:
    """Publish one water announcement through the service (fan-out queues the rows); return (event, queued)."""
    from announcements import service
    from announcements.models import AnnouncementEvent
    from notifier.db import db
    from notifier.outbox_models import QUEUED, OutboxMessage
    from tests.factories import announcement_input, staff

    started = time.perf_counter()
    start = now + timedelta(days=10)  # past the evening-reminder window: `worker --once` queues no reminder
    ann = service.create_draft(
        staff("water.editor"),
        announcement_input(starts_at=start.isoformat(), ends_at=(start + timedelta(hours=8)).isoformat()),
        now,
    )
    service.submit(staff("water.editor"), ann, now)
    service.approve(staff("water.approver"), ann, now)
    db.session.commit()
    event_id = db.session.scalar(
        select(AnnouncementEvent.id).where(
            AnnouncementEvent.announcement_id == ann.id, AnnouncementEvent.kind == "published"
        )
    )
    queued = db.session.scalar(
        select(func.count()).where(OutboxMessage.event_id == event_id, OutboxMessage.status == QUEUED)
    )
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE outbox"))  # as autovacuum would soon after N new rows
    log(f"published announcement {ann.id}: {queued:,} messages queued ({time.perf_counter() - started:.1f} s)")
    return event_id, queued


def plan(event_id: int, size: int) -> list[tuple[str, list[str]]]:
    """Return the event's queued messages as (text, phones) requests of `size` phones per text."""
    from flask import current_app

    from notifier.db import db
    from notifier.outbox_models import QUEUED, OutboxMessage

    render = current_app.extensions["habarlama.render"]
    groups: dict[tuple, list[str]] = defaultdict(list)
    rows = db.session.execute(
        select(OutboxMessage.phone, OutboxMessage.language, OutboxMessage.with_stop_hint)
        .where(OutboxMessage.event_id == event_id, OutboxMessage.status == QUEUED)
        .order_by(OutboxMessage.id)
    )
    for phone, language, hint in rows:
        groups[(language, hint)].append(phone)
    db.session.commit()
    texts = {key: render(event_id, *key) for key in groups}
    return [(texts[key], phones[i : i + size]) for key, phones in groups.items() for i in range(0, len(phones), size)]


# --- the measured runs ----------------------------------------------------------------------------


def bare_client(url: str, requests: list[tuple[str, list[str]]], tag: str, client_per_request: bool = False) -> tuple:
    """Post the requests as our client's form (fmt=3, utf-8, op=1, cost=3) with plain httpx; return (s, CPU s)."""
    form = {"login": LOGIN, "psw": PASSWORD, "fmt": "3", "charset": "utf-8", "op": "1", "cost": "3"}
    tls = httpx.create_ssl_context()  # built once, as our client does
    started, cpu = time.perf_counter(), time.process_time()
    with httpx.Client(timeout=20, verify=tls) as shared:
        for number, (message, phones) in enumerate(requests):
            data = form | {"id": f"{tag}{number}", "phones": ",".join(phones), "mes": message}
            if client_per_request:
                with httpx.Client(timeout=20, verify=tls) as http:
                    answer = http.post(f"{url}/sys/send.php", data=data).json()
            else:
                answer = shared.post(f"{url}/sys/send.php", data=data).json()
            if "error_code" in answer:
                raise RuntimeError(f"the fake refused a bare request: {answer}")
    return time.perf_counter() - started, time.process_time() - cpu


class Timings:
    """Time spent in SQL statements (engine events) and in the gateway's send() (a wrapper), per run."""

    def __init__(self, engine):
        self.sql: dict[str, list[float]] = defaultdict(list)
        self.send: list[float] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.sql[statement].append(time.perf_counter() - conn.info.pop("bench_started"))

    def wrap_gateway(self) -> None:
        """Replace the app's cached gateway with one that times send()."""
        from flask import current_app

        from notifier import dispatch

        real = dispatch.gateway()
        timings = self

        class TimedGateway:
            name = real.name

            def send(self, *args):
                started = time.perf_counter()
                try:
                    return real.send(*args)
                finally:
                    timings.send.append(time.perf_counter() - started)

            def __getattr__(self, attribute):
                return getattr(real, attribute)

        key, _gateway = current_app.extensions["habarlama.gateway"]
        current_app.extensions["habarlama.gateway"] = (key, TimedGateway())

    def summary(self, top: int = 6) -> dict:
        """Return totals and the statements that took longest."""
        statements = sorted(self.sql.items(), key=lambda item: -sum(item[1]))
        return {
            "sql_s": sum(sum(t) for t in self.sql.values()),
            "sql_statements": sum(len(t) for t in self.sql.values()),
            "send_s": sum(self.send),
            "sends": len(self.send),
            "top_sql": [(" ".join(s.split())[:150], len(t), sum(t)) for s, t in statements[:top]],
        }

    def clear(self) -> None:
        """Forget what was timed so far."""
        self.sql.clear()
        self.send.clear()


def run_dispatch(now: datetime) -> tuple[float, float]:
    """Run dispatch(now) in-process until it sends nothing more; return (seconds, CPU seconds of this process)."""
    from notifier import dispatch
    from notifier.db import db

    started, cpu = time.perf_counter(), time.process_time()
    while dispatch.dispatch(now):
        db.session.commit()
    db.session.commit()
    return time.perf_counter() - started, time.process_time() - cpu


def worker_env(database_url: str, fake: FakeProcess) -> dict:
    """Return the environment of a production-like worker process pointed at the fake and the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMSC_", "SMS_"))}
    env |= {"DATABASE_URL": database_url, "SMS_GATEWAY": "smsc", "QUIET_HOURS": "off", "SMS_DAILY_BUDGET": "0"}
    env |= {k: v for k, v in fake.config().items() if v is not None}
    # Messages of the earlier phases must not be polled for status in this one: send requests only.
    env |= {"SMS_STATUS_POLL_MINUTES": "100000", "HABARLAMA_ENV": "development", "SECRET_KEY": "bench"}
    return env


def run_workers(count: int, env: dict, logs: Path) -> tuple[float, list[int]]:
    """Start `count` `flask worker --once` processes at once; return seconds until all exited, requests each."""
    command = [sys.executable, "-m", "flask", "--app", "notifier", "worker", "--once"]
    files = [logs / f"worker-{count}-{n}-{time.time_ns()}.log" for n in range(count)]
    started = time.perf_counter()
    for path in files:
        with path.open("w") as out:
            WORKERS.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
    codes = [process.wait() for process in WORKERS]
    seconds = time.perf_counter() - started
    WORKERS.clear()
    outputs = [path.read_text() for path in files]
    for code, output in zip(codes, outputs, strict=True):
        if code != 0 or "Traceback" in output:
            raise RuntimeError(f"a worker failed (exit {code}):\n{output[-3000:]}")
    requests = [sum(int(n) for n in re.findall(r"\bdispatch: (\d+)", output)) for output in outputs]
    return seconds, requests


# --- checks and phases ----------------------------------------------------------------------------


def delivered_once(event_id: int, at_fake: dict) -> dict:
    """Compare an event's outbox rows and requests with what the fake received since the phase began."""
    from notifier.db import db
    from notifier.outbox_models import SENT, OutboxMessage, SmsBatch
    from notifier.sms.smsc import digits

    rows = db.session.execute(
        select(OutboxMessage.phone, OutboxMessage.status, OutboxMessage.batch_id).where(
            OutboxMessage.event_id == event_id
        )
    ).all()
    batch_ids = {batch for _phone, _status, batch in rows if batch is not None}
    attempts = dict(
        db.session.execute(
            select(SmsBatch.attempts, func.count()).where(SmsBatch.id.in_(batch_ids)).group_by(SmsBatch.attempts)
        ).all()
    )
    db.session.commit()
    phones = at_fake["phones"]
    check = {
        "rows": len(rows),
        "rows_sent": sum(status == SENT for _phone, status, _batch in rows),
        "requests": len(batch_ids),
        "requests_by_attempts": attempts,
        "fake_messages": len(phones),
        "fake_distinct_phones": len(set(phones)),
        "fake_send_requests": at_fake["requests"],
        "fake_other_requests": at_fake["other_requests"],
    }
    check["exactly_once"] = (
        check["rows_sent"] == len(rows) == len(phones) == len(set(phones))
        and sorted(phones) == sorted(digits(phone) for phone, _status, _batch in rows)
        and at_fake["requests"] == len(batch_ids)
        and attempts == {1: len(batch_ids)}
    )
    return check


def bare_phase(fake: FakeProcess, requests: list, tag: str, client_per_request: bool = False) -> dict:
    """Time the bare client over the requests and check the fake got every message once."""
    mark = fake.mark()
    others: dict = {}
    with other_cpu(fake, others):
        seconds, cpu = bare_client(fake.url, requests, tag, client_per_request)
    received = fake.since(mark)
    messages = sum(len(phones) for _text, phones in requests)
    ok = len(received["phones"]) == len(set(received["phones"])) == messages
    if not ok or received["requests"] != len(requests):
        raise RuntimeError(f"bare client {tag}: the fake got {len(received['phones'])} of {messages} messages")
    log(f"bare client {tag}: {messages:,} messages in {len(requests):,} requests, {seconds:.2f} s")
    return {"seconds": seconds, "cpu_s": cpu, "messages": messages, "requests": len(requests), **others}


def in_process(fake: FakeProcess, timings: Timings, batch_size: int) -> dict:
    """Bare client, our dispatch, bare client again, all on the same queued messages; then a bare variant."""
    from notifier.db import utcnow

    event_id, queued = publish(utcnow())
    requests = plan(event_id, batch_size)
    before = bare_phase(fake, requests, "before-")
    mark = fake.mark()
    timings.clear()
    others: dict = {}
    with other_cpu(fake, others):
        seconds, cpu = run_dispatch(utcnow())
    spent = timings.summary()
    check = delivered_once(event_id, fake.since(mark))
    log(f"our dispatch: {check['rows_sent']:,} sent in {check['requests']:,} requests, {seconds:.2f} s")
    after = bare_phase(fake, requests, "after-")
    per_request = bare_phase(fake, requests, "new-client-", client_per_request=True)
    ours = {"seconds": seconds, "cpu_s": cpu, "messages": queued, "requests": check["requests"], **spent, **others}
    return {"ours": ours, "bare_before": before, "bare_after": after, "bare_client_per_request": per_request} | {
        "check": check
    }


def workers(fake: FakeProcess, database_url: str, logs: Path) -> dict:
    """One `flask worker --once` process, then two at once, each on a fresh announcement to the same audience."""
    from notifier.db import utcnow

    env = worker_env(database_url, fake)
    idle, _requests = run_workers(1, env, logs)
    log(f"an idle `worker --once` (start-up, every job, nothing to send): {idle:.1f} s")
    runs = {}
    for count in (1, 2):
        event_id, queued = publish(utcnow())
        mark = fake.mark()
        seconds, requests = run_workers(count, env, logs)
        check = delivered_once(event_id, fake.since(mark))
        runs[count] = {"seconds": seconds, "messages": queued, "requests_per_worker": requests, "check": check}
        log(f"{count} worker(s): {check['rows_sent']:,} sent in {seconds:.2f} s, requests per worker {requests}")
    return {"idle_s": idle, "one": runs[1], "two": runs[2]}


def profile(top: int = 15) -> None:
    """Publish once more and run our dispatch under cProfile; print own time and our code's cumulative time."""
    from flask import current_app

    from notifier.db import utcnow

    _event_id, queued = publish(utcnow())
    # cProfile sees only the thread that enabled it: one lane, which runs in this thread.
    lanes = current_app.config["SMS_SEND_CONCURRENCY"]
    current_app.config["SMS_SEND_CONCURRENCY"] = 1
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        seconds, _cpu = run_dispatch(utcnow())
    finally:
        profiler.disable()
        current_app.config["SMS_SEND_CONCURRENCY"] = lanes
    print(f"\n=== cProfile of our dispatch in one lane: {queued:,} messages, {seconds:.2f} s under the profiler ===")
    for sort, restriction in (("tottime", None), ("cumulative", rf"{ROOT}/(notifier|announcements)/")):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(sort).print_stats(*([restriction] if restriction else []), top)
        body = out.getvalue()
        body = re.sub(r"\S*/site-packages/", "", body[body.find("   ncalls") :].rstrip())
        print(f"--- {sort}{', our code' if restriction else ''} ---\n{body.replace(f'{ROOT}/', '')}")


# --- report ---------------------------------------------------------------------------------------


def rate(run: dict) -> float:
    """Return messages per second of a run."""
    return run["messages"] / run["seconds"]


RATES = f"{'messages':>9} {'requests':>9} {'seconds':>8} {'messages/s':>11}"
HEADER = f"{RATES} {'CPU s':>6} {'fake':>5} {'PG':>5} {'busy':>5}"


def busy(run: dict) -> float:
    """Return how busy the machine's CPUs were with the three processes during a run."""
    return (run["cpu_s"] + run["fake_cpu_s"] + run["pg_cpu_s"]) / (run["seconds"] * os.cpu_count())


def report(results: dict) -> None:
    """Print the rates, the ratios against the limits and the exactly-once checks."""
    r = results["in_process"]
    before, after, ours = rate(r["bare_before"]), rate(r["bare_after"]), r["ours"]
    ratio = rate(ours) / ((before + after) / 2)
    print(f"\n{'dispatch to the fake SMSC':<40} {HEADER}")
    rows = [("bare client, keep-alive (before)", r["bare_before"]), ("our dispatch, in-process", ours)]
    rows += [("bare client, keep-alive (after)", r["bare_after"])]
    rows += [("bare client, new client per request", r["bare_client_per_request"])]
    for label, run in rows:
        figures = f"{run['messages']:>9,} {run['requests']:>9,} {run['seconds']:>8.2f} {rate(run):>11,.0f}"
        cpu = f"{run['cpu_s']:>6.2f} {run['fake_cpu_s']:>5.1f} {run['pg_cpu_s']:>5.1f} {busy(run):>5.0%}"
        print(f"{label:<40} {figures} {cpu}")
    verdict = "PASS" if ratio >= TARGET else "MISS"
    print(f"ours / bare: {ratio:.2f}×  {verdict} (≥ {TARGET}×; bare = the mean of before and after)")
    if abs(before - after) / max(before, after) > 0.25:
        print("  warning: the two bare runs differ by more than 25 %: something else was using the CPUs; re-run")
    other = ours["seconds"] - ours["sql_s"] - ours["send_s"]
    print(
        f"our time: SQL statements {ours['sql_s']:.2f} s ({ours['sql_statements']:,}), gateway send() "
        f"{ours['send_s']:.2f} s ({ours['sends']:,} calls), the rest (commits, pool, ORM, Python) {other:.2f} s"
    )
    for statement, count, seconds in ours["top_sql"]:
        print(f"  {seconds:6.2f} s {count:>6,}×  {statement}")
    print(f"exactly once, in-process: {_verdict(r['check'])}")
    per, bare_cpu = 100_000 / ours["messages"], r["bare_after"]["cpu_s"]
    print(
        f"CPU seconds per 100,000 messages: ours {ours['cpu_s'] * per:.1f} (bare client {bare_cpu * per:.1f}),"
        f" PostgreSQL {ours['pg_cpu_s'] * per:.1f}, fake {ours['fake_cpu_s'] * per:.1f}; if every CPU were busy, the"
        f" floor would be {(ours['cpu_s'] + ours['pg_cpu_s'] + ours['fake_cpu_s']) / os.cpu_count() * per:.1f} s"
    )
    floor = (ours["cpu_s"] + ours["pg_cpu_s"] + ours["fake_cpu_s"]) / os.cpu_count()
    bare_s = (r["bare_before"]["seconds"] + r["bare_after"]["seconds"]) / 2
    print(
        f"so this design's ceiling here is {bare_s / floor:.2f}× the bare client ({bare_s:.2f} s / {floor:.2f} s),"
        f" reached only if the {os.cpu_count()} CPUs never idled (they were {busy(ours):.0%} busy)"
    )
    if "workers" in results:
        report_workers(results["workers"])
    load = results["load_average"]
    print(f"\nload average (1 min) at the start {load[0]:.1f}, at the end {load[1]:.1f} on {os.cpu_count()} CPUs")


def report_workers(w: dict) -> None:
    """Print one worker against two, and their exactly-once checks."""
    one, two = w["one"], w["two"]
    print(f"\n{'worker --once processes':<40} {RATES}")
    for label, run in (("one worker", one), ("two workers", two)):
        split = "+".join(str(n) for n in run["requests_per_worker"])
        print(f"{label:<40} {run['messages']:>9,} {split:>9} {run['seconds']:>8.2f} {rate(run):>11,.0f}")
    scaling = rate(two) / rate(one)
    print(f"two / one: {scaling:.2f}×  {'PASS' if scaling >= NOT_SLOWER else 'MISS'} (not slower: ≥ {NOT_SLOWER}×)")
    print(f"(each includes {w['idle_s']:.1f} s of start-up and empty jobs: one idle `worker --once`)")
    print(f"exactly once, one worker: {_verdict(one['check'])}")
    print(f"exactly once, two workers: {_verdict(two['check'])}")


def _verdict(check: dict) -> str:
    details = "" if check["exactly_once"] else f"  {check}"
    others = "".join(f" + {n} to {name}.php" for name, n in check["fake_other_requests"].items())
    attempts = ", ".join(f"{n:,} with {a} attempt(s)" for a, n in sorted(check["requests_by_attempts"].items()))
    return (
        f"{'yes' if check['exactly_once'] else 'NO'}: {check['rows_sent']:,}/{check['rows']:,} rows sent; the fake got "
        f"{check['fake_messages']:,} messages for {check['fake_distinct_phones']:,} distinct phones in "
        f"{check['fake_send_requests']:,} send requests{others}; "
        f"{check['requests']:,} requests: {attempts}{details}"
    )


def save(results: dict) -> Path:
    """Write the run as JSON under bench/results/ (git-ignored)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"dispatch_bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    return path


# --- main -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    """Set everything up, measure, clean up (also on Ctrl-C); return the results."""
    from notifier import create_app
    from notifier.db import db

    load_at_start = os.getloadavg()[0]
    fake = FakeProcess()
    log(f"fake SMSC serving on {fake.url} in process {fake._process.pid}")
    try:
        with fresh_database(args.postgres) as database, tempfile.TemporaryDirectory(prefix="dispatch-bench-") as logs:
            settings = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database.url, "QUIET_HOURS": "off"}
            app = create_app(settings | {"SMS_DAILY_BUDGET": 0, "SMS_GATEWAY": "smsc"} | fake.config())
            try:
                with app.app_context():
                    prepare(args.messages)
                    timings = Timings(db.engine)
                    timings.wrap_gateway()
                    results = {"messages": args.messages, "batch_size": app.config["SMS_BATCH_SIZE"]}
                    results["load_average"] = [load_at_start]
                    results["claim_limit"] = app.config["SMS_CLAIM_LIMIT"]
                    results["in_process"] = in_process(fake, timings, app.config["SMS_BATCH_SIZE"])
                    if not args.no_workers:
                        results["workers"] = workers(fake, database.url, Path(logs))
                    results["load_average"].append(os.getloadavg()[0])
                    if args.profile:
                        profile()
                    db.session.remove()
                    db.engine.dispose()
            finally:
                for process in WORKERS:
                    process.kill()
                    process.wait()
    finally:
        fake.stop()
    return results


def _terminate(signum, frame):
    raise KeyboardInterrupt  # run every cleanup (workers, fake, database) on SIGTERM as on Ctrl-C


def main() -> int:
    """Parse the options, run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000, help="subscribers, so messages per phase")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES_URL, help="server URL; a new database is made")
    parser.add_argument("--profile", action="store_true", help="also cProfile one more in-process dispatch")
    parser.add_argument("--no-workers", action="store_true", help="skip one worker vs two")
    parser.add_argument("--no-save", action="store_true", help="do not write JSON to bench/results/")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        results = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted: workers, fake SMSC and database cleaned up", file=sys.stderr)
        return 130
    report(results)
    if not args.no_save:
        print(f"\nresults: {save(results).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
