"""Our SMSC client (smsc.kz/.ru): the only module that knows SMSC's codes, fields and quirks."""

import functools
import hashlib
import hmac
import json
import logging
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit, urlunsplit

import httpx

from notifier.sms.base import (
    ACCEPTED,
    DELIVERED,
    FAILED,
    HALT,
    NOT_FOUND,
    PENDING,
    UNCERTAIN,
    UNDELIVERED,
    DeliveryStatus,
    InboundSms,
    PhoneResult,
    SendResult,
)

log = logging.getLogger(__name__)

MOSCOW = timezone(timedelta(hours=3))  # SMSC writes dates in Moscow time (§5.2)
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,40}")
NOT_DIGIT = re.compile(r"\D")
# A phone we may put in a list: at least one digit, and no comma or semicolon (SMSC splits on both).
LISTABLE_PHONE = re.compile(r"[^,;]*\d[^,;]*")
# SMSC error_code -> (our outcome, reason): fix the input / stop and alert / reconcile (§4.1).
SEND_ERRORS = {1: (FAILED, "bad_parameters"), 5: (FAILED, "bad_time"), 6: (FAILED, "forbidden")}
SEND_ERRORS |= {7: (FAILED, "invalid_number"), 8: (FAILED, "undeliverable")}
SEND_ERRORS |= {2: (HALT, "auth"), 3: (HALT, "no_money"), 4: (HALT, "ip_blocked")}
SEND_ERRORS |= {9: (UNCERTAIN, "duplicate_or_too_frequent")}
RETRY_AFTER = {9: 60}  # error 9: reconcile, then back off at least a minute (§4.1)
# SMSC status -> (our state, final, reason) (§5.3).
STATUSES = {s: (PENDING, False, "") for s in (-2, -1, 0)} | {s: (DELIVERED, True, "") for s in (1, 2, 4)}
UNDELIVERED_REASONS = {3: "expired", 20: "impossible", 22: "wrong_number", 23: "prohibited", 24: "no_money"}
UNDELIVERED_REASONS[25] = "unavailable"
STATUSES |= {s: (UNDELIVERED, True, reason) for s, reason in UNDELIVERED_REASONS.items()}
STATUSES[-3] = (NOT_FOUND, False, "")  # may be transient right after a send, so not final; the caller decides (§3)


class SmscError(Exception):
    """SMSC did not answer a non-send call usefully; `outcome` says what to do (base.py)."""

    def __init__(self, outcome: str, reason: str, detail: str = "", retry_after: int | None = None):
        super().__init__(f"{outcome}: {reason}" + (f" ({detail})" if detail else ""))
        self.outcome, self.reason, self.detail, self.retry_after = outcome, reason, detail, retry_after


@dataclass(frozen=True)
class CallbackEvent:
    """One callback from SMSC: a delivery status of (request_id, phone), or an inbound SMS."""

    kind: str  # "status" or "inbound"
    request_id: str = ""
    status: DeliveryStatus | None = None
    inbound: InboundSms | None = None
    at: datetime | None = None


def digits(phone: str) -> str:
    """Return only the digits: SMSC answers "77011234567" for "+77011234567"."""
    return NOT_DIGIT.sub("", phone)


def backup_url(base_url: str) -> str | None:
    """Return SMSC's backup host for a base URL (https://smsc.kz -> https://www2.smsc.kz)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if not re.search(r"[a-z]", host) or "." not in host:  # an IP or localhost has no backup twin
        return None
    netloc = "www2." + host.removeprefix("www.") + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class SmscGateway:
    """Sends SMS through SMSC's HTTP API as form-encoded POSTs with fmt=3 and charset=utf-8."""

    name = "smsc"

    def __init__(
        self,
        base_url: str,
        *,
        login: str | None = None,
        password: str | None = None,
        apikey: str | None = None,
        sender: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        backup_base_url: str | None = None,  # None: www2.<domain>; "": no backup host
    ):
        if not apikey and not (login and password):
            raise ValueError("SMSC needs SMSC_LOGIN and SMSC_PASSWORD, or SMSC_APIKEY")
        self.base_url = base_url.rstrip("/")
        self.backup_base_url = backup_url(self.base_url) if backup_base_url is None else backup_base_url.rstrip("/")
        self.sender = sender
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._auth = {"apikey": apikey} if apikey else {"login": login, "psw": password}
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping) -> "SmscGateway":
        """Build the gateway from the SMSC_* settings."""
        return cls(
            config.get("SMSC_BASE_URL") or "https://smsc.kz",
            login=config.get("SMSC_LOGIN"),
            password=config.get("SMSC_PASSWORD"),
            apikey=config.get("SMSC_APIKEY"),
            sender=config.get("SMSC_SENDER"),
            connect_timeout=float(config.get("SMSC_CONNECT_TIMEOUT") or 5),
            read_timeout=float(config.get("SMSC_READ_TIMEOUT") or 20),
        )

    def __repr__(self) -> str:
        return f"SmscGateway({self.base_url!r})"  # never the credentials

    def send(self, request_id: str, phones: list[str], text: str) -> SendResult:
        """Send `text` to `phones` under our `request_id`, which SMSC echoes as its message id."""
        if not REQUEST_ID.fullmatch(request_id):
            raise ValueError("request_id must be 1-40 characters of A-Z a-z 0-9 . _ -")
        if not phones or not all(LISTABLE_PHONE.fullmatch(p) for p in phones):
            raise ValueError("phones must be a non-empty list of phone numbers")
        form = {"id": request_id, "phones": ",".join(phones), "mes": text, "op": "1", "cost": "3"}
        if self.sender:
            form["sender"] = self.sender
        try:
            answer = self._call("send.php", form)
        except SmscError as exc:
            rejected = exc.reason in ("invalid_number", "undeliverable")
            refused = {p: PhoneResult(p, False, exc.reason) for p in phones} if rejected else {}
            return SendResult(exc.outcome, exc.reason, exc.detail, phones=refused, retry_after=exc.retry_after)
        try:
            return _send_result(answer, phones)
        except (AttributeError, TypeError, ValueError):  # SMSC answered 200 with a shape we do not know
            return SendResult(UNCERTAIN, "bad_response", str(answer)[:200])

    def statuses(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], DeliveryStatus]:
        """Return the delivery state of each (request id, phone), of one request or several, in one call;
        raise SmscError when SMSC fails.

        More than one pair makes it a "mass" request, which SMSC allows once a minute per login (§8).
        """
        # Matching id and phone lists; the trailing commas force the list answer even for one pair.
        form = {"id": "".join(f"{r}," for r, _p in pairs), "phone": "".join(f"{p}," for _r, p in pairs)}
        answer = self._call("status.php", form)
        try:
            found = _statuses(answer if isinstance(answer, list) else [answer], pairs)
        except (AttributeError, TypeError, ValueError):
            raise SmscError(UNCERTAIN, "bad_response", str(answer)[:200]) from None
        return {pair: found.get(pair) or DeliveryStatus(pair[1], NOT_FOUND, False) for pair in pairs}

    def balance(self) -> Decimal:
        """Return the account balance."""
        answer = self._call("balance.php", {})
        return _decimal(answer.get("balance") if isinstance(answer, dict) else None, "balance")

    def fetch_inbound(self, after_id: int | None, hours: int = 24) -> list[InboundSms]:
        """Return inbound SMS received in the last `hours`, after `after_id`, oldest first."""
        form = {"get_answers": "1", "hour": str(hours)}
        if after_id is not None:
            form["after_id"] = str(after_id)
        try:
            answer = self._call("get.php", form)
        except SmscError as exc:
            if exc.reason == "not_found":  # error 3 on get.php: nothing to report (§7.2)
                return []
            raise
        try:
            rows = [_inbound(row) for row in (answer if isinstance(answer, list) else [])]
        except (AttributeError, TypeError, ValueError):
            raise SmscError(UNCERTAIN, "bad_response", str(answer)[:200]) from None
        return sorted((r for r in rows if after_id is None or r.id > after_id), key=lambda r: r.id)

    def _client(self) -> httpx.Client:
        """Return the gateway's HTTP client: one per gateway, kept alive across calls and shared by the
        dispatch threads (httpx clients are thread-safe), so requests reuse connections (and TLS sessions)."""
        with self._lock:
            if self._http is None:
                limits = httpx.Limits(max_connections=16, max_keepalive_connections=16, keepalive_expiry=30)
                self._http = httpx.Client(timeout=self.timeout, verify=_tls_context(), limits=limits)
            return self._http

    def _call(self, endpoint: str, form: dict) -> object:
        """POST one API call and return the decoded JSON; raise SmscError for every failure."""
        data = {**self._auth, "fmt": "3", "charset": "utf-8", **form}
        http = self._client()
        try:
            response = http.post(f"{self.base_url}/sys/{endpoint}", data=data)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            # Only failures to connect move to the backup host: the request never reached SMSC.
            # After a read timeout SMSC may have sent it already, and the backup is another
            # door to the same account, so resending there could send twice; the caller
            # reconciles with status() instead (§3).
            if not self.backup_base_url:
                raise _network_error(exc) from None
            log.warning("SMSC %s unreachable, trying the backup host", urlsplit(self.base_url).hostname)
            try:
                response = http.post(f"{self.backup_base_url}/sys/{endpoint}", data=data)
            except httpx.HTTPError as exc2:
                raise _network_error(exc2) from None
        except httpx.HTTPError as exc:
            raise _network_error(exc) from None
        return _decode(endpoint, response)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """Return one certificate-verifying TLS context: building one costs tens of milliseconds."""
    return httpx.create_ssl_context()


def _network_error(exc: httpx.HTTPError) -> SmscError:
    """Name a transport failure; the outcome is unknown, so the caller must reconcile."""
    reason = "timeout" if isinstance(exc, httpx.TimeoutException) else "network"
    return SmscError(UNCERTAIN, reason, type(exc).__name__)


def _decode(endpoint: str, response: httpx.Response) -> object:
    """Turn an HTTP answer into JSON, or raise SmscError with our outcome."""
    if response.status_code >= 500:
        raise SmscError(UNCERTAIN, "server_error", f"HTTP {response.status_code}")
    if response.status_code != 200:  # a wrong base URL or a proxy: someone must look
        raise SmscError(HALT, "http_error", f"HTTP {response.status_code}")
    text = response.content.decode("utf-8", errors="replace")  # SMSC's Content-Type charset lies (§1)
    if not text.strip():
        raise SmscError(UNCERTAIN, "empty_response")
    try:
        answer = json.loads(text)
    except ValueError:
        raise SmscError(UNCERTAIN, "empty_response", f"not JSON: {text[:200]}") from None
    if isinstance(answer, dict) and "error_code" in answer:
        raise _api_error(endpoint, answer, text)
    return answer


def _api_error(endpoint: str, answer: dict, raw: str) -> SmscError:
    """Map an SMSC error_code to our outcome and reason."""
    try:
        code = int(answer["error_code"])
    except (TypeError, ValueError):
        code = -1
    if endpoint == "get.php" and code == 3:
        return SmscError(FAILED, "not_found", raw[:200])
    if code not in SEND_ERRORS:
        return SmscError(FAILED, "unknown_error", raw[:500])
    outcome, reason = SEND_ERRORS[code]
    log.warning("SMSC %s error %s: %s", endpoint, code, answer.get("error"))
    return SmscError(outcome, reason, str(answer.get("error", "")), RETRY_AFTER.get(code))


def _send_result(answer: dict, phones: list[str]) -> SendResult:
    """Read a send.php success: cnt, cost and the per-phone list (op=1)."""
    ours = {digits(p): p for p in phones}
    results = {p: PhoneResult(p, True) for p in phones}  # a phone SMSC does not list was accepted with the rest
    for item in answer.get("phones") or []:
        phone = ours.get(digits(str(item.get("phone", ""))))
        status, err = _int(item.get("status")), _int(item.get("error"))
        if phone and (err or STATUSES.get(status, ("",))[0] == UNDELIVERED):
            results[phone] = PhoneResult(phone, False, _delivery(phone, status, err).reason or f"error_{err}")
    accepted = sum(r.accepted for r in results.values()) or 1
    cnt = _int(answer.get("cnt"))
    # cnt counts parts over all phones; SendResult.parts is per message.
    parts = cnt // accepted if cnt % accepted == 0 else cnt
    cost = _decimal(answer["cost"], "cost") if answer.get("cost") is not None else None
    return SendResult(ACCEPTED, parts=parts, cost=cost, phones=results, detail=f"id {answer.get('id')}")


def _statuses(items: list, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], DeliveryStatus]:
    """Read a status.php list answer; entries match our (id, phone) pairs, phones by digits, else by position."""
    ours, found = {(r, digits(p)): (r, p) for r, p in pairs}, {}
    for index, item in enumerate(items):
        key = (str(item.get("id", "")).strip(), digits(str(item.get("phone", ""))))
        pair = ours.get(key) or (pairs[index] if index < len(pairs) else None)
        if pair is not None:
            found[pair] = _delivery(pair[1], item.get("status"), item.get("err"))
    return found


def _delivery(phone: str, status: object, err: object) -> DeliveryStatus:
    """Map an SMSC status and err (absent means 0) to our delivery state."""
    code = _int(status, default=-99)
    state, final, reason = STATUSES.get(code, (PENDING, False, f"unknown_status_{code}"))
    return DeliveryStatus(phone, state, final, reason, code=_int(err))


def _inbound(row: dict) -> InboundSms:
    """Read one get.php get_answers row."""
    return InboundSms(
        id=_int(row.get("id")),
        phone=str(row.get("phone", "")),
        text=str(row.get("message", "")),
        to_phone=str(row.get("to_phone", "")),
        sent_at=_when(row.get("sent"), strict=False),
        received_at=_when(row.get("received"), strict=False),
    )


def _int(value: object, default: int = 0) -> int:
    """Read SMSC's numbers, which come as ints or strings; missing means `default`."""
    if value in (None, ""):
        return default
    return int(str(value).strip())


def _decimal(value: object, name: str) -> Decimal:
    """Read a money amount that SMSC sends as a string or a number."""
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise SmscError(UNCERTAIN, "bad_response", f"{name} is not a number") from None


def _when(value: object, strict: bool = True) -> datetime | None:
    """Read an SMSC time, "DD.MM.YYYY hh:mm:ss" in Moscow time or unix seconds, as UTC."""
    text = str(value or "").strip()
    try:
        if not text:
            return None
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        return datetime.strptime(text, "%d.%m.%Y %H:%M:%S").replace(tzinfo=MOSCOW).astimezone(UTC)
    except (ValueError, OverflowError):
        if strict:
            raise ValueError(f"bad SMSC time {text[:40]!r}") from None
        return None  # a polled SMS is worth keeping without its date


def _flat(form: Mapping) -> dict:
    """Take the first value of list-valued fields (parse_qs style); MultiDict.to_dict() is flat already."""
    return {k: (v[0] if isinstance(v, list | tuple) and v else v) for k, v in form.items()}


def parse_callback(form: Mapping) -> CallbackEvent:
    """Read a status or inbound-SMS callback (§6, §7.3); raise ValueError when it is malformed."""
    data = _flat(form)
    phone, ident = str(data.get("phone") or "").strip(), str(data.get("id") or "").strip()
    if not digits(phone) or not ident:
        raise ValueError("callback without id or phone")
    at = _when(data.get("ts")) or _when(data.get("time"))
    if "mes" in data:
        if not ident.isdigit():
            raise ValueError("inbound callback id is not a number")
        sent = _when(data.get("sent")) or at
        sms = InboundSms(int(ident), phone, str(data["mes"]), str(data.get("to") or ""), sent, at)
        return CallbackEvent("inbound", inbound=sms, at=at)
    if str(data.get("status") or "").strip() == "":
        raise ValueError("callback is neither a status nor an inbound SMS")
    try:
        status = _delivery(phone, data["status"], data.get("err"))
    except ValueError:
        raise ValueError("callback status or err is not a number") from None
    return CallbackEvent("status", request_id=ident, status=status, at=at)


def verify_signature(form: Mapping, secret: str) -> bool:
    """True when an md5 or sha1 field is present and every one present is md5/sha1 of "id:phone:status:secret"."""
    data = _flat(form)
    signed = f"{data.get('id', '')}:{data.get('phone', '')}:{data.get('status', '')}:{secret}".encode()
    present = [(name, str(data[name]).lower().encode()) for name in ("md5", "sha1") if data.get(name)]
    expected = {"md5": hashlib.md5(signed).hexdigest(), "sha1": hashlib.sha1(signed).hexdigest()}  # noqa: S324
    return bool(secret and present) and all(hmac.compare_digest(sig, expected[n].encode()) for n, sig in present)
