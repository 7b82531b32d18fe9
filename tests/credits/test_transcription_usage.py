"""Voicemail transcription is usage like any other: priced at ingestion per audio second
(TRANSCRIPTION_PRICE_PER_MINUTE_MICRO, rounded half up), stored with its audio seconds, debited
once per event id, by both ways in (statement and COPY)."""

from __future__ import annotations

import pytest

from shared_code.credits import pricing, usage_store
from shared_code.platform.db import get_pool
from tests.credits.test_ledger import SIGNUP, assert_balances_match_ledgers, deliver, usage_event
from tests.helpers import create_business


@pytest.mark.parametrize(
    ("seconds", "per_minute", "micro"),
    [(14, 3000, 700), (1, 3000, 50), (1, 10, 0), (3, 10, 1), (90, 6000, 9000), (0, 3000, 0)],
)
def test_transcription_is_priced_per_audio_second_rounded_half_up(
    configure, seconds, per_minute, micro
):
    configure(TRANSCRIPTION_PRICE_PER_MINUTE_MICRO=str(per_minute))
    price = pricing.price_transcription(seconds)
    assert price.cost_micro == micro and price.priced_by == "transcription-rate"


def transcription(business_id, sid="RE" + "a" * 32, seconds=14) -> dict:
    return usage_event(
        business_id, kind="transcription", recording_sid=sid, audio_seconds=seconds,
        model="gpt-4o-mini-transcribe",
    )  # fmt: skip


async def test_a_transcription_event_is_stored_and_debited_once(stack):
    business, _ = await create_business()
    event = transcription(business.id)
    for _ in range(3):  # Event Grid delivers at least once
        await deliver(event)
    pool = await get_pool()
    row = await pool.fetchrow("SELECT * FROM usage_events")
    assert row["kind"] == "transcription" and row["audio_seconds"] == 14
    assert row["cost_micro"] == 700 and row["model"] == "gpt-4o-mini-transcribe"
    assert await pool.fetchval("SELECT balance_micro FROM businesses") == SIGNUP - 700
    await assert_balances_match_ledgers()


@pytest.mark.parametrize("copy_from", [10**9, 1], ids=["statement", "copy"])
async def test_both_ways_in_store_audio_seconds(stack, monkeypatch, copy_from):
    monkeypatch.setattr(usage_store, "COPY_MIN_BATCH", copy_from)
    business, _ = await create_business()
    events = [transcription(business.id, sid=f"RE{i:032d}", seconds=30) for i in range(4)]
    batch = [
        usage_store.price_event(e["id"], None, usage_store.UsageRecorded.model_validate(e["data"]))
        for e in events
    ]
    assert (await usage_store.ingest(batch)).inserted == 4
    pool = await get_pool()
    assert await pool.fetchval("SELECT sum(audio_seconds) FROM usage_events") == 120
    assert await pool.fetchval("SELECT balance_micro FROM businesses") == SIGNUP - 4 * 1500
