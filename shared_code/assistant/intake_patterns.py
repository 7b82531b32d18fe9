"""The vocabulary of the scripted intake: what a name, an address, a time or an urgency looks like.

Kept apart from the code that reads a text (`intake_extract`) because this is the part that
grows: each word list and pattern is tuned against the way customers actually text, and reading
it should not mean wading through the control flow, nor the reverse. Word lists are frozensets
of lower-case words (YES and NO hold whole short answers), matched against `words_of`; patterns
are compiled once and expect text already through `gsm_text.normalize` (plain quotes and dashes,
single spaces).
"""

from __future__ import annotations

import re

URGENT = "urgent"
NOT_URGENT = "not urgent"


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


def words_of(text: str) -> list[str]:
    """Lower-case words (digits and apostrophes kept): what the word lists are matched against."""
    return re.findall(r"[a-z0-9']+", text.lower())


ZIP = re.compile(r"(?<![\d-])\d{5}(?:-\d{4})?(?![\d-])")
_STREET_TYPES = (
    r"st|street|ave|av|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|ct|court|pl|place|"
    r"ter|terrace|pkwy|parkway|hwy|highway|cir|circle|trl|trail|sq|square|loop|row|run|pike"
)
STREET = re.compile(
    r"(?<![\w/:])\d{1,6}[a-z]?\s+((?:[a-z0-9'.-]+\s+){1,3}?)(?:" + _STREET_TYPES + r")\b\.?"
    r"(?:\s*,?\s*(?:apt|apartment|unit|suite|ste|#)\s*\.?\s*#?[\w-]+)?"
    r"(?:\s*,\s*[a-z][a-z .'-]{0,30}?,?\s*(?:[a-z]{2}\s+)?\d{5}(?:-\d{4})?"
    r"|\s*,?\s*\d{5}(?:-\d{4})?)?",
    re.IGNORECASE,
)
# "2215 w roscoe": a number, a compass direction and a name is a street even without its type.
STREET_BY_DIRECTION = re.compile(
    r"(?<![\w/:.])\d{2,6}\s+(?:n|s|e|w|north|south|east|west)\.?\s+([a-z][a-z'-]{2,})\b"
    r"(?:\s*,?\s*\d{5}(?:-\d{4})?\b)?",
    re.IGNORECASE,
)
# "we're at 88 maple": a number and a name said as where one is, a street without its type.
STREET_SAID = re.compile(
    r"\b(?:we're|were|we\s+are|i'm|im|i\s+am|(?:i|we)\s+live|located|address\s+is)\s+(?:at\s+)?"
    r"(\d{2,6}\s+(?:(?:n|s|e|w|north|south|east|west)\.?\s+)?([a-z][a-z'-]{2,}))\b"
    r"(?=\s*(?:[,.;!?]|$|\d{5}))",
    re.IGNORECASE,
)
# A city (and state) right after a street, without a comma: "500 w madison st chicago".
CITY_AFTER = re.compile(
    r"\s*,?\s*([a-z][a-z.' -]{1,30}?)(?:,?\s+([a-z]{2}))?(?=\s*(?:[,.;!?]|$|\d{5}\b))", re.I
)
# "2 leaks on the way" is not an address: street-name words are never these.
NOT_STREET_WORDS = _wordset(
    "a an the on in of my is are and at to for it its it's was be by from with our your this "
    "that or but leaks leak days weeks hours times people dogs kids"
)

NAME_INTRO = re.compile(
    r"\b(?:my\s+name\s+is|my\s+name's|my\s+names|name\s+is|name's|names|i\s+am|i'm|im|"
    r"this\s+is|call\s+me|it's|its|it\s+is|soy|me\s+llamo|mi\s+nombre\s+es)\s+"
    r"(?:actually\s+|really\s+)?"
    r"([a-z][a-z'-]*)(?:\s+([a-z][a-z'-]*))?",
    re.IGNORECASE,
)
NAME_HERE = re.compile(
    r"^(?i:(?:hi|hello|hey|hola|ok|okay|yes|yeah)\b[\s,.!:-]*)*([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)?)"
    r"\s+here\b"
)
# Words that follow "I'm" / "this is" without being a name.
NOT_NAMES = _wordset(
    """
    a an the not no so very too just also still only really actually currently probably literally
    totally definitely usually almost about around at in on with from for to of by into over under
    and or but because since if then than as out up down back away off here there home inside
    outside available free busy flexible ok okay fine good great well sure glad happy sorry afraid
    worried concerned confused stuck ready done new old late early interested calling texting
    looking trying wondering hoping having getting going gonna wanting needing asking writing
    reaching following renting leaving moving working driving waiting home homeowner owner tenant
    landlord renter manager customer client your my his her their our its this that these those
    what who where when why how which urgent emergency asap tomorrow today tonight morning afternoon
    evening weekend monday tuesday wednesday thursday friday saturday sunday leaking broken flooding
    flooded dripping clogged running making sure told unsure able unable glad needs need want
    wants like yes yeah yep nope nah hi hello hey thanks thank please pls it is was be been being
    leak clog sink toilet water heater pipe pipes ac furnace heat roof call text number phone one
    two three four five six seven eight nine ten all both every any some much many more most less
    same other another next last first second zip address street apt unit whenever anytime
    wrong right correct sorry mean meant i you he she we they me him them us help asap cold hot
    warm loud bad worse stuck off gone dead out cheers regards later soon lol ok asap
    """
)

# "getting married 3/28, can we do a trial next week?", "before my trip on friday, thursday
# evening?": another event's date, passed over when a time for the visit follows ("updo for prom
# saturday" alone is the visit's day). The weather's day is never the visit's ("supposed to rain
# a lot this weekend").
EVENT_WORDS = _wordset(
    "married marry wedding trip vacation flight party birthday graduation prom funeral interview"
)
WEATHER_WORDS = _wordset("rain raining storm storms snow snowing forecast freeze freezing")
PAST_MARKERS = _wordset(
    "since started starting start began begun ago yesterday happened noticed broke came was "
    "stopped quit died went last"
)
# "-ed" words before a time that don't put it in the past.
NOT_PAST = _wordset("need needed prefered preferred scheduled booked interested tired red bed")
REQUEST_CUES = _wordset(
    "come coming by visit available availability schedule book booking appointment prefer "
    "preferably free out anytime before after around until works work good best ideally "
    "possible could can"
)
AFTER_CUES = _wordset("works work is are best good ok okay fine please pls ok?")
_H = r"(?:1[0-2]|0?[1-9])(?::[0-5]\d)?\s*(?:am|pm)?"
TIME_STRONG = re.compile(
    r"\b(?:(?:between|from)\s+"
    + _H
    + r"\s*(?:and|to|-)\s*"
    + _H
    + r"|"
    + _H
    + r"\s*-\s*"
    + _H
    + r"(?<=m)"
    + r"|(?:1[0-2]|0?[1-9])(?::[0-5]\d)?\s*ish"
    + r"|(?:1[0-2]|0?[1-9])(?::[0-5]\d)?(?=\s+(?:tonight|tomorrow|this\s+(?:morning|afternoon|"
    + r"evening)|in\s+the\s+(?:morning|afternoon|evening)|at\s+night))"
    + r"|(?:right\s+)?now(?=\s*(?:[?!.]|please|pls|$))"
    + r"|this\s+(?:morning|afternoon|evening)"
    + r"|asap|a\.s\.a\.p|as\s+soon\s+as\s+possible|right\s+away|immediately"
    r"|today|tonight|tomorrow|tmrw|tmr|tomorow|tommorow|tommorrow"
    r"|this\s+week(?:end)?|next\s+week(?:end)?|weekend|weekends|weekdays?"
    r"|(?:this\s+|next\s+|on\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
    r"mon|tues?|thu|thur|thurs|fri|sat)(?:\s+(?:am|pm)\b)?"
    r"|whenever|any\s*time|any\s+day|flexible|no\s+preference"
    r"|(?:jan|january|feb|february|mar|march|apr|april|may|june?|july?|aug|august|sept?|"
    r"september|oct|october|nov|november|dec|december)\.?\s+\d{1,2}(?:st|nd|rd|th)?"
    r"|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?:/\d{2,4})?"
    r"|(?:at|after|before|around|by|about|from|between|until|till|like)\s+"
    r"(?:1[0-2]|0?[1-9])(?::[0-5]\d)?\s*(?:am|pm|a\.m\.|p\.m\.)?"
    r"(?!\s*(?:weeks?|days?|hours?|hrs?|years?|yrs?|months?|mins?|minutes?|people|of|%|\d))"
    r"|(?:1[0-2]|0?[1-9])(?::[0-5]\d)?\s*(?:am|pm|a\.m\.|p\.m\.)"
    r"|(?:1[0-2]|0?[1-9]):[0-5]\d"
    r"|(?:at|after|before|around|by)\s+(?:noon|midday|lunch|work|school)"
    r")(?!\w)",
    re.IGNORECASE,
)
TIME_WEAK = re.compile(
    r"\b(?:(?:this|in\s+the|tomorrow|the)\s+)?(?:morning|afternoon|evening|night)s?\b"
    r"|\b(?:noon|midday|lunchtime|earlier|later|soon)\b",
    re.IGNORECASE,
)
TIME_JOINERS = re.compile(
    r"^(?:\s|,|-|at|on|in|the|or|and|around|about|by|after|before|works?|is|are|fine|good|best"
    r"|ok|maybe|probably|like|say)*$"
)

# Beside keywords.DEFAULT_EMERGENCY_WORDS: what makes a job urgent without the word "urgent".
CUE_WORDS: tuple[str, ...] = (
    "leak", "leaks", "leaking", "burst", "bursting", "overflowing", "overflowed", "sewage",
    "no hot water", "no power", "power is out", "power out", "lost power", "sparks",
    "sparked", "swollen", "swelling", "killing me", "hurts really bad", "hurts so bad",
    "hurts a lot", "really bad pain", "severe", "can't sleep", "cant sleep", "knocked out",
    "won't start", "wont start", "broke down", "broken down", "stranded", "battery died",
    "dead battery", "heat went out", "heat is out", "heat's out", "heat out", "heater went out",
    "furnace went out", "furnace died", "burning smell", "smells like burning", "smoke coming",
    "smoking",
)  # fmt: skip

SAYS_NOT_URGENT = re.compile(
    # "whenever u can fit me in", "whenever you have an opening": all of it says "not urgent"
    r"\bwhenever\s+(?:u|you|y'all|yall|ya)\s+(?:can(?:\s+fit\s+(?:me|us|it|her|him)\s+in)?"
    r"|have\s+(?:an\s+opening|time|a\s+(?:slot|spot|chance))|get\s+a\s+chance|(?:are|r)\s+free)"
    r"|\b(?:not|isn't|isnt|non|no)[\s-]*(?:an?\s+|that\s+|super\s+|very\s+|really\s+|too\s+|"
    r"so\s+|particularly\s+)?(?:urgent|emergency|rush|hurry|big\s+deal)(?:\s+at\s+all)?\b"
    r"|\bnonurgent\b|\b(?:can|could)\s+wait\b|\bwhenever\b|\bthis\s+week\b|\bflexible\b"
    r"|\bno\s+(?:rush|hurry|emergency)\b|\bnot\s+in\s+a\s+(?:rush|hurry)\b|\bnext\s+week\b"
    r"|\bwhenever\s+works\b|\bany\s*time\b|\bno\s+preference\b",
    re.IGNORECASE,
)
SAYS_URGENT = re.compile(
    r"\b(?:emergency|urgent|urgently|asap|a\.s\.a\.p|right\s+away|as\s+soon\s+as\s+possible"
    r"|immediately|right\s+now|today\s+if\s+possible|the\s+sooner\s+the\s+better|hurry)\b",
    re.IGNORECASE,
)
YES = frozenset(
    {"yes", "y", "yeah", "yea", "yep", "yup", "ya", "definitely", "absolutely", "very", "extremely"}
    | {
        "kinda",
        "kind of",
        "sort of",
        "sorta",
        "pretty much",
        "it is",
        "yes it is",
        "correct",
        "sure",
    }
    | {"yes please", "very much", "yes very", "i think so", "it is urgent"}
)
NO = frozenset(
    {
        "no",
        "n",
        "nope",
        "nah",
        "not really",
        "not at all",
        "no it isn't",
        "no it's not",
        "no its not",
    }
    | {"nope not really", "no not really", "i don't think so", "not exactly"}
)


URGENT_WHEN_ASKED = re.compile(
    r"\b(?:soon|quickly|fast|today|tonight|yes|yeah|yep|very|pretty\s+urgent|kind\s+of|kinda"
    r"|sort\s+of|sorta|somewhat|fairly)\b",
    re.IGNORECASE,
)
NOT_URGENT_WHEN_ASKED = re.compile(
    r"\b(?:wait|later|few\s+days|next\s+month|eventually|sometime|no|nope|nah)\b",
    re.IGNORECASE,
)
# Clauses made only of these words are the request around a detail ("can you come out?").
FLUFF = _wordset(
    "can could you come out someone somebody anyone please send over here by swing stop would be "
    "able to get is it possible there when are available actually make change instead sorry oops "
    "meant mean rather scratch that just ok okay i we me us a the u ya guys see bring drop off in "
    "works work best fine good for free if have an opening open you're only on time i'm im we're "
    "thanks thank thx pls sometime maybe perhaps probably"
)

CORRECTION = re.compile(
    r"\b(?:actually|sorry|correction|i\s+meant|meant\s+to\s+say|typo|wrong|instead|change|"
    r"changed|update|updated|make\s+it|rather|scratch\s+that|oops)\b",
    re.IGNORECASE,
)
# "can someone come today?": a request (its details are taken), not a question for the owner.
REQUEST = re.compile(
    r"\b(?:can|could|would|will)\s+(?:you|u|ya|someone|somebody|anyone|i|we)\s+(?:\w+\s+)?"
    r"(?:come|send|be|stop|swing|get|make|fit|see|bring|drop|book|do)\b",
    re.IGNORECASE,
)
PRICE_QUESTION = re.compile(
    r"\b(?:how\s+much|price|prices|pricing|cost|costs|charge|rates?|fees?|quote|estimate)\b",
    re.IGNORECASE,
)
# Questions about the business, not a job: "is this the plumber?", "do you take cigna?".
NOT_A_JOB = re.compile(
    r"^(?:is\s+this|is\s+there\s+parking|are\s+you\s+open|r\s+u\s+open|who\s+is\s+this"
    r"|do\s+(?:you|u)\s+(?:take|accept)\s+(?:[\w ]{0,30}insurance|cigna|aetna|delta|credit|cards?"
    r"|walk)|what\s+are\s+your\s+hours|where\s+are\s+you"
    r"|(?:i\s+)?(?:want|need|would\s+like|'d\s+like)\s+(?:to\s+)?(?:book|make)?\s*an?\s+"
    r"(?:appointment|appt)$|quiero\s+una\s+cita)",
    re.IGNORECASE,
)
GREETING = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|yo|good\s+(?:morning|afternoon|evening)|ok|okay|k|sure|yes|yeah|"
    r"hola|buenos\s+d[ií]as|buenas(?:\s+(?:tardes|noches))?|que\s+tal|"
    r"yep|thanks|thank\s+you|thx|ty|so|well|um|uh|oh|please|pls|and|also|but|just)\b[\s,.!:-]*)+",
    re.IGNORECASE,
)
NEED_PREFIX = re.compile(
    r"^(?:(?:can|could|would)\s+(?:you|u|someone|somebody|anyone)(?:\s+guys)?\s+come\s+(?:out\s+)?"
    r"(?:and\s+|to\s+)?(?:look\s+at|check(?:\s+out)?|fix|see\s+about)"
    r"|i\s+(?:really\s+)?need|we\s+need|need|i'm\s+looking\s+for|im\s+looking\s+for|"
    r"i\s+am\s+looking\s+for|looking\s+for|i'd\s+like|i\s+would\s+like|i\s+want)\s+"
    r"(?:help\s+with\s+|some\s+help\s+with\s+)?",
    re.IGNORECASE,
)
NON_ANSWERS = _wordset(
    "hi hello hey ok okay k kk sure thanks thank you thx ty yes yeah yep no nope nah idk "
    "what huh why who lol hmm um uh what's cool great good fine help some someone assistance "
    "question a please"
)
EDGE_JUNK = re.compile(
    r"^(?:[\s,.;:!?&+-]|\b(?:and|also|plus|but|so|here|please|thanks)\b)+"
    r"|(?:[\s,;:&+-]|\b(?:and|also|plus|but|so|at|in|on|for|from|is|the|my|here|please|pls|thanks"
    r"|thx|thank\s+you)"
    r"\b)+$",
    re.IGNORECASE,
)
ADDRESS_PREFIX = re.compile(
    r"^(?:(?:i|we)\s+live|i'm|im|i\s+am|we're|we\s+are|it's|its|it\s+is|located|the|"
    r"(?:the\s+)?address\s+is|address:?|zip\s+is|zip:?|my\s+zip\s+is)\s+(?:in\s+|at\s+|on\s+|near\s+)?",
    re.IGNORECASE,
)
# The customer deferring by days ("it can wait a few days"): a same-day hour no longer holds.
DEFER_DAYS = re.compile(
    r"\b(?:wait|in|within)\s+((?:a\s+few|a\s+couple(?:\s+of)?|couple(?:\s+of)?|few|2|3|two|three)"
    r"\s+days)\b",
    re.IGNORECASE,
)
# A question about the business's own hours ("what time do you close today?", "are you open
# saturday?"): its day and hour are ours, not a time the customer asks for.
_YOU = r"you|u|y'all|yall|ya'll|you\s+all|ya"
HOURS_QUESTION = re.compile(
    r"\b(?:what\s+time|when)\s+(?:do|does|are|will|r)\s+(?:" + _YOU + r"|they|the\s+\w+)"
    r"(?:\s+guys)?\s+(?:close|closing|open|opening|get\s+in|start)\b"
    r"|\b(?:are|r)\s+(?:" + _YOU + r")(?:\s+guys)?\s+(?:still\s+)?open\b"
    r"|\b(?:do|does)\s+(?:" + _YOU + r")(?:\s+guys)?\s+(?:work|open|come\s+out)\s+"
    r"(?:on\s+)?(?:the\s+)?(?:weekends?|saturdays?|sundays?|sat|sun|nights?|evenings?|holidays?)\b"
    r"|\b(?:what\s+are\s+)?your\s+hours\b|\bhours\s+(?:today|tomorrow|on\s+\w+)\b",
    re.IGNORECASE,
)
# "is this the plumber?", "is this Ace?", "who is this": asking who we are.
IDENTITY_QUESTION = re.compile(
    r"^(?:(?:hi|hello|hey|hola|yo)\b[\s,.!-]*)*(?:is\s+this|this\s+is|are\s+you|r\s+u|am\s+i"
    r"\s+(?:texting|talking\s+to))\s+(?:the\s+|a\s+)?[\w' &-]{2,40}\?+\s*$"
    r"|^(?:(?:hi|hello|hey)\b[\s,.!-]*)*who\s+(?:is|'s)\s+this\?*\s*$",
    re.IGNORECASE,
)
