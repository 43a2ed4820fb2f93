"""Staff users, roles, API tokens, login and the guards views use."""

import hashlib
import secrets
from datetime import datetime
from functools import wraps

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import Boolean, ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from notifier.db import UTCDateTime, db, utcnow
from notifier.directory import Department

EDITOR, APPROVER, OPERATOR, ADMIN = "editor", "approver", "operator", "admin"
ROLES = (EDITOR, APPROVER, OPERATOR, ADMIN)
DEPARTMENT_ROLES = (EDITOR, APPROVER)

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = None


class StaffUser(UserMixin, db.Model):
    """A member of staff: editor or approver of a department, operator or admin."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    department: Mapped[Department | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.active

    def acts_for(self, department_id: int | None) -> bool:
        """Return whether this user may act for the given department."""
        if self.role == ADMIN:
            return True
        return self.role in DEPARTMENT_ROLES and self.department_id == department_id

    def may_approve_for(self, department_id: int | None) -> bool:
        """Return whether this user may approve (or publish) for the department."""
        return self.role == ADMIN or (self.role == APPROVER and self.department_id == department_id)


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[StaffUser] = relationship()


def _hasher() -> PasswordHasher:
    if current_app.config.get("TESTING"):
        return PasswordHasher.from_parameters(profiles.CHEAPEST)
    return PasswordHasher()


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password."""
    return _hasher().hash(password)


def check_password(user: StaffUser, password: str) -> bool:
    """Return whether the password matches, rehashing outdated hashes."""
    hasher = _hasher()
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


def user_by_email(email: str) -> StaffUser | None:
    """Return the staff user with this e-mail (case-insensitive), or None."""
    return db.session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower()))


def create_staff(email: str, password: str, role: str, department: Department | None) -> StaffUser:
    """Create a staff user after checking the role and department fit together."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role in DEPARTMENT_ROLES and department is None:
        raise ValueError(f"role {role} needs a department")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    if user_by_email(email):
        raise ValueError(f"{email} already exists")
    user = StaffUser(
        email=email.strip().lower(),
        password_hash=hash_password(password),
        role=role,
        department_id=department.id if department and role != ADMIN else None,
    )
    db.session.add(user)
    db.session.flush()
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: StaffUser) -> str:
    """Create an API token for the user and return its only plain copy."""
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=_digest(token)))
    db.session.flush()
    return token


def user_for_token(token: str) -> StaffUser | None:
    """Return the active user owning a valid token, or None."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token), ApiToken.revoked.is_(False)))
    if row is None or not row.user.active:
        return None
    return row.user


@login_manager.user_loader
def _load_user(user_id: str) -> StaffUser | None:
    return db.session.get(StaffUser, int(user_id))


def staff_required(*roles: str):
    """Require a logged-in staff user, optionally with one of the roles."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def bearer_user() -> StaffUser | None:
    """Return the API user of this request from `Authorization: Bearer`, cached on g."""
    if "api_user" not in g:
        header = request.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        g.api_user = user_for_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
    return g.api_user


class LoginForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


@bp.route("/staff/login", methods=["GET", "POST"])
def login():
    """Show the login form and sign staff in."""
    form = LoginForm()
    form.email.label.text = _("E-mail")
    form.password.label.text = _("Password")
    if form.validate_on_submit():
        user = user_by_email(form.email.data)
        if user and user.active and check_password(user, form.password.data):
            session.permanent = True
            login_user(user)
            db.session.commit()
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("staff.index")
            return redirect(target)
        flash(_("Wrong e-mail or password."), "error")
    return render_template("auth/login.html", form=form)


@bp.route("/staff/logout", methods=["POST"])
def logout():
    """Sign out and go back to the public page."""
    logout_user()
    return redirect(url_for("public.index"))
