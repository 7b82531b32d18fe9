"""devhost's pure pieces and embedded services: no host needed.

Route templates, host.json timespans, settings loading, and the service starters
the whole suite relies on (Redis must stop and restart on the same port; the PostgreSQL URL must
work with asyncpg as is).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import asyncpg
import pytest

from devhost import services, settings_file
from devhost.catalog import parse_timespan
from devhost.http_triggers import aiohttp_paths


def test_route_templates() -> None:
    assert aiohttp_paths("api", "v1/businesses/{id}")[0] == ["/api/v1/businesses/{id}"]
    assert aiohttp_paths("api", "files/{*rest}")[0] == ["/api/files/{rest:.*}"]
    assert aiohttp_paths("api", "a/{page:int?}")[0] == ["/api/a/{page:-?\\d+}", "/api/a"]
    assert aiohttp_paths("", "hooks")[0] == ["/hooks"]


# --- services and settings -----------------------------------------------------------------------


async def test_redis_stops_and_restarts_on_same_port(tmp_path: Path) -> None:
    import redis.asyncio as aioredis

    port = services.free_port()
    service = services.start_redis(tmp_path / "redis", port)
    assert service.url == f"redis://127.0.0.1:{port}/0"
    client = aioredis.from_url(service.url)
    try:
        assert await client.ping()
        service.stop()
        with pytest.raises(aioredis.ConnectionError):
            await client.ping()
        service = services.start_redis(tmp_path / "redis", port)
        assert await client.ping()
    finally:
        await client.aclose()
        service.stop()


async def test_embedded_postgres_url_works_with_asyncpg(tmp_path: Path) -> None:
    service = await asyncio.to_thread(services.start_postgres, tmp_path / "pg")
    try:
        conn = await asyncpg.connect(service.url)
        assert await conn.fetchval("select 1") == 1
        await conn.close()
    finally:
        await asyncio.to_thread(service.stop)


def test_settings_file_never_overrides_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    values = {"DEVHOST_T_A": "from-file", "DEVHOST_T_B": 3, "DEVHOST_T_C": True}
    (tmp_path / "local.settings.example.json").write_text(json.dumps({"Values": values}))
    monkeypatch.setenv("DEVHOST_T_A", "from-env")
    monkeypatch.delenv("DEVHOST_T_B", raising=False)
    monkeypatch.delenv("DEVHOST_T_C", raising=False)
    used = settings_file.load_settings(tmp_path)
    assert used == tmp_path / "local.settings.example.json"
    assert "local.settings.json not found" in capsys.readouterr().err
    assert (os.environ["DEVHOST_T_A"], os.environ["DEVHOST_T_B"], os.environ["DEVHOST_T_C"]) == (
        "from-env",
        "3",
        "true",
    )
    monkeypatch.delenv("DEVHOST_T_B")
    monkeypatch.delenv("DEVHOST_T_C")


def test_timespans() -> None:
    assert parse_timespan("00:00:02", 0) == 2
    assert parse_timespan("1.00:00:00", 0) == 86400
    assert parse_timespan(1500, 0) == 1.5
    assert parse_timespan(None, 7) == 7
