"""The scripted intake against its corpus (tests/data/intake): the bar reached is kept.

`bench.intake_accuracy` prints the figures (per field precision and recall, whole-lead exact,
tuned and held-out parts apart); this runs the same evaluation and fails if the tuned part's
whole-lead exact rate slides below what it reached when the intake was last tuned. It is a
regression guard, not a target: the issue's target is >= 95% on the whole corpus.
"""

from __future__ import annotations

from bench.intake_accuracy import evaluate, load

# Reached when the intake was tuned (issue 16): 177 of 180 tuned entries exact (98.3%); the
# held-out part, never tuned on, was 59 of 60.
TUNED_EXACT_AT_LEAST = 0.98
HELD_OUT_EXACT_AT_LEAST = 0.95


def test_the_corpus_is_the_size_the_issue_asks_with_a_held_out_quarter() -> None:
    texts, conversations = load("texts.jsonl"), load("conversations.jsonl")
    assert len(texts) >= 200 and len(conversations) >= 40
    for entries in (texts, conversations):
        held_out = [e for e in entries if e["split"] == "heldout"]
        assert len(held_out) * 4 == len(entries)
        assert all(int(e["id"][1:]) % 4 == 0 for e in held_out)
    trades = {e["trade"] for e in texts + conversations}
    assert trades == {"plumbing", "hvac", "electrical", "salon", "dental", "auto"}


def test_the_tuned_bar_is_kept() -> None:
    tallies, misses = evaluate()
    tuned = tallies["all"]["tune"].figures()
    held_out = tallies["all"]["heldout"].figures()
    assert tuned["exact_rate"] >= TUNED_EXACT_AT_LEAST, "\n".join(misses)
    assert held_out["exact_rate"] >= HELD_OUT_EXACT_AT_LEAST
    assert tallies["all"]["tune"].entries + tallies["all"]["heldout"].entries == 240
