"""The app through PgBouncer in transaction mode, as behind Azure's built-in PgBouncer (port 6432).

A real PgBouncer (Debian's `pgbouncer` package) is started in front of the suite's PostgreSQL with
`pool_mode = transaction` and only two server connections, so consecutive transactions of one
client land on different server connections. asyncpg's statement cache then breaks ("prepared
statement ... does not exist"): the first test shows that it does, so the others prove
something when they pass with DATABASE_POOLER=pgbouncer. Migrations go over the direct port
(DATABASE_MIGRATION_URL), as they would in Azure.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from devhost.services import free_port, wait_for_port
from shared_code.platform import db
from tests import helpers

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
REQUIRED = os.environ.get("REQUIRE_PGBOUNCER_TESTS") == "1"


def _skip_or_fail(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (REQUIRE_PGBOUNCER_TESTS=1)")
    pytest.skip(reason)


def _start_pgbouncer(database_url: str) -> tuple[subprocess.Popen[bytes], Path, str]:
    """PgBouncer in transaction mode in front of the suite's PostgreSQL (unix socket), on a free
    port, with two server connections; returns the process, its directory and its URL."""
    if not Path(PGBOUNCER).exists():
        _skip_or_fail("PgBouncer not installed: apt-get install pgbouncer")
    socket_dir = re.search(r"host=([^&]+)", database_url)
    if socket_dir is None:
        _skip_or_fail("PgBouncer test needs the suite's own PostgreSQL (unix socket)")
    assert socket_dir is not None
    port = free_port()
    # Its own directory under /tmp: pytest's tmp_path is private to root, and PgBouncer runs as
    # another user when the suite runs as root.
    run_dir = Path(tempfile.mkdtemp(prefix="nm-pgbouncer-"))
    run_dir.chmod(0o755)
    (run_dir / "userlist.txt").write_text('"postgres" ""\n')
    (run_dir / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={socket_dir.group(1)} port=5432\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {run_dir / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        "default_pool_size = 2\n"
        "max_client_conn = 100\n"
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {run_dir / 'pgbouncer.log'}\n"
        f"pidfile = {run_dir / 'pgbouncer.pid'}\n"
    )
    argv = [PGBOUNCER, str(run_dir / "pgbouncer.ini")]
    if os.geteuid() == 0:
        # PgBouncer refuses to run as root: run it as the user PostgreSQL runs as (pgserver's),
        # who alone may open the server's socket directory.
        user = pwd.getpwuid(os.stat(socket_dir.group(1)).st_uid).pw_name
        for path in (run_dir, *run_dir.iterdir()):
            shutil.chown(path, user)
        argv[1:1] = ["-u", user]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc, "pgbouncer", timeout=15)
    except (RuntimeError, TimeoutError) as exc:
        proc.kill()
        log = run_dir / "pgbouncer.log"
        details = log.read_text() if log.exists() else ""
        pytest.fail(f"PgBouncer did not start: {exc}\n{details}")
    database = database_url.partition("?")[0].rsplit("/", 1)[1] or "postgres"
    return proc, run_dir, f"postgresql://postgres@127.0.0.1:{port}/{database}"


@pytest.fixture
def pgbouncer_url(stack) -> Iterator[str]:
    proc, run_dir, url = _start_pgbouncer(stack.database_url)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
async def app_through_pgbouncer(stack, pgbouncer_url, configure) -> AsyncIterator[str]:
    """The app's settings and pool pointed at PgBouncer for one test, then back."""
    await db.close_pool()
    configure(
        DATABASE_URL=pgbouncer_url,
        DATABASE_POOLER="pgbouncer",
        DATABASE_MIGRATION_URL=stack.database_url,
        DATABASE_POOL_SIZE="4",
    )
    try:
        yield pgbouncer_url
    finally:
        await db.close_pool()  # the next test gets the suite's own database again


async def _many_transactions(url: str, **options: object) -> None:
    """Four clients, each running the same query in 30 transactions: with two server
    connections behind transaction pooling, a client's statements move between them."""

    async def client() -> None:
        conn = await asyncpg.connect(url, **options)  # type: ignore[arg-type]
        try:
            for i in range(30):
                async with conn.transaction():
                    assert await conn.fetchval("SELECT $1::int + 1", i) == i + 1
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(4)))


async def test_the_statement_cache_breaks_behind_transaction_pooling(pgbouncer_url):
    """The failure DATABASE_POOLER=pgbouncer exists to prevent (else the other tests prove
    nothing)."""
    with pytest.raises(asyncpg.PostgresError, match="prepared statement"):
        await _many_transactions(pgbouncer_url)


async def test_pooler_setting_turns_the_statement_cache_off(pgbouncer_url, configure):
    configure(DATABASE_POOLER="pgbouncer")
    await _many_transactions(pgbouncer_url, **db.pooler_options())


async def test_a_missed_call_and_a_text_conversation_through_pgbouncer(
    stack, app_through_pgbouncer
):
    business, _ = await helpers.create_business()
    caller = "+13125550177"
    for _ in range(3):  # several calls, each a unit of work on whichever server connection
        response = await helpers.post(
            "voice_dial_status",
            helpers.twilio_request(
                "/api/voice/dial-status",
                helpers.dial_status_params(
                    helpers.call_sid(), caller, business.phone_number, "no-answer"
                ),
            ),
        )
        assert response.status_code == 200
    await helpers.drain_calls_queue()
    assert len(stack.twilio.to(caller)) == 1  # one text-back: cooldown held across calls
    await helpers.text_in(caller, business.phone_number, "my sink is leaking, 60614")
    await helpers.drain_messages_queue()
    assert len(stack.twilio.to(caller)) == 2  # the assistant answered
    pool = await db.get_pool()
    assert await pool.fetchval("SELECT count(*) FROM calls WHERE from_number = $1", caller) == 3
    assert "statement_cache_size" in db.pooler_options()
