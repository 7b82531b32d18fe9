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
import ipaddress
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
    # The connection's peer address, when the host tells us (Azure Functions does not).
    peer: str | None = None

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
        """The client's address as the limits count it (`client_bucket`)."""
        return client_bucket(self, get_settings().trusted_proxy_hops)


DIRECT = "direct"  # the one bucket for every request when no address can be trusted


def _bare_address(entry: str) -> str:
    """An X-Forwarded-For entry without its port ("[v6]:port", "v4:port")."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].split("]", 1)[0]
    if entry.count(":") == 1:
        return entry.split(":", 1)[0]
    return entry


def _bucket(address: str) -> str:
    """An address as the limits count it: IPv4 as is, IPv6 by its /64 (one customer's
    allocation: a client can take any address in it); anything unparsable is one bucket."""
    try:
        parsed = ipaddress.ip_address(_bare_address(address).split("%", 1)[0])
    except ValueError:
        return "invalid"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def client_bucket(request: RequestFacts, trusted_hops: int) -> str:
    """Who is asking, for the sign-in limits. Each of the `trusted_hops` proxies in front of
    the app (TRUSTED_PROXY_HOPS: 1, Azure's front end) appends the address it was reached from
    to X-Forwarded-For, so the entry `trusted_hops` from the right is the one the outermost
    trusted proxy saw; whatever is left of it the client wrote itself. With a shorter header,
    its leftmost entry (still written by a trusted proxy). With no trusted proxy the header is
    the client's own: the connection's peer address when the host gives it, else one constant
    bucket for everyone (the per-phone and per-code limits still hold)."""
    if trusted_hops <= 0:
        return _bucket(request.peer) if request.peer else DIRECT
    entries = [e.strip() for e in (request.header("X-Forwarded-For") or "").split(",")]
    entries = [e for e in entries if e]
    if not entries:
        return _bucket(request.peer) if request.peer else "unknown"
    return _bucket(entries[-min(trusted_hops, len(entries))])


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
