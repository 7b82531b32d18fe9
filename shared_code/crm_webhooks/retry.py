"""When a failed webhook delivery is tried again, and when it is given up (pure).

After the first attempt fails, the next ones follow `delays` (5 s, 5 min, 30 min, 2 h, 5 h,
10 h, then every 10 h) until `window` (24 h) has passed since the delivery was created; an
attempt that fails after that gives it up, and the endpoint is disabled with a note to the
owner (`deliveries`). Tests pass a policy of a few hundred milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    delays: tuple[timedelta, ...] = (
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
    )
    window: timedelta = timedelta(hours=24)
    timeout_seconds: float = 10.0  # one attempt, connect to last byte
    # One delivery run's share of the function's 5 minutes: no POST starts later than
    # `run_budget_seconds - timeout_seconds` into the run (the rest wait for the next run).
    run_budget_seconds: float = 120.0

    def per_endpoint(self) -> int:
        """Deliveries to one endpoint a run claims: they go one at a time, and all of them
        must fit in the run's budget even if each takes the whole timeout."""
        return max(1, int(self.run_budget_seconds // self.timeout_seconds))


DEFAULT_POLICY = RetryPolicy()


def next_attempt(
    policy: RetryPolicy, attempts: int, created_at: datetime, now: datetime
) -> datetime | None:
    """After `attempts` failed attempts: when to try again, or None to give up."""
    if now - created_at >= policy.window:
        return None
    delay = policy.delays[min(attempts, len(policy.delays)) - 1] if attempts else timedelta(0)
    return min(now + delay, created_at + policy.window)


def succeeded(status: int) -> bool:
    """Standard Webhooks: any 2xx is received; a redirect is not followed, so it is a failure."""
    return 200 <= status < 300
