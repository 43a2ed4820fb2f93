"""The SMS an appeal sends, in the resident's language."""

from datetime import datetime

from appeals import deadlines
from notifier.timeutil import to_local

WORDS = {
    "ru": {
        "ack": "Обращение № {number} зарегистрировано. Ответ до {due}.",
        "ack_later": " Его прочитают {opens}.",
        "ack_queue": " Оператор направит его в нужную службу.",
        "answer": "Ответ на обращение № {number}: {text}",
        "rejected": "Обращение № {number} не в нашей компетенции: {reason}",
        "forwarded": "Обращение № {number} передано: {department}.",
        "extended": "Срок ответа на обращение № {number} продлён до {due}: {reason}",
    },
    "kk": {
        "ack": "№ {number} өтініш тіркелді. Жауап {due} дейін.",
        "ack_later": " Ол {opens} оқылады.",
        "ack_queue": " Оператор оны тиісті қызметке жібереді.",
        "answer": "№ {number} өтінішке жауап: {text}",
        "rejected": "№ {number} өтініш біздің құзыретімізде емес: {reason}",
        "forwarded": "№ {number} өтініш жіберілді: {department}.",
        "extended": "№ {number} өтінішке жауап беру мерзімі {due} дейін ұзартылды: {reason}",
    },
}


def _day(value: datetime) -> str:
    return f"{to_local(value):%d.%m.%Y}"


def acknowledgement(appeal, now: datetime) -> str:
    """Return the acknowledgement: number, deadline, and when it will be read if staff are away."""
    words = WORDS[appeal.language]
    text = words["ack"].format(number=appeal.number, due=_day(appeal.due_at))
    if appeal.department is None:
        return text + words["ack_queue"]
    opens = deadlines.next_opening(appeal.department, now)
    if opens is not None:
        text += words["ack_later"].format(opens=f"{to_local(opens):%d.%m %H:%M}")
    return text


def answer(appeal, text: str) -> str:
    """Return the staff answer as the resident receives it."""
    return WORDS[appeal.language]["answer"].format(number=appeal.number, text=text)


def rejected(appeal, reason: str) -> str:
    """Return the notice that the appeal is outside our competence, with the reason."""
    return WORDS[appeal.language]["rejected"].format(number=appeal.number, reason=reason)


def forwarded(appeal, department) -> str:
    """Return the notice that the appeal went to another department."""
    return WORDS[appeal.language]["forwarded"].format(number=appeal.number, department=department.name(appeal.language))


def extended(appeal) -> str:
    """Return the notice of a longer deadline, with its reason."""
    return WORDS[appeal.language]["extended"].format(
        number=appeal.number, due=_day(appeal.due_at), reason=appeal.extended_reason
    )
