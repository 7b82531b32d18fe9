"""Shared by the devhost end-to-end tests: the real app started in devhost (no Twilio account,
events through devhost's local topic) and the demo business they call."""

from __future__ import annotations

import aiohttp

from devhost.host import Runner, start_host
from devhost.services import free_port

HOST_JSON = {"extensions": {"queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:00"}}}
CALLER, BUSINESS, OWNER = "+14155550100", "+12125550143", "+12125550199"


async def start_devhost(configure, **settings: str) -> Runner:
    """Start function_app in devhost on a free port; `settings` are configured on top of the
    sandbox defaults (no Twilio account, devhost's own topic, the retention timer's %setting%)."""
    import function_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    configure(
        TWILIO_ACCOUNT_SID="",  # no account: texts go to the sandbox devhost shows
        PUBLIC_BASE_URL=url,
        EVENTGRID_TOPIC_ENDPOINT=f"{url}/runtime/topic/api/events",
        VOICEMAIL_RETENTION_SCHEDULE="0 30 4 * * *",  # the retention timer's %setting%
        **settings,
    )
    return await start_host(
        function_app, port, host_json=HOST_JSON, run_timers=False, event_retry_delays=(0.2,)
    )


async def create_demo_business(url: str, admin_key: str) -> None:
    """Register "Demo Plumbing" (BUSINESS, owner OWNER) through the admin API."""
    async with aiohttp.ClientSession() as session:
        created = await session.post(
            f"{url}/api/v1/businesses",
            headers={"Authorization": f"Bearer {admin_key}"},
            json={
                "name": "Demo Plumbing",
                "phone_number": BUSINESS,
                "owner_phone": OWNER,
                "time_zone": "America/Chicago",
            },
        )
        assert created.status == 201, await created.text()
