"""`simulate call`: a caller rings the business and Twilio plays the call as it really would.

The simulator follows the TwiML the app answers, and posts only the parameters Twilio sends:

1. `POST /api/voice/incoming` for the parent call (CallSid, AccountSid, From, To, Caller, Called,
   CallStatus=ringing, Direction=inbound, ApiVersion).
2. A `<Dial>`: every `<Number>` rings (a team ring dials up to 10); the first phone is the one
   that answers, if anyone does. An answered leg is a new call (its own CallSid,
   ParentCallSid=the caller's, Direction=outbound-dial, To=the phone rung):
   - `<Number url>` (the human check): Twilio fetches that TwiML for the leg; a `<Gather>` gets
     Digits=1 from a person (`accepted`) and nothing from carrier voicemail (`voicemail`,
     `declined`: the Gather times out and the TwiML after it hangs the leg up, unbridged);
   - `<Number machineDetection amdStatusCallback>`: the AMD verdict goes to that callback only
     (CallSid of the leg, AccountSid, AnsweredBy, MachineDetectionDuration);
   - a plain `<Number>`: nothing is asked; Twilio can't tell a person from voicemail.
   Then the `<Dial action>` gets the parent's parameters plus DialCallStatus, DialCallSid,
   DialCallDuration and DialBridged, and never AnsweredBy.
3. A `<Record>` (after a miss, or after hours): with `--leave-voicemail "words"` a WAV is made on
   this machine (`devhost.speech`), stored in devhost's sandbox Twilio (`devhost.sandbox_twilio`),
   then the Record `action` (RecordingUrl, RecordingDuration, Digits=hangup) and the
   `recordingStatusCallback` are posted, and Twilio's transcription callback when the app asked
   Twilio to transcribe: later (once the app has archived the recording), and only if the
   recording is still there and 2-120 s long, as Twilio can transcribe nothing else (warnings
   13618, 13617). Without it the caller hangs up at the beep and nothing more is sent.

Then it prints the texts the app sent (the SMS sandbox) and, for a voicemail, whether the listen
link in the owner's alert plays, whether the recording is gone from the sandbox Twilio, and
what the local Blob container holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from devhost import sandbox_twilio
from devhost.call_params import (
    Call,
    amd_params,
    dial_action_params,
    gather_params,
    leg_params,
    record_action_params,
    recording_status_params,
    transcription_params,
)
from devhost.simulate import (
    Printer,
    Twilio,
    latest_sandbox_id,
    new_sid,
    show_response,
    watch_sandbox,
)
from devhost.speech import make_voicemail_wav

UNANSWERED = ("no-answer", "busy", "failed", "canceled")
ANSWERED = ("accepted", "voicemail", "declined")
OUTCOMES = (*UNANSWERED, *ANSWERED)
TALK_SECONDS = 45  # an accepted call's default length
SCREEN_SECONDS = 11  # the whisper plus the Gather's wait, before the unanswered leg hangs up
VOICEMAIL_BRIDGED_SECONDS = 25  # the caller bridged to the owner's voicemail greeting (no check)
OUTCOME_HELP = {
    "no-answer": "the phones ring out (DialCallStatus=no-answer)",
    "busy": "the owner's line is busy",
    "failed": "the call to the owner could not be placed",
    "canceled": "the caller hangs up while it rings",
    "accepted": "the owner answers, presses 1 when asked, talks, hangs up",
    "voicemail": "the owner's carrier voicemail answers: nobody presses a key",
    "declined": "the owner taps Decline, which sends the leg to voicemail: nobody presses",
}
TRANSCRIBE_SECONDS = 10.0  # at most this long before Twilio's transcription callback
TWILIO_TRANSCRIBES = (2, 120)  # the recording lengths Twilio transcribes (warning 13617)
DELETE_WAIT_SECONDS = 5.0  # how long the simulator looks for the recording's deletion
TEXTS_QUIET_SECONDS = 2.0  # the text-back and the alerts come together: stop once they stop
LISTEN_LINK = re.compile(r"https?://\S+/api/voicemails/\S+")


# --- reading the app's TwiML ---------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    phone: str
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TwiML:
    verbs: list[ET.Element]

    @classmethod
    def parse(cls, body: str) -> TwiML:
        try:
            root = ET.fromstring(body)  # noqa: S314 - our own app's TwiML, locally
        except ET.ParseError:
            return cls([])
        return cls(list(root) if root.tag == "Response" else [])

    def first(self, tag: str) -> ET.Element | None:
        return next((v for v in self.verbs if v.tag == tag), None)

    def has(self, tag: str) -> bool:
        return self.first(tag) is not None


def dial_numbers(dial: ET.Element) -> list[Number]:
    """The phones a `<Dial>` rings: its `<Number>`s, or a bare number as its text."""
    numbers = [Number((n.text or "").strip(), dict(n.attrib)) for n in dial.findall("Number")]
    if not numbers and (dial.text or "").strip():
        numbers = [Number((dial.text or "").strip())]
    return numbers


# --- playing the call ----------------------------------------------------------------------------


@dataclass
class Played:
    """What happened on the owner's side, as the `<Dial action>` will report it."""

    status: str
    leg_sid: str
    duration: int
    bridged: bool


async def play_dial(
    twilio: Twilio,
    call: Call,
    numbers: list[Number],
    outcome: str,
    duration: int | None,
    out: Printer,
) -> Played:
    """Ring the phones; the first answers (or nobody does) and the leg's requests are posted."""
    leg_sid = new_sid("CA")
    shown = ", ".join(n.phone for n in numbers) or "(no number)"
    out(f"── the phone(s) ring: {shown}; {OUTCOME_HELP[outcome]}")
    if outcome in UNANSWERED:
        return Played(outcome, leg_sid, duration or 0, bridged=False)
    number = numbers[0] if numbers else Number("")
    if len(numbers) > 1:
        out(f"   {number.phone} answers first; Twilio hangs up the other legs")
    person = outcome == "accepted"
    bridged = True
    amd_url = number.attrs.get("amdStatusCallback")
    if number.attrs.get("machineDetection") and amd_url:
        verdict = "human" if person else "machine_start"
        status, ctype, body = await twilio.post(
            amd_url, amd_params(call.account_sid, leg_sid, verdict)
        )
        show_response(out, f"POST {amd_url} (AMD: AnsweredBy={verdict})", status, ctype, body)
    screen_url = number.attrs.get("url")
    if screen_url:
        bridged = await play_screen(twilio, call, leg_sid, number.phone, screen_url, person, out)
    elif not amd_url and not person:
        out("   a plain <Number>: Twilio bridges the caller to the voicemail greeting and")
        out("   can't tell it from a person; the app sees an answered call")
    if person:
        length = duration if duration is not None else TALK_SECONDS
    elif bridged:
        length = duration if duration is not None else VOICEMAIL_BRIDGED_SECONDS
    else:
        length = duration if duration is not None else SCREEN_SECONDS
    return Played("completed", leg_sid, length, bridged)


async def play_screen(
    twilio: Twilio, call: Call, leg_sid: str, phone: str, url: str, person: bool, out: Printer
) -> bool:
    """The `<Number url>` TwiML on the answered leg; returns whether the leg gets bridged."""
    status, ctype, body = await twilio.post(url, leg_params(call, leg_sid, phone))
    show_response(out, f"POST {url} (the answered leg {leg_sid[:10]}...)", status, ctype, body)
    twiml = TwiML.parse(body) if status == 200 else TwiML([])
    gather = twiml.first("Gather")
    if gather is None:
        return not twiml.has("Hangup") and not twiml.has("Reject")
    if not person:
        out("   nobody presses a key: the <Gather> times out and the leg hangs up, not bridged")
        return False
    action = gather.attrib.get("action") or url
    status, ctype, body = await twilio.post(action, gather_params(call, leg_sid, phone, "1"))
    show_response(out, f"POST {action} (Digits=1)", status, ctype, body)
    answer = TwiML.parse(body) if status == 200 else TwiML([])
    return status == 200 and not answer.has("Hangup") and not answer.has("Reject")


@dataclass
class Voicemail:
    recording_sid: str
    url: str  # RecordingUrl, as Twilio sends it (no extension)
    duration: int
    transcript: str | None = None  # the words Twilio's transcription callback carried


async def leave_voicemail(
    twilio: Twilio, call: Call, record: ET.Element, words: str, out: Printer
) -> Voicemail | None:
    """The caller speaks after the beep and hangs up: the recording and Twilio's callbacks."""
    speech = make_voicemail_wav(words)
    out(f"── the caller leaves a voicemail: {words!r}")
    out(f"   {speech.seconds:.1f} s of WAV made by {speech.made_by}")
    query = {"AccountSid": call.account_sid, "CallSid": call.sid}
    async with twilio.session.post(
        twilio.host + sandbox_twilio.UPLOAD_PATH,
        params=query,
        data=speech.audio,
        headers={"Content-Type": "audio/x-wav"},
    ) as resp:
        stored: dict[str, Any] = await resp.json(content_type=None)
        if resp.status != 201:
            out(f"   the sandbox Twilio refused the recording: HTTP {resp.status} {stored}")
            return None
    started = datetime.now(UTC)
    sid, duration = str(stored["sid"]), int(stored["duration"])
    url = sandbox_twilio.recording_url(twilio.public_base_url, call.account_sid, sid)
    out(f"   stored in the sandbox Twilio as {sid}: {url}.wav")
    action = record.attrib.get("action")
    if action:
        status, ctype, body = await twilio.post(action, record_action_params(call, url, duration))
        show_response(out, f"POST {action} (the Record action)", status, ctype, body)
    callback = record.attrib.get("recordingStatusCallback")
    if callback:
        params = recording_status_params(call, sid, url, duration, started)
        status, ctype, body = await twilio.post(callback, params)
        show_response(out, f"POST {callback} (RecordingStatus=completed)", status, ctype, body)
    else:
        out("── the <Record> has no recordingStatusCallback: the app never hears of it")
    transcribe = record.attrib.get("transcribeCallback")
    transcribed = False
    if transcribe and record.attrib.get("transcribe", "true").lower() != "false":
        transcribed = await post_transcription(twilio, call, sid, url, words, transcribe, out)
    return Voicemail(sid, url, duration, words if transcribed else None)


async def post_transcription(
    twilio: Twilio, call: Call, sid: str, url: str, words: str, callback: str, out: Printer
) -> bool:
    """Twilio's transcription: it takes a while after the recording (here: until the app has
    archived it, or TRANSCRIBE_SECONDS), and Twilio can't transcribe a recording deleted by
    then (warning 13618) or one outside 2-120 s (13617): no callback is posted for those."""
    deadline = asyncio.get_running_loop().time() + TRANSCRIBE_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(Exception):  # no Blob storage to look at: just wait
            if await voicemail_blobs(sid):
                break
        await asyncio.sleep(0.2)
    async with twilio.session.get(twilio.host + urlsplit(url).path + ".json") as resp:
        resource: dict[str, Any] = await resp.json(content_type=None) if resp.ok else {}
    if not resource:
        out("── Twilio can't transcribe it: the app deleted the recording first (warning 13618)")
        return False
    seconds = int(resource.get("duration") or 0)
    if not TWILIO_TRANSCRIBES[0] <= seconds <= TWILIO_TRANSCRIBES[1]:
        out(f"── Twilio doesn't transcribe a {seconds} s recording (2-120 s; warning 13617)")
        return False
    status, ctype, body = await twilio.post(callback, transcription_params(call, sid, url, words))
    show_response(out, f"POST {callback} (Twilio's transcription)", status, ctype, body)
    return True


def _is_voicemail_alert(
    caller: str, transcript: str | None = None
) -> Callable[[list[dict[str, Any]]], bool]:
    """The owner's voicemail alert came (and the transcript, in it or in a second text)."""

    def done(rows: list[dict[str, Any]]) -> bool:
        owner = [str(r.get("body", "")) for r in rows if r.get("to_number") != caller]
        alerted = any(LISTEN_LINK.search(body) for body in owner)
        return alerted and (transcript is None or any(transcript in body for body in owner))

    return done


async def simulate_call(
    host: str,
    from_number: str,
    to_number: str,
    outcome: str,
    duration: int | None = None,
    *,
    leave_voicemail_words: str | None = None,
    out: Printer = print,
    wait: float | None = None,
) -> list[dict[str, Any]]:
    """A caller rings the business and the owner's side ends with `outcome`; returns new texts."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
    async with aiohttp.ClientSession() as session:
        twilio = Twilio.from_env(host, session)
        baseline = await latest_sandbox_id(session, twilio.host)
        call = Call(new_sid("CA"), twilio.account_sid, from_number, to_number)
        status, ctype, body = await twilio.post("/api/voice/incoming", call.params("ringing"))
        show_response(out, "POST /api/voice/incoming", status, ctype, body)
        if status != 200:
            return []
        twiml, caller_gone, answered = await play_twiml(
            twilio, call, TwiML.parse(body), outcome, duration, out
        )
        voicemail = None
        record = twiml.first("Record")
        if record is not None and not caller_gone:
            if leave_voicemail_words:
                voicemail = await leave_voicemail(twilio, call, record, leave_voicemail_words, out)
            else:
                out('── the caller hangs up at the beep (try --leave-voicemail "words")')
        elif leave_voicemail_words:
            out("── no <Record> in the TwiML: the caller can't leave a voicemail here")
        if voicemail is None:
            nothing = (
                "no texts: the app took it as answered"
                if answered
                else "no texts; check the host's log"
            )
            return await watch_sandbox(
                session, twilio.host, baseline, out, wait or 10.0,
                quiet=TEXTS_QUIET_SECONDS, nothing=nothing,
            )  # fmt: skip
        texts = await watch_sandbox(
            session, twilio.host, baseline, out, wait or 30.0,
            quiet=TEXTS_QUIET_SECONDS,
            until=_is_voicemail_alert(from_number, voicemail.transcript),
        )  # fmt: skip
        await show_voicemail_fate(twilio, voicemail, texts, out)
        return texts


async def play_twiml(
    twilio: Twilio, call: Call, twiml: TwiML, outcome: str, duration: int | None, out: Printer
) -> tuple[TwiML, bool, bool]:
    """Play the incoming call's TwiML up to the voicemail: returns the TwiML the caller is on
    then, whether the caller is gone, and whether the app took the call as answered."""
    dial = twiml.first("Dial")
    if dial is None:
        if twiml.has("Reject"):
            out("── <Reject>: the caller hears a busy tone; nothing more is sent")
        else:
            out("── no <Dial>: nobody is rung (after hours, or no phone), --outcome plays no part")
        return twiml, False, False
    played = await play_dial(twilio, call, dial_numbers(dial), outcome, duration, out)
    action = dial.attrib.get("action")
    if not action:
        out("── <Dial> has no action URL, so Twilio would not report the outcome")
        return TwiML([]), False, False
    params = dial_action_params(
        call, played.status, played.leg_sid, played.duration, played.bridged
    )
    status, ctype, body = await twilio.post(action, params)
    label = f"POST {action} (DialCallStatus={played.status}, DialBridged={params['DialBridged']})"
    show_response(out, label, status, ctype, body)
    after = TwiML.parse(body) if status == 200 else TwiML([])
    answered = after.has("Hangup") and not after.has("Record")
    return after, played.status == "canceled", answered


async def show_voicemail_fate(
    twilio: Twilio, voicemail: Voicemail, texts: list[dict[str, Any]], out: Printer
) -> None:
    """The listen link plays? The recording left Twilio? It is in the Blob container?"""
    for text in texts:
        match = LISTEN_LINK.search(str(text.get("body", "")))
        if match:
            status, ctype, size = await fetch_link(twilio, match.group(0).rstrip(".,)"))
            out(f"── the listen link: HTTP {status}, {ctype or 'no content type'}, {size} bytes")
            break
    else:
        out("── no listen link in the texts (is LINK_SIGNING_SECRET set?)")
    gone = False
    deadline = asyncio.get_running_loop().time() + DELETE_WAIT_SECONDS
    while not gone:  # the app deletes it right after its last step (the transcript's, maybe)
        async with twilio.session.get(twilio.host + urlsplit(voicemail.url).path + ".json") as r:
            gone = r.status == 404
        if gone or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    where = "gone from the sandbox Twilio (deleted)" if gone else "still in the sandbox Twilio"
    out(f"── recording {voicemail.recording_sid}: {where}")
    try:
        blobs = await voicemail_blobs(voicemail.recording_sid)
    except Exception as exc:  # the simulator reports; it doesn't fail on a missing container
        out(f"── the Blob container could not be read: {exc.__class__.__name__}: {exc}")
        return
    container = os.environ.get("VOICEMAIL_CONTAINER") or "voicemails"
    if blobs:
        for name, size in blobs:
            out(f"── in the local Blob container {container!r}: {name} ({size} bytes)")
    else:
        out(f"── not (yet) in the local Blob container {container!r}")


async def fetch_link(twilio: Twilio, link: str) -> tuple[int, str, int]:
    """GET a link the app texted, sent to --host as the public URL would route it."""
    parts = urlsplit(link)
    target = twilio.host + parts.path + (f"?{parts.query}" if parts.query else "")
    async with twilio.session.get(target) as resp:
        body = await resp.read()
        return resp.status, resp.headers.get("Content-Type", ""), len(body)


async def voicemail_blobs(recording_sid: str) -> list[tuple[str, int]]:
    """Blobs naming this recording in VOICEMAIL_CONTAINER, read with the app's connection
    string (AzureWebJobsStorage: Azurite's blob service locally)."""
    from azure.storage.blob.aio import BlobServiceClient

    # The Functions host's own name for the setting, mixed case and all.
    connection = os.environ.get("AzureWebJobsStorage") or "UseDevelopmentStorage=true"  # noqa: SIM112
    container = os.environ.get("VOICEMAIL_CONTAINER") or "voicemails"
    service = BlobServiceClient.from_connection_string(
        connection, retry_total=0, connection_timeout=3, read_timeout=5
    )  # an answer or an error in seconds: the SDK's default retries take over a minute
    async with service:
        client = service.get_container_client(container)
        return [
            (blob.name, int(blob.size or 0))
            async for blob in client.list_blobs()
            if recording_sid in blob.name
        ]
