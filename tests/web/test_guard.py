"""The web guard's pure rules: client address, origin, CSRF token, cookie reading."""

from __future__ import annotations

import pytest

from shared_code.web.guard import RequestFacts, csrf_ok, csrf_token, same_origin
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
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::2", "2001:db8::2"),
    ],
)
def test_client_address_is_the_nearest_proxys(forwarded, expected):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    assert facts(**headers).client_ip == expected


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
    assert cookie_token(facts(Cookie="__Host-nm_session=tok456")) == "tok456"
    assert cookie_token(facts(Cookie="nm_session=")) is None
    assert cookie_token(facts()) is None
    https = facts(url="https://inbox.example.com/api/web/login/verify")
    assert set_cookie("t", https).startswith("__Host-nm_session=t; Path=/; HttpOnly; Secure;")
    behind_proxy = facts(X_Forwarded_Proto="https")
    assert "Secure" in set_cookie("t", behind_proxy)
    assert "Secure" not in set_cookie("t", facts())
