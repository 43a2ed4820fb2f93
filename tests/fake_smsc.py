"""A real HTTP fake of the SMSC API (docs/smsc-api.md, "What our fake SMSC server must do").

In tests: the `fake_smsc` fixture; `app.config.update(fake_smsc.config())` points SmscGateway at it.
Drive it with fail_next, timeout_next, empty_next, http_500_next, script_phone, hand_off_all,
deliver_all, set_status, advance, inject_inbound; read sent_messages, requests, callbacks.
Standalone: python -m tests.fake_smsc --port 8123 --login demo --password secret [--callback-url URL]
"""

import argparse
import contextlib
import hashlib
import json
import queue
import re
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from notifier import segments

MOSCOW = timezone(timedelta(hours=3))
ENDPOINTS = {"/sys/send.php": "send", "/rest/send/": "send", "/sys/status.php": "status"}
ENDPOINTS |= {"/sys/balance.php": "balance", "/sys/get.php": "get"}
ERROR_TEXT = {1: "parameters error", 2: "authorise error", 3: "no money", 4: "IP is blocked"}
ERROR_TEXT |= {5: "invalid date format", 6: "message is denied", 7: "invalid number", 8: "can't to deliver"}
ERROR_TEXT |= {9: "duplicate request, wait a minute"}
ERRORS_WITH_ID = {3, 6, 7, 8}
FINAL = {1, 2, 3, 4, 20, 22, 23, 24, 25}
SECRET_PARAMS = {"psw", "apikey"}
STATUS_CONCURRENCY_LIMIT = 5  # the 5th simultaneous status.php request per login gets error 9 (§4.3)
# Deferred-send forms of `time`: DDMMYYhhmm, DD.MM.YY hh:mm, h1-h2, 0<unix ts>, +minutes.
TIME_FORMATS = re.compile(r"\d{10}|\d\d\.\d\d\.\d\d \d\d:\d\d|\d{1,2}-\d{1,2}|0\d*|\+\d+")
CLIENT_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")


class ApiError(Exception):
    """An SMSC API error: HTTP 200 with error and error_code."""

    def __init__(self, code: int, msg_id: str | None = None):
        super().__init__(code)
        self.code, self.msg_id = code, msg_id


@dataclass(frozen=True)
class SentMessage:
    """One phone of an accepted send request."""

    id: str
    phone: str
    text: str
    sender: str
    time: float  # the fake's clock when SMSC accepted it
    scheduled: str = "0"  # the `time` parameter: when to send


@dataclass(frozen=True)
class Received:
    """One request as the fake saw it, secrets removed."""

    endpoint: str
    method: str
    params: dict


@dataclass
class Tracked:
    """The delivery state of one (id, phone)."""

    status: int
    err: int
    final: tuple[int, int]
    changed_at: float
    valid_until: float


@dataclass
class Hook:
    """A scripted misbehaviour for the next request to one endpoint."""

    kind: str  # error, timeout, empty, http_500
    code: int = 0
    seconds: float = 0.0
    processed: bool = True


@dataclass
class Inbound:
    """An SMS a subscriber sent to one of our numbers."""

    id: int
    phone: str
    text: str
    to_phone: str
    at: float


def digits(phone: str) -> str:
    """Return only the digits of a phone number."""
    return re.sub(r"\D", "", phone)


def moscow(ts: float) -> str:
    """Format a unix time as SMSC does: DD.MM.YYYY hh:mm:ss, Moscow time."""
    return datetime.fromtimestamp(ts, MOSCOW).strftime("%d.%m.%Y %H:%M:%S")


def valid_phone(phone: str) -> bool:
    """Accept international numbers: an optional +, then 10 to 15 digits."""
    return re.fullmatch(r"\+?\d{10,15}", phone) is not None


@dataclass
class FakeSmsc:
    """The SMSC account and server state; drive it from tests with the control methods."""

    login: str = "habarlama"
    password: str = field(default="fake-smsc-password", repr=False)
    apikey: str = field(default="fake-smsc-apikey", repr=False)
    balance: Decimal = Decimal("1000.00")
    price: Decimal = Decimal("12.00")
    callback_url: str | None = None
    callback_secret: str | None = None
    callback_retries: int = 2
    concurrency_limit: int = 15  # the 15th simultaneous request per login gets error 9 (§4.1)
    content_charset: str = "windows-1251"  # the Content-Type charset real SMSC sends whatever we ask (§1)
    verbose: bool = False
    sent_messages: list[SentMessage] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    callbacks: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._offset = 0.0
        self._next_id = 1000
        self._hooks: dict[str, list[Hook]] = defaultdict(list)
        self._tracked: dict[tuple[str, str], Tracked] = {}
        self._scripts: dict[str, tuple[int, int, bool]] = {}
        self._hits: dict[object, list[float]] = defaultdict(list)
        self._in_flight: dict[tuple[str, str], int] = defaultdict(int)  # (caller, endpoint) -> requests
        self._inbound: list[Inbound] = []
        self._outbox: queue.Queue = queue.Queue(maxsize=1000)
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> "FakeSmsc":
        """Serve on host:port (0 = a free port) from daemon threads."""
        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.fake = self
        self._threads = [
            threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True),
            threading.Thread(target=self._deliver_callbacks, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Wake sleeping handlers, stop serving and close the socket."""
        self._stopping.set()
        self._outbox.put(None)
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)

    @property
    def url(self) -> str:
        """Return the base URL to give SMSC_BASE_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def config(self) -> dict:
        """Return the SMSC_* settings that point our client at this fake, with test-sized timeouts."""
        settings = {"SMSC_BASE_URL": self.url, "SMSC_LOGIN": self.login, "SMSC_PASSWORD": self.password}
        return settings | {"SMSC_APIKEY": None, "SMSC_CONNECT_TIMEOUT": 0.5, "SMSC_READ_TIMEOUT": 0.5}

    # --- clock -----------------------------------------------------------------------------------

    def now(self) -> float:
        """Return the fake's unix time; override it or use advance() to move time."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the clock forward; messages past their validity expire (status 3)."""
        self._offset += seconds
        for key, msg in list(self._tracked.items()):
            if msg.status not in FINAL and self.now() > msg.valid_until:
                self.set_status(*key, 3, 6)  # err 6: the subscriber stayed offline

    # --- scripting -------------------------------------------------------------------------------

    def fail_next(self, error_code: int, endpoint: str = "send") -> None:
        """Answer the next request to `endpoint` with API error `error_code`."""
        self._hooks[endpoint].append(Hook("error", code=error_code))

    def timeout_next(self, seconds: float = 5.0, processed: bool = True, endpoint: str = "send") -> None:
        """Stall the next request for `seconds`; `processed` decides whether it took effect anyway."""
        self._hooks[endpoint].append(Hook("timeout", seconds=seconds, processed=processed))

    def empty_next(self, endpoint: str = "send") -> None:
        """Answer the next request with HTTP 200 and an empty body, without processing it."""
        self._hooks[endpoint].append(Hook("empty"))

    def http_500_next(self, endpoint: str = "send") -> None:
        """Answer the next request with HTTP 500, without processing it."""
        self._hooks[endpoint].append(Hook("http_500"))

    def script_phone(self, phone: str, status: int, err: int = 0, on_send: bool = False) -> None:
        """Make `phone` end in `status`/`err`: refused at send time, or later via deliver_all()."""
        self._scripts[digits(phone)] = (status, err, on_send)

    def status_of(self, msg_id: str, phone: str) -> tuple[int, int] | None:
        """Return (status, err) of one message, or None when unknown."""
        msg = self._tracked.get((str(msg_id), digits(phone)))
        return (msg.status, msg.err) if msg else None

    def set_status(self, msg_id: str, phone: str, status: int, err: int = 0) -> None:
        """Move one message to `status` and fire the status callback."""
        with self._lock:
            msg = self._tracked[(str(msg_id), digits(phone))]
            msg.status, msg.err, msg.changed_at = status, err, self.now()
        self._callback("status", self._signed({"id": msg_id, "phone": digits(phone), "status": status, "err": err}))

    def hand_off_all(self) -> None:
        """Move every waiting message (-1) to the operator (0)."""
        for key, msg in list(self._tracked.items()):
            if msg.status == -1:
                self.set_status(*key, 0)

    def deliver_all(self) -> None:
        """Move every message that is not final to its scripted final status (default 1, delivered)."""
        for key, msg in list(self._tracked.items()):
            if msg.status not in FINAL:
                self.set_status(*key, *msg.final)

    def inject_inbound(self, phone: str, text: str, to_phone: str = "77000000000") -> int:
        """Receive an SMS from a subscriber: store it for get.php and fire the inbound callback."""
        with self._lock:
            self._next_id += 1
            sms = Inbound(self._next_id, digits(phone), text, digits(to_phone), self.now())
            self._inbound.append(sms)
        form = {"id": sms.id, "phone": sms.phone, "mes": text, "to": sms.to_phone, "sent": int(sms.at)}
        self._callback("inbound", self._signed(form))
        return sms.id

    def wait_callbacks(self, timeout: float = 2.0) -> None:
        """Block until every queued callback was delivered or given up."""
        with self._outbox.all_tasks_done:
            self._outbox.all_tasks_done.wait_for(lambda: self._outbox.unfinished_tasks == 0, timeout)

    # --- callbacks -------------------------------------------------------------------------------

    def _signed(self, form: dict) -> dict:
        moment = self.now()
        form |= {"time": moscow(moment), "ts": int(moment)}
        if self.callback_secret:
            plain = f"{form['id']}:{form['phone']}:{form.get('status', '')}:{self.callback_secret}".encode()
            form |= {"md5": hashlib.md5(plain).hexdigest(), "sha1": hashlib.sha1(plain).hexdigest()}  # noqa: S324
        return form

    def _callback(self, kind: str, form: dict) -> None:
        if self.callback_url:
            with contextlib.suppress(queue.Full):  # bounded: a test that floods callbacks loses the excess
                self._outbox.put_nowait((kind, form))

    def _deliver_callbacks(self) -> None:
        # Ignore proxy settings from the environment: callbacks go straight to the test's receiver.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while (item := self._outbox.get()) is not None:
            kind, form = item
            record = {"kind": kind, "form": form, "attempts": 0, "ok": False}
            while not record["ok"] and record["attempts"] <= self.callback_retries and not self._stopping.is_set():
                record["attempts"] += 1
                try:
                    with opener.open(self.callback_url, urlencode(form).encode(), timeout=2) as response:
                        record["ok"] = response.status == 200
                except OSError:
                    self._stopping.wait(0.05 * record["attempts"])
            self.callbacks.append(record)
            self._outbox.task_done()
        self._outbox.task_done()

    # --- request handling ------------------------------------------------------------------------

    def handle(self, endpoint: str, params: dict) -> object:
        """Answer one authenticated API call with a JSON-able body, or raise ApiError."""
        self._authenticate(params)
        caller = _caller(params)
        if sum(n for (who, _e), n in self._in_flight.items() if who == caller) >= self.concurrency_limit:
            raise ApiError(9)
        if endpoint == "status" and self._in_flight[(caller, endpoint)] >= STATUS_CONCURRENCY_LIMIT:
            raise ApiError(9)
        try:
            return getattr(self, f"_{endpoint}")(params)
        except (TypeError, ValueError) as exc:  # e.g. after_id=abc
            raise ApiError(1) from exc

    def _authenticate(self, params: dict) -> None:
        login, psw, apikey = params.get("login"), params.get("psw"), params.get("apikey")
        if apikey != self.apikey and (login, psw) not in (("", self.apikey), (self.login, self.password)):
            raise ApiError(2)

    def _limit(self, key: object, per_minute: int) -> None:
        """Raise error 9 when `key` was hit more than `per_minute` times in the last 60 s."""
        now = self.now()
        hits = self._hits[key] = [t for t in self._hits[key] if now - t < 60] + [now]
        if len(hits) > per_minute:
            raise ApiError(9)

    def _send(self, params: dict) -> dict:
        msg_id = params.get("id") or None
        if msg_id is not None and not (CLIENT_ID.fullmatch(msg_id) and (not msg_id.isdigit() or int(msg_id))):
            raise ApiError(1)
        text, phones = params.get("mes", ""), [p.strip() for p in re.split(r"[,;]", params.get("phones", ""))]
        phones = [p for p in phones if p]
        if not text or not phones or len(text) > 1000:
            raise ApiError(1)
        if not TIME_FORMATS.fullmatch(params.get("time", "0")):
            raise ApiError(5)
        self._limit(("send", tuple(sorted(params.items()))), 5 if params.get("cost") == "1" else 1)
        with self._lock:
            if msg_id is None:
                self._next_id += 1
            return self._accept(msg_id or str(self._next_id), phones, text, params)

    def _accept(self, msg_id: str, phones: list[str], text: str, params: dict) -> dict:
        parts = segments.count(text).parts
        results, sendable = [], []
        for phone in phones:
            status, err, on_send = self._scripts.get(digits(phone), (1, 0, False))
            if not valid_phone(phone):
                status, err, on_send = 22, 249, True
            results.append({"phone": digits(phone), "mccmnc": "40101", "cost": "0", "status": "-1", "error": "0"})
            if on_send:
                results[-1] |= {"status": str(status), "error": str(err)}
            else:
                results[-1]["cost"] = str(self.price * parts)
                sendable.append((phone, status, err))
        if not sendable:
            raise ApiError(7 if all(r["error"] == "249" for r in results) else 8, msg_id)
        cost = self.price * parts * len(sendable)
        if params.get("cost") == "1":  # price only, nothing is sent
            return {"cost": str(cost), "cnt": parts * len(sendable)}
        if cost > self.balance:
            raise ApiError(3, msg_id)
        self.balance -= cost
        now, sender = self.now(), params.get("sender", "")
        for phone, status, err in sendable:
            self.sent_messages.append(SentMessage(msg_id, digits(phone), text, sender, now, params.get("time", "0")))
            self._tracked[(msg_id, digits(phone))] = Tracked(-1, 0, (status, err), now, now + _valid(params))
        body = {"id": int(msg_id) if msg_id.isdigit() else msg_id, "cnt": parts * len(sendable)}
        if params.get("cost") in ("2", "3"):
            body["cost"] = str(cost)
        if params.get("cost") == "3":
            body["balance"] = str(self.balance)
        if params.get("op") == "1" or params.get("err") == "1":
            body["phones"] = [r for r in results if params.get("op") == "1" or r["error"] != "0"]
        return body

    def _status(self, params: dict) -> dict | list:
        ids, phones = params.get("id", "").split(","), params.get("phone", "").split(",")
        many = len(ids) > 1
        pairs = [(i.strip(), digits(p)) for i, p in zip(ids, phones, strict=False) if i.strip()]
        if not pairs or len(ids) != len(phones):
            raise ApiError(1)
        if len(pairs) > 1:  # a "mass" request: at most one a minute per login (§8)
            self._limit(("status", "mass"), 1)
        for pair in pairs:
            self._limit(("status", pair), 5)
        answers = []
        for msg_id, phone in pairs:
            msg = self._tracked.get((msg_id, phone))
            answer = {"status": -3}
            if msg:
                answer = {
                    "status": msg.status,
                    "last_date": moscow(msg.changed_at),
                    "last_timestamp": int(msg.changed_at),
                }
                if msg.err:  # recorded real answers omit err when it is 0 (§5.2)
                    answer["err"] = msg.err
            answers.append(answer | ({"id": msg_id, "phone": phone} if many else {}))
        return answers if many else answers[0]

    def _balance(self, params: dict) -> dict:
        self._limit(("balance",), 10)
        return {"balance": str(self.balance)}

    def _get(self, params: dict) -> list:
        if params.get("get_answers") != "1":
            raise ApiError(1)
        self._limit(("get", tuple(sorted(params.items()))), 3)  # >3 identical requests a minute (§4.3)
        after, hours = int(params.get("after_id") or 0), float(params.get("hour") or 24)
        to_phone, since = digits(params.get("to_phone", "")), self.now() - hours * 3600
        return [
            {"id": m.id, "received": moscow(m.at), "phone": m.phone, "to_phone": m.to_phone}
            | {"sent": int(m.at), "message": m.text}  # `sent` as a unix int, `received` as a date (§7.2)
            for m in self._inbound
            if m.id > after and m.at >= since and (not to_phone or m.to_phone == to_phone)
        ]


def _caller(params: dict) -> str:
    """Name whoever a request counts against for the concurrency limit."""
    return params.get("login") or "(apikey)"


def _valid(params: dict) -> float:
    """Return a message's lifetime in seconds from `valid` (hours, or hh:mm); default 24 h."""
    hours, _, minutes = params.get("valid", "24").partition(":")
    try:
        return int(hours) * 3600 + int(minutes or 0) * 60
    except ValueError:
        raise ApiError(1) from None


def render(fmt: str, endpoint: str, body: object) -> str:
    """Render an answer in the requested fmt: 3 JSON, 1 comma-separated, anything else text."""
    if fmt == "3":
        return json.dumps(body, ensure_ascii=False)
    if isinstance(body, dict) and "error_code" in body:
        code, msg_id = body["error_code"], body.get("id")
        if fmt == "1":
            return f"{msg_id or 0},-{code}"
        return f"ERROR = {code} ({body['error']})" + (f", ID - {msg_id}" if msg_id else "")
    if endpoint == "send":
        extra = [body[k] for k in ("cost", "balance") if k in body]
        if fmt == "1":
            return ",".join(str(v) for v in [body["id"], body["cnt"], *extra])
        return f"OK - {body['cnt']} SMS, ID - {body['id']}" + "".join(f", {v}" for v in extra)
    if endpoint == "status" and isinstance(body, dict):
        if fmt == "1":
            return f"{body['status']},{body.get('last_timestamp', 0)},{body.get('err', 0)}"
        return f"Status = {body['status']}, check_time = {body.get('last_date', '')}"
    return body["balance"] if endpoint == "balance" else json.dumps(body, ensure_ascii=False)


class Handler(BaseHTTPRequestHandler):
    """Turns HTTP requests into FakeSmsc.handle() calls, honouring hooks, charset and fmt."""

    def do_GET(self):  # noqa: N802 (http.server naming)
        self._serve(urlsplit(self.path).query.encode("latin-1"))

    def do_POST(self):  # noqa: N802
        self._serve(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def log_message(self, format, *args):
        """Stay quiet: the request line of a GET carries the password."""

    def _serve(self, raw: bytes) -> None:
        fake: FakeSmsc = self.server.fake
        path = urlsplit(self.path).path
        endpoint = ENDPOINTS.get(path)
        params = self._params(path, raw)
        shown = {k: v for k, v in params.items() if k not in SECRET_PARAMS}
        fake.requests.append(Received(endpoint or path, self.command, shown))
        if fake.verbose:
            print(self.command, path, shown, flush=True)
        if endpoint is None:
            return self._reply(404, "not found", "utf-8")
        with fake._lock:
            fake._in_flight[(_caller(params), endpoint)] += 1
        try:
            self._answer(fake, endpoint, path, params)
        finally:
            with fake._lock:
                fake._in_flight[(_caller(params), endpoint)] -= 1

    def _answer(self, fake: FakeSmsc, endpoint: str, path: str, params: dict) -> None:
        hook = fake._hooks[endpoint].pop(0) if fake._hooks[endpoint] else Hook("none")
        if hook.kind == "empty":
            return self._reply(200, "", "utf-8")
        if hook.kind == "http_500":
            return self._reply(500, "<h1>500 Internal Server Error</h1>", "utf-8", "text/html")
        if hook.kind == "timeout" and not hook.processed:
            fake._stopping.wait(hook.seconds)
            return None  # the connection closes without an answer
        try:
            if hook.kind == "error":
                raise ApiError(hook.code, params.get("id") if hook.code in ERRORS_WITH_ID else None)
            body = fake.handle(endpoint, params)
        except ApiError as exc:
            body = {"error": ERROR_TEXT.get(exc.code, "unknown error"), "error_code": exc.code}
            body |= {"id": exc.msg_id} if exc.msg_id else {}
        if hook.kind == "timeout":
            fake._stopping.wait(hook.seconds)
        rest = path.startswith("/rest/")
        fmt, charset = ("3", "utf-8") if rest else (params.get("fmt", "0"), "windows-1251")
        kind = "application/json" if fmt == "3" else "text/plain"
        return self._reply(200, render(fmt, endpoint, body), params.get("charset", charset), kind)

    def _params(self, path: str, raw: bytes) -> dict:
        if path.startswith("/rest/"):
            try:
                return {k: str(v) for k, v in json.loads(raw or b"{}").items()}
            except (ValueError, AttributeError):
                return {}  # error 2 follows: no credentials
        # Percent-decode to bytes (latin-1 is byte-transparent), then decode with the declared charset.
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
        charset = dict(pairs).get("charset", "windows-1251")
        charset = charset if charset in ("utf-8", "koi8-r", "windows-1251") else "windows-1251"
        return {k: v.encode("latin-1").decode(charset, errors="replace") for k, v in pairs}

    def _reply(self, status: int, text: str, charset: str, kind: str = "text/plain") -> None:
        data = text.encode(charset, errors="replace")
        try:
            self.send_response(status)
            self.send_header("Content-Type", f"{kind}; charset={self.server.fake.content_charset}")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout hooks)
            pass


@pytest.fixture
def fake_smsc():
    """Yield a FakeSmsc serving on a free local port; stop it afterwards."""
    fake = FakeSmsc().start()
    yield fake
    fake.stop()


def main() -> None:
    """Serve a fake SMSC until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--login", default="demo")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--apikey", default="demo-apikey")
    parser.add_argument("--callback-url")
    parser.add_argument("--callback-secret")
    parser.add_argument("--balance", default="1000.00")
    args = parser.parse_args()
    fake = FakeSmsc(args.login, args.password, args.apikey, Decimal(args.balance), verbose=True)
    fake.callback_url, fake.callback_secret = args.callback_url, args.callback_secret
    fake.start(args.host, args.port)
    print(f"Fake SMSC on {fake.url} (login {args.login}); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
