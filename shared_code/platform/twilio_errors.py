"""What a Twilio error code means for us, in one table: the sender's and the status callback's.

Facts from Twilio's error dictionary (../shared/REFERENCE.md, "Twilio, as it really behaves").
Every caller asks `classify(code)` and acts on the category, so a code is interpreted in one
place and a new one is one line here.

- OPTED_OUT: the recipient said STOP (at the carrier or through Advanced Opt-Out). Never retry;
  record the opt-out.
- UNDELIVERABLE: the number can't take texts (invalid, not a mobile, a landline, blocked by the
  recipient, an unknown handset). Never retry; stop texting that number.
- SENDER_CONFIG: our sending number or Messaging Service can't send there (unregistered 10DLC,
  unverified toll-free, no route). Retrying changes nothing and can be billed: pause the
  business's automated texts and tell the operator.
- TRANSIENT: try again later with backoff (rate limits, Twilio's 5xx, an unreachable handset,
  throughput limits).
- FILTERED / EXPIRED: this one text was refused (carrier filter) or sat queued past its validity
  period; it is not retried as is.
- OTHER: anything not listed; treated as a refusal of this one text, logged with its code.
"""

from __future__ import annotations

from enum import StrEnum


class TwilioErrorKind(StrEnum):
    OPTED_OUT = "opted_out"
    UNDELIVERABLE = "undeliverable"
    LANDLINE = "landline"
    SENDER_CONFIG = "sender_config"
    TRANSIENT = "transient"
    FILTERED = "filtered"
    EXPIRED = "expired"
    OTHER = "other"


_KINDS: dict[int, TwilioErrorKind] = {
    # messages.create refusals
    21610: TwilioErrorKind.OPTED_OUT,  # the recipient replied STOP
    21211: TwilioErrorKind.UNDELIVERABLE,  # invalid 'To' number
    21614: TwilioErrorKind.LANDLINE,  # 'To' is not a mobile number
    21635: TwilioErrorKind.LANDLINE,  # 'To' cannot be reached by SMS (landline)
    21606: TwilioErrorKind.SENDER_CONFIG,  # the 'From' number can't send to this destination
    21659: TwilioErrorKind.SENDER_CONFIG,  # 'From' is not a Twilio number of this account
    21408: TwilioErrorKind.SENDER_CONFIG,  # permission to send to this region not enabled
    20429: TwilioErrorKind.TRANSIENT,  # too many concurrent requests
    20500: TwilioErrorKind.TRANSIENT,  # internal server error
    20503: TwilioErrorKind.TRANSIENT,  # service unavailable
    # status-callback ErrorCodes
    30003: TwilioErrorKind.TRANSIENT,  # unreachable destination handset
    30004: TwilioErrorKind.UNDELIVERABLE,  # message blocked by the recipient
    30005: TwilioErrorKind.UNDELIVERABLE,  # unknown destination handset
    30006: TwilioErrorKind.LANDLINE,  # landline or unreachable carrier
    30007: TwilioErrorKind.FILTERED,  # carrier filtered it
    30022: TwilioErrorKind.TRANSIENT,  # US A2P 10DLC throughput exceeded
    30032: TwilioErrorKind.SENDER_CONFIG,  # toll-free number not verified
    30034: TwilioErrorKind.SENDER_CONFIG,  # US A2P 10DLC: unregistered number
    30036: TwilioErrorKind.EXPIRED,  # validity period expired
}


def classify(code: int | None, http_status: int | None = None) -> TwilioErrorKind:
    """The category of a Twilio error `code`; an unlisted code with an HTTP 5xx (or 429) status
    is transient, anything else unlisted is OTHER."""
    if code is not None and code in _KINDS:
        return _KINDS[code]
    if http_status is not None and (http_status >= 500 or http_status == 429):
        return TwilioErrorKind.TRANSIENT
    return TwilioErrorKind.OTHER


def is_retryable(code: int | None, http_status: int | None = None) -> bool:
    return classify(code, http_status) is TwilioErrorKind.TRANSIENT
