"""The staff commands: create and token."""

from notifier.auth import StaffUser, user_for_token
from notifier.db import db


def test_staff_create_reads_password_from_stdin(app, runner):
    result = runner.invoke(
        args=["staff", "create", "new.editor@example.kz", "--role", "editor", "--department", "land"],
        input="a-long-password\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(db.select(StaffUser).where(StaffUser.email == "new.editor@example.kz"))
        assert user.role == "editor"
        assert user.department.slug == "land"
        assert user.password_hash.startswith("$argon2id$")


def test_staff_create_refuses_bad_input(runner):
    cases = [
        (["staff", "create", "x@example.kz", "--role", "editor"], "needs a department"),
        (["staff", "create", "x@example.kz", "--role", "editor", "--department", "nope"], "unknown department"),
        (["staff", "create", "water.editor@demo.habarlama.kz", "--role", "admin"], "already exists"),
        (["staff", "create", "y@example.kz", "--role", "admin"], "at least 8"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args, input="short\n" if "y@" in args[2] else "long-enough-pw\n")
        assert result.exit_code != 0
        assert message in result.output


def test_staff_token_prints_a_working_token(app, runner):
    result = runner.invoke(args=["staff", "token", "water.editor@demo.habarlama.kz"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert len(token) >= 40
    with app.app_context():
        assert user_for_token(token).email == "water.editor@demo.habarlama.kz"
        assert user_for_token(token + "x") is None
    assert runner.invoke(args=["staff", "token", "nobody@example.kz"]).exit_code != 0


def test_worker_once_publishes_due_announcements(app, runner):
    from datetime import timedelta

    from announcements import service
    from notifier.db import utcnow
    from tests.factories import create_announcement, staff

    with app.app_context():
        # Approved ten minutes ago for five minutes ago: due now by the worker's real clock.
        then = utcnow() - timedelta(minutes=10)
        ann = create_announcement(
            status="pending_approval", now=then, publish_at=(then + timedelta(minutes=5)).isoformat()
        )
        service.approve(staff("water.approver"), ann, then)
        db.session.commit()
        assert ann.status == "scheduled"
        ann_id = ann.id
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        from announcements.models import Announcement

        assert db.session.get(Announcement, ann_id).status == "published"
