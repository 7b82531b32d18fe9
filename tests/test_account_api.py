"""The account, usage and top-up endpoints, and the AI conversation's cost end to end."""

from __future__ import annotations

import csv
import io
import json

import azure.functions as func

from shared_code.platform import events
from shared_code.platform.db import get_pool
from tests.fakes.openai_api import Scripted
from tests.helpers import create_business, deliver_events, drain_messages_queue, post, text_in

CUSTOMER = "+13125550123"
SIGNUP = 5_000_000


def _get(path: str, key: str, params: dict | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        "GET", f"http://localhost/api/{path}", headers={"Authorization": f"Bearer {key}"},
        params=params or {}, body=b"",
    )  # fmt: skip


def _top_up(business_id, key: str, body: object) -> func.HttpRequest:
    return func.HttpRequest(
        "POST", f"http://localhost/api/v1/businesses/{business_id}/credits",
        headers={"Authorization": f"Bearer {key}"}, route_params={"business_id": str(business_id)},
        body=json.dumps(body).encode(),
    )  # fmt: skip


async def _account(key: str, params: dict | None = None) -> dict:
    response = await post("read_account", _get("v1/account", key, params))
    assert response.status_code == 200, response.get_body()
    return json.loads(response.get_body())["account"]


async def test_ai_conversation_cost_shows_in_usage_and_moves_the_balance_exactly(stack, configure):
    configure(OPENAI_API_KEY=stack.openai.api_key)
    business, key = await create_business()
    stack.openai.script(
        Scripted.text("Sorry to hear that! What's your name?", prompt_tokens=900,
                      completion_tokens=14, cached_tokens=0),
        Scripted.text("Thanks Dana! What's the address or ZIP?", prompt_tokens=1100,
                      completion_tokens=12, cached_tokens=768),
    )  # fmt: skip
    for body in ("my water heater is leaking", "Dana"):
        await text_in(CUSTOMER, business.phone_number, body)
        await drain_messages_queue()
    assert len(stack.twilio.to(CUSTOMER)) == 2
    # Event Grid brings every usage event to the usage logger (some twice).
    usage_events = stack.topic.of_type(events.USAGE_RECORDED)
    assert sorted(e["data"]["kind"] for e in usage_events) == ["ai", "ai", "sms", "sms"]
    await deliver_events("usage_logger", usage_events, times=2)

    response = await post("read_usage", _get("v1/usage", key))
    usage = json.loads(response.get_body())
    by_kind = {row["kind"]: row for row in usage["usage"]}
    assert by_kind["ai"]["events"] == 2 and by_kind["ai"]["model"] == "gpt-4o-mini"
    assert by_kind["ai"]["input_tokens"] == 2000 and by_kind["ai"]["cached_tokens"] == 768
    assert by_kind["sms"]["events"] == 2 and by_kind["sms"]["segments"] == 2
    account = await _account(key)
    assert account["balance_micro"] == SIGNUP - usage["total_cost_micro"]
    assert usage["total_cost_micro"] > 2 * 8300  # the model calls cost something
    assert account["reserved_micro"] == 0  # both holds settled by their usage

    csv_response = await post("read_usage", _get("v1/usage", key, {"format": "csv"}))
    assert csv_response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(csv_response.get_body().decode())))
    assert sum(int(r["cost_micro"]) for r in rows) == usage["total_cost_micro"]


async def test_without_credit_the_assistant_falls_back_and_the_owner_is_told(stack, configure):
    configure(OPENAI_API_KEY=stack.openai.api_key, SIGNUP_CREDIT_MICRO="0")
    business, _ = await create_business()
    await text_in(CUSTOMER, business.phone_number, "my sink is clogged")
    await drain_messages_queue()
    assert stack.openai.requests == []  # no model call without credit
    [reply] = stack.twilio.to(CUSTOMER)
    assert "name" in reply["Body"].lower()  # the scripted intake answered
    [low] = stack.topic.of_type(events.CREDITS_LOW)
    assert low["data"]["reason"] == "exhausted"
    await deliver_events("notifications", [low], times=2)
    [alert] = stack.twilio.to(business.owner_phone)
    assert "credits ran out" in alert["Body"]


async def test_top_up_by_admin_with_idempotency_key(stack):
    business, owner_key = await create_business()
    body = {"amount_micro": 20_000_000, "idempotency_key": "invoice-42", "note": "card"}
    first = await post("top_up", _top_up(business.id, stack.admin_key, body))
    assert first.status_code == 201
    replay = await post("top_up", _top_up(business.id, stack.admin_key, body))
    assert replay.status_code == 200 and json.loads(replay.get_body())["replayed"]
    reused = await post(
        "top_up", _top_up(business.id, stack.admin_key, {**body, "amount_micro": 1})
    )
    assert reused.status_code == 409
    by_owner = await post("top_up", _top_up(business.id, owner_key, body))
    assert by_owner.status_code == 403
    for bad in (
        {"amount_micro": 0, "idempotency_key": "x"},
        {"amount_micro": 5},
        {"amount_micro": 1.5, "idempotency_key": "x"},
    ):
        assert (await post("top_up", _top_up(business.id, stack.admin_key, bad))).status_code == 422
    account = await _account(owner_key)
    assert account["balance_micro"] == SIGNUP + 20_000_000
    assert [e["kind"] for e in account["recent_entries"]] == ["topup", "adjustment"]
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM credit_ledger") == 2


async def test_an_owner_sees_only_its_own_account_and_usage(stack):
    business, key = await create_business()
    other, other_key = await create_business(phone_number="+13125550177")
    await post(
        "top_up",
        _top_up(other.id, stack.admin_key, {"amount_micro": 7, "idempotency_key": "o"}),
    )
    mine = await _account(key, {"business_id": str(other.id)})  # the parameter is ignored
    assert mine["balance_micro"] == SIGNUP
    admin_view = await _account(stack.admin_key, {"business_id": str(other.id)})
    assert admin_view["balance_micro"] == SIGNUP + 7
    missing = await post("read_account", _get("v1/account", stack.admin_key))
    assert missing.status_code == 422
    bad_range = await post("read_usage", _get("v1/usage", key, {"from": "2026-02-30"}))
    assert bad_range.status_code == 422
    del other_key, business
