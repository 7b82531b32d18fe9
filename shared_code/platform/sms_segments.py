"""SMS segment counting: what Twilio bills and what the carrier splits.

GSM-7 fits 160 characters in one segment and 153 per part when concatenated; characters of the
GSM extension table (such as `{`, `€`) take two septets. Any character outside GSM-7 turns the
whole message into UCS-2: 70 in one segment, 67 per part (counted in UTF-16 code units).
"""

from __future__ import annotations

from dataclasses import dataclass

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7_basic(ch: str) -> bool:
    """One character that costs one septet: neither an extension character nor UCS-2."""
    return ch in _GSM7_BASIC


def count_segments(text: str) -> SegmentCount:
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else -(-units // multi)
    return SegmentCount(encoding=encoding, units=units, segments=segments)
