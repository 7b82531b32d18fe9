"""Helpers the tests share: signed Twilio requests, the app's functions, queue draining."""

from __future__ import annotations

import json
import secrets
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
from azure.functions.queue import QueueMessage
from twilio.request_validator import RequestValidator

from devhost.catalog import get_functions_once
from shared_code.businesses import store
from shared_code.platform import queues
from shared_code.platform.settings import get_settings


def app_function(name: str) -> Any:
    """The user function registered under `name` in function_app (indexed once per process)."""
    import function_app

    for fn in get_functions_once(function_app.app):
        if fn.get_function_name() == name:
            return fn.get_user_function()
    raise KeyError(name)


def call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def sign(url: str, params: dict[str, str], token: str | None = None) -> str:
    token = token or get_settings().twilio_auth_token.get_secret_value()
    return str(RequestValidator(token).compute_signature(url, params))


def twilio_request(
    path: str,
    params: dict[str, str],
    *,
    query: str = "",
    signature: str | None = None,
    signed_url: str | None = None,
) -> func.HttpRequest:
    """A POST as Twilio sends it: form body, signed over the public URL (unless told otherwise)."""
    public = get_settings().public_base_url + path + (f"?{query}" if query else "")
    if signature is None:
        signature = sign(signed_url or public, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    # The worker sees an internal URL (http, another host): the app must not sign over it.
    internal = "http://10.0.0.4:80" + path + (f"?{query}" if query else "")
    return func.HttpRequest("POST", internal, headers=headers, body=urlencode(params).encode())


async def post(name: str, request: func.HttpRequest) -> func.HttpResponse:
    response: func.HttpResponse = await app_function(name)(request)
    return response


async def create_business(**fields: Any) -> tuple[store.Business, str]:
    data = {
        "name": "Acme Plumbing",
        "phone_number": "+15005550006",
        "owner_phone": "+14155550100",
        "time_zone": "America/Chicago",
        **fields,
    }
    return await store.create_business(store.BusinessCreate.model_validate(data))


async def queued(name: str = queues.CALLS_QUEUE) -> list[dict[str, Any]]:
    """Peek at up to 32 messages on a queue, decoded."""
    client = await queues.get_queue(name)
    peeked = await client.peek_messages(max_messages=32)
    return [json.loads(m.content) for m in peeked]


async def drain_calls_queue(max_rounds: int = 20) -> int:
    """Run `missed_call_handler` over everything visible on `calls`, as the host would."""
    return await _drain(queues.CALLS_QUEUE, "missed_call_handler", max_rounds)


def dial_status_params(
    sid: str, caller: str, business_number: str, status: str, **extra: str
) -> dict[str, str]:
    return {
        "AccountSid": get_settings().twilio_account_sid,
        "CallSid": sid,
        "From": caller,
        "To": business_number,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "DialCallStatus": status,
        "DialCallSid": "CA" + secrets.token_hex(16),
        **extra,
    }


def cloud_event(event: dict[str, Any]) -> Any:
    """The binding object the Python worker builds for a CloudEvent delivered by Event Grid."""
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    return EventGridEventInConverter.decode(
        Datum(type="json", value=json.dumps(event)), trigger_metadata=None
    )


async def deliver_events(
    function_name: str, received: list[dict[str, Any]], times: int = 1
) -> None:
    """Deliver each event `times` times, concurrently, as Event Grid's at-least-once might."""
    import asyncio

    handler = app_function(function_name)
    await asyncio.gather(*(handler(cloud_event(e)) for e in received for _ in range(times)))


def message_sid() -> str:
    return "SM" + secrets.token_hex(16)


def sms_params(sender: str, business_number: str, body: str, **extra: str) -> dict[str, str]:
    return {
        "AccountSid": get_settings().twilio_account_sid,
        "MessageSid": extra.pop("MessageSid", None) or message_sid(),
        "From": sender,
        "To": business_number,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        **extra,
    }


async def text_in(sender: str, business_number: str, body: str, **extra: str) -> func.HttpResponse:
    """A customer (or the owner) texts the business number: the signed inbound webhook."""
    request = twilio_request(
        "/api/sms/incoming", sms_params(sender, business_number, body, **extra)
    )
    return await post("sms_incoming", request)


async def drain_messages_queue(max_rounds: int = 50, concurrently: bool = False) -> int:
    """Run the SMS responder over everything on `messages` (inbound and reply tasks), waiting
    for tasks re-queued with a short delay (a busy reply lease) to become visible."""
    return await _drain(
        queues.MESSAGES_QUEUE, "sms_responder", max_rounds, concurrently, wait_for_delayed=True
    )


async def _drain(
    queue_name: str,
    function_name: str,
    max_rounds: int,
    concurrently: bool = False,
    wait_for_delayed: bool = False,
) -> int:
    """Feed a queue's messages to its registered function and delete them, as the host does."""
    import asyncio

    handler = app_function(function_name)
    client = await queues.get_queue(queue_name)
    processed = 0
    for _ in range(max_rounds):
        batch = [
            m async for m in client.receive_messages(messages_per_page=32, visibility_timeout=30)
        ]
        if not batch:
            if not wait_for_delayed:
                break
            if (await client.get_queue_properties()).approximate_message_count == 0:
                break
            await asyncio.sleep(0.25)
            continue

        async def run(message: Any) -> None:
            await handler(
                QueueMessage(
                    id=message.id,
                    body=message.content.encode(),
                    dequeue_count=message.dequeue_count,
                )
            )
            await client.delete_message(message)

        if concurrently:
            await asyncio.gather(*(run(m) for m in batch))
        else:
            for message in batch:
                await run(message)
        processed += len(batch)
    return processed
