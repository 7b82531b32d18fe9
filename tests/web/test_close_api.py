"""`POST /api/v1/conversations/{id}/close` (the inbox's Close button): the owner's key or
session closes its own conversation, once; another business's is "not found"."""

from __future__ import annotations

import azure.functions as func

from tests.api.helpers import call, create
from tests.api.test_conversations_api import add_conversation


def close_request(key: str, conversation_id: str) -> func.HttpRequest:
    return func.HttpRequest(
        "POST",
        f"http://localhost/api/v1/conversations/{conversation_id}/close",
        headers={"Authorization": f"Bearer {key}"},
        route_params={"conversation_id": conversation_id},
        body=b"",
    )


async def test_close_is_the_owners_and_idempotent(stack):
    business, key = await create(stack)
    _, other_key = await create(stack, phone_number="+13125550199", owner_phone="+14155550111")
    conversation_id = await add_conversation(business["id"], "+14155550142")

    status, payload = await call("close_conversation", close_request(other_key, conversation_id))
    assert status == 404 and payload["error"]["code"] == "not_found"

    status, payload = await call("close_conversation", close_request(key, conversation_id))
    assert status == 200, payload
    assert payload["conversation"]["status"] == "closed" and payload["outcome"] == "closed"
    closed_at = payload["conversation"]["closed_at"]
    status, payload = await call("close_conversation", close_request(key, conversation_id))
    assert status == 200 and payload["conversation"]["closed_at"] == closed_at
