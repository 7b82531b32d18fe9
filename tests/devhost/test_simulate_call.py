"""The call simulator posts exactly what Twilio posts, following the TwiML it is given.

No database or queue: a small aiohttp app answers TwiML shaped as the real voice webhooks answer
(issue 13's plan: `<Number url=screen>` for press_key, `machineDetection` + `amdStatusCallback`
for amd, a plain `<Number>` for none; greeting + `<Record>` after a miss) and records every
request; devhost's sandbox Twilio routes serve the recording. Each outcome's requests are checked
key by key against Twilio's parameter sets.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import quoteattr

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from devhost import sandbox_twilio
from devhost.call_params import (
    Call,
    amd_params,
    dial_action_params,
    gather_params,
    leg_params,
    record_action_params,
    recording_status_params,
)
from devhost.services import free_port
from devhost.simulate_call import OUTCOMES, simulate_call
from devhost.speech import make_voicemail_wav

TOKEN = "test-auth-token"
CALLER, BUSINESS, OWNER, TEAM = "+14155550100", "+12125550143", "+12125550199", "+12125550188"
PARENT = {
    "CallSid", "AccountSid", "From", "To", "Caller", "Called", "CallStatus", "Direction",
    "ApiVersion",
}  # fmt: skip
LEG = {"CallSid", "ParentCallSid", "AccountSid", "From", "To", "CallStatus", "Direction",
       "ApiVersion"}  # fmt: skip
DIAL = PARENT | {"DialCallStatus", "DialCallSid", "DialCallDuration", "DialBridged"}
RECORDING = {
    "AccountSid", "CallSid", "RecordingSid", "RecordingUrl", "RecordingStatus",
    "RecordingDuration", "RecordingChannels", "RecordingSource", "RecordingStartTime",
}  # fmt: skip


@dataclass
class FakeVoiceApp:
    """Answers like the app's voice webhooks; records (path, params, signature ok)."""

    base: str
    check: str = "press_key"
    phones: tuple[str, ...] = (OWNER,)
    after_hours: bool = False
    requests: list[tuple[str, dict[str, str], bool]] = field(default_factory=list)
    app: web.Application | None = None

    def number(self, phone: str, parent: str) -> str:
        if self.check == "press_key":
            url = quoteattr(f"{self.base}/api/voice/screen?parent={parent}")
            return f'<Number url={url} method="POST">{phone}</Number>'
        if self.check == "amd":
            url = quoteattr(f"{self.base}/api/voice/amd?parent={parent}")
            return (
                f'<Number machineDetection="Enable" amdStatusCallback={url} '
                f'amdStatusCallbackMethod="POST">{phone}</Number>'
            )
        return f"<Number>{phone}</Number>"

    def record(self) -> str:
        base = self.base
        return (
            "<Say>Sorry we missed you. Leave a message after the tone.</Say>"
            f'<Record maxLength="120" playBeep="true" timeout="5" '
            f'action="{base}/api/voice/voicemail-done" method="POST" '
            f'recordingStatusCallback="{base}/api/voice/recording#rc=3&amp;ct=2000" '
            f'recordingStatusCallbackMethod="POST" recordingStatusCallbackEvent="completed"/>'
            "<Hangup/>"
        )

    async def handle(self, request: web.Request) -> web.Response:
        params = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        public = self.base + request.path_qs
        ok = RequestValidator(TOKEN).validate(
            public, params, request.headers.get("X-Twilio-Signature", "")
        )
        path = request.path.removeprefix("/api/voice/")
        self.requests.append((path, params, bool(ok)))
        body = ""
        if path == "incoming" and self.after_hours:
            body = self.record()
        elif path == "incoming":
            numbers = "".join(self.number(p, params["CallSid"]) for p in self.phones)
            action = quoteattr(f"{self.base}/api/voice/dial-status#rc=3&rp=ct,rt,5xx")
            body = f'<Dial timeout="18" answerOnBridge="true" action={action}>{numbers}</Dial>'
        elif path == "screen":
            action = quoteattr(f"{self.base}/api/voice/screen-result?{request.query_string}")
            body = (
                f'<Gather numDigits="1" timeout="8" action={action} method="POST">'
                "<Say>Call for Demo Plumbing. Press 1 to take it.</Say></Gather><Hangup/>"
            )
        elif path == "screen-result":
            body = "" if params.get("Digits") == "1" else "<Hangup/>"
        elif path == "dial-status":
            answered = params["DialCallStatus"] == "completed" and params["DialBridged"] == "true"
            body = "<Hangup/>" if answered and self.check != "none" else self.record()
        elif path == "voicemail-done":
            body = "<Say>Thank you. Goodbye.</Say><Hangup/>"
        twiml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'
        return web.Response(text=twiml, content_type="application/xml")

    def paths(self) -> list[str]:
        return [p.split("?")[0] for p, _, _ in self.requests]

    def params(self, path: str) -> dict[str, str]:
        found = [p for name, p, _ in self.requests if name == path]
        assert len(found) == 1, f"{path}: {len(found)} requests"
        return found[0]


@pytest.fixture
async def voice_app(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeVoiceApp]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("PUBLIC_BASE_URL", base)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "")
    fake = FakeVoiceApp(base)
    app = web.Application()
    app.router.add_post("/api/voice/{name}", fake.handle)
    app.router.add_get("/sandbox/messages", lambda _: web.json_response([]))
    sandbox_twilio.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.app = app
    yield fake
    await runner.cleanup()


async def call(fake: FakeVoiceApp, outcome: str, words: str | None = None) -> list[str]:
    lines: list[str] = []
    await simulate_call(
        fake.base, CALLER, BUSINESS, outcome,
        leave_voicemail_words=words, out=lines.append, wait=0.3,
    )  # fmt: skip
    assert all(ok for _, _, ok in fake.requests), "every request is signed as Twilio signs"
    return lines


# --- parameter sets, pure ------------------------------------------------------------------------


def test_parameter_sets_are_twilios() -> None:
    parent = Call("CA" + "1" * 32, "AC" + "0" * 32, CALLER, BUSINESS)
    leg = "CA" + "2" * 32
    assert set(parent.params("ringing")) == PARENT
    assert set(leg_params(parent, leg, OWNER)) == LEG
    assert leg_params(parent, leg, OWNER)["ParentCallSid"] == parent.sid
    assert set(gather_params(parent, leg, OWNER, "1")) == LEG | {"Digits", "FinishedOnKey"}
    assert set(amd_params(parent.account_sid, leg, "human")) == {
        "CallSid", "AccountSid", "AnsweredBy", "MachineDetectionDuration",
    }  # fmt: skip
    dial = dial_action_params(parent, "completed", leg, 12, bridged=False)
    assert set(dial) == DIAL and "AnsweredBy" not in dial
    assert set(record_action_params(parent, "u", 3)) == PARENT | {
        "RecordingUrl", "RecordingDuration", "Digits",
    }  # fmt: skip
    from datetime import UTC, datetime

    status = recording_status_params(parent, "RE" + "3" * 32, "u", 3, datetime.now(UTC))
    assert set(status) == RECORDING and status["RecordingSource"] == "RecordVerb"


# --- each outcome, played against TwiML ----------------------------------------------------------


@pytest.mark.parametrize("outcome", ["no-answer", "busy", "failed", "canceled"])
async def test_unanswered_outcomes_post_the_dial_action_only(
    voice_app: FakeVoiceApp, outcome: str
) -> None:
    await call(voice_app, outcome)
    assert voice_app.paths() == ["incoming", "dial-status"]
    incoming, dial = voice_app.params("incoming"), voice_app.params("dial-status")
    assert set(incoming) == PARENT and incoming["CallStatus"] == "ringing"
    assert set(dial) == DIAL and dial["CallSid"] == incoming["CallSid"]
    assert dial["DialCallStatus"] == outcome and dial["DialBridged"] == "false"
    assert dial["DialCallSid"] != incoming["CallSid"]


async def test_accepted_runs_the_screen_presses_1_and_is_bridged(voice_app: FakeVoiceApp) -> None:
    await call(voice_app, "accepted")
    assert voice_app.paths() == ["incoming", "screen", "screen-result", "dial-status"]
    parent = voice_app.params("incoming")["CallSid"]
    screen, pressed = voice_app.params("screen"), voice_app.params("screen-result")
    assert set(screen) == LEG and screen["ParentCallSid"] == parent
    assert screen["To"] == OWNER and screen["Direction"] == "outbound-dial"
    assert screen["CallSid"] != parent and screen["CallStatus"] == "in-progress"
    assert set(pressed) == LEG | {"Digits", "FinishedOnKey"} and pressed["Digits"] == "1"
    assert pressed["CallSid"] == screen["CallSid"]
    dial = voice_app.params("dial-status")
    assert set(dial) == DIAL and "AnsweredBy" not in dial
    assert (dial["DialCallStatus"], dial["DialBridged"]) == ("completed", "true")
    assert dial["DialCallSid"] == screen["CallSid"] and dial["DialCallDuration"] == "45"


@pytest.mark.parametrize("outcome", ["voicemail", "declined"])
async def test_carrier_voicemail_runs_the_screen_and_nobody_presses(
    voice_app: FakeVoiceApp, outcome: str
) -> None:
    lines = await call(voice_app, outcome)
    assert voice_app.paths() == ["incoming", "screen", "dial-status"]
    dial = voice_app.params("dial-status")
    assert set(dial) == DIAL and "AnsweredBy" not in dial
    assert (dial["DialCallStatus"], dial["DialBridged"]) == ("completed", "false")
    assert dial["DialCallSid"] == voice_app.params("screen")["CallSid"]
    assert any("hangs up at the beep" in line for line in lines)  # <Record>, no --leave-voicemail


@pytest.mark.parametrize(
    ("outcome", "verdict"), [("accepted", "human"), ("voicemail", "machine_start")]
)
async def test_amd_verdict_goes_to_the_amd_callback_only(
    voice_app: FakeVoiceApp, outcome: str, verdict: str
) -> None:
    voice_app.check = "amd"
    await call(voice_app, outcome)
    assert voice_app.paths() == ["incoming", "amd", "dial-status"]
    amd, dial = voice_app.params("amd"), voice_app.params("dial-status")
    assert set(amd) == {"CallSid", "AccountSid", "AnsweredBy", "MachineDetectionDuration"}
    assert amd["AnsweredBy"] == verdict and amd["CallSid"] == dial["DialCallSid"]
    assert "AnsweredBy" not in dial and dial["DialBridged"] == "true"


async def test_plain_number_asks_nothing_of_the_leg(voice_app: FakeVoiceApp) -> None:
    voice_app.check = "none"
    await call(voice_app, "voicemail")
    assert voice_app.paths()[:2] == ["incoming", "dial-status"]
    dial = voice_app.params("dial-status")
    assert (dial["DialCallStatus"], dial["DialBridged"]) == ("completed", "true")


async def test_team_ring_first_phone_accepts(voice_app: FakeVoiceApp) -> None:
    voice_app.phones = (OWNER, TEAM)
    await call(voice_app, "accepted")
    assert voice_app.params("screen")["To"] == OWNER
    assert voice_app.paths().count("screen") == 1


async def test_leave_voicemail_posts_record_action_and_recording_callback(
    voice_app: FakeVoiceApp,
) -> None:
    lines = await call(voice_app, "no-answer", "my furnace is out")
    assert voice_app.paths() == ["incoming", "dial-status", "voicemail-done", "recording"]
    parent = voice_app.params("incoming")["CallSid"]
    done, status = voice_app.params("voicemail-done"), voice_app.params("recording")
    assert set(done) == PARENT | {"RecordingUrl", "RecordingDuration", "Digits"}
    assert done["Digits"] == "hangup" and done["CallSid"] == parent
    assert set(status) == RECORDING and status["CallSid"] == parent
    sid, url = status["RecordingSid"], status["RecordingUrl"]
    assert url == f"{voice_app.base}/sandbox/twilio/2010-04-01/Accounts/{'AC' + '0' * 32}" + (
        f"/Recordings/{sid}"
    )
    assert done["RecordingUrl"] == url and int(status["RecordingDuration"]) >= 1
    assert (status["RecordingStatus"], status["RecordingChannels"]) == ("completed", "1")
    async with aiohttp.ClientSession() as session, session.get(url + ".wav") as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "audio/x-wav"
        assert_wav(await resp.read())
    assert any("still in the sandbox Twilio" in line for line in lines)  # nobody deleted it


async def test_after_hours_voicemail_follows_the_record_in_the_incoming_twiml(
    voice_app: FakeVoiceApp,
) -> None:
    voice_app.after_hours = True
    await call(voice_app, "accepted", "call me tomorrow")  # nobody is dialled: no outcome plays
    assert voice_app.paths() == ["incoming", "voicemail-done", "recording"]
    assert voice_app.params("recording")["CallSid"] == voice_app.params("incoming")["CallSid"]


async def test_a_caller_who_hung_up_leaves_no_voicemail(voice_app: FakeVoiceApp) -> None:
    lines = await call(voice_app, "canceled", "too late")
    assert voice_app.paths() == ["incoming", "dial-status"]
    assert voice_app.params("dial-status")["CallStatus"] == "completed"
    assert not any("leaves a voicemail" in line for line in lines)


def test_all_outcomes_are_documented() -> None:
    assert OUTCOMES == (
        "no-answer", "busy", "failed", "canceled", "accepted", "voicemail", "declined",
    )  # fmt: skip


# --- the WAV and the sandbox Twilio routes -------------------------------------------------------


def assert_wav(audio: bytes) -> None:
    with wave.open(io.BytesIO(audio), "rb") as wav:
        assert wav.getnframes() > 0 and wav.getframerate() > 0
        assert wav.getsampwidth() == 2 and wav.getnchannels() == 1


def test_wav_from_espeak_ng() -> None:
    import shutil

    if not shutil.which("espeak-ng"):
        pytest.skip("espeak-ng is not installed (.ci/run installs it)")
    speech = make_voicemail_wav("my furnace is out")
    assert speech.made_by == "espeak-ng" and speech.seconds > 0.5
    assert_wav(speech.audio)


def test_wav_without_espeak_ng() -> None:
    speech = make_voicemail_wav("my furnace is out", espeak=None)
    assert "wave" in speech.made_by and speech.seconds >= 1
    assert_wav(speech.audio)


async def test_sandbox_recordings_get_json_delete(voice_app: FakeVoiceApp) -> None:
    account, call_sid = "AC" + "a" * 32, "CA" + "b" * 32
    audio = make_voicemail_wav("hello there", espeak=None).audio
    async with aiohttp.ClientSession() as session:
        upload = f"{voice_app.base}{sandbox_twilio.UPLOAD_PATH}"
        async with session.post(upload, params={"AccountSid": account}, data=audio) as resp:
            assert resp.status == 400  # CallSid is required
        async with session.post(upload, data=b"not a wav", params=_q(account, call_sid)) as resp:
            assert resp.status == 400
        async with session.post(upload, data=audio, params=_q(account, call_sid)) as resp:
            assert resp.status == 201
            created: dict[str, Any] = await resp.json()
        url = sandbox_twilio.recording_url(voice_app.base, account, created["sid"])
        async with session.get(url + ".wav") as resp:
            assert resp.status == 200 and await resp.read() == audio
        async with session.get(url) as resp:  # no extension: the WAV, as Twilio does
            assert resp.status == 200 and resp.headers["Content-Type"] == "audio/x-wav"
        async with session.get(url + ".json") as resp:
            meta = await resp.json()
        assert meta["sid"] == created["sid"] and meta["call_sid"] == call_sid
        assert meta["account_sid"] == account and meta["duration"] == "1"
        assert meta["uri"].endswith(f"/Recordings/{created['sid']}.json")
        assert meta["source"] == "RecordVerb" and meta["channels"] == 1
        other = sandbox_twilio.recording_url(voice_app.base, "AC" + "c" * 32, created["sid"])
        async with session.get(other + ".wav") as resp:
            assert resp.status == 404  # another account's URL
        async with session.delete(url + ".json") as resp:
            assert resp.status == 204
        for suffix in (".wav", ".json"):
            async with session.get(url + suffix) as resp:
                assert resp.status == 404
                assert (await resp.json())["code"] == 20404
        async with session.delete(url + ".json") as resp:
            assert resp.status == 404
    assert voice_app.app is not None
    store = voice_app.app[sandbox_twilio.STORE_KEY]
    assert store.deleted == [created["sid"]]


def _q(account: str, call_sid: str) -> dict[str, str]:
    return {"AccountSid": account, "CallSid": call_sid}
