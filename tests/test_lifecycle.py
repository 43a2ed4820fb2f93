"""Every transition, allowed and refused, through the service the UI and API share."""

from datetime import timedelta

import pytest

from announcements import service
from announcements.models import CANCELLED, COMPLETED, DRAFT, PENDING, PUBLISHED, SCHEDULED, Announcement
from notifier.db import db, utcnow
from notifier.errors import ServiceError
from tests.factories import create_announcement, staff

STATUSES = [DRAFT, PENDING, SCHEDULED, PUBLISHED, COMPLETED, CANCELLED]

# (status, action) -> resulting status; anything absent must be refused with 409.
ALLOWED = {
    (DRAFT, "submit"): PENDING,
    (DRAFT, "cancel"): CANCELLED,
    (PENDING, "return"): DRAFT,
    (PENDING, "approve"): PUBLISHED,
    (PENDING, "cancel"): CANCELLED,
    (SCHEDULED, "publish"): PUBLISHED,
    (SCHEDULED, "cancel"): CANCELLED,
    (PUBLISHED, "extend"): PUBLISHED,
    (PUBLISHED, "complete"): COMPLETED,
    (PUBLISHED, "cancel"): CANCELLED,
}


def _in_status(status, now):
    publish_at = (now + timedelta(hours=2)).isoformat() if status == SCHEDULED else None
    if status == SCHEDULED:
        ann = create_announcement(status=PENDING, now=now, publish_at=publish_at)
        service.approve(staff("water.approver"), ann, now)
        db.session.commit()
        return ann
    return create_announcement(status=status, now=now, publish_at=publish_at)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", service.ACTIONS)
def test_transition_table(ctx, status, action):
    now = utcnow()
    ann = _in_status(status, now)
    assert ann.status == status
    payload = {"reason": "Причина / Себебі", "ends_at": (ann.ends_at + timedelta(hours=3)).isoformat()}
    # The admin may do everything a department may do, so only the table decides.
    actor = staff("admin")
    expected = ALLOWED.get((status, action))
    if expected is None:
        with pytest.raises(ServiceError) as err:
            service.run_action(action, actor, ann, now, payload)
        assert err.value.status == 409
        db.session.rollback()
        assert db.session.get(Announcement, ann.id).status == status
    else:
        service.run_action(action, actor, ann, now, payload)
        db.session.commit()
        assert db.session.get(Announcement, ann.id).status == expected


def test_approval_with_future_publish_time_schedules_then_worker_publishes(ctx):
    now = utcnow()
    ann = create_announcement(status=PENDING, now=now, publish_at=(now + timedelta(hours=1)).isoformat())
    service.approve(staff("water.approver"), ann, now)
    db.session.commit()
    assert ann.status == SCHEDULED
    assert ann.published_at is None
    assert service.publish_due(now + timedelta(minutes=59)) == 0
    assert service.publish_due(now + timedelta(minutes=61)) == 1
    db.session.commit()
    assert ann.status == PUBLISHED
    assert ann.published_at == now + timedelta(minutes=61)
    assert service.publish_due(now + timedelta(minutes=62)) == 0
    kinds = [e.kind for e in ann.events]
    assert kinds == ["created", "submitted", "approved", "published"]
    assert ann.events[-1].actor_id is None


def test_author_cannot_approve_own_announcement(ctx):
    now = utcnow()
    approver = staff("water.approver")
    ann = create_announcement(author=approver, status=PENDING, now=now)
    with pytest.raises(ServiceError) as err:
        service.approve(approver, ann, now)
    assert err.value.status == 403
    db.session.rollback()
    assert ann.status == PENDING


def test_editor_cannot_approve_or_publish(ctx):
    now = utcnow()
    ann = create_announcement(status=PENDING, now=now, author="water.approver", urgent=True)
    for action in ("approve", "publish", "return"):
        with pytest.raises(ServiceError) as err:
            service.run_action(action, staff("water.editor"), ann, now, {"reason": "x"})
        assert err.value.status == 403
        db.session.rollback()


def test_other_department_is_refused(ctx):
    now = utcnow()
    ann = create_announcement(status=DRAFT, now=now)
    for name in ("gas.editor", "gas.approver", "operator"):
        for action in ("submit", "cancel"):
            with pytest.raises(ServiceError) as err:
                service.run_action(action, staff(name), ann, now, {"reason": "x"})
            assert err.value.status == 403
            db.session.rollback()
    with pytest.raises(ServiceError) as err:
        service.create_draft(staff("gas.editor"), {**_input(), "department": "water"}, now)
    assert err.value.status == 403


def _input():
    from tests.factories import announcement_input

    return announcement_input()


def test_urgent_announcement_can_be_published_directly_by_an_approver(ctx):
    now = utcnow()
    approver = staff("water.approver")
    ann = create_announcement(author=approver, status=DRAFT, now=now, urgent=True, kind="emergency_outage")
    service.publish(approver, ann, now)
    db.session.commit()
    assert ann.status == PUBLISHED
    assert ann.published_at == now


def test_non_urgent_cannot_skip_approval(ctx):
    now = utcnow()
    ann = create_announcement(author="water.approver", status=DRAFT, now=now)
    with pytest.raises(ServiceError) as err:
        service.publish(staff("water.approver"), ann, now)
    assert err.value.code == "approval_required"


def test_submission_requires_both_languages(ctx):
    now = utcnow()
    ann = create_announcement(status=DRAFT, now=now, title={"ru": "Только по-русски", "kk": ""}, body={"ru": "Текст"})
    with pytest.raises(ServiceError) as err:
        service.submit(staff("water.editor"), ann, now)
    assert err.value.status == 422
    assert set(err.value.fields) == {"title.kk", "body.kk"}
    db.session.rollback()
    assert db.session.get(Announcement, ann.id).status == DRAFT


def test_extension_needs_a_later_end_and_a_reason(ctx):
    now = utcnow()
    ann = create_announcement(status=PUBLISHED, now=now)
    editor = staff("water.editor")
    earlier = (ann.ends_at - timedelta(hours=1)).isoformat()
    with pytest.raises(ServiceError) as err:
        service.extend(editor, ann, now, earlier, "")
    assert set(err.value.fields) == {"ends_at", "reason"}
    db.session.rollback()
    later = ann.ends_at + timedelta(hours=2)
    version = ann.version
    service.extend(editor, ann, now, later.isoformat(), "Порыв трубы")
    db.session.commit()
    assert ann.ends_at == later
    assert ann.extended is True
    assert ann.version == version + 1
    event = ann.events[-1]
    assert (event.kind, event.public, event.reason) == ("extended", True, "Порыв трубы")
    assert event.new == {"ends_at": later.isoformat()}


def test_cancelling_a_published_announcement_needs_a_reason(ctx):
    now = utcnow()
    ann = create_announcement(status=PUBLISHED, now=now)
    with pytest.raises(ServiceError) as err:
        service.cancel(staff("water.editor"), ann, now, "  ")
    assert err.value.fields == {"reason": err.value.fields["reason"]}
    db.session.rollback()
    service.cancel(staff("water.editor"), ann, now, "Работы перенесены")
    db.session.commit()
    assert ann.status == CANCELLED
    assert ann.cancelled_at == now
    assert ann.events[-1].public is True


def test_every_step_is_recorded_with_actor_and_values(ctx):
    now = utcnow()
    ann = create_announcement(status=DRAFT, now=now)
    service.update_draft(
        staff("water.editor"), ann, {**_input(), "title": {"ru": "Новый заголовок", "kk": "Жаңа тақырып"}}, now
    )
    service.submit(staff("water.editor"), ann, now)
    service.return_to_draft(staff("water.approver"), ann, now, "Уточните адреса")
    db.session.commit()
    edited = ann.events[1]
    assert edited.kind == "edited"
    assert edited.old["title"]["ru"] == "Отключение воды"
    assert edited.new["title"]["ru"] == "Новый заголовок"
    assert "districts" not in edited.new
    returned = ann.events[-1]
    assert (returned.kind, returned.actor.email, returned.reason) == (
        "returned",
        "water.approver@demo.habarlama.kz",
        "Уточните адреса",
    )


def test_only_drafts_can_be_edited(ctx):
    now = utcnow()
    ann = create_announcement(status=PENDING, now=now)
    with pytest.raises(ServiceError) as err:
        service.update_draft(staff("water.editor"), ann, _input(), now)
    assert err.value.status == 409


def test_a_stale_copy_cannot_overwrite_a_newer_transition(ctx):
    now = utcnow()
    ann = create_announcement(status=PENDING, now=now)
    # Another approver approved it in the meantime (a second session).
    db.session.execute(
        db.update(Announcement)
        .where(Announcement.id == ann.id)
        .values(version=Announcement.version + 1)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(ServiceError) as err:
        service.return_to_draft(staff("water.approver"), ann, now, "Поздно")
    assert err.value.code == "conflict"
