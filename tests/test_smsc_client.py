"""Our SMSC client against the fake SMSC over real HTTP."""

import hashlib
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest

import tests.fake_smsc as fakes
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
)
from notifier.sms.smsc import SmscError, SmscGateway, backup_url, parse_callback, verify_signature
from tests.fake_smsc import FakeSmsc

fake_smsc = fakes.fake_smsc  # the fixture, until tests/conftest.py offers it
PHONE, OTHER = "+77011234567", "+77017654321"
CLOSED = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused
T0 = 1_700_000_000  # 14.11.2023 22:13:20 UTC = 15.11.2023 01:13:20 in Moscow


def gateway_for(fake, **kwargs) -> SmscGateway:
    """Return our client pointed at the fake, with test-sized timeouts and no backup host."""
    options = {"login": fake.login, "password": fake.password, "connect_timeout": 0.5, "read_timeout": 0.2}
    return SmscGateway(kwargs.pop("base_url", fake.url), **(options | {"backup_base_url": ""} | kwargs))


@pytest.fixture
def gw(fake_smsc):
    return gateway_for(fake_smsc)


def test_send_accepts_with_parts_cost_and_per_phone_results(fake_smsc, gw):
    fake_smsc.script_phone(OTHER, 23, 253, on_send=True)
    result = gw.send("ann-1.sub_2", [PHONE, OTHER, "+7701"], "Ж" * 71)
    assert (result.outcome, result.parts, result.cost) == (ACCEPTED, 2, Decimal("24.00"))
    assert {p: (r.accepted, r.reason) for p, r in result.phones.items()} == {
        PHONE: (True, ""),
        OTHER: (False, "prohibited"),
        "+7701": (False, "wrong_number"),
    }
    assert [(m.id, m.phone, m.text) for m in fake_smsc.sent_messages] == [("ann-1.sub_2", "77011234567", "Ж" * 71)]
    assert fake_smsc.requests[0].params | {"mes": "…"} == {
        "login": fake_smsc.login,
        "fmt": "3",
        "charset": "utf-8",
        "id": "ann-1.sub_2",
        "phones": f"{PHONE},{OTHER},+7701",
        "mes": "…",
        "op": "1",
        "cost": "3",
    }


def test_send_uses_the_configured_sender_and_parts_are_per_message(fake_smsc):
    gw = gateway_for(fake_smsc, sender="Akimat")
    result = gw.send("r1", [PHONE, OTHER], "a" * 161)
    assert result.parts == 2  # SMSC's cnt is 4: two parts to each of two phones
    assert {m.sender for m in fake_smsc.sent_messages} == {"Akimat"}


@pytest.mark.parametrize("request_id", ["", "a" * 41, "has space", "comma,id", "ид"])
def test_send_refuses_request_ids_smsc_would_not_echo(gw, request_id):
    with pytest.raises(ValueError, match="request_id"):
        gw.send(request_id, [PHONE], "Hi")


@pytest.mark.parametrize("phones", [[], ["no digits"], [PHONE, "+7701,1234567"], ["+7701;1234567"]])
def test_send_refuses_phone_lists_smsc_would_split_or_cannot_read(gw, fake_smsc, phones):
    with pytest.raises(ValueError, match="phones"):
        gw.send("r1", phones, "Hi")
    assert fake_smsc.requests == []  # refused before anything left


@pytest.mark.parametrize(
    ("code", "outcome", "reason"),
    [
        (1, FAILED, "bad_parameters"),
        (2, HALT, "auth"),
        (3, HALT, "no_money"),
        (4, HALT, "ip_blocked"),
        (5, FAILED, "bad_time"),
        (6, FAILED, "forbidden"),
        (7, FAILED, "invalid_number"),
        (8, FAILED, "undeliverable"),
        (9, UNCERTAIN, "duplicate_or_too_frequent"),
    ],
)
def test_each_smsc_error_maps_to_our_outcome(fake_smsc, gw, code, outcome, reason):
    fake_smsc.fail_next(code)
    result = gw.send("e1", [PHONE], "Hi")
    assert (result.outcome, result.reason) == (outcome, reason)
    assert result.retry_after == (60 if code == 9 else None)
    assert all(not r.accepted for r in result.phones.values())
    assert bool(result.phones) == (code in (7, 8))


def test_real_errors_from_the_fake_map_the_same_way(fake_smsc, gw):
    assert gw.send("bad", ["7701"], "Hi").reason == "invalid_number"
    assert gw.send("long", [PHONE], "x" * 1001).reason == "bad_parameters"
    fake_smsc.balance = Decimal(0)
    assert (gw.send("poor", [PHONE], "Hi").outcome, gw.send("poor2", [PHONE], "Hi").reason) == (HALT, "no_money")
    wrong = gateway_for(fake_smsc, password="wrong").send("auth", [PHONE], "Hi")
    assert (wrong.outcome, wrong.reason) == (HALT, "auth")


def test_an_unknown_error_code_is_failed_with_the_raw_body(fake_smsc, gw):
    fake_smsc.fail_next(15)
    result = gw.send("u1", [PHONE], "Hi")
    assert (result.outcome, result.reason) == (FAILED, "unknown_error")
    assert '"error_code": 15' in result.detail


def test_api_key_authentication(fake_smsc):
    gw = SmscGateway(fake_smsc.url, apikey=fake_smsc.apikey, backup_base_url="")
    assert gw.send("k1", [PHONE], "Hi").outcome == ACCEPTED
    assert "login" not in fake_smsc.requests[0].params


@pytest.mark.parametrize("hook", ["http_500_next", "empty_next"])
def test_5xx_and_empty_bodies_are_uncertain(fake_smsc, gw, hook):
    getattr(fake_smsc, hook)()
    result = gw.send("x1", [PHONE], "Hi")
    assert (result.outcome, result.reason) == (
        UNCERTAIN,
        "server_error" if hook == "http_500_next" else "empty_response",
    )


def test_timeout_after_smsc_processed_the_send_reconciles_to_pending(fake_smsc, gw):
    fake_smsc.timeout_next(seconds=5, processed=True)
    first = gw.send("t1", [PHONE], "Hi")
    assert (first.outcome, first.reason) == (UNCERTAIN, "timeout")
    resend = gw.send("t1", [PHONE], "Hi")  # byte-identical within 60 s: SMSC answers error 9 (§3)
    assert (resend.outcome, resend.reason) == (UNCERTAIN, "duplicate_or_too_frequent")
    status = gw.statuses([("t1", PHONE)])[("t1", PHONE)]
    assert (status.state, status.final) == (PENDING, False)
    assert len(fake_smsc.sent_messages) == 1


def test_timeout_before_smsc_processed_the_send_reconciles_to_not_found(fake_smsc, gw):
    fake_smsc.timeout_next(seconds=5, processed=False)
    result = gw.send("t2", [PHONE], "Hi")
    assert (result.outcome, result.reason) == (UNCERTAIN, "timeout")
    assert gw.statuses([("t2", PHONE)])[("t2", PHONE)].state == NOT_FOUND
    assert gw.send("t2", [PHONE], "Hi").outcome == ACCEPTED
    assert len(fake_smsc.sent_messages) == 1


def test_connection_refused_falls_back_to_the_backup_host_once(fake_smsc):
    gw = gateway_for(fake_smsc, base_url=CLOSED, backup_base_url=fake_smsc.url)
    assert gw.send("b1", [PHONE], "Hi").outcome == ACCEPTED
    assert gw.balance() == Decimal("988.00")
    nowhere = gateway_for(fake_smsc, base_url=CLOSED, backup_base_url=CLOSED).send("b2", [PHONE], "Hi")
    assert (nowhere.outcome, nowhere.reason) == (UNCERTAIN, "network")


def test_a_read_timeout_never_moves_to_the_backup_host(fake_smsc):
    fake_smsc.timeout_next(seconds=5, processed=True)
    gw = gateway_for(fake_smsc, backup_base_url=fake_smsc.url)
    assert gw.send("b3", [PHONE], "Hi").reason == "timeout"
    assert [r.endpoint for r in fake_smsc.requests] == ["send"]


def test_the_backup_host_is_www2_of_the_domain():
    assert backup_url("https://smsc.kz") == "https://www2.smsc.kz"
    assert backup_url("https://www.smsc.ru:8443") == "https://www2.smsc.ru:8443"
    assert backup_url(CLOSED) is None
    assert SmscGateway("https://smsc.kz/", apikey="k").backup_base_url == "https://www2.smsc.kz"


@pytest.mark.parametrize(
    ("code", "err", "state", "reason"),
    [
        (1, 0, DELIVERED, ""),
        (2, 0, DELIVERED, ""),
        (4, 0, DELIVERED, ""),
        (3, 6, UNDELIVERED, "expired"),
        (20, 255, UNDELIVERED, "impossible"),
        (22, 1, UNDELIVERED, "wrong_number"),
        (23, 253, UNDELIVERED, "prohibited"),
        (24, 0, UNDELIVERED, "no_money"),
        (25, 11, UNDELIVERED, "unavailable"),
    ],
)
def test_status_maps_every_final_code(fake_smsc, gw, code, err, state, reason):
    gw.send("s1", [PHONE], "Hi")
    fake_smsc.set_status("s1", PHONE, code, err)
    assert gw.statuses([("s1", PHONE)])[("s1", PHONE)] == DeliveryStatus(PHONE, state, True, reason, err)


def test_status_of_several_phones_in_one_call(fake_smsc, gw):
    gw.send("s2", [PHONE, OTHER], "Hi")
    fake_smsc.hand_off_all()
    fake_smsc.set_status("s2", OTHER, 1)
    statuses = gw.statuses([("s2", p) for p in (PHONE, OTHER, "+77000000000")])
    assert {p: (s.state, s.final) for (_request, p), s in statuses.items()} == {
        PHONE: (PENDING, False),
        OTHER: (DELIVERED, True),
        "+77000000000": (NOT_FOUND, False),
    }


def test_statuses_of_several_requests_in_one_call_match_by_request_and_phone(fake_smsc, gw):
    gw.send("r1", [PHONE, OTHER], "Hi")
    gw.send("r2", [PHONE], "Again")
    fake_smsc.set_status("r1", PHONE, 1)
    fake_smsc.set_status("r2", PHONE, 22, 1)
    pairs = [("r2", PHONE), ("r1", OTHER), ("r1", PHONE), ("r3", PHONE)]
    statuses = gw.statuses(pairs)
    assert {pair: s.state for pair, s in statuses.items()} == {
        ("r2", PHONE): UNDELIVERED,
        ("r1", OTHER): PENDING,
        ("r1", PHONE): DELIVERED,
        ("r3", PHONE): NOT_FOUND,
    }
    status_calls = [r for r in fake_smsc.requests if r.endpoint == "status"]
    assert len(status_calls) == 1 and status_calls[0].params["id"] == "r2,r1,r1,r3,"
    with pytest.raises(SmscError) as caught:  # SMSC's one mass request of the minute is spent
        gw.statuses(pairs[:2])
    assert caught.value.reason == "duplicate_or_too_frequent"


def test_status_errors_raise_a_typed_error(fake_smsc, gw):
    fake_smsc.fail_next(9, endpoint="status")
    with pytest.raises(SmscError) as caught:
        gw.statuses([("s3", PHONE)])
    assert (caught.value.outcome, caught.value.reason, caught.value.retry_after) == (
        UNCERTAIN,
        "duplicate_or_too_frequent",
        60,
    )
    fake_smsc.http_500_next(endpoint="balance")
    with pytest.raises(SmscError, match="server_error"):
        gw.balance()


def test_balance_is_a_decimal(fake_smsc, gw):
    fake_smsc.balance = Decimal("1234.56")
    assert gw.balance() == Decimal("1234.56")


def test_fetch_inbound_parses_moscow_dates_and_unix_times(fake_smsc, gw):
    fake_smsc.now = lambda: float(T0)
    first = fake_smsc.inject_inbound(PHONE, "СТОП", to_phone="7700")
    second = fake_smsc.inject_inbound(OTHER, "Иә", to_phone="7700")
    inbound = gw.fetch_inbound(None)
    assert [(m.id, m.phone, m.text, m.to_phone) for m in inbound] == [
        (first, "77011234567", "СТОП", "7700"),
        (second, "77017654321", "Иә", "7700"),
    ]
    moment = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert (inbound[0].sent_at, inbound[0].received_at) == (moment, moment)
    assert [m.id for m in gw.fetch_inbound(first, hours=1)] == [second]
    assert gw.fetch_inbound(second) == []
    fake_smsc.fail_next(3, endpoint="get")
    assert gw.fetch_inbound(None) == []


def test_parse_callback_reads_a_status():
    event = parse_callback({"id": "ann-1", "phone": "77011234567", "status": "22", "err": "249", "ts": str(T0)})
    assert (event.kind, event.request_id, event.at) == ("status", "ann-1", datetime.fromtimestamp(T0, UTC))
    assert (event.status.state, event.status.final, event.status.reason, event.status.code) == (
        UNDELIVERED,
        True,
        "wrong_number",
        249,
    )
    pending = parse_callback({"id": "a", "phone": "+7701", "status": "0", "time": "15.11.2023 01:13:20"})
    assert (pending.status.state, pending.status.code, pending.at) == (PENDING, 0, datetime.fromtimestamp(T0, UTC))


def test_parse_callback_reads_an_inbound_sms_from_a_form_with_lists():
    event = parse_callback(
        {"id": ["901"], "phone": ["77011234567"], "mes": ["СТОП"], "to": ["7700"], "sent": [str(T0)]}
    )
    sms = event.inbound
    assert (event.kind, sms.id, sms.phone, sms.text, sms.to_phone) == ("inbound", 901, "77011234567", "СТОП", "7700")
    assert sms.sent_at == datetime.fromtimestamp(T0, UTC)


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"id": "1", "status": "1"},
        {"phone": "7701", "status": "1"},
        {"id": "1", "phone": "7701"},
        {"id": "1", "phone": "7701", "status": "delivered"},
        {"id": "1", "phone": "7701", "status": ""},
        {"id": "1", "phone": "7701", "status": "1", "err": "x"},
        {"id": "1", "phone": "7701", "status": "1", "time": "yesterday"},
        {"id": "abc", "phone": "7701", "mes": "hi"},
        {"id": "1", "phone": "none", "mes": "hi"},
    ],
)
def test_parse_callback_refuses_malformed_forms(form):
    with pytest.raises(ValueError):
        parse_callback(form)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.server.seen.append(dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode())))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


def test_callbacks_from_the_fake_parse_and_verify(fake_smsc, gw):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        fake_smsc.callback_url, fake_smsc.callback_secret = f"http://127.0.0.1:{server.server_address[1]}/", "s"
        gw.send("cb1", [PHONE], "Hi")
        fake_smsc.deliver_all()
        fake_smsc.inject_inbound(OTHER, "Иә")
        fake_smsc.wait_callbacks()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    status, inbound = (parse_callback(form) for form in server.seen)
    assert (status.request_id, status.status.state, inbound.inbound.text) == ("cb1", DELIVERED, "Иә")
    assert all(verify_signature(form, "s") for form in server.seen)
    assert not any(verify_signature(form, "other") for form in server.seen)


def test_verify_signature_needs_a_matching_md5_or_sha1():
    form = {"id": "7", "phone": "77011234567", "status": "1"}
    md5 = hashlib.md5(b"7:77011234567:1:k").hexdigest()  # noqa: S324 (SMSC's choice)
    sha1 = hashlib.sha1(b"7:77011234567:1:k").hexdigest()  # noqa: S324
    assert verify_signature(form | {"md5": md5.upper()}, "k")
    assert verify_signature(form | {"sha1": sha1}, "k")
    assert not verify_signature(form | {"md5": md5, "sha1": "0" * 40}, "k")
    assert not verify_signature(form, "k")  # unsigned
    assert not verify_signature(form | {"md5": md5}, "")
    assert not verify_signature(form | {"md5": "é" * 32}, "k")
    assert verify_signature({k: [v] for k, v in (form | {"md5": md5}).items()}, "k")  # parse_qs-style lists


def test_from_config_reads_the_smsc_settings(fake_smsc):
    config = fake_smsc.config() | {"SMSC_SENDER": "Akimat", "SMSC_READ_TIMEOUT": "2.5", "SMSC_CONNECT_TIMEOUT": None}
    gw = SmscGateway.from_config(config)
    assert (gw.sender, gw.timeout.read, gw.timeout.connect) == ("Akimat", 2.5, 5.0)
    assert gw.send("c1", [PHONE], "Hi").outcome == ACCEPTED
    with pytest.raises(ValueError, match="SMSC_APIKEY") as caught:
        SmscGateway.from_config({"SMSC_LOGIN": None, "SMSC_PASSWORD": "hunter2"})
    assert "hunter2" not in str(caught.value)


def test_the_password_never_reaches_urls_logs_or_results(caplog, capsys):
    secret = "Pa55-never-LOG-me"
    fake = FakeSmsc(password=secret).start()
    caplog.set_level(logging.DEBUG)
    try:
        gw = gateway_for(fake, password=secret, base_url=CLOSED, backup_base_url=fake.url)
        seen = [gw.send("p1", [PHONE], "Hi"), gw.statuses([("p1", PHONE)]), gw.balance(), gw.fetch_inbound(None), gw]
        fake.timeout_next(seconds=5)
        fake.fail_next(2, endpoint="status")
        seen += [gw.send("p2", [PHONE], "Hi")]
        with pytest.raises(SmscError) as caught:
            gw.statuses([("p2", PHONE)])
        seen += [caught.value, caught.value.detail]
    finally:
        fake.stop()
    assert "HTTP Request: POST http://" in caplog.text  # httpx logs the URL, which carries no secret
    logged = caplog.text + "".join(str(r.args) for r in caplog.records) + "".join(capsys.readouterr())
    assert secret not in logged
    assert secret not in repr(seen) + str(seen)
    assert all(secret not in str(r.params) for r in fake.requests)
