"""The one `openai` client of a worker process: built on first use, one per event loop, closed
on shutdown.

The `openai` package is imported only when a client is first asked for. It is the heaviest
import the app has (about half a second of a cold start, mostly its generated types), and a
worker started for a webhook, a queue task that needs no model, or an app with no
`OPENAI_API_KEY` never needs it; a test checks that importing `function_app` leaves it unloaded.
`close_client` works without the package loaded, so shutdown never imports it.

The real client is pointed at `OPENAI_BASE_URL` (Azure OpenAI when that is an
`*.openai.azure.com` endpoint, `OPENAI_MODEL` then naming the deployment), with no retries:
the caller has its own fallback and the queue retries the whole task.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared_code.platform.settings import get_settings

if TYPE_CHECKING:
    import openai

AZURE_API_VERSION = "2024-10-21"

_client: openai.AsyncOpenAI | None = None
_client_loop: asyncio.AbstractEventLoop | None = None
_client_config: tuple[str, str] | None = None


def is_azure(base_url: str) -> bool:
    """An Azure OpenAI endpoint: the client, and some request arguments, differ."""
    return ".openai.azure.com" in base_url


async def get_client(timeout_seconds: float) -> openai.AsyncOpenAI:
    """One client per event loop (its connection pool belongs to the loop that opened it),
    rebuilt when the key or base URL changed since it was built."""
    global _client, _client_loop, _client_config
    loop = asyncio.get_running_loop()
    settings = get_settings()
    key, base_url = settings.openai_api_key.get_secret_value(), settings.openai_base_url
    config = (key, base_url)
    if _client is not None and _client_loop is loop and _client_config == config:
        return _client
    if _client is not None and _client_loop is loop:
        await _client.close()  # settings changed under us (tests): don't leak the old pool
    import openai  # on first use only: see the module docstring

    # The SDK's aiohttp transport (aiohttp is already how we speak to Twilio and storage) costs
    # less CPU per request than its default httpx stack, on the path of every AI reply.
    http_client = openai.DefaultAioHttpClient()
    client: openai.AsyncOpenAI
    if is_azure(base_url):
        parts = urlsplit(base_url)
        client = openai.AsyncAzureOpenAI(
            api_key=key,
            azure_endpoint=f"{parts.scheme}://{parts.netloc}",
            api_version=AZURE_API_VERSION,
            max_retries=0,
            timeout=timeout_seconds,
            http_client=http_client,
        )
    else:
        client = openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url or None,
            max_retries=0,
            timeout=timeout_seconds,
            http_client=http_client,
        )
    _client, _client_loop, _client_config = client, loop, config
    return client


async def close_client() -> None:
    """Close the HTTP pool behind the client (shutdown, and tests between cases)."""
    global _client, _client_loop, _client_config
    client, loop = _client, _client_loop
    _client, _client_loop, _client_config = None, None, None
    if client is not None and loop is asyncio.get_running_loop():
        await client.close()
