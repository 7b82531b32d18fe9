"""Twilio's voice webhooks as Twilio really sends them, for the calls tests.

Each builder gives the parameters of one real request (names as in Twilio's docs and
../shared/REFERENCE.md: the `<Dial action>` never carries `AnsweredBy`; a dialled leg's
requests name the leg's CallSid and its `ParentCallSid`). `follow` posts to a URL the app handed
Twilio in its TwiML, fragment dropped and query kept, signed over it as Twilio would.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from shared_code.platform.settings import get_settings
from tests.helpers import post, twilio_request

CALLER = "+13125550123"
FUNCTIONS = {
    "/api/voice/incoming": "voice_incoming",
    "/api/voice/dial-status": "voice_dial_status",
    "/api/voice/status": "voice_status",
    "/api/voice/screen": "voice_screen",
    "/api/voice/screen-result": "voice_screen_result",
    "/api/voice/amd": "voice_amd",
    "/api/voice/voicemail-done": "voice_voicemail_done",
    "/api/voice/recording": "voice_recording",
    "/api/voice/transcription": "voice_transcription",
}


def sid(prefix: str = "CA") -> str:
    return prefix + secrets.token_hex(16)


def account() -> str:
    return get_settings().twilio_account_sid


def incoming(call: str, business_number: str, caller: str = CALLER) -> dict[str, str]:
    return {
        "AccountSid": account(), "ApiVersion": "2010-04-01", "CallSid": call,
        "CallStatus": "ringing", "Direction": "inbound", "From": caller, "Caller": caller,
        "To": business_number, "Called": business_number,
    }  # fmt: skip


def leg(leg_sid: str, parent: str, phone: str, caller: str = CALLER) -> dict[str, str]:
    """A dialled leg's request (the `<Number url>` whisper): the leg picked up."""
    return {
        "AccountSid": account(), "ApiVersion": "2010-04-01", "CallSid": leg_sid,
        "ParentCallSid": parent, "CallStatus": "in-progress", "Direction": "outbound-dial",
        "From": caller, "Caller": caller, "To": phone, "Called": phone,
    }  # fmt: skip


def pressed(leg_sid: str, parent: str, phone: str, digits: str) -> dict[str, str]:
    """The whisper's `<Gather action>`: the leg's parameters and the key."""
    return {**leg(leg_sid, parent, phone), "Digits": digits, "FinishedOnKey": ""}


def amd_verdict(leg_sid: str, answered_by: str, seconds: str = "3100") -> dict[str, str]:
    """The `amdStatusCallback`: only these four parameters."""
    return {
        "AccountSid": account(), "CallSid": leg_sid, "AnsweredBy": answered_by,
        "MachineDetectionDuration": seconds,
    }  # fmt: skip


def dial_ended(
    call: str,
    business_number: str,
    status: str,
    *,
    leg_sid: str | None = None,
    duration: int = 0,
    bridged: bool = False,
    caller: str = CALLER,
) -> dict[str, str]:
    """The `<Dial action>`: how the ringing ended (no AnsweredBy: Twilio never sends it here)."""
    return {
        **incoming(call, business_number, caller), "CallStatus": "in-progress",
        "DialCallStatus": status, "DialCallSid": leg_sid or sid(),
        "DialCallDuration": str(duration), "DialBridged": "true" if bridged else "false",
    }  # fmt: skip


def recording_done(
    call: str, recording: str, *, status: str = "completed", seconds: int = 14
) -> dict[str, str]:
    """The `recordingStatusCallback` of the caller's voicemail."""
    url = f"https://api.twilio.com/2010-04-01/Accounts/{account()}/Recordings/{recording}"
    return {
        "AccountSid": account(), "CallSid": call, "RecordingSid": recording,
        "RecordingUrl": url, "RecordingStatus": status, "RecordingDuration": str(seconds),
        "RecordingChannels": "1", "RecordingSource": "RecordVerb",
        "RecordingStartTime": "Wed, 02 Dec 2026 03:30:00 +0000",
    }  # fmt: skip


def transcribed(call: str, recording: str, text: str, status: str = "completed") -> dict[str, str]:
    """Twilio's `transcribeCallback`."""
    return {
        "AccountSid": account(), "CallSid": call, "RecordingSid": recording,
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{account()}/Recordings/{recording}",
        "TranscriptionSid": sid("TR"), "TranscriptionText": text,
        "TranscriptionStatus": status,
        "TranscriptionUrl": f"https://api.twilio.com/2010-04-01/Accounts/{account()}/Transcriptions/x",
    }  # fmt: skip


def request(path: str, params: dict[str, str], query: str = "", **kw: Any) -> func.HttpRequest:
    return twilio_request(path, params, query=query, **kw)


async def call(path: str, params: dict[str, str], query: str = "") -> func.HttpResponse:
    """Post a signed webhook to `path` (through the registered function)."""
    return await post(FUNCTIONS[path], request(path, params, query))


async def follow(url: str, params: dict[str, str]) -> func.HttpResponse:
    """Post to a URL the app handed Twilio, as Twilio would: the fragment (connection overrides)
    is never sent, the query is, and both the URL and the form are signed."""
    parts = urlsplit(url)
    base = urlsplit(get_settings().public_base_url)
    assert (parts.scheme, parts.netloc) == (base.scheme, base.netloc), url
    return await call(parts.path, params, parts.query)


def twiml(response: func.HttpResponse) -> ET.Element:
    assert response.mimetype == "application/xml"
    return ET.fromstring(response.get_body())


def spoken(response: func.HttpResponse) -> str:
    return " ".join(say.text or "" for say in twiml(response).iter("Say"))


async def post_request(path: str, request: func.HttpRequest) -> func.HttpResponse:
    """Post a request built by hand (unsigned, forged) to the function registered for `path`."""
    return await post(FUNCTIONS[path], request)
