"""How well the scripted intake understands people: its leads against a hand-written corpus.

The corpus (tests/data/intake/, described in its README) holds 200 first texts and 40 whole
conversations across six trades, each with the lead a careful person would write down; a quarter
of it (`split: heldout`, every entry numbered a multiple of 4) is never tuned on. Each text is run
through `intake.next_turn` as a conversation's first text, each conversation turn by turn, at the
corpus's fixed "now" (Tuesday 2026-03-10 10:00, America/Chicago).

Printed, for the tuned and the held-out parts separately: per field (need, name, street, zip,
when, urgency) precision and recall (a wrong value counts against both), and the whole-lead exact
rate (every field right, and for conversations the replies say what `confirm_has` /
`any_reply_has` ask). Target (issue 16): >= 95% whole-lead exact. Run:
`python -m bench.intake_accuracy [--misses]`; writes bench/results/intake_accuracy.json.
tests/unit/test_intake_corpus.py keeps the tuned part's figure from sliding back.
"""

from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from shared_code.assistant.intake import next_turn

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "intake"
RESULTS = ROOT / "bench" / "results" / "intake_accuracy.json"
ZONE = "America/Chicago"
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=ZoneInfo(ZONE))
BUSINESS = {
    "plumbing": "Ace Plumbing",
    "hvac": "Polar Air HVAC",
    "electrical": "Bright Spark Electric",
    "salon": "Studio Nine Salon",
    "dental": "Lakeview Family Dental",
    "auto": "Quick Fix Auto",
}
EVALUATED = ("need", "name", "street", "zip", "when", "urgency")


def load(name: str) -> list[dict[str, Any]]:
    with open(CORPUS / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _norm(value: str) -> str:
    return re.sub(r"\s+", " ", value.lower().replace(".", "").replace("\u2019", "'")).strip()


def _local(iso: str) -> str | None:
    return iso[:16] if iso else None  # stored with its offset; the corpus is written locally


def predicted(lead: dict[str, str]) -> dict[str, Any]:
    """The evaluated fields of a lead (None: absent)."""
    start, end = _local(lead.get("when_start", "")), _local(lead.get("when_end", ""))
    return {
        "need": lead.get("need") or None,
        "name": lead.get("name") or None,
        "street": lead.get("street") or None,
        "zip": lead.get("zip") or None,
        "when": [start, end] if start or end else None,
        "urgency": lead.get("urgency") or None,
    }


def field_right(name: str, expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if name == "need":
        return _norm(expected) in _norm(got)
    if name in ("name", "street"):
        return bool(_norm(expected) == _norm(got))
    return bool(expected == got)


@dataclass
class Tally:
    entries: int = 0
    exact: int = 0
    tp: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVALUATED, 0))
    fp: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVALUATED, 0))
    fn: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVALUATED, 0))

    def add(self, expect: dict[str, Any], got: dict[str, Any], replies_ok: bool) -> list[str]:
        wrong = []
        for name in EVALUATED:
            want, have = expect.get(name), got[name]
            right = field_right(name, want, have)
            if have is not None and want is not None and right:
                self.tp[name] += 1
            if have is not None and not right:
                self.fp[name] += 1
            if want is not None and not right:
                self.fn[name] += 1
            if not right:
                wrong.append(name)
        if not replies_ok:
            wrong.append("replies")
        self.entries += 1
        self.exact += not wrong
        return wrong

    def figures(self) -> dict[str, Any]:
        def ratio(a: int, b: int) -> float | None:
            return round(a / b, 4) if b else None

        return {
            "entries": self.entries,
            "exact_rate": ratio(self.exact, self.entries),
            "fields": {
                name: {
                    "precision": ratio(self.tp[name], self.tp[name] + self.fp[name]),
                    "recall": ratio(self.tp[name], self.tp[name] + self.fn[name]),
                }
                for name in EVALUATED
            },
        }


def run_text(entry: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    turn = next_turn(
        {}, [entry["text"]], BUSINESS[entry["trade"]], time_zone=ZONE, now=NOW, first=True
    )
    return turn.lead, [turn.reply]


def run_conversation(entry: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    lead: dict[str, str] = {}
    replies = []
    for i, texts in enumerate(entry["turns"]):
        turn = next_turn(
            lead, texts, BUSINESS[entry["trade"]], time_zone=ZONE, now=NOW,
            service_area=entry.get("service_area", ""), first=i == 0,
        )  # fmt: skip
        lead = turn.lead
        replies.append(turn.reply)
    return lead, replies


def replies_ok(entry: dict[str, Any], replies: list[str]) -> bool:
    last = replies[-1].lower()
    if not all(s.lower() in last for s in entry.get("confirm_has", [])):
        return False
    return all(any(s.lower() in r.lower() for r in replies) for s in entry.get("any_reply_has", []))


def evaluate() -> tuple[dict[str, dict[str, Tally]], list[str]]:
    """Tallies by kind ("texts", "conversations", "all") and split ("tune", "heldout")."""
    tallies = {kind: {"tune": Tally(), "heldout": Tally()} for kind in ("texts", "conversations")}
    tallies["all"] = {"tune": Tally(), "heldout": Tally()}
    misses = []
    for kind, name, run in (
        ("texts", "texts.jsonl", run_text),
        ("conversations", "conversations.jsonl", run_conversation),
    ):
        for entry in load(name):
            lead, replies = run(entry)
            got, ok = predicted(lead), replies_ok(entry, replies)
            wrong = tallies[kind][entry["split"]].add(entry["expect"], got, ok)
            tallies["all"][entry["split"]].add(entry["expect"], got, ok)
            if wrong and entry["split"] == "tune":  # held-out misses are not shown: no tuning
                misses.append(
                    f"{entry['id']} {wrong}: {entry.get('text') or entry.get('turns')}\n"
                    f"    want {entry['expect']}\n    got  { {k: v for k, v in got.items() if v} }"
                    f"\n    last reply: {replies[-1]}"
                )
    return tallies, misses


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{value * 100:5.1f}"


def main() -> None:
    started = time.perf_counter()
    tallies, misses = evaluate()
    seconds = time.perf_counter() - started
    report = {
        kind: {split: t.figures() for split, t in parts.items()} for kind, parts in tallies.items()
    }
    if "--misses" in sys.argv:
        print("\n".join(misses), end="\n\n")
    print(f"intake accuracy over tests/data/intake ({seconds:.1f} s)")
    header = "".join(f"{name:>16}" for name in EVALUATED)
    for kind in ("texts", "conversations", "all"):
        for split in ("tune", "heldout"):
            f = report[kind][split]
            print(
                f"\n{kind} / {split}: {f['entries']} entries, whole-lead exact "
                f"{_pct(f['exact_rate'])}%"
            )
            print(f"{'':10}{header}")
            print(
                f"{'P / R %':10}"
                + "".join(
                    f"{_pct(f['fields'][n]['precision']):>9} /{_pct(f['fields'][n]['recall'])}"
                    for n in EVALUATED
                )
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"target_exact_rate": 0.95, **report}, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
