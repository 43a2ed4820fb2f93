"""SMS part counting: GSM-7 (160/153) or UCS-2 (70/67), per 3GPP TS 23.038/23.040."""

from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("\f^{}\\[~]|€")

GSM7, UCS2 = "GSM-7", "UCS-2"
LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class Segments:
    """How a text travels: encoding, units (septets or UTF-16 code units), parts."""

    encoding: str
    units: int
    parts: int
    chars: int


def _unit_costs(text: str) -> tuple[str, list[int]]:
    if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text):
        return GSM7, [2 if c in GSM7_EXTENSION else 1 for c in text]
    return UCS2, [2 if ord(c) > 0xFFFF else 1 for c in text]


def count(text: str) -> Segments:
    """Return the encoding and the number of parts this text is sent in."""
    encoding, costs = _unit_costs(text)
    single, per_part = LIMITS[encoding]
    units = sum(costs)
    if units <= single:
        return Segments(encoding, units, 1 if text else 0, len(text))
    parts, used = 1, 0
    for cost in costs:
        if used + cost > per_part:
            parts, used = parts + 1, 0
        used += cost
    return Segments(encoding, units, parts, len(text))
