"""Run the app under gunicorn on a free loopback port for the length of a benchmark."""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b")


@dataclass
class Server:
    """A running gunicorn: where it listens and its process."""

    host: str
    port: int
    process: subprocess.Popen


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _stop(process: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM (gunicorn's graceful shutdown), then SIGKILL if it does not go in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _summarize_errors(log: str) -> None:
    """Print how many errors the app logged and the first exception, so a broken target is explained."""
    errors = sum(" ERROR " in line or line.startswith("Traceback") for line in log.splitlines())
    if errors:
        exception = next((line for line in log.splitlines() if EXCEPTION.match(line)), "(no exception line)")
        print(f"  gunicorn logged {errors} errors; first exception: {exception[:300]}")


@contextmanager
def gunicorn(database_url: str, workers: int, startup_timeout: float = 30) -> Iterator[Server]:
    """Start `gunicorn 'notifier:create_app()'` in production mode and wait for /healthz."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,  # notifier/config.py reads it at import time, in the worker
        "HABARLAMA_ENV": "production",
        "SECRET_KEY": "bench",
        "SESSION_COOKIE_SECURE": "0",
    }
    args = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(ROOT),
        "--bind",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        # No --access-logfile: gunicorn writes no access log unless given one.
        "--log-level",
        "warning",
        "--no-control-socket",  # gunicorn 27 otherwise shares ~/.gunicorn/gunicorn.ctl with any other instance
        "notifier:create_app()",
    ]
    with tempfile.TemporaryFile("w+") as log:
        # Its own session: Ctrl-C reaches only us, and we stop gunicorn in order (SIGTERM, wait).
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + startup_timeout
            while not _healthy(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"gunicorn did not become healthy on port {port}:\n{log.read()[-3000:]}")
                time.sleep(0.2)
            yield Server(HOST, port, process)
        finally:
            _stop(process)
            log.seek(0)
            _summarize_errors(log.read())
