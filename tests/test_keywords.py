"""The words residents text us: keywords in Kazakh, Russian and English, look-alike letters, and districts.

Decisions the tests pin down:
- a keyword counts only as the FIRST word of a short message (СТОП/СТАРТ/КӨМЕК: at most 3 words,
  ПОДПИСКА: at most 5), so "помощь нужна, третий день нет воды в доме" is an appeal, not HELP;
- a hyphen joins words: "стоп-кран сломан в лифте" is about a lift, not STOP;
- a keyword later in the sentence ("прошу стоп") is not one: staff read it;
- the numbers 0 and 10+ are not choices; 5 or 7 digits are not codes (account numbers, flats).
"""

import pytest
from sqlalchemy import delete

from appeals.keywords import classify, looks_automatic, match_districts
from notifier.db import db
from notifier.directory import District
from subscribers.models import subscriber_districts

# Test districts with names close enough to be ambiguous, plus the Turkestan-region ones from the product page.
EXTRA_DISTRICTS = [
    ("sairam", "Сайрамский", "Сайрам"),
    ("sairam-2", "Сайрамский-2", "Сайрам-2"),
    ("tolebi", "Толебийский", "Төле би"),
    ("tulkubas", "Тюлькубасский", "Түлкібас"),
    ("saryagash", "Сарыагашский", "Сарыағаш"),
]


@pytest.fixture
def extra_districts(app):
    """Add the test districts for one test; districts are reference data kept between tests, so remove them."""
    with app.app_context():
        rows = [District(slug=s, name_ru=ru, name_kk=kk, region="turkestan") for s, ru, kk in EXTRA_DISTRICTS]
        db.session.add_all(rows)
        db.session.commit()
        ids = [d.id for d in rows]
    yield ids
    with app.app_context():
        db.session.execute(delete(subscriber_districts).where(subscriber_districts.c.district_id.in_(ids)))
        db.session.execute(delete(District).where(District.id.in_(ids)))
        db.session.commit()


def kind(text):
    keyword = classify(text)
    return keyword.kind if keyword else None


@pytest.mark.parametrize(
    "text",
    [
        "СТОП",
        "стоп",
        "STOP",
        "  Stop. ",
        "СТОП!!!",
        "стоп пожалуйста",
        "Stop please now",
        "🛑 стоп 🙏",
        "CTOП",  # Latin C, T, O
        "stоp",  # Cyrillic о
        "STОР",  # Cyrillic О and Р
        "ТОҚТАТ",
        "тоқтат!",
        "ТОКТАТ",  # typed without a Kazakh keyboard
        "TOҚTAT",  # Latin T, O, A
        "ОТПИСКА",
        "Отписаться",
        "unsubscribe",
    ],
)
def test_stop_in_every_spelling(text):
    assert kind(text) == "stop"


@pytest.mark.parametrize("text", ["СТАРТ", "start", "Старт!", "CTAPT", "БАСТАУ", "бастау ", "STАRT"])
def test_start(text):
    assert kind(text) == "start"


@pytest.mark.parametrize(
    "text", ["КӨМЕК", "көмек?", "КОМЕК", "ПОМОЩЬ", "помощь!", "HELP", "Help?", "НЕLР", "СПРАВКА", "помощь нужна"]
)
def test_help(text):
    assert kind(text) == "help"


def test_kazakh_keywords_say_kazakh_and_russian_ones_say_russian():
    assert classify("ТОҚТАТ").language == "kk" and classify("көмек").language == "kk"
    assert classify("ПОМОЩЬ").language == "ru" and classify("отписка").language == "ru"
    assert classify("STOP").language is None and classify("стоп").language is None  # used in both languages


@pytest.mark.parametrize(
    ("text", "argument", "language"),
    [
        ("ПОДПИСКА Абай", "Абай", "ru"),
        ("подписка: аль фараби", "аль фараби", "ru"),
        ("Подписаться Енбекшинский район", "Енбекшинский район", "ru"),
        ("ЖАЗЫЛУ Әл-Фараби", "Әл-Фараби", "kk"),
        ("жазылу  Қаратау ауданы.", "Қаратау ауданы", "kk"),
        ("SUBSCRIBE al-farabi", "al-farabi", None),
        ("ПОДПИСКА", "", "ru"),
    ],
)
def test_subscribe_carries_the_rest_as_argument(text, argument, language):
    keyword = classify(text)
    assert (keyword.kind, keyword.argument, keyword.language) == ("subscribe", argument, language)


@pytest.mark.parametrize(("text", "code"), [("123456", "123456"), ("123 456", "123456"), (" 12 34 56. ", "123456")])
def test_six_digits_are_a_code(text, code):
    assert (classify(text).kind, classify(text).argument) == ("code", code)


@pytest.mark.parametrize("text", ["1", "2", " 9 ", "3."])
def test_a_lone_digit_is_a_choice(text):
    assert (classify(text).kind, classify(text).argument) == ("choice", text.strip(" ."))


@pytest.mark.parametrize(
    "text",
    [
        "помощь нужна, третий день нет воды в доме",  # long: an appeal that starts with "помощь"
        "Помогите, нет света",
        "стоп-кран сломан в лифте",  # one hyphenated word, not СТОП
        "Стоп, а почему опять нет газа?",  # 6 words: a question for staff
        "прошу стоп",  # the keyword is not the first word
        "СТОПКРАН",
        "старт ремонта когда будет объявлен",
        "подписка на газ не работает уже неделю, исправьте",  # 8 words
        "Справка о задолженности нужна срочно мне",
        "0",
        "10",
        "12345",
        "1234567",
        "кв 5",
        "",
        "   ",
        "🙏🙏🙏",
        "Воды нет уже 3 часа",
    ],
)
def test_near_misses_are_not_keywords(text):
    assert classify(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Автоответ: я в отпуске до 10.12",
        "Auto-reply: out of office",
        "AUTOREPLY",
        "Абонент временно недоступен",
        "Ваше сообщение доставлено 01.12 11:00",
        "Доставлено",
        "Delivered: 77010000001",
    ],
)
def test_automatic_messages_are_recognised(text):
    assert looks_automatic(text)


@pytest.mark.parametrize("text", ["воды нет", "СТОП", "Доставка воды не работает", "Абонентская плата выросла"])
def test_ordinary_messages_are_not_automatic(text):
    assert not looks_automatic(text)


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("Абай", "abay"),
        ("абайский", "abay"),
        ("Abay", "abay"),
        ("АБАЙСКИЙ РАЙОН", "abay"),
        ("аль фараби", "al-farabi"),
        ("Әл-Фараби", "al-farabi"),
        ("ал-фараби", "al-farabi"),
        ("al-farabi", "al-farabi"),
        ("Al Farabi", "al-farabi"),
        ("фараби", "al-farabi"),
        ("Аль-Фарабийский", "al-farabi"),
        ("Еңбекші", "enbekshi"),
        ("енбекшинский", "enbekshi"),
        ("Qaratau", "karatau"),
        ("Қаратау ауданы", "karatau"),
        ("Тұран", "turan"),
        ("туран", "turan"),
        ("Turan", "turan"),
        ("AБAЙ", "abay"),  # Latin A in a Cyrillic word
    ],
)
def test_districts_match_by_any_name_and_spelling(ctx, query, slug):
    assert [d.slug for d in match_districts(query)] == [slug]


def test_the_turkestan_districts_match_too(ctx, extra_districts):
    for query, slug in [
        ("Төле би", "tolebi"),
        ("Толеби", "tolebi"),
        ("Tulkubas", "tulkubas"),
        ("Сарыагаш", "saryagash"),
    ]:
        assert [d.slug for d in match_districts(query)] == [slug], query


def test_close_names_are_ambiguous_best_first(ctx, extra_districts):
    assert [d.slug for d in match_districts("Сайрам")] == ["sairam", "sairam-2"]
    assert [d.slug for d in match_districts("Сайрам-2")] == ["sairam-2", "sairam"]


@pytest.mark.parametrize("query", ["Москва", "газ", "", "ул. Байтурсынова", "12"])
def test_unknown_places_match_nothing(ctx, query):
    assert match_districts(query) == []


def test_a_district_inside_a_longer_argument(ctx):
    assert [d.slug for d in match_districts("Каратау, газ и свет")] == ["karatau"]
