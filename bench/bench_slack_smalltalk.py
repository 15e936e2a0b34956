"""Small talk vs tickets on labelled Slack channel messages.

bench/data/slack_smalltalk.jsonl (290 messages) is the set the rules were tuned
on; bench/data/slack_smalltalk_heldout.jsonl (50) was written after the tuning and
never used for it: its figures are the honest ones. Prints precision and recall
of "small talk" (what the bot drops) and of "ticket" (what it opens), and the misses.
Run: .venv/bin/python bench/bench_slack_smalltalk.py
"""

from __future__ import annotations

import json
from pathlib import Path

from channels.slack.smalltalk import small_talk

DATA = Path(__file__).parent / "data"


def main() -> None:
    for name in ("slack_smalltalk.jsonl", "slack_smalltalk_heldout.jsonl"):
        print(f"== {name}")
        score(DATA / name)


def score(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    tp = fp = fn = tn = 0
    misses: list[str] = []
    for row in rows:
        said = small_talk(row["text"]) is not None
        truth = row["label"] == "smalltalk"
        if said and truth:
            tp += 1
        elif said:
            fp += 1
            misses.append(f"  ticket taken for small talk: {row['text']!r}")
        elif truth:
            fn += 1
            misses.append(f"  small talk opened a ticket: {row['text']!r}")
        else:
            tn += 1
    print(f"{len(rows)} messages: {tp + fn} small talk, {tn + fp} tickets")
    print(f"small talk  precision {tp / max(1, tp + fp):.3f}  recall {tp / max(1, tp + fn):.3f}")
    print(f"tickets     precision {tn / max(1, tn + fn):.3f}  recall {tn / max(1, tn + fp):.3f}")
    print("\n".join(misses))


if __name__ == "__main__":
    main()
