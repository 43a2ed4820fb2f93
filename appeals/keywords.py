"""The words residents text us (СТОП, СТАРТ, КӨМЕК, ПОДПИСКА …), the districts they name, and our answers."""

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

from notifier.directory import District, all_districts

STOP, START, HELP, SUBSCRIBE, CODE, CHOICE = "stop", "start", "help", "subscribe", "code", "choice"

# Folded spelling (Cyrillic look-alikes and Kazakh letters folded, or plain Latin) -> (kind, language it implies).
WORDS: dict[str, tuple[str, str | None]] = {
    "стоп": (STOP, None),
    "stop": (STOP, None),
    "токтат": (STOP, "kk"),
    "токтату": (STOP, "kk"),
    "отписка": (STOP, "ru"),
    "отписаться": (STOP, "ru"),
    "отпишите": (STOP, "ru"),
    "unsubscribe": (STOP, None),
    "старт": (START, None),
    "start": (START, None),
    "бастау": (START, "kk"),
    "комек": (HELP, "kk"),
    "помощь": (HELP, "ru"),
    "справка": (HELP, "ru"),
    "help": (HELP, None),
    "подписка": (SUBSCRIBE, "ru"),
    "подписаться": (SUBSCRIBE, "ru"),
    "жазылу": (SUBSCRIBE, "kk"),
    "subscribe": (SUBSCRIBE, None),
}
# "помощь нужна, третий день нет воды" is an appeal: a command is short.
MAX_WORDS = {STOP: 3, START: 3, HELP: 3, SUBSCRIBE: 5}
KAZAKH_LETTERS = "әғқңөұүһі"

# Letters that look alike in the two scripts, as residents' phones mix them ("CTOП", "stоp").
_LATIN, _CYRILLIC = "ABCEHKMOPTXYaceopxyk", "АВСЕНКМОРТХУасеорхук"
TO_CYRILLIC = str.maketrans(_LATIN, _CYRILLIC)
TO_LATIN = str.maketrans(_CYRILLIC + "і", _LATIN + "i")
# Kazakh letters typed without a Kazakh keyboard: ТОКТАТ for ТОҚТАТ, КОМЕК for КӨМЕК.
KAZAKH_TO_RUSSIAN = str.maketrans("әғқңөұүһіё", "агкноуухие")
TRANSLIT = str.maketrans(
    {
        **dict(zip("абвгдезийклмнопрстуфхыэ", "abvgdeziyklmnoprstufhye", strict=True)),
        **{"ж": "zh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sh", "ю": "yu", "я": "ya", "ъ": "", "ь": ""},
        # The Kazakh Latin alphabet and its older spellings: Qaratau, Eñbekşi, Tūran.
        **dict(zip("qñğūüöäı", "knguuoay", strict=True)),
        **{"ş": "sh", "ç": "ch"},
    }
)
# A word: letters or digits, hyphen-joined parts included ("стоп-кран" is one word, not СТОП).
WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
DISTRICT_NOISE = {"район", "р-н", "рн", "rayon", "аудан", "ауданы", "audany", "district", "город", "на", "в"}
DISTRICT_CUTOFF = 0.75

# Gateways' and phones' own messages: answering them could start an endless exchange of robots.
AUTOMATIC = re.compile(
    r"\W*(?:автоответ|авто-ответ|auto[- ]?reply|autoreply|automatic reply|out of office|"
    r"абонент\b.{0,20}\bнедоступен|ваше сообщение доставлено|сообщение доставлено|доставлено|не доставлено|"
    r"delivery report|delivered|undelivered|message delivered|автоматты жауап|хабарлама жеткізілді)",
    re.IGNORECASE,
)

# What we answer, per language; {url} is the subscribe page. SMS content, not UI strings.
REPLIES = {
    "ru": {
        "stopped": "Хабарлама: вы отписаны, сообщений больше не будет. Возобновить: СТАРТ",
        "stopped_unknown": "Хабарлама: номер не подписан, сообщений от нас не будет.",
        "started": "Хабарлама: уведомления возобновлены ({districts}). Отписаться: СТОП",
        "not_subscribed": "Хабарлама: номер не подписан. Напишите ПОДПИСКА <район> или {url}",
        "help": "Хабарлама: СТОП — отписаться, СТАРТ — возобновить, ПОДПИСКА <район> — подписаться. {url}",
        "subscribed": "Хабарлама: вы подписаны на уведомления: {districts}. Отписаться: СТОП",
        "choose": "Хабарлама: уточните район: {options}. Ответьте цифрой.",
        "choose_again": "Хабарлама: ответьте цифрой от 1 до {count}.",
        "no_district": "Хабарлама: район не найден. Районы: {names}. Пример: ПОДПИСКА {example}",
        "wrong_code": "Хабарлама: код не подошёл. Запросите новый: {url}",
    },
    "kk": {
        "stopped": "Хабарлама: жазылым тоқтатылды, хабарлама келмейді. Қайта қосу: БАСТАУ",
        "stopped_unknown": "Хабарлама: нөмір жазылмаған, бізден хабарлама келмейді.",
        "started": "Хабарлама: хабарламалар қайта қосылды ({districts}). Тоқтату: ТОҚТАТ",
        "not_subscribed": "Хабарлама: нөмір жазылмаған. ЖАЗЫЛУ <аудан> деп жазыңыз немесе {url}",
        "help": "Хабарлама: ТОҚТАТ — бас тарту, БАСТАУ — қайта қосу, ЖАЗЫЛУ <аудан> — жазылу. {url}",
        "subscribed": "Хабарлама: сіз жазылдыңыз: {districts}. Тоқтату: ТОҚТАТ",
        "choose": "Хабарлама: ауданды нақтылаңыз: {options}. Санмен жауап беріңіз.",
        "choose_again": "Хабарлама: 1-ден {count}-ге дейінгі санмен жауап беріңіз.",
        "no_district": "Хабарлама: аудан табылмады. Аудандар: {names}. Мысалы: ЖАЗЫЛУ {example}",
        "wrong_code": "Хабарлама: код сәйкес келмеді. Жаңасын сұраңыз: {url}",
    },
}


@dataclass(frozen=True)
class Keyword:
    """What a short message asks for; `language` is the one its word implies (ТОҚТАТ: kk), if any."""

    kind: str
    argument: str = ""
    language: str | None = None


def words(text: str) -> list[str]:
    """Return the words of a message, without punctuation and emoji."""
    return WORD.findall(unicodedata.normalize("NFC", text or ""))


def spellings(word: str) -> set[str]:
    """Return the word read as Cyrillic and as Latin, lower case, Kazakh letters folded."""
    cyrillic = word.translate(TO_CYRILLIC).lower().translate(KAZAKH_TO_RUSSIAN)
    latin = word.translate(TO_LATIN).lower()
    return {cyrillic, latin}


def _keyword(word: str) -> tuple[str, str | None] | None:
    for spelling in spellings(word):
        if spelling in WORDS:
            return WORDS[spelling]
    return None


def _digits_only(text: str) -> str | None:
    """Return the digits of a message that is nothing but digits, spaces and hyphens."""
    stripped = text.strip().strip(".!,;")
    compact = re.sub(r"[\s-]", "", stripped)
    return compact if compact.isascii() and compact.isdigit() else None


def classify(text: str) -> Keyword | None:
    """Return the keyword a message is, or None when it is something to read (an appeal)."""
    number = _digits_only(text or "")
    if number is not None:
        if len(number) == 6:
            return Keyword(CODE, number)
        if len(number) == 1 and number != "0":
            return Keyword(CHOICE, number)
        return None
    found = words(text)
    if not found:
        return None
    match = _keyword(found[0])
    if match is None or len(found) > MAX_WORDS[match[0]]:
        return None
    kind, language = match
    argument = ""
    if kind == SUBSCRIBE:
        text = unicodedata.normalize("NFC", text)
        argument = text[WORD.search(text).end() :].strip(" \t\r\n.,:;!?-—«»\"'")
    return Keyword(kind, argument, language)


def has_kazakh_letters(text: str) -> bool:
    """Return whether the text uses letters only Kazakh has (әғқңөұүһі)."""
    return any(ch in KAZAKH_LETTERS for ch in (text or "").lower())


def _skeleton(text: str) -> set[str]:
    """Return the text as Latin letters only, read both ways ("Әл-Фараби", "al farabi" -> "alfarabi")."""
    return {re.sub(r"[^a-z0-9]", "", s.translate(TRANSLIT)) for s in spellings(text)}


def _district_keys(district: District) -> set[str]:
    keys = _skeleton(district.name_ru) | _skeleton(district.name_kk) | _skeleton(district.slug)
    # "Абайский" is also written "Абай": drop the Russian adjective ending.
    return keys | {re.sub(r"(sk)?(iy|yy|ii|aya|oe)$", "", k) for k in keys}


def _windows(text: str) -> list[str]:
    """Return every run of one to three words of the text, district noise words left out."""
    found = [w for w in words(text) if w.lower() not in DISTRICT_NOISE]
    runs = [" ".join(found[i : i + n]) for n in (1, 2, 3) for i in range(len(found) - n + 1)]
    return [r for r in runs if len(r) >= 3]


def _score(query_keys: set[str], district_keys: set[str]) -> float:
    return max(
        (SequenceMatcher(None, q, k).ratio() for q in query_keys for k in district_keys if q and k),
        default=0.0,
    )


def match_districts(text: str, districts: list[District] | None = None) -> list[District]:
    """Return the districts the text names, best first: every one scoring above the cutoff."""
    queries = [_skeleton(w) for w in _windows(text)]
    scored = []
    for district in all_districts() if districts is None else districts:
        keys = _district_keys(district)
        score = max((_score(q, keys) for q in queries), default=0.0)
        if score >= DISTRICT_CUTOFF:
            scored.append((score, district.id, district))
    return [d for _score_, _id, d in sorted(scored, key=lambda s: (-s[0], s[1]))]


def looks_automatic(text: str) -> bool:
    """Return whether a message is a phone's or gateway's own (auto-reply, delivery report): never answered."""
    return AUTOMATIC.match(text or "") is not None
