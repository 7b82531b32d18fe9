"""The parameters Twilio posts for each request of a call, and only those.

Pure functions, so the unit tests can pin each set; `devhost.simulate_call` plays them in order.
Names and values follow Twilio's voice webhooks (../shared/REFERENCE.md, "Twilio, as it really
behaves"): the `<Dial action>` never carries AnsweredBy (only an `amdStatusCallback` does), an
answered leg is a call of its own (its CallSid, ParentCallSid, Direction=outbound-dial), and a
RecordingUrl has no file extension.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

AMD_MILLISECONDS = {"human": "2410", "machine_start": "3380"}


@dataclass(frozen=True)
class Call:
    """The caller's (parent) call as Twilio describes it on every request about it."""

    sid: str
    account_sid: str
    caller: str
    called: str

    def params(self, status: str) -> dict[str, str]:
        return {
            "CallSid": self.sid,
            "AccountSid": self.account_sid,
            "From": self.caller,
            "To": self.called,
            "Caller": self.caller,
            "Called": self.called,
            "CallStatus": status,
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
        }


def leg_params(call: Call, leg_sid: str, phone: str) -> dict[str, str]:
    """Twilio's request for a `<Number url>`: the answered leg, a call of its own."""
    return {
        "CallSid": leg_sid,
        "ParentCallSid": call.sid,
        "AccountSid": call.account_sid,
        "From": call.caller,
        "To": phone,
        "CallStatus": "in-progress",
        "Direction": "outbound-dial",
        "ApiVersion": "2010-04-01",
    }


def gather_params(call: Call, leg_sid: str, phone: str, digits: str) -> dict[str, str]:
    """The leg's `<Gather action>` after a key (numDigits reached: no finishing key)."""
    return {**leg_params(call, leg_sid, phone), "Digits": digits, "FinishedOnKey": ""}


def amd_params(account_sid: str, leg_sid: str, answered_by: str) -> dict[str, str]:
    """`amdStatusCallback` of a `<Number machineDetection>`: about the leg, and only this."""
    return {
        "CallSid": leg_sid,
        "AccountSid": account_sid,
        "AnsweredBy": answered_by,
        "MachineDetectionDuration": AMD_MILLISECONDS.get(answered_by, "3000"),
    }


def dial_action_params(
    call: Call, status: str, leg_sid: str, duration: int, bridged: bool
) -> dict[str, str]:
    """The `<Dial action>`: the parent's parameters plus the Dial* ones (no AnsweredBy)."""
    parent_status = "completed" if status == "canceled" else "in-progress"
    return {
        **call.params(parent_status),
        "DialCallStatus": status,
        "DialCallSid": leg_sid,
        "DialCallDuration": str(duration),
        "DialBridged": "true" if bridged else "false",
    }


def record_action_params(call: Call, url: str, duration: int) -> dict[str, str]:
    """The `<Record action>` when the caller hangs up after speaking."""
    return {
        **call.params("completed"),
        "RecordingUrl": url,
        "RecordingDuration": str(duration),
        "Digits": "hangup",
    }


def recording_status_params(
    call: Call, recording_sid: str, url: str, duration: int, started: datetime
) -> dict[str, str]:
    """The `recordingStatusCallback` (event `completed`): RecordingUrl has no extension."""
    return {
        "AccountSid": call.account_sid,
        "CallSid": call.sid,
        "RecordingSid": recording_sid,
        "RecordingUrl": url,
        "RecordingStatus": "completed",
        "RecordingDuration": str(duration),
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
        "RecordingStartTime": format_datetime(started),
    }


def transcription_params(call: Call, recording_sid: str, url: str, text: str) -> dict[str, str]:
    """Twilio's `transcribeCallback` (only when the app asked Twilio to transcribe)."""
    sid = "TR" + secrets.token_hex(16)
    return {
        "TranscriptionSid": sid,
        "TranscriptionText": text,
        "TranscriptionStatus": "completed",
        "TranscriptionUrl": (
            f"{url.split('/Recordings/')[0]}/Recordings/{recording_sid}/Transcriptions/{sid}"
        ),
        "RecordingSid": recording_sid,
        "RecordingUrl": url,
        "CallSid": call.sid,
        "AccountSid": call.account_sid,
    }
