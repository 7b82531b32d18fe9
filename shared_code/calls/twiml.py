"""The TwiML the voice webhooks answer with, built with twilio's own builders.

Every URL handed to Twilio is absolute and carries the connection overrides (`callback_url`);
a query string added here (the parent call, the business) is signed by Twilio with the URL and
reaches the handler as form fields. Building is pure: tests read the XML without a server.

- Ringing (`dial`): every phone of the business at once in one `<Dial>` (the owner's first,
  Twilio rings at most 10), each `<Number>` with the business's human check: a "press 1"
  whisper (`url` → /voice/screen), answering-machine detection (`amdStatusCallback` →
  /voice/amd), or nothing. `answerOnBridge` keeps the caller hearing ringing until someone is
  bridged; the `<Dial action>` (/voice/dial-status) learns how it ended.
- The whisper (`screen`): one digit within 8 s; no key (voicemail can't press one) hangs the
  leg up, so it is never bridged to the caller.
- Voicemail (`voicemail`): the honest greeting, then `<Record>`, whose recording Twilio reports to
  /voice/recording (and, with Twilio's transcription chosen, its transcript to
  /voice/transcription).
"""

from __future__ import annotations

from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from shared_code.platform.settings import get_settings
from shared_code.platform.twilio_webhooks import callback_url

DIAL_STATUS_PATH = "/api/voice/dial-status"
SCREEN_PATH = "/api/voice/screen"
SCREEN_RESULT_PATH = "/api/voice/screen-result"
AMD_PATH = "/api/voice/amd"
VOICEMAIL_DONE_PATH = "/api/voice/voicemail-done"
RECORDING_PATH = "/api/voice/recording"
TRANSCRIPTION_PATH = "/api/voice/transcription"

SCREEN_SECONDS = 8  # how long the whisper waits for the key
RECORD_SILENCE_SECONDS = 5  # silence that ends a voicemail
GENERIC_WHISPER = "Incoming call. Press 1 to take it."
LEAVE_A_MESSAGE = "Leave a message after the tone."
# Twilio's transcription takes recordings of 2 to 120 s (warning 13617); a message cut at 119 s
# stays inside that whatever rounding Twilio applies to its length.
TWILIO_TRANSCRIBES_MAX_SECONDS = 119


def _xml(response: VoiceResponse) -> str:
    return str(response.to_xml())


def dial(
    phones: list[str],
    *,
    parent_call_sid: str,
    business_number: str,
    answer_check: str,
    ring_seconds: int,
) -> str:
    """Ring `phones` at once, each leg with the human check `answer_check`."""
    ring = Dial(
        timeout=ring_seconds,
        answer_on_bridge=True,
        action=callback_url(DIAL_STATUS_PATH),
        method="POST",
    )
    for phone in phones:
        if answer_check == "press_key":
            # The business rides along as its number's digits: the whisper names it, and a
            # "+" in a signed query is one more thing to go wrong between us and Twilio.
            query = urlencode({"parent": parent_call_sid, "business": business_number.lstrip("+")})
            ring.number(phone, url=callback_url(SCREEN_PATH, query), method="POST")
        elif answer_check == "amd":
            query = urlencode({"parent": parent_call_sid})
            ring.number(
                phone,
                machine_detection="Enable",
                amd_status_callback=callback_url(AMD_PATH, query),
                amd_status_callback_method="POST",
            )
        else:
            ring.number(phone)
    response = VoiceResponse()
    response.append(ring)
    return _xml(response)


def screen(business_name: str | None, parent_call_sid: str | None) -> str:
    """The whisper on a dialled leg: press 1 to take the call, else the leg hangs up."""
    query = urlencode({"parent": parent_call_sid}) if parent_call_sid else ""
    gather = Gather(
        num_digits=1,
        timeout=SCREEN_SECONDS,
        action=callback_url(SCREEN_RESULT_PATH, query),
        method="POST",
    )
    gather.say(
        f"Call for {business_name}. Press 1 to take it." if business_name else GENERIC_WHISPER
    )
    response = VoiceResponse()
    response.append(gather)
    response.hangup()
    return _xml(response)


def voicemail(greeting: str) -> str:
    """The greeting, then the caller's message (at most VOICEMAIL_MAX_SECONDS; with Twilio
    transcribing, at most TWILIO_TRANSCRIBES_MAX_SECONDS)."""
    settings = get_settings()
    twilio_transcribes = settings.transcriber == "twilio"
    response = VoiceResponse()
    # The greeting in a `<Say>` of its own: its words are what the consent record versions.
    response.say(greeting)
    response.say(LEAVE_A_MESSAGE)
    max_length = settings.voicemail_max_seconds
    if twilio_transcribes:  # Twilio transcribes recordings of 2-120 s only (warning 13617)
        max_length = min(max_length, TWILIO_TRANSCRIBES_MAX_SECONDS)
    response.record(
        max_length=max_length,
        play_beep=True,
        timeout=RECORD_SILENCE_SECONDS,
        action=callback_url(VOICEMAIL_DONE_PATH),
        method="POST",
        recording_status_callback=callback_url(RECORDING_PATH),
        recording_status_callback_method="POST",
        recording_status_callback_event="completed",
        transcribe=True if twilio_transcribes else None,
        transcribe_callback=callback_url(TRANSCRIPTION_PATH) if twilio_transcribes else None,
    )
    response.hangup()
    return _xml(response)


def goodbye() -> str:
    response = VoiceResponse()
    response.say("Thank you. Goodbye.")
    response.hangup()
    return _xml(response)


def say_and_hang_up(text: str) -> str:
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return _xml(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return _xml(response)


def reject() -> str:
    response = VoiceResponse()
    response.reject()
    return _xml(response)
