"""Queue triggers: poll Azure Storage queues (Azurite locally) the way the Functions host does.

Semantics copied from the host's queue extension, because the app's retry story depends on them:
- messages are received in batches (`batchSize`, default 16) and invisible for 30 s while a batch
  is processed; the messages of a batch run concurrently;
- success deletes the message; failure makes it visible again after `visibilityTimeout`
  (default 0), so the storage `dequeue_count` is the attempt number;
- a message that failed on attempt `maxDequeueCount` (default 5) is copied verbatim to
  `<queue>-poison` and deleted: nothing is dropped silently. Text that is not base64 cannot be
  decoded at all and goes straight to poison.
Polling backs off to `maxPollingInterval` (capped at 1 s locally, to stay snappy) when idle.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueMessage as StorageMessage
from azure.storage.queue.aio import QueueClient

from devhost import storage
from devhost.catalog import FunctionSpec, parse_timespan
from devhost.invoke import invoke

log = logging.getLogger("devhost.queue")

PROCESSING_VISIBILITY_SECONDS = 30
MIN_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues` with the host's defaults (polling capped for local use)."""

    batch_size: int = 16
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 1.0

    @classmethod
    def from_host_json(cls, host_json: dict[str, Any]) -> QueueOptions:
        queues = (host_json.get("extensions") or {}).get("queues") or {}
        polling = parse_timespan(queues.get("maxPollingInterval"), 1.0)
        return cls(
            batch_size=max(1, min(32, int(queues.get("batchSize", 16)))),
            max_dequeue_count=max(1, int(queues.get("maxDequeueCount", 5))),
            visibility_timeout=parse_timespan(queues.get("visibilityTimeout"), 0.0),
            max_polling_interval=max(MIN_POLL_SECONDS, min(polling, 1.0)),
        )


class QueuePoller:
    """Feeds one queue-triggered function from its queue until cancelled."""

    def __init__(self, spec: FunctionSpec, options: QueueOptions, function_directory: str) -> None:
        self.spec = spec
        self.options = options
        self.function_directory = function_directory
        self.queue_name = str(spec.setting("queueName") or "").lower()
        self.poison_name = f"{self.queue_name}-poison"
        self.connection = spec.trigger.get("connection") or storage.DEFAULT_CONNECTION
        self.processed = 0
        self.failed = 0
        self.poisoned = 0

    async def loop(self) -> None:
        async with (
            storage.queue_client(self.connection, self.queue_name) as queue,
            storage.queue_client(self.connection, self.poison_name) as poison,
        ):
            await storage.ensure_queue(queue)
            await storage.ensure_queue(poison)
            delay = MIN_POLL_SECONDS
            while True:
                try:
                    found = await self.poll_once(queue, poison)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("polling queue %s failed; retrying", self.queue_name)
                    found = 0
                    delay = self.options.max_polling_interval
                delay = (
                    MIN_POLL_SECONDS if found else min(delay * 2, self.options.max_polling_interval)
                )
                await asyncio.sleep(0 if found else delay)

    async def poll_once(self, queue: QueueClient, poison: QueueClient) -> int:
        """Receive one batch and process it; returns how many messages there were."""
        batch = [
            message
            async for message in queue.receive_messages(
                messages_per_page=self.options.batch_size,
                max_messages=self.options.batch_size,
                visibility_timeout=PROCESSING_VISIBILITY_SECONDS,
            )
        ]
        if batch:
            await asyncio.gather(*(self.process(queue, poison, m) for m in batch))
        return len(batch)

    async def process(
        self, queue: QueueClient, poison: QueueClient, message: StorageMessage
    ) -> None:
        text = message.content if isinstance(message.content, str) else str(message.content or "")
        try:
            body = storage.decode_message(text)
        except ValueError:
            log.error(
                "queue %s message %s is not base64 text; moving it to %s",
                self.queue_name, message.id, self.poison_name,
            )  # fmt: skip
            await self._poison(queue, poison, message, text)
            return

        binding_value = QueueMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        try:
            await invoke(self.spec, binding_value, self.function_directory)
        except Exception:
            self.failed += 1
            attempt = message.dequeue_count or 1
            log.exception(
                "function %s failed on queue %s message %s (attempt %d of %d)",
                self.spec.name, self.queue_name, message.id,
                attempt, self.options.max_dequeue_count,
            )  # fmt: skip
            if attempt >= self.options.max_dequeue_count:
                await self._poison(queue, poison, message, text)
            else:
                await queue.update_message(
                    message, visibility_timeout=int(self.options.visibility_timeout)
                )
            return
        self.processed += 1
        await queue.delete_message(message)

    async def _poison(
        self, queue: QueueClient, poison: QueueClient, message: StorageMessage, text: str
    ) -> None:
        await poison.send_message(text)
        await queue.delete_message(message)
        self.poisoned += 1
        log.error(
            "queue %s message %s moved to %s after %s attempt(s)",
            self.queue_name, message.id, self.poison_name, message.dequeue_count,
        )  # fmt: skip
