"""Closing what the app opens lazily (pool, clients), before the services behind them stop.

The Functions worker never calls this; devhost, tests and benchmarks do on shutdown. Closing a
client that was never built imports nothing (the `openai`, Twilio REST, Event Grid and Blob packages
load on first use only).
"""

from __future__ import annotations

from shared_code.platform import (
    azure_identity,
    blobs,
    db,
    events,
    openai_client,
    queues,
    twilio_client,
)


async def close_all() -> None:
    await events.close_publisher()
    await twilio_client.close_client()
    await openai_client.close_client()
    await queues.close_all()
    await blobs.close_client()
    await azure_identity.close_credential()
    await db.close_pool()
