"""Real `flask worker` processes against the fake SMSC: never twice, never lost, across crashes and restarts."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, text

from announcements import service
from announcements.models import Announcement
from notifier.db import db, utcnow
from notifier.directory import department_by_slug, districts_by_slugs
from notifier.outbox_models import OutboxMessage, SmsBatch
from subscribers.models import Subscriber, subscriber_departments, subscriber_districts
from tests.factories import create_announcement, staff
from tests.fake_smsc import FakeSmsc, digits

ROOT = Path(__file__).resolve().parent.parent
# Small requests so a few dozen messages make several claims of several requests each.
SMALL = {"SMS_BATCH_SIZE": "5", "SMS_CLAIM_LIMIT": "20"}
WAITING_ON_LOCKS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


class GatedSmsc(FakeSmsc):
    """The fake SMSC, able to hold its answer to the n-th accepted send (already taken effect) until released."""

    def __post_init__(self):
        super().__post_init__()
        self.hold_send = 0  # 1-based number of the accepted send request to hold; 0: none
        self.held = threading.Event()
        self.release = threading.Event()
        self.held_id: str | None = None
        self._accepted = 0

    def _send(self, params: dict) -> dict:
        body = super()._send(params)
        with self._lock:
            self._accepted += 1
            hold = self._accepted == self.hold_send
        if hold:
            self.held_id = params.get("id")
            self.held.set()
            while not self.release.wait(0.02) and not self._stopping.is_set():
                pass
        return body


class Worker:
    """One `flask --app notifier worker` process, its output in a file."""

    def __init__(self, args: tuple[str, ...], env: dict, log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 (closed by close(), which the fixture always calls)
        command = [sys.executable, "-m", "flask", "--app", "notifier", "worker", *args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def finish(self, timeout: float) -> str:
        """Wait for a clean exit (code 0, no job failed) and return the output."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker still running after {timeout} s:\n{self.output()}")
        out = self.output()
        assert code == 0, out
        assert "Traceback" not in out and " failed" not in out, out
        return out

    def close(self) -> None:
        if self.running:
            self.process.kill()
        self.process.wait(10)
        self._log.close()


@pytest.fixture
def fake():
    """A fake SMSC with money for thousands of messages."""
    fake = GatedSmsc(balance=Decimal("100000000")).start()
    yield fake
    fake.release.set()
    fake.stop()


@pytest.fixture
def spawn(app, fake, database_url, tmp_path):
    """Start worker processes on the test database and the fake; kill whatever still runs afterwards."""
    app.config["QUIET_HOURS"] = "off"  # the test process fans out too: queue, never hold (restored by `app`)
    workers: list[Worker] = []
    smsc = {k: str(v) for k, v in fake.config().items() if v is not None}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SMSC_", "SMS_"))}
    base |= smsc | {"DATABASE_URL": database_url, "HABARLAMA_ENV": "development", "SMS_GATEWAY": "smsc"}
    base |= {"QUIET_HOURS": "off", "SMS_DAILY_BUDGET": "0"}

    def start(*args: str, **env: str) -> Worker:
        worker = Worker(args, base | env, tmp_path / f"worker{len(workers) + 1}.log")
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.close()


def wait_until(predicate, timeout: float, what: str) -> None:
    """Poll `predicate` every 50 ms until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def add_subscribers(count: int) -> list[str]:
    """Insert active subscribers to water in al-farabi in a few executemany statements; return their phones."""
    now = utcnow()
    phones = [f"+7701{n:07d}" for n in range(count)]
    rows = [
        {"phone": p, "language": "kk" if n % 2 else "ru", "status": "active", "created_at": now, "confirmed_at": now}
        for n, p in enumerate(phones)
    ]
    db.session.execute(insert(Subscriber.__table__), rows)
    ids = db.session.scalars(select(Subscriber.id).where(Subscriber.phone.in_(phones))).all()
    district = districts_by_slugs(["al-farabi"])[0][0].id
    water = department_by_slug("water").id
    db.session.execute(insert(subscriber_districts), [{"subscriber_id": i, "district_id": district} for i in ids])
    db.session.execute(insert(subscriber_departments), [{"subscriber_id": i, "department_id": water} for i in ids])
    db.session.commit()
    return phones


def water_outage(**overrides) -> dict:
    """Fields of a water outage far enough ahead that no evening reminder falls due during a test."""
    start = utcnow().replace(microsecond=0) + timedelta(days=5)
    return {"starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=8)).isoformat()} | overrides


def publish_water(**overrides) -> Announcement:
    """Publish a water outage through the service now (real time: the workers use the real clock)."""
    return create_announcement(status="published", **water_outage(**overrides))


def statuses() -> dict[str, int]:
    """Return the outbox row count per status, read fresh."""
    counts = dict(db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    db.session.commit()
    return counts


def assert_exactly_once(fake: FakeSmsc, phones: list[str]) -> None:
    """Every phone reached the fake exactly once, and nothing else did."""
    counts = Counter(m.phone for m in fake.sent_messages)
    assert {p: n for p, n in counts.items() if n > 1} == {}, "sent twice"
    assert set(counts) == {digits(p) for p in phones}, "lost or unexpected"
    assert len(fake.sent_messages) == len(phones)


def send_ids(fake: FakeSmsc) -> Counter:
    """Count the send requests per request id (our batch's request_id)."""
    return Counter(r.params.get("id") for r in fake.requests if r.endpoint == "send")


def test_two_workers_drain_5000_messages_exactly_once(ctx, fake, spawn, database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("one worker on SQLite: it has no SKIP LOCKED (docs/libraries.md §1)")
    phones = add_subscribers(5000)
    publish_water()
    assert statuses() == {"queued": 5000}

    # A starting gate: both workers block on the outbox table until each has connected and got that far.
    with db.engine.connect() as gate:
        gate.execute(text("LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"))
        workers = [spawn("--once", SMS_BATCH_SIZE="100", SMSC_SENDER=f"worker{n}") for n in (1, 2)]

        def both_waiting() -> bool:
            waiting = db.session.scalar(text(WAITING_ON_LOCKS))
            db.session.commit()
            return waiting >= 2 or not all(w.running for w in workers)

        wait_until(both_waiting, 60, "both workers to reach the outbox")
        gate.commit()
    for worker in workers:
        worker.finish(120)

    assert_exactly_once(fake, phones)
    assert statuses() == {"sent": 5000}
    requests = send_ids(fake)
    # Each request went once. Their number depends on how claims split by language: ≥ 50 of ≤ 100 phones.
    assert len(requests) >= 50 and set(requests.values()) == {1}
    by_worker = Counter(m.sender for m in fake.sent_messages)
    batches = Counter(r.params.get("sender") for r in fake.requests if r.endpoint == "send")
    print(f"\nwork split: messages {dict(by_worker)}, requests {dict(batches)}")
    assert set(by_worker) <= {"worker1", "worker2"}


@pytest.mark.parametrize("lanes", ["1", "2"])
def test_worker_killed_mid_dispatch_then_restarted_loses_nothing_and_sends_nothing_twice(ctx, fake, spawn, lanes):
    if lanes != "1" and ctx.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("one lane on SQLite: a single writer")
    phones = add_subscribers(40)
    publish_water()
    fake.hold_send = 2  # SMSC has taken the second request; the worker dies before it hears back
    first = spawn("--once", SMS_SEND_CONCURRENCY=lanes, **SMALL)
    wait_until(lambda: fake.held.is_set() or not first.running, 60, "the second send request")
    assert fake.held.is_set(), first.output()
    if lanes != "1":  # the other lane sends and records its whole claim (within the held one's 0.5 s read timeout)
        wait_until(lambda: statuses().get("sent", 0) >= 20 or not first.running, 10, "the other lane's claim")
    os.kill(first.process.pid, signal.SIGKILL)
    assert first.process.wait(10) == -signal.SIGKILL
    fake.release.set()

    batches = dict(db.session.execute(select(SmsBatch.request_id, SmsBatch.status)).all())
    db.session.commit()
    at_fake = {m.id for m in fake.sent_messages}
    assert batches[fake.held_id] == "sending" and fake.held_id in at_fake
    never_sent = [rid for rid, status in batches.items() if status == "sending" and rid not in at_fake]
    assert never_sent
    if lanes == "1":
        # One request at a time: one sent and recorded, one taken by SMSC but not recorded, the rest
        # of its claim never sent (a claim of 20 may leave a language's partial tail queued), the
        # other messages never claimed.
        after = statuses()
        assert after["sent"] == 5 and after["sending"] >= 10 and after["sending"] + after["queued"] == 35
    else:
        # Two lanes claimed 20 each: one sent and recorded all of its claim; the other was held on
        # its first or second request, with the rest of its claim never sent. A partial tail the held
        # lane left queued lies below where the other lane reads on: the next run takes it.
        after = statuses()
        assert set(after) <= {"sent", "sending", "queued"} and sum(after.values()) == 40
        assert after["sent"] >= 20 and after["sending"] >= 5

    spawn("--once", SMS_STUCK_MINUTES="0", SMS_SEND_CONCURRENCY=lanes, **SMALL).finish(60)

    assert_exactly_once(fake, phones)
    assert statuses() == {"sent": 40}
    sends = send_ids(fake)
    assert sends[fake.held_id] == 1  # status.php said it arrived: recorded, not resent
    assert all(sends[rid] == 1 for rid in never_sent)  # status.php said it never arrived: sent once, same id
    status_asked = ",".join(r.params.get("id", "") for r in fake.requests if r.endpoint == "status")
    assert fake.held_id in status_asked and all(rid in status_asked for rid in never_sent)


def test_sigterm_finishes_the_request_in_flight_and_hands_back_the_rest(ctx, fake, spawn):
    phones = add_subscribers(40)
    publish_water()
    fake.hold_send = 2
    # The held request must still be waiting when the signals come: a 0.5 s read timeout would make it
    # uncertain (left sending for the reconcile), which is right but not what this test is about.
    worker = spawn(SMSC_READ_TIMEOUT="10", **SMALL)  # the full scheduler: dispatch runs every 3 s
    wait_until(lambda: fake.held.is_set() or not worker.running, 60, "the second send request")
    assert fake.held.is_set(), worker.output()
    worker.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "finishing the job in flight" in worker.output(), 10, "the worker to take the signal")
    worker.process.send_signal(signal.SIGTERM)  # impatient supervisors signal again; that changes nothing
    wait_until(lambda: "already stopping" in worker.output(), 10, "the worker to take the second signal")
    fake.release.set()
    began = time.monotonic()
    worker.finish(10)
    print(f"\nexited {time.monotonic() - began:.2f} s after its request in flight was answered")

    # The requests that went (the one in flight included) were recorded; the rest went back to the queue;
    # nothing is left 'sending'. How many phones a request held depends on the claim's language split.
    after = statuses()
    assert set(after) == {"sent", "queued"} and sum(after.values()) == 40 and after["queued"] >= 5
    sent = db.session.scalars(select(OutboxMessage.phone).where(OutboxMessage.status == "sent")).all()
    db.session.commit()
    assert sorted(m.phone for m in fake.sent_messages) == sorted(digits(p) for p in sent)

    spawn("--once", **SMALL).finish(60)
    assert_exactly_once(fake, phones)
    assert statuses() == {"sent": 40}


def test_running_worker_publishes_scheduled_announcements_and_keeps_dispatching(ctx, fake, spawn):
    phones = add_subscribers(3)
    now = utcnow()
    ann = create_announcement(
        status="pending_approval", now=now, **water_outage(publish_at=(now + timedelta(seconds=2)).isoformat())
    )
    service.approve(staff("water.approver"), ann, now)
    db.session.commit()
    assert ann.status == "scheduled"
    ann_id = ann.id
    worker = spawn()

    def published_and_sent() -> bool:
        status = db.session.scalar(select(Announcement.status).where(Announcement.id == ann_id))
        db.session.commit()
        return (status == "published" and statuses() == {"sent": 3}) or not worker.running

    wait_until(published_and_sent, 45, "the scheduled announcement to be published and sent")
    assert worker.running, worker.output()
    assert_exactly_once(fake, phones)

    # Rows written later, as a web process writes them, go out on the worker's next dispatch round.
    publish_water(title={"ru": "Ещё одно отключение", "kk": "Тағы бір өшіру"})
    wait_until(lambda: statuses() == {"sent": 6} or not worker.running, 15, "the second announcement to be sent")
    per_phone = Counter(m.phone for m in fake.sent_messages)
    assert per_phone == {digits(p): 2 for p in phones}
    assert len({m.text for m in fake.sent_messages}) == 4  # two announcements × two languages

    worker.process.send_signal(signal.SIGTERM)
    worker.finish(10)
