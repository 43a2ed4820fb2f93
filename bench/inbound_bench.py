"""10,000 inbound SMS posted to the SMSC webhook by concurrent clients, 10% with repeated ids.

Run: .venv/bin/python bench/inbound_bench.py [--postgres] [--messages 10000] [--concurrency 16]
Measures, on one gunicorn (2 workers) and one `flask worker`, in the same run:
  trivial  GET /livez (answers 200, touches nothing) — the limit;
  appeals  the webhook stores each SMS and answers 200; the worker turns them into appeals
           (keywords, threading, routing, acknowledgements). Rate = distinct messages / time from
           the first POST until the last one is handled.
Prints appeals/s ÷ trivial/s (target ≥ 0.3) and the lost and duplicated counts (must be 0).
"""

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import dataset, server  # noqa: E402

TOKEN = "bench-webhook-token"
TEXTS = ["воды нет уже 3 часа", "свет отключили", "Газ жоқ", "батарея холодная", "жарық жоқ", "когда дадут воду?"]


def messages(count: int, seed: int = 7) -> list[dict]:
    """Return the webhook forms: distinct ids, with 10% repeating an earlier id, over 3,000 phones."""
    rng = random.Random(seed)
    distinct = count - count // 10
    forms = [
        {
            "id": str(100_000 + i),
            "phone": f"7701{rng.randrange(3000):07d}",
            "mes": rng.choice(TEXTS),
            "to": "7172000000",
        }
        for i in range(distinct)
    ]
    repeats = [dict(rng.choice(forms[: max(1, len(forms))])) for _ in range(count - distinct)]
    for repeat in repeats:  # a repeat arrives after its original, as SMSC retries do
        forms.insert(rng.randrange(int(repeat["id"]) - 100_000 + 1, len(forms) + 1), repeat)
    return forms


async def _fire(base: str, requests: list[tuple[str, str, dict | None]], concurrency: int) -> tuple[float, int]:
    """Send the requests over `concurrency` keep-alive connections; retry 503s as SMSC would; return (s, errors)."""
    queue: asyncio.Queue = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    errors = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            method, path, form = queue.get_nowait()
            for _attempt in range(5):
                response = await client.request(method, path, data=form)
                if response.status_code != 503:
                    break
                await asyncio.sleep(0.2)
            if response.status_code != 200:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return time.perf_counter() - started, errors


def _wait_handled(engine, distinct: int, deadline_s: float) -> float:
    """Wait until every distinct SMS is stored and handled; return when (perf_counter)."""
    deadline = time.perf_counter() + deadline_s
    with engine.connect() as conn:
        while time.perf_counter() < deadline:
            pending = conn.execute(text("SELECT count(*) FROM inbound_sms WHERE status = 'new'")).scalar()
            stored = conn.execute(text("SELECT count(*) FROM inbound_sms")).scalar()
            conn.rollback()
            if stored >= distinct and pending == 0:
                return time.perf_counter()
            time.sleep(0.1)
    raise RuntimeError("the worker did not handle every message in time")


def main() -> int:
    """Run both targets and print the ratio and the lost/duplicated counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    forms = messages(args.messages)
    distinct = len({f["id"] for f in forms})
    os.environ["SMSC_WEBHOOK_TOKEN"] = TOKEN  # gunicorn and the worker inherit it
    with dataset.fresh_database(dataset.DEFAULT_POSTGRES_URL if args.postgres else None) as database:
        print(f"database: {database.kind}")
        dataset.prepare(database.url, 1, analyze=True)
        engine = create_engine(database.url)
        with server.gunicorn(database.url, workers=2) as srv:
            base = f"http://{srv.host}:{srv.port}"
            trivial_s, trivial_errors = asyncio.run(
                _fire(base, [("GET", "/livez", None)] * len(forms), args.concurrency)
            )
            env = {**os.environ, "DATABASE_URL": database.url, "QUIET_HOURS": "off", "FLASK_APP": "notifier"}
            worker = subprocess.Popen(
                [sys.executable, "-m", "flask", "worker"], cwd=server.ROOT, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                started = time.perf_counter()
                post_s, post_errors = asyncio.run(
                    _fire(base, [("POST", f"/webhooks/smsc/{TOKEN}", f) for f in forms], args.concurrency)
                )
                finished = _wait_handled(engine, distinct, 300)
            finally:
                worker.terminate()
                worker.wait(30)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM inbound_sms")).scalar()
            in_appeals = conn.execute(text("SELECT count(*) FROM appeal_messages WHERE direction = 'in'")).scalar()
            twice = conn.execute(
                select(func.count()).select_from(
                    text("(SELECT inbound_id FROM appeal_messages WHERE inbound_id IS NOT NULL "
                         "GROUP BY inbound_id HAVING count(*) > 1) AS d")
                )
            ).scalar()  # fmt: skip
            appeals = conn.execute(text("SELECT count(*) FROM appeals")).scalar()
        engine.dispose()
    trivial_rate = len(forms) / trivial_s
    appeal_rate = distinct / (finished - started)
    ratio = appeal_rate / trivial_rate
    print(f"\n{'target':<10} {'requests':>9} {'seconds':>8} {'rate/s':>8} {'errors':>7}")
    print(f"{'trivial':<10} {len(forms):>9,} {trivial_s:>8.2f} {trivial_rate:>8.0f} {trivial_errors:>7}")
    print(f"{'webhook':<10} {len(forms):>9,} {post_s:>8.2f} {len(forms) / post_s:>8.0f} {post_errors:>7}")
    print(f"{'appeals':<10} {distinct:>9,} {finished - started:>8.2f} {appeal_rate:>8.0f}  (distinct SMS handled)")
    print(f"appeals / trivial = {ratio:.2f}  {'PASS' if ratio >= 0.3 else 'MISS'} (target ≥ 0.3)")
    print(f"stored {stored:,} of {distinct:,} distinct ids; {appeals:,} appeals hold {in_appeals:,} messages")
    print(f"lost: {distinct - stored}   duplicated: {twice + max(0, stored - distinct)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
