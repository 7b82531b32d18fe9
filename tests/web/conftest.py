"""The web inbox's fixtures: the app served by devhost on a free port, a real Chromium (Debian's
package, driven by Playwright), businesses, customers texting in, and the login code read off
the local Twilio-wire server.

Browser tests skip, saying what to install, when Chromium or Playwright is missing; with
REQUIRE_BROWSER_TESTS=1 (CI) they fail instead, so a CI run can't pass without them.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from devhost.host import Runner, start_host
from devhost.services import REPO_ROOT, free_port
from tests.helpers import sign

HOST_JSON = {"extensions": {"queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:00"}}}
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
INSTALL_HINT = (
    "browser tests need Debian's Chromium and Playwright for Python: run"
    " `apt-get install -y chromium` (as root) and `pip install -r requirements-dev.txt`"
)
ARTIFACTS = REPO_ROOT / "test-artifacts" / "web"
WAIT = 20.0
SIGNING_SECRET = "test-link-signing-secret-" + secrets.token_hex(8)


def browser_missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return INSTALL_HINT + " (playwright is not installed)"
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return INSTALL_HINT + f" ({CHROMIUM} not found)"
    return None


def need_browser() -> None:
    missing = browser_missing()
    if missing is None:
        return
    if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
        pytest.fail(f"REQUIRE_BROWSER_TESTS=1 but {missing}")
    pytest.skip(missing)


@pytest.fixture(autouse=True)
async def web_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """The login counters have no business to cascade from: empty them too."""
    if "stack" in request.fixturenames:
        request.getfixturevalue("stack")
        from shared_code.platform import db

        pool = await db.get_pool()
        await pool.execute("TRUNCATE web_login_limits, web_login_codes, web_sessions")
    yield
    # Sign-in codes are texted in the background: let those sends end inside their own test.
    from shared_code.platform.work import drain_background

    await drain_background()


@pytest.fixture
def web_settings(stack, configure) -> None:
    configure(
        LINK_SIGNING_SECRET=SIGNING_SECRET,
        BURST_WINDOW_SECONDS="0",
        OPENAI_API_KEY="",  # the scripted intake answers customers
        # timers are off here, but devhost reads every binding's schedule
        VOICEMAIL_RETENTION_SCHEDULE=os.environ.get("VOICEMAIL_RETENTION_SCHEDULE", "0 30 4 * * *"),
    )


@pytest.fixture
async def host(stack, web_settings) -> AsyncIterator[Runner]:
    import function_app

    runner = await start_host(
        function_app, free_port(), host_json=HOST_JSON, run_timers=False,
        event_retry_delays=(0.2,),
    )  # fmt: skip
    yield runner
    await runner.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    need_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=shutil.which(CHROMIUM) or CHROMIUM,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser, host) -> AsyncIterator[Any]:
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(15_000)
    new_page = await context.new_page()
    errors: list[str] = []
    new_page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The strict CSP must not be refusing any of our own page's script, style or image.
    new_page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield new_page
    await context.close()
    assert not errors, f"JavaScript or CSP errors on the page: {errors}"


async def create_business(host: Runner, admin_key: str, **fields: Any) -> tuple[dict, str]:
    data = {
        "name": "Acme Plumbing",
        "phone_number": "+13125550123",
        "owner_phone": "+14155550100",
        "time_zone": "America/Chicago",
        **fields,
    }
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{host.url}/api/v1/businesses",
            json=data,
            headers={"Authorization": f"Bearer {admin_key}"},
        )
        payload = await response.json()
    assert response.status == 201, payload
    return payload["business"], payload["owner_api_key"]


async def customer_texts(stack, host: Runner, business_number: str, customer: str, body: str):
    """A customer's text, signed as Twilio sends it; returns once the app stored it (the
    assistant's answer may still be on its way)."""
    from shared_code.platform import db
    from shared_code.platform.settings import get_settings

    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "AccountSid": get_settings().twilio_account_sid,
        "From": customer,
        "To": business_number,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
    }
    signature = sign(get_settings().public_base_url + "/api/sms/incoming", params)
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{host.url}/api/sms/incoming",
            data=urlencode(params),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        assert response.status == 200, await response.text()
    pool = await db.get_pool()
    await until(
        lambda: pool.fetchval(
            "SELECT count(*) FROM messages WHERE direction = 'inbound' AND body = $1", body
        ),
        "the app never stored the customer's text",
    )


async def until(check, message: str, within: float = WAIT) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, message
        await asyncio.sleep(0.1)


async def texted_code(stack, phone: str, before: int = 0) -> str:
    """The 6-digit code in the newest login text to `phone` (after `before` texts)."""
    texts = await until(
        lambda: [t for t in stack.twilio.to(phone)[before:] if "NeverMiss code" in t["Body"]],
        f"no login code reached {phone}",
    )
    found = re.search(r"\b(\d{6})\b", texts[-1]["Body"])
    assert found, texts[-1]["Body"]
    return found.group(1)


async def log_in(page, stack, host: Runner, phone: str) -> None:
    """Sign in on the page with the code the local Twilio server received."""
    before = len(stack.twilio.to(phone))
    await page.goto(f"{host.url}/api/app")
    await page.fill("#login-phone", phone)
    await page.get_by_role("button", name="Text me a code").click()
    await page.wait_for_selector("#login-code", state="visible")
    await page.fill("#login-code", await texted_code(stack, phone, before))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_selector("#nav", state="visible")


async def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.evaluate("document.getElementById('toast')?.classList.remove('show')")
    await page.screenshot(path=str(path), full_page=True)
    return path


async def assert_accessible(page, name: str) -> None:
    """axe-core on the page as it is: no serious or critical violations."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.axe.txt").write_text(results.generate_report())
    assert not bad, [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in bad]
