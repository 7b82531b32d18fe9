"""Which event types reach which Event Grid-triggered function: declared once, in
`event_subscriptions.json` beside this file, and read by devhost's local topic and by infra/."""

from __future__ import annotations

import json
from pathlib import Path

SUBSCRIPTIONS_FILE = Path(__file__).parent.parent / "event_subscriptions.json"


def load_subscriptions() -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads(SUBSCRIPTIONS_FILE.read_text())
    return data
