"""Finding the customer's name in a text, the ways people give it when they text first.

- introduced: "my name's Priya Shah", "this is Maria", "I'm Dana", "its jake," (an opening "it's"
  needs a capital or a pause after it: "its leaking" is not a name), Spanish "soy Rosa";
- announced: "Hi, Jessica Moreno here";
- signed at the end: "... -Nina", "- Tom", "thanks, Ana", or a last clause that is only a name
  ("... the breaker wont reset. Tom", "... its 55 in the house. mark chen 60614": a lower-case
  name must be two words there, one capitalised word is enough; a US city there is a place).

Words that are never names (`NOT_NAMES`) stop every one of these; `intake_extract` calls
`find_name` after the address is found, so a street or ZIP is never read as a name.
"""

from __future__ import annotations

import re
from typing import Protocol

from shared_code.assistant.intake_patterns import GREETING, NAME_HERE, NAME_INTRO, NOT_NAMES
from shared_code.assistant.intake_place import is_city

_WORD = r"[A-Za-z][A-Za-z'-]*"
# "- Tom", "-kelly", "~ Ana" closing the text; "thanks, Ana" / "thx Ana".
SIGNED = re.compile(
    rf"(?:(?<=\s)|^|(?<=[.!?,]))(?:[-\u2013\u2014~]+|(?i:thanks|thank\s+you|thx|ty)\s*[,!-]?)\s*"
    rf"({_WORD}(?:\s+{_WORD})?)[\s.!]*$"
)
# A last clause (after . ! ? or a line break) that is nothing but a name.
LAST_CLAUSE = re.compile(rf"(?:[.!?]|\n)\s*({_WORD}(?:\s+{_WORD})?)[\s.!]*(?:\d{{5}}[\s.!]*)?$")
# "its jake, ..." / "its jake." / "its jake here": a pause right after the opening name.
_PAUSE_AFTER = re.compile(r"\s*(?:[,.!:;-]|$|\s+here\b)")


class Found(Protocol):
    name_intro: bool

    def take(self, field: str, value: str, span: tuple[int, int] | None = None) -> None: ...
    def free(self, start: int, end: int) -> bool: ...


def proper(name: str) -> str:
    parts = re.split(r"([\s'-])", name.strip())
    out = []
    for part in parts:
        if part.isalpha() and (part.islower() or part.isupper()):
            part = part[0].upper() + part[1:].lower()
        out.append(part)
    return "".join(out)


def name_word_ok(word: str, explicit: bool, capitalised: bool) -> bool:
    low = word.lower().strip("'-")
    if not low or low in NOT_NAMES or len(low) > 20 or len(low) < 2:
        return False
    # Lower-case "-ing"/"-ed" words after "I'm" are states ("I'm renting"), not names.
    return explicit or capitalised or not (low.endswith("ing") or low.endswith("ed"))


def _introduced(text: str, found: Found, asking: str | None) -> bool:
    for match in NAME_INTRO.finditer(text):
        intro = match.group(0)[: match.start(1) - match.start()].lower()
        opening = not GREETING.sub("", text[: match.start()]).strip(" ,.!-")
        is_it = intro.startswith(("it", "its")) and asking != "name"
        paused = bool(_PAUSE_AFTER.match(text, match.end(1)))
        if is_it and not (opening and (match.group(1)[0].isupper() or paused)):
            continue  # "it's leaking"; "it's Dana" when asked, or opening a text
        if not found.free(match.start(1), match.end(1)):
            continue
        explicit = "name" in intro or intro.startswith(("call", "soy", "me llamo", "mi nombre"))
        first, second = match.group(1), match.group(2)
        if not name_word_ok(first, explicit, first[0].isupper()):
            continue
        end, name = match.end(1), first
        if (
            second
            and not (is_it and paused)
            and found.free(match.start(2), match.end(2))
            and name_word_ok(second, explicit, second[0].isupper())
            and (explicit or second[0].isupper() or bool(_PAUSE_AFTER.match(text, match.end(2))))
        ):  # "my name is dana smith", "this is Dana Smith", "this is maria lopez, ..."
            name, end = f"{first} {second}", match.end(2)
        found.take("name", proper(name), (match.start(), end))
        return True
    here = NAME_HERE.match(text)  # "Hey, Mike here.", "Hi, Jessica Moreno here."
    if here and all(name_word_ok(w, False, True) for w in here.group(1).split()):
        found.take("name", proper(here.group(1)), here.span())
        return True
    return False


def _signed(text: str, found: Found) -> bool:
    """A name closing a first text: "- Tom", "thanks, Ana", "... reset. Tom"."""
    for pattern, explicit in ((SIGNED, True), (LAST_CLAUSE, False)):
        match = pattern.search(text)
        if not match or not found.free(*match.span(1)):
            continue
        words = match.group(1).split()
        lower = any(w[0].islower() for w in words)
        if not explicit and lower and len(words) < 2:
            continue  # "... it stopped. help": one lower-case word is not a signature
        if not explicit and is_city(match.group(1)):
            continue  # "... my ac died. Evanston": where, not who
        if all(name_word_ok(w, explicit, not lower) for w in words):
            found.take("name", proper(match.group(1)), match.span(1))
            return True
    return False


def find_name(text: str, found: Found, asking: str | None, *, first: bool = True) -> None:
    """Take the customer's name from `text` when it is given; `first`: no name known yet, so a
    bare signature at the end is read as one too."""
    signed = first and asking != "name"
    if _introduced(text, found, asking) or (signed and _signed(text, found)):
        found.name_intro = True
