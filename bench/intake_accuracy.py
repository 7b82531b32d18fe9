"""How well the scripted intake understands people: its leads against a hand-written corpus.

The corpus (tests/data/intake/, described in its README) holds first texts and whole
conversations across six trades, each with the lead a careful person would write down. Each text
is run through `intake.next_turn` as a conversation's first text, each conversation turn by turn,
at the corpus's fixed "now" (Tuesday 2026-03-10 10:00, America/Chicago).

Parts, printed apart:
- `tuned`: every entry of texts.jsonl, conversations.jsonl and heldout_v2_*.jsonl. The intake's
  patterns were tuned on all of them: the quarter once kept out (`split: heldout`) was read
  while tuning, and so was heldout_v2 (read and tuned on after its first measurement), so
  neither is held out; each is also shown alone, as `tuned (was held-out)` and
  `tuned (was heldout_v2)`.
- `heldout_v3`: any `heldout_v3_*.jsonl` files, written afterwards and never tuned on (their
  misses are never printed, so they cannot be tuned on from here either).

Per field (need, name, street, zip, when, urgency) precision and recall (a wrong value counts
against both), and the whole-lead exact rate (every field right, and for conversations the
replies say what `confirm_has` / `any_reply_has` ask). `need` is strict: the lead's need must
contain the expected phrase and none of `NEED_NOT` (time, urgency, request and sign-off words
left over from the rest of the text). `when` is compared as full ISO times with their UTC
offset. Target (issue 16): >= 95% whole-lead exact. Run:
`python -m bench.intake_accuracy [--misses] [--tuned-only]` (`--misses` lists the tuned
part's misses, heldout_v2's included; `--tuned-only` leaves the heldout_v3 files out: for
working on the intake); writes bench/results/intake_accuracy.json.
tests/unit/test_intake_corpus.py keeps the tuned figure from sliding back.
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
KINDS = ("texts", "conversations", "all")
PARTS = {
    "tuned": "tuned",
    "was_heldout": "tuned (was held-out)",
    "was_heldout_v2": "tuned (was heldout_v2)",
    "heldout_v3": "heldout_v3",
}
HELD_OUT = "heldout_v3"  # the part whose misses are never shown
# Words that belong to other fields (or to no field), never to the job: a need holding one of
# these kept part of a time, an urgency, a request or a sign-off. Matched as whole words.
NEED_NOT = (
    "today", "tonight", "tomorrow", "tmrw", "this week", "next week", "weekend", "whenever",
    "anytime", "any time", "any day", "sometime", "flexible", "asap", "right away", "if possible",
    "works", "work best", "are best", "is best", "free", "available",
    "urgent", "emergency", "no rush", "rush", "hurry", "can wait",
    "can u come", "can you come", "can someone come", "come out", "see me", "bring it",
    "drop it off", "have an opening", "if you're open", "do you open", "do you close",
    "please", "pls", "thanks", "thank you", "thx",
)  # fmt: skip


def load(name: str, corpus: Path = CORPUS) -> list[dict[str, Any]]:
    with open(corpus / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _norm(value: str) -> str:
    return re.sub(r"\s+", " ", value.lower().replace(".", "").replace("\u2019", "'")).strip()


def need_right(expected: str, got: str) -> bool:
    """The expected key phrase is in the need, and no leftover word of another field is."""
    want, have = _norm(expected), _norm(got)
    if want not in have:
        return False
    pattern = r"(?<![\w']){}(?![\w'])"
    return not any(
        re.search(pattern.format(re.escape(word)), have)
        and not re.search(pattern.format(re.escape(word)), want)
        for word in NEED_NOT
    )


def _instant(iso: str | None, zone: ZoneInfo) -> str | None:
    """A time as full ISO with its UTC offset; the corpus writes local times without one."""
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat()


def predicted(lead: dict[str, str]) -> dict[str, Any]:
    """The evaluated fields of a lead (None: absent); times as stored, with their offset."""
    start, end = lead.get("when_start") or None, lead.get("when_end") or None
    return {
        "need": lead.get("need") or None,
        "name": lead.get("name") or None,
        "street": lead.get("street") or None,
        "zip": lead.get("zip") or None,
        "when": [_instant(start, ZoneInfo(ZONE)), _instant(end, ZoneInfo(ZONE))]
        if start or end
        else None,
        "urgency": lead.get("urgency") or None,
    }


def expected(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry's expectations, its local times made full ISO in the business's zone."""
    expect = dict(entry.get("expect") or {})
    when = expect.get("when")
    if when:
        zone = ZoneInfo(entry.get("zone") or ZONE)
        expect["when"] = [_instant(when[0], zone), _instant(when[1], zone)]
    return expect


def field_right(name: str, expected: Any, got: Any) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if name == "need":
        return need_right(expected, got)
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


def _now(entry: dict[str, Any]) -> datetime:
    zone = ZoneInfo(entry.get("zone") or ZONE)
    if not entry.get("now"):
        return NOW.astimezone(zone)
    moment = datetime.fromisoformat(entry["now"])
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _business(entry: dict[str, Any]) -> str:
    return str(entry.get("business") or BUSINESS.get(entry.get("trade", ""), "Ace Plumbing"))


def run_text(entry: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    turn = next_turn(
        {}, [entry["text"]], _business(entry), time_zone=entry.get("zone") or ZONE,
        now=_now(entry), service_area=entry.get("service_area", ""), first=True,
    )  # fmt: skip
    return turn.lead, [turn.reply]


def run_conversation(entry: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    lead: dict[str, str] = {}
    replies = []
    for i, texts in enumerate(entry["turns"]):
        turn = next_turn(
            lead, texts if isinstance(texts, list) else [texts], _business(entry),
            time_zone=entry.get("zone") or ZONE, now=_now(entry),
            service_area=entry.get("service_area", ""), first=i == 0,
        )  # fmt: skip
        lead = turn.lead
        replies.append(turn.reply)
    return lead, replies


def replies_ok(entry: dict[str, Any], replies: list[str]) -> bool:
    last = replies[-1].lower() if replies else ""
    if not all(s.lower() in last for s in entry.get("confirm_has", [])):
        return False
    return all(any(s.lower() in r.lower() for r in replies) for s in entry.get("any_reply_has", []))


def _entries(corpus: Path, held_out: bool) -> list[tuple[str, dict[str, Any]]]:
    """(part, entry): the tuned corpus (with heldout_v2), the parts of it shown alone, and the
    heldout_v3 files. An entry of a part shown alone is listed twice: once as `tuned`."""
    out = []
    for name in ("texts.jsonl", "conversations.jsonl"):
        if (corpus / name).exists():
            for entry in load(name, corpus):
                out.append(("tuned", entry))
                if entry.get("split") == "heldout":
                    out.append(("was_heldout", entry))
    for path in sorted(corpus.glob("heldout_v2_*.jsonl")):
        for entry in load(path.name, corpus):
            out += [("tuned", entry), ("was_heldout_v2", entry)]
    for path in sorted(corpus.glob("heldout_v3_*.jsonl")) if held_out else ():
        out += [(HELD_OUT, entry) for entry in load(path.name, corpus)]
    return out


def evaluate(
    corpus: Path = CORPUS, *, held_out: bool = True
) -> tuple[dict[str, dict[str, Tally]], list[str]]:
    """Tallies by kind ("texts", "conversations", "all") and part (`PARTS`), and the misses
    of the tuned part (heldout_v3 misses are never shown; `held_out=False` leaves those files
    out)."""
    tallies = {kind: {part: Tally() for part in PARTS} for kind in KINDS}
    misses = []
    for part, entry in _entries(corpus, held_out):
        kind = "conversations" if "turns" in entry else "texts"
        lead, replies = (run_conversation if kind == "conversations" else run_text)(entry)
        got, ok, expect = predicted(lead), replies_ok(entry, replies), expected(entry)
        wrong = tallies[kind][part].add(expect, got, ok)
        tallies["all"][part].add(expect, got, ok)
        if wrong and part == "tuned":
            misses.append(
                f"{entry.get('id')} {wrong}: {entry.get('text') or entry.get('turns')}\n"
                f"    want {expect}\n    got  { {k: v for k, v in got.items() if v} }"
                f"\n    last reply: {replies[-1]}"
            )
    return tallies, misses


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{value * 100:5.1f}"


def main(argv: list[str] | None = None, corpus: Path = CORPUS) -> None:
    args = sys.argv[1:] if argv is None else argv
    started = time.perf_counter()
    tallies, misses = evaluate(corpus, held_out="--tuned-only" not in args)
    seconds = time.perf_counter() - started
    report = {
        kind: {part: t.figures() for part, t in parts.items()} for kind, parts in tallies.items()
    }
    if "--misses" in args:
        print("\n".join(misses), end="\n\n")
    print(f"intake accuracy over {corpus.name} ({seconds:.1f} s); need scored strictly")
    header = "".join(f"{name:>16}" for name in EVALUATED)
    for kind in KINDS:
        for part, label in PARTS.items():
            f = report[kind][part]
            if not f["entries"]:
                continue
            print(
                f"\n{kind} / {label}: {f['entries']} entries, whole-lead exact "
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
    if not report["all"][HELD_OUT]["entries"] and "--tuned-only" not in args:
        print(f"\n{HELD_OUT}: no {HELD_OUT}_*.jsonl files yet")
    if corpus == CORPUS and "--tuned-only" not in args:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"target_exact_rate": 0.95, **report}, indent=2) + "\n")
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
