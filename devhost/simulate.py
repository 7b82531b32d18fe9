"""Play Twilio against the local host: an inbound text here, a call in `devhost.simulate_call`.

Every webhook is signed exactly as Twilio signs it (HMAC over PUBLIC_BASE_URL + path + query and
the sorted form parameters, with TWILIO_AUTH_TOKEN), so the app's signature check runs for real
locally. The request itself goes to `--host`, which may differ from the public URL, just as it
does behind Azure's front ends. After the webhooks, the simulator shows what the app "texted"
through the local SMS sandbox, and `show_transcript` prints a customer's conversation as stored.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from twilio.request_validator import RequestValidator

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
# 555-01XX numbers are reserved for fiction yet valid to `phonenumbers` (555-1234 style is not).
DEMO_CALLER = "+14155550100"
DEMO_BUSINESS = "+12125550143"
DEMO_OWNER = "+12125550199"
REPLY_SETTLE_SECONDS = 0.5  # after the reply: room for texts sent with it (an owner alert)
QUIET_AFTER_BURST_SECONDS = 2.5  # no reply coming: quiet this long after the burst window

Printer = Callable[[str], None]


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Twilio:
    """Signs and sends webhooks as Twilio would."""

    host: str
    public_base_url: str
    auth_token: str
    account_sid: str
    session: aiohttp.ClientSession

    @classmethod
    def from_env(cls, host: str, session: aiohttp.ClientSession) -> Twilio:
        return cls(
            host=host.rstrip("/"),
            public_base_url=(os.environ.get("PUBLIC_BASE_URL") or "http://localhost:7071").rstrip(
                "/"
            ),
            auth_token=os.environ.get("TWILIO_AUTH_TOKEN", ""),
            account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or DEFAULT_ACCOUNT_SID,
            session=session,
        )

    def public_url(self, path_and_query: str) -> str:
        """The URL Twilio would call (and sign): absolute URLs kept, relative ones resolved."""
        url = urljoin(self.public_base_url + "/", path_and_query)
        return url.split("#", 1)[0]  # "#ct=..&rc=.." fragments tune retries; never signed or sent

    def signature(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    async def post(self, path_and_query: str, params: dict[str, str]) -> tuple[int, str, str]:
        """POST a signed form; returns (status, content type, body)."""
        url = self.public_url(path_and_query)
        parts = urlsplit(url)
        target = self.host + parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {
            "X-Twilio-Signature": self.signature(url, params),
            "User-Agent": "TwilioProxy/1.1 (devhost simulator)",
            "I-Twilio-Idempotency-Token": secrets.token_hex(16),
        }
        async with self.session.post(target, data=params, headers=headers) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def show_response(out: Printer, label: str, status: int, content_type: str, body: str) -> None:
    out(f"── {label}: HTTP {status} ({content_type or 'no content type'})")
    out(body.strip() or "(empty body)")


async def sandbox_ids(
    session: aiohttp.ClientSession, host: str, after: int = 0
) -> list[dict[str, Any]]:
    async with session.get(f"{host}/sandbox/messages", params={"after": str(after)}) as resp:
        if resp.status != 200:
            return []
        rows = await resp.json()
        return list(rows) if isinstance(rows, list) else []


async def latest_sandbox_id(session: aiohttp.ClientSession, host: str) -> int:
    """The newest sandbox text's id (the route answers in pages, oldest first)."""
    latest = 0
    while rows := await sandbox_ids(session, host, latest):
        newest = max(int(r.get("id", 0)) for r in rows)
        if newest <= latest:
            break
        latest = newest
    return latest


async def watch_sandbox(
    session: aiohttp.ClientSession,
    host: str,
    after: int,
    out: Printer,
    wait: float,
    expect: int | None = None,
    *,
    reply_to: str | None = None,
    quiet: float | None = None,
    until: Callable[[list[dict[str, Any]]], bool] | None = None,
    nothing: str = "no texts; check the host's log",
) -> list[dict[str, Any]]:
    """Print texts that appear in the sandbox for up to `wait` s; returns them.

    Stops sooner once `expect` texts arrived, or a text to `reply_to` arrived (plus a moment for
    texts sent with it), or some texts arrived and then none for `quiet` s (and, with `until`,
    once `until(texts)` holds). `nothing` is printed when no text came.
    """
    out(f"── texts sent by the app (watching the sandbox for up to {wait:.0f}s)")
    seen: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    last_new = loop.time()
    while loop.time() < deadline:
        rows = await sandbox_ids(session, host, after)
        for row in rows:
            after = max(after, int(row.get("id", 0)))
            seen.append(row)
            out(
                f"  to {row.get('to_number')}  from {row.get('from_number')}:\n"
                f"    {row.get('body')}"
            )
        now = loop.time()
        if rows:
            last_new = now
            if reply_to is not None and any(r.get("to_number") == reply_to for r in rows):
                deadline = min(deadline, now + REPLY_SETTLE_SECONDS)
        if expect is not None and len(seen) >= expect:
            break
        settled = quiet is not None and seen and now - last_new >= quiet
        if settled and (until is None or until(seen)):
            break
        await asyncio.sleep(0.3)
    if not seen:
        out(f"  ({nothing})")
    return seen


async def simulate_sms(
    host: str,
    from_number: str,
    to_number: str,
    body: str,
    *,
    out: Printer = print,
    wait: float = 20.0,
) -> list[dict[str, Any]]:
    """Someone texts the business number. Returns the new sandbox texts (the app's answers).

    A customer's reply comes BURST_WINDOW_SECONDS (default 2) after their text, so the watch
    lasts until a text to the sender arrived, or texts arrived and then none came for the burst
    window plus a moment (a text relayed to the owner who took over, the owner's text delivered
    to the customer), or `wait` seconds passed. From the owner's phone (the business's
    `owner_phone`) the body is a command: "#12 On my way" texts the customer of conversation 12
    and takes it over, "#12 release" hands it back to the assistant, "#12 close" closes it.
    """
    async with aiohttp.ClientSession() as session:
        twilio = Twilio.from_env(host, session)
        baseline = await latest_sandbox_id(session, twilio.host)
        params = {
            "MessageSid": new_sid("SM"),
            "SmsSid": "",
            "AccountSid": twilio.account_sid,
            "From": from_number,
            "To": to_number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        params["SmsSid"] = params["MessageSid"]
        params["SmsMessageSid"] = params["MessageSid"]
        status, ctype, text = await twilio.post("/api/sms/incoming", params)
        if status == 404:
            out("── POST /api/sms/incoming: 404, the SMS responder is not in function_app yet")
            return []
        show_response(out, "POST /api/sms/incoming", status, ctype, text)
        if status != 200:
            return []
        return await watch_sandbox(
            session, twilio.host, baseline, out, wait,
            reply_to=from_number, quiet=burst_window_seconds() + QUIET_AFTER_BURST_SECONDS,
        )  # fmt: skip


def burst_window_seconds() -> float:
    """The host's BURST_WINDOW_SECONDS (same settings as the host), default 2."""
    try:
        return max(0.0, float(os.environ.get("BURST_WINDOW_SECONDS") or 2.0))
    except ValueError:
        return 2.0


async def fetch_transcript(
    session: aiohttp.ClientSession, host: str, phone: str, limit: int = 1
) -> dict[str, Any]:
    """`GET /sandbox/transcript`: the customer's latest conversations, messages in order."""
    params = {"phone": phone, "limit": str(limit)}
    async with session.get(f"{host.rstrip('/')}/sandbox/transcript", params=params) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 200:
            message = body.get("error") if isinstance(body, dict) else body
            raise LookupError(f"GET /sandbox/transcript: HTTP {resp.status}: {message}")
        return dict(body)


def _clock(value: str | None, with_date: bool = False) -> str:
    if not value:
        return "--:--:--"
    moment = datetime.fromisoformat(value).astimezone()  # this machine's local time
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")


def format_transcript(transcript: dict[str, Any]) -> list[str]:
    """Readable lines: one header per conversation, then `time  author  text` per message."""
    phone = transcript.get("phone", "")
    conversations = transcript.get("conversations") or []
    if not conversations:
        return [f"── no conversation with {phone} yet"]
    lines: list[str] = []
    for conv in reversed(conversations):  # oldest first, so the latest ends the output
        mode = "owner has taken over" if conv.get("mode") == "owner" else "assistant answers"
        state = f"open, {mode}" if conv.get("status") == "open" else "closed"
        lines.append(
            f"── conversation #{conv.get('ref')} with {phone}: {conv.get('business_name')}"
            f" ({conv.get('business_number')}), {state}"
        )
        lines.append(f"   opened {_clock(conv.get('opened_at'), with_date=True)}")
        lead = {k: v for k, v in (conv.get("lead") or {}).items() if v}
        if lead:
            lines.append("   lead: " + "; ".join(f"{k}: {v}" for k, v in lead.items()))
        for msg in conv.get("messages") or []:
            text = " ".join(str(msg.get("body", "")).split())
            lines.append(f"  {_clock(msg.get('at'))}  {msg.get('author', ''):<9}  {text}")
        if not conv.get("messages"):
            lines.append("  (no messages)")
    return lines


async def show_transcript(
    host: str, phone: str, *, limit: int = 1, out: Printer = print
) -> dict[str, Any]:
    """Print the latest `limit` conversation(s) with `phone` as stored by the app."""
    async with aiohttp.ClientSession() as session:
        transcript = await fetch_transcript(session, host, phone, limit)
    for line in format_transcript(transcript):
        out(line)
    return transcript


async def register_business(
    host: str,
    name: str,
    phone_number: str,
    owner_phone: str,
    time_zone: str,
    *,
    out: Printer = print,
) -> dict[str, Any] | None:
    """Create a business through the admin API (ADMIN_API_KEY), so simulated calls reach someone."""
    body = {
        "name": name,
        "phone_number": phone_number,
        "owner_phone": owner_phone,
        "time_zone": time_zone,
    }
    headers = {"Authorization": f"Bearer {os.environ.get('ADMIN_API_KEY', '')}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{host.rstrip('/')}/api/v1/businesses", json=body, headers=headers) as resp,
    ):
        text = await resp.text()
        if resp.status == 201 or resp.status == 200:
            created: dict[str, Any] = await resp.json()
            business = created.get("business", {})
            out(f"── registered {business.get('name')} on {business.get('phone_number')}")
            out(f"   business id:   {business.get('id')}")
            out(f"   owner API key: {created.get('owner_api_key')} (shown once)")
            return created
        out(f"── POST /api/v1/businesses: HTTP {resp.status}\n{text}")
        return None
