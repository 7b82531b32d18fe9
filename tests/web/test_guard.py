"""The web guard's pure rules: client address (TRUSTED_PROXY_HOPS, IPv6 by /64), origin, CSRF
token, cookie reading (only `__Host-` on https)."""

from __future__ import annotations

import pytest

from shared_code.web.guard import RequestFacts, client_bucket, csrf_ok, csrf_token, same_origin
from shared_code.web.sessions import cookie_token, set_cookie


@pytest.fixture(autouse=True)
def secret(configure) -> None:
    configure(LINK_SIGNING_SECRET="unit-secret", PUBLIC_BASE_URL="https://inbox.example.com")


def facts(method: str = "POST", url: str = "http://127.0.0.1:7071/api/x", **headers: str):
    return RequestFacts(method, url, {k.replace("_", "-"): v for k, v in headers.items()})


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (None, "unknown"),
        ("203.0.113.9", "203.0.113.9"),
        ("203.0.113.9:51234", "203.0.113.9"),
        ("6.6.6.6, 203.0.113.9:443", "203.0.113.9"),  # the last hop's, not the client's claim
        ("[2001:db8::1]:443", "2001:db8::/64"),  # IPv6 by its /64
        ("2001:db8::2", "2001:db8::/64"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("6.6.6.6, not-an-address", "invalid"),
    ],
)
def test_client_address_is_the_nearest_proxys(forwarded, expected):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert facts(**headers).client_ip == expected


def test_trusted_proxy_hops_picks_the_entry_that_many_from_the_right(configure):
    chain = facts(X_Forwarded_For="6.6.6.6, 198.51.100.1, 203.0.113.9")
    assert chain.client_ip == "203.0.113.9"  # default: one proxy (Azure's front end)
    configure(TRUSTED_PROXY_HOPS="2")  # e.g. Front Door, then Azure's front end
    assert chain.client_ip == "198.51.100.1"  # the client's own "6.6.6.6" is never taken
    assert facts(X_Forwarded_For="203.0.113.9").client_ip == "203.0.113.9"  # a shorter chain
    configure(TRUSTED_PROXY_HOPS="0")  # nothing trusted writes the header: it is ignored
    assert chain.client_ip == "direct"
    with_peer = RequestFacts("POST", "http://x/", {"X-Forwarded-For": "6.6.6.6"}, peer="192.0.2.7")
    assert with_peer.client_ip == "192.0.2.7"
    assert client_bucket(with_peer, 1) == "6.6.6.6"


def test_ipv6_clients_count_by_their_64():
    one = client_bucket(facts(X_Forwarded_For="2001:db8:1:2:aaaa::1"), 1)
    same = client_bucket(facts(X_Forwarded_For="[2001:db8:1:2:ffff:1:2:3]:5555"), 1)
    other = client_bucket(facts(X_Forwarded_For="2001:db8:1:3::1"), 1)
    assert one == same == "2001:db8:1:2::/64" and other != one


def test_origin_rules():
    assert same_origin(facts())  # no Origin: not a cross-site browser request
    assert same_origin(facts(Origin="http://127.0.0.1:7071"))
    assert same_origin(facts(Origin="https://inbox.example.com"))  # PUBLIC_BASE_URL
    assert not same_origin(facts(Origin="https://evil.example"))
    assert not same_origin(facts(Origin="null"))
    assert not same_origin(facts(Sec_Fetch_Site="cross-site"))
    assert same_origin(facts(Sec_Fetch_Site="same-origin"))


def test_csrf_token_is_per_session_and_checked_on_changes_only():
    one, two = b"\x01" * 32, b"\x02" * 32
    assert csrf_token(one) != csrf_token(two) and len(csrf_token(one)) == 64
    assert csrf_ok(facts("GET"), one)
    assert not csrf_ok(facts("POST"), one)
    assert not csrf_ok(facts("PATCH", X_CSRF_Token=csrf_token(two)), one)
    assert csrf_ok(facts("PATCH", X_CSRF_Token=csrf_token(one)), one)
    assert not csrf_ok(
        facts("POST", X_CSRF_Token=csrf_token(one), Origin="https://evil.example"), one
    )


def test_cookies():
    assert cookie_token(facts(Cookie="a=b; nm_session=tok123; c=d")) == "tok123"
    assert cookie_token(facts(Cookie="nm_session=")) is None
    assert cookie_token(facts()) is None
    https = facts(url="https://inbox.example.com/api/web/login/verify")
    # On https only the __Host- cookie counts (a plain one could be planted by a subdomain).
    assert cookie_token(facts(url=https.url, Cookie="__Host-nm_session=tok456")) == "tok456"
    assert cookie_token(facts(url=https.url, Cookie="nm_session=tok123")) is None
    assert cookie_token(facts(X_Forwarded_Proto="https", Cookie="nm_session=tok123")) is None
    assert cookie_token(facts(Cookie="__Host-nm_session=tok456")) is None  # never sent on http
    assert set_cookie("t", https).startswith("__Host-nm_session=t; Path=/; HttpOnly; Secure;")
    behind_proxy = facts(X_Forwarded_Proto="https")
    assert "Secure" in set_cookie("t", behind_proxy)
    assert "Secure" not in set_cookie("t", facts())
