"""The `fake_openai` fixture for the OpenAI adapter tests in this folder.

It starts a local server speaking the Chat Completions wire format (tests/fakes/openai_api.py) on
a free port, points OPENAI_API_KEY, OPENAI_BASE_URL and OPENAI_MODEL at it, and closes the shared
client and restores the settings afterwards. No database is needed, so it does not start the stack.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from devhost.services import free_port
from shared_code.platform.openai_client import close_client
from shared_code.platform.settings import reset_settings
from tests.assistant.helpers import MODEL
from tests.fakes.openai_api import FakeOpenAI


@pytest.fixture
async def fake_openai(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key="sk-test-" + secrets.token_hex(12))
    await fake.start(free_port())
    monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    monkeypatch.setenv("OPENAI_MODEL", MODEL)
    reset_settings()
    await close_client()
    yield fake
    await close_client()
    await fake.stop()
    monkeypatch.undo()
    reset_settings()
