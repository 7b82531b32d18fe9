"""Migrations: applied in order, recorded once, and run by a worker's first pool on a fresh
database (a deployment needs no separate step)."""

from __future__ import annotations

import secrets

import asyncpg
import pytest

from shared_code.platform import db


@pytest.fixture
async def fresh_database(stack, configure):
    name = "nm_fresh_" + secrets.token_hex(4)
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f"CREATE DATABASE {name}")
    head, _, query = stack.database_url.partition("?")
    url = head.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    await db.close_pool()
    yield url, configure
    await db.close_pool()  # the next test gets the suite's database again
    await admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
    await admin.close()


async def _tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await conn.close()


async def test_first_pool_applies_every_migration_once(fresh_database):
    url, configure = fresh_database
    configure(DATABASE_URL=url, MIGRATE_ON_START="true")
    pool = await db.get_pool()
    assert {"businesses", "usage_events", "streaks", "schema_migrations"} <= await _tables(url)
    applied = [r["name"] for r in await pool.fetch("SELECT name FROM schema_migrations ORDER BY 1")]
    assert applied == [p.name for p in db.migration_files()]
    assert await db.migrate(url) == []  # a second run applies nothing


async def test_without_migrate_on_start_the_pool_leaves_the_schema_alone(fresh_database):
    url, configure = fresh_database
    configure(DATABASE_URL=url, MIGRATE_ON_START="false")
    await db.get_pool()
    assert "businesses" not in await _tables(url)
