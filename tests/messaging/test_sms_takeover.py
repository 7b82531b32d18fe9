"""The owner takes a conversation over (by SMS or API), the assistant pauses, release resumes."""

from __future__ import annotations

import json

import azure.functions as func

from shared_code.platform.db import get_pool
from tests.helpers import create_business, drain_messages_queue, post, text_in

CUSTOMER, OTHER = "+13125550123", "+13125550199"


async def _say(business, sender: str, body: str) -> None:
    await text_in(sender, business.phone_number, body)
    await drain_messages_queue()


async def _conversation(phone: str = CUSTOMER):
    pool = await get_pool()
    return await pool.fetchrow(
        "SELECT * FROM conversations WHERE customer_phone = $1 ORDER BY opened_at DESC LIMIT 1",
        phone,
    )


def _api(
    method: str, path: str, key: str, route_params: dict, body: object = None
) -> func.HttpRequest:
    return func.HttpRequest(
        method,
        f"http://localhost/api/{path}",
        headers={"Authorization": f"Bearer {key}"},
        route_params=route_params,
        body=json.dumps(body).encode() if body is not None else b"",
    )


async def test_owner_sms_takes_over_relays_and_release_resumes(stack):
    business, _ = await create_business()
    await _say(business, CUSTOMER, "my sink is leaking")
    assert len(stack.twilio.to(CUSTOMER)) == 1
    ref = (await _conversation())["ref"]

    await _say(business, business.owner_phone, f"#{ref} On my way, 20 minutes")
    texts = stack.twilio.to(CUSTOMER)
    assert (
        texts[-1]["Body"] == "On my way, 20 minutes" and texts[-1]["From"] == business.phone_number
    )
    conversation = await _conversation()
    assert conversation["mode"] == "owner"

    await _say(business, CUSTOMER, "great, the door code is 1234")
    assert len(stack.twilio.to(CUSTOMER)) == 2  # the assistant stays quiet
    relayed = stack.twilio.to(business.owner_phone)[-1]["Body"]
    assert f"#{ref}" in relayed and "door code is 1234" in relayed and CUSTOMER in relayed

    await _say(business, business.owner_phone, f"#{ref} release")
    assert (await _conversation())["mode"] == "assistant"
    assert "back with the assistant" in stack.twilio.to(business.owner_phone)[-1]["Body"]
    assert len(stack.twilio.to(CUSTOMER)) == 2  # already answered by the owner: no re-answer
    await _say(business, CUSTOMER, "also my name is Dana")
    assert len(stack.twilio.to(CUSTOMER)) == 3
    pool = await get_pool()
    authors = [r["author"] for r in await pool.fetch("SELECT author FROM messages ORDER BY id")]
    assert authors.count("owner") == 1 and authors[-1] == "assistant"


async def test_owner_without_ref_is_asked_to_pick_when_several_are_open(stack):
    business, _ = await create_business()
    await _say(business, CUSTOMER, "leaky faucet")
    await _say(business, OTHER, "clogged drain")
    await _say(business, business.owner_phone, "On my way")
    assert len(stack.twilio.to(CUSTOMER)) == 1 and len(stack.twilio.to(OTHER)) == 1
    notice = stack.twilio.to(business.owner_phone)[-1]["Body"]
    assert "Several open" in notice and CUSTOMER in notice and OTHER in notice


async def test_owner_without_ref_and_one_open_conversation_reaches_it(stack):
    business, _ = await create_business()
    await _say(business, CUSTOMER, "leaky faucet")
    await _say(business, business.owner_phone, "Coming at 3")
    assert stack.twilio.to(CUSTOMER)[-1]["Body"] == "Coming at 3"


async def test_owner_idle_timeout_hands_back_to_the_assistant(stack, configure):
    business, _ = await create_business()
    await _say(business, CUSTOMER, "leaky faucet")
    ref = (await _conversation())["ref"]
    await _say(business, business.owner_phone, f"#{ref} I'll call you")
    pool = await get_pool()
    await pool.execute("UPDATE conversations SET owner_active_at = now() - interval '31 minutes'")
    await _say(business, CUSTOMER, "hello? still there?")
    assert len(stack.twilio.to(CUSTOMER)) == 3  # the assistant answered again
    assert (await _conversation())["mode"] == "assistant"


async def test_owner_text_to_an_opted_out_customer_is_refused(stack):
    business, _ = await create_business()
    await _say(business, CUSTOMER, "leaky faucet")
    ref = (await _conversation())["ref"]
    await _say(business, CUSTOMER, "STOP")
    await _say(business, business.owner_phone, f"#{ref} are you sure?")
    assert len(stack.twilio.to(CUSTOMER)) == 1
    assert f"No open conversation #{ref}" in stack.twilio.to(business.owner_phone)[-1]["Body"]


async def test_duplicate_owner_text_relays_once(stack):
    business, _ = await create_business()
    await _say(business, CUSTOMER, "leaky faucet")
    for _ in range(3):
        await text_in(
            business.owner_phone, business.phone_number, "On my way", MessageSid="SM" + "a" * 32
        )
    await drain_messages_queue(concurrently=True)
    assert [t["Body"] for t in stack.twilio.to(CUSTOMER)].count("On my way") == 1


async def test_api_takeover_send_release_and_list(stack):
    business, key = await create_business()
    other_business, other_key = await create_business(phone_number="+13125550177")
    await _say(business, CUSTOMER, "leaky faucet")
    conversation = await _conversation()
    cid = str(conversation["id"])
    params = {"conversation_id": cid}

    listed = await post("list_conversations", _api("GET", "v1/conversations", key, {}))
    assert [c["id"] for c in json.loads(listed.get_body())["conversations"]] == [cid]
    foreign = await post("list_conversations", _api("GET", "v1/conversations", other_key, {}))
    assert json.loads(foreign.get_body())["conversations"] == []
    hidden = await post(
        "read_conversation", _api("GET", f"v1/conversations/{cid}", other_key, params)
    )
    assert hidden.status_code == 404
    stolen = await post(
        "send_owner_message",
        _api("POST", f"v1/conversations/{cid}/messages", other_key, params, {"body": "hi"}),
    )
    assert stolen.status_code == 404 and len(stack.twilio.to(CUSTOMER)) == 1

    taken = await post(
        "take_over_conversation", _api("POST", f"v1/conversations/{cid}/takeover", key, params)
    )
    assert (
        taken.status_code == 200 and json.loads(taken.get_body())["conversation"]["mode"] == "owner"
    )
    await _say(business, CUSTOMER, "when can you come?")
    assert len(stack.twilio.to(CUSTOMER)) == 1  # paused

    bad = await post(
        "send_owner_message",
        _api("POST", f"v1/conversations/{cid}/messages", key, params, {"body": ""}),
    )
    assert bad.status_code == 422 and len(stack.twilio.to(CUSTOMER)) == 1
    sent = await post(
        "send_owner_message",
        _api("POST", f"v1/conversations/{cid}/messages", key, params, {"body": "Tomorrow 9am"}),
    )
    assert sent.status_code == 200 and stack.twilio.to(CUSTOMER)[-1]["Body"] == "Tomorrow 9am"

    await _say(business, CUSTOMER, "perfect, thanks")
    assert "perfect, thanks" in stack.twilio.to(business.owner_phone)[-1]["Body"]  # relayed
    released = await post(
        "release_conversation", _api("POST", f"v1/conversations/{cid}/release", key, params)
    )
    assert json.loads(released.get_body())["conversation"]["mode"] == "assistant"
    await drain_messages_queue()
    assert len(stack.twilio.to(CUSTOMER)) == 2  # relayed texts count as seen by the owner
    await _say(business, CUSTOMER, "oh, and it's urgent")
    assert len(stack.twilio.to(CUSTOMER)) == 3  # the assistant is back

    detail = await post("read_conversation", _api("GET", f"v1/conversations/{cid}", key, params))
    messages = json.loads(detail.get_body())["messages"]
    assert [m["author"] for m in messages] == [
        "customer", "assistant", "customer", "owner", "customer", "customer", "assistant",
    ]  # fmt: skip
    del other_business
