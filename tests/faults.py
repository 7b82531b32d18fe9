"""Real outages for the fault tests: stop the suite's own Azurite or PostgreSQL, start it again.

The servers are the ones the `services` fixture started (same data directory, same port or
socket), so what was stored survives the outage as it would in Azure. A restarted server joins
the fixture's `started` list, so the session still stops it at the end. Each helper is a context
manager that always brings the server back, even when the test fails inside it.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devhost.services import EmbeddedService, start_azurite, start_postgres

ACK_SECONDS = 2.0  # a webhook answers within this whatever is down (DESIGN.md)


def _running(services: dict[str, Any], name: str) -> EmbeddedService:
    """The suite's own running `name` server (a test skips when the suite uses another)."""
    started: list[EmbeddedService] = services.get("started", [])
    running = [s for s in started if s.name == name and not s._stopped]
    if not running:
        pytest.skip(f"needs the suite's own {name}")
    return running[-1]


def _restart(services: dict[str, Any], service: EmbeddedService) -> None:
    services["started"].append(service)


def _azurite_port(storage: str) -> int:
    endpoint = next(p for p in storage.split(";") if p.startswith("QueueEndpoint="))
    return int(endpoint.split(":")[-1].split("/")[0])


@contextmanager
def queue_service_down(services: dict[str, Any]) -> Iterator[None]:
    """Azurite's queue service stopped for the block (connections refused), then restarted."""
    from shared_code.platform import queues

    azurite = _running(services, "azurite")
    port = _azurite_port(str(services["storage"]))
    azurite.stop()
    try:
        yield
    finally:
        _restart(services, start_azurite(Path(services["root"]) / "azurite", port))
        queues.reset()


@contextmanager
def database_down(services: dict[str, Any]) -> Iterator[None]:
    """PostgreSQL stopped for the block (`pg_ctl stop`: sessions end), then started again."""
    postgres = _running(services, "postgres")
    postgres.stop()
    try:
        yield
    finally:
        again = start_postgres(Path(services["root"]) / "pg")
        _restart(services, again)
        assert again.url == services["database_url"], "PostgreSQL came back elsewhere"


@contextmanager
def database_hung(services: dict[str, Any]) -> Iterator[None]:
    """PostgreSQL frozen for the block (SIGSTOP on the server and its backends: connections stay
    open and queries never answer, as on an overloaded or partitioned server), then resumed."""
    _running(services, "postgres")
    data = Path(services["root"]) / "pg"
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    frozen = [postmaster, *_children(postmaster)]
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


@dataclass
class Tally:
    """What a fault test reports: requests, acknowledgements, and where the reports went."""

    name: str
    requests: int = 0
    acked: int = 0  # 2xx within ACK_SECONDS
    refused_5xx: int = 0  # 503: nothing could keep the report; Twilio retries
    slowest: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def ack(self, status: int, seconds: float) -> None:
        self.requests += 1
        self.latencies.append(seconds)
        self.slowest = max(self.slowest, seconds)
        if 200 <= status < 300 and seconds < ACK_SECONDS:
            self.acked += 1
        elif status >= 500:
            self.refused_5xx += 1

    def report(self, **counts: int) -> str:
        figures = " ".join(f"{k}={v}" for k, v in counts.items())
        line = (
            f"FAULT {self.name}: requests={self.requests} acked<{ACK_SECONDS:.0f}s={self.acked}"
            f" 503={self.refused_5xx} slowest={self.slowest * 1000:.0f}ms {figures}"
        )
        print(line)
        return line
