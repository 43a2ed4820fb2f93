"""Subscribing and unsubscribing by phone: codes by SMS, their checks, and the subscriber they confirm."""

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from notifier import outbox
from notifier.db import db
from notifier.directory import Department, all_departments, districts_by_slugs
from notifier.errors import ServiceError
from notifier.timeutil import local_zone
from subscribers.models import ACTIVE, STOPPED, ConfirmationCode, Subscriber
from subscribers.phones import PhoneError, normalize

SUBSCRIBE, UNSUBSCRIBE = "subscribe", "unsubscribe"
PURPOSES = (SUBSCRIBE, UNSUBSCRIBE)
LANGUAGES = ("kk", "ru")
OUTBOX_PURPOSE = "code"
# Each fits one UCS-2 part (70 characters): a code is one SMS, never two.
CODE_SMS = {
    SUBSCRIBE: {
        "ru": "Хабарлама: код подтверждения {code}. Никому не сообщайте.",
        "kk": "Хабарлама: растау коды {code}. Ешкімге айтпаңыз.",
    },
    UNSUBSCRIBE: {
        "ru": "Хабарлама: код для отказа от рассылки {code}. Никому не сообщайте.",
        "kk": "Хабарлама: жазылымнан бас тарту коды {code}. Ешкімге айтпаңыз.",
    },
}


class LimitReached(ServiceError):
    """A refusal that lifts by itself after `retry_after` seconds."""

    def __init__(self, code: str, message: str, retry_after: int, fields: dict[str, str] | None = None):
        super().__init__(code, message, 429, fields)
        self.retry_after = retry_after


def phone_message(reason: str) -> str:
    """Return what to tell a resident whose number was refused for this reason."""
    messages = {
        "not_kz": _("Only Kazakhstan mobile numbers can subscribe."),
        "not_mobile": _("This is a landline number. Enter a mobile number."),
    }
    return messages.get(reason, _("Enter a mobile number, for example 8 701 123 45 67."))


def parse_phone(raw) -> str:
    """Return the number in E.164, or raise a 422 with a message on the phone field."""
    try:
        return normalize(raw)
    except PhoneError as err:
        raise ServiceError(
            "validation_error", _("Check the phone number."), 422, {"phone": phone_message(err.reason)}
        ) from None


def _slugs(value, field: str, errors: dict[str, str]) -> list[str]:
    """Return a list of slugs without repeats; note an error when it is not a list of text."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors[field] = _("Must be a list of codes.")
        return []
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _preferences(phone_raw, districts, departments, language) -> tuple[str, dict]:
    """Check a subscription request; return the phone and the preferences to apply on confirmation."""
    errors: dict[str, str] = {}
    try:
        phone = normalize(phone_raw)
    except PhoneError as err:
        phone, errors["phone"] = "", phone_message(err.reason)
    district_slugs = _slugs(districts, "districts", errors)
    found, unknown = districts_by_slugs(district_slugs)
    if unknown:
        errors["districts"] = _("Unknown district: %(slugs)s.", slugs=", ".join(unknown))
    elif not found and "districts" not in errors:
        errors["districts"] = _("Choose at least one district.")
    department_slugs = _slugs(departments, "departments", errors)
    known: list[Department] = all_departments()
    unknown = [s for s in department_slugs if s not in {d.slug for d in known}]
    if unknown:
        errors["departments"] = _("Unknown service: %(slugs)s.", slugs=", ".join(unknown))
    if language not in LANGUAGES:
        errors["language"] = _("Choose Kazakh or Russian.")
    if errors:
        raise ServiceError("validation_error", _("Some fields need attention."), 422, errors)
    chosen = [d.slug for d in known if not department_slugs or d.slug in department_slugs]
    return phone, {
        "districts": [d.slug for d in sorted(found, key=lambda d: d.id)],
        "departments": chosen,
        "language": language,
    }


def _digest(phone: str, purpose: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _check_daily_limit(phone: str, now: datetime) -> None:
    """Refuse a further code to a phone that had SUBSCRIBE_CODES_PER_DAY since local midnight.

    Only codes count: the table also keeps the district lists offered to a resident who texted an
    ambiguous SUBSCRIBE, which send no code and must not use up the day's codes.
    """
    midnight = now.astimezone(local_zone()).replace(hour=0, minute=0, second=0, microsecond=0)
    sent = db.session.scalar(
        select(func.count(ConfirmationCode.id)).where(
            ConfirmationCode.phone == phone,
            ConfirmationCode.purpose.in_(PURPOSES),
            ConfirmationCode.created_at >= midnight,
        )
    )
    if sent >= current_app.config["SUBSCRIBE_CODES_PER_DAY"]:
        wait = int(((midnight + timedelta(days=1)) - now).total_seconds())
        message = _("This number has had the most codes allowed today. Try again tomorrow.")
        raise LimitReached("too_many_codes", message, max(wait, 1), {"phone": message})


def active_subscriber(phone: str) -> Subscriber | None:
    """Return the active subscriber with this E.164 number, or None."""
    return db.session.scalar(select(Subscriber).where(Subscriber.phone == phone, Subscriber.status == ACTIVE))


def request_code(phone_raw, districts, departments, language, purpose: str, now: datetime) -> ConfirmationCode | None:
    """Store a new code for the phone and queue it by SMS; None when there is nothing to unsubscribe."""
    # The chosen preferences travel with the code: they replace the old ones only once it is confirmed.
    if purpose == SUBSCRIBE:
        phone, payload = _preferences(phone_raw, districts, departments, language)
        sms_language = payload["language"]
    elif purpose == UNSUBSCRIBE:
        phone, payload = parse_phone(phone_raw), {}
        subscriber = active_subscriber(phone)
        # Same answer either way, so the form does not tell who is subscribed; and no SMS to strangers.
        if subscriber is None:
            return None
        sms_language = subscriber.language
    else:
        raise ValueError(f"unknown purpose {purpose!r}")
    _check_daily_limit(phone, now)
    code = f"{secrets.randbelow(10**6):06d}"
    row = ConfirmationCode(
        phone=phone,
        purpose=purpose,
        code_hash=_digest(phone, purpose, code),
        payload=json.dumps(payload),
        attempts=0,
        created_at=now,
        expires_at=now + timedelta(minutes=current_app.config["SUBSCRIBE_CODE_TTL_MINUTES"]),
    )
    db.session.add(row)
    outbox.enqueue(phone, CODE_SMS[purpose][sms_language].format(code=code), sms_language, OUTBOX_PURPOSE, now, True)
    return row


def _clean_code(code) -> str:
    """Return the six digits typed (spaces allowed), or raise a 422 on the code field."""
    text = "".join(code.split()) if isinstance(code, str) else ""
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        message = _("Enter the 6-digit code from the SMS.")
        raise ServiceError("validation_error", message, 422, {"code": message})
    return text


def _latest_code(phone: str, purpose: str) -> ConfirmationCode:
    """Return the newest unused code of the phone, locked until the caller commits."""
    row = db.session.scalar(
        select(ConfirmationCode)
        .where(ConfirmationCode.phone == phone, ConfirmationCode.purpose == purpose, ConfirmationCode.used_at.is_(None))
        .order_by(ConfirmationCode.created_at.desc(), ConfirmationCode.id.desc())
        .limit(1)
        .with_for_update()
    )
    if row is None:
        message = _("No code is waiting for this number. Request a new code.")
        raise ServiceError("no_code", message, 422, {"code": message})
    return row


def _check(row: ConfirmationCode, code: str, now: datetime) -> None:
    """Raise unless the code matches; a wrong guess is counted (the caller commits even then)."""
    if row.expires_at <= now:
        message = _("The code has expired. Request a new code.")
        raise ServiceError("code_expired", message, 422, {"code": message})
    allowed = current_app.config["SUBSCRIBE_MAX_ATTEMPTS"]
    locked = _("Too many wrong codes. Request a new code.")
    if row.attempts >= allowed:
        raise ServiceError("code_locked", locked, 429, {"code": locked})
    if not hmac.compare_digest(row.code_hash, _digest(row.phone, row.purpose, code)):
        row.attempts += 1
        db.session.flush()
        if row.attempts >= allowed:
            raise ServiceError("code_locked", locked, 429, {"code": locked})
        message = _("The code is not right. Attempts left: %(left)d.", left=allowed - row.attempts)
        raise ServiceError("wrong_code", message, 422, {"code": message})


def _subscribe(phone: str, payload: dict, now: datetime) -> Subscriber:
    """Create or update the subscriber with the confirmed preferences."""
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.phone == phone).with_for_update())
    if subscriber is None:
        subscriber = Subscriber(phone=phone, created_at=now)
        db.session.add(subscriber)
    districts, _unknown = districts_by_slugs(payload.get("districts", []))
    subscriber.districts = sorted(districts, key=lambda d: d.id)
    subscriber.departments = [d for d in all_departments() if d.slug in payload.get("departments", [])]
    subscriber.language = payload.get("language", "ru")
    subscriber.status, subscriber.confirmed_at, subscriber.stopped_at = ACTIVE, now, None
    return subscriber


def _unsubscribe(phone: str, now: datetime) -> Subscriber | None:
    """Stop every alert to the phone."""
    subscriber = db.session.scalar(select(Subscriber).where(Subscriber.phone == phone).with_for_update())
    if subscriber is not None and subscriber.status != STOPPED:
        subscriber.status, subscriber.stopped_at = STOPPED, now
    return subscriber


def confirm(phone_raw, code, now: datetime, purpose: str = SUBSCRIBE) -> Subscriber | None:
    """Check the code sent to the phone and apply what it was for; return the subscriber."""
    # A wrong code raises after counting the attempt, so callers commit on ServiceError too.
    phone = parse_phone(phone_raw)
    typed = _clean_code(code)
    row = _latest_code(phone, purpose)
    _check(row, typed, now)
    row.used_at = now
    if purpose == SUBSCRIBE:
        subscriber = _subscribe(phone, json.loads(row.payload or "{}"), now)
    else:
        subscriber = _unsubscribe(phone, now)
    db.session.flush()
    return subscriber
