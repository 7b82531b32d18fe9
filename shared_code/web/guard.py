"""Cross-site request defence for cookie sessions, and the headers every web answer carries.

A browser sends the session cookie with any request to our origin, including one a hostile
page triggers; a state-changing request is only taken when it also carries the session's CSRF
token in `X-CSRF-Token` (the page reads it from `GET /api/web/session`, which another origin
cannot read) and, when the browser says where it comes from (`Origin`, `Sec-Fetch-Site`), that
is this app. The token is derived from the session (HMAC with LINK_SIGNING_SECRET), so it needs
no storage and dies with the session. `SameSite=Strict` on the cookie is a third layer.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared_code.platform.settings import get_settings

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# No inline script or style, nothing from another origin, never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; media-src 'self' blob:; font-src 'self'; manifest-src 'self';"
    " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class NotConfigured(Exception):
    """LINK_SIGNING_SECRET is empty: web login can't hash codes or derive CSRF tokens."""


def signing_key() -> bytes:
    secret = get_settings().link_signing_secret.get_secret_value()
    if not secret:
        raise NotConfigured("web login needs LINK_SIGNING_SECRET")
    return hashlib.sha256(b"nevermiss-web:" + secret.encode()).digest()


def keyed_hash(purpose: str, value: str) -> bytes:
    """HMAC-SHA256 of `value` under the web key, separated by `purpose`."""
    return hmac.new(signing_key(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def csrf_token(token_hash: bytes) -> str:
    """The CSRF token of the session whose token hashes to `token_hash`."""
    return keyed_hash("csrf", token_hash.hex()).hex()


@dataclass(frozen=True)
class RequestFacts:
    """What the web rules need from an HTTP request (the adapters build it)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        if value is None:
            value = self.headers.get(name.lower())
        return value

    @property
    def is_https(self) -> bool:
        forwarded = (self.header("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
        return urlsplit(self.url).scheme == "https" or forwarded == "https"

    @property
    def client_ip(self) -> str:
        """The address the nearest proxy saw (the last X-Forwarded-For entry, which a client
        cannot write), without a port; "unknown" when nothing says."""
        forwarded = [p.strip() for p in (self.header("X-Forwarded-For") or "").split(",")]
        candidate = next((p for p in reversed(forwarded) if p), "")
        if candidate.startswith("["):  # [v6]:port
            candidate = candidate[1:].split("]", 1)[0]
        elif candidate.count(":") == 1:  # v4:port
            candidate = candidate.split(":", 1)[0]
        return candidate[:100] or "unknown"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(request: RequestFacts) -> set[str]:
    """This app's origins: the one the request was made to, and PUBLIC_BASE_URL's."""
    origins = {_origin(request.url), _origin(get_settings().public_base_url)}
    host = request.header("Host")
    if host:
        origins.add(f"{'https' if request.is_https else 'http'}://{host}".lower())
    return origins


def same_origin(request: RequestFacts) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.header("Origin")
    if origin is not None and origin.lower() not in allowed_origins(request):
        return False
    site = request.header("Sec-Fetch-Site")
    return site is None or site.lower() in ("same-origin", "none")


def csrf_ok(request: RequestFacts, token_hash: bytes) -> bool:
    """A request made with the session may change state: safe methods always; others with the
    session's token in X-CSRF-Token and from this origin."""
    if request.method.upper() in SAFE_METHODS:
        return True
    sent = request.header(CSRF_HEADER) or ""
    expected = csrf_token(token_hash)
    return hmac.compare_digest(sent.encode(), expected.encode()) and same_origin(request)
