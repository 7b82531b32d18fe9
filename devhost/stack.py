"""`make dev`: settings, embedded services, migrations, then the host, until Ctrl-C.

Order matters: settings first (they decide which services are needed), then services (their URLs
are exported into the environment), then migrations, and only then `import function_app`, so the
app's settings object sees the final environment. Services we started are stopped on the way out;
anything the developer pointed us at (DATABASE_URL, REDIS_URL, a running Azurite) is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import warnings
from pathlib import Path

from devhost import services
from devhost.eventgrid import TOPIC_PATH
from devhost.host import Runner, import_function_app, start_host
from devhost.services import REPO_ROOT, EmbeddedService
from devhost.settings_file import load_settings

log = logging.getLogger("devhost")

DATA_DIR = REPO_ROOT / ".data"
LOCAL_TOPIC_KEY = "local-dev-topic-key"


def _dev_storage(value: str) -> bool:
    return value.strip().rstrip(";").lower() == "usedevelopmentstorage=true"


def start_services(data_dir: Path = DATA_DIR, port: int = 7071) -> list[EmbeddedService]:
    """Start what the settings leave unset and export the resulting URLs into os.environ."""
    started: list[EmbeddedService] = []
    try:
        if not os.environ.get("DATABASE_URL"):
            log.info("DATABASE_URL unset: starting embedded PostgreSQL in %s", data_dir / "pg")
            pg = services.start_postgres(data_dir / "pg")
            started.append(pg)
            os.environ["DATABASE_URL"] = pg.url
        if not os.environ.get("REDIS_URL"):
            log.info("REDIS_URL unset: starting embedded Redis in %s", data_dir / "redis")
            redis = services.start_redis(data_dir / "redis")
            started.append(redis)
            os.environ["REDIS_URL"] = redis.url
        storage = os.environ.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")
        if _dev_storage(storage):
            if services.port_is_open(services.AZURITE_QUEUE_PORT):
                log.info("Azurite (or something) already listens on 127.0.0.1:10001; using it")
            else:
                log.info("starting Azurite queues on 127.0.0.1:10001 in %s", data_dir / "azurite")
                started.append(
                    services.start_azurite(data_dir / "azurite", services.AZURITE_QUEUE_PORT)
                )
            if services.port_is_open(services.AZURITE_BLOB_PORT):
                log.info("Azurite (or something) already listens on 127.0.0.1:10000; using it")
            else:
                log.info("starting Azurite blobs on 127.0.0.1:10000 in %s", data_dir / "azurite")
                started.append(
                    services.start_azurite_blob(
                        data_dir / "azurite-blob", services.AZURITE_BLOB_PORT
                    )
                )
        if not os.environ.get("EVENTGRID_TOPIC_ENDPOINT"):
            os.environ["EVENTGRID_TOPIC_ENDPOINT"] = f"http://localhost:{port}{TOPIC_PATH}"
        if not os.environ.get("EVENTGRID_TOPIC_KEY"):
            os.environ["EVENTGRID_TOPIC_KEY"] = LOCAL_TOPIC_KEY
    except BaseException:
        stop_services(started)
        raise
    return started


def stop_services(started: list[EmbeddedService]) -> None:
    for service in reversed(started):
        try:
            service.stop()
        except Exception:
            log.exception("stopping %s failed", service.name)


async def run_migrations() -> None:
    """Apply the app's numbered SQL migrations (shared_code.platform.db owns how)."""
    try:
        from shared_code.platform import db
    except ImportError as exc:
        log.warning("shared_code.platform.db not importable (%s); skipping migrations", exc)
        return
    applied = await db.migrate()
    log.info("migrations: %s", ", ".join(applied) if applied else "database is up to date")


async def close_app_resources() -> None:
    """Close the app's pools and clients before the services they talk to stop."""
    from shared_code.platform.lifecycle import close_all

    try:
        await close_all()
    except Exception:
        log.exception("closing the app's resources failed during shutdown")


def banner(runner: Runner, port: int) -> str:
    base = os.environ.get("PUBLIC_BASE_URL", runner.url)
    if os.environ.get("TWILIO_ACCOUNT_SID"):
        texts = "TWILIO_ACCOUNT_SID is set: texts go to the Twilio API"
    else:
        texts = f"No Twilio account: texts land in the sandbox, {runner.url}/sandbox/messages"
    host_flag = "" if port == 7071 else f" --host {runner.url}"
    return f"""
────────────────────────────────────────────────────────────────────────────────
 NeverMiss is running locally on {runner.url} ({len(runner.specs)} functions; index at /)
   Twilio signatures are checked against PUBLIC_BASE_URL = {base}
   {texts}
 Next:
   1. Register a business:  python -m devhost simulate business{host_flag}
      (or POST /api/v1/businesses with ADMIN_API_KEY; quiet hours hold texts at night)
   2. Miss a call:  python -m devhost simulate call --outcome no-answer{host_flag}
   3. Text back:    python -m devhost simulate sms --body "Are you open today?"{host_flag}
 Ctrl-C stops the host and the services it started.
────────────────────────────────────────────────────────────────────────────────"""


async def serve(port: int = 7071, host: str = "127.0.0.1", data_dir: Path = DATA_DIR) -> None:
    """Run the whole local stack until interrupted."""
    load_settings()
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")  # pgserver's, harmless
    started = start_services(data_dir, port)
    runner: Runner | None = None
    try:
        await run_migrations()
        runner = await start_host(import_function_app(), port, host=host)
        print(banner(runner, port), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
    finally:
        if runner is not None:
            await runner.stop()
            await close_app_resources()
        stop_services(started)
