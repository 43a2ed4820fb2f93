"""Dispatch through our real SMSC client to the HTTP fake: every error class, and never twice."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from notifier import dispatch, outbox
from notifier.db import db, utcnow
from notifier.outbox_models import QUEUED, OutboxMessage, SmsBatch
from tests.factories import create_announcement, create_subscriber

PHONES = ["+77010000001", "+77010000002", "+77010000003"]


@pytest.fixture
def smsc_app(app, fake_smsc):
    """The app sending through SmscGateway to the fake, three subscribers, one announcement queued."""
    app.config.update(fake_smsc.config(), SMS_GATEWAY="smsc", QUIET_HOURS="off", SMS_DAILY_BUDGET=0)
    with app.app_context():
        for i, phone in enumerate(PHONES):
            create_subscriber(phone, language="kk" if i == 0 else "ru")
        create_announcement(status="published")
        yield app


def statuses():
    return Counter(db.session.scalars(select(OutboxMessage.status)))


def reasons():
    return {m.phone: m.reason for m in db.session.scalars(select(OutboxMessage))}


def received(fake):
    """Return how many times each phone (as E.164) got an SMS at the fake."""
    return Counter("+" + m.phone.lstrip("+") for m in fake.sent_messages)


def run(now=None):
    now = now or utcnow()
    count = dispatch.dispatch(now)
    db.session.commit()
    return count


def reconcile(fake, now):
    fake.advance(61)  # SMSC refuses an identical request within 60 s; the reconcile waits at least that long
    done = dispatch.reconcile(now)
    db.session.commit()
    return done


def test_sends_each_phone_once_in_its_language_under_our_request_id(smsc_app, fake_smsc):
    assert run() == 2  # one request per text: kk and ru
    assert statuses() == {"sent": 3}
    assert received(fake_smsc) == Counter(PHONES)
    texts = {"+" + m.phone.lstrip("+"): m.text for m in fake_smsc.sent_messages}
    assert "Судың өшірілуі" in texts[PHONES[0]] and "Отключение воды" in texts[PHONES[1]]
    ids = set(db.session.scalars(select(SmsBatch.request_id)))
    assert {m.id for m in fake_smsc.sent_messages} == ids
    assert run() == 0 and received(fake_smsc) == Counter(PHONES)


def test_batches_carry_up_to_the_configured_number_of_phones(smsc_app, fake_smsc):
    smsc_app.config["SMS_BATCH_SIZE"] = 1
    run()
    sends = [r for r in fake_smsc.requests if r.endpoint == "send"]
    assert len(sends) == 3
    assert all("," not in r.params["phones"] for r in sends)


def test_delivery_statuses_are_polled_after_a_while(smsc_app, fake_smsc):
    now = utcnow()
    fake_smsc.script_phone(PHONES[2][1:], 20, 1)  # will turn out not deliverable
    run(now)
    fake_smsc.deliver_all()
    assert dispatch.poll_statuses(now + timedelta(minutes=1)) == 0  # too early: not polled yet
    dispatch.poll_statuses(now + timedelta(minutes=11))
    db.session.commit()
    assert statuses() == {"delivered": 2, "failed": 1}
    assert reasons()[PHONES[2]]


def status_requests(fake):
    return [r.params for r in fake.requests if r.endpoint == "status"]


def test_statuses_are_polled_in_one_request_when_the_minutes_turn_is_free(smsc_app, fake_smsc):
    now = utcnow()
    run(now)  # two requests: kk and ru
    due = now + timedelta(minutes=11)
    assert dispatch.take_mass_status_turn(due)  # another worker asked SMSC about several messages just now
    assert dispatch.poll_statuses(due) == 0 and status_requests(fake_smsc) == []
    fake_smsc.deliver_all()
    fake_smsc.advance(61)
    assert dispatch.poll_statuses(due + timedelta(seconds=61)) == 3
    assert statuses() == {"delivered": 3}
    (asked,) = status_requests(fake_smsc)
    assert set(asked["id"].strip(",").split(",")) == set(db.session.scalars(select(SmsBatch.request_id)))


def test_uncertain_requests_are_reconciled_together_in_the_minutes_one_status_call(smsc_app, fake_smsc):
    now = utcnow()
    fake_smsc.fail_next(9)
    fake_smsc.fail_next(9)
    run(now)  # both requests (one phone, two phones) answered "too frequent": uncertain
    assert db.session.scalars(select(SmsBatch.status)).all() == ["uncertain", "uncertain"]
    later = now + timedelta(minutes=2)
    fake_smsc.advance(61)
    assert dispatch.take_mass_status_turn(later)  # taken by a poll
    assert dispatch.reconcile(later) == 0 and status_requests(fake_smsc) == []
    assert {b.next_attempt_at for b in db.session.scalars(select(SmsBatch))} == {later + dispatch.MASS_STATUS_EVERY}
    assert not dispatch.take_mass_status_turn(later + timedelta(seconds=30))
    assert reconcile(fake_smsc, later + timedelta(seconds=61)) == 2
    (asked,) = status_requests(fake_smsc)  # one call about all three messages of both requests
    assert len(asked["phone"].strip(",").split(",")) == 3
    assert statuses() == {"sent": 3} and received(fake_smsc) == Counter(PHONES)


def test_the_poller_leaves_the_minutes_turn_to_a_request_in_doubt(smsc_app, fake_smsc):
    now = utcnow()
    run(now)  # two requests sent; after ten minutes both are due for a poll
    outbox.enqueue(PHONES[1], "Ответ", "ru", "appeal_reply", now, urgent=True)
    outbox.enqueue(PHONES[2], "Ответ", "ru", "appeal_reply", now, urgent=True)
    db.session.commit()
    fake_smsc.fail_next(9)
    later = now + timedelta(minutes=11)
    run(later)  # the two replies' request is in doubt, to be asked about a minute later
    asked = now + timedelta(minutes=11, seconds=30)
    assert dispatch.poll_statuses(asked) == 0 and status_requests(fake_smsc) == []
    fake_smsc.advance(61)
    assert dispatch.reconcile(later + timedelta(seconds=61)) == 1
    assert len(status_requests(fake_smsc)) == 1  # reconcile had the turn
    assert statuses() == {"sent": 5}


def test_of_workers_asking_at_once_one_takes_the_minutes_turn(smsc_app):
    if dispatch.lanes() == 1:
        pytest.skip("one worker on SQLite")
    now, start, taken = utcnow(), threading.Barrier(4), []

    def worker():
        with smsc_app.app_context():  # its own session and connection, as another worker's
            start.wait()
            taken.append(dispatch.take_mass_status_turn(now))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(taken) == [False, False, False, True]


@pytest.mark.parametrize(("code", "reason"), [(1, "bad_parameters"), (5, "bad_time"), (6, "forbidden"),
                                              (7, "invalid_number"), (8, "undeliverable")])  # fmt: skip
def test_permanent_errors_fail_with_the_reason_and_are_never_retried(smsc_app, fake_smsc, code, reason):
    smsc_app.config["SMS_BATCH_SIZE"] = 10
    fake_smsc.fail_next(code)
    fake_smsc.fail_next(code)
    run()
    assert statuses() == {"failed": 3}
    assert set(reasons().values()) == {reason}
    assert reconcile(fake_smsc, utcnow() + timedelta(minutes=5)) == 0
    assert run() == 0
    assert fake_smsc.sent_messages == []


@pytest.mark.parametrize(("code", "cause"), [(2, "auth"), (3, "no_money"), (4, "ip_blocked")])
def test_account_errors_stop_all_dispatch_until_resumed(smsc_app, fake_smsc, code, cause):
    smsc_app.config["SMS_SEND_CONCURRENCY"] = 1  # one request at a time: the error is the first answer
    fake_smsc.fail_next(code)
    now = utcnow()
    run(now)
    assert statuses() == {"queued": 3}  # nothing is lost: back in the queue
    (switch,) = dispatch.active_switches(now)
    assert switch.cause == cause
    assert run(now + timedelta(minutes=1)) == 0  # paused: nobody hammers the gateway
    assert fake_smsc.sent_messages == []
    dispatch.resume(cause)
    db.session.commit()
    run(now + timedelta(minutes=1))
    assert statuses() == {"sent": 3}
    assert received(fake_smsc) == Counter(PHONES)


def test_a_halt_stops_every_lane_and_sends_nothing_twice(smsc_app, fake_smsc):
    if dispatch.lanes() == 1:
        pytest.skip("one lane on SQLite")
    # Three requests of one message each, two lanes: one lane's no-money answer stops both.
    smsc_app.config.update(SMS_BATCH_SIZE=1, SMS_CLAIM_LIMIT=1, SMS_SEND_CONCURRENCY=2)
    fake_smsc.fail_next(3)  # the first request to arrive
    now = utcnow()
    assert run(now) in (1, 2)  # the halted request, and perhaps the other lane's one already on the wire
    after = statuses()
    assert after["queued"] >= 2 and after["queued"] + after["sent"] == 3
    assert sum(received(fake_smsc).values()) == after["sent"] <= 1
    assert [s.cause for s in dispatch.active_switches(now)] == ["no_money"]
    assert run(now) == 0  # paused
    dispatch.resume()
    db.session.commit()
    run(now)
    assert statuses() == {"sent": 3}
    assert received(fake_smsc) == Counter(PHONES)  # each exactly once


def test_a_client_failure_leaves_the_request_uncertain_then_reconciles_it(smsc_app, fake_smsc, caplog):
    good = smsc_app.config["SMSC_BASE_URL"]
    smsc_app.config["SMSC_BASE_URL"] = good.replace("http://127.0.0.1:", "http://127.0.0.1:1:")  # httpx: InvalidURL
    now = utcnow()
    assert run(now) == 2  # both requests tried; neither left, but we cannot know that from an exception
    assert statuses() == {"sending": 3} and fake_smsc.sent_messages == []
    batches = db.session.scalars(select(SmsBatch)).all()
    assert {(b.status, b.reason) for b in batches} == {("uncertain", "client_error")}
    assert "the gateway client failed" in caplog.text
    smsc_app.config["SMSC_BASE_URL"] = good  # fixed: the next reconcile asks, then sends what never arrived
    assert reconcile(fake_smsc, now + timedelta(minutes=2)) == 2
    assert statuses() == {"sent": 3}
    assert received(fake_smsc) == Counter(PHONES)


@pytest.mark.parametrize("one_run", [False, True], ids=["fresh-claims", "one-run"])
def test_a_full_claim_leaves_a_partial_tail_for_the_next_full_request(smsc_app, one_run):
    smsc_app.config.update(SMS_BATCH_SIZE=2)
    now = utcnow()
    for n in range(5):
        outbox.enqueue(f"+7702000000{n}", "Одинаковый текст", "ru", "appeal_reply", now, urgent=True)
    outbox.enqueue("+77020000009", "Другой текст", "ru", "appeal_reply", now, urgent=True)
    db.session.commit()
    sizes = []
    run = outbox.ClaimRun() if one_run else None  # one run reads on from where its last claim stopped
    while claimed := outbox.claim(now, 3, True, lambda *key: "", "smsc", run):
        sizes += [(request.text, len(request.phones)) for request in claimed]
    # Cut at every third row the first text would go 2+1+2; its tails wait for the next claim instead.
    # The other text, shorter than a request, is never held back.
    assert sizes == [("Одинаковый текст", 2), ("Одинаковый текст", 2), ("Одинаковый текст", 1), ("Другой текст", 1)]


def test_a_run_reads_the_queue_on_from_its_last_claim(smsc_app):
    now, texts = utcnow(), lambda *key: ""  # urgent replies: the claims leave the announcement alone
    first = [outbox.enqueue(f"+7702100000{n}", "Текст", "ru", "appeal_reply", now, urgent=True).id for n in range(3)]
    db.session.commit()
    run = outbox.ClaimRun()
    (request,) = outbox.claim(now, 2, True, texts, "smsc", run)
    assert request.ids == first[:2] and run.read_to == {True: first[1]}
    # The claim is handed back (a halt): below the mark, so this run goes on without it...
    outbox.move(request.batch_id, None, QUEUED, now, ids=request.ids)
    later = outbox.enqueue("+77021000009", "Текст", "ru", "appeal_reply", now, urgent=True).id
    db.session.commit()
    (request,) = outbox.claim(now, 2, True, texts, "smsc", run)
    assert request.ids == [first[2], later]
    assert outbox.claim(now, 2, True, texts, "smsc", run) == []
    # ...and the next run takes it.
    (request,) = outbox.claim(now, 2, True, texts, "smsc", outbox.ClaimRun())
    assert request.ids == first[:2]


def test_a_run_keeps_a_read_mark_per_urgency(smsc_app):
    now, render = utcnow(), smsc_app.extensions["habarlama.render"]
    urgent = [outbox.enqueue(f"+7702200000{n}", "Срочно", "ru", "appeal_reply", now, urgent=True).id for n in range(2)]
    db.session.commit()
    announcement = sorted(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.event_id.is_not(None))))
    run, taken = outbox.ClaimRun(), []
    while claimed := outbox.claim(now, 3, False, render, "smsc", run):
        taken.append(sorted(i for request in claimed for i in request.ids))
    # Urgent first; the first claim's one announcement message moves only the non-urgent mark.
    assert taken == [sorted([*urgent, announcement[0]]), announcement[1:]]
    assert run.read_to == {True: urgent[-1], False: announcement[-1]}


def test_a_pause_ends_by_itself_after_the_backoff(smsc_app, fake_smsc):
    fake_smsc.fail_next(4)
    now = utcnow()
    run(now)
    assert run(now + timedelta(minutes=5)) == 0
    run(now + timedelta(minutes=11))
    assert statuses() == {"sent": 3}


@pytest.mark.parametrize(
    "trouble",
    ["duplicate", "timeout_processed", "http_500", "empty"],
)
def test_doubtful_answers_are_reconciled_and_never_sent_twice(smsc_app, fake_smsc, trouble):
    smsc_app.config["SMS_BATCH_SIZE"] = 10
    # The request reaches SMSC and is accepted, but we cannot know it: our answer is lost.
    if trouble == "timeout_processed":
        fake_smsc.timeout_next(seconds=1.5, processed=True)
    elif trouble == "http_500":
        fake_smsc.http_500_next()
    elif trouble == "empty":
        fake_smsc.empty_next()
    else:
        fake_smsc.fail_next(9)
    now = utcnow()
    run(now)
    doubtful = statuses()
    assert doubtful.get("sending", 0) >= 1  # left for the reconcile, not resent
    assert dispatch.reconcile(now + timedelta(seconds=30)) == 0  # not before 60 s
    reconcile(fake_smsc, now + timedelta(minutes=2))
    run(now + timedelta(minutes=2))
    assert statuses() == {"sent": 3}
    assert max(received(fake_smsc).values()) == 1
    assert set(received(fake_smsc)) == set(PHONES)


def test_a_request_that_never_arrived_is_resent_after_reconciling(smsc_app, fake_smsc):
    smsc_app.config["SMS_BATCH_SIZE"] = 10
    fake_smsc.timeout_next(seconds=1.5, processed=False)
    now = utcnow()
    run(now)
    assert fake_smsc.sent_messages[:0] == [] and statuses()["sending"] >= 1
    reconcile(fake_smsc, now + timedelta(minutes=2))
    assert statuses() == {"sent": 3}
    assert received(fake_smsc) == Counter(PHONES)
    status_calls = [r for r in fake_smsc.requests if r.endpoint == "status"]
    assert status_calls, "status.php must be asked before any resend"


def test_after_the_last_attempt_the_message_fails_with_a_reason(smsc_app, fake_smsc):
    smsc_app.config.update(SMS_BATCH_SIZE=10, SMS_MAX_ATTEMPTS=2)
    for _ in range(4):
        fake_smsc.http_500_next()
    now = utcnow()
    run(now)
    for minutes in (5, 30, 120):
        reconcile(fake_smsc, now + timedelta(minutes=minutes))
    run(now + timedelta(minutes=121))
    states = statuses()
    assert states.get("sending", 0) == 0
    failed = [m for m in db.session.scalars(select(OutboxMessage)) if m.status == "failed"]
    assert all("gave up" in m.reason for m in failed)
    assert max(received(fake_smsc).values(), default=0) <= 1


def test_one_refused_phone_fails_alone(smsc_app, fake_smsc):
    smsc_app.config["SMS_BATCH_SIZE"] = 10
    fake_smsc.script_phone(PHONES[2][1:], 22, 249, on_send=True)
    run()
    assert statuses() == {"sent": 2, "failed": 1}
    assert reasons()[PHONES[2]]


def test_password_is_never_in_logged_urls(smsc_app, fake_smsc, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    run()
    assert fake_smsc.password not in caplog.text
    assert all("psw" not in r.params for r in fake_smsc.requests)


@pytest.fixture
def served(smsc_app):
    """Serve the app on a loopback port so the fake SMSC can call our webhook."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, smsc_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/webhooks/smsc/{smsc_app.config['SMSC_WEBHOOK_TOKEN']}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_status_callbacks_reach_our_webhook(smsc_app, fake_smsc, served):
    fake_smsc.callback_url = served
    fake_smsc.script_phone(PHONES[1][1:], 22, 249)
    run()
    db.session.remove()  # let the server thread write
    fake_smsc.deliver_all()
    fake_smsc.wait_callbacks(timeout=5)
    assert all(c["ok"] for c in fake_smsc.callbacks)
    assert statuses() == {"delivered": 2, "failed": 1}


def test_inbound_callbacks_are_stored(smsc_app, fake_smsc, served):
    from notifier.inbound_models import InboundSms

    fake_smsc.callback_url = served
    db.session.remove()
    fake_smsc.inject_inbound("77010000001", "воды нет уже 3 часа")
    fake_smsc.wait_callbacks(timeout=5)
    (stored,) = db.session.scalars(select(InboundSms)).all()
    assert (stored.phone, stored.text) == ("+77010000001", "воды нет уже 3 часа")
