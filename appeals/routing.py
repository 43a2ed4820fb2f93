"""Which department an appeal belongs to: the announcement it answers, else words in the text."""

import re

# Stems in Kazakh and Russian (and a few Latin spellings); matched at word starts, case-insensitive.
DEPARTMENT_WORDS = {
    "gas": ["газ", "gaz", "gas"],
    "water": ["су ", "суы", "суд", "вод", "канализ", "кәріз", "voda", "water"],
    "electricity": ["жарық", "жарык", "свет", "электр", "электричеств", "энерг", "elektr", "svet"],
    "heating": ["жылу", "отоплен", "батаре", "тепл", "радиатор", "jylu", "heating"],
    "land": ["жер ", "жер учаск", "жерд", "земл", "участ", "кадастр", "zemlya"],
    "housing": ["лифт", "подъезд", "крыш", "мусор", "қоқыс", "тұрғын үй", "жкх", "кск", "оси"],
}


def guess_department(text: str) -> str | None:
    """Return the department slug whose words the text uses most, or None when nothing matches."""
    words = " " + re.sub(r"[^\w\s]", " ", text.lower()) + " "
    scores = {}
    for slug, stems in DEPARTMENT_WORDS.items():
        hits = sum(len(re.findall(r"(?<!\w)" + re.escape(stem), words)) for stem in stems)
        if hits:
            scores[slug] = hits
    if not scores:
        return None
    best = max(scores.values())
    leaders = [slug for slug, score in scores.items() if score == best]
    if len(leaders) > 1 and "housing" in leaders:  # "gas smell in the stairwell" is about gas
        leaders.remove("housing")
    return leaders[0] if len(leaders) == 1 else None
