"""Where the job is: real US ZIP codes, the business's service area, and an address in parts.

A five-digit number is a ZIP only when `zipcodes` (an offline table of US ZIPs) knows it, so a
mistyped "00000" is asked about again instead of being handed to the owner. The service area is
the owner's free text ("Chicago, Evanston, 60302"): a ZIP is inside when it is listed, or its city
is; when the text names neither a ZIP nor any US city we can't tell, and say nothing. An address
is split with `usaddress` into street, unit, city, state and ZIP for the lead.

`zipcodes` and `usaddress` are imported on first use: only the scripted intake needs them.
"""

from __future__ import annotations

import functools
import re
from typing import Any

_ZIP = re.compile(r"\b\d{5}\b")
_STREET_PARTS = (
    "AddressNumber",
    "StreetNamePreModifier",
    "StreetNamePreDirectional",
    "StreetNamePreType",
    "StreetName",
    "StreetNamePostType",
    "StreetNamePostDirectional",
)


@functools.lru_cache(maxsize=4096)
def zip_info(zip_code: str) -> dict[str, Any] | None:
    """The ZIP's record (city, state...) when it is a real US ZIP code, else None."""
    import zipcodes

    code = zip_code[:5]
    if not re.fullmatch(r"[0-9]{5}", code):
        return None  # not five ASCII digits (the table's parser panics on some other text)
    try:
        if not zipcodes.is_real(code):
            return None
        matches = zipcodes.matching(code)
    except (TypeError, ValueError):
        return None
    return dict(matches[0]) if matches else None


def is_real_zip(zip_code: str) -> bool:
    return zip_info(zip_code) is not None


@functools.cache
def _cities() -> frozenset[str]:
    """Every US city name the ZIP table knows, upper case."""
    import zipcodes

    return frozenset(str(z.get("city", "")).upper() for z in zipcodes.list_all())


def _is_city(name: str) -> bool:
    return name in _cities()


def is_city(name: str) -> bool:
    """Whether `name` (any case, spaces tidied) is a US city the ZIP table knows."""
    return _is_city(re.sub(r"\s+", " ", name).strip().upper())


@functools.lru_cache(maxsize=256)
def _area(service_area: str) -> tuple[frozenset[str], frozenset[str]]:
    """The ZIPs and US city names (upper case) a service area lists."""
    zips = frozenset(_ZIP.findall(service_area))
    names = set()
    for piece in re.split(r"[,;/\n]|\band\b|&", _ZIP.sub(" ", service_area)):
        name = re.sub(r"\s+", " ", piece).strip(" .-").upper()
        name = re.sub(r"\s+[A-Z]{2}$", "", name)  # "Evanston IL"
        if name and len(name) <= 40 and _is_city(name):
            names.add(name)
    return zips, frozenset(names)


def outside_area(zip_code: str, service_area: str) -> bool | None:
    """True when the ZIP is outside the business's service area; None when we can't tell."""
    if not service_area.strip():
        return None
    info = zip_info(zip_code)
    if info is None:
        return None
    zips, cities = _area(service_area)
    if not zips and not cities:
        return None
    if zip_code[:5] in zips:
        return False
    names = {str(info.get("city", "")).upper()}
    names |= {str(c).upper() for c in info.get("acceptable_cities") or []}
    return not (names & cities)


def split_address(address: str) -> dict[str, str]:
    """street / unit / city / state / zip of a written address, the parts that are there."""
    import usaddress

    # A ZIP closing the address is its ZIP, whatever usaddress makes of what is before it
    # ("1457 W Balmoral Ave Apt 2 60640" would read "Apt 2 60640" as the unit).
    trailing = re.search(r"[\s,]+([0-9]{5})(?:-[0-9]{4})?\s*$", address)
    if trailing and re.search(r"[a-z]", address[: trailing.start()], re.IGNORECASE):
        parts = split_address(address[: trailing.start()])
        if parts and "zip" not in parts and is_real_zip(trailing.group(1)):
            return {**parts, "zip": trailing.group(1)}
    try:
        tagged, _ = usaddress.tag(address)
    except (usaddress.RepeatedLabelError, ValueError, TypeError):
        return {}
    parts = {
        "street": " ".join(tagged[key] for key in _STREET_PARTS if key in tagged),
        "unit": " ".join(
            tagged[key] for key in ("OccupancyType", "OccupancyIdentifier") if key in tagged
        ),
        "city": tagged.get("PlaceName", ""),
        "state": tagged.get("StateName", ""),
        "zip": tagged.get("ZipCode", ""),
    }
    if "AddressNumber" not in tagged:
        parts["street"] = ""
    if parts["zip"] and not is_real_zip(parts["zip"]):
        parts["zip"] = ""
    return {key: value.strip(" ,") for key, value in parts.items() if value.strip(" ,")}


def join_address(parts: dict[str, str]) -> str:
    """An address line from its parts: "44 Oak St Apt 2, Evanston, IL 60201"."""
    street = " ".join(p for p in (parts.get("street", ""), parts.get("unit", "")) if p)
    region = " ".join(p for p in (parts.get("state", ""), parts.get("zip", "")) if p)
    return ", ".join(p for p in (street, parts.get("city", ""), region) if p)
