"""The one place a phone number typed by a resident becomes E.164 (Kazakhstan mobiles only)."""

import phonenumbers as pn

# Kazakhstan shares +7 with Russia: parsing alone proves nothing, so region and type are checked too.
REGION = "KZ"
MOBILE_TYPES = frozenset({pn.PhoneNumberType.MOBILE, pn.PhoneNumberType.FIXED_LINE_OR_MOBILE})
MAX_INPUT = 40


class PhoneError(ValueError):
    """A phone number we cannot send to; `reason` is invalid, not_kz or not_mobile."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def normalize(raw: str) -> str:
    """Return the Kazakhstan mobile number in E.164 (`+77011234567`), or raise PhoneError."""
    text = raw.strip() if isinstance(raw, str) else ""
    if not text or len(text) > MAX_INPUT:
        raise PhoneError("invalid")
    try:
        number = pn.parse(text, REGION)
    except pn.NumberParseException:
        raise PhoneError("invalid") from None
    if not pn.is_valid_number(number):
        raise PhoneError("invalid")
    if pn.region_code_for_number(number) != REGION:
        raise PhoneError("not_kz")
    if pn.number_type(number) not in MOBILE_TYPES:
        raise PhoneError("not_mobile")
    return pn.format_number(number, pn.PhoneNumberFormat.E164)


def caller_phone(raw: str) -> tuple[str, bool]:
    """Return (E.164, is_mobile) for any valid Kazakhstan number, or raise PhoneError (appeals taken by
    phone welcome landlines, unlike subscriptions)."""
    try:
        return normalize(raw), True
    except PhoneError as err:
        if err.reason != "not_mobile":
            raise
    # A valid KZ landline: the caller is registered, but no SMS can reach them.
    number = pn.parse(raw.strip(), REGION)
    return pn.format_number(number, pn.PhoneNumberFormat.E164), False


def normalize_or_raw(raw: str) -> str:
    """Return the E.164 form when the text is a KZ mobile, else the trimmed text (for keys and audit)."""
    try:
        return normalize(raw)
    except PhoneError:
        return (raw.strip() if isinstance(raw, str) else "")[:MAX_INPUT]


def mask(phone: str) -> str:
    """Return the number with its middle hidden: +7701***4567."""
    return f"{phone[:5]}***{phone[-4:]}" if len(phone) > 9 else "***"
