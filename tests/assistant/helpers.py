"""What the OpenAI adapter tests share: the model name, a business, a conversation and a turn.

The profile and history are what every scripted turn is asked about; `turn` runs one assistant
turn with no lead known yet. The `fake_openai` fixture that points the adapter at the local
Chat Completions server is in conftest.py beside this module.
"""

from __future__ import annotations

from shared_code.assistant import model
from shared_code.assistant.model import BusinessProfile, ai_turn

MODEL = "gpt-test-mini"

PROFILE = BusinessProfile(
    name="Acme Plumbing",
    services="Drain cleaning, water heaters, leak repair",
    service_area="Springfield and Shelbyville",
    hours_text="Mon-Fri 8:00-17:00",
    faq=[{"q": "Do you charge for estimates?", "a": "Estimates are free within the service area."}],
    owner_name="Dana",
)

HISTORY = [
    {"role": "assistant", "text": "Hi, this is Acme Plumbing. Sorry we missed your call!"},
    {"role": "customer", "text": "My kitchen sink is clogged"},
    {"role": "owner", "text": "I can come by tomorrow morning"},
    {"role": "customer", "text": "Great, I'm Sam"},
]


async def turn(**kwargs: object) -> model.AssistantTurn:
    return await ai_turn(PROFILE, {}, HISTORY, **kwargs)  # type: ignore[arg-type]
