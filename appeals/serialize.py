"""Appeals in the staff JSON API's shape, and as Open311 GeoReport v2 services and requests."""

import re
from datetime import datetime

from announcements.serialize import iso
from appeals.models import CLOSED_STATUSES, OPEN_STATUSES, Appeal, AppealEvent, AppealMessage
from appeals.service import is_overdue
from notifier.directory import Department
from notifier.timeutil import to_local

# Open311's two statuses over ours: open = new / in progress / forwarded; closed = the rest.
OPEN311_STATUS = {**dict.fromkeys(OPEN_STATUSES, "open"), **dict.fromkeys(CLOSED_STATUSES, "closed")}
# Details an Open311 client may give with a request, kept on the "registered" event; only these are public.
PUBLIC_DETAILS = ("address", "lat", "long")
PRIVATE_DETAILS = ("email", "first_name", "last_name")

WORDS = {
    "ru": {
        "days": ("пн", "вт", "ср", "чт", "пт", "сб", "вс"),
        "daily": "ежедневно",
        "description": "Обращения жителей в службу «{name}». Приём: {days} {start}–{end}. Ответ по SMS.",
        "due": "Ответ по SMS до {due}.",
        "closed": "Обращение закрыто.",
        "utilities": "Жилищно-коммунальное хозяйство",
        "land": "Земельные отношения",
    },
    "kk": {
        "days": ("дс", "сс", "ср", "бс", "жм", "сн", "жс"),
        "daily": "күн сайын",
        "description": "Тұрғындардың «{name}» қызметіне өтініштері. Қабылдау: {days} {start}–{end}. Жауап SMS арқылы.",
        "due": "Жауап SMS арқылы {due} дейін.",
        "closed": "Өтініш жабылды.",
        "utilities": "Тұрғын үй-коммуналдық шаруашылық",
        "land": "Жер қатынастары",
    },
}
GROUPS = {"land": "land"}  # any other department belongs to housing and utilities, the contact centre's origin

# Residents' free text may carry their own or others' numbers and e-mails: hidden in public answers.
PHONE_LIKE = re.compile(r"\+?\d(?:[\s()\-]*\d){6,}")
EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


# The staff JSON API


def message_json(message: AppealMessage) -> dict:
    """Return one message of the thread."""
    return {"direction": message.direction, "text": message.text, "at": iso(message.at)}


def event_json(event: AppealEvent) -> dict:
    """Return one step of the appeal's history, with who took it."""
    return {
        "kind": event.kind,
        "at": iso(event.at),
        "actor": event.actor.email if event.actor else None,
        "reason": event.reason,
        "old": event.old,
        "new": event.new,
    }


def appeal_json(appeal: Appeal, now: datetime) -> dict:
    """Return the appeal as staff see it: the resident's phone, the thread and the history."""
    return {
        "number": appeal.number,
        "status": appeal.status,
        "channel": appeal.channel,
        "department": appeal.department.slug if appeal.department else None,
        "district": appeal.district.slug if appeal.district else None,
        "announcement_id": appeal.announcement_id,
        "phone": appeal.phone,
        "language": appeal.language,
        "created_at": iso(appeal.created_at),
        "due_at": iso(appeal.due_at),
        "overdue": is_overdue(appeal, now),
        "first_answer_at": iso(appeal.first_answer_at),
        "closed_at": iso(appeal.closed_at),
        "messages": [message_json(m) for m in appeal.messages],
        "history": [event_json(e) for e in appeal.events],
    }


# Open311 GeoReport v2


def _days(work_days: str, lang: str) -> str:
    words = WORDS[lang]
    numbers = sorted(int(d) for d in work_days)
    if numbers == list(range(1, 8)):
        return words["daily"]
    if numbers and numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 1:
        return f"{words['days'][numbers[0] - 1]}–{words['days'][numbers[-1] - 1]}"
    return ", ".join(words["days"][n - 1] for n in numbers)


def service_json(dep: Department, lang: str) -> dict:
    """Return a department as an Open311 service."""
    words = WORDS[lang]
    description = words["description"].format(
        name=dep.name(lang),
        days=_days(dep.work_days, lang),
        start=f"{dep.work_start:%H:%M}",
        end=f"{dep.work_end:%H:%M}",
    )
    return {
        "service_code": dep.slug,
        "service_name": dep.name(lang),
        "description": description,
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join((dep.slug, dep.name_ru, dep.name_kk)),
        "group": words[GROUPS.get(dep.slug, "utilities")],
    }


def redact(text: str) -> str:
    """Return the text with anything that looks like a phone number or an e-mail address hidden."""
    return EMAIL_LIKE.sub("***", PHONE_LIKE.sub("***", text))


def service_notice(appeal: Appeal, lang: str) -> str:
    """Return what happens next: the SMS answer by the deadline, or that the appeal is closed."""
    if appeal.status in CLOSED_STATUSES:
        return WORDS[lang]["closed"]
    return WORDS[lang]["due"].format(due=f"{to_local(appeal.due_at):%d.%m.%Y}")


def registration_details(appeal: Appeal) -> dict:
    """Return what was given at registration (address, location, name), as kept on the first event."""
    return next((dict(e.new or {}) for e in appeal.events if e.kind == "registered"), {})


def _updated(appeal: Appeal) -> datetime:
    moments = [appeal.created_at, appeal.last_message_at, appeal.closed_at]
    moments += [e.at for e in appeal.events] + [m.at for m in appeal.messages]
    return max(m for m in moments if m is not None)


def request_json(appeal: Appeal, lang: str) -> dict:
    """Return an appeal as a public Open311 service request: no phone, no names, numbers in the text hidden."""
    dep = appeal.department
    first = next((m.text for m in appeal.messages if m.direction == "in"), appeal.summary)
    details = registration_details(appeal)
    return {
        "service_request_id": appeal.number,
        "status": OPEN311_STATUS[appeal.status],
        "status_notes": appeal.status,
        "service_name": dep.name(lang) if dep else None,
        "service_code": dep.slug if dep else None,
        "description": redact(first),
        "agency_responsible": dep.name(lang) if dep else None,
        "service_notice": service_notice(appeal, lang),
        "requested_datetime": iso(appeal.created_at),
        "updated_datetime": iso(_updated(appeal)),
        "expected_datetime": iso(appeal.due_at),
        "address": redact(details["address"]) if details.get("address") else None,
        "address_id": None,
        "zipcode": None,
        "lat": details.get("lat"),
        "long": details.get("long"),
        "media_url": None,
    }
