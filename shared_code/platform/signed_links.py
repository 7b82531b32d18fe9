"""Signed, expiring links: the owner's "listen" link to a voicemail, sent in an SMS alert.

An SMS link can't carry the owner's API key, and the alert goes to a phone the owner chose, so
the link itself is the permission: `e` is its expiry (unix seconds, LISTEN_LINK_DAYS ahead) and
`s` is HMAC-SHA256 over "{recording_sid}.{e}" keyed by LINK_SIGNING_SECRET, truncated to its
first 128 bits (RFC 2104 and NIST SP 800-107 allow truncation to half the output; 2^128 guesses
are out of reach), base64url without padding: 22 characters instead of 43, because the link
shares a two-segment SMS with the transcript. The server keeps no state per link; changing the
secret revokes every link at once. Comparison is constant-time. With no secret configured there
is no link (the alert says to open the API/inbox instead) and every link is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from shared_code.platform.settings import get_settings

LISTEN_PATH = "/api/voicemails/{recording_sid}/audio"
SIGNATURE_BYTES = 16


def _secret() -> bytes:
    return get_settings().link_signing_secret.get_secret_value().encode()


def signature(recording_sid: str, expiry: int) -> str:
    digest = hmac.new(_secret(), f"{recording_sid}.{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:SIGNATURE_BYTES]).rstrip(b"=").decode()


def listen_link(recording_sid: str, now: float | None = None) -> str | None:
    """The absolute listen link for a voicemail, or None when links are not configured."""
    if not _secret():
        return None
    settings = get_settings()
    expiry = int((now if now is not None else time.time()) + settings.listen_link_days * 86_400)
    path = LISTEN_PATH.format(recording_sid=recording_sid)
    return f"{settings.public_base_url}{path}?e={expiry}&s={signature(recording_sid, expiry)}"


def verify(
    recording_sid: str, expiry: str | None, sig: str | None, now: float | None = None
) -> bool:
    """True for a link this app signed for `recording_sid` that has not expired."""
    # isascii: str.isdigit takes "²" too, which int() refuses.
    if not _secret() or not expiry or not sig or len(expiry) > 12:
        return False
    if not (expiry.isascii() and expiry.isdigit()):
        return False
    if int(expiry) < (now if now is not None else time.time()):
        return False
    expected = signature(recording_sid, int(expiry))
    return hmac.compare_digest(expected.encode(), sig.encode())
