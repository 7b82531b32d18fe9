"""The owner web inbox's security review (issue 14), one test per finding: a team phone's
session may not change the business or its webhooks; the limits are raised before they are
checked (so concurrent requests can't slip past them); asking for a code answers at one
deadline and never waits for Twilio; a sign-in code is not kept once sent; a session whose phone
left the team stays revoked; on https only the `__Host-` cookie counts; API answers are not
cached or sniffed; a code text is dropped by Twilio when the code expires; codes per phone and
per business per day; and a session can't act on another business's conversation.

Like test_login_sessions.py: no browser, the app's functions called in-process against the
real PostgreSQL, Redis, Azurite and the Twilio-wire server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import azure.functions as func
import pytest

from tests.api.test_conversations_api import add_conversation
from tests.helpers import create_business
from tests.web.conftest import texted_code
from tests.web.test_login_sessions import (
    BASE,
    OWNER,
    STRANGER,
    address,
    ask,
    call,
    cookie_of,
    http,
    sign_in,
    verify,
)

TEAM = "+14155550122"
SAME_SITE = {"Origin": BASE}
REAL_DEADLINE = {"test_asking_answers_at_one_deadline_and_never_waits_for_twilio"}


@pytest.fixture(autouse=True)
def fast_answers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared_code.web import login

    if request.node.name not in REAL_DEADLINE:
        monkeypatch.setattr(login, "MIN_ANSWER_SECONDS", 0.0)


async def pool() -> Any:
    from shared_code.platform import db

    return await db.get_pool()


def business_request(
    method: str, business_id: uuid.UUID, body: Any = None, **kw: Any
) -> tuple[str, Any]:
    name = {"GET": "read_business", "PATCH": "patch_business"}[method]
    return name, http(
        method, f"/api/v1/businesses/{business_id}", body,
        route_params={"business_id": str(business_id)}, **kw,
    )  # fmt: skip


# ----------------------------------------------------------------- 1. owner-only changes


async def test_a_team_phones_session_may_not_change_the_business_or_its_webhooks(
    stack, web_settings
):
    from shared_code.businesses import store

    business, key = await create_business(
        owner_phone=OWNER, team_phones=[{"name": "Sam", "phone": TEAM, "alerts": False}]
    )
    before = (await store.get_business(business.id)).to_json()  # type: ignore[union-attr]
    cookie, csrf = await sign_in(stack, TEAM)
    session = await call("web_session", http("GET", "/api/web/session", cookie=cookie))
    assert session[1]["session"]["is_owner"] is False

    takeovers = (
        {"owner_phone": TEAM},  # the account takeover the review did
        {"team_phones": [{"name": "Sam", "phone": TEAM, "alerts": True}]},
        {"answer_check": "none"},
        {"booking_url": "https://evil.example/book"},
        {"messaging_service_sid": None},
        {"services": "Drains"},
    )
    for patch in takeovers:
        status, payload, _ = await call(*business_request(
            "PATCH", business.id, patch, cookie=cookie, csrf=csrf, headers=SAME_SITE
        ))  # fmt: skip
        assert (status, payload["error"]["code"]) == (403, "owner_only"), patch
    assert (await store.get_business(business.id)).to_json() == before  # type: ignore[union-attr]
    # It still reads the business and handles conversations.
    assert (await call(*business_request("GET", business.id, cookie=cookie)))[0] == 200
    listed = await call("list_conversations", http("GET", "/api/v1/conversations", cookie=cookie))
    assert listed[0] == 200

    # Webhooks: the owner's key makes one; the team session can't make, change or delete any.
    made = await call("webhook_endpoints", http(
        "POST", "/api/v1/webhooks", {"url": "https://crm.example.com/hook"},
        headers={"Authorization": f"Bearer {key}"},
    ))  # fmt: skip
    assert made[0] == 201, made[1]
    hook = made[1]["webhook"]["id"]
    team_calls = [
        ("webhook_endpoints", http(
            "POST", "/api/v1/webhooks", {"url": "https://evil.example/hook"},
            cookie=cookie, csrf=csrf, headers=SAME_SITE,
        )),
        ("webhook_endpoint", http(
            "PATCH", f"/api/v1/webhooks/{hook}", {"url": "https://evil.example/hook"},
            cookie=cookie, csrf=csrf, headers=SAME_SITE, route_params={"endpoint_id": hook},
        )),
        ("webhook_endpoint", http(
            "DELETE", f"/api/v1/webhooks/{hook}", cookie=cookie, csrf=csrf, headers=SAME_SITE,
            route_params={"endpoint_id": hook},
        )),
    ]  # fmt: skip
    for name, req in team_calls:
        status, payload, _ = await call(name, req)
        assert (status, payload["error"]["code"]) == (403, "owner_only"), req.method
    db = await pool()
    hooks = await db.fetch("SELECT url FROM webhook_endpoints WHERE business_id = $1", business.id)
    assert [h["url"] for h in hooks] == ["https://crm.example.com/hook"]

    # The owner's phone signs in and changes what it likes.
    owner_cookie, owner_csrf = await sign_in(stack, OWNER)
    owner_session = await call("web_session", http("GET", "/api/web/session", cookie=owner_cookie))
    assert owner_session[1]["session"]["is_owner"] is True
    status, payload, _ = await call(*business_request(
        "PATCH", business.id, {"services": "Drains", "answer_check": "none"},
        cookie=owner_cookie, csrf=owner_csrf, headers=SAME_SITE,
    ))  # fmt: skip
    assert status == 200 and payload["business"]["answer_check"] == "none"
    deleted = await call("webhook_endpoint", http(
        "DELETE", f"/api/v1/webhooks/{hook}", cookie=owner_cookie, csrf=owner_csrf,
        headers=SAME_SITE, route_params={"endpoint_id": hook},
    ))  # fmt: skip
    assert deleted[0] == 200


# ----------------------------------------------------------------- 3. raise first, then check


async def test_limits_hold_under_concurrent_requests(stack, web_settings):
    from shared_code.web import login

    guess_cap, _ = login.LIMITS["guess_ip"]
    results = await asyncio.gather(*(
        verify(f"+1415555{3000 + i:04d}", "123456", headers=address(9)) for i in range(60)
    ))  # fmt: skip
    statuses = [status for status, _, _ in results]
    assert statuses.count(401) == guess_cap and statuses.count(429) == 60 - guess_cap

    code_cap, _ = login.LIMITS["code_ip"]
    asked = await asyncio.gather(*(
        ask(f"+1415555{4000 + i:04d}", headers=address(10)) for i in range(30)
    ))  # fmt: skip
    assert [status for status, _ in asked].count(202) == code_cap

    # One code, twelve guesses at once from twelve addresses: five are counted on it, no more.
    await create_business(owner_phone=OWNER)
    await ask(OWNER, headers=address(11))
    code = await texted_code(stack, OWNER)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    guesses = await asyncio.gather(*(
        verify(OWNER, wrong, headers=address(100 + n)) for n in range(12)
    ))  # fmt: skip
    assert sorted(status for status, _, _ in guesses) == [401] * 5 + [429] * 7
    db = await pool()
    attempts = "SELECT attempts FROM web_login_codes WHERE phone = $1 AND used_at IS NULL"
    assert await db.fetchval(attempts, OWNER) == 5


async def test_a_client_written_forwarded_for_does_not_change_its_address(stack, web_settings):
    """Azure's front end appends the caller's address: what the client wrote before it is
    ignored, so rotating it gets no fresh allowance."""
    statuses = [
        (await verify(f"+1415555{5000 + i:04d}", "123456",
                      headers={"X-Forwarded-For": f"10.0.{i}.1, 198.51.100.77"}))[0]
        for i in range(21)
    ]  # fmt: skip
    assert statuses == [401] * 20 + [429]


# ----------------------------------------------------------------- 5. one deadline, no waiting


async def test_asking_answers_at_one_deadline_and_never_waits_for_twilio(
    stack, web_settings, monkeypatch
):
    """With the real MIN_ANSWER_SECONDS and Twilio held back: a registered number's answer
    comes at the deadline while its text is still unsent, exactly like an unknown number's."""
    from shared_code.messaging import delivery
    from shared_code.web import login

    assert login.MIN_ANSWER_SECONDS >= 0.5
    await create_business(owner_phone=OWNER)
    twilio_may_answer = asyncio.Event()
    real_send = delivery.send_sms

    async def held_send(*args: Any, **kwargs: Any) -> Any:
        await twilio_may_answer.wait()
        return await real_send(*args, **kwargs)

    monkeypatch.setattr(delivery, "send_sms", held_send)
    await ask("+14155550199", headers=address(1))  # warm the path up
    timings: dict[str, float] = {}
    answers: dict[str, Any] = {}
    try:
        for n, phone in enumerate((OWNER, STRANGER, OWNER, STRANGER)):
            started = time.monotonic()
            answers[phone] = await asyncio.wait_for(ask(phone, headers=address(2 + n)), 5)
            timings[f"{phone}{n}"] = time.monotonic() - started
        assert stack.twilio.to(OWNER) == []  # answered while the text was still held back
    finally:
        twilio_may_answer.set()
    assert answers[OWNER] == answers[STRANGER] and answers[OWNER][0] == 202
    deadline = login.MIN_ANSWER_SECONDS
    # Every answer at the deadline (the margin is scheduling on a busy machine, not Twilio:
    # the text is still held back when they come).
    assert all(deadline <= t < deadline + 0.5 for t in timings.values()), timings
    assert max(timings.values()) - min(timings.values()) < 0.35, timings
    assert await texted_code(stack, OWNER)  # sent once Twilio answers


async def test_a_code_whose_background_send_died_is_sent_by_the_sweep(
    stack, web_settings, configure, monkeypatch
):
    from shared_code.messaging import delivery
    from shared_code.platform.work import drain_background

    configure(SEND_RETRY_AFTER_SECONDS="0")
    await create_business(owner_phone=OWNER)
    real_deliver = delivery.deliver

    async def worker_recycled(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the worker went away before sending")

    monkeypatch.setattr(delivery, "deliver", worker_recycled)
    assert (await ask(OWNER))[0] == 202
    await drain_background()
    assert stack.twilio.to(OWNER) == []
    monkeypatch.setattr(delivery, "deliver", real_deliver)
    assert await delivery.send_unsent() == 1  # the outbox timer's sweep
    assert (await verify(OWNER, await texted_code(stack, OWNER)))[0] == 200


# ----------------------------------------------------------------- 6. the code is not kept


async def test_a_sign_in_code_is_not_kept_once_sent_or_given_up(stack, web_settings):
    from shared_code.messaging.send_rules import LOGIN_CODE_REDACTED

    business, _ = await create_business(
        owner_phone=OWNER, team_phones=[{"name": "Sam", "phone": TEAM, "alerts": False}]
    )
    await ask(OWNER)
    code = await texted_code(stack, OWNER)
    db = await pool()
    rows = await db.fetch("SELECT status, body FROM outbound_texts WHERE kind = 'login_code'")
    assert [(r["status"], r["body"]) for r in rows] == [("sent", LOGIN_CODE_REDACTED)]
    assert not await db.fetchval(
        "SELECT count(*) FROM outbound_texts WHERE strpos(body, $1) > 0", code
    ) and not await db.fetchval("SELECT count(*) FROM messages WHERE strpos(body, $1) > 0", code)

    # Refused by Twilio for good (failed): redacted too.
    stack.twilio.refuse[TEAM] = (400, 21211)
    await ask(TEAM)
    from shared_code.platform.work import drain_background

    await drain_background()
    row = await db.fetchrow(
        "SELECT status, body FROM outbound_texts WHERE kind = 'login_code' AND to_number = $1", TEAM
    )
    assert (row["status"], row["body"]) == ("failed", LOGIN_CODE_REDACTED)
    # Other texts keep their body.
    assert business.name  # (a customer's reply is covered by the messaging tests)


# ----------------------------------------------------------------- 7. revoked for good


async def test_a_session_of_a_phone_that_left_the_team_stays_revoked(stack, web_settings):
    team = [{"name": "Sam", "phone": TEAM, "alerts": False}]
    business, key = await create_business(owner_phone=OWNER, team_phones=team)
    cookie, _ = await sign_in(stack, TEAM)
    unused, _ = await sign_in(stack, TEAM)  # never used while the phone is off the team

    async def patch_team(phones: list[dict[str, Any]]) -> None:
        status, payload, _ = await call(*business_request(
            "PATCH", business.id, {"team_phones": phones},
            headers={"Authorization": f"Bearer {key}"},
        ))  # fmt: skip
        assert status == 200, payload

    async def alive(session_cookie: str) -> int:
        return (await call("web_session", http("GET", "/api/web/session", cookie=session_cookie)))[
            0
        ]

    await patch_team([])
    assert await alive(cookie) == 401
    await patch_team(team)  # back on the team
    assert await alive(cookie) == 401 and await alive(unused) == 401
    db = await pool()
    assert await db.fetchval("SELECT count(*) FROM web_sessions WHERE revoked_at IS NULL") == 0

    # Changed behind the API's back (no PATCH to revoke them): the lookup revokes it first.
    again, _ = await sign_in(stack, TEAM)
    await db.execute("UPDATE businesses SET team_phones = '[]' WHERE id = $1", business.id)
    assert await alive(again) == 401
    await db.execute(
        "UPDATE businesses SET team_phones = $2::jsonb WHERE id = $1",
        business.id, team,
    )  # fmt: skip
    assert await alive(again) == 401
    assert await db.fetchval("SELECT count(*) FROM web_sessions WHERE revoked_at IS NULL") == 0


# ----------------------------------------------------------------- 8. __Host- only on https


async def test_on_https_only_the_host_prefixed_cookie_opens_a_session(stack, web_settings):
    await create_business(owner_phone=OWNER)
    https = "https://inbox.example.com"
    await ask(OWNER, base=https)
    status, _, set_cookie = await verify(OWNER, await texted_code(stack, OWNER), base=https)
    assert status == 200 and set_cookie.startswith("__Host-nm_session=")
    token = cookie_of(set_cookie).split("=", 1)[1]

    async def session_with(cookie: str, base: str) -> int:
        return (
            await call("web_session", http("GET", "/api/web/session", cookie=cookie, base=base))
        )[0]

    assert await session_with(f"__Host-nm_session={token}", https) == 200
    assert await session_with(f"nm_session={token}", https) == 401  # a planted plain cookie
    behind_proxy = {"X-Forwarded-Proto": "https"}
    listed = await call("list_conversations", http(
        "GET", "/api/v1/conversations", cookie=f"nm_session={token}", headers=behind_proxy
    ))  # fmt: skip
    assert listed[0] == 401


# ----------------------------------------------------------------- 9. API answers' headers


async def test_api_answers_are_never_cached_or_sniffed(stack, web_settings):
    from tests.helpers import post

    business, key = await create_business(owner_phone=OWNER)
    auth = {"Authorization": f"Bearer {key}"}
    answers = [
        await post(*business_request("GET", business.id, headers=auth)),  # JSON
        await post(*business_request("GET", uuid.uuid4(), headers=auth)),  # an error
        await post("read_business", http(
            "GET", f"/api/v1/businesses/{business.id}",
            route_params={"business_id": str(business.id)},
        )),  # unauthenticated
        await post("read_usage", func.HttpRequest(
            "GET", f"{BASE}/api/v1/usage", headers=auth, params={"format": "csv"}, body=b"",
        )),  # a CSV export (TextBody)
    ]  # fmt: skip
    assert [a.status_code for a in answers] == [200, 404, 401, 200]
    assert answers[3].mimetype == "text/csv"
    for answer in answers:
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


# ----------------------------------------------------------------- 10. dropped when expired


async def test_a_code_text_expires_at_twilio_with_the_code(stack, web_settings, configure):
    configure(SMS_VALIDITY_SECONDS="3600")
    await create_business(owner_phone=OWNER)
    await ask(OWNER)
    await texted_code(stack, OWNER)
    db = await pool()
    assert await db.fetchval("SELECT validity_seconds FROM outbound_texts") == 600
    assert stack.twilio.to(OWNER)[-1]["ValidityPeriod"] == "600"


# ----------------------------------------------------------------- 11. codes per day


async def test_codes_are_capped_per_phone_and_per_business_per_day(
    stack, web_settings, monkeypatch
):
    from shared_code.web import login

    await create_business(
        owner_phone=OWNER, team_phones=[{"name": "Sam", "phone": TEAM, "alerts": False}]
    )
    # The 15-minute cap (3) out of the way, the day's cap per phone (10) is what stops it.
    monkeypatch.setitem(login.LIMITS, "code_phone", (100, login.WINDOW_SECONDS))
    day_cap, _ = login.LIMITS["code_phone_day"]
    statuses = [(await ask(STRANGER, headers=address(n % 5)))[0] for n in range(day_cap + 1)]
    assert statuses == [202] * day_cap + [429]

    # A business over its daily cap: answered as always (a refusal would say the number is
    # registered), but no text goes out.
    monkeypatch.setitem(login.LIMITS, "code_business_day", (2, login.DAY))
    answers = [await ask(phone, headers=address(20)) for phone in (OWNER, TEAM, OWNER)]
    assert answers[0] == answers[1] == answers[2] and answers[0][0] == 202
    from shared_code.platform.work import drain_background

    await drain_background()
    texts = [t for phone in (OWNER, TEAM) for t in stack.twilio.to(phone)]
    assert len(texts) == 2
    assert (await ask(STRANGER, headers=address(21)))[0] == 429  # still capped, per phone


# ----------------------------------------------------------------- 12. another business's


async def test_a_session_cannot_act_on_another_business_conversation(stack, web_settings):
    a, _ = await create_business(owner_phone=OWNER)
    b, _ = await create_business(phone_number="+13125550199", owner_phone="+14155550111")
    theirs = await add_conversation(str(b.id), "+14155550142")
    db = await pool()
    before = dict(await db.fetchrow("SELECT * FROM conversations WHERE id = $1", uuid.UUID(theirs)))
    cookie, csrf = await sign_in(stack)

    posts = {
        "take_over_conversation": ("takeover", None),
        "send_owner_message": ("messages", {"body": "this is not your customer"}),
        "record_outcome": ("outcome", {"outcome": "won", "value_micro": 1000}),
        "release_conversation": ("release", None),
        "close_conversation": ("close", None),
    }
    for name, (tail, body) in posts.items():
        status, payload, _ = await call(name, http(
            "POST", f"/api/v1/conversations/{theirs}/{tail}", body, cookie=cookie, csrf=csrf,
            headers=SAME_SITE, route_params={"conversation_id": theirs},
        ))  # fmt: skip
        assert (status, payload["error"]["code"]) == (404, "not_found"), name
    after = dict(await db.fetchrow("SELECT * FROM conversations WHERE id = $1", uuid.UUID(theirs)))
    assert after == before
    assert await db.fetchval("SELECT count(*) FROM messages") == 0
    assert await db.fetchval("SELECT count(*) FROM outbound_texts WHERE kind <> 'login_code'") == 0
    assert await db.fetchval("SELECT count(*) FROM conversation_outcomes") == 0
    assert stack.twilio.to("+14155550142") == []
    # The same session's own business is reachable: the 404 is the tenant rule, not the request.
    mine = await add_conversation(str(a.id), "+14155550143")
    status, _, _ = await call("take_over_conversation", http(
        "POST", f"/api/v1/conversations/{mine}/takeover", cookie=cookie, csrf=csrf,
        headers=SAME_SITE, route_params={"conversation_id": mine},
    ))  # fmt: skip
    assert status == 200
