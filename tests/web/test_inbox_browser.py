"""The owner web inbox in a real Chromium (Debian's, driven by Playwright) against the app
served by devhost: sign in with the code the local Twilio-wire server received, handle a
conversation end to end, change the hours, and log out; a second business's owner can't see
the first's conversation; a phone-sized screen. Every view is checked with axe-core and saved
as a screenshot under test-artifacts/web/.
"""

from __future__ import annotations

import aiohttp

from tests.web.conftest import (
    assert_accessible,
    create_business,
    customer_texts,
    log_in,
    shot,
    until,
)

OWNER, CUSTOMER, BUSINESS_NUMBER = "+14155550100", "+14155550142", "+13125550123"


async def api(host, path: str, key: str, method: str = "GET", body=None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        response = await http.request(
            method, f"{host.url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}
        )
        return response.status, await response.json()


async def test_owner_handles_a_conversation_from_the_page(stack, host, page):
    business, key = await create_business(host, stack.admin_key, owner_phone=OWNER)
    await customer_texts(stack, host, BUSINESS_NUMBER, CUSTOMER, "My kitchen sink is leaking")
    _, listed = await api(host, "/api/v1/conversations", key)
    conversation = listed["conversations"][0]

    await page.goto(f"{host.url}/app")  # what the README says to open: devhost's shortcut
    await page.wait_for_selector("#login-phone")
    assert page.url.startswith(f"{host.url}/api/app")
    await shot(page, "01-login")
    await assert_accessible(page, "login")
    await log_in(page, stack, host, OWNER)

    # The inbox: the conversation, unread until opened.
    item = page.locator(f'a.convo[data-id="{conversation["id"]}"]')
    await item.wait_for()
    assert "Unread" in await item.inner_text()
    assert "(415) 555-0142" in await item.inner_text()
    await shot(page, "02-inbox")
    await assert_accessible(page, "inbox")

    # The conversation: the customer's text first, with its author (the assistant's answer,
    # when it came, after it).
    await item.click()
    thread = page.locator("#thread")
    await thread.locator("li").first.wait_for()
    authors = await thread.locator(".msg-author").all_inner_texts()
    bodies = await thread.locator(".msg-body").all_inner_texts()
    assert authors[0] == "Customer" and set(authors[1:]) <= {"Assistant", "NeverMiss"}
    assert bodies[0] == "My kitchen sink is leaking"
    await page.get_by_role("heading", name="Lead").wait_for()
    await shot(page, "03-conversation")
    await assert_accessible(page, "conversation")

    # Take over, then release: the API sees each.
    await page.get_by_role("button", name="Take over").click()
    await page.get_by_role("button", name="Hand back to the assistant").wait_for()
    _, thread_json = await api(host, f"/api/v1/conversations/{conversation['id']}", key)
    assert thread_json["conversation"]["mode"] == "owner"
    await page.get_by_role("button", name="Hand back to the assistant").click()
    await page.get_by_role("button", name="Take over").wait_for()
    _, thread_json = await api(host, f"/api/v1/conversations/{conversation['id']}", key)
    assert thread_json["conversation"]["mode"] == "assistant"

    # Reply: the customer receives it through the Twilio wire server.
    before = len(stack.twilio.to(CUSTOMER))
    await page.fill("#reply-text", "On my way, 20 minutes")
    await page.get_by_role("button", name="Send").click()
    await until(
        lambda: any(
            "On my way, 20 minutes" in t["Body"] for t in stack.twilio.to(CUSTOMER)[before:]
        ),
        "the customer never got the owner's reply",
    )
    await thread.get_by_text("On my way, 20 minutes").wait_for()
    assert (await thread.locator(".msg-author").all_inner_texts())[-1] == "You"

    # A new text from the customer appears without a reload (polling); it's relayed, not
    # answered by the assistant, as the owner took the conversation over by replying.
    await customer_texts(stack, host, BUSINESS_NUMBER, CUSTOMER, "Great, the side door is open")
    await thread.get_by_text("Great, the side door is open").wait_for(timeout=15_000)

    # Close it: the reply box goes, the API says closed, the inbox lists it after open ones.
    await page.get_by_role("button", name="Close conversation").click()
    await page.get_by_text("Closed ", exact=False).first.wait_for()
    assert await page.locator("#reply-form").is_hidden()
    _, thread_json = await api(host, f"/api/v1/conversations/{conversation['id']}", key)
    assert thread_json["conversation"]["status"] == "closed"

    # Account: the texts' usage (Event Grid's usage.recorded, delivered to the usage logger as
    # Event Grid would) drawn by day.
    from shared_code.contracts import UsageRecorded
    from tests.helpers import deliver_events

    await deliver_events("usage_logger", stack.topic.of_type(UsageRecorded.type))
    await page.get_by_role("link", name="Account").click()
    await page.locator("#balance").wait_for()
    assert "$" in await page.locator("#balance").inner_text()
    await page.locator("svg.chart").wait_for()
    heights = await page.locator("svg.chart rect.bar").evaluate_all(
        "bars => bars.map(b => +b.getAttribute('height'))"
    )
    assert len(heights) >= 28 and max(heights) > 0  # a bar for every day, some used
    await shot(page, "04-account")
    await assert_accessible(page, "account")

    # Settings: open Monday 07:30-16:00 and see it in the API.
    await page.get_by_role("link", name="Settings").click()
    await page.locator("#on-mon").wait_for()
    await page.locator("#on-mon").check()
    await page.fill("#open-mon", "07:30")
    await page.fill("#close-mon", "16:00")
    await page.fill("#tpl-text_back", "Hi from {business_name}! Reply STOP to opt out.")
    preview = await page.locator("#tpl-text_back-preview").inner_text()
    assert preview == f"Hi from {business['name']}! Reply STOP to opt out."
    await shot(page, "05-settings")
    await assert_accessible(page, "settings")
    await page.get_by_role("button", name="Save settings").click()
    await page.locator("#settings-status").get_by_text("Saved.").wait_for()
    _, read = await api(host, f"/api/v1/businesses/{business['id']}", key)
    assert read["business"]["weekly_hours"]["mon"] == [["07:30", "16:00"]]
    assert read["business"]["templates"]["text_back"].startswith("Hi from {business_name}!")
    # A later save sends only what changed: the hours stay as they are.
    await page.get_by_label("Services", exact=True).fill("Drains, water heaters")
    await page.get_by_role("button", name="Save settings").click()

    async def services() -> str:
        return (await api(host, f"/api/v1/businesses/{business['id']}", key))[1]["business"][
            "services"
        ]

    await until(lambda: services(), "the second save never landed")
    _, read = await api(host, f"/api/v1/businesses/{business['id']}", key)
    assert read["business"]["services"] == "Drains, water heaters"
    assert read["business"]["weekly_hours"]["mon"] == [["07:30", "16:00"]]

    # Logout ends the session: the cookie no longer opens the API.
    cookies = await page.context.cookies()
    session_cookie = next(c for c in cookies if c["name"] == "nm_session")
    assert session_cookie["httpOnly"] and session_cookie["sameSite"] == "Strict"
    await page.get_by_role("button", name="Log out", exact=True).click()
    await page.wait_for_selector("#login-phone")
    async with aiohttp.ClientSession() as http:
        response = await http.get(
            f"{host.url}/api/v1/conversations",
            headers={"Cookie": f"nm_session={session_cookie['value']}"},
        )
        assert response.status == 401


async def test_another_business_owner_cannot_see_the_conversation(stack, host, page):
    _, key = await create_business(host, stack.admin_key, owner_phone=OWNER)
    await customer_texts(stack, host, BUSINESS_NUMBER, CUSTOMER, "Do you fix water heaters?")
    _, listed = await api(host, "/api/v1/conversations", key)
    theirs = listed["conversations"][0]["id"]
    other_owner = "+14155550111"
    await create_business(
        host, stack.admin_key, name="Bob's Salon", phone_number="+13125550199",
        owner_phone=other_owner,
    )  # fmt: skip

    await log_in(page, stack, host, other_owner)
    await page.get_by_text("No conversations yet").wait_for()
    await shot(page, "06-inbox-empty")
    await page.goto(f"{host.url}/api/app#/c/{theirs}")
    await page.get_by_text("No such conversation").wait_for()
    await shot(page, "07-not-found")
    response = await page.request.get(f"{host.url}/api/v1/conversations/{theirs}")
    assert response.status == 404
    taken = await page.request.post(f"{host.url}/api/v1/conversations/{theirs}/takeover")
    assert taken.status == 403  # no CSRF token: refused before anything is looked up


async def test_wrong_and_expired_codes_are_refused_on_the_page(stack, host, page):
    await create_business(host, stack.admin_key, owner_phone=OWNER)
    await page.goto(f"{host.url}/api/app")
    await page.fill("#login-phone", OWNER)
    await page.get_by_role("button", name="Text me a code").click()
    await page.wait_for_selector("#login-code", state="visible")
    from tests.web.conftest import texted_code

    code = await texted_code(stack, OWNER)
    from shared_code.platform import db

    await (await db.get_pool()).execute(
        "UPDATE web_login_codes SET created_at = created_at - interval '11 minutes',"
        " expires_at = expires_at - interval '11 minutes'"
    )
    await page.fill("#login-code", code)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text("that code is wrong or has expired").wait_for()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):  # with the expired try above, five wrong guesses
        await page.fill("#login-code", wrong)
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("button", name="Sign in").wait_for(state="visible")
    await page.fill("#login-code", wrong)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text("too many wrong codes").wait_for()
    await shot(page, "08-login-refused")
    assert await page.locator("#nav").is_hidden()


async def test_phone_sized_screen(stack, host, browser):
    _, key = await create_business(host, stack.admin_key, owner_phone=OWNER)
    await customer_texts(stack, host, BUSINESS_NUMBER, CUSTOMER, "Need a plumber today")
    await customer_texts(stack, host, BUSINESS_NUMBER, "+14155550143", "Wrong number, sorry")
    _, listed = await api(host, "/api/v1/conversations", key)
    newest = listed["conversations"][0]  # most recently active: closed, it goes below the open
    assert (await api(host, f"/api/v1/conversations/{newest['id']}/close", key, "POST"))[0] == 200
    context = await browser.new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True,
        has_touch=True,
    )  # fmt: skip
    page = await context.new_page()
    try:
        await log_in(page, stack, host, OWNER)
        await page.locator("a.convo").nth(1).wait_for()
        order = await page.locator("a.convo").evaluate_all("links => links.map(a => a.dataset.id)")
        assert order[-1] == newest["id"]  # open conversations first
        assert "Closed" in await page.locator("a.convo").nth(1).inner_text()
        await shot(page, "09-phone-inbox")
        await assert_no_sideways_scroll(page)
        await page.locator("a.convo").first.click()
        await page.locator("#reply-text").wait_for()
        await shot(page, "10-phone-conversation")
        await assert_no_sideways_scroll(page)
        await assert_accessible(page, "phone-conversation")
        await page.get_by_role("link", name="Settings").click()
        await page.locator("#on-mon").wait_for()
        await assert_no_sideways_scroll(page)
        box = await page.get_by_role("button", name="Save settings").bounding_box()
        assert box is not None and box["height"] >= 44  # a thumb-sized target
        from tests.web.test_calls_browser import add_call

        business = {"id": newest["business_id"], "phone_number": BUSINESS_NUMBER}
        sid = await add_call(business, CUSTOMER, 2, miss_reason="machine")
        await page.get_by_role("link", name="Calls", exact=True).click()
        await page.locator(f'li.call[data-id="{sid}"]').get_by_text("Answering machine").wait_for()
        await shot(page, "14-phone-calls")
        await assert_no_sideways_scroll(page)
    finally:
        await context.close()


async def assert_no_sideways_scroll(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = await page.evaluate("window.innerWidth")
    assert width <= viewport, f"page is {width}px wide in a {viewport}px screen"


async def test_a_voicemail_plays_inline_in_the_conversation(stack, host, page):
    """A voicemail (message kind 'voicemail', its recording archived in Blob storage) shows in
    the transcript with an audio player that the session may fetch."""
    import io
    import wave
    from datetime import UTC, datetime

    from shared_code.platform import blobs, db

    business, key = await create_business(host, stack.admin_key, owner_phone=OWNER)
    await customer_texts(stack, host, BUSINESS_NUMBER, CUSTOMER, "Call me back please")
    _, listed = await api(host, "/api/v1/conversations", key)
    conversation_id = listed["conversations"][0]["id"]
    sound = io.BytesIO()
    with wave.open(sound, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    recording = "RE" + "ab" * 16
    await blobs.upload(f"test/{recording}.wav", sound.getvalue(), "audio/wav")
    pool = await db.get_pool()
    at = datetime.now(UTC)
    message_id = await pool.fetchval(
        "INSERT INTO messages (conversation_id, direction, author, body, kind, received_at)"
        " VALUES ($1, 'inbound', 'customer', 'My furnace is out', 'voicemail', $2) RETURNING id",
        conversation_id, at,
    )  # fmt: skip
    await pool.execute(
        "INSERT INTO voicemails (recording_sid, call_sid, business_id, caller, duration_seconds,"
        " blob_name, content_type, archived_at, transcript, transcription_status,"
        " conversation_id, message_id, received_at)"
        " VALUES ($1, $2, $3, $4, 1, $5, 'audio/wav', now(), 'My furnace is out', 'done',"
        " $6, $7, $8)",
        recording, "CA" + "cd" * 16, business["id"], CUSTOMER, f"test/{recording}.wav",
        conversation_id, message_id, at,
    )  # fmt: skip

    await log_in(page, stack, host, OWNER)
    await page.goto(f"{host.url}/api/app#/c/{conversation_id}")
    player = page.locator("#thread audio")
    await player.wait_for(state="attached")
    src = await player.get_attribute("src")
    assert src == f"/api/v1/voicemails/{recording}/audio"
    item = page.locator("#thread li", has=page.locator("audio"))
    assert "Voicemail" in await item.inner_text() and "My furnace is out" in await item.inner_text()
    heard = await page.request.get(f"{host.url}{src}")
    assert heard.status == 200 and heard.headers["content-type"].startswith("audio/")
    await shot(page, "11-voicemail")
