"""Inbound SMS end to end: the real SMSC callback stores them, process_inbound answers or registers them,
poll_inbound brings in the ones whose callback never arrived."""

import itertools
import logging
import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update
from werkzeug.serving import make_server

from appeals.intake import poll_inbound, process_inbound
from appeals.models import Appeal, AppealMessage
from notifier import create_app, dispatch, outbox
from notifier.db import db, utcnow
from notifier.inbound_models import InboundSms
from notifier.outbox_models import OutboxMessage
from subscribers.models import ConfirmationCode, Subscriber
from tests import dbs
from tests.factories import create_announcement, create_subscriber
from tests.test_keywords import extra_districts  # noqa: F401 (a fixture)

URL = "/webhooks/smsc/test-webhook-token"
PHONE = "+77010000001"
_ids = itertools.count(90001)
postgres_only = pytest.mark.skipif(dbs.postgres_base_url() is None, reason="concurrency needs PostgreSQL")


def text_us(client, phone: str, text: str, gateway_id: int | None = None) -> int:
    """Deliver an inbound SMS through the real callback URL, as SMSC would; return its gateway id."""
    gateway_id = gateway_id or next(_ids)
    form = {"id": str(gateway_id), "phone": phone.lstrip("+"), "mes": text, "to": "77000000000"}
    assert client.post(URL, data=form).status_code == 200
    return gateway_id


def work(app, now) -> int:
    """Run the inbound job as the worker does."""
    with app.app_context():
        done = process_inbound(now)
        db.session.commit()
        return done


def converse(app, client, phone: str, text: str, now) -> list[str]:
    """Text us, let the worker run, and return every automatic reply the phone has had so far."""
    text_us(client, phone, text)
    work(app, now)
    return replies(app, phone)


def replies(app, phone: str) -> list[str]:
    """Return the texts queued to the phone that are going out (not announcements or codes), oldest first."""
    with app.app_context():
        rows = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.phone == phone, OutboxMessage.purpose.not_in(("announcement", "code")))
            .where(OutboxMessage.status != "cancelled")
            .order_by(OutboxMessage.id)
        )
        return [row.text for row in rows]


def subscriber(app, phone: str):
    with app.app_context():
        row = db.session.scalar(select(Subscriber).where(Subscriber.phone == phone))
        if row is not None:
            return row.status, row.language, [d.slug for d in row.districts], len(row.departments)
        return None


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_worker_runs_both_jobs(app):
    jobs = {name: seconds for name, _func, seconds in app.extensions["habarlama.jobs"]}
    assert jobs["process_inbound"] == 2 and jobs["poll_inbound"] == 60


def test_stop_stops_everything_with_one_confirmation_and_nothing_follows(app, client):
    now = utcnow()
    with app.app_context():
        create_subscriber(PHONE, districts=("al-farabi", "abay"), language="kk")
    sent = converse(app, client, PHONE, "CTOП", now)  # Latin C, T, O
    assert len(sent) == 1 and "тоқтатылды" in sent[0]
    status, *_ = subscriber(app, PHONE)
    assert status == "stopped"
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage).where(OutboxMessage.phone == PHONE)).urgent
    # Said again within the hour: still stopped, not confirmed twice.
    assert converse(app, client, PHONE, "стоп!!!", now + timedelta(minutes=5)) == sent
    assert converse(app, client, PHONE, "ТОҚТАТ", now + timedelta(minutes=50)) == sent
    with app.app_context():
        create_announcement(status="published", districts=["al-farabi", "abay"])
    assert count(app, OutboxMessage, OutboxMessage.phone == PHONE, OutboxMessage.purpose == "announcement") == 0
    assert count(app, InboundSms, InboundSms.status == "new") == 0
    assert count(app, Appeal) == 0


def test_stop_cancels_announcements_still_held_for_the_morning(app, client):
    night = utcnow().replace(hour=18, minute=0)  # 23:00 in Almaty: quiet hours
    with app.app_context():
        create_subscriber(PHONE)
        create_announcement(status="published", now=night)
        assert db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.phone == PHONE)) == "held"
    converse(app, client, PHONE, "stop", night + timedelta(minutes=5))
    with app.app_context():
        outbox.hold_and_release(night + timedelta(hours=9))
        dispatch.dispatch(night + timedelta(hours=9))
        db.session.commit()
        held = db.session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "announcement"))
        assert (held.status, held.reason) == ("cancelled", "stopped")


def test_stop_from_a_number_that_was_never_subscribed_is_confirmed_once(app, client):
    now = utcnow()
    assert converse(app, client, PHONE, "Stop.", now) == ["Хабарлама: номер не подписан, сообщений от нас не будет."]
    assert len(converse(app, client, PHONE, "STOP", now)) == 1
    assert subscriber(app, PHONE) is None


def test_start_resumes_a_stopped_number(app, client):
    now = utcnow()
    with app.app_context():
        create_subscriber(PHONE, districts=("abay",), status="stopped")
    sent = converse(app, client, PHONE, "Старт", now)
    assert len(sent) == 1 and "возобновлены" in sent[0] and "Абайский" in sent[0]
    assert subscriber(app, PHONE)[0] == "active"
    with app.app_context():
        create_announcement(status="published", districts=["abay"])
    assert count(app, OutboxMessage, OutboxMessage.phone == PHONE, OutboxMessage.purpose == "announcement") == 1
    # STOP after START within the hour is a new decision: it is confirmed.
    assert len(converse(app, client, PHONE, "STOP", now + timedelta(minutes=1))) == 2


def test_start_from_a_stranger_says_how_to_subscribe(app, client):
    (sent,) = converse(app, client, PHONE, "БАСТАУ", utcnow())
    assert "ЖАЗЫЛУ" in sent and "http://localhost:5000/subscribe" in sent
    assert subscriber(app, PHONE) is None


def test_help_explains_in_the_residents_language(app, client):
    now = utcnow()
    (kazakh,) = converse(app, client, "+77010000002", "КӨМЕК", now)
    assert all(word in kazakh for word in ("ТОҚТАТ", "БАСТАУ", "ЖАЗЫЛУ", "http://localhost:5000/subscribe"))
    (russian,) = converse(app, client, "+77010000003", "help", now)
    assert all(word in russian for word in ("СТОП", "СТАРТ", "ПОДПИСКА", "http://localhost:5000/subscribe"))
    with app.app_context():
        create_subscriber("+77010000004", language="ru")
    (theirs,) = converse(app, client, "+77010000004", "көмек", now)  # the subscriber's language wins
    assert theirs == russian
    # A long message that starts with "помощь" is an appeal.
    (ack,) = converse(app, client, "+77010000005", "помощь нужна, третий день нет воды в доме", now)
    assert ack.startswith("Обращение №") and count(app, Appeal) == 1


def test_subscribe_by_sms_to_one_district(app, client):
    now = utcnow()
    (sent,) = converse(app, client, PHONE, "ЖАЗЫЛУ Әл-Фараби", now)
    assert "Әл-Фараби" in sent and "ТОҚТАТ" in sent
    assert subscriber(app, PHONE) == ("active", "kk", ["al-farabi"], 6)  # every service
    sent = converse(app, client, PHONE, "подписка абай", now)
    assert "Абайский" in sent[-1]
    assert subscriber(app, PHONE) == ("active", "ru", ["abay", "al-farabi"], 6)
    with app.app_context():
        create_announcement(status="published", districts=["al-farabi"])
    assert count(app, OutboxMessage, OutboxMessage.phone == PHONE, OutboxMessage.purpose == "announcement") == 1


def test_subscribe_to_an_ambiguous_district_asks_and_a_digit_picks(app, client, extra_districts):  # noqa: F811
    now = utcnow()
    (question,) = converse(app, client, PHONE, "ПОДПИСКА Сайрам", now)
    assert "1 — Сайрамский" in question and "2 — Сайрамский-2" in question and "цифрой" in question
    assert subscriber(app, PHONE) is None
    assert "от 1 до 2" in converse(app, client, PHONE, "7", now)[-1]
    assert "Сайрамский-2" in converse(app, client, PHONE, "2", now + timedelta(minutes=3))[-1]
    assert subscriber(app, PHONE) == ("active", "ru", ["sairam-2"], 6)
    # The question is answered: a later digit is something for staff to read.
    converse(app, client, PHONE, "1", now + timedelta(minutes=4))
    assert count(app, Appeal) == 1 and subscriber(app, PHONE)[2] == ["sairam-2"]


def test_a_choice_expires_after_an_hour(app, client, extra_districts):  # noqa: F811
    now = utcnow()
    converse(app, client, PHONE, "жазылу сайрам", now)
    converse(app, client, PHONE, "1", now + timedelta(minutes=61))
    assert subscriber(app, PHONE) is None and count(app, Appeal) == 1


def test_district_choices_do_not_use_up_the_days_codes(app, client, extra_districts):  # noqa: F811
    now = utcnow()
    for minute in range(3):  # as many district choices by SMS as SUBSCRIBE_CODES_PER_DAY (3)
        converse(app, client, PHONE, "ПОДПИСКА Сайрам", now + timedelta(minutes=minute))
    assert count(app, ConfirmationCode, ConfirmationCode.purpose == "choice") == 3
    body = {"phone": PHONE, "districts": ["al-farabi"], "departments": ["water"], "language": "ru"}
    answers = [client.post("/api/v1/subscriptions", json=body).status_code for _ in range(4)]
    assert answers == [202, 202, 202, 429]  # the codes' own limit still holds


def test_subscribe_to_an_unknown_district_lists_them(app, client):
    (sent,) = converse(app, client, PHONE, "ПОДПИСКА Москва", utcnow())
    assert "не найден" in sent and "Абайский" in sent and "Туран" in sent
    assert subscriber(app, PHONE) is None and count(app, ConfirmationCode) == 0


def test_a_code_typed_back_confirms_a_web_subscription(app, client):
    form = {"phone": "8 701 000 00 01", "districts": ["turan"], "departments": ["gas"], "language": "kk"}
    assert client.post("/subscribe", data=form).status_code == 302
    with app.app_context():
        code_sms = db.session.scalar(select(OutboxMessage.text).where(OutboxMessage.purpose == "code"))
    code = re.search(r"\d{6}", code_sms).group()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    now = utcnow()
    assert "код сәйкес келмеді" in converse(app, client, PHONE, wrong, now)[-1]
    with app.app_context():
        assert db.session.scalar(select(ConfirmationCode.attempts)) == 1  # the wrong guess counts
    sent = converse(app, client, PHONE, f"{code[:3]} {code[3:]}", now)
    assert "Тұран" in sent[-1]
    assert subscriber(app, PHONE) == ("active", "kk", ["turan"], 1)
    # Six digits with no code waiting: an account number, perhaps. Staff read it.
    converse(app, client, PHONE, "555123", now)
    assert count(app, Appeal) == 1


def test_an_ordinary_text_becomes_an_appeal_with_an_acknowledgement(app, client):
    gateway_id = text_us(client, PHONE, "Воды нет третий день, ул. Байтурсынова 5")
    assert work(app, utcnow()) == 1
    with app.app_context():
        inbound = db.session.scalar(select(InboundSms).where(InboundSms.gateway_id == str(gateway_id)))
        appeal = db.session.scalar(select(Appeal))
        assert inbound.status == "handled" and appeal.channel == "sms" and appeal.phone == PHONE
        assert [m.inbound_id for m in appeal.messages] == [inbound.id]
        ack = db.session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "appeal_ack"))
        assert appeal.number in ack.text and ack.urgent and ack.language == "ru"


def test_the_same_inbound_twice_is_one_appeal(app, client):
    gateway_id = text_us(client, PHONE, "газ пахнет в подъезде")
    text_us(client, PHONE, "газ пахнет в подъезде", gateway_id)
    assert work(app, utcnow()) == 1
    assert work(app, utcnow()) == 0
    assert count(app, Appeal) == 1 and count(app, AppealMessage) == 1
    assert len(replies(app, PHONE)) == 1


@postgres_only
def test_the_same_inbound_from_many_threads_and_workers_is_one_appeal(app):
    form = {"id": "777001", "phone": PHONE[1:], "mes": "свет отключили", "to": "77000000000"}
    codes = []

    def callback():
        codes.append(app.test_client().post(URL, data=form).status_code)

    handled = []

    def worker():
        handled.append(work(app, utcnow()))

    for target in (callback, worker):
        threads = [threading.Thread(target=target) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert codes == [200] * 8 and sum(handled) == 1
    assert count(app, InboundSms) == 1 and count(app, Appeal) == 1 and len(replies(app, PHONE)) == 1


@postgres_only
def test_concurrent_workers_handle_each_sms_once_and_each_phone_in_order(app, client):
    phones = [f"+7701000{n:04d}" for n in range(10)]
    for phone in phones:
        with app.app_context():
            create_subscriber(phone)
        for word in ("STOP", "START", "STOP"):
            text_us(client, phone, word)
    handled = []
    threads = [threading.Thread(target=lambda: handled.append(work(app, utcnow()))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    while count(app, InboundSms, InboundSms.status == "new"):  # skipped for a busy phone: the next run
        handled.append(work(app, utcnow()))
    assert sum(handled) == 30
    assert all(subscriber(app, phone)[0] == "stopped" for phone in phones)  # STOP, START, STOP: in order
    assert all(len(replies(app, phone)) == 3 for phone in phones)


@postgres_only
def test_one_run_splits_the_work_by_phone_over_lanes_and_keeps_each_phone_in_order(app, client, caplog):
    app.config["APPEAL_INTAKE_LANES"] = 3
    phones = [f"+7701000{n:04d}" for n in range(12)]
    for phone in phones:
        with app.app_context():
            create_subscriber(phone)
        for word in ("STOP", "START", "STOP", "START"):
            text_us(client, phone, word)
    with caplog.at_level(logging.INFO, logger="habarlama.intake"):
        assert work(app, utcnow()) == 48  # one run: no lane waits for another's phone
    assert count(app, InboundSms, InboundSms.status == "new") == 0
    assert all(subscriber(app, phone)[0] == "active" for phone in phones)  # the last word was START
    lanes = {record.threadName for record in caplog.records if record.getMessage().startswith("inbound ")}
    assert len(lanes) == 3  # every lane had phones of its own


def test_loop_guard_limits_automatic_replies_per_hour(app, client):
    now = utcnow()
    for minute in range(6):
        sent = converse(app, client, PHONE, "help", now + timedelta(minutes=minute))
    assert len(sent) == 5
    # Beyond the limit things still happen, silently: the appeal registers, STOP stops.
    converse(app, client, PHONE, "свет моргает весь вечер", now + timedelta(minutes=10))
    assert count(app, Appeal) == 1
    with app.app_context():
        held_back = db.session.scalar(
            select(OutboxMessage).where(OutboxMessage.phone == PHONE).order_by(OutboxMessage.id.desc())
        )
        assert (held_back.purpose, held_back.status, held_back.reason) == (
            "appeal_ack",
            "cancelled",
            "auto_reply_limit",
        )
    assert len(replies(app, PHONE)) == 5
    # An hour after the first reply, answers resume.
    assert len(converse(app, client, PHONE, "help", now + timedelta(minutes=61))) == 6


def test_loop_guard_still_stops_and_confirms_once(app, client):
    now = utcnow()
    with app.app_context():
        create_subscriber(PHONE)
    for _ in range(5):
        converse(app, client, PHONE, "КӨМЕК", now)
    # Opt-out always works and is always confirmed (PRODUCT.md), even past the guard; once.
    assert len(converse(app, client, PHONE, "STOP", now)) == 6
    assert len(converse(app, client, PHONE, "STOP", now)) == 6
    assert subscriber(app, PHONE)[0] == "stopped"


@pytest.mark.parametrize(
    ("phone", "text"),
    [
        (PHONE, "Автоответ: я в отпуске до 10.12"),
        (PHONE, "Auto-reply: I am out of office"),
        (PHONE, "Абонент временно недоступен"),
        (PHONE, "Ваше сообщение доставлено 01.12 11:00"),
        ("1414", "Ваш баланс 500 тг. СТОП"),  # a short code
        ("79161234567", "СТОП"),  # a Russian mobile
        ("77172123456", "воды нет"),  # a landline in Astana
    ],
)
def test_automatic_messages_and_foreign_senders_get_no_reply(app, client, phone, text, caplog):
    caplog.set_level(logging.INFO, logger="habarlama.intake")
    text_us(client, phone, text)
    assert work(app, utcnow()) == 1
    assert count(app, InboundSms, InboundSms.status == "handled") == 1
    assert count(app, OutboxMessage) == 0 and count(app, Appeal) == 0
    assert "ignored" in caplog.text


def test_an_alphanumeric_sender_is_not_answered(app):
    # SMSC's callback parser refuses a sender without digits, but polling could still bring one in.
    with app.app_context():
        db.session.add(InboundSms(gateway_id="90000", phone="Kcell", text="Бонус 100 ГБ! Ответьте СТАРТ"))
        db.session.commit()
    assert work(app, utcnow()) == 1
    assert count(app, OutboxMessage) == 0 and count(app, Subscriber) == 0


def test_one_batch_answers_many_phones_each_from_its_own_state(app, client):
    """Messages of different phones are handled together, their state read for all at once: each
    still gets exactly what it would alone (link, thread, routing, keyword, reply limit)."""
    app.config["QUIET_HOURS"] = "off"
    now = utcnow()
    linked, stopping, threaded, routed, unrouted, limited = (f"+7701000{n:04d}" for n in range(1, 7))
    with app.app_context():
        create_subscriber(linked, districts=("al-farabi",), language="kk")
        create_subscriber(stopping, districts=("abay",))
        announcement_id = create_announcement(status="published", now=now, districts=["al-farabi"]).id
        dispatch.dispatch(now)  # the water outage SMS reaches `linked` (the log gateway sends at once)
        db.session.commit()
    converse(app, client, threaded, "воды нет", now)
    for minute in range(5):
        converse(app, client, limited, "help", now + timedelta(minutes=minute))
    later = now + timedelta(minutes=10)
    for phone, text in [(linked, "газ жоқ па?"), (stopping, "STOP"), (threaded, "и света тоже нет"),
                        (routed, "свет отключили"), (unrouted, "здравствуйте"), (limited, "газ пахнет")]:  # fmt: skip
        text_us(client, phone, text)
    assert work(app, later) == 6  # one run, one batch
    with app.app_context():
        appeals = {a.phone: a for a in db.session.scalars(select(Appeal))}
        assert set(appeals) == {linked, threaded, routed, unrouted, limited}
        link = appeals[linked]  # the reply to the outage SMS belongs to it, whatever words it uses
        assert (link.announcement_id, link.department.slug, link.district.slug) == (
            announcement_id,
            "water",
            "al-farabi",
        )
        assert link.language == "kk"
        assert [m.text for m in appeals[threaded].messages] == ["воды нет", "и света тоже нет"]
        assert appeals[routed].department.slug == "electricity" and appeals[routed].announcement_id is None
        assert appeals[unrouted].department_id is None and appeals[limited].department.slug == "gas"
        acks = {
            m.phone: m for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "appeal_ack"))
        }
        for phone in (linked, routed, unrouted):
            assert appeals[phone].number in acks[phone].text and acks[phone].status != "cancelled"
        assert acks[linked].language == "kk" and "өтініш" in acks[linked].text
        assert (acks[limited].status, acks[limited].reason) == ("cancelled", "auto_reply_limit")
    assert subscriber(app, stopping)[0] == "stopped" and len(replies(app, stopping)) == 1
    assert subscriber(app, linked)[0] == "active"


def test_a_batch_reads_and_writes_for_all_its_phones_at_once(app, client):
    app.config["APPEAL_INTAKE_LANES"] = 1  # one batch, so the count below is exact
    phones = [f"+7701100{n:04d}" for n in range(40)]
    for phone in phones:
        text_us(client, phone, "воды нет")
    statements = []

    def count_statement(conn, cursor, statement, *args):
        statements.append(statement.split()[0])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count_statement)
    try:
        assert work(app, utcnow()) == 40
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
    # Handled one by one, each SMS took ~13 statements. Now the batch's reads and updates are a
    # dozen in all; PostgreSQL also inserts each table's rows in one statement (SQLite, in-process,
    # inserts row by row: SQLAlchemy cannot match its RETURNING rows to objects).
    assert len([s for s in statements if s != "INSERT"]) <= 16
    if engine.dialect.name == "postgresql":
        assert len(statements) <= 20
    with app.app_context():
        numbers = dict(db.session.execute(select(Appeal.phone, Appeal.number)).all())
        acks = db.session.execute(select(OutboxMessage.phone, OutboxMessage.text)).all()
    assert len(set(numbers.values())) == len(numbers) == 40
    assert all(numbers[phone] in text for phone, text in acks) and len(acks) == 40


def test_a_phone_that_floods_us_holds_up_nobody_and_keeps_its_order(app, client):
    flood = [f"сообщение {n}" for n in range(30)]
    for text in flood:
        text_us(client, PHONE, text)
    text_us(client, "+77010000002", "газ пахнет в подъезде")
    assert work(app, utcnow()) < 30  # the flood takes one place per batch...
    assert count(app, Appeal, Appeal.phone == "+77010000002") == 1  # ...so the other phone is heard at once
    while work(app, utcnow()):
        pass
    with app.app_context():
        appeal = db.session.scalar(select(Appeal).where(Appeal.phone == PHONE))
        assert [m.text for m in appeal.messages] == flood


def broken_choice(app, phone: str, now) -> None:
    """Store a pending district choice whose payload is corrupt, so handling the reply "1" fails."""
    with app.app_context():
        db.session.add(
            ConfirmationCode(phone=phone, purpose="choice", code_hash="", payload="{broken",
                             created_at=now, expires_at=now + timedelta(hours=1))
        )  # fmt: skip
        db.session.commit()


def repair_choices(app) -> None:
    with app.app_context():
        db.session.execute(update(ConfirmationCode).values(payload='{"districts": ["abay"], "language": "ru"}'))
        db.session.commit()


def test_a_failing_message_stays_new_and_is_retried(app, client, caplog):
    now = utcnow()
    broken_choice(app, PHONE, now)
    text_us(client, PHONE, "1")
    text_us(client, "+77010000002", "газ не горит")
    assert work(app, now) == 1  # the other message is not held up
    assert "stays new" in caplog.text
    with app.app_context():  # tried in the batch, then alone: one failure counted, not two
        assert db.session.scalar(select(InboundSms.raw).where(InboundSms.status == "new"))["_failures"] == 1
    assert count(app, InboundSms, InboundSms.status == "new") == 1 and count(app, Appeal) == 1
    assert work(app, now) == 0  # still failing, still kept
    repair_choices(app)
    assert work(app, now) == 1
    assert subscriber(app, PHONE)[2] == ["abay"] and count(app, InboundSms, InboundSms.status == "new") == 0


def test_a_failing_message_does_not_hold_up_a_later_stop_nor_undo_it(app, client):
    now = utcnow()
    with app.app_context():
        create_subscriber(PHONE, districts=("turan",))
    broken_choice(app, PHONE, now)
    text_us(client, PHONE, "1")
    text_us(client, PHONE, "STOP")
    assert work(app, now) == 1 and subscriber(app, PHONE)[0] == "stopped"
    repair_choices(app)
    assert work(app, now) == 1  # handled at last, but the later STOP stands
    assert subscriber(app, PHONE)[:3] == ("stopped", "ru", ["turan"])


def smsc(app, fake):
    app.config.update(fake.config(), SMS_GATEWAY="smsc")


def poll(app, now=None) -> int:
    with app.app_context():
        return poll_inbound(now or utcnow())


def test_the_log_gateway_has_nothing_to_poll(app, fake_smsc):
    fake_smsc.inject_inbound(PHONE, "воды нет")
    assert poll(app) == 0 and not fake_smsc.requests


def test_the_poller_brings_in_sms_whose_callback_never_came(app, fake_smsc):
    smsc(app, fake_smsc)  # no callback URL configured at SMSC
    fake_smsc.inject_inbound(PHONE, "свет отключили на Тауке хана")
    assert poll(app) == 1 and poll(app) == 0
    assert work(app, utcnow()) == 1
    with app.app_context():
        assert db.session.scalar(select(Appeal.summary)) == "свет отключили на Тауке хана"


def test_a_callback_lost_while_the_database_was_down_is_polled_exactly_once(app, client, fake_smsc):
    smsc(app, fake_smsc)
    down = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    server = make_server("127.0.0.1", 0, down)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fake_smsc.callback_url = f"http://127.0.0.1:{server.server_port}{URL}"
        gateway_id = fake_smsc.inject_inbound(PHONE, "газ пахнет")
        fake_smsc.wait_callbacks(5)
    finally:
        server.shutdown()
        with down.app_context():
            db.engine.dispose()
    (callback,) = fake_smsc.callbacks
    assert not callback["ok"] and callback["attempts"] == 3  # 503 every time: SMSC gave up
    assert poll(app) == 1
    # SMSC tries once more after the database is back: still one row, one appeal.
    form = {k: str(v) for k, v in callback["form"].items()}
    assert client.post(URL, data=form).status_code == 200 and poll(app) == 0
    assert count(app, InboundSms, InboundSms.gateway_id == str(gateway_id)) == 1
    assert work(app, utcnow()) == 1 and count(app, Appeal) == 1


def test_a_lost_callback_below_a_later_one_is_still_polled(app, client, fake_smsc):
    smsc(app, fake_smsc)
    lost = fake_smsc.inject_inbound(PHONE, "первое: воды нет")  # its callback never arrives
    later = fake_smsc.inject_inbound("+77010000002", "второе: света нет")
    text_us(client, "+77010000002", "второе: света нет", later)  # this one's callback got through
    assert poll(app) == 1
    assert count(app, InboundSms, InboundSms.gateway_id == str(lost)) == 1
    # Once stored rows are older than the overlap, the poll starts after them.
    with app.app_context():
        db.session.execute(update(InboundSms).values(received_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert poll(app) == 0
    assert fake_smsc.requests[-1].params["after_id"] == str(later)


def test_a_gateway_failure_while_polling_is_retried_next_time(app, fake_smsc, caplog):
    smsc(app, fake_smsc)
    fake_smsc.inject_inbound(PHONE, "воды нет")
    fake_smsc.http_500_next("get")
    assert poll(app) == 0 and "polling SMSC for inbound SMS failed" in caplog.text
    assert poll(app) == 1
