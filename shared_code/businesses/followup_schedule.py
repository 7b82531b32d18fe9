"""A business's follow-up schedule: when to text again a customer who has not answered.

Each step counts from our previous text (the text-back, then the step before): `after_minutes`
is elapsed time; `after_days` is calendar days in the business's zone, at the same clock time
(so "the next day" stays 10:15 across a DST change, 23 or 25 hours later). The default is
30 minutes, then 1 day, then 3 days. Each step's text is the business's `followup_<n>`
template. An empty schedule turns follow-ups off; NULL in the database means the default.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_STEPS = 5


class FollowupStep(BaseModel):
    """One step: exactly one of `after_minutes` (5 min to 30 days) or `after_days` (1-30)."""

    model_config = ConfigDict(extra="forbid")

    after_minutes: int | None = Field(default=None, ge=5, le=43_200)
    after_days: int | None = Field(default=None, ge=1, le=30)

    @model_validator(mode="after")
    def _one_delay(self) -> FollowupStep:
        if (self.after_minutes is None) == (self.after_days is None):
            raise ValueError("give exactly one of after_minutes or after_days")
        return self


DEFAULT_SCHEDULE: tuple[dict[str, int], ...] = (
    {"after_minutes": 30},
    {"after_days": 1},
    {"after_days": 3},
)


def steps_of(
    stored: list[dict[str, Any]] | tuple[dict[str, Any], ...] | None,
) -> list[FollowupStep]:
    """The schedule as stored on the business (None: the default)."""
    raw = DEFAULT_SCHEDULE if stored is None else stored
    return [FollowupStep.model_validate(step) for step in raw][:MAX_STEPS]
