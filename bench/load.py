"""Load generators for loopback HTTP: wrk when installed, else a small asyncio client."""

import asyncio
import json
import os
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_report.lua"
REQUEST_TIMEOUT = 10.0
USER_AGENT = "habarlama-bench"


@dataclass
class Target:
    """One URL to load, the headers to send and the status every answer must have."""

    name: str
    path: str
    expect: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    """What one load run measured."""

    target: str
    path: str
    client: str
    seconds: float
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    client_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    """Return whether the wrk binary is on PATH."""
    return shutil.which("wrk") is not None


def run(client: str, host: str, port: int, target: Target, concurrency: int, seconds: float, max_requests: int):
    """Load the target for `seconds` with `concurrency` connections and return a Result."""
    if client == "wrk":
        return _run_wrk(host, port, target, concurrency, seconds)
    return _run_python(host, port, target, concurrency, seconds, max_requests)


# --- wrk -------------------------------------------------------------------------------------------


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_wrk(host: str, port: int, target: Target, concurrency: int, seconds: float) -> Result:
    headers = {"Accept-Language": "ru", "User-Agent": USER_AGENT, **target.headers}
    args = ["wrk", "-t", str(min(2, concurrency)), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s"]
    args += ["--timeout", f"{REQUEST_TIMEOUT:g}s", "-s", str(WRK_SCRIPT)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    args.append(f"http://{host}:{port}{target.path}")
    env = {**os.environ, "BENCH_EXPECT_STATUS": str(target.expect)}
    cpu = _children_cpu()
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=seconds + 30)
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    summary = json.loads(lines[0].removeprefix("BENCH "))
    return Result(
        target=target.name,
        path=target.path,
        client="wrk",
        seconds=summary["duration_us"] / 1e6,
        requests=summary["requests"],
        errors=summary["socket_errors"] + summary["unexpected_status"],
        p50_ms=summary["p50_us"] / 1000,
        p95_ms=summary["p95_us"] / 1000,
        client_cpu_s=_children_cpu() - cpu,
    )


# --- asyncio client --------------------------------------------------------------------------------


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return its status and whether the server closes the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
    close = headers.get(b"connection") == b"close"
    if status == 304 or status == 204 or status < 200:
        return status, close
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readuntil(b"\r\n")
    else:
        await reader.read()
        close = True
    return status, close


class _Tally:
    def __init__(self, budget: int) -> None:
        self.budget, self.requests, self.errors, self.latencies = budget, 0, 0, []


async def _connection(host: str, port: int, request: bytes, expect: int, deadline: float, tally: _Tally) -> None:
    """Send requests one after another on one connection, reconnecting whenever the server closes it."""
    writer = None
    while time.perf_counter() < deadline and tally.budget > 0:
        tally.budget -= 1
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()  # like wrk: from writing the request, connection already open
            writer.write(request)
            status, close = await asyncio.wait_for(_read_response(reader), REQUEST_TIMEOUT)
            tally.latencies.append(time.perf_counter() - started)
            tally.requests += 1
            tally.errors += status != expect
        except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            tally.errors += 1
            close = True
        if close and writer is not None:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * pct / 100))]


def _run_python(host: str, port: int, target: Target, concurrency: int, seconds: float, max_requests: int) -> Result:
    headers = {"Host": f"{host}:{port}", "Accept-Language": "ru", "User-Agent": USER_AGENT, **target.headers}
    request = f"GET {target.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    tally = _Tally(max_requests)

    async def load() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            *(_connection(host, port, request.encode(), target.expect, deadline, tally) for _ in range(concurrency))
        )
        return time.perf_counter() - started

    cpu = time.process_time()
    elapsed = asyncio.run(load())
    latencies = sorted(tally.latencies)
    return Result(
        target=target.name,
        path=target.path,
        client="python",
        seconds=elapsed,
        requests=tally.requests,
        errors=tally.errors,
        p50_ms=_percentile(latencies, 50) * 1000,
        p95_ms=_percentile(latencies, 95) * 1000,
        client_cpu_s=time.process_time() - cpu,
    )
