"""PostgreSQL through asyncpg: one pool per worker process, and the migration runner.

With MIGRATE_ON_START (the default) a worker applies pending migrations before opening its
pool, so a deployment needs no separate step that reaches the private database.

Migrations are plain numbered `.sql` files in `migrations/`, applied in name order inside one
transaction each and recorded in `schema_migrations`. An advisory lock lets several processes
(devhost, tests, a deploy step) call `migrate()` at once without racing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg

from shared_code.platform.settings import get_settings

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
_MIGRATION_LOCK_KEY = 7_301_001  # arbitrary, constant: pg_advisory_xact_lock key for migrations

_pool: asyncpg.Pool | None = None
_pool_loop: asyncio.AbstractEventLoop | None = None
_pool_lock = asyncio.Lock()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def get_pool() -> asyncpg.Pool:
    """The process's pool, created on first use (and again if the event loop changed)."""
    global _pool, _pool_loop, _pool_lock
    loop = asyncio.get_running_loop()
    if _pool is not None and _pool_loop is loop:
        return _pool
    if _pool_loop is not loop:
        _pool_lock = asyncio.Lock()
    async with _pool_lock:
        if _pool is None or _pool_loop is not loop:
            settings = get_settings()
            dsn = settings.database_url.get_secret_value()
            if not dsn:
                raise RuntimeError("DATABASE_URL is not set")
            if settings.migrate_on_start:
                # Each worker process brings the schema up to date once, before its first
                # query (the advisory lock makes concurrent cold starts take turns).
                await migrate()
            _pool = await asyncpg.create_pool(
                dsn,
                min_size=1,
                max_size=settings.database_pool_size,
                init=_init_connection,
                command_timeout=30,
                **pooler_options(),
            )
            _pool_loop = loop
    return _pool


def pooler_options() -> dict[str, Any]:
    """asyncpg options for the pooler in front of PostgreSQL. PgBouncer in transaction mode hands
    each transaction to any server connection, so a statement asyncpg prepared on one is unknown
    on the next ("prepared statement ... does not exist"): no statement cache there. Measured
    cost: tests/platform/test_pgbouncer.py shows the failure without it."""
    if get_settings().database_pooler == "pgbouncer":
        return {"statement_cache_size": 0}
    return {}


def migration_dsn() -> str:
    """Migrations hold an advisory lock across statements and run DDL: the direct port, not
    the pooler, when DATABASE_MIGRATION_URL names it."""
    settings = get_settings()
    return (
        settings.database_migration_url.get_secret_value()
        or settings.database_url.get_secret_value()
    )


async def close_pool() -> None:
    global _pool, _pool_loop
    if _pool is not None:
        pool, _pool, _pool_loop = _pool, None, None
        await pool.close()


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))


async def migrate(dsn: str | None = None) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now."""
    dsn = dsn or migration_dsn()
    conn: asyncpg.Connection = await asyncpg.connect(dsn, **pooler_options())
    applied_now: list[str] = []
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for path in migration_files():
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK_KEY)
                done = await conn.fetchval(
                    "SELECT 1 FROM schema_migrations WHERE name = $1", path.name
                )
                if done:
                    continue
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", path.name)
                applied_now.append(path.name)
    finally:
        await conn.close()
    return applied_now


def record(row: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None
