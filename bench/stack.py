"""Start the real dependencies for a benchmark run (temporary, on free ports) and set settings."""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from devhost.services import EmbeddedService, start_azurite, start_postgres, start_redis

# The benchmarks' PostgreSQL is sized like the server it stands for, not like initdb's 128MB
# defaults: Azure Database for PostgreSQL Flexible Server sizes shared_buffers by the SKU's
# memory (a quarter of a 2-vCore, 8 GiB server's) and sets max_wal_size to 2048 MiB on a
# 32 GiB disk. The benches print the settings they ran with.
PG_CONFIG = {"shared_buffers": "2GB", "max_wal_size": "2GB"}


@asynccontextmanager
async def bench_stack(**settings: str) -> AsyncIterator[dict[str, str]]:
    root = Path(tempfile.mkdtemp(prefix="nevermiss-bench-"))
    started: list[EmbeddedService] = []
    try:
        pg = start_postgres(root / "pg", PG_CONFIG)
        started.append(pg)
        redis = start_redis(root / "redis")
        started.append(redis)
        azurite = start_azurite(root / "azurite")
        started.append(azurite)
        env = {
            "DATABASE_URL": pg.url,
            "REDIS_URL": redis.url,
            "AzureWebJobsStorage": azurite.url,
            "EVENTGRID_TOPIC_ENDPOINT": "",
            "PUBLIC_BASE_URL": "https://nevermiss.example.com",
            "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
            "QUIET_HOURS_START": "00:00",
            "QUIET_HOURS_END": "00:00",
            "LOG_LEVEL": "WARNING",
            "OUTBOX_SCHEDULE": "0 */1 * * * *",
            "STREAK_REWARDS_SCHEDULE": "0 5 * * * *",
            **settings,
        }
        os.environ.update(env)
        from shared_code.platform import db
        from shared_code.platform.settings import reset_settings

        reset_settings()
        await db.migrate()
        yield env
        from shared_code.platform.lifecycle import close_all

        await close_all()
    finally:
        for service in reversed(started):
            service.stop()
        # The data is throwaway, and a million-business run leaves ~4 GB of it.
        shutil.rmtree(root, ignore_errors=True)


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def summary(samples_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": round(percentile(samples_ms, 50), 3),
        "p99_ms": round(percentile(samples_ms, 99), 3),
        "mean_ms": round(statistics.fmean(samples_ms), 3),
    }
