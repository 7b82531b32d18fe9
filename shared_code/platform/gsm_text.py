"""Customer text made safe to echo in a reply: plain punctuation, GSM-7 only, cut to fit.

A single emoji or smart quote turns a whole SMS into UCS-2, which halves what fits in a segment
and doubles what the business pays. So anything a reply says back to the customer (their name,
their address, the job in their words) first goes through `to_gsm`, and `cut` keeps it inside
the room the reply has. The alphabet itself is `sms_segments`'s, the same table the bill is
counted with, so the two cannot disagree about what is GSM-7.
"""

from __future__ import annotations

import unicodedata

from shared_code.platform.sms_segments import is_gsm7_basic

_ASCII_FOR = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00a0": " ",
}
# GSM-7 extension characters cost two septets each; plain look-alikes keep the count honest.
_PLAIN_FOR_EXTENDED = {
    "{": "(",
    "}": ")",
    "[": "(",
    "]": ")",
    "~": "-",
    "|": "/",
    "\\": "/",
    "^": "",
    "\u20ac": "EUR",
    "\f": " ",
}

# Letters that Unicode does not decompose into a base letter plus an accent.
_LETTER_FOLDS = {
    "\u0141": "L",
    "\u0142": "l",
    "\u0110": "D",
    "\u0111": "d",
    "\u0152": "OE",
    "\u0153": "oe",
    "\u00de": "Th",
    "\u00fe": "th",
    "\u00f0": "d",
    "\u0131": "i",
    "\u0126": "H",
    "\u0127": "h",
}


def normalize(text: str) -> str:
    """Smart quotes and dashes to ASCII, whitespace collapsed: what the patterns expect."""
    for fancy, plain in _ASCII_FOR.items():
        text = text.replace(fancy, plain)
    return " ".join(text.split())


def to_gsm(text: str) -> str:
    """Only single-septet GSM-7 characters: accents folded where GSM-7 lacks them, rest dropped."""
    out: list[str] = []
    for ch in normalize(text):
        ch = _PLAIN_FOR_EXTENDED.get(ch, ch)
        if len(ch) != 1 or is_gsm7_basic(ch):
            out.append(ch)
            continue
        folded = _LETTER_FOLDS.get(ch) or unicodedata.normalize("NFKD", ch)
        out.extend(part for part in folded if is_gsm7_basic(part) and part not in "\n\r")
    return " ".join("".join(out).split())


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word boundary with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 3, 1)]
    if " " in head[len(head) // 2 :]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:.-") + "..."
