"""Timer triggers on NCRONTAB schedules (six fields, seconds first), in UTC like the host default.

A timer function runs as a single instance: the next occurrence is computed only after the current
run finishes, and an occurrence missed while a run was still going is reported as `past_due`
instead of starting a second copy. Failures are logged and never retried, as on Azure.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.catalog import FunctionSpec, parse_timespan
from devhost.invoke import invoke

log = logging.getLogger("devhost.timer")


class Schedule:
    """Next run times for an NCRONTAB expression or a "hh:mm:ss" interval."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self._interval: float | None = None
        if len(self.expression.split()) == 1 and ":" in self.expression:
            self._interval = parse_timespan(self.expression, 0)
            if self._interval <= 0:
                raise ValueError(f"timer interval must be positive: {expression!r}")
        else:
            if len(self.expression.split()) != 6:
                raise ValueError(f"NCRONTAB needs 6 fields (seconds first): {expression!r}")
            croniter(self.expression, second_at_beginning=True)  # validate now, not at first tick

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + timedelta(seconds=self._interval)
        it = croniter(self.expression, moment, second_at_beginning=True)
        nxt = it.get_next(datetime)
        assert isinstance(nxt, datetime)
        return nxt


class TimerRunner:
    """Drives one timer function until cancelled."""

    def __init__(self, spec: FunctionSpec, function_directory: str) -> None:
        self.spec = spec
        self.function_directory = function_directory
        self.schedule = Schedule(str(spec.setting("schedule") or ""))
        self.run_on_startup = bool(spec.trigger.get("runOnStartup"))
        self.runs = 0

    async def run_once(self, past_due: bool = False) -> None:
        self.runs += 1
        try:
            await invoke(self.spec, TimerRequest(past_due=past_due), self.function_directory)
        except Exception:
            log.exception(
                "timer function %s failed (no retry; it runs again on schedule)", self.spec.name
            )

    async def loop(self) -> None:
        if self.run_on_startup:
            await self.run_once()
        due = self.schedule.next_after(datetime.now(UTC))
        while True:
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            started = datetime.now(UTC)
            await self.run_once(past_due=(started - due).total_seconds() > 1.0)
            # Next occurrence after this run's start: if the run overran it, it fires at once
            # (flagged past due) and the schedule then resumes; missed ticks are not replayed.
            due = self.schedule.next_after(max(due, started))
