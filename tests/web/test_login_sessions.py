"""Signing in without keys, and the session as a way into the owner API: no browser, the app's
functions called in-process with real PostgreSQL, Redis, Azurite and the Twilio-wire server.

Covers: the code is texted (not billed), stored hashed, single use, expires; a sixth guess at
one code is refused even when right; five guesses per phone per address, strangers' guesses
don't lock the owner out, an hourly cap per phone; the answer never says whether a number is
registered; per-address limits; the cookie's flags; CSRF (token and origin); logout and "log
out everywhere"; a team phone taken off the team loses its session; the page's headers. The
review's hardening (owner-only changes, concurrency, timing, redaction) is in
test_web_hardening.py.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from tests.helpers import create_business, post
from tests.web.conftest import texted_code

BASE = "http://127.0.0.1:7071"
OWNER = "+14155550100"
STRANGER = "+14155550177"


def http(
    method: str,
    path: str,
    body: Any = None,
    *,
    cookie: str | None = None,
    csrf: str | None = None,
    headers: dict[str, str] | None = None,
    base: str = BASE,
    route_params: dict[str, str] | None = None,
) -> func.HttpRequest:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if cookie:
        sent["Cookie"] = cookie
    if csrf:
        sent["X-CSRF-Token"] = csrf
    return func.HttpRequest(
        method, base + path, headers=sent, route_params=route_params or {},
        body=b"" if body is None else json.dumps(body).encode(),
    )  # fmt: skip


async def call(name: str, req: func.HttpRequest) -> tuple[int, dict[str, Any], func.HttpResponse]:
    response = await post(name, req)
    return response.status_code, json.loads(response.get_body() or b"{}"), response


async def ask(phone: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    status, payload, _ = await call(
        "web_login_code", http("POST", "/api/web/login/code", {"phone": phone}, **kw)
    )
    return status, payload


async def verify(phone: str, code: str, **kw: Any) -> tuple[int, dict[str, Any], str]:
    status, payload, response = await call(
        "web_login_verify",
        http("POST", "/api/web/login/verify", {"phone": phone, "code": code}, **kw),
    )
    return status, payload, response.headers.get("Set-Cookie", "")


def cookie_of(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0]


async def sign_in(stack, phone: str = OWNER, **kw: Any) -> tuple[str, str]:
    before = len(stack.twilio.to(phone))
    assert (await ask(phone, **kw))[0] == 202
    status, payload, set_cookie = await verify(phone, await texted_code(stack, phone, before), **kw)
    assert status == 200, payload
    return cookie_of(set_cookie), payload["csrf_token"]


@pytest.fixture(autouse=True)
def fast_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared_code.web import login

    monkeypatch.setattr(login, "MIN_ANSWER_SECONDS", 0.0)


async def test_code_texted_hashed_single_use_and_not_billed(stack, web_settings):
    business, _ = await create_business(owner_phone=OWNER)
    status, payload = await ask("(415) 555-0100")
    assert status == 202 and "texted" in payload["message"]
    code = await texted_code(stack, OWNER)
    text = stack.twilio.to(OWNER)[-1]
    assert text["From"] == business.phone_number and business.name in text["Body"]

    from shared_code.platform import db

    pool = await db.get_pool()
    stored = await pool.fetchrow(
        "SELECT code_hash, expires_at - created_at AS life FROM web_login_codes"
    )
    assert code.encode() not in bytes(stored["code_hash"]) and stored["life"].total_seconds() == 600

    assert (await verify(OWNER, "000000" if code != "000000" else "111111"))[0] == 401
    status, payload, set_cookie = await verify(OWNER, code)
    assert status == 200, payload
    assert payload["session"]["business_id"] == str(business.id)
    assert set_cookie.startswith("nm_session=")
    flags = [f.strip() for f in set_cookie.split(";")]
    assert "HttpOnly" in flags and "SameSite=Strict" in flags and "Secure" not in flags
    stored_token = await pool.fetchval("SELECT token_hash FROM web_sessions")
    assert cookie_of(set_cookie).split("=", 1)[1].encode() not in bytes(stored_token)

    again = await verify(OWNER, code)  # single use
    assert again[0] == 401 and again[1]["error"]["code"] == "wrong_code"

    # Texted through the sending door, recorded as sent, but no usage: sign-in isn't billed.
    types = [r["type"] for r in await pool.fetch("SELECT type FROM outbox")]
    assert "nevermiss.message.sent" in types and "nevermiss.usage.recorded" not in types


async def test_an_unknown_number_gets_the_same_answer_and_no_text(stack, web_settings):
    await create_business(owner_phone=OWNER)
    known, unknown = await ask(OWNER), await ask(STRANGER)
    assert known == unknown and known[0] == 202
    assert stack.twilio.to(STRANGER) == []
    for guess in ("123456", "654321"):
        status, payload, _ = await verify(STRANGER, guess)
        assert (status, payload["error"]["code"]) == (401, "wrong_code")
    status, payload = await ask("not a phone")
    assert status == 422 and payload["error"]["code"] == "validation_failed"


def address(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{n}"}


async def test_a_sixth_guess_at_one_code_is_refused_even_with_the_right_code(stack, web_settings):
    """Five wrong guesses from five addresses: no address is near its own limit, so what
    refuses the sixth is the code's own count (`attempts`)."""
    from shared_code.platform import db
    from shared_code.web import login

    await create_business(owner_phone=OWNER)
    await ask(OWNER, headers=address(1))
    code = await texted_code(stack, OWNER)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for n in range(5):
        assert (await verify(OWNER, wrong, headers=address(10 + n)))[0] == 401
    pool = await db.get_pool()
    assert await pool.fetchval("SELECT attempts FROM web_login_codes WHERE used_at IS NULL") == 5
    status, payload, set_cookie = await verify(OWNER, code, headers=address(20))
    assert (status, payload["error"]["code"]) == (429, "too_many_attempts") and not set_cookie
    assert payload["error"]["message"] == login.CODE_SPENT  # the per-code check, not a limit
    # A fresh code works, from yet another address.
    before = len(stack.twilio.to(OWNER))
    await ask(OWNER, headers=address(21))
    fresh = await texted_code(stack, OWNER, before)
    assert (await verify(OWNER, fresh, headers=address(22)))[0] == 200


async def test_one_address_gets_five_guesses_at_a_phone_even_with_a_fresh_code(stack, web_settings):
    from shared_code.web import login

    await create_business(owner_phone=OWNER)
    await ask(OWNER, headers=address(1))
    first = await texted_code(stack, OWNER)
    for _ in range(3):
        guess = f"{(int(first) + 1) % 1_000_000:06d}"
        assert (await verify(OWNER, guess, headers=address(2)))[0] == 401
    before = len(stack.twilio.to(OWNER))
    await ask(OWNER, headers=address(1))
    fresh = await texted_code(stack, OWNER, before)
    for _ in range(2):
        guess = f"{(int(fresh) + 1) % 1_000_000:06d}"
        assert (await verify(OWNER, guess, headers=address(2)))[0] == 401
    status, payload, _ = await verify(OWNER, fresh, headers=address(2))  # the sixth from there
    assert status == 429 and payload["error"]["message"] == login.TOO_MANY_ATTEMPTS
    assert (await verify(OWNER, fresh, headers=address(3)))[0] == 200  # the code had 2 of 5


async def test_wrong_guesses_from_elsewhere_dont_lock_the_owner_out(stack, web_settings):
    await create_business(owner_phone=OWNER)
    for n in range(5):  # a stranger guesses (no code asked for, or the owner's: no matter)
        assert (await verify(OWNER, "123456", headers=address(50 + n)))[0] == 401
    for _ in range(5):  # and five more from one address
        assert (await verify(OWNER, "123456", headers=address(60)))[0] == 401
    await ask(OWNER, headers=address(70))
    code = await texted_code(stack, OWNER)
    assert (await verify(OWNER, code, headers=address(70)))[0] == 200


async def test_guesses_at_one_phone_from_everywhere_are_capped(stack, web_settings):
    """Spread over many addresses, guessing at one number still stops at its hourly cap."""
    from shared_code.web import login

    cap, _ = login.LIMITS["guess_phone"]
    for n in range(cap):
        assert (await verify(OWNER, "123456", headers=address(n)))[0] == 401
    status, payload, _ = await verify(OWNER, "123456", headers=address(200))
    assert status == 429 and payload["error"]["message"] == login.TOO_MANY_ATTEMPTS


async def test_an_expired_code_is_refused(stack, web_settings):
    await create_business(owner_phone=OWNER)
    await ask(OWNER)
    code = await texted_code(stack, OWNER)
    from shared_code.platform import db

    pool = await db.get_pool()
    await pool.execute(
        "UPDATE web_login_codes SET created_at = created_at - interval '11 minutes',"
        " expires_at = expires_at - interval '11 minutes'"
    )
    status, payload, set_cookie = await verify(OWNER, code)
    assert (status, payload["error"]["code"]) == (401, "wrong_code") and not set_cookie


async def test_one_address_is_limited_across_numbers(stack, web_settings):
    ip = {"X-Forwarded-For": "198.51.100.7"}
    statuses = [(await ask(f"+1415555{1000 + i:04d}", headers=ip))[0] for i in range(11)]
    assert statuses == [202] * 10 + [429]
    guesses = [
        (await verify(f"+1415555{2000 + i:04d}", "123456", headers=ip))[0] for i in range(21)
    ]
    assert guesses == [401] * 20 + [429]
    # Another address is not held back by that one.
    assert (await ask(OWNER, headers={"X-Forwarded-For": "198.51.100.8"}))[0] == 202


async def test_the_session_opens_the_owner_api_with_csrf_defence(stack, web_settings):
    business, key = await create_business(owner_phone=OWNER)
    cookie, csrf = await sign_in(stack)
    path = f"/api/v1/businesses/{business.id}"
    params = {"business_id": str(business.id)}

    status, payload, _ = await call(
        "read_business", http("GET", path, cookie=cookie, route_params=params)
    )
    assert status == 200 and payload["business"]["id"] == str(business.id)

    patch = {"services": "Drains"}
    refused = await call(
        "patch_business", http("PATCH", path, patch, cookie=cookie, route_params=params)
    )
    assert refused[0] == 403 and refused[1]["error"]["code"] == "csrf_failed"
    wrong = await call(
        "patch_business",
        http("PATCH", path, patch, cookie=cookie, csrf="0" * 64, route_params=params),
    )
    assert wrong[0] == 403
    other_site = await call("patch_business", http(
        "PATCH", path, patch, cookie=cookie, csrf=csrf, route_params=params,
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    ))  # fmt: skip
    assert other_site[0] == 403
    ok = await call(
        "patch_business",
        http(
            "PATCH",
            path,
            patch,
            cookie=cookie,
            csrf=csrf,
            route_params=params,
            headers={"Origin": BASE},
        ),
    )
    assert ok[0] == 200 and ok[1]["business"]["services"] == "Drains"

    # Bearer keys work as before, with no CSRF token (a browser never sends them by itself).
    keyed = await call(
        "patch_business",
        http(
            "PATCH",
            path,
            {"services": "Pipes"},
            headers={"Authorization": f"Bearer {key}"},
            route_params=params,
        ),
    )
    assert keyed[0] == 200
    # A session sees only its own business, like an owner key.
    other, _ = await create_business(phone_number="+13125550199", owner_phone="+14155550111")
    hidden = await call(
        "read_business",
        http(
            "GET",
            f"/api/v1/businesses/{other.id}",
            cookie=cookie,
            route_params={"business_id": str(other.id)},
        ),
    )
    assert hidden[0] == 404
    # Login itself refuses another site (login CSRF).
    status, _ = await ask(OWNER, headers={"Origin": "https://evil.example"})
    assert status == 403


async def test_https_cookie_is_secure_and_host_only(stack, web_settings):
    await create_business(owner_phone=OWNER)
    await ask(OWNER, base="https://inbox.example.com")
    code = await texted_code(stack, OWNER)
    status, _, set_cookie = await verify(OWNER, code, base="https://inbox.example.com")
    assert status == 200
    assert set_cookie.startswith("__Host-nm_session=")
    flags = [f.strip() for f in set_cookie.split(";")]
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= set(flags)


async def test_logout_and_logout_everywhere(stack, web_settings):
    await create_business(owner_phone=OWNER)
    first, first_csrf = await sign_in(stack)
    second, second_csrf = await sign_in(stack)

    async def alive(cookie: str) -> int:
        return (await call("web_session", http("GET", "/api/web/session", cookie=cookie)))[0]

    assert await alive(first) == 200 and await alive(second) == 200
    assert (await call("web_logout", http("POST", "/api/web/logout", cookie=first)))[0] == 403
    status, payload, response = await call(
        "web_logout", http("POST", "/api/web/logout", cookie=first, csrf=first_csrf)
    )
    assert status == 200 and "Max-Age=0" in response.headers["Set-Cookie"]
    assert await alive(first) == 401 and await alive(second) == 200
    third, _ = await sign_in(stack)
    status, payload, _ = await call(
        "web_logout_everywhere",
        http("POST", "/api/web/logout-everywhere", cookie=second, csrf=second_csrf),
    )
    assert status == 200 and payload["ended"] == 2
    assert await alive(second) == 401 and await alive(third) == 401
    listed = await call("list_conversations", http("GET", "/api/v1/conversations", cookie=third))
    assert listed[0] == 401


async def test_a_team_phone_signs_in_until_it_leaves_the_team(stack, web_settings):
    team = "+14155550122"
    business, key = await create_business(
        owner_phone=OWNER, team_phones=[{"name": "Sam", "phone": team, "alerts": False}]
    )
    cookie, _ = await sign_in(stack, team)
    listed = await call("list_conversations", http("GET", "/api/v1/conversations", cookie=cookie))
    assert listed[0] == 200
    await call("patch_business", http(
        "PATCH", f"/api/v1/businesses/{business.id}", {"team_phones": []},
        headers={"Authorization": f"Bearer {key}"},
        route_params={"business_id": str(business.id)},
    ))  # fmt: skip
    gone = await call("list_conversations", http("GET", "/api/v1/conversations", cookie=cookie))
    assert gone[0] == 401


async def test_login_is_off_without_a_signing_secret(stack, configure):
    configure(LINK_SIGNING_SECRET="")
    status, payload = await ask(OWNER)
    assert (status, payload["error"]["code"]) == (503, "not_configured")


async def test_page_and_static_files_carry_strict_headers(stack, web_settings):
    page = await post("web_app_page", http("GET", "/api/app"))
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and page.headers["X-Content-Type-Options"] == "nosniff"
    assert b"<script" in page.get_body() and b"<script>" not in page.get_body()  # no inline

    script = await post(
        "web_app_static", http("GET", "/api/app/static/app.js", route_params={"name": "app.js"})
    )
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("text/javascript")
    cached = await post("web_app_static", http(
        "GET", "/api/app/static/app.js", route_params={"name": "app.js"},
        headers={"If-None-Match": script.headers["ETag"]},
    ))  # fmt: skip
    assert cached.status_code == 304
    for name in ("../static.py", "static.py", "APP.JS", "", ".env", "app.js.map"):
        missing = await post(
            "web_app_static", http("GET", "/api/app/static/x", route_params={"name": name})
        )
        assert missing.status_code == 404, name


async def test_without_twilio_the_code_lands_in_the_local_sandbox(stack, web_settings, configure):
    """`make dev` has no Twilio account: the code is in the SMS sandbox devhost shows."""
    configure(TWILIO_ACCOUNT_SID="")
    await create_business(owner_phone=OWNER)
    assert (await ask(OWNER))[0] == 202
    from shared_code.platform.sms_sandbox import list_messages
    from shared_code.platform.work import drain_background

    await drain_background()  # the code is sent in the background
    texts = [t for t in await list_messages(0) if t["to_number"] == OWNER]
    assert len(texts) == 1 and "NeverMiss code" in texts[0]["body"]
    code = texts[0]["body"][:6]
    assert (await verify(OWNER, code))[0] == 200


async def test_an_idle_or_old_session_ends(stack, web_settings):
    await create_business(owner_phone=OWNER)
    idle, _ = await sign_in(stack)
    old, _ = await sign_in(stack)
    from shared_code.platform import db

    pool = await db.get_pool()
    sessions = await pool.fetch("SELECT id FROM web_sessions ORDER BY created_at")
    await pool.execute(
        "UPDATE web_sessions SET last_seen_at = now() - interval '8 days' WHERE id = $1",
        sessions[0]["id"],
    )
    await pool.execute(
        "UPDATE web_sessions SET created_at = now() - interval '31 days',"
        " expires_at = now() - interval '1 day' WHERE id = $1",
        sessions[1]["id"],
    )
    for cookie in (idle, old):
        status = (await call("web_session", http("GET", "/api/web/session", cookie=cookie)))[0]
        assert status == 401


async def test_sessions_stop_when_the_signing_secret_is_removed(stack, web_settings, configure):
    business, _ = await create_business(owner_phone=OWNER)
    cookie, csrf = await sign_in(stack)
    configure(LINK_SIGNING_SECRET="")
    status, _, _ = await call("web_session", http("GET", "/api/web/session", cookie=cookie))
    assert status == 401
    patched = await call("patch_business", http(
        "PATCH", f"/api/v1/businesses/{business.id}", {"services": "x"}, cookie=cookie,
        csrf=csrf, route_params={"business_id": str(business.id)},
    ))  # fmt: skip
    assert patched[0] == 401
