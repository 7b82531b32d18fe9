"""How long a fresh worker takes to import the app, against importing what it cannot do without.

A cold start in Azure Functions begins with the worker importing `function_app`; until that
finishes no webhook is answered, and Twilio is waiting. The floor is a process that imports
only the app's unavoidable dependencies (the Functions SDK, the database driver, the cache
client and the queue client, as the app imports them); everything above it is ours to keep
small. Each figure is a whole fresh process (`python -c 'import ...'`, interpreter start-up
included, as on a worker), run alternately with the other so both see the same machine noise;
the median of N runs each is reported. Bytecode caches are warmed by one untimed run of each.
Beside the wall time, each process's CPU time (user + system) is reported: on a machine busy
with other work the wall times wander with the scheduler, the CPU times much less.
Run: `python -m bench.cold_start [N]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP = "import function_app"
FLOOR_MODULES = ("azure.functions", "asyncpg", "redis.asyncio", "azure.storage.queue.aio")
FLOOR = "import " + ", ".join(FLOOR_MODULES)

# The settings a worker has; none of them is contacted on import (nothing connects until the
# first invocation), so unreachable addresses are fine.
SETTINGS = {
    "DATABASE_URL": "postgresql://bench@127.0.0.1:9/bench",
    "REDIS_URL": "redis://127.0.0.1:9/0",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "EVENTGRID_TOPIC_ENDPOINT": "http://127.0.0.1:9/api/events",
    "EVENTGRID_TOPIC_KEY": "bench-topic-key",
    "PUBLIC_BASE_URL": "https://nevermiss.example.com",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "bench-auth-token",
    "OPENAI_API_KEY": "sk-bench",
    "LOG_LEVEL": "WARNING",
}


def _time_import(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one fresh interpreter running `code`, in s."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, code)
    return wall, usage.ru_utime + usage.ru_stime


def _figures(samples: list[tuple[float, float]]) -> dict[str, float]:
    wall, cpu = [w for w, _ in samples], [c for _, c in samples]
    return {
        "median_s": round(statistics.median(wall), 3),
        "min_s": round(min(wall), 3),
        "cpu_median_s": round(statistics.median(cpu), 3),
    }


def main(runs: int) -> dict[str, object]:
    env = {**os.environ, **SETTINGS}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    _time_import(APP, env)  # warm-up: write bytecode caches, fill the page cache
    _time_import(FLOOR, env)
    app: list[tuple[float, float]] = []
    floor: list[tuple[float, float]] = []
    for i in range(runs):
        # Alternate which goes first, so neither always runs right after the other.
        first, second = ((APP, app), (FLOOR, floor)) if i % 2 == 0 else ((FLOOR, floor), (APP, app))
        first[1].append(_time_import(first[0], env))
        second[1].append(_time_import(second[0], env))
    app_figures, floor_figures = _figures(app), _figures(floor)
    return {
        "runs": runs,
        "app": {"code": APP, **app_figures},
        "floor": {"code": FLOOR, **floor_figures},
        "ratio": round(app_figures["median_s"] / floor_figures["median_s"], 2),
        "cpu_ratio": round(app_figures["cpu_median_s"] / floor_figures["cpu_median_s"], 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "targets": {"ratio_max": 1.5},
    }


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    outcome = main(count)
    print(json.dumps(outcome, indent=2))
    Path("bench/results").mkdir(parents=True, exist_ok=True)
    Path("bench/results/cold_start.json").write_text(json.dumps(outcome, indent=2))
