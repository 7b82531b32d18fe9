"""The owner's conversations API through the registered functions: scope and validation.

The list filters by status, caps the limit and puts the newest first, and an owner lists only its
own business's conversations while the admin must name one; a foreign, unknown or malformed
conversation id is the same 404 for every conversation function and changes nothing; the admin
reads any conversation with its messages in the order they happened. The businesses API is in
test_businesses_api.py; the request helpers both use are in helpers.py.
"""

from __future__ import annotations

import json
import uuid

import azure.functions as func
import pytest

from shared_code.platform.db import get_pool
from tests.api.helpers import assert_error, call, create


def conversations_request(
    name: str, key: str, *, conversation_id: str | None = None, params: dict | None = None
) -> func.HttpRequest:
    method = "GET" if name in ("list_conversations", "read_conversation") else "POST"
    suffix = {"take_over_conversation": "/takeover", "release_conversation": "/release"}
    path = "v1/conversations" + (f"/{conversation_id}" if conversation_id else "")
    path += "/messages" if name == "send_owner_message" else suffix.get(name, "")
    return func.HttpRequest(
        method,
        f"http://localhost/api/{path}",
        headers={"Authorization": f"Bearer {key}"},
        params=params or {},
        route_params={"conversation_id": conversation_id} if conversation_id else {},
        body=json.dumps({"body": "hi"}).encode() if name == "send_owner_message" else b"",
    )


async def add_conversation(
    business_id: str, phone: str, *, status: str = "open", minutes_ago: int = 0
) -> str:
    pool = await get_pool()
    conversation_id = await pool.fetchval(
        "INSERT INTO conversations (business_id, customer_phone, status, last_activity_at)"
        " VALUES ($1, $2, $3, now() - make_interval(mins => $4)) RETURNING id",
        uuid.UUID(business_id), phone, status, minutes_ago,
    )  # fmt: skip
    return str(conversation_id)


async def listed(key: str, **params: str) -> list[str]:
    status, payload = await call(
        "list_conversations", conversations_request("list_conversations", key, params=params)
    )
    assert status == 200, payload
    return [c["id"] for c in payload["conversations"]]


async def test_conversation_list_filters_by_status_limits_and_puts_the_newest_first(stack):
    a, key_a = await create(stack)
    b, key_b = await create(stack, name="Bravo Bakery", phone_number="+13125550177")
    older = await add_conversation(a["id"], "+13125550101", minutes_ago=30)
    newer = await add_conversation(a["id"], "+13125550102", minutes_ago=5)
    closed = await add_conversation(a["id"], "+13125550103", status="closed", minutes_ago=1)
    theirs = await add_conversation(b["id"], "+13125550101")

    assert await listed(key_a) == [newer, older]
    assert await listed(key_a, status="closed") == [closed]
    assert await listed(key_a, status="all", limit="2") == [closed, newer]
    assert await listed(key_a, limit="0") == [newer]  # clamped to at least one
    assert await listed(key_a, business_id=b["id"]) == [newer, older]  # an owner's is its own
    assert await listed(key_b) == [theirs]
    assert await listed(stack.admin_key, business_id=b["id"]) == [theirs]
    for params in ({}, {"business_id": "nope"}):
        req = conversations_request("list_conversations", stack.admin_key, params=params)
        assert_error(*await call("list_conversations", req), 422, "validation_failed")
    for params in ({"status": "pending"}, {"limit": "ten"}):
        req = conversations_request("list_conversations", key_a, params=params)
        assert_error(*await call("list_conversations", req), 422, "validation_failed")


@pytest.mark.parametrize(
    "name",
    ["read_conversation", "take_over_conversation", "release_conversation", "send_owner_message"],
)
async def test_a_foreign_unknown_or_malformed_conversation_is_the_same_404(stack, name):
    _, key_a = await create(stack)
    b, _ = await create(stack, name="Bravo Bakery", phone_number="+13125550177")
    theirs = await add_conversation(b["id"], "+13125550101")
    answers = []
    for conversation_id in (theirs, str(uuid.uuid4()), "not-a-uuid"):
        req = conversations_request(name, key_a, conversation_id=conversation_id)
        status, payload = await call(name, req)
        assert_error(status, payload, 404, "not_found")
        answers.append(payload)
    assert answers[0] == answers[1] == answers[2]
    pool = await get_pool()
    row = await pool.fetchrow("SELECT mode, status FROM conversations WHERE id = $1", theirs)
    assert dict(row) == {"mode": "assistant", "status": "open"}
    assert await pool.fetchval("SELECT count(*) FROM messages") == 0


async def test_admin_reads_any_conversation_with_its_messages_in_the_order_they_happened(stack):
    b, _ = await create(stack)
    conversation_id = await add_conversation(b["id"], "+13125550101")
    pool = await get_pool()
    for author, direction, body, seconds_ago in (
        ("assistant", "outbound", "second", 20),  # written first, happened second
        ("customer", "inbound", "first", 30),
        ("customer", "inbound", "third", 10),
    ):
        await pool.execute(
            "INSERT INTO messages (conversation_id, direction, author, body, received_at)"
            " VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5))",
            uuid.UUID(conversation_id), direction, author, body, seconds_ago,
        )  # fmt: skip
    req = conversations_request(
        "read_conversation", stack.admin_key, conversation_id=conversation_id
    )
    status, payload = await call("read_conversation", req)
    assert status == 200
    assert payload["conversation"]["id"] == conversation_id
    assert payload["conversation"]["business_id"] == b["id"]
    assert [m["body"] for m in payload["messages"]] == ["first", "second", "third"]
