import pytest

from notifier.segments import GSM7, UCS2, count


@pytest.mark.parametrize(
    ("length", "parts"),
    [(0, 0), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_latin_gsm7_boundaries(length, parts):
    seg = count("a" * length)
    assert seg.encoding == GSM7
    assert seg.parts == parts


@pytest.mark.parametrize(("length", "parts"), [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_cyrillic_ucs2_boundaries(length, parts):
    seg = count("Ж" * length)
    assert seg.encoding == UCS2
    assert seg.parts == parts


def test_extension_character_costs_two_and_moves_whole():
    assert count("€" * 80).units == 160
    assert count("€" * 80).parts == 1
    # 152 septets then a 2-septet euro sign: the second part starts with the euro, never split.
    seg = count("a" * 152 + "€" + "a" * 10)
    assert seg.units == 164
    assert seg.parts == 2
    # 153 fits exactly in part one when the euro is at 151-152.
    assert count("a" * 151 + "€" + "a" * 153).parts == 2
    assert count("a" * 151 + "€" + "a" * 154).parts == 3


def test_russian_sentence_is_ucs2_two_parts():
    text = "Плановое отключение воды: ул. Байтурсынова, 1 декабря с 10:00 до 18:00 ч."
    seg = count(text)
    assert seg.encoding == UCS2
    assert seg.units == len(text) == 73
    assert seg.parts == 2


def test_kazakh_letters_force_ucs2():
    text = "Әл-Фараби ауданында су жоспарлы түрде өшіріледі: 1 желтоқсан 10:00–18:00. Қосымша ақпарат сайтта."
    seg = count(text)
    assert seg.encoding == UCS2
    assert seg.parts == 2
    for letter in "әғқңөұүһі":
        assert count("Salem " + letter).encoding == UCS2


def test_one_typographic_character_turns_latin_into_ucs2():
    assert count("Water off 10:00-18:00").encoding == GSM7
    assert count("Water off 10:00–18:00").encoding == UCS2
    assert count("«Water»").encoding == UCS2


def test_mixed_latin_and_cyrillic_is_ucs2():
    seg = count("Su: " + "вода " * 20)
    assert seg.encoding == UCS2
    assert seg.units == 104
    assert seg.parts == 2


def test_emoji_counts_two_units_and_is_not_split():
    assert count("😀").units == 2
    assert count("😀" * 35).parts == 1
    assert count("😀" * 36).parts == 2
    # 66 letters then an emoji: 68 units in part one would overflow 67, so the emoji moves whole.
    seg = count("Ж" * 66 + "😀" + "Ж" * 5)
    assert seg.units == 73
    assert seg.parts == 2
