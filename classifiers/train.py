"""Training: seed corpus (or a data file) plus manager corrections -> a calibrated triage model.

Each head is ``CalibratedClassifierCV(LinearSVC, method="sigmoid", ensemble=False)``:
one linear SVM fitted on all rows (its weights give the reasons) and a Platt
calibration fitted on its cross-validated decision values. Rows without a
label for a head are left out of that head only. Reviews (manager
corrections) are weighted ``REVIEW_WEIGHT`` times a seed row.

Severity is biased toward critical recall twice over: the critical class's
weight is ``critical_boost`` times its balanced weight, and a lowered decision
threshold for critical is chosen on out-of-fold probabilities to maximise F2
(recall counted twice as heavily as precision). Both, and the recall they buy,
are reported in the metrics.

Run ``python -m classifiers.train --help`` to rebuild the shipped model.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.dataset import ColumnMap
from classifiers.evaluate import head_report
from classifiers.features import Featurizer, TriageInput
from classifiers.model import TriageModel
from classifiers.seed_corpus import CATEGORIES, ENVIRONMENTS, SEVERITIES, Record, data_sha256, load_seed

REVIEW_WEIGHT = 3.0
LABELS: dict[str, tuple[str, ...]] = {
    "severity": SEVERITIES,
    "category": CATEGORIES,
    "environment": ENVIRONMENTS,
}
F2_TOLERANCE = 0.005
POSSIBLE_CRITICAL_RECALL = 0.99  # the share of criticals the possible_critical flag must catch on CV
THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.05 + 0.025 * i, 3) for i in range(19))

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Hyper-parameters, chosen on 5-fold CV grouped by corpus part (bench/bench_classifier.py --grid).

    On 2,551 seed messages (12 parts) C 0.25 with lexicons weighted 1.0 had the highest
    grouped-CV critical recall (0.920 against 0.888 without lexicons) and flagged the
    fewest non-criticals as possible_critical (0.26 against 0.29); severity macro-F1
    0.705 against 0.703, category 0.840 against 0.845: within noise. On the 3,840 of
    17 parts, with the broadened lexicons: severity 0.746, critical recall 0.915,
    category 0.816, possible_critical flags 0.218 (lexicons weighted 2.0: no better).
    On the 4,838 of 27 parts (ten new writers): severity 0.806, critical recall 0.933,
    category 0.850, flags 0.139; the no-lexicon C 0.5 configuration now has the higher
    severity (0.848) and category (0.872) figures but the lower critical recall (0.925).
    On the 5,158 of 31 parts (four writers of critical-versus-high pairs added):
    severity 0.814, critical recall 0.938, category 0.846, flags 0.121; the no-lexicon C 0.5
    configuration now reaches 0.849, 0.945 and 0.869 there, flagging 0.161 (not yet re-chosen).
    """

    C: float = 0.25
    signal_weight: float = 0.1
    use_char: bool = True
    lexicons: bool = True  # the multilingual impact lexicons (classifiers.lexicons) as signals
    lexicon_weight: float = 1.0
    calibration: str = "sigmoid"
    critical_boost: float = 2.0
    folds: int = 5
    cross_validate: bool = True  # out-of-fold metrics and the critical threshold; off = quicker, no threshold
    # grouped: folds never split a group (seed part = writer, helpdesk customer); time: train on the past,
    # test on what came after; random: stratified folds (over-promises on new writers, kept for comparison).
    cv: str = "grouped"
    seed: int = 0
    n_jobs: int = 2
    review_weight: float = REVIEW_WEIGHT


@dataclass(slots=True)
class TrainResult:
    model: TriageModel
    metrics: dict[str, Any] = field(default_factory=dict)
    # Out-of-fold decisions per head (None: row not labelled for the head, or never in a test fold)
    # and out-of-fold P(critical), for per-group and per-language figures; not persisted.
    oof: dict[str, list[str | None]] = field(default_factory=dict)
    oof_critical: npt.NDArray[np.float64] | None = None


def to_input(record: Record) -> TriageInput:
    return TriageInput(subject=record.subject or "", body=record.body, channel=record.channel)


def _label(record: Record, head: str) -> str | None:
    if head == "severity":
        return record.severity
    if head == "category":
        return record.category
    return record.env


def class_weights(y: Sequence[str], head: str, config: TrainConfig) -> dict[str, float]:
    """Balanced weights (n / (k * n_c)); critical multiplied by ``critical_boost`` on severity."""
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    weights = {str(c): float(len(y) / (len(labels) * n)) for c, n in zip(labels, counts, strict=True)}
    if head == "severity" and "critical" in weights:
        weights["critical"] *= config.critical_boost
    return weights


def _estimator(head: str, y: Sequence[str], config: TrainConfig) -> Any:
    """The calibrated head for labels ``y``; it is fitted on their indices in sorted(set(y)).

    CalibratedClassifierCV hands its inner estimator label-encoded targets, so
    class weights keyed by label strings would not reach it; with targets
    already encoded 0..k-1 in sorted order the encoding is the identity.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    smallest = int(np.unique(np.asarray(y), return_counts=True)[1].min())
    if smallest < 2:
        raise ValueError(f"{head}: every class needs at least 2 labelled rows to calibrate")
    cv = StratifiedKFold(min(config.folds, smallest), shuffle=True, random_state=config.seed)
    classes = sorted(set(y))
    weights = class_weights(y, head, config)
    base = LinearSVC(C=config.C, class_weight={i: weights[c] for i, c in enumerate(classes)})
    return CalibratedClassifierCV(base, method=config.calibration, cv=cv, ensemble=False)


def _compact(head: Any) -> Any:
    """Store the linear weights as float32: half the model file; probabilities move by < 1e-6."""
    for calibrated in head.calibrated_classifiers_:
        calibrated.estimator.coef_ = calibrated.estimator.coef_.astype(np.float32)
    return head


def encode(y: Sequence[str]) -> tuple[list[str], npt.NDArray[np.int64]]:
    classes = sorted(set(y))
    index = {c: i for i, c in enumerate(classes)}
    return classes, np.asarray([index[v] for v in y], dtype=np.int64)


def choose_critical_threshold(
    y: Sequence[str], proba: npt.NDArray[np.float64], classes: Sequence[str], labels: Sequence[str]
) -> tuple[float | None, list[dict[str, float]]]:
    """The threshold on P(critical) with (near-)maximal critical F2 over THRESHOLD_GRID.

    Returns it with the whole curve (threshold, critical recall and precision, macro-F1) for the report.
    """
    if "critical" not in classes:
        return None, []
    crit = list(classes).index("critical")
    curve: list[dict[str, float]] = []
    for t in THRESHOLD_GRID:
        chosen = np.where(proba[:, crit] >= t, crit, np.argmax(proba, axis=1))
        rep = head_report(y, [classes[i] for i in chosen], labels)
        recall, precision = rep["critical_recall"], rep["critical_precision"]
        f2 = 5 * precision * recall / max(4 * precision + recall, 1e-12)
        curve.append(
            {
                "threshold": t,
                "critical_recall": recall,
                "critical_precision": precision,
                "macro_f1": rep["macro_f1"],
                "f2": round(f2, 4),
            }
        )
    # F2 is flat near its peak; of the thresholds within F2_TOLERANCE of it, take the highest,
    # which keeps the recall and gives back precision on "high".
    top = max(point["f2"] for point in curve)
    best = max(point["threshold"] for point in curve if point["f2"] >= top - F2_TOLERANCE)
    return float(best), curve


def choose_possible_critical_threshold(
    y: Sequence[str], p_critical: npt.NDArray[np.float64], chosen: Sequence[str]
) -> tuple[float | None, dict[str, float]]:
    """The highest threshold on P(critical) that still catches POSSIBLE_CRITICAL_RECALL of criticals.

    Chosen on out-of-fold probabilities; returned with what it costs: the share of
    non-critical messages at or above it, and of those not already labelled critical.
    """
    truth = np.asarray(y)
    crit = np.sort(p_critical[truth == "critical"])
    if len(crit) == 0:
        return None, {}
    allowed_misses = int(np.floor((1.0 - POSSIBLE_CRITICAL_RECALL) * len(crit)))
    threshold = float(crit[allowed_misses])
    above = p_critical >= threshold
    others = truth != "critical"
    labelled = np.asarray(chosen) == "critical"
    stats = {
        "threshold": round(threshold, 6),
        "critical_caught": round(float(above[~others].mean()), 4),
        "critical_caught_or_labelled": round(float((above | labelled)[~others].mean()), 4),
        "others_above": round(float(above[others].mean()), 4),
        "others_flagged": round(float((above & ~labelled)[others].mean()), 4),
        "others_flagged_or_labelled_critical": round(float((above | labelled)[others].mean()), 4),
    }
    return threshold, stats


def cv_splits(
    records: Sequence[Record], y: Sequence[str], config: TrainConfig
) -> tuple[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]]:
    """(scheme actually used, [(train rows, test rows)]) for ``config.cv``.

    ``grouped`` needs at least three groups (else: random, and the scheme says so);
    ``time`` needs a ``when`` on every record (else: grouped or random).
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    from classifiers.seed_corpus import group_of

    n = len(records)
    index = np.arange(n)
    scheme = config.cv
    if scheme == "time" and not all(r.when for r in records):
        scheme = "grouped"
    if scheme == "time":
        order = np.argsort(np.asarray([r.when for r in records]), kind="stable")
        chunks = np.array_split(order, config.folds + 1)
        return "time", [(np.concatenate(chunks[: k + 1]), chunks[k + 1]) for k in range(config.folds)]
    groups = [group_of(r) for r in records]
    if scheme == "grouped" and len(set(groups)) >= 3:
        folds = GroupKFold(min(config.folds, len(set(groups))))
        return "grouped", [(a, b) for a, b in folds.split(index, y, groups)]
    smallest = int(np.unique(np.asarray(y), return_counts=True)[1].min())
    outer = StratifiedKFold(min(config.folds, smallest), shuffle=True, random_state=config.seed + 1)
    return "random", [(a, b) for a, b in outer.split(index, y)]


def _fit_fold(
    head: str, y: Sequence[str], x: Any, y_int: Any, w: Any, train: Any, test: Any, config: TrainConfig
) -> Any:
    labels = [y[i] for i in train.tolist()]
    if len(set(labels)) < len(set(y)):
        return None  # a fold without some class cannot produce comparable probabilities
    try:
        clf = _estimator(head, labels, config).fit(x[train], y_int[train], sample_weight=w[train])
    except ValueError:
        return None
    return clf.predict_proba(x[test])


def out_of_fold(
    head: str,
    y: Sequence[str],
    x: Any,
    w: npt.NDArray[np.float64],
    splits: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]],
    config: TrainConfig,
) -> npt.NDArray[np.float64]:
    """Out-of-fold probabilities (columns: sorted classes); NaN rows were never tested."""
    from joblib import Parallel, delayed

    classes, y_int = encode(y)
    proba = np.full((len(y), len(classes)), np.nan)
    results = Parallel(n_jobs=config.n_jobs)(
        delayed(_fit_fold)(head, y, x, y_int, w, train, test, config) for train, test in splits
    )
    for (_train, test), fold in zip(splits, results, strict=True):
        if fold is not None:
            proba[test] = fold
    return proba


def fit_model(
    records: Sequence[Record],
    weights: Sequence[float] | None = None,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Fit featurizer and heads on ``records`` (weights per record, default 1); see module doc."""
    config = config or TrainConfig()
    note = progress or (lambda _step: None)
    started = time.perf_counter()
    w_all = np.ones(len(records)) if weights is None else np.asarray(weights, dtype=np.float64)
    items = [to_input(r) for r in records]
    note("features")
    featurizer = Featurizer.fit(
        items,
        use_char=config.use_char,
        signal_weight=config.signal_weight,
        lexicons=config.lexicons,
        lexicon_weight=config.lexicon_weight,
    )
    matrix = featurizer.transform(items)
    heads: dict[str, Any] = {}
    cv_metrics: dict[str, Any] = {}
    threshold: float | None = None
    possible: float | None = None
    weights_used: dict[str, dict[str, float]] = {}
    labels_used: dict[str, list[str]] = {}
    oof: dict[str, list[str | None]] = {}
    oof_critical: npt.NDArray[np.float64] | None = None
    scheme_used = "none"
    for head, labels in LABELS.items():
        rows = [n for n, r in enumerate(records) if _label(r, head) is not None]
        y = [str(_label(records[n], head)) for n in rows]
        if len(set(y)) < 2:
            if head == "environment":
                continue  # no environment labels: the rule in features.environment_from_signals is used
            raise ValueError(f"{head}: need at least two labelled classes, got {sorted(set(y))}")
        x, w = matrix[rows], w_all[rows]
        classes, y_int = encode(y)
        present = [c for c in labels if c in classes]
        labels_used[head] = classes
        weights_used[head] = class_weights(y, head, config)
        if config.cross_validate:
            scheme_used, splits = cv_splits([records[n] for n in rows], y, config)
            note(f"{head}: {scheme_used} cross-validation ({len(splits)} folds)")
            proba_all = out_of_fold(head, y, x, w, splits, config)
            tested = np.asarray(~np.isnan(proba_all).any(axis=1), dtype=bool)
            proba = proba_all[tested]
            y_tested = [v for v, t in zip(y, tested.tolist(), strict=True) if t]
            argmax = [classes[i] for i in np.argmax(proba, axis=1)]
            report = head_report(y_tested, argmax, present)
            chosen = np.argmax(proba, axis=1)
            if head == "severity":
                threshold, curve = choose_critical_threshold(y_tested, proba, classes, present)
                if threshold is not None:
                    crit = classes.index("critical")
                    chosen = np.where(proba[:, crit] >= threshold, crit, chosen)
                decided = [classes[i] for i in chosen]
                biased = head_report(y_tested, decided, present)
                biased["argmax"] = {
                    "macro_f1": report["macro_f1"],
                    "critical_recall": report.get("critical_recall"),
                    "critical_precision": report.get("critical_precision"),
                }
                biased["critical_threshold"] = threshold
                biased["threshold_curve"] = curve
                if "critical" in classes:
                    p_crit = proba[:, classes.index("critical")]
                    possible, biased["possible_critical"] = choose_possible_critical_threshold(
                        y_tested, p_crit, decided
                    )
                    oof_critical = np.full(len(records), np.nan)
                    oof_critical[np.asarray(rows)[tested]] = p_crit
                report = biased
            report["rows_tested"] = int(tested.sum())
            column: list[str | None] = [None] * len(records)
            for n, c in zip(np.asarray(rows)[tested].tolist(), chosen.tolist(), strict=True):
                column[n] = classes[c]
            oof[head] = column
            cv_metrics[head] = report
        note(f"{head}: fit")
        heads[head] = _compact(_estimator(head, y, config).fit(x, y_int, sample_weight=w))
    sha = data_sha256(records, list(w_all))
    from classifiers.seed_corpus import group_of

    metrics: dict[str, Any] = {
        "n_records": len(records),
        "data_sha256": sha,
        "cv_folds": config.folds if config.cross_validate else 0,
        "cv_scheme": scheme_used,
        "groups": dict(sorted(_count(group_of(r) for r in records).items())),
        "cv": cv_metrics,
        "critical_threshold": threshold,
        "possible_critical_threshold": possible,
        "class_weight": weights_used,
        "params": asdict(config),
        "features": {
            "word": len(featurizer.word.terms),
            "char": len(featurizer.char.terms) if featurizer.char else 0,
            "signals": len(featurizer.signal_names),
        },
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    meta = {
        "version": f"tfidf-svc-{sha[:12]}",
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data_sha256": sha,
        "metrics": metrics,
        "environment": _versions(),
    }
    model = TriageModel(featurizer, heads, labels_used, threshold, meta, possible)
    return TrainResult(model, metrics, oof, oof_critical)


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def _versions() -> dict[str, str]:
    import sklearn
    import skops

    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
    }


def train(
    data_file: Path | None = None,
    reviews: Sequence[Record] = (),
    *,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    mapping: ColumnMap | None = None,
) -> TrainResult:
    """Train on ``data_file`` (JSONL, CSV, seed .txt or directory) or, when None, the seed corpus.

    ``mapping`` translates another helpdesk's columns and labels. A head the file
    has no labels for (a history with categories but no severities) is learnt
    from the seed corpus, whose rows then count for that head only.
    ``reviews`` are manager corrections; each weighs ``config.review_weight`` (3) seed rows.
    """
    from dataclasses import replace

    from classifiers.dataset import NO_MAPPING, read_labelled

    config = config or TrainConfig()
    (progress or (lambda _s: None))("load data")
    records = load_seed() if data_file is None else read_labelled(data_file, mapping or NO_MAPPING)
    from_seed: list[str] = []
    if data_file is not None:
        missing = [h for h in ("severity", "category") if not any(_label(r, h) for r in records)]
        if len(missing) == 2:
            raise ValueError("no row has a severity or a category label (map them with --map/--label)")
        if missing:
            from_seed = missing
            blank = {h: None for h in ("severity", "category") if h not in missing}
            blank["env"] = None  # the seed's environment labels would be the only ones: leave them out
            records = [*records, *(replace(r, **blank) for r in load_seed())]  # type: ignore[arg-type]
    all_records = [*records, *reviews]
    weights = [1.0] * len(records) + [config.review_weight] * len(reviews)
    result = fit_model(all_records, weights, config, progress)
    result.metrics["n_reviews"] = len(reviews)
    result.metrics["data"] = "seed corpus" if data_file is None else str(data_file)
    result.metrics["heads_from_seed"] = from_seed
    return result


def _summary(metrics: dict[str, Any]) -> list[str]:
    lines = [f"records: {metrics['n_records']} (reviews: {metrics.get('n_reviews', 0)})"]
    cv = metrics.get("cv", {})
    if "severity" in cv:
        sev = cv["severity"]
        lines.append(
            f"severity CV macro-F1 {sev['macro_f1']:.3f}, critical recall {sev['critical_recall']:.3f}"
            f" (argmax alone: {sev['argmax']['macro_f1']:.3f} / {sev['argmax']['critical_recall']:.3f};"
            f" critical threshold {sev['critical_threshold']})"
        )
    for head in ("category", "environment"):
        if head in cv:
            lines.append(f"{head} CV macro-F1 {cv[head]['macro_f1']:.3f}")
    lines.append(f"trained in {metrics['train_seconds']} s")
    return lines


def install(model: TriageModel, directory: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Make ``model`` the one in ``directory`` (the replaced one is kept in versions/), behind the gate.

    Writes the new model's files in place rather than as a kept version first, so the
    shipped directory holds each model once. Raises PromotionRefused as ``promote`` does.
    """
    from classifiers.store import (
        PromotionRefused,
        archive_serving,
        gate_figure,
        read_meta,
        record_promotion,
        save_model,
    )

    current = read_meta(directory)
    new, old = gate_figure(model.meta), gate_figure(current) if current else None
    if not force and old is not None and (new is None or new < old):
        raise PromotionRefused(
            f"{model.version}: grouped-CV critical recall {new} is lower than the current model's {old:.3f}"
        )
    archive_serving(directory)
    paths = save_model(model, directory)
    record_promotion(directory, model.version, current.get("version") if current else None, "train", new)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m classifiers.train``: rebuild the model (default: the shipped one) with progress."""
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from classifiers.dataset import read_labelled
    from classifiers.store import MODEL_DIR

    parser = argparse.ArgumentParser(prog="python -m classifiers.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="labelled JSONL/CSV/seed file (default: the seed corpus)")
    parser.add_argument("--reviews", type=Path, help="manager corrections (JSONL/CSV), weighted x3")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help=f"model directory (default: {MODEL_DIR})")
    parser.add_argument(
        "--no-cv", action="store_true", help="skip cross-validation (no metrics, no critical threshold)"
    )
    parser.add_argument(
        "--force", action="store_true", help="replace the model in --out even if its critical recall is lower"
    )
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    reviews = read_labelled(args.reviews) if args.reviews else []
    steps = 2 + len(LABELS) * (1 if args.no_cv else 2)
    with RichProgress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
    ) as bar:
        task = bar.add_task("training", total=steps + 1)

        def step(name: str) -> None:
            bar.update(task, description=name, advance=1)

        result = train(args.data, reviews, config=TrainConfig(cross_validate=not args.no_cv), progress=step)
        step("save")
        paths = install(result.model, args.out, force=args.force)
    for line in _summary(result.metrics):
        console.print(line)
    console.print(
        f"saved {result.model.version} -> {paths[0]} ({paths[0].stat().st_size / 1e6:.1f} MB), {paths[1]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
