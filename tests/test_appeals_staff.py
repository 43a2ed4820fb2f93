"""Staff appeals pages: the queue, the permission matrix, actions with their SMS, registering calls, the sweep."""

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from appeals import service, sweeps
from appeals.models import Appeal, AppealEvent
from appeals.sweeps import notify_overdue
from notifier.db import db, utcnow
from notifier.directory import District
from notifier.errors import ServiceError
from notifier.outbox_models import OutboxMessage
from subscribers.phones import PhoneError, caller_phone
from tests import dbs
from tests.factories import create_announcement, login, staff

postgres_only = pytest.mark.skipif(dbs.postgres_base_url() is None, reason="concurrency needs PostgreSQL")
ROLES = ["anonymous", "water.editor", "water.approver", "gas.editor", "gas.approver", "operator", "admin"]
WATER, GAS, UNCLEAR = "воды нет третий день", "запах газа в подъезде", "здравствуйте, у меня вопрос"


def create_appeal(text=WATER, phone="+77010000001", now=None, **kwargs) -> Appeal:
    """Register an appeal through the service; its words route it (water, gas, or the contact-centre queue)."""
    appeal, _new = service.register(phone, text, now or utcnow(), **kwargs)
    db.session.commit()
    return appeal


def sms_to(phone: str, purpose: str | None = None) -> list[str]:
    """Return the texts queued for a phone, oldest first."""
    query = select(OutboxMessage.text).where(OutboxMessage.phone == phone).order_by(OutboxMessage.id)
    if purpose:
        query = query.where(OutboxMessage.purpose == purpose)
    return list(db.session.scalars(query))


def reload(number: str) -> Appeal:
    db.session.expire_all()
    return db.session.scalar(select(Appeal).where(Appeal.number == number))


def _as(client, who):
    if who != "anonymous":
        login(client, who)
    return client


def _html(response) -> str:
    return response.get_data(as_text=True)


def listed(html: str, number: str) -> bool:
    """Return whether the page links to the appeal (its number may also sit in the search box)."""
    return f'href="/staff/appeals/{number}"' in html


# --- the queue ---------------------------------------------------------------------------------


def test_department_staff_see_their_own_queue(app, client):
    with app.app_context():
        water = create_appeal(WATER, "+77010000001").number
        gas = create_appeal(GAS, "+77010000002").number
        unclear = create_appeal(UNCLEAR, "+77010000003").number
    html = _html(_as(client, "water.editor").get("/staff/appeals/"))
    assert listed(html, water) and 'class="badge appeal-new"' in html
    assert not listed(html, gas) and not listed(html, unclear)
    assert client.get("/staff/appeals/?department=gas").status_code == 403
    assert client.get("/staff/appeals/?department=contact-centre").status_code == 403
    assert client.get("/staff/appeals/?department=water").status_code == 200


def test_operators_see_every_queue_and_the_contact_centre(app, client):
    with app.app_context():
        water = create_appeal(WATER, "+77010000001").number
        unclear = create_appeal(UNCLEAR, "+77010000003").number
    _as(client, "operator")
    everything = _html(client.get("/staff/appeals/"))
    assert listed(everything, water) and listed(everything, unclear)
    queue = _html(client.get("/staff/appeals/?department=contact-centre"))
    assert listed(queue, unclear) and not listed(queue, water)
    water_only = _html(client.get("/staff/appeals/?department=water"))
    assert listed(water_only, water) and not listed(water_only, unclear)


def test_queue_filters_by_status_district_and_overdue(app, client):
    with app.app_context():
        old = create_appeal(WATER, "+77010000001", now=utcnow() - timedelta(days=40)).number
        fresh = create_appeal("вода ржавая", "+77010000002").number
        row = service.get_by_number(fresh)
        service.change_status(staff("water.editor"), row, "take", utcnow())
        row.district_id = db.session.scalar(select(District.id).where(District.slug == "abay"))
        db.session.commit()
    _as(client, "water.editor")
    in_progress = _html(client.get("/staff/appeals/?status=in_progress"))
    assert listed(in_progress, fresh) and not listed(in_progress, old)
    abay = _html(client.get("/staff/appeals/?district=abay"))
    assert listed(abay, fresh) and not listed(abay, old)
    overdue = _html(client.get("/staff/appeals/?overdue=yes"))
    assert listed(overdue, old) and not listed(overdue, fresh)
    assert 'class="badge overdue"' in overdue  # a visible word, not colour alone
    # Unknown filter values are form errors, never a 500.
    assert client.get("/staff/appeals/?status=lost").status_code == 422
    assert client.get("/staff/appeals/?district=atlantis").status_code == 422


def test_search_by_number_stays_within_what_the_user_may_see(app, client):
    with app.app_context():
        water = create_appeal(WATER, "+77010000001").number
        gas = create_appeal(GAS, "+77010000002").number
    _as(client, "water.editor")
    found = _html(client.get(f"/staff/appeals/?number={water}"))
    assert listed(found, water) and not listed(found, gas)
    assert not listed(_html(client.get(f"/staff/appeals/?number={gas}")), gas)
    assert listed(_html(client.get(f"/staff/appeals/?number={water[-3:]}")), water)  # a part of it will do


@pytest.mark.parametrize(
    ("who", "expected"),
    [("water.editor", 403), ("water.approver", 403), ("gas.editor", 403), ("operator", 200), ("admin", 200)],
)
def test_only_operators_and_admins_search_by_phone(app, client, who, expected):
    with app.app_context():
        mine = create_appeal(WATER, "+77010000001").number
        other = create_appeal(WATER, "+77010000002").number
    response = _as(client, who).get("/staff/appeals/?phone=8 701 000 00 01")
    assert response.status_code == expected
    if expected == 200:
        html = _html(response)
        assert listed(html, mine) and not listed(html, other)


def test_queue_columns_and_pages(app, client):
    app.config["PAGE_SIZE"] = 3
    with app.app_context():
        numbers = [create_appeal(UNCLEAR, f"+7701000001{i}").number for i in range(4)]
        service.change_status(staff("operator"), service.get_by_number(numbers[-1]), "take", utcnow())
        db.session.commit()
    first = _html(_as(client, "operator").get("/staff/appeals/"))
    assert listed(first, numbers[-1]) and not listed(first, numbers[0])
    assert "operator@demo.habarlama.kz" in first  # the assignee
    assert UNCLEAR in first  # the last message
    assert 'href="/staff/appeals/?page=2"' in first
    assert listed(_html(client.get("/staff/appeals/?page=2")), numbers[0])


# --- the permission matrix ---------------------------------------------------------------------

# Expected status per route and role for a *water* appeal in the state the action needs.
DEPARTMENT_ONLY = {"water.editor": 302, "water.approver": 302, "gas.editor": 403, "gas.approver": 403}
EVERYONE_RENDERS = {"water.editor": 200, "water.approver": 200, "gas.editor": 200, "gas.approver": 200}
ACTION = {**DEPARTMENT_ONLY, "operator": 302, "admin": 302}
MATRIX = {
    "queue": {**EVERYONE_RENDERS, "operator": 200, "admin": 200},
    "new_get": {**EVERYONE_RENDERS, "operator": 200, "admin": 200},
    "new_post": {"water.editor": 302, "water.approver": 302, "gas.editor": 302, "gas.approver": 302},
    "detail": {"water.editor": 200, "water.approver": 200, "gas.editor": 403, "gas.approver": 403},
    "take": ACTION,
    "reply": ACTION,
    "resolve": ACTION,
    "forward": ACTION,
    "reject": ACTION,
    "extend": ACTION,
}
MATRIX["new_post"].update(operator=302, admin=302)
MATRIX["detail"].update(operator=200, admin=200)
ACTION_DATA = {
    "take": {},
    "reply": {"reply-text": "Бригада выехала, вода будет к 18:00."},
    "resolve": {},
    "forward": {"forward-department": "heating", "forward-reason": "Это горячая вода"},
    "reject": {"reject-reason": "Частная скважина"},
    "extend": {"extend-days": "5", "extend-reason": "Нужен выезд комиссии"},
}
STATUS_AFTER = {
    "take": "in_progress",
    "reply": "answered",
    "resolve": "resolved",
    "forward": "forwarded",
    "reject": "rejected",
    "extend": "in_progress",
}


@pytest.mark.parametrize("route", list(MATRIX))
@pytest.mark.parametrize("who", ROLES)
def test_permission_matrix(app, client, route, who):
    with app.app_context():
        appeal = create_appeal(WATER, "+77010000001")
        if route in ("resolve", "extend"):
            service.change_status(staff("water.editor"), appeal, "take", utcnow())
            db.session.commit()
        number, before = appeal.number, appeal.status
    _as(client, who)
    department = who.split(".")[0] if "." in who else ""
    new_form = {"phone": "8 701 000 00 09", "channel": "phone", "text": WATER, "department": department}
    requests = {
        "queue": lambda: client.get("/staff/appeals/"),
        "new_get": lambda: client.get("/staff/appeals/new"),
        "new_post": lambda: client.post("/staff/appeals/new", data=new_form),
        "detail": lambda: client.get(f"/staff/appeals/{number}"),
    }
    if route in ACTION_DATA:
        response = client.post(f"/staff/appeals/{number}/{route}", data=ACTION_DATA[route])
    else:
        response = requests[route]()
    if who == "anonymous":
        assert response.status_code == 302
        assert "/staff/login" in response.headers["Location"]
        return
    expected = MATRIX[route][who]
    assert response.status_code == expected, _html(response)[:500]
    if route in STATUS_AFTER:
        with app.app_context():
            status = reload(number).status
        assert status == (STATUS_AFTER[route] if expected == 302 else before)
        if expected == 302:
            assert "flash-error" not in _html(client.get(response.headers["Location"]))


# --- actions -----------------------------------------------------------------------------------


def test_reply_preview_counts_parts_then_sends_through_the_outbox(app, client):
    with app.app_context():
        number = create_appeal(WATER, "+77010000001").number
    _as(client, "water.editor")
    answer = "Бригада выехала, вода будет к 18:00."
    preview = client.post(f"/staff/appeals/{number}/reply", data={"reply-text": answer, "preview": "1"})
    html = _html(preview)
    assert preview.status_code == 200
    assert "UCS-2" in html and number in html and answer in html
    assert "<strong>1</strong>" in html  # parts: "Ответ на обращение № …: …" fits one UCS-2 part
    with app.app_context():
        assert sms_to("+77010000001", "appeal_reply") == []
    sent = client.post(f"/staff/appeals/{number}/reply", data={"reply-text": answer, "send": "1"})
    assert sent.status_code == 302
    with app.app_context():
        [text] = sms_to("+77010000001", "appeal_reply")
        assert number in text and answer in text
        appeal = reload(number)
        assert appeal.status == "answered" and appeal.first_answer_at is not None
    page = _html(client.get(f"/staff/appeals/{number}"))
    assert "water.editor@demo.habarlama.kz" in page and answer in page  # who answered, in the thread


def test_long_reply_preview_shows_several_parts(app, client):
    with app.app_context():
        number = create_appeal(WATER).number
    _as(client, "water.editor")
    html = _html(client.post(f"/staff/appeals/{number}/reply", data={"reply-text": "Ремонт " * 20, "preview": "1"}))
    assert "<strong>3</strong>" in html  # ~170 UCS-2 characters: three parts of 67


def test_reply_needs_text(app, client):
    with app.app_context():
        number = create_appeal(WATER).number
    response = _as(client, "water.editor").post(f"/staff/appeals/{number}/reply", data={"reply-text": "  "})
    assert response.status_code == 422
    assert 'id="reply-text-error"' in _html(response)
    with app.app_context():
        assert sms_to("+77010000001", "appeal_reply") == []
        assert reload(number).status == "new"


def test_forward_changes_department_and_tells_the_resident(app, client):
    with app.app_context():
        number = create_appeal(WATER).number
    _as(client, "water.editor")
    missing = client.post(f"/staff/appeals/{number}/forward", data={"forward-department": "heating"})
    assert missing.status_code == 422 and 'id="forward-reason-error"' in _html(missing)
    same = client.post(f"/staff/appeals/{number}/forward", data={"forward-department": "water", "forward-reason": "x"})
    assert same.status_code == 422 and 'id="forward-department-error"' in _html(same)
    done = client.post(
        f"/staff/appeals/{number}/forward", data={"forward-department": "heating", "forward-reason": "Горячая вода"}
    )
    assert done.status_code == 302 and done.headers["Location"] == "/staff/appeals/"  # no longer ours to open
    with app.app_context():
        appeal = reload(number)
        assert appeal.status == "forwarded" and appeal.department.slug == "heating"
        assert any(number in t and "Теплоснабжение" in t for t in sms_to("+77010000001"))
        assert appeal.events[-1].reason == "Горячая вода"
    assert client.get(f"/staff/appeals/{number}").status_code == 403
    client.post("/staff/logout")
    assert listed(_html(_as(client, "heating.editor").get("/staff/appeals/")), number)


def test_reject_needs_a_reason_and_tells_the_resident(app, client):
    with app.app_context():
        number = create_appeal(WATER).number
    _as(client, "water.editor")
    response = client.post(f"/staff/appeals/{number}/reject", data={"reject-reason": ""})
    assert response.status_code == 422 and 'id="reject-reason-error"' in _html(response)
    with app.app_context():
        assert reload(number).status == "new"
    client.post(f"/staff/appeals/{number}/reject", data={"reject-reason": "Частная скважина"})
    with app.app_context():
        assert reload(number).status == "rejected"
        assert any("Частная скважина" in t for t in sms_to("+77010000001"))


def test_extend_needs_a_reason_and_tells_the_resident(app, client):
    with app.app_context():
        appeal = create_appeal(WATER)
        number, due = appeal.number, appeal.due_at
    _as(client, "water.editor")
    for data, field in [
        ({"extend-days": "5"}, "extend-reason"),
        ({"extend-days": "0", "extend-reason": "x"}, "extend-days"),
    ]:
        response = client.post(f"/staff/appeals/{number}/extend", data=data)
        assert response.status_code == 422 and f'id="{field}-error"' in _html(response)
    client.post(f"/staff/appeals/{number}/extend", data={"extend-days": "5", "extend-reason": "Нужен выезд комиссии"})
    with app.app_context():
        appeal = reload(number)
        assert appeal.due_at > due and appeal.extended_reason == "Нужен выезд комиссии"
        assert any("Нужен выезд комиссии" in t and number in t for t in sms_to("+77010000001"))
    page = _html(client.get(f"/staff/appeals/{number}"))
    assert "Нужен выезд комиссии" in page


def test_an_impossible_step_is_a_message_not_a_500(app, client):
    with app.app_context():
        number = create_appeal(WATER).number
    response = _as(client, "water.editor").post(f"/staff/appeals/{number}/resolve")
    assert response.status_code == 409
    assert 'role="alert"' in _html(response)
    assert client.post(f"/staff/appeals/{number}/delete").status_code == 404
    assert client.get("/staff/appeals/26-999999").status_code == 404


def test_take_assigns_and_the_history_says_who(app, client):
    with app.app_context():
        number = create_appeal(WATER).number
    _as(client, "water.approver")
    client.post(f"/staff/appeals/{number}/take")
    with app.app_context():
        appeal = reload(number)
        assert appeal.status == "in_progress" and appeal.assigned_to.email == "water.approver@demo.habarlama.kz"
        assert [e.kind for e in appeal.events] == ["registered", "take"]


def test_the_page_links_the_announcement_it_answers(app, client):
    app.config["QUIET_HOURS"] = "off"
    with app.app_context():
        from notifier import dispatch
        from tests.factories import create_subscriber

        create_subscriber("+77010000001")
        ann = create_announcement(status="published")
        dispatch.dispatch(utcnow())
        db.session.commit()
        number, ann_id = create_appeal("когда дадут?", "+77010000001").number, ann.id
    html = _html(_as(client, "water.editor").get(f"/staff/appeals/{number}"))
    assert f'href="/staff/announcements/{ann_id}"' in html


def test_department_staff_see_a_masked_phone_operators_the_full_one(app, client):
    with app.app_context():
        number = create_appeal(WATER, "+77011234567").number
    assert "+77011234567" not in _html(_as(client, "water.editor").get(f"/staff/appeals/{number}"))
    client.post("/staff/logout")
    assert "+77011234567" in _html(_as(client, "operator").get(f"/staff/appeals/{number}"))


# --- registering calls -------------------------------------------------------------------------


def test_operator_registers_a_call_into_the_contact_centre_queue_then_routes_it(app, client):
    _as(client, "operator")
    form = {"phone": "8 701 000 00 02", "channel": "phone", "text": UNCLEAR, "department": "", "district": "turan"}
    response = client.post("/staff/appeals/new", data=form)
    assert response.status_code == 302
    with app.app_context():
        appeal = db.session.scalars(select(Appeal)).one()
        number = appeal.number
        assert appeal.channel == "phone" and appeal.phone == "+77010000002" and appeal.department_id is None
        assert appeal.district.slug == "turan" and appeal.events[0].actor.email == "operator@demo.habarlama.kz"
        [ack] = sms_to("+77010000002", "appeal_ack")
        assert number in ack
    assert listed(_html(client.get("/staff/appeals/?department=contact-centre")), number)
    routed = client.post(
        f"/staff/appeals/{number}/forward", data={"forward-department": "housing", "forward-reason": "Вопрос по КСК"}
    )
    assert routed.status_code == 302
    with app.app_context():
        appeal = reload(number)
        assert appeal.department.slug == "housing" and appeal.status == "forwarded"
        assert len(sms_to("+77010000002")) == 2  # the acknowledgement, then the notice
    assert not listed(_html(client.get("/staff/appeals/?department=contact-centre")), number)


def test_a_landline_caller_is_registered_without_sms(app, client):
    _as(client, "operator")
    form = {"phone": "8 7252 53 12 34", "channel": "in_person", "text": WATER, "department": "water"}
    assert client.post("/staff/appeals/new", data=form).status_code == 302
    with app.app_context():
        appeal = db.session.scalars(select(Appeal)).one()
        number = appeal.number
        assert appeal.phone == "+77252531234" and appeal.channel == "in_person"
        assert db.session.scalars(select(OutboxMessage)).all() == []
    response = client.post(f"/staff/appeals/{number}/reply", data={"reply-text": "Ответ"})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(OutboxMessage)).all() == []


def test_a_landline_caller_gets_no_sms_notices_and_no_sms_answer(ctx):
    appeal = create_appeal(WATER, "+77252531234", channel="phone", acknowledge=False)
    editor = staff("water.editor")
    service.extend_deadline(editor, appeal, 5, "Нужен выезд комиссии", utcnow())
    service.change_status(editor, appeal, "forward", utcnow(), department_slug="housing")
    service.change_status(staff("operator"), appeal, "reject", utcnow(), reason="Не наша компетенция")
    db.session.commit()
    assert sms_to("+77252531234") == []  # the history keeps each step; staff call the resident back
    assert [e.kind for e in appeal.events] == ["registered", "extended", "forward", "reject"]
    other = create_appeal(GAS, "+77252531235", channel="in_person", acknowledge=False)
    with pytest.raises(ServiceError) as refused:
        service.reply(staff("gas.editor"), other, "Ответ", utcnow())
    assert refused.value.status == 409 and refused.value.code == "not_reachable"


@pytest.mark.parametrize("phone", ["", "12345", "+7 916 123 45 67", "8 800 080 0000"])
def test_registration_refuses_numbers_outside_kazakhstan(app, client, phone):
    _as(client, "operator")
    response = client.post("/staff/appeals/new", data={"phone": phone, "channel": "phone", "text": WATER})
    assert response.status_code == 422 and 'id="phone-error"' in _html(response)
    with app.app_context():
        assert db.session.scalars(select(Appeal)).all() == []


def test_registration_needs_the_text(app, client):
    _as(client, "operator")
    for text in ("", "   "):
        response = client.post("/staff/appeals/new", data={"phone": "87010000002", "channel": "phone", "text": text})
        assert response.status_code == 422 and 'id="text-error"' in _html(response)
    with app.app_context():
        assert db.session.scalars(select(Appeal)).all() == []


def test_department_staff_register_only_for_their_department(app, client):
    _as(client, "water.editor")
    form = {"phone": "87010000002", "channel": "phone", "text": GAS}
    assert client.post("/staff/appeals/new", data={**form, "department": "gas"}).status_code == 403
    assert client.post("/staff/appeals/new", data={**form, "department": ""}).status_code == 403
    assert client.post("/staff/appeals/new", data={**form, "department": "water"}).status_code == 302
    with app.app_context():
        assert db.session.scalars(select(Appeal)).one().department.slug == "water"


def test_caller_phone_accepts_kazakh_landlines_and_mobiles(ctx):
    assert caller_phone("8 701 123 45 67") == ("+77011234567", True)
    assert caller_phone("+7 7252 53 12 34") == ("+77252531234", False)
    with pytest.raises(PhoneError):
        caller_phone("+7 916 123 45 67")


# --- the overdue sweep -------------------------------------------------------------------------


def test_an_extended_appeal_is_flagged_again_when_it_misses_the_new_deadline(ctx):
    now = utcnow()
    late = create_appeal(WATER, "+77010000001", now=now - timedelta(days=40))
    assert notify_overdue(now) == 1
    service.extend_deadline(staff("water.editor"), late, 30, "Нужен выезд комиссии", now)
    db.session.commit()
    assert late.due_at > now and notify_overdue(now + timedelta(days=1)) == 0
    assert notify_overdue(late.due_at + timedelta(minutes=1)) == 1
    assert notify_overdue(late.due_at + timedelta(days=1)) == 0
    events = db.session.scalars(select(AppealEvent).where(AppealEvent.kind == "overdue")).all()
    assert [e.appeal_id for e in events] == [late.id, late.id]


def test_overdue_sweep_flags_each_appeal_once_and_approvers_see_a_banner(app, client):
    now = utcnow()
    with app.app_context():
        late = create_appeal(WATER, "+77010000001", now=now - timedelta(days=40))
        create_appeal("вода ржавая", "+77010000002")  # on time
        answered = create_appeal(WATER, "+77010000003", now=now - timedelta(days=40))
        service.reply(staff("water.editor"), answered, "Исправлено", now - timedelta(days=39))
        db.session.commit()
        outbox_before = db.session.scalars(select(OutboxMessage)).all()
        assert notify_overdue(now) == 1
        db.session.commit()
        assert notify_overdue(now + timedelta(hours=1)) == 0
        db.session.commit()
        events = db.session.scalars(select(AppealEvent).where(AppealEvent.kind == "overdue")).all()
        assert [e.appeal_id for e in events] == [late.id]
        assert reload(late.number).overdue_notified_at is not None
        assert db.session.scalars(select(OutboxMessage)).all() == outbox_before  # no SMS to anyone
        number = late.number
    approver = _html(_as(client, "water.approver").get("/staff/appeals/"))
    [banner] = re.findall(r'class="[^"]*overdue-banner[^"]*"[^>]*>(.*?)</p>', approver, re.S)
    assert re.search(r"\b1\b", banner)
    detail = _html(client.get(f"/staff/appeals/{number}"))
    assert 'class="badge overdue"' in detail and detail.count('class="event-overdue"') == 1
    client.post("/staff/logout")
    assert "overdue-banner" not in _html(_as(client, "water.editor").get("/staff/appeals/"))
    client.post("/staff/logout")
    assert "overdue-banner" not in _html(_as(client, "gas.approver").get("/staff/appeals/"))


def _sweep(app, now) -> int:
    """Run the sweep as the worker does: its own app context, one commit."""
    with app.app_context():
        try:
            flagged = notify_overdue(now)
            db.session.commit()
            return flagged
        finally:
            db.session.remove()


def _overdue_appeals(app, count: int) -> None:
    with app.app_context():
        for n in range(count):
            create_appeal(WATER, f"+7701000{n:04d}", now=utcnow() - timedelta(days=40))


def test_the_sweep_works_through_many_batches(app, monkeypatch):
    monkeypatch.setattr(sweeps, "BATCH", 4)
    _overdue_appeals(app, 10)
    assert _sweep(app, utcnow()) == 10
    assert _sweep(app, utcnow()) == 0


@postgres_only
def test_concurrent_sweeps_flag_each_appeal_once(app, monkeypatch):
    monkeypatch.setattr(sweeps, "BATCH", 7)
    _overdue_appeals(app, 30)
    now, flagged = utcnow(), []
    threads = [threading.Thread(target=lambda: flagged.append(_sweep(app, now))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(flagged) == 30 and _sweep(app, now) == 0
    with app.app_context():
        kinds = db.session.scalars(select(AppealEvent.appeal_id).where(AppealEvent.kind == "overdue")).all()
        assert len(kinds) == len(set(kinds)) == 30


def test_the_sweep_is_a_registered_worker_job(app):
    jobs = {name: seconds for name, _func, seconds in app.extensions["habarlama.jobs"]}
    assert jobs["notify_overdue"] == 3600


# --- escaping ----------------------------------------------------------------------------------


def test_a_residents_markup_is_escaped(app, client):
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    with app.app_context():
        number = create_appeal("вода " + attack).number
    _as(client, "water.editor")
    for page in (client.get("/staff/appeals/"), client.get(f"/staff/appeals/{number}")):
        html = _html(page)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;" in html
