"""The fake SMSC behaves as docs/smsc-api.md describes the real one."""

import hashlib
import json
import socket
import ssl
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote_from_bytes

import httpx
import pytest

import tests.fake_smsc as fakes
from tests.fake_smsc import FakeSmsc

fake_smsc = fakes.fake_smsc  # the fixture, until tests/conftest.py offers it
PHONE, OTHER = "+77011234567", "+77017654321"
PLAIN = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # plain HTTP only; httpx's default context costs ~60 ms per client


def client(**kwargs) -> httpx.Client:
    """Return an HTTP client for the local fake."""
    return httpx.Client(verify=PLAIN, **kwargs)


def call(fake, endpoint="send.php", *, auth=None, method="POST", **params):
    """Call the fake like SMSC's clients do; fmt=3 and charset=utf-8 unless given."""
    data = (auth if auth is not None else {"login": fake.login, "psw": fake.password}) | params
    data = {"fmt": "3", "charset": "utf-8"} | data
    url = f"{fake.url}/sys/{endpoint}"
    with client(timeout=5) as http:
        response = http.post(url, data=data) if method == "POST" else http.get(url, params=data)
    assert response.status_code == 200
    return response


def api(fake, endpoint="send.php", **params):
    """Call the fake and return its JSON answer."""
    return json.loads(call(fake, endpoint, **params).content.decode("utf-8"))


def send(fake, text="Hello", phones=PHONE, **params):
    return api(fake, phones=phones, mes=text, **params)


@pytest.mark.parametrize(
    "auth",
    [
        {"login": "habarlama", "psw": "fake-smsc-password"},
        {"apikey": "fake-smsc-apikey"},
        {"login": "", "psw": "fake-smsc-apikey"},
    ],
)
def test_accepts_password_apikey_and_key_in_psw(fake_smsc, auth):
    assert api(fake_smsc, "balance.php", auth=auth) == {"balance": "1000.00"}


@pytest.mark.parametrize("auth", [{"login": "habarlama", "psw": "wrong"}, {}, {"apikey": "nope"}])
def test_anything_else_is_error_2_with_http_200(fake_smsc, auth):
    assert api(fake_smsc, auth=auth, phones=PHONE, mes="x") == {"error": "authorise error", "error_code": 2}
    assert fake_smsc.sent_messages == []


def test_get_query_works_like_post_and_requests_are_logged_without_secrets(fake_smsc):
    assert send(fake_smsc, method="GET")["cnt"] == 1
    api(fake_smsc, "balance.php", auth={"apikey": fake_smsc.apikey})
    assert [(r.endpoint, r.method) for r in fake_smsc.requests] == [("send", "GET"), ("balance", "POST")]
    assert all("psw" not in r.params and "apikey" not in r.params for r in fake_smsc.requests)
    assert fake_smsc.requests[0].params["mes"] == "Hello"


def test_default_charset_is_windows_1251_for_input_and_output(fake_smsc):
    fields = {"login": fake_smsc.login, "psw": fake_smsc.password, "phones": PHONE, "fmt": "3"}
    body = "&".join(f"{k}={v}" for k, v in fields.items()) + "&mes=" + quote_from_bytes("Привет, мир".encode("cp1251"))
    with client() as http:
        http.post(
            f"{fake_smsc.url}/sys/send.php", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    assert fake_smsc.sent_messages[0].text == "Привет, мир"
    fake_smsc.inject_inbound(OTHER, "Ответ")
    answer = call(fake_smsc, "get.php", get_answers="1", charset="windows-1251")
    assert json.loads(answer.content.decode("cp1251"))[0]["message"] == "Ответ"
    assert "Ответ".encode() not in answer.content


def test_utf8_charset_and_the_content_type_that_still_says_windows_1251(fake_smsc):
    send(fake_smsc, "Сәлем, әлем 😀")  # Kazakh letters are not in windows-1251
    assert fake_smsc.sent_messages[0].text == "Сәлем, әлем 😀"
    fake_smsc.inject_inbound(OTHER, "Рақмет")
    answer = call(fake_smsc, "get.php", get_answers="1")
    assert json.loads(answer.content.decode("utf-8"))[0]["message"] == "Рақмет"
    assert answer.headers["Content-Type"] == "application/json; charset=windows-1251"


def test_fmt_0_1_3_shapes_for_success_and_error(fake_smsc):
    assert call(fake_smsc, fmt="0", phones=PHONE, mes="a", id="7").text == "OK - 1 SMS, ID - 7"
    assert call(fake_smsc, fmt="1", phones=PHONE, mes="b", id="8", cost="3").text == "8,1,12.00,976.00"
    assert call(fake_smsc, fmt="0", phones="123", mes="c", id="9").text == "ERROR = 7 (invalid number), ID - 9"
    assert call(fake_smsc, fmt="1", phones=PHONE, mes="").text == "0,-1"
    assert send(fake_smsc, "d", id="10") == {"id": 10, "cnt": 1}


def test_one_echoed_id_covers_every_phone_else_a_server_counter(fake_smsc):
    assert send(fake_smsc, phones=f"{PHONE},{OTHER}", id="req-1") == {"id": "req-1", "cnt": 2}
    assert [(m.id, m.phone) for m in fake_smsc.sent_messages] == [("req-1", "77011234567"), ("req-1", "77017654321")]
    first, second = send(fake_smsc, "one")["id"], send(fake_smsc, "two")["id"]
    assert isinstance(first, int)
    assert second == first + 1


@pytest.mark.parametrize(
    ("text", "cnt"),
    [("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3), ("Ж" * 70, 1), ("Ж" * 71, 2), ("Ж" * 134, 2)]
    + [("Ж" * 135, 3), ("😀" * 35, 1), ("😀" * 35 + "a", 2)],
)
def test_cnt_follows_gsm7_and_ucs2_part_sizes(fake_smsc, text, cnt):
    assert send(fake_smsc, text)["cnt"] == cnt


def test_cost_1_prices_without_sending_and_allows_5_identical_requests(fake_smsc):
    answers = [send(fake_smsc, "a" * 161, cost="1") for _ in range(6)]
    assert answers[0] == {"cost": "24.00", "cnt": 2}
    assert [a.get("error_code") for a in answers] == [None] * 5 + [9]
    assert (fake_smsc.sent_messages, fake_smsc.balance) == ([], Decimal("1000.00"))


def test_cnt_is_parts_times_phones_and_cost_3_reports_cost_and_balance(fake_smsc):
    answer = send(fake_smsc, "a" * 161, phones=f"{PHONE},{OTHER}", cost="3")
    assert answer == {"id": answer["id"], "cnt": 4, "cost": "48.00", "balance": "952.00"}


def test_invalid_numbers_fail_per_phone_and_error_7_when_none_is_valid(fake_smsc):
    answer = send(fake_smsc, phones=f"{PHONE},7701,+7701abc4567", id="r1", op="1")
    assert [(p["phone"], p["status"], p["error"]) for p in answer["phones"]] == [
        ("77011234567", "-1", "0"),
        ("7701", "22", "249"),
        ("77014567", "22", "249"),
    ]
    assert send(fake_smsc, phones=f"{PHONE},7701", id="r2", err="1")["phones"] == [
        {"phone": "7701", "mccmnc": "40101", "cost": "0", "status": "22", "error": "249"}
    ]
    assert send(fake_smsc, phones="7701;12", id="r3") == {"error": "invalid number", "error_code": 7, "id": "r3"}
    assert [m.id for m in fake_smsc.sent_messages] == ["r1", "r2"]


def test_a_phone_scripted_to_be_refused_at_send_gives_error_8_when_alone(fake_smsc):
    fake_smsc.script_phone(OTHER, 23, 253, on_send=True)
    assert send(fake_smsc, phones=OTHER, id="x") == {"error": "can't to deliver", "error_code": 8, "id": "x"}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"mes": "x" * 1001}, 1),
        ({"mes": ""}, 1),
        ({"phones": ""}, 1),
        ({"id": "bad id!"}, 1),
        ({"time": "tomorrow"}, 5),
    ],
)
def test_parameter_and_time_errors(fake_smsc, params, code):
    assert api(fake_smsc, **({"phones": PHONE, "mes": "Hi"} | params))["error_code"] == code


@pytest.mark.parametrize("when", ["2512301530", "25.12.30 15:30", "9-21", "01700000000", "+30", "0"])
def test_documented_time_formats_are_accepted(fake_smsc, when):
    assert send(fake_smsc, time=when)["cnt"] == 1
    assert fake_smsc.sent_messages[0].scheduled == when


def test_identical_request_within_60_seconds_is_error_9_but_not_after(fake_smsc):
    assert send(fake_smsc, id="dup")["cnt"] == 1
    assert send(fake_smsc, id="dup") == {"error": "duplicate request, wait a minute", "error_code": 9}
    assert send(fake_smsc, "other text", id="dup")["cnt"] == 1  # not identical
    fake_smsc.advance(61)
    assert send(fake_smsc, id="dup")["cnt"] == 1
    assert len(fake_smsc.sent_messages) == 3


def test_too_many_concurrent_requests_per_login_is_error_9(fake_smsc):
    fake_smsc.concurrency_limit = 2
    fake_smsc.timeout_next(seconds=5, processed=False, endpoint="balance")
    with client(timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.post(f"{fake_smsc.url}/sys/balance.php", data={"login": fake_smsc.login})
    assert send(fake_smsc)["error_code"] == 9  # the stalled request is still in flight


def test_a_fifth_concurrent_status_request_is_error_9(fake_smsc):
    send(fake_smsc, id="c")
    for _ in range(4):
        fake_smsc.timeout_next(seconds=5, processed=False, endpoint="status")
        with client(timeout=0.2) as http, pytest.raises(httpx.ReadTimeout):
            http.post(f"{fake_smsc.url}/sys/status.php", data={"login": fake_smsc.login, "id": "c", "phone": PHONE})
    assert api(fake_smsc, "status.php", id="c", phone=PHONE)["error_code"] == 9  # four still in flight
    assert send(fake_smsc, id="d")["cnt"] == 1  # other endpoints count against the login's 15 only


def test_more_than_3_identical_get_requests_a_minute_is_error_9(fake_smsc):
    answers = [api(fake_smsc, "get.php", get_answers="1", after_id="5") for _ in range(4)]
    assert answers[:3] == [[], [], []] and answers[3]["error_code"] == 9
    assert api(fake_smsc, "get.php", get_answers="1", after_id="6") == []  # not identical
    fake_smsc.advance(61)
    assert api(fake_smsc, "get.php", get_answers="1", after_id="5") == []


def test_status_machine_with_callbacks_and_unknown_pairs(fake_smsc):
    send(fake_smsc, phones=f"{PHONE},{OTHER}", id="m1")
    fake_smsc.script_phone(OTHER, 22, 1)  # applies to sends from now on
    send(fake_smsc, phones=OTHER, id="m2")
    assert api(fake_smsc, "status.php", id="m1", phone=PHONE)["status"] == -1
    fake_smsc.hand_off_all()
    assert fake_smsc.status_of("m1", PHONE) == (0, 0)
    fake_smsc.deliver_all()
    assert api(fake_smsc, "status.php", id="m1", phone=PHONE).keys() == {"status", "last_date", "last_timestamp"}
    assert api(fake_smsc, "status.php", id="m2", phone=OTHER)["err"] == 1
    assert api(fake_smsc, "status.php", id="m1", phone="+77000000000") == {"status": -3}
    assert api(fake_smsc, "status.php", id="nope", phone=PHONE) == {"status": -3}


def test_status_lists_keep_order_and_a_trailing_comma_forces_the_array(fake_smsc):
    send(fake_smsc, phones=f"{PHONE},{OTHER}", id="L")
    fake_smsc.set_status("L", OTHER, 20, 255)
    answer = api(fake_smsc, "status.php", id="L,L,L", phone=f"{OTHER},+77000000000,{PHONE}")
    assert [(a["phone"], a["status"], a.get("err", 0)) for a in answer] == [
        ("77017654321", 20, 255),
        ("77000000000", -3, 0),
        ("77011234567", -1, 0),
    ]
    assert len(api(fake_smsc, "status.php", id="L,", phone=f"{PHONE},")) == 1
    assert api(fake_smsc, "status.php", id="L,L", phone=PHONE)["error_code"] == 1


def test_more_than_5_status_requests_per_message_per_minute_is_error_9(fake_smsc):
    send(fake_smsc, id="s")
    answers = [api(fake_smsc, "status.php", id="s", phone=PHONE) for _ in range(6)]
    assert [a.get("error_code") for a in answers] == [None] * 5 + [9]
    fake_smsc.advance(60)
    assert api(fake_smsc, "status.php", id="s", phone=PHONE)["status"] == -1


def test_one_mass_status_request_a_minute_and_single_ones_besides(fake_smsc):
    send(fake_smsc, phones=f"{PHONE},{OTHER}", id="a")
    send(fake_smsc, phones=OTHER, id="b")
    both = api(fake_smsc, "status.php", id="a,b", phone=f"{PHONE},{OTHER}")  # several requests in one list
    assert [(a["id"], a["phone"], a["status"]) for a in both] == [("a", "77011234567", -1), ("b", "77017654321", -1)]
    assert api(fake_smsc, "status.php", id="a,a", phone=f"{PHONE},{OTHER}")["error_code"] == 9
    assert api(fake_smsc, "status.php", id="b,", phone=f"{OTHER},")[0]["status"] == -1  # one message: not mass
    fake_smsc.advance(60)
    assert len(api(fake_smsc, "status.php", id="a,a", phone=f"{PHONE},{OTHER}")) == 2


def test_messages_expire_to_status_3_when_valid_runs_out(fake_smsc):
    send(fake_smsc, id="v", valid="01:30")
    fake_smsc.advance(5399)
    assert fake_smsc.status_of("v", PHONE) == (-1, 0)
    fake_smsc.advance(2)
    assert fake_smsc.status_of("v", PHONE) == (3, 6)


def test_balance_falls_with_each_send_and_error_3_when_short(fake_smsc):
    fake_smsc.balance = Decimal("30.00")
    send(fake_smsc, phones=f"{PHONE},{OTHER}")
    assert api(fake_smsc, "balance.php") == {"balance": "6.00"}
    assert send(fake_smsc, "again", id="poor") == {"error": "no money", "error_code": 3, "id": "poor"}
    assert len(fake_smsc.sent_messages) == 2


def test_more_than_10_balance_requests_per_minute_is_error_9(fake_smsc):
    assert [api(fake_smsc, "balance.php").get("error_code") for _ in range(11)] == [None] * 10 + [9]


def test_get_answers_filters_by_after_id_to_phone_and_hour(fake_smsc):
    assert api(fake_smsc, "get.php", get_answers="1") == []
    first = fake_smsc.inject_inbound(PHONE, "СТОП", to_phone="7700")
    fake_smsc.advance(7200)
    second = fake_smsc.inject_inbound(OTHER, "Ответ", to_phone="7711")
    assert second > first
    rows = api(fake_smsc, "get.php", get_answers="1")
    assert [(r["id"], r["phone"], r["to_phone"], r["message"]) for r in rows] == [
        (first, "77011234567", "7700", "СТОП"),
        (second, "77017654321", "7711", "Ответ"),
    ]
    assert [r["id"] for r in api(fake_smsc, "get.php", get_answers="1", after_id=str(first))] == [second]
    assert [r["id"] for r in api(fake_smsc, "get.php", get_answers="1", to_phone="7700")] == [first]
    assert [r["id"] for r in api(fake_smsc, "get.php", get_answers="1", hour="1")] == [second]
    assert api(fake_smsc, "get.php", get_answers="1", after_id="abc")["error_code"] == 1


@pytest.mark.parametrize("code", range(1, 10))
def test_fail_next_forces_every_error_code(fake_smsc, code):
    fake_smsc.fail_next(code)
    answer = send(fake_smsc, id="f1")
    assert answer["error_code"] == code
    assert ("id" in answer) == (code in (3, 6, 7, 8))
    assert send(fake_smsc, id="f1")["cnt"] == 1  # one request only; the failed one was not processed


def test_empty_500_and_timeout_hooks(fake_smsc):
    fake_smsc.empty_next()
    fake_smsc.http_500_next("status")
    assert call(fake_smsc, phones=PHONE, mes="x").content == b""
    with client() as http:
        assert http.post(f"{fake_smsc.url}/sys/status.php", data={}).status_code == 500
    fake_smsc.timeout_next(seconds=5, processed=True)
    fake_smsc.timeout_next(seconds=5, processed=False)
    with client(timeout=0.2) as http:
        for text in ("processed", "dropped"):
            with pytest.raises(httpx.ReadTimeout):
                http.post(
                    f"{fake_smsc.url}/sys/send.php",
                    data={"login": fake_smsc.login, "psw": fake_smsc.password, "phones": PHONE, "mes": text},
                )
    assert [m.text for m in fake_smsc.sent_messages] == ["processed"]


def test_rest_send_takes_a_json_body(fake_smsc):
    body = {"apikey": fake_smsc.apikey, "phones": PHONE, "mes": "Сәлем", "id": 42}
    with client() as http:
        answer = http.post(f"{fake_smsc.url}/rest/send/", json=body).json()
    assert answer == {"id": 42, "cnt": 1}
    assert fake_smsc.sent_messages[0].text == "Сәлем"


class Receiver(BaseHTTPRequestHandler):
    """Records callback forms; answers 500 to the first `fail_first` requests."""

    def do_POST(self):  # noqa: N802
        server = self.server
        form = dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        server.seen.append(form)
        ok = len(server.seen) > server.fail_first
        self.send_response(200 if ok else 500)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, format, *args):
        pass


@pytest.fixture
def receiver():
    """Serve a callback receiver on a free port; yield the server (url, seen, fail_first)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.seen, server.fail_first = [], 0
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/smsc/token"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_status_and_inbound_callbacks_are_posted_signed_and_retried(fake_smsc, receiver):
    fake_smsc.callback_url, fake_smsc.callback_secret = receiver.url, "cb-secret"
    receiver.fail_first = 1
    send(fake_smsc, id="cb")
    fake_smsc.deliver_all()
    inbound_id = fake_smsc.inject_inbound(OTHER, "Иә", to_phone="7700")
    fake_smsc.wait_callbacks()
    status, inbound = receiver.seen[1], receiver.seen[2]
    assert receiver.seen[0] == status  # the first attempt got a 500 and was retried
    assert {k: status[k] for k in ("id", "phone", "status", "err")} == {
        "id": "cb",
        "phone": "77011234567",
        "status": "1",
        "err": "0",
    }
    assert status["md5"] == hashlib.md5(b"cb:77011234567:1:cb-secret").hexdigest()  # noqa: S324 (SMSC's choice)
    assert status["ts"].isdigit() and len(status["time"]) == 19
    assert {k: inbound[k] for k in ("id", "phone", "mes", "to")} == {
        "id": str(inbound_id),
        "phone": "77017654321",
        "mes": "Иә",
        "to": "7700",
    }
    assert inbound["sent"].isdigit()
    assert [(c["kind"], c["attempts"], c["ok"]) for c in fake_smsc.callbacks] == [
        ("status", 2, True),
        ("inbound", 1, True),
    ]


def test_callbacks_give_up_after_the_configured_retries(fake_smsc, receiver):
    fake_smsc.callback_url, fake_smsc.callback_retries = receiver.url, 1
    receiver.fail_first = 10
    send(fake_smsc, id="x")
    fake_smsc.hand_off_all()
    fake_smsc.wait_callbacks()
    assert len(receiver.seen) == 2
    assert fake_smsc.callbacks[0]["ok"] is False


def test_runs_standalone_and_never_prints_the_password():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "tests.fake_smsc",
        "--port",
        str(port),
        "--login",
        "demo",
        "--password",
        "s3cret-XYZ",
    ]
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        try:
            lines.append(process.stdout.readline())
            assert lines[0].startswith(f"Fake SMSC on http://127.0.0.1:{port}")
            with client() as http:
                data = {"login": "demo", "psw": "s3cret-XYZ", "fmt": "3"}
                assert http.post(f"http://127.0.0.1:{port}/sys/balance.php", data=data).json() == {"balance": "1000.00"}
                assert http.get(f"http://127.0.0.1:{port}/sys/balance.php", params=data).status_code == 200
            lines += [process.stdout.readline(), process.stdout.readline()]
            assert "balance.php" in lines[1]
        finally:
            process.terminate()
            lines.append(process.communicate(timeout=5)[0])
    assert "s3cret-XYZ" not in "".join(lines)


def test_a_started_fake_can_be_stopped_and_reports_its_settings():
    fake = FakeSmsc(login="a", password="pw-XYZ").start()
    try:
        assert fake.config() | {"SMSC_CONNECT_TIMEOUT": 0, "SMSC_READ_TIMEOUT": 0} == {
            "SMSC_BASE_URL": fake.url,
            "SMSC_LOGIN": "a",
            "SMSC_PASSWORD": "pw-XYZ",
            "SMSC_APIKEY": None,
            "SMSC_CONNECT_TIMEOUT": 0,
            "SMSC_READ_TIMEOUT": 0,
        }
        assert "pw-XYZ" not in repr(fake)
    finally:
        fake.stop()
    with pytest.raises(httpx.ConnectError), client() as http:
        http.get(fake.url)
