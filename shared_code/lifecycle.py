"""Closing what the app opens lazily (pool, clients), before the services behind them stop.

The Functions worker never calls this; devhost, tests and benchmarks do on shutdown.
"""

from __future__ import annotations

from shared_code import assistant, db, events, queues, twilio_gateway


async def close_all() -> None:
    await events.close_publisher()
    await twilio_gateway.close_client()
    await assistant.close_client()
    await queues.close_all()
    await db.close_pool()
