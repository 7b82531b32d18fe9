"""The owner's calls list (`GET /api/v1/calls`) through the registered function.

Newest first with what became of each call (reason, text-back, conversation, voicemail); an
owner sees only its own business's calls (another business's key lists its own, empty), the
admin names the business; cursor paging never repeats or skips a call, even two stamped the
same instant; `missed=` filters; bad parameters are 422.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

from shared_code.platform.db import get_pool
from tests.api.helpers import assert_error, call, create

CALLER = "+14155550142"
NOW = datetime.now(UTC).replace(microsecond=0)


def calls_request(key: str | None, **params: str) -> func.HttpRequest:
    return func.HttpRequest(
        "GET",
        "http://localhost/api/v1/calls",
        headers={"Authorization": f"Bearer {key}"} if key else {},
        params=params,
        body=b"",
    )


async def add_call(
    business: dict[str, Any],
    *,
    minutes_ago: float,
    missed: bool = True,
    reason: str = "no-answer",
    text_back: str = "sent",
    conversation_id: str | None = None,
    caller: str = CALLER,
    at: datetime | None = None,
) -> str:
    sid = "CA" + secrets.token_hex(16)
    pool = await get_pool()
    await pool.execute(
        "INSERT INTO calls (call_sid, business_id, from_number, to_number, source, dial_status,"
        " missed, miss_reason, text_back_status, answer_check, accepted, conversation_id,"
        " received_at, greeting)"
        " VALUES ($1, $2, $3, $4, 'dial-status', 'completed', $5, $6, $7, 'press_key', $8, $9,"
        " $10, $11)",
        sid, uuid.UUID(business["id"]), caller, business["phone_number"], missed,
        reason if missed else "answered", text_back if missed else "not_missed",
        not missed, uuid.UUID(conversation_id) if conversation_id else None,
        at or NOW - timedelta(minutes=minutes_ago), "text_soon" if missed else None,
    )  # fmt: skip
    return sid


async def add_conversation(business: dict[str, Any], phone: str = CALLER) -> tuple[str, int]:
    pool = await get_pool()
    row = await pool.fetchrow(
        "INSERT INTO conversations (business_id, customer_phone, opened_at)"
        " VALUES ($1, $2, now() - interval '1 day') RETURNING id, ref",
        uuid.UUID(business["id"]), phone,
    )  # fmt: skip
    return str(row["id"]), row["ref"]


async def listed(key: str, **params: str) -> dict[str, Any]:
    status, payload = await call("list_calls", calls_request(key, **params))
    assert status == 200, payload
    return payload


async def test_calls_newest_first_with_reason_text_back_conversation_and_voicemail(stack):
    business, key = await create(stack)
    conversation_id, ref = await add_conversation(business)
    old = await add_call(business, minutes_ago=30, missed=False)
    missed = await add_call(
        business, minutes_ago=5, reason="not_accepted", conversation_id=conversation_id
    )
    # A text-back suppressed for the open conversation: the call still links to it.
    again = await add_call(business, minutes_ago=1, text_back="suppressed_open_conversation")
    sid = "RE" + secrets.token_hex(16)
    await (await get_pool()).execute(
        "INSERT INTO voicemails (recording_sid, call_sid, business_id, caller, duration_seconds,"
        " blob_name, archived_at, transcript, transcription_status, conversation_id, received_at)"
        " VALUES ($1, $2, $3, $4, 7, 'x.wav', now(), 'My furnace is out', 'done', $5, $6)",
        sid, missed, uuid.UUID(business["id"]), CALLER, uuid.UUID(conversation_id),
        NOW - timedelta(minutes=4),
    )  # fmt: skip

    # No text-back and no conversation open then, but its voicemail joined one: linked to that.
    other_caller = "+14155550143"
    joined, joined_ref = await add_conversation(business, other_caller)
    await (await get_pool()).execute(
        "UPDATE conversations SET status = 'closed', closed_at = $2 WHERE id = $1",
        uuid.UUID(joined), NOW - timedelta(hours=2),
    )  # fmt: skip
    cooled = await add_call(
        business, minutes_ago=40, text_back="suppressed_cooldown", caller=other_caller
    )
    await (await get_pool()).execute(
        "INSERT INTO voicemails (recording_sid, call_sid, business_id, caller, conversation_id,"
        " received_at) VALUES ($1, $2, $3, $4, $5, $6)",
        "RE" + secrets.token_hex(16), cooled, uuid.UUID(business["id"]), other_caller,
        uuid.UUID(joined), NOW - timedelta(minutes=39),
    )  # fmt: skip
    lonely = await add_call(
        business, minutes_ago=50, text_back="suppressed_cooldown", caller=other_caller
    )

    payload = await listed(key)
    calls = payload["calls"]
    assert [c["id"] for c in calls] == [again, missed, old, cooled, lonely]
    assert payload["next_before"] is None
    first, second, third, fourth, fifth = calls
    assert (fourth["conversation_id"], fourth["conversation_ref"]) == (joined, joined_ref)
    assert fourth["voicemail"]["audio_url"] is None  # not archived yet
    assert fourth["voicemail"]["transcription_status"] == "pending"
    assert fifth["conversation_id"] is None and fifth["conversation_ref"] is None
    assert second["from"] == CALLER and second["missed"] is True
    assert second["miss_reason"] == "not_accepted" and second["text_back_status"] == "sent"
    assert second["answer_check"] == "press_key" and second["accepted"] is False
    assert (second["conversation_id"], second["conversation_ref"]) == (conversation_id, ref)
    voicemail = second["voicemail"]
    assert voicemail["recording_sid"] == sid and voicemail["duration_seconds"] == 7
    assert voicemail["transcript"] == "My furnace is out"
    assert voicemail["transcription_status"] == "done"
    assert voicemail["audio_url"] == f"/api/v1/voicemails/{sid}/audio"
    assert first["text_back_status"] == "suppressed_open_conversation"
    assert first["conversation_id"] == conversation_id and first["voicemail"] is None
    assert third["missed"] is False and third["miss_reason"] == "answered"
    assert third["text_back_status"] == "not_missed" and third["accepted"] is True
    # the caller's conversation was open then, so an answered call links to it as well
    assert third["conversation_id"] == conversation_id


async def test_an_owner_sees_only_its_own_calls_and_the_admin_names_the_business(stack):
    business, key = await create(stack)
    _, other_key = await create(
        stack, name="Bob's Salon", phone_number="+13125550199", owner_phone="+14155550111"
    )
    mine = await add_call(business, minutes_ago=2)
    assert [c["id"] for c in (await listed(other_key))["calls"]] == []
    # naming another business changes nothing for an owner key: its own (empty) list
    assert (await listed(other_key, business_id=business["id"]))["calls"] == []
    assert [c["id"] for c in (await listed(key))["calls"]] == [mine]
    admin = await listed(stack.admin_key, business_id=business["id"])
    assert [c["id"] for c in admin["calls"]] == [mine]
    status, payload = await call("list_calls", calls_request(stack.admin_key))
    assert_error(status, payload, 422, "validation_failed")
    status, payload = await call("list_calls", calls_request(None))
    assert_error(status, payload, 401, "unauthorized")


async def test_cursor_paging_neither_repeats_nor_skips_and_missed_filters(stack):
    business, key = await create(stack)
    same_instant = NOW - timedelta(minutes=10)
    sids = {await add_call(business, minutes_ago=0, at=same_instant) for _ in range(3)}
    sids |= {await add_call(business, minutes_ago=m, missed=m % 2 == 0) for m in range(1, 6)}
    seen: list[str] = []
    before = ""
    pages = 0
    while True:
        payload = await listed(key, limit="2", **({"before": before} if before else {}))
        seen += [c["id"] for c in payload["calls"]]
        pages += 1
        if payload["next_before"] is None:
            break
        before = payload["next_before"]
    assert len(seen) == len(set(seen)) == 8 and set(seen) == sids
    assert pages == 5  # 2+2+2+2, then an empty last page
    times = [c["received_at"] for c in (await listed(key))["calls"]]
    assert times == sorted(times, reverse=True)

    only_missed = (await listed(key, missed="true"))["calls"]
    answered = (await listed(key, missed="false"))["calls"]
    assert all(c["missed"] for c in only_missed) and not any(c["missed"] for c in answered)
    assert len(only_missed) + len(answered) == 8 and len(answered) == 3  # 1, 3 and 5 min ago
    # a bare time lists what came before it
    earlier = await listed(key, before=(NOW - timedelta(minutes=3, seconds=30)).isoformat())
    assert len(earlier["calls"]) == 2 + 3  # 4 and 5 minutes ago, and the three at 10


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "ten"},
        {"limit": "²"},
        {"before": "yesterday"},
        {"before": "2026-01-01T00:00:00"},  # no offset
        {"missed": "yes"},
        {"missed": "1"},
    ],
)
async def test_bad_parameters_are_422(stack, params):
    _, key = await create(stack)
    status, payload = await call("list_calls", calls_request(key, **params))
    assert_error(status, payload, 422, "validation_failed")
