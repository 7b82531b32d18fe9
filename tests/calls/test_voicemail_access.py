"""Who can hear a voicemail, and for how long: the signed listen link in the owner's alert, the
owner API (tenant rules: another business's key gets 404), and the retention timer that purges
old audio. And the alert itself: the whole text fits two SMS segments, however long the
transcript."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from shared_code import contracts
from shared_code.businesses.store import Business
from shared_code.messaging import owner_alerts
from shared_code.platform import blobs, signed_links
from shared_code.platform.db import get_pool
from shared_code.platform.sms_segments import count_segments
from tests.calls.voicemail_helpers import (
    CALLER,
    make_wav,
    missed_call,
    recording_sid,
    report_body,
    run_task,
    voicemail_row,
)
from tests.helpers import app_function, create_business, deliver_events

SECRET = "test-link-secret"


@pytest.fixture
def links(stack, configure):
    configure(TRANSCRIPTION="none", LINK_SIGNING_SECRET=SECRET)


async def a_voicemail(stack, business: Business, audio: bytes | None = None) -> str:
    call = await missed_call(business)
    sid = recording_sid()
    url = stack.twilio.add_recording(sid, audio or make_wav())
    await run_task(report_body(sid, call, url))
    return sid


def get(path: str, params: dict[str, str] | None = None, key: str = "") -> func.HttpRequest:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    sid = path.split("/")[-2]
    return func.HttpRequest(
        "GET",
        f"http://10.0.0.4/api/{path}",
        headers=headers,
        params=params or {},
        route_params={"recording_sid": sid},
        body=b"",
    )


async def call(name: str, request: func.HttpRequest) -> func.HttpResponse:
    response: func.HttpResponse = await app_function(name)(request)
    return response


def link_params(link: str) -> dict[str, str]:
    query = link.split("?", 1)[1]
    return dict(part.split("=", 1) for part in query.split("&"))


async def test_the_alert_link_plays_the_audio_and_a_tampered_or_expired_one_does_not(stack, links):
    business, _ = await create_business()
    audio = make_wav(1.2)
    sid = await a_voicemail(stack, business, audio)
    await deliver_events("notifications", stack.topic.of_type(contracts.VoicemailReceived.type))
    (alert,) = stack.twilio.to(business.owner_phone)
    link = re.search(r"https://\S+", alert["Body"]).group(0)
    params = link_params(link)
    path = f"voicemails/{sid}/audio"

    ok = await call("voicemail_listen", get(path, params))
    assert ok.status_code == 200 and ok.mimetype == "audio/wav" and ok.get_body() == audio
    assert "no-store" in ok.headers["Cache-Control"]

    tampered = {**params, "s": params["s"][:-2] + ("AA" if params["s"][-2:] != "AA" else "BB")}
    longer = {**params, "e": str(int(params["e"]) + 86_400)}  # a later expiry, same signature
    for bad in (tampered, longer, {"e": params["e"]}, {}):
        denied = await call("voicemail_listen", get(path, bad))
        assert denied.status_code == 403, bad
        assert json.loads(denied.get_body())["error"]["code"] == "forbidden"
    # Another recording's signature does not open this one.
    other = signed_links.listen_link(recording_sid())
    assert (await call("voicemail_listen", get(path, link_params(other)))).status_code == 403
    # Expired: signed for a time already past.
    past = int(time.time()) - 60
    expired = {"e": str(past), "s": signed_links.signature(sid, past)}
    assert (await call("voicemail_listen", get(path, expired))).status_code == 403
    # Well signed but unknown: 404.
    unknown = recording_sid()
    found = await call(
        "voicemail_listen",
        get(f"voicemails/{unknown}/audio", link_params(signed_links.listen_link(unknown))),
    )
    assert found.status_code == 404


async def test_no_signing_secret_no_link_and_every_link_refused(stack, configure):
    configure(TRANSCRIPTION="none", LINK_SIGNING_SECRET="")
    business, _ = await create_business()
    sid = await a_voicemail(stack, business)
    await deliver_events("notifications", stack.topic.of_type(contracts.VoicemailReceived.type))
    (alert,) = stack.twilio.to(business.owner_phone)
    assert "http" not in alert["Body"] and "open the NeverMiss inbox or API" in alert["Body"]
    forged = {"e": str(int(time.time()) + 3600), "s": "x"}
    response = await call("voicemail_listen", get(f"voicemails/{sid}/audio", forged))
    assert response.status_code == 403


async def test_the_owner_api_lists_and_plays_only_its_own_voicemails(stack, links):
    business, key = await create_business()
    other, other_key = await create_business(
        name="Other Co", phone_number="+15005550009", owner_phone="+14155550199"
    )
    audio = make_wav(0.5)
    sid = await a_voicemail(stack, business, audio)

    listed = await call("list_voicemails", get("v1/voicemails/x", key=key))
    assert listed.status_code == 200
    (item,) = json.loads(listed.get_body())["voicemails"]
    assert item["recording_sid"] == sid and item["caller"] == CALLER
    assert item["audio_url"] == f"/api/v1/voicemails/{sid}/audio"
    assert item["transcription_status"] == "none"

    mine = await call("voicemail_audio", get(f"v1/voicemails/{sid}/audio", key=key))
    assert mine.status_code == 200 and mine.get_body() == audio and mine.mimetype == "audio/wav"
    theirs = await call("voicemail_audio", get(f"v1/voicemails/{sid}/audio", key=other_key))
    assert theirs.status_code == 404
    assert json.loads(theirs.get_body())["error"]["code"] == "not_found"
    other_list = await call("list_voicemails", get("v1/voicemails/x", key=other_key))
    assert json.loads(other_list.get_body())["voicemails"] == []
    nobody = await call("voicemail_audio", get(f"v1/voicemails/{sid}/audio"))
    assert nobody.status_code == 401
    admin = await call("voicemail_audio", get(f"v1/voicemails/{sid}/audio", key=stack.admin_key))
    assert admin.status_code == 200
    assert other.id != business.id


@pytest.mark.parametrize(
    "expiry", ["\u00b2", "1\u00b2", "\u0661\u0662"], ids=["sup2", "1sup2", "arabic"]
)
async def test_a_non_ascii_digit_expiry_is_refused_not_a_server_error(stack, links, expiry):
    """str.isdigit() takes "²" (and Arabic-Indic digits int() would read): the anonymous
    listen route must answer 403, never 500."""
    business, _ = await create_business()
    sid = await a_voicemail(stack, business)
    assert not signed_links.verify(sid, expiry, "x")
    response = await call(
        "voicemail_listen", get(f"voicemails/{sid}/audio", {"e": expiry, "s": "x"})
    )
    assert response.status_code == 403


async def test_a_non_ascii_digit_limit_is_a_validation_error(stack, links):
    _, key = await create_business()
    response = await call("list_voicemails", get("v1/voicemails/x", {"limit": "\u00b2"}, key=key))
    assert response.status_code == 422
    assert json.loads(response.get_body())["error"]["code"] == "validation_failed"


async def test_the_retention_timer_purges_old_audio_only(stack, links, configure):
    configure(TRANSCRIPTION="none", LINK_SIGNING_SECRET=SECRET, VOICEMAIL_RETENTION_DAYS="30")
    business, key = await create_business()
    old, new = await a_voicemail(stack, business), await a_voicemail(stack, business)
    pool = await get_pool()
    await pool.execute(
        "UPDATE voicemails SET received_at = now() - interval '31 days' WHERE recording_sid = $1",
        old,
    )

    await app_function("voicemail_retention")(TimerRequest(past_due=False))
    await app_function("voicemail_retention")(TimerRequest(past_due=True))  # idempotent

    assert await blobs.names() == [f"{business.id}/{new}.wav"]
    assert (await voicemail_row(old))["purged_at"] is not None
    assert (await voicemail_row(new))["purged_at"] is None
    link = signed_links.listen_link(old)
    gone = await call("voicemail_listen", get(f"voicemails/{old}/audio", link_params(link)))
    assert gone.status_code == 404
    api = await call("voicemail_audio", get(f"v1/voicemails/{old}/audio", key=key))
    assert api.status_code == 404
    # The message in the conversation stays.
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE kind = 'voicemail'") == 2


@pytest.mark.parametrize(
    "transcript",
    [
        "My furnace is out and it's freezing in here, " * 20,
        "Bonjour, c\u2019est Am\u00e9lie \u2014 la chaudi\u00e8re ne marche plus \U0001f641 " * 10,
        "x" * 900,  # one long word
    ],
    ids=["long", "non-gsm", "one-word"],
)
async def test_the_voicemail_alert_fits_two_segments(stack, links, transcript):
    business, _ = await create_business()
    event = contracts.VoicemailReceived(
        business_id=business.id,
        recording_sid=recording_sid(),
        call_sid="CA" + "1" * 32,
        caller=CALLER,
        duration_seconds=118,
        transcript=transcript,
        transcription_status="done",
        conversation_ref=1234,
        received_at=datetime.now(UTC),
    )
    hint = owner_alerts.reply_hint(event.conversation_ref)
    text = owner_alerts.voicemail_text(business, event, hint)
    assert count_segments(text).segments <= 2, (len(text), text)
    assert text.endswith(hint) and "(1:58)" in text and "/audio?e=" in text
    assert '"' in text  # some of the transcript made it in
    followup = owner_alerts.transcript_followup_text(business, event, transcript, hint)
    assert count_segments(followup).segments <= 2


async def test_alerts_reach_the_team_phones_marked_for_alerts(stack, links):
    business, _ = await create_business(
        team_phones=[
            {"name": "Sam", "phone": "+14155550111", "alerts": True},
            {"name": "Kim", "phone": "+14155550122", "alerts": False},
        ]
    )
    await a_voicemail(stack, business)
    events = stack.topic.of_type(contracts.VoicemailReceived.type)
    await deliver_events("notifications", events, times=3)
    (owner,) = stack.twilio.to(business.owner_phone)
    (sam,) = stack.twilio.to("+14155550111")
    assert stack.twilio.to("+14155550122") == []
    # Only the owner's copy says how to answer by text (a team phone's "#12" reaches nobody).
    assert "Reply #" in owner["Body"] and "Reply #" not in sam["Body"]
    assert "/audio?e=" in sam["Body"]
    pool = await get_pool()
    assert await pool.fetchval("SELECT count(*) FROM notifications_sent") == 1
