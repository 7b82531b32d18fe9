"""How fast the dial-status webhook acknowledges Twilio, against its floor.

Handles N signed `POST /api/voice/dial-status` requests in process through the registered
function (verify the signature, dedupe in Redis, enqueue on Azurite, answer TwiML), one at a
time, against real Redis and Azurite. The floor, measured in the same run, is the I/O the path
cannot avoid: one Redis `SET NX` plus one queue put. Run: `python -m bench.webhook_ack [N]`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import azure.functions as func
from twilio.request_validator import RequestValidator

from bench.stack import bench_stack, summary

BUSINESS_NUMBER = "+13125550100"


def _signed_requests(n: int, token: str, base: str) -> list[func.HttpRequest]:
    validator = RequestValidator(token)
    requests = []
    for _ in range(n):
        params = {
            "AccountSid": "AC" + secrets.token_hex(16),
            "CallSid": "CA" + secrets.token_hex(16),
            "From": "+1312555" + f"{secrets.randbelow(10_000):04d}",
            "To": BUSINESS_NUMBER,
            "CallStatus": "in-progress",
            "DialCallStatus": "no-answer",
            "DialCallDuration": "0",
            "DialCallSid": "CA" + secrets.token_hex(16),
        }
        signature = validator.compute_signature(base + "/api/voice/dial-status", params)
        requests.append(
            func.HttpRequest(
                "POST",
                "http://10.0.0.4/api/voice/dial-status",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                },
                body=urlencode(params).encode(),
            )
        )
    return requests


async def _floor(n: int) -> list[float]:
    """One Redis SET NX plus one queue put per request: the path's unavoidable I/O."""
    from shared_code.platform import cache, queues

    samples = []
    for _ in range(n):
        key = "bench:floor:" + secrets.token_hex(8)
        started = time.perf_counter()
        await cache.first_seen(key, 60)
        await queues.enqueue("bench-floor", {"call_sid": key})
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def main(n: int) -> dict[str, object]:
    async with bench_stack() as env:
        import function_app
        from devhost.catalog import get_functions_once
        from shared_code.businesses.store import BusinessCreate, create_business

        await create_business(
            BusinessCreate(
                name="Bench Plumbing", phone_number=BUSINESS_NUMBER,
                owner_phone="+13125550101", time_zone="America/Chicago",
            )
        )  # fmt: skip
        handler = next(
            f.get_user_function()
            for f in get_functions_once(function_app.app)
            if f.get_function_name() == "voice_dial_status"
        )
        requests = _signed_requests(n, env["TWILIO_AUTH_TOKEN"], env["PUBLIC_BASE_URL"])
        for request in _signed_requests(200, env["TWILIO_AUTH_TOKEN"], env["PUBLIC_BASE_URL"]):
            await handler(request)  # warm-up: connections, caches
        await _floor(200)

        gc.disable()
        webhook: list[float] = []
        floor: list[float] = []
        # Interleave chunks so both see the same machine noise.
        chunk = 500
        for start in range(0, n, chunk):
            for request in requests[start : start + chunk]:
                began = time.perf_counter()
                response = await handler(request)
                webhook.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.get_body()
            floor.extend(await _floor(min(chunk, n - start)))
        gc.enable()

        from shared_code.platform import queues

        calls = await queues.get_queue(queues.CALLS_QUEUE)
        queued = (await calls.get_queue_properties()).approximate_message_count

    w, f = summary(webhook), summary(floor)
    result = {
        "requests": n,
        "queued": queued,
        "webhook": w,
        "floor_setnx_plus_put": f,
        "p50_ratio": round(w["p50_ms"] / f["p50_ms"], 2),
        "p99_ratio": round(w["p99_ms"] / f["p99_ms"], 2),
        "targets": {"p50_ratio_max": 1.5, "p99_ms_max": 15},
    }
    return result


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    outcome = asyncio.run(main(count))
    print(json.dumps(outcome, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/webhook_ack.json").write_text(json.dumps(outcome, indent=2))
