"""Phone numbers are stored and compared in E.164 only."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhoneNumber(ValueError):
    pass


# Parsing and validating is ~40 us of pure work per number, and every inbound text brings two
# numbers (the business's and its customer's) that repeat from text to text: remember the
# answers (a few hundred KB at most). Invalid numbers raise, so they are never cached.
@lru_cache(maxsize=4096)
def to_e164(raw: str, default_region: str = "US") -> str:
    """Normalise `raw` to E.164, or raise InvalidPhoneNumber with a readable reason."""
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_e164(raw: str | None) -> str | None:
    """E.164 form of `raw`, or None for anything unusable (anonymous, restricted, garbage)."""
    if not raw:
        return None
    try:
        return to_e164(raw)
    except InvalidPhoneNumber:
        return None
