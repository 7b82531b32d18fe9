"""The calls view (#/calls) in a real Chromium against the app served by devhost: a missed call
with its reason and text-back in plain words, its voicemail playing inline, a link to its
conversation; the missed filter; a new call appearing without a reload; axe-core on the view
and a screenshot under test-artifacts/web/. The page's scripts are ES modules: every one is
served as JavaScript."""

from __future__ import annotations

import io
import re
import secrets
import uuid
import wave
from datetime import UTC, datetime, timedelta

import aiohttp

from shared_code.web.static import STATIC_DIR
from tests.web.conftest import assert_accessible, create_business, customer_texts, log_in, shot

OWNER, CUSTOMER, BUSINESS_NUMBER = "+14155550100", "+14155550142", "+13125550123"


async def add_call(business: dict, caller: str, minutes_ago: float, **fields) -> str:
    from shared_code.platform import db

    row = {
        "missed": True, "miss_reason": "no-answer", "text_back_status": "sent",
        "answer_check": "press_key", "accepted": False, "conversation_id": None, **fields,
    }  # fmt: skip
    sid = "CA" + secrets.token_hex(16)
    await (await db.get_pool()).execute(
        "INSERT INTO calls (call_sid, business_id, from_number, to_number, source, dial_status,"
        " missed, miss_reason, text_back_status, answer_check, accepted, conversation_id,"
        " received_at) VALUES ($1, $2, $3, $4, 'dial-status', 'completed', $5, $6, $7, $8, $9,"
        " $10, $11)",
        sid, uuid.UUID(business["id"]), caller, business["phone_number"], row["missed"],
        row["miss_reason"], row["text_back_status"], row["answer_check"], row["accepted"],
        row["conversation_id"], datetime.now(UTC) - timedelta(minutes=minutes_ago),
    )  # fmt: skip
    return sid


async def add_voicemail(business: dict, call_sid: str, conversation_id: str) -> str:
    from shared_code.platform import blobs, db

    sound = io.BytesIO()
    with wave.open(sound, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    recording = "RE" + secrets.token_hex(16)
    await blobs.upload(f"test/{recording}.wav", sound.getvalue(), "audio/wav")
    await (await db.get_pool()).execute(
        "INSERT INTO voicemails (recording_sid, call_sid, business_id, caller, duration_seconds,"
        " blob_name, content_type, archived_at, transcript, transcription_status,"
        " conversation_id, received_at)"
        " VALUES ($1, $2, $3, $4, 12, $5, 'audio/wav', now(), 'My furnace is out, call me',"
        " 'done', $6, now())",
        recording, call_sid, uuid.UUID(business["id"]), CUSTOMER, f"test/{recording}.wav",
        uuid.UUID(conversation_id),
    )  # fmt: skip
    return recording


async def test_calls_view_lists_a_missed_call_with_reason_text_back_and_conversation(
    stack, host, page
):
    business, key = await create_business(host, stack.admin_key, owner_phone=OWNER)
    await customer_texts(stack, host, BUSINESS_NUMBER, CUSTOMER, "Is anyone there?")
    async with aiohttp.ClientSession() as http:
        response = await http.get(
            f"{host.url}/api/v1/conversations", headers={"Authorization": f"Bearer {key}"}
        )
        conversation = (await response.json())["conversations"][0]
    answered = await add_call(
        business, "+14155550177", 30, missed=False, miss_reason="answered",
        text_back_status="not_missed", accepted=True,
    )  # fmt: skip
    missed = await add_call(
        business, CUSTOMER, 3, miss_reason="not_accepted",
        conversation_id=uuid.UUID(conversation["id"]),
    )  # fmt: skip
    recording = await add_voicemail(business, missed, conversation["id"])

    await log_in(page, stack, host, OWNER)
    await page.get_by_role("link", name="Calls", exact=True).click()
    item = page.locator(f'li.call[data-id="{missed}"]')
    await item.wait_for()
    text = await item.inner_text()
    assert "(415) 555-0142" in text and "Missed" in text
    assert "Voicemail picked up — nobody pressed 1" in text
    assert "Texted back" in text
    assert "My furnace is out, call me" in text and "Voicemail · 0:12" in text
    link = item.get_by_role("link", name=f"Open conversation #{conversation['ref']}")
    assert await link.get_attribute("href") == f"#/c/{conversation['id']}"
    player = item.locator("audio")
    assert await player.get_attribute("src") == f"/api/v1/voicemails/{recording}/audio"
    heard = await page.request.get(f"{host.url}/api/v1/voicemails/{recording}/audio")
    assert heard.status == 200 and heard.headers["content-type"].startswith("audio/")
    other = page.locator(f'li.call[data-id="{answered}"]')
    assert "Answered (pressed 1 to take it)" in await other.inner_text()
    order = await page.locator("li.call").evaluate_all("items => items.map(i => i.dataset.id)")
    assert order == [missed, answered]  # newest first
    assert await page.title() == "Calls · NeverMiss"
    await shot(page, "12-calls")
    await assert_accessible(page, "calls")

    # A new missed call appears without a reload (polling), in plain words.
    late = await add_call(
        business, "+14155550188", 0, miss_reason="after-hours",
        text_back_status="suppressed_opted_out",
    )  # fmt: skip
    fresh = page.locator(f'li.call[data-id="{late}"]')
    await fresh.wait_for(timeout=15_000)
    assert "After hours" in await fresh.inner_text()
    assert "they opted out of texts" in await fresh.inner_text()

    # The missed filter: only missed calls.
    await page.get_by_role("link", name="Missed", exact=True).click()
    await page.wait_for_function("location.hash === '#/calls/missed'")
    await page.locator(f'li.call[data-id="{late}"]').wait_for()
    await page.locator(f'li.call[data-id="{answered}"]').wait_for(state="detached")
    ids = await page.locator("li.call").evaluate_all("items => items.map(i => i.dataset.id)")
    assert ids == [late, missed]

    # The link opens the conversation.
    await page.locator(f'li.call[data-id="{missed}"]').get_by_role("link").click()
    await page.locator("#thread").get_by_text("Is anyone there?").wait_for()


async def test_calls_view_empty_state(stack, host, page):
    await create_business(host, stack.admin_key, owner_phone=OWNER)
    await log_in(page, stack, host, OWNER)
    await page.goto(f"{host.url}/api/app#/calls")
    await page.get_by_text("No calls yet").wait_for()
    await shot(page, "13-calls-empty")
    await assert_accessible(page, "calls-empty")


async def test_every_module_the_page_imports_is_served_as_javascript(stack, host):
    """The page is split into ES modules (<script type="module">): each import resolves to a
    file the static route serves as text/javascript, under the strict CSP."""
    names = {"app.js"}
    for path in STATIC_DIR.glob("*.js"):
        names |= set(re.findall(r'from "\./([a-z0-9_-]+\.js)"', path.read_text()))
    async with aiohttp.ClientSession() as http:
        page = await (await http.get(f"{host.url}/api/app")).text()
        assert '<script type="module" src="/api/app/static/app.js">' in page
        for name in sorted(names):
            assert (STATIC_DIR / name).is_file(), name
            response = await http.get(f"{host.url}/api/app/static/{name}")
            assert response.status == 200, name
            assert response.headers["Content-Type"].startswith("text/javascript"), name
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert names == {p.name for p in STATIC_DIR.glob("*.js")}  # no file left unused
