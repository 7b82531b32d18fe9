"""Was a call missed? One table, read top to bottom.

Twilio's `<Dial action>` request carries `DialCallStatus`. The parent call usually ends
`completed` even when nobody answered, so only the dialled leg's status (or, for numbers that ring
without forwarding, the call's own status callback) decides. A leg that "completed" can still be
a miss: the owner's carrier voicemail picked up (answered by a machine), or it lasted only a few
seconds (a pocket answer, a hang-up on pick-up).
"""

from __future__ import annotations

from dataclasses import dataclass

MISSED_STATUSES = frozenset({"no-answer", "busy", "failed", "canceled"})
CONNECTED_STATUSES = frozenset({"completed", "answered"})
MACHINE_ANSWERS = frozenset(
    {"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"}
)
# Reasons a call is missed before any dialling happens (decided by /voice/incoming).
UNDIALLED_REASONS = frozenset({"after-hours", "no-owner"})


@dataclass(frozen=True)
class Classification:
    missed: bool
    reason: str


def classify(
    status: str | None,
    duration_seconds: int | None,
    answered_by: str | None,
    min_answered_seconds: int,
) -> Classification:
    status = (status or "").strip().lower()
    if status in UNDIALLED_REASONS:
        return Classification(True, status)
    if status in MISSED_STATUSES:
        return Classification(True, status)
    if status in CONNECTED_STATUSES:
        if (answered_by or "").lower() in MACHINE_ANSWERS:
            return Classification(True, "answered-by-machine")
        if duration_seconds is not None and duration_seconds < min_answered_seconds:
            return Classification(True, "too-short")
        return Classification(False, "answered")
    # Ringing, in-progress, or a status Twilio adds later: not a miss we can vouch for.
    return Classification(False, f"unknown-status:{status or 'none'}")
