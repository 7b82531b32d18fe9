"""Closing what the app opens lazily (pool, clients), before the services behind them stop.

The Functions worker never calls this; devhost, tests and benchmarks do on shutdown.
"""

from __future__ import annotations

from shared_code.assistant import model
from shared_code.platform import db, events, queues, twilio_client


async def close_all() -> None:
    await events.close_publisher()
    await twilio_client.close_client()
    await model.close_client()
    await queues.close_all()
    await db.close_pool()
