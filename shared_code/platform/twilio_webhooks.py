"""The one door every Twilio webhook goes through: verify the signature, then hand over the form.

A webhook handler is written as `@twilio_webhook async def handler(form) -> TwimlResult` and only
ever sees a form whose `X-Twilio-Signature` checked out (the idea of twilio-labs'
function-templates `*.protected.js`: protection is where the handler is declared, not a call each
handler must remember). The adapter builds a `WebhookRequest` from the HTTP binding and calls the
decorated handler; a request that is unsigned, signed over anything else or too large gets a 4xx
and changes nothing. Nothing a caller sends becomes a 500: Twilio would retry it, and the caller
would hear "an application error has occurred". The one 5xx is deliberate: 503 when neither the
queue nor the inbox could keep a report, so that Twilio retries (`callback_url`).

The signature is checked on the raw bytes, before anything is decoded: the HMAC is Twilio's
(URL, then each parameter name and value, names sorted, and for a repeated name every distinct
value sorted, as `RequestValidator.compute_signature` does), computed over the percent-decoded
bytes. UTF-8 orders bytes as it orders code points, so this is the same string Twilio signs, and
junk that is not UTF-8 is refused without ever being decoded. The URL is the one Twilio called,
rebuilt from `PUBLIC_BASE_URL` + path + raw query (behind Azure's front ends the request's own URL
may say http:// or an internal host), with and without the default port as the SDK tries.

While the handler runs, logs carry the CallSid or MessageSid as correlation id, so a call can be
followed from its webhook through the queue processor to the owner alert.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlparse

from twilio.request_validator import add_port, remove_port

from shared_code.platform import cache, queues
from shared_code.platform.observability import correlated
from shared_code.platform.settings import get_settings

log = logging.getLogger(__name__)

EMPTY_TWIML = "<?xml version='1.0' encoding='UTF-8'?><Response />"
# The ids a webhook is about, in the order they name it: a call, a text (SmsSid is its old name).
CORRELATING_PARAMS = ("CallSid", "MessageSid", "SmsSid")
# Twilio's real webhooks are a few kB; anything near this is not Twilio and is not hashed.
MAX_BODY_BYTES = 256 * 1024
# Connection overrides for the URLs the app hands Twilio (`<Dial action>`, status callbacks):
# up to 3 retries on connect or read timeout or a 5xx, 2 s to connect, 5 s to answer. They go in
# the URL fragment, which an HTTP client never sends and Twilio does not sign.
CALLBACK_OVERRIDES = "rc=3&rp=ct,rt,5xx&ct=2000&rt=5000"


@dataclass(frozen=True)
class WebhookRequest:
    """A Twilio webhook as it arrived: what the signature covers, and the signature."""

    path: str  # "/api/voice/incoming": the path Twilio was told to call
    raw_query: str  # exactly as sent (it is signed too)
    body: bytes
    signature: str | None


@dataclass(frozen=True)
class TwimlResult:
    status_code: int
    body: str
    content_type: str = "application/xml"  # never text/plain: Twilio would text it back


FORBIDDEN = TwimlResult(403, EMPTY_TWIML)
TOO_LARGE = TwimlResult(413, EMPTY_TWIML)
EMPTY_RESPONSE = TwimlResult(200, EMPTY_TWIML)
# Neither the queue nor the inbox kept the report: Twilio retries (`rp=5xx`) in a moment.
SERVICE_UNAVAILABLE = TwimlResult(503, EMPTY_TWIML)

TwilioForm = Mapping[str, str]
FormHandler = Callable[[TwilioForm], Awaitable[TwimlResult]]
WebhookHandler = Callable[[WebhookRequest], Awaitable[TwimlResult]]
FormPairs = list[tuple[bytes, bytes]]


def public_url(path: str, raw_query: str = "") -> str:
    """The URL Twilio called (and must be told to call): public base + path + query as sent."""
    url = get_settings().public_base_url + path
    return f"{url}?{raw_query}" if raw_query else url


def callback_url(path: str, query: str = "") -> str:
    """A URL to hand Twilio for a callback: the public URL (with `query`, which Twilio signs
    along with the URL and the handler reads as form fields) and the connection overrides."""
    return f"{public_url(path, query)}#{CALLBACK_OVERRIDES}"


def _unquote(raw: bytes) -> bytes:
    return unquote_to_bytes(raw.replace(b"+", b" "))


def form_pairs(body: bytes) -> FormPairs:
    """`application/x-www-form-urlencoded` bytes as (name, value) byte pairs, in order, blank
    values kept (they are signed too); nothing is decoded as text."""
    pairs = []
    for piece in body.split(b"&"):
        if piece:
            name, _, value = piece.partition(b"=")
            pairs.append((_unquote(name), _unquote(value)))
    return pairs


def signed_bytes(url: str, pairs: FormPairs) -> bytes:
    """What Twilio's HMAC covers: the URL, then for each name (sorted) each distinct value
    (sorted) as name + value."""
    values: dict[bytes, set[bytes]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    parts = [url.encode()]
    for name in sorted(values):
        parts.extend(name + value for value in sorted(values[name]))
    return b"".join(parts)


def _signature_of(token: bytes, data: bytes) -> bytes:
    return base64.b64encode(hmac.new(token, data, hashlib.sha1).digest())


def signature_is_valid(path: str, raw_query: str, pairs: FormPairs, signature: str | None) -> bool:
    token = get_settings().twilio_auth_token.get_secret_value().encode()
    if not token or not signature:
        return False
    given = signature.strip().encode("utf-8", "replace")
    url = urlparse(public_url(path, raw_query))
    # Fragments are not signed; accepting the overrides as signed too costs two HMACs and keeps
    # calls working should Twilio ever sign a callback URL exactly as it was handed over.
    candidates = {add_port(url), remove_port(url)}
    candidates |= {f"{c}#{CALLBACK_OVERRIDES}" for c in tuple(candidates)}
    return any(
        hmac.compare_digest(_signature_of(token, signed_bytes(c, pairs)), given) for c in candidates
    )


def _decoded(pairs: FormPairs) -> dict[str, str]:
    """The verified form as text: the first value of each name, NULs removed (PostgreSQL text
    cannot hold them; Twilio never sends them). Raises UnicodeDecodeError on non-UTF-8."""
    form: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name, value = raw_name.decode(), raw_value.decode()
        if "\x00" in name or "\x00" in value:
            name, value = name.replace("\x00", ""), value.replace("\x00", "")
            log.warning("removed NUL characters from webhook parameter %r", name[:40])
        form.setdefault(name, value)
    return form


def verified_form(request: WebhookRequest) -> dict[str, str] | None:
    """The request's form if Twilio signed it as received, else None (logged, never raised).

    Parameters of the URL's query string are read as form fields too, the body's winning: the
    app puts them in the URLs it hands Twilio (`callback_url(path, query)`, e.g. the parent
    call of a dialled leg) and Twilio signs them with the URL. A query pair that is not UTF-8
    is left out (Twilio only ever calls the URLs the app wrote)."""
    pairs = form_pairs(request.body)
    if not signature_is_valid(request.path, request.raw_query, pairs, request.signature):
        log.warning("rejected %s: bad or missing Twilio signature", request.path)
        return None
    try:
        form = _decoded(pairs)
    except UnicodeDecodeError:
        log.warning("rejected %s: signed, but the form is not UTF-8", request.path)
        return None
    for pair in form_pairs(request.raw_query.encode()):
        try:
            name, value = next(iter(_decoded([pair]).items()))
        except UnicodeDecodeError:
            log.warning("ignored a query parameter of %s: not UTF-8", request.path)
            continue
        form.setdefault(name, value)
    return form


def correlation_id_of(form: TwilioForm) -> str:
    """The CallSid or MessageSid the webhook is about ("-" when it names neither)."""
    return next((form[name][:64] for name in CORRELATING_PARAMS if form.get(name)), "-")


async def hand_off(queue: str, dedupe_key: str, payload: dict[str, Any]) -> bool:
    """Queue a webhook's task once. False only when neither the queue nor the inbox kept it
    (answer SERVICE_UNAVAILABLE so Twilio retries); a task the queue could never take is
    refused with a log line (True: a retry would not help).

    The Redis guard is one SET NX, forgotten again when the hand-off fails (powertools'
    idempotency: the record goes when the guarded work raises), so a mark never outlives a failed
    hand-off and Twilio's retry is queued; a duplicate skipped while the first delivery was
    failing gets that first delivery's retry. One Redis round trip on the happy path."""
    if not await cache.first_seen(dedupe_key, get_settings().webhook_dedupe_seconds):
        return True
    try:
        text = queues.message_text(payload)
    except queues.MessageTooLarge as err:
        log.error("refused %s: %s", dedupe_key, err)
        return True
    kept = await queues.put_quickly(queue, text) or await queues.keep_in_inbox(
        queue, dedupe_key, text
    )
    if not kept:
        await cache.forget(dedupe_key)
    return kept


def twilio_webhook(handler: FormHandler) -> WebhookHandler:
    """Make `handler` a Twilio webhook: it runs only on a verified form, under its sid.

    The result takes a `WebhookRequest`, so an adapter cannot call the handler with a form it
    did not verify, and the handler has no way to reach the unverified body.
    """

    @functools.wraps(handler)
    async def door(request: WebhookRequest) -> TwimlResult:
        if len(request.body) > MAX_BODY_BYTES:
            log.warning("rejected %s: body of %d bytes", request.path, len(request.body))
            return TOO_LARGE
        form = verified_form(request)
        if form is None:
            return FORBIDDEN
        with correlated(correlation_id_of(form)):
            try:
                return await handler(form)
            except Exception:  # a bug or an outage: Twilio retries a 503, never a TwiML error
                log.exception("webhook %s failed", request.path)
                return SERVICE_UNAVAILABLE

    return door
