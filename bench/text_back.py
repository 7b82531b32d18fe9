"""Missed call to text-back, end to end through the local stack.

Each round plays a missed call the way Twilio does (signed `voice/incoming`, then the signed
`<Dial action>` with no-answer) against devhost serving the real app, then waits for the
text-back to land in the SMS sandbox (no send delay). The figure is the time from the
dial-status request to the text being stored; the floor in the same run is the dial-status
webhook's own round trip. Run: `python -m bench.text_back [ROUNDS]`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from pathlib import Path

import aiohttp
from twilio.request_validator import RequestValidator

from bench.stack import bench_stack, summary
from devhost.services import free_port

BUSINESS, OWNER = "+12125550143", "+12125550199"
HOST_JSON = {"extensions": {"queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:00"}}}


async def _post(session: aiohttp.ClientSession, url: str, token: str, params: dict) -> float:
    signature = RequestValidator(token).compute_signature(url, params)
    began = time.perf_counter()
    async with session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as r:
        assert r.status == 200, await r.text()
        await r.read()
    return (time.perf_counter() - began) * 1000


async def main(rounds: int) -> dict[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with bench_stack(
        PUBLIC_BASE_URL=url,
        EVENTGRID_TOPIC_ENDPOINT=f"{url}/runtime/topic/api/events",
        EVENTGRID_TOPIC_KEY="bench",
        TEXT_BACK_COOLDOWN_HOURS="0",
        SMS_RATE_PER_SECOND="100000",  # "no send delay": the per-number pace is not measured
    ) as env:
        import function_app
        from devhost.host import start_host
        from shared_code.businesses.store import BusinessCreate, create_business
        from shared_code.platform.db import get_pool

        runner = await start_host(function_app, port, host_json=HOST_JSON, run_timers=False)
        await create_business(
            BusinessCreate(
                name="Bench Plumbing", phone_number=BUSINESS, owner_phone=OWNER,
                time_zone="America/Chicago",
            )
        )  # fmt: skip
        pool = await get_pool()
        token = env["TWILIO_AUTH_TOKEN"]
        end_to_end: list[float] = []
        ack: list[float] = []
        async with aiohttp.ClientSession() as session:
            for n in range(rounds + 5):
                caller = f"+1415555{n:04d}"
                base = {"CallSid": "CA" + secrets.token_hex(16), "From": caller, "To": BUSINESS}
                await _post(session, url + "/api/voice/incoming", token, base)
                began = time.perf_counter()
                ack_ms = await _post(
                    session, url + "/api/voice/dial-status", token,
                    {**base, "DialCallStatus": "no-answer", "DialCallDuration": "0"},
                )  # fmt: skip
                while not await pool.fetchval(
                    "SELECT 1 FROM sandbox_messages WHERE to_number = $1", caller
                ):
                    if time.perf_counter() - began > 30:
                        raise TimeoutError(f"no text-back to {caller} within 30 s")
                    await asyncio.sleep(0.002)
                if n >= 5:  # the first rounds warm connections and caches
                    end_to_end.append((time.perf_counter() - began) * 1000)
                    ack.append(ack_ms)
        await runner.stop()
    e2e, floor = summary(end_to_end), summary(ack)
    return {
        "rounds": rounds,
        "missed_call_to_text_back": e2e,
        "dial_status_ack": floor,
        "p50_ratio_to_ack": round(e2e["p50_ms"] / floor["p50_ms"], 2),
        "target": {"p50_ms_max": 1000},
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    outcome = asyncio.run(main(count))
    print(json.dumps(outcome, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/text_back.json").write_text(json.dumps(outcome, indent=2))
