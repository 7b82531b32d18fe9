"""A worker's cold start imports only what answering a webhook needs (bench/cold_start times it).

The heavy clients (the `openai` package, Twilio's REST client, Event Grid's publisher, the
price tables) load on first use, and so do the queue processors behind the webhooks (the
responder with the assistant, the missed-call handler). One top-level import anywhere on
`function_app`'s import path would silently add up to half a second to every cold start, so
this checks, in a fresh interpreter (this one has long imported them all), that they are still
absent after the app is imported, and that the clients do load when first used.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOADED_ON_FIRST_USE = (
    "openai",
    "twilio.rest",
    "twilio.http.async_http_client",
    "azure.eventgrid",
    "azure.core.messaging",
    "genai_prices",
)
QUEUE_PROCESSORS = (
    "shared_code.assistant",
    "shared_code.messaging.responder",
    "shared_code.calls.handler",
    # the sending side (after commit), the alerts, the credits and the API's resources: each
    # adapter imports its handler on first use
    "tenacity",
    "shared_code.messaging.delivery",
    "shared_code.messaging.owner_alerts",
    "shared_code.credits",
    "shared_code.api.businesses",
    "shared_code.api.conversations",
    "shared_code.api.account",
    # the recordings processor, its storage clients and the voicemail API
    "shared_code.calls.voicemail",
    "shared_code.calls.voicemail_delivery",
    "shared_code.calls.recordings",
    "shared_code.api.voicemails",
    "azure.storage.blob",
    "boto3",
)


def _loaded_after(code: str, modules: tuple[str, ...] = LOADED_ON_FIRST_USE) -> list[str]:
    """Which of `modules` a fresh interpreter has loaded after running `code`."""
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_app_loads_no_heavy_client_and_no_queue_processor() -> None:
    assert _loaded_after("import function_app", LOADED_ON_FIRST_USE + QUEUE_PROCESSORS) == []


def test_heavy_clients_load_when_first_used() -> None:
    """The probe above can see them: building each client imports its package."""
    first_use = """
import asyncio, os
from datetime import UTC, datetime
os.environ.update(TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="token",
                  EVENTGRID_TOPIC_ENDPOINT="http://127.0.0.1:9/api/events", OPENAI_API_KEY="sk-x")
import function_app
from shared_code.credits import pricing
from shared_code.platform import events, lifecycle, openai_client, twilio_client

async def first_use():
    twilio_client._get_client()
    events._get_publisher()
    await openai_client.get_client(1.0)
    pricing.price_ai("gpt-4o-mini", 10, 0, 10)
    events._to_cloud_event({"source": "/nevermiss/test", "type": "nevermiss.call.missed",
                            "data": {}, "subject": None, "id": "1",
                            "occurred_at": datetime.now(UTC)})
    await lifecycle.close_all()

asyncio.run(first_use())
"""
    assert _loaded_after(first_use) == list(LOADED_ON_FIRST_USE)
