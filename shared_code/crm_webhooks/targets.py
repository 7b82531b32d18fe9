"""Where a webhook may be sent: no server-side request forgery from inside Azure.

Running in Azure (App Service sets WEBSITE_INSTANCE_ID), an endpoint must be `https` and may not
reach a private, loopback, link-local (the instance metadata service), shared, reserved or
multicast address: the URL is refused when saved if its host is such an address or resolves to
one, and again at every delivery by the resolver the HTTP client connects through
(`PublicOnlyResolver`), so a DNS answer changed after saving reaches nothing inside either.
An address literal in the URL never reaches a resolver, so `check_url` runs before every
delivery too. Redirects are not followed. Locally (make dev, tests) plain http and 127.0.0.1
are allowed, so a receiver on the developer's machine works.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class TargetRefused(ValueError):
    """The URL may not be a webhook endpoint here; the message says why."""


def in_azure() -> bool:
    return bool(os.environ.get("WEBSITE_INSTANCE_ID"))


# Public by the registry, yet inside: Azure's wire server (DNS, DHCP, health probes, the agent).
AZURE_PLATFORM = frozenset({ipaddress.ip_address("168.63.129.16")})
# IPv6 prefixes that carry an IPv4 address in their low or middle bits: judged by that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped (::ffff:a.b.c.d), NAT64
    (64:ff9b::a.b.c.d), 6to4 (2002:AABB:CCDD::) or the deprecated IPv4-compatible
    (::a.b.c.d, including :: and ::1); None for any other."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """A globally routable unicast address outside Azure's platform. An IPv6 address that
    carries an IPv4 one (mapped, NAT64, 6to4, IPv4-compatible) is judged by that IPv4
    address; site-local IPv6 (fec0::/10, deprecated but still routed inside some networks) is
    not public."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return False
        ip = embedded_ipv4(ip) or ip
    return ip.is_global and not ip.is_multicast and ip not in AZURE_PLATFORM


def check_url(url: str, *, azure: bool | None = None) -> str:
    """`url` if it may be an endpoint (syntax and literal addresses), else TargetRefused."""
    azure = in_azure() if azure is None else azure
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:  # "http://[" and friends
        raise TargetRefused("the URL does not parse") from None
    if parts.scheme not in ("https", "http") or not host or any(c.isspace() for c in url.strip()):
        raise TargetRefused("the URL must be http(s)://host/...")
    if azure and parts.scheme != "https":
        raise TargetRefused("webhook URLs must use https")
    if parts.username or parts.password:
        raise TargetRefused("put credentials in the receiver's checks, not in the URL")
    try:
        literal = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        literal = None
    if azure and (host == "localhost" or host.endswith((".localhost", ".internal", ".local"))):
        raise TargetRefused("webhook URLs may not point at this service's own network")
    if azure and literal is not None and not is_public(str(literal)):
        raise TargetRefused("webhook URLs may not target private or loopback addresses")
    try:
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise TargetRefused("the URL's port is not a number") from None
    return url.strip()


async def check_resolves_public(url: str) -> None:
    """In Azure: every address the host resolves to must be public (saving an endpoint)."""
    if not in_azure():
        return
    host = urlsplit(url).hostname or ""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused(f"{host} does not resolve") from None
    if not infos or not all(is_public(str(info[4][0])) for info in infos):
        raise TargetRefused("webhook URLs may not resolve to private or loopback addresses")


class PublicOnlyResolver(AbstractResolver):
    """The delivery client's resolver: in Azure, only public addresses are connected to."""

    def __init__(self, azure: bool | None = None) -> None:
        self._inner = ThreadedResolver()
        self._azure = in_azure() if azure is None else azure

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        if not self._azure:
            return found
        public = [r for r in found if is_public(str(r["host"]))]
        if not public:
            # With an errno and a strerror: aiohttp shows the strerror in the delivery's log.
            raise OSError(errno.EACCES, f"{host}: no public address (refused: SSRF guard)")
        return public

    async def close(self) -> None:
        await self._inner.close()
