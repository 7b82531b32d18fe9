"""When a throughput batch stops making progress: where the app waits, and a bigger pool.

`bench.sms_pipeline`'s throughput run declares a batch size stalled when no batch completes for
a few seconds. A number alone would say nothing about why, so the run reports which app frames
its tasks are suspended in (`app_frame`), and re-runs the stalled sizes with the asyncpg pool
patched bigger (`pool_of`) to show what the batch size would give without the stall. Both only
look at or patch the bench's own process; the app's code is not changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg


def app_frame(task: asyncio.Task[Any]) -> str | None:
    """The innermost shared_code/ or functions/ frame a task is suspended in, if any."""
    where: str | None = None
    awaiting: Any = task.get_coro()
    while awaiting is not None:
        frame = getattr(awaiting, "cr_frame", None) or getattr(awaiting, "ag_frame", None)
        if frame is not None and ("/shared_code/" in frame.f_code.co_filename or (
            "/functions/" in frame.f_code.co_filename
        )):  # fmt: skip
            where = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{frame.f_lineno}"
        awaiting = getattr(awaiting, "cr_await", None) or getattr(awaiting, "ag_await", None)
    return where


@asynccontextmanager
async def pool_of(size: int) -> AsyncIterator[None]:
    """The app's pool with max_size `size` instead of its own (what-if runs only)."""
    from shared_code.platform import db

    create_pool = asyncpg.create_pool

    def bigger(*args: Any, **kwargs: Any) -> Any:
        return create_pool(*args, **{**kwargs, "max_size": size})

    await db.close_pool()
    asyncpg.create_pool = bigger
    try:
        yield
    finally:
        asyncpg.create_pool = create_pool
        await db.close_pool()
