"""Classifier benchmark: grouped and random cross-validation, per language, NLBSE'24, speed; asserts nothing.

    python bench/bench_classifier.py              # everything (about 10 minutes on 2 shared cores)
    python bench/bench_classifier.py --skip-cv    # only the shipped model's speed and NLBSE'24
    python bench/bench_classifier.py --grid       # also the configurations the shipped one was chosen from

Protocol (issue 13).

* Grouped CV: folds never split a corpus part (classifiers/seed/part*.txt; each part
  is one set of writers, each part-<lang>.txt one language), so every figure is on
  writers the fold's model never read. A language written by one part is then
  scored zero-shot: its per-language figures are what a new language costs before
  anyone writes seed mail in it, and understate the shipped model, which has read it.
* Random CV: stratified 5-fold over messages, as before; printed beside the grouped
  figures to show how much a random split over-promises.
* "shipped" is classifiers.train's default TrainConfig (what `intake train` and the
  shipped model use); "previous" is the configuration of the model it replaced
  (no lexicons; same heads), trained here on the same corpus. The previous shipped
  model file itself (classifiers/model/versions/<previous>/) is also scored on the
  parts added after it was trained: text it never saw.
* Severity is the decided label (critical threshold applied). possible_critical is
  the recall-first flag: share of criticals caught (flagged or labelled critical) and
  share of the rest flagged.
* NLBSE'24: train on issues_train.csv mapped bug->defect, feature->enhancement,
  question->question (through `classifiers.train.train` with a ColumnMap, as
  `intake train --data` does; CV grouped by repository), score category macro-F1
  on issues_test.csv.
* Speed: featurise + predict (with language detection) in batches of 1000, best of 3;
  model load in a fresh process; language identifier ready (background load).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.evaluate import head_report, score  # noqa: E402
from classifiers.seed_corpus import (  # noqa: E402
    CATEGORIES,
    SEVERITIES,
    Record,
    group_of,
    language_of_part,
    load_seed,
)
from classifiers.train import TrainConfig, TrainResult, fit_model, to_input  # noqa: E402

# The public datasets are not part of this repository: they live in the team's shared folder
# (INTAKE_SHARED, default ../shared beside the checkout); each one absent is reported and skipped.
SHARED = Path(os.environ.get("INTAKE_SHARED", ROOT.parent / "shared"))
NLBSE = SHARED / "data" / "nlbse24-issues"
PREVIOUS_VERSION = "tfidf-svc-d104c7a5f17e"  # the shipped model before issue 13
PREVIOUS_PARTS = {"part1.txt", "part2.txt", "part3.txt", "part4.txt", "part5.txt"}  # what it was trained on

CONFIGS: dict[str, TrainConfig] = {
    "shipped": TrainConfig(),
    "previous": TrainConfig(lexicons=False, C=0.5),
}
GRID: dict[str, TrainConfig] = {
    "lexicons x0.3, C 0.5": TrainConfig(lexicon_weight=0.3, C=0.5),
    "lexicons x1.0, C 0.5": TrainConfig(lexicon_weight=1.0, C=0.5),
    "lexicons x1.0, C 0.5, boost 3": TrainConfig(lexicon_weight=1.0, C=0.5, critical_boost=3.0),
}


def language(record: Record) -> str:
    """The part's language when its name says so, else English (parts 1-7 are English voices)."""
    return language_of_part(group_of(record)) or "en"


def summary(records: Sequence[Record], result: TrainResult) -> dict[str, Any]:
    cv = result.metrics["cv"]
    sev = cv["severity"]
    pc = sev.get("possible_critical") or {}
    row = {
        "sev_f1": sev["macro_f1"],
        "crit_recall": sev["critical_recall"],
        "cat_f1": cv["category"]["macro_f1"],
        "pc_caught": pc.get("critical_caught_or_labelled"),
        "pc_flagged": pc.get("others_flagged"),
        "threshold": sev["critical_threshold"],
        "pc_threshold": pc.get("threshold"),
        "seconds": result.metrics["train_seconds"],
    }
    row["languages"] = per_language(records, result)
    return row


def per_language(records: Sequence[Record], result: TrainResult) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for lang in sorted({language(r) for r in records}):
        idx = [n for n, r in enumerate(records) if language(r) == lang]
        sev = [(records[n].severity, result.oof["severity"][n]) for n in idx if result.oof["severity"][n]]
        cat = [(records[n].category, result.oof["category"][n]) for n in idx if result.oof["category"][n]]
        sev_rep = head_report([str(t) for t, _ in sev], [str(p) for _, p in sev], SEVERITIES)
        cat_rep = head_report([str(t) for t, _ in cat], [str(p) for _, p in cat], CATEGORIES)
        crit_support = sev_rep["per_class"]["critical"]["support"]
        out[lang] = {
            "n": len(idx),
            "sev_f1": sev_rep["macro_f1"],
            "crit_recall": sev_rep["critical_recall"] if crit_support else float("nan"),
            "criticals": crit_support,
            "cat_f1": cat_rep["macro_f1"],
        }
    return out


def fmt(value: Any, width: int = 8) -> str:
    if isinstance(value, float) and np.isnan(value):
        return f"{'-':>{width}}"
    if isinstance(value, float):
        return f"{value:>{width}.3f}"
    return f"{'-' if value is None else value!s:>{width}}"


def cross_validation(records: list[Record], configs: dict[str, TrainConfig]) -> None:
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for name, config in configs.items():
        for scheme in ("grouped", "random"):
            started = time.perf_counter()
            from dataclasses import replace

            result = fit_model(records, config=replace(config, cv=scheme))
            results[(name, scheme)] = summary(records, result)
            print(f"  ... {name} / {scheme} done ({time.perf_counter() - started:.0f} s)", flush=True)
    print(
        f"\n{'model':<24}{'CV':<9}{'sev F1':>8}{'crit R':>8}{'cat F1':>8}"
        f"{'pc catch':>10}{'pc flag':>9}   thresholds (critical / possible_critical)"
    )
    for (name, scheme), row in results.items():
        print(
            f"{name:<24}{scheme:<9}{fmt(row['sev_f1'])}{fmt(row['crit_recall'])}{fmt(row['cat_f1'])}"
            f"{fmt(row['pc_caught'], 10)}{fmt(row['pc_flagged'], 9)}"
            f"   {row['threshold']} / {row['pc_threshold']}"
        )
    print(
        "\nper language, grouped CV (each part held out whole; a language whose parts share a fold is"
        " scored zero-shot)"
    )
    print(f"{'model':<24}{'lang':<6}{'n':>6}{'sev F1':>8}{'crit R':>8}{'crits':>7}{'cat F1':>8}")
    for (name, scheme), row in results.items():
        if scheme != "grouped":
            continue
        for lang, figures in row["languages"].items():
            print(
                f"{name:<24}{lang:<6}{figures['n']:>6}{fmt(figures['sev_f1'])}{fmt(figures['crit_recall'])}"
                f"{figures['criticals']:>7}{fmt(figures['cat_f1'])}"
            )


def previous_on_new_parts(records: list[Record]) -> None:
    from classifiers.store import MODEL_DIR, read_model

    directory = MODEL_DIR / "versions" / PREVIOUS_VERSION
    if not directory.is_dir():
        print(f"\nprevious model {PREVIOUS_VERSION}: not kept in {directory}, skipped")
        return
    model = read_model(directory)
    unseen = [r for r in records if group_of(r) not in PREVIOUS_PARTS]
    print(f"\nprevious shipped model {PREVIOUS_VERSION} on the {len(unseen)} messages added after it")
    print(f"{'part':<14}{'n':>6}{'sev F1':>8}{'crit R':>8}{'cat F1':>8}{'pc catch':>10}{'pc flag':>9}")
    for part in ["all", *sorted({group_of(r) for r in unseen})]:
        rows = unseen if part == "all" else [r for r in unseen if group_of(r) == part]
        rep = score(model, rows)
        sev, cat, pc = rep["severity"], rep["category"], rep.get("possible_critical") or {}
        crit = sev["critical_recall"] if sev["per_class"]["critical"]["support"] else float("nan")
        print(
            f"{part:<14}{len(rows):>6}{fmt(sev['macro_f1'])}{fmt(crit)}{fmt(cat['macro_f1'])}"
            f"{fmt(pc.get('critical_caught'), 10)}{fmt(pc.get('others_flagged'), 9)}"
        )


def nlbse() -> None:
    from classifiers.dataset import ColumnMap, read_labelled
    from classifiers.train import train

    train_file, test_file = NLBSE / "issues_train.csv", NLBSE / "issues_test.csv"
    if not (train_file.is_file() and test_file.is_file()):
        print(f"\nNLBSE'24: absent ({NLBSE}), skipped")
        return
    mapping = ColumnMap.parse(
        ["subject=title", "text=body", "category=label", "group=repo", "when=created_at"],
        ["bug=defect", "feature=enhancement", "question=question"],
    )
    started = time.perf_counter()
    result = train(train_file, config=TrainConfig(cv="grouped"), mapping=mapping)
    trained = time.perf_counter() - started
    rep = score(result.model, read_labelled(test_file, mapping))
    cat = rep["category"]
    labels = ["defect", "enhancement", "question"]
    print(
        f"\nNLBSE'24 (train {result.metrics['n_records']} rows incl. the seed corpus for severity;"
        f" category head on the issues only)"
    )
    print(
        f"  category macro-F1 on issues_test.csv: {cat['macro_f1']:.3f} (accuracy {cat['accuracy']:.3f});"
        f" CV grouped by repository on the train split {result.metrics['cv']['category']['macro_f1']:.3f};"
        f" trained with that CV in {trained:.0f} s on CPU"
    )
    print("  per class F1: " + ", ".join(f"{c} {cat['per_class'][c]['f1']:.3f}" for c in labels))
    print("  published: RoBERTa + adapters 0.893, GPT-3.5 0.828, SetFit 0.827")


def speed() -> None:
    from classifiers.model import load_model

    model = load_model()
    model._language.wait() if model._language else None  # type: ignore[func-returns-value]
    items = [to_input(r) for r in load_seed()]
    while len(items) < 1000:
        items += items
    batch = items[:1000]
    model.predict(batch)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        model.predict(batch)
        best = min(best, time.perf_counter() - started)
    print(
        f"\nshipped {model.version}: {best / len(batch) * 1000:.3f} ms per message,"
        " featurise + predict + language, batches of 1000 (best of 3)"
    )
    code = (
        "import time; t=time.perf_counter(); from classifiers.model import load_model; m=load_model(); "
        "a=time.perf_counter()-t; m._language.wait(); print(f'{a:.2f} {time.perf_counter()-t:.2f}')"
    )
    runs = []
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(f"load failed: {done.stderr.strip().splitlines()[-1:]}")
            return
        runs.append(tuple(float(v) for v in done.stdout.split()))
    load, ready = min(r[0] for r in runs), min(r[1] for r in runs)
    print(
        f"fresh process: import + load the shipped model {load:.2f} s (best of 3); language identifier ready"
        f" after {ready:.2f} s (loads in a background thread; only a message classified before then waits)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-cv", action="store_true", help="skip the cross-validation runs")
    parser.add_argument("--grid", action="store_true", help="also cross-validate the candidates")
    args = parser.parse_args()
    records = load_seed()
    parts: dict[str, int] = {}
    for r in records:
        parts[group_of(r)] = parts.get(group_of(r), 0) + 1
    print(
        f"seed corpus: {len(records)} records in {len(parts)} parts: "
        + ", ".join(f"{p} {n}" for p, n in parts.items())
    )
    if not args.skip_cv:
        configs = {**CONFIGS, **(GRID if args.grid else {})}
        cross_validation(records, configs)
        previous_on_new_parts(records)
    nlbse()
    speed()


if __name__ == "__main__":
    main()
