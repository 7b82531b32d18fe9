"""The follow-up and funnel part of a newcomer's tour, against the local host.

`simulate_followups` finds the caller's latest conversation (the sandbox transcript), waits for
its first follow-up to be scheduled (the text-back's `message.sent` reaches the scheduler
through devhost's local topic), then sends the next step(s) now instead of in 30 minutes, with
the owner API's "follow up now" (`POST /api/v1/conversations/{id}/followups/next`, the admin
key): the same rules as the timer apply, so a caller who replied gets nothing. The texts show
up from the sandbox. `show_funnel` prints the business's funnel for the last week. Mark the
lead won in between as the owner would: `simulate sms --from <owner> --body "#12 won 450"`.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from devhost.simulate import Printer, fetch_transcript, latest_sandbox_id, watch_sandbox


def _admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {os.environ.get('ADMIN_API_KEY', '')}"}


async def _json(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any]:
    async with session.request(method, url, headers=_admin(), **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


async def _conversation(session: aiohttp.ClientSession, host: str, phone: str) -> dict[str, Any]:
    transcript = await fetch_transcript(session, host, phone)
    conversations = transcript.get("conversations") or []
    if not conversations:
        raise LookupError(f"no conversation with {phone} yet: simulate a missed call first")
    return dict(conversations[0])


def _step_line(step: dict[str, Any]) -> str:
    state = step["status"] + (f" ({step['reason']})" if step.get("reason") else "")
    return f"   step {step['step']}: {state}, due {step['due_at']}"


async def simulate_followups(
    host: str, phone: str, *, steps: int = 1, out: Printer = print, wait: float = 20.0
) -> list[dict[str, Any]]:
    """Send the caller's next `steps` follow-ups now; returns the texts the sandbox showed."""
    host = host.rstrip("/")
    texts: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        conversation = await _conversation(session, host, phone)
        url = f"{host}/api/v1/conversations/{conversation['id']}/followups"
        out(f"── follow-ups of conversation #{conversation['ref']} with {phone}")
        for _ in range(steps):
            if not await _wait_scheduled(session, url, out, wait):
                break
            baseline = await latest_sandbox_id(session, host)
            status, body = await _json(session, "POST", f"{url}/next")
            if status != 200:
                out(f"── POST {url}/next: HTTP {status}: {body}")
                break
            out(f"── step {body['step']}: {body['outcome']} (sent now instead of when due)")
            if body["outcome"] != "sent":
                break
            texts += await watch_sandbox(session, host, baseline, out, wait, expect=1)
        if texts:  # the next step is scheduled on the sent text's `message.sent`: show it too
            await _wait_scheduled(session, url, lambda _line: None, min(wait, 5.0))
        status, body = await _json(session, "GET", url)
        for step in body.get("followups", []) if status == 200 else []:
            out(_step_line(step))
    return texts


async def _wait_scheduled(
    session: aiohttp.ClientSession, url: str, out: Printer, wait: float
) -> bool:
    """Until a step is scheduled (the scheduler runs on the previous text's `message.sent`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while loop.time() < deadline:
        status, body = await _json(session, "GET", url)
        if status == 200 and any(s["status"] == "scheduled" for s in body["followups"]):
            return True
        if status == 200 and body["followups"] and body["followups"][-1]["status"] == "cancelled":
            out(f"── follow-ups stopped: {body['followups'][-1]['reason']}")
            return False
        await asyncio.sleep(0.3)
    out("── no follow-up scheduled yet (is the host running its Event Grid fan-out?)")
    return False


FUNNEL_COLUMNS = (
    "missed_calls", "text_backs_sent", "replied", "qualified", "booked", "won",
    "value_won_micro", "median_seconds_to_first_reply",
)  # fmt: skip


async def show_funnel(
    host: str, phone: str, *, days: int = 7, out: Printer = print
) -> dict[str, Any]:
    """Print the funnel of the business `phone` last talked to, for the last `days` days."""
    host = host.rstrip("/")
    async with aiohttp.ClientSession() as session:
        conversation = await _conversation(session, host, phone)
        status, body = await _json(
            session, "GET", f"{host}/api/v1/conversations/{conversation['id']}"
        )
        if status != 200:
            raise LookupError(f"GET conversation: HTTP {status}: {body}")
        business_id = body["conversation"]["business_id"]
        today = datetime.now(UTC).date()
        params = {
            "business_id": business_id,
            "from": (today - timedelta(days=days)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat(),
        }
        status, report = await _json(session, "GET", f"{host}/api/v1/reports/funnel", params=params)
    if status != 200:
        raise LookupError(f"GET /api/v1/reports/funnel: HTTP {status}: {report}")
    out(f"── funnel of {conversation['business_name']}, {report['from']} to {report['to']}")
    for row in [*report["periods"], report["total"]]:
        if row["missed_calls"] or row["period"] == "total":
            cells = ", ".join(f"{c} {row[c]}" for c in FUNNEL_COLUMNS if row[c] is not None)
            out(f"   {row['period']}: {cells}")
    return dict(report)
