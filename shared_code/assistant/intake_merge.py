"""Folding what a text says into the lead: later answers win, passing mentions don't.

`intake_extract.read` finds every field a text speaks to; this decides which of those change the
lead. The customer's latest word on a field is the truth ("it can wait, tomorrow morning is fine"
replaces an earlier "today"), so:

- a preferred time found (not in passing: past times were already left out) replaces the earlier
  one, unless it only restates it more vaguely ("tomorrow works" after "tomorrow morning"), and
  comes with its window (`when_start`, `when_end`: local ISO times); a
  correction that names only an hour ("actually 1pm is better") keeps the day it corrects, and
  one that names only a day as a slip ("sorry I meant thursday", "3/19 instead, same time")
  keeps the hours it corrects ("wednesday morning" then "I meant thursday" is Thursday
  morning; "can we do sunday instead" asks for the whole other day);
- urgency replaces an earlier urgency unless that was surer: what the customer said outright
  beats an emergency cue ("leaking"), which beats what a requested time implies ("tomorrow"; a
  date that is today's, "3/10" sent on 3/10, implies urgent);
- a name or an address replaces a known one only when the text reads as a correction ("actually
  it's 44 Oak St"), or the name is introduced ("my name is ...") or the address was asked; an
  address correction that gives only a street keeps the city and ZIP it had;
- the job description is kept once known.

Besides the six intake fields the lead carries these parts (all strings, as the lead's contract
says): `when_start`, `when_end`, `urgency_basis`, and the address split into `street`, `unit`,
`city`, `state`, `zip`. An empty string in the updates removes that part.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared_code.assistant.intake_extract import MAX_VALUE, Reading, known, read
from shared_code.assistant.intake_patterns import URGENT
from shared_code.assistant.intake_place import join_address, split_address
from shared_code.assistant.intake_time import Window, dated_today, has_day, window

FIELDS = ("need", "name", "address", "preferred_time", "urgency")
ADDRESS_PARTS = ("street", "unit", "city", "state", "zip")
WINDOW_PARTS = ("when_start", "when_end")
_BASIS_RANK = {"": 0, "time": 1, "cue": 2, "said": 3}


def _address_updates(lead: dict[str, str], found: str) -> dict[str, str]:
    """The address found, and its parts; a partial correction keeps the parts it doesn't name."""
    parts = split_address(found)
    old = {key: lead.get(key, "") for key in ADDRESS_PARTS if lead.get(key)}
    if not parts:  # a place without a street ("Lincoln Park"): no parts to keep or split
        return {"address": found, **{key: "" for key in old}}
    if old and "street" in parts and "zip" not in parts and "city" not in parts:
        merged = {**old, **parts}
        if "unit" not in parts:
            merged.pop("unit", None)
    elif old and set(parts) == {"zip"}:
        merged = {**old, "zip": parts["zip"]}
        merged.pop("city", None)
        merged.pop("state", None)
    else:
        merged = parts
    address = join_address(merged) if merged != parts else found
    updates = {"address": address[: MAX_VALUE["address"]]}
    updates.update({key: merged.get(key, "") for key in ADDRESS_PARTS if key in merged or old})
    return updates


def _within(lead: dict[str, str], found: Window) -> bool:
    """Whether the lead's window lies inside `found` (a vaguer restatement of it)."""
    try:
        start = datetime.fromisoformat(lead.get("when_start") or "")
        end = datetime.fromisoformat(lead.get("when_end") or "")
    except ValueError:
        return False
    assert found.start is not None and found.end is not None
    return found.start <= start and end <= found.end and (start, end) != (found.start, found.end)


def _same_hours(lead: dict[str, str], found: Window) -> Window:
    """A whole day named as a correction keeps the earlier window's hours, moved to that day."""
    try:
        start = datetime.fromisoformat(lead.get("when_start") or "")
        end = datetime.fromisoformat(lead.get("when_end") or "")
    except ValueError:
        return found
    if found.start is None or found.end is None or found.end - found.start != timedelta(days=1):
        return found
    if found.start.hour or found.start.minute or not timedelta(0) < end - start < timedelta(1):
        return found  # the new phrase has its own hours, or the old window was a whole day
    shift = found.start.date() - start.date()
    return Window(start + shift, end + shift)


def _time_updates(
    lead: dict[str, str], phrase: str, correcting: bool, now: datetime, same_hours: bool = False
) -> dict[str, str]:
    base_day = None
    if correcting and not has_day(phrase) and lead.get("when_start"):
        try:
            base_day = datetime.fromisoformat(lead["when_start"]).date()
        except ValueError:
            base_day = None
    found = window(phrase, now, base_day=base_day)
    if correcting and same_hours and found and base_day is None:
        found = _same_hours(lead, found)
    if not correcting and found and found.start and found.end and _within(lead, found):
        return {}  # "tomorrow works" after "tomorrow morning": the narrower answer stays
    return {
        "preferred_time": phrase,
        "when_start": found.start.isoformat() if found and found.start else "",
        "when_end": found.end.isoformat() if found and found.end else "",
    }


def lead_updates(lead: dict[str, str], reading: Reading, now: datetime) -> dict[str, str]:
    """What `reading` changes in `lead`, fields and their parts ("" removes a part)."""
    values, correcting = reading.values, reading.correcting
    out: dict[str, str] = {}
    if "need" in values and not known(lead, "need"):
        out["need"] = values["need"]
    name = values.get("name")
    may_rename = not known(lead, "name") or correcting or reading.name_intro
    if name and name != lead.get("name") and may_rename:
        out["name"] = name
    address = values.get("address")
    if address and address != lead.get("address") and (not known(lead, "address") or correcting):
        out.update(_address_updates(lead, address))
    phrase = values.get("preferred_time")
    if phrase and (phrase != lead.get("preferred_time") or not lead.get("when_start")):
        out.update(_time_updates(lead, phrase, correcting, now, reading.same_hours))
    urgency = values.get("urgency")
    if urgency and reading.urgency_basis == "time" and phrase and dated_today(phrase, now):
        urgency = URGENT  # a date is a later day, unless it is today's
    if urgency:
        old_rank = _BASIS_RANK.get(lead.get("urgency_basis", ""), 0)
        if not known(lead, "urgency"):
            old_rank = 0
        elif "urgency_basis" not in lead:
            old_rank = _BASIS_RANK["said"]  # a lead from before bases: what was asked and said
        if _BASIS_RANK.get(reading.urgency_basis, 0) >= old_rank and (
            urgency != lead.get("urgency") or reading.urgency_basis != lead.get("urgency_basis")
        ):
            out["urgency"] = urgency
            out["urgency_basis"] = reading.urgency_basis
    return {
        key: value
        for key, value in out.items()
        if value != lead.get(key, "") and (value or key in lead)
    }


def extract(
    text: str, lead: dict[str, str], asking: str | None, now: datetime | None = None
) -> dict[str, str]:
    """The intake fields this text sets or corrects in `lead` (their parts left out)."""
    from datetime import UTC

    changes = lead_updates(lead, read(text, lead, asking), now or datetime.now(UTC))
    return {key: value for key, value in changes.items() if key in FIELDS}
