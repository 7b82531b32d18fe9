"""The account, usage, top-up and check-in endpoints, and the AI conversation's cost end to end."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import azure.functions as func

from shared_code import contracts
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
    usage_events = stack.topic.of_type(contracts.UsageRecorded.type)
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
    [low] = stack.topic.of_type(contracts.CreditsLow.type)
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


async def _usage_event(business_id, kind: str, at: str, cost_micro: int, **counts: int) -> None:
    pool = await get_pool()
    await pool.execute(
        "INSERT INTO usage_events (event_id, business_id, kind, model, input_tokens,"
        " cached_tokens, output_tokens, segments, batch_id, cost_micro, priced_by, occurred_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $1, $9, 'test', $10)",
        uuid.uuid4(), business_id, kind, "gpt-4o-mini" if kind == "ai" else None,
        counts.get("input"), counts.get("cached"), counts.get("output"), counts.get("segments"),
        cost_micro, datetime.fromisoformat(at),
    )  # fmt: skip


async def test_usage_is_grouped_by_the_business_local_day_kind_and_model(stack):
    business, key = await create_business(time_zone="America/Chicago")  # UTC-5 in March 2026
    other, _ = await create_business(phone_number="+13125550177")
    await _usage_event(business.id, "ai", "2026-03-10T04:30:00+00:00", 100, input=10, output=2)
    await _usage_event(business.id, "ai", "2026-03-10T05:30:00+00:00", 200, input=30, cached=8,
                       output=4)  # fmt: skip
    await _usage_event(business.id, "ai", "2026-03-10T20:00:00+00:00", 300, input=5, output=1)
    await _usage_event(business.id, "sms", "2026-03-10T21:00:00+00:00", 79, segments=2)
    await _usage_event(other.id, "sms", "2026-03-10T21:00:00+00:00", 79, segments=1)

    both_days = {"from": "2026-03-09", "to": "2026-03-10"}
    usage = json.loads((await post("read_usage", _get("v1/usage", key, both_days))).get_body())
    assert usage["time_zone"] == "America/Chicago" and usage["total_cost_micro"] == 679
    assert usage["usage"] == [
        {"day": "2026-03-09", "kind": "ai", "model": "gpt-4o-mini", "events": 1,
         "input_tokens": 10, "cached_tokens": 0, "output_tokens": 2, "segments": 0,
         "cost_micro": 100},
        {"day": "2026-03-10", "kind": "ai", "model": "gpt-4o-mini", "events": 2,
         "input_tokens": 35, "cached_tokens": 8, "output_tokens": 5, "segments": 0,
         "cost_micro": 500},
        {"day": "2026-03-10", "kind": "sms", "model": "", "events": 1, "input_tokens": 0,
         "cached_tokens": 0, "output_tokens": 0, "segments": 2, "cost_micro": 79},
    ]  # fmt: skip
    one_day = {"from": "2026-03-10", "to": "2026-03-10", "format": "csv"}
    csv_body = (await post("read_usage", _get("v1/usage", key, one_day))).get_body().decode()
    header, *lines = csv_body.splitlines()
    assert (
        header
        == "day,kind,model,events,input_tokens,cached_tokens,output_tokens,segments,cost_micro"
    )
    assert lines == ["2026-03-10,ai,gpt-4o-mini,2,35,8,5,0,500", "2026-03-10,sms,,1,0,0,0,2,79"]
    for bad in (
        {"from": "2026-03-10", "to": "2026-03-09"},
        {"from": "2025-01-01", "to": "2026-03-10"},
    ):
        response = await post("read_usage", _get("v1/usage", key, bad))
        assert response.status_code == 422


async def test_usage_without_dates_ends_on_the_business_local_today(stack):
    """UTC+14 and UTC-11 are 25 hours apart, so at any moment at least one of them is not on
    the server's (UTC) date: with the server's date as the default, one of these fails."""
    for number, zone in (
        ("+13125550171", "Pacific/Kiritimati"),
        ("+13125550172", "Pacific/Pago_Pago"),
    ):
        business, key = await create_business(phone_number=number, time_zone=zone)
        now = datetime.now(UTC)
        await _usage_event(business.id, "sms", now.isoformat(), 79, segments=1)
        usage = json.loads((await post("read_usage", _get("v1/usage", key))).get_body())
        local_days = {now.astimezone(ZoneInfo(zone)).date(), datetime.now(ZoneInfo(zone)).date()}
        assert date.fromisoformat(usage["to"]) in local_days, (zone, usage["to"])
        assert (date.fromisoformat(usage["to"]) - date.fromisoformat(usage["from"])).days == 30
        assert [line["segments"] for line in usage["usage"]] == [1], zone  # today's text shows
        only_to = {"to": "2026-01-31"}
        bounded = json.loads((await post("read_usage", _get("v1/usage", key, only_to))).get_body())
        assert (bounded["from"], bounded["to"]) == ("2026-01-01", "2026-01-31")


def _check_in(key: str, body: bytes, params: dict | None = None) -> func.HttpRequest:
    return func.HttpRequest(
        "POST", "http://localhost/api/v1/activity", headers={"Authorization": f"Bearer {key}"},
        params=params or {}, body=body,
    )  # fmt: skip


async def test_check_in_defaults_its_kind_and_publishes_the_event_it_answers_with(stack):
    business, key = await create_business()
    response = await post("record_activity", _check_in(key, b""))
    assert response.status_code == 202
    answer = json.loads(response.get_body())
    [published] = stack.topic.of_type(contracts.ActivityRecorded.type)
    assert answer == {"event_id": published["id"], "kind": "check_in"}
    assert published["data"]["business_id"] == str(business.id)
    assert published["data"]["kind"] == "check_in"
    pool = await get_pool()
    assert await pool.fetchval("SELECT published_at IS NOT NULL FROM outbox") is True

    by_admin = await post(
        "record_activity",
        _check_in(stack.admin_key, b'{"kind": "lead_marked"}', {"business_id": str(business.id)}),
    )
    assert by_admin.status_code == 202 and json.loads(by_admin.get_body())["kind"] == "lead_marked"
    for request, status in (
        (_check_in(key, b'{"kind": "takeover"}'), 422),  # the relay's to record, not the owner's
        (_check_in(key, b"[]"), 400),
        (_check_in(stack.admin_key, b"{}"), 422),  # an admin names the business
        (_check_in(stack.admin_key, b"{}", {"business_id": str(uuid.uuid4())}), 404),
    ):
        assert (await post("record_activity", request)).status_code == status
    assert len(stack.topic.of_type(contracts.ActivityRecorded.type)) == 2
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 2


async def test_top_up_of_a_malformed_or_unknown_business_is_404_and_writes_nothing(stack):
    body = {"amount_micro": 1_000, "idempotency_key": "k"}
    for business_id in ("not-a-uuid", str(uuid.uuid4())):
        response = await post("top_up", _top_up(business_id, stack.admin_key, body))
        assert response.status_code == 404
        assert json.loads(response.get_body())["error"]["code"] == "not_found"
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM credit_ledger") == 0
