"""Short SMS texts per language, rendered from the announcement record."""

from datetime import datetime

from flask import current_app

from announcements.models import LANGS, Announcement
from notifier import segments
from notifier.timeutil import to_local

KIND_WORDS = {
    "ru": {
        "planned_outage": "Плановое отключение",
        "emergency_outage": "Аварийное отключение",
        "repair_works": "Ремонтные работы",
        "reform_notice": "Реформа",
        "information": "Информация",
    },
    "kk": {
        "planned_outage": "Жоспарлы өшіру",
        "emergency_outage": "Апаттық өшіру",
        "repair_works": "Жөндеу жұмыстары",
        "reform_notice": "Реформа",
        "information": "Ақпарат",
    },
}

MAX_TITLE_IN_SMS = 60
MAX_STREETS_IN_SMS = 50


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def window(starts_at: datetime, ends_at: datetime) -> str:
    """Return the works window in local time, short: `01.12 10:00–18:00`."""
    start, end = to_local(starts_at), to_local(ends_at)
    if start.date() == end.date():
        return f"{start:%d.%m %H:%M}–{end:%H:%M}"
    return f"{start:%d.%m %H:%M}–{end:%d.%m %H:%M}"


def short_link(announcement_id: int) -> str:
    """Return the absolute short link to the announcement."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/a/{announcement_id}"


def announcement_sms(ann: Announcement, lang: str) -> str:
    """Return the first SMS about an announcement: what, where, when and the link."""
    where = ", ".join(d.name(lang) for d in ann.districts)
    if ann.streets:
        where += ", " + _clip(ann.streets, MAX_STREETS_IN_SMS)
    what = f"{KIND_WORDS[lang][ann.kind]}: {_clip(ann.title(lang), MAX_TITLE_IN_SMS)}"
    return f"{what}. {where}. {window(ann.starts_at, ann.ends_at)}. {short_link(ann.id)}"


FOLLOW_UP_WORDS = {
    "ru": {
        "extended": "Продлено до {end}",
        "completed_outage": "Восстановлено",
        "completed": "Работы завершены",
        "cancelled": "Отменено",
        "reminder": "Напоминание, завтра —",
    },
    "kk": {
        "extended": "{end} дейін ұзартылды",
        "completed_outage": "Қалпына келтірілді",
        "completed": "Жұмыс аяқталды",
        "cancelled": "Күші жойылды",
        "reminder": "Еске салу, ертең —",
    },
}
STOP_HINT = {"ru": " Отписка: СТОП", "kk": " Бас тарту: ТОҚТАТ"}


def _end_words(ann: Announcement) -> str:
    return f"{to_local(ann.ends_at):%d.%m %H:%M}"


def event_sms(ann: Announcement, kind: str, lang: str, with_stop_hint: bool = False) -> str:
    """Return the SMS for an announcement event in a language, from the record as it is now."""
    words = FOLLOW_UP_WORDS[lang]
    title = _clip(ann.title(lang), MAX_TITLE_IN_SMS)
    if kind == "published":
        text = announcement_sms(ann, lang)
    elif kind == "extended":
        text = f"{words['extended'].format(end=_end_words(ann))}: {title}. {short_link(ann.id)}"
    elif kind == "completed":
        done = words["completed_outage"] if ann.is_outage else words["completed"]
        text = f"{done}: {title}. {short_link(ann.id)}"
    elif kind == "cancelled":
        text = f"{words['cancelled']}: {title} ({window(ann.starts_at, ann.ends_at)}). {short_link(ann.id)}"
    elif kind == "reminder":
        text = f"{words['reminder']} {announcement_sms(ann, lang)}"
    else:
        raise ValueError(f"no SMS for event kind {kind!r}")
    return text + (STOP_HINT[lang] if with_stop_hint else "")


def preview(ann: Announcement, recipients: dict[str, int]) -> dict:
    """Return, per language, the SMS text, its parts and recipients, and the estimated cost."""
    price = current_app.config["SMS_PRICE"]
    per_lang, cost = {}, 0.0
    for lang in LANGS:
        text = announcement_sms(ann, lang)
        seg = segments.count(text)
        count = recipients.get(lang, 0)
        per_lang[lang] = {
            "text": text,
            "chars": seg.chars,
            "encoding": seg.encoding,
            "parts": seg.parts,
            "recipients": count,
        }
        cost += count * seg.parts * price
    return {
        "recipients": sum(recipients.values()),
        "languages": per_lang,
        "estimated_cost": round(cost, 2),
        "currency": current_app.config["SMS_CURRENCY"],
        "price_per_part": price,
    }
