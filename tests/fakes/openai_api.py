"""A local server speaking OpenAI's Chat Completions API (the parts the `openai` client uses).

It checks the bearer key like OpenAI, records every request body, and answers from a queue of
scripted responses in the real wire format: a text reply, tool calls, an HTTP error with OpenAI's
`{"error": {...}}` body, a slow answer, or a raw body for malformed-response cases. With nothing
scripted it answers a short question, as a well-behaved model would.

It also rejects what the real API rejects and a hand-written mock would let through: a missing
model or messages, an unknown role, and tool calls left unanswered (or answers to no tool call).

`POST /v1/audio/transcriptions` speaks the audio API: a multipart form with `model` and `file`
(400 without either, as the API answers), answered `{"text", "usage"}` (token usage for the
gpt-4o transcribe models, duration usage for whisper-1), from its own script
(`script_transcription`: `Scripted.text(...)`, `Scripted.http_error(500)`, `Scripted.slow(...)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_REPLY = "Thanks! What's your name?"
DEFAULT_TRANSCRIPT = "Hi, this is Dana, my furnace is out. Please call me back."
ROLES = {"system", "developer", "user", "assistant", "tool"}


@dataclass(frozen=True)
class Scripted:
    """One scripted answer; build with the class methods."""

    content: str | None = DEFAULT_REPLY
    tool_calls: tuple[tuple[str, str], ...] = ()  # (function name, arguments as sent: JSON text)
    status: int = 200
    error: dict[str, Any] | None = None
    raw_body: Any = None  # answered as-is with 200 (malformed responses)
    delay_seconds: float = 0.0
    prompt_tokens: int = 250
    completion_tokens: int = 12
    cached_tokens: int = 0
    model: str | None = None  # default: echo the requested model

    @classmethod
    def text(cls, content: str, **usage: Any) -> Scripted:
        return cls(content=content, **usage)

    @classmethod
    def tools(
        cls, *calls: tuple[str, dict[str, Any] | str], content: str | None = None, **usage: Any
    ) -> Scripted:
        """Tool calls; arguments given as a dict are JSON-encoded, a str is sent verbatim."""
        encoded = tuple(
            (name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls
        )
        return cls(content=content, tool_calls=encoded, **usage)

    @classmethod
    def http_error(
        cls,
        status: int,
        message: str = "injected failure",
        error_type: str = "server_error",
        code: str | None = None,
    ) -> Scripted:
        return cls(
            status=status,
            error={"message": message, "type": error_type, "param": None, "code": code},
        )

    @classmethod
    def rate_limited(cls) -> Scripted:
        return cls.http_error(
            429,
            "Rate limit reached for requests",
            error_type="requests",
            code="rate_limit_exceeded",
        )

    @classmethod
    def slow(cls, delay_seconds: float, content: str = DEFAULT_REPLY) -> Scripted:
        return cls(content=content, delay_seconds=delay_seconds)

    @classmethod
    def raw(cls, body: Any) -> Scripted:
        return cls(raw_body=body)


@dataclass
class FakeOpenAI:
    api_key: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    _queue: list[Scripted] = field(default_factory=list)
    transcriptions: list[dict[str, Any]] = field(default_factory=list)
    _transcription_queue: list[Scripted] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    url: str = ""

    def script(self, *responses: Scripted) -> None:
        """Queue answers for the next requests, in order (the default reply follows)."""
        self._queue.extend(responses)

    def script_transcription(self, *responses: Scripted) -> None:
        """Queue answers for the next transcription requests (then: DEFAULT_TRANSCRIPT)."""
        self._transcription_queue.extend(responses)

    def reset(self) -> None:
        self.requests.clear()
        self._queue.clear()
        self.transcriptions.clear()
        self._transcription_queue.clear()

    async def _transcribe(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if not request.content_type.startswith("multipart/form-data"):
            return self._error(
                400, "Expected a multipart/form-data body.", "invalid_request_error", None
            )
        form = await request.post()
        upload = form.get("file")
        model = form.get("model")
        if not isinstance(model, str) or not model:
            return self._error(
                400, "you must provide a model parameter", "invalid_request_error", None
            )
        if upload is None or isinstance(upload, str):
            return self._error(400, "you must provide a file", "invalid_request_error", None)
        audio = upload.file.read()
        self.transcriptions.append(
            {
                "model": model,
                "filename": upload.filename,
                "content_type": upload.content_type,
                "bytes": len(audio),
                "audio": audio,
            }
        )
        scripted = (
            self._transcription_queue.pop(0)
            if self._transcription_queue
            else Scripted(content=DEFAULT_TRANSCRIPT)
        )
        if scripted.delay_seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), scripted.delay_seconds)
        if scripted.error is not None:
            return web.json_response({"error": scripted.error}, status=scripted.status)
        usage: dict[str, Any]
        if model.startswith("whisper"):
            usage = {"type": "duration", "seconds": max(1, len(audio) // 16_000)}
        else:
            audio_tokens = max(1, len(audio) // 320)
            output = len((scripted.content or "").split())
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": output,
                "total_tokens": audio_tokens + output,
            }
        return web.json_response({"text": scripted.content or "", "usage": usage})

    @staticmethod
    def _error(status: int, message: str, error_type: str, code: str | None) -> web.Response:
        body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
        return web.json_response(body, status=status)

    @staticmethod
    def _invalid(body: dict[str, Any]) -> str | None:
        """What the real API would answer 400 for, among the mistakes a client can make."""
        if not isinstance(body.get("model"), str) or not body["model"]:
            return "you must provide a model parameter"
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty array"
        pending: set[str] = set()
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ROLES:
                return f"Invalid value for 'messages[{index}].role'"
            if role == "tool":
                if message.get("tool_call_id") not in pending:
                    return (
                        "Invalid parameter: messages with role 'tool' must be a response to a"
                        " preceeding message with 'tool_calls'."
                    )
                pending.discard(message["tool_call_id"])
                continue
            if pending:
                return (
                    "An assistant message with 'tool_calls' must be followed by tool messages"
                    " responding to each 'tool_call_id'."
                )
            if role == "assistant":
                pending = {call["id"] for call in message.get("tool_calls") or []}
        if pending:
            return "Tool calls were not answered by tool messages."
        return None

    async def _chat_completions(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._error(
                401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return self._error(
                400, "We could not parse the JSON body.", "invalid_request_error", None
            )
        self.requests.append(body)
        problem = self._invalid(body)
        if problem:
            return self._error(400, problem, "invalid_request_error", None)
        scripted = self._queue.pop(0) if self._queue else Scripted()
        if scripted.delay_seconds:
            # Interruptible, so stop() does not wait for an answer nobody is listening to.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), scripted.delay_seconds)
        if scripted.raw_body is not None:
            return web.json_response(scripted.raw_body)
        if scripted.error is not None:
            return web.json_response({"error": scripted.error}, status=scripted.status)
        return web.json_response(self._completion(body, scripted))

    @staticmethod
    def _completion(body: dict[str, Any], scripted: Scripted) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": scripted.content,
            "refusal": None,
            "annotations": [],
        }
        if scripted.tool_calls:
            message["tool_calls"] = [
                {
                    "id": "call_" + secrets.token_hex(12),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
                for name, arguments in scripted.tool_calls
            ]
        return {
            "id": "chatcmpl-" + secrets.token_hex(14),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": scripted.model or body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if scripted.tool_calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": scripted.prompt_tokens,
                "completion_tokens": scripted.completion_tokens,
                "total_tokens": scripted.prompt_tokens + scripted.completion_tokens,
                "prompt_tokens_details": {
                    "cached_tokens": scripted.cached_tokens,
                    "audio_tokens": 0,
                },
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    async def start(self, port: int) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/v1"

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
