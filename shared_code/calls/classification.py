"""Was a call missed? One table, read top to bottom.

Twilio's `<Dial action>` request carries `DialCallStatus`. The parent call usually ends
`completed` even when nobody answered, so only the dialled leg's status (or, for numbers that ring
without forwarding, the call's own status callback) decides. A leg that "completed" is not yet a
person: the owner's carrier voicemail picks up with the same status and a duration like a real
answer, and a Decline sends the leg to that voicemail. Twilio never says so on the `<Dial action>`
(it carries no `AnsweredBy`), so each business chooses how a person is told apart on its legs
(`answer_check`), and the verdict is read from what that check recorded:

- `press_key`: the leg hears "press 1 to take it" before it is bridged; voicemail can't press a
  key. A completed leg is answered only if a person accepted it (the acceptance recorded by
  /voice/screen-result for that leg, or `DialBridged=true`: a screened leg is bridged only after
  the key), else it is a miss, `not_accepted`.
- `amd`: answering-machine detection on the leg; its verdict arrives at /voice/amd, before or
  after the Dial ends (after: the call is revised, see calls.handler). A machine or fax is a miss,
  `machine`; anything else (human, unknown) is answered.
- `none` (and reports that name no check: the status callback of numbers that ring without
  forwarding, reports queued before the check existed): only a very short "answer" (a pocket
  answer, a hang-up on pick-up) is told from a real one, `too-short`.
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
# Reasons a call that was answered by something is still a miss.
NOT_ACCEPTED, MACHINE, TOO_SHORT = "not_accepted", "machine", "too-short"


@dataclass(frozen=True)
class Classification:
    missed: bool
    reason: str


def is_machine(answered_by: str | None) -> bool:
    """An AMD verdict (`AnsweredBy`) that no person is on the leg."""
    return (answered_by or "").strip().lower() in MACHINE_ANSWERS


def classify(
    status: str | None,
    duration_seconds: int | None,
    *,
    answer_check: str | None,
    accepted: bool | None,
    answered_by: str | None,
    min_answered_seconds: int,
) -> Classification:
    status = (status or "").strip().lower()
    if status in UNDIALLED_REASONS:
        return Classification(True, status)
    if status in MISSED_STATUSES:
        return Classification(True, status)
    if status in CONNECTED_STATUSES:
        if answer_check == "press_key":
            if accepted:
                return Classification(False, "answered")
            return Classification(True, NOT_ACCEPTED)
        if answer_check == "amd":
            if is_machine(answered_by):
                return Classification(True, MACHINE)
            return Classification(False, "answered")
        if duration_seconds is not None and duration_seconds < min_answered_seconds:
            return Classification(True, TOO_SHORT)
        return Classification(False, "answered")
    # Ringing, in-progress, or a status Twilio adds later: not a miss we can vouch for.
    return Classification(False, f"unknown-status:{status or 'none'}")
