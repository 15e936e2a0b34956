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
THRESHOLD_GRID: tuple[float, ...] = tuple(round(0.10 + 0.025 * i, 3) for i in range(17))

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Hyper-parameters; the defaults were chosen on 5-fold CV of the seed corpus (see bench/)."""

    C: float = 0.5
    signal_weight: float = 0.1
    use_char: bool = True
    calibration: str = "sigmoid"
    critical_boost: float = 2.0
    folds: int = 5
    cross_validate: bool = True  # out-of-fold metrics and the critical threshold; off = quicker, no threshold
    seed: int = 0
    n_jobs: int = 2
    review_weight: float = REVIEW_WEIGHT


@dataclass(slots=True)
class TrainResult:
    model: TriageModel
    metrics: dict[str, Any] = field(default_factory=dict)


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


def fit_model(
    records: Sequence[Record],
    weights: Sequence[float] | None = None,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Fit featurizer and heads on ``records`` (weights per record, default 1); see module doc."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    config = config or TrainConfig()
    note = progress or (lambda _step: None)
    started = time.perf_counter()
    w_all = np.ones(len(records)) if weights is None else np.asarray(weights, dtype=np.float64)
    items = [to_input(r) for r in records]
    note("features")
    featurizer = Featurizer.fit(items, use_char=config.use_char, signal_weight=config.signal_weight)
    matrix = featurizer.transform(items)
    heads: dict[str, Any] = {}
    cv_metrics: dict[str, Any] = {}
    threshold: float | None = None
    weights_used: dict[str, dict[str, float]] = {}
    labels_used: dict[str, list[str]] = {}
    for head, labels in LABELS.items():
        rows = [n for n, r in enumerate(records) if _label(r, head) is not None]
        y = [str(_label(records[n], head)) for n in rows]
        if len(set(y)) < 2:
            if head == "environment":
                continue  # no environment labels: the rule in features.environment_from_signals is used
            raise ValueError(f"{head}: need at least two labelled classes, got {sorted(set(y))}")
        x, w = matrix[rows], w_all[rows]
        classes, y_int = encode(y)
        labels_used[head] = classes
        weights_used[head] = class_weights(y, head, config)
        if config.cross_validate:
            note(f"{head}: cross-validation")
            smallest = int(np.unique(np.asarray(y), return_counts=True)[1].min())
            outer = StratifiedKFold(min(config.folds, smallest), shuffle=True, random_state=config.seed + 1)
            proba = cross_val_predict(
                _estimator(head, y, config),
                x,
                y_int,
                cv=outer,
                method="predict_proba",
                params={"sample_weight": w},
                n_jobs=config.n_jobs,
            )
            argmax = [classes[i] for i in np.argmax(proba, axis=1)]
            report = head_report(y, argmax, [c for c in labels if c in classes])
            if head == "severity":
                present = [c for c in labels if c in classes]
                threshold, curve = choose_critical_threshold(y, proba, classes, present)
                chosen = np.argmax(proba, axis=1)
                if threshold is not None:
                    crit = classes.index("critical")
                    chosen = np.where(proba[:, crit] >= threshold, crit, chosen)
                biased = head_report(y, [classes[i] for i in chosen], [c for c in labels if c in classes])
                biased["argmax"] = {
                    "macro_f1": report["macro_f1"],
                    "critical_recall": report.get("critical_recall"),
                    "critical_precision": report.get("critical_precision"),
                }
                biased["critical_threshold"] = threshold
                biased["threshold_curve"] = curve
                report = biased
            cv_metrics[head] = report
        note(f"{head}: fit")
        heads[head] = _compact(_estimator(head, y, config).fit(x, y_int, sample_weight=w))
    sha = data_sha256(records, list(w_all))
    metrics: dict[str, Any] = {
        "n_records": len(records),
        "data_sha256": sha,
        "cv_folds": config.folds if config.cross_validate else 0,
        "cv": cv_metrics,
        "critical_threshold": threshold,
        "class_weight": weights_used,
        "params": asdict(config),
        "features": {
            "word": len(featurizer.word.terms),
            "char": len(featurizer.char.terms) if featurizer.char else 0,
        },
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    meta = {
        "version": f"tfidf-svc-{sha[:12]}",
        "data_sha256": sha,
        "metrics": metrics,
        "environment": _versions(),
    }
    return TrainResult(TriageModel(featurizer, heads, labels_used, threshold, meta), metrics)


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
) -> TrainResult:
    """Train on ``data_file`` (JSONL, CSV, seed .txt or directory) or, when None, the seed corpus.

    ``reviews`` are manager corrections; each weighs ``config.review_weight`` (3) seed rows.
    """
    from classifiers.dataset import read_labelled

    config = config or TrainConfig()
    (progress or (lambda _s: None))("load data")
    records = load_seed() if data_file is None else read_labelled(data_file)
    all_records = [*records, *reviews]
    weights = [1.0] * len(records) + [config.review_weight] * len(reviews)
    result = fit_model(all_records, weights, config, progress)
    result.metrics["n_reviews"] = len(reviews)
    result.metrics["data"] = "seed corpus" if data_file is None else str(data_file)
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m classifiers.train``: rebuild the model (default: the shipped one) with progress."""
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from classifiers.dataset import read_labelled
    from classifiers.store import MODEL_DIR, save_model

    parser = argparse.ArgumentParser(prog="python -m classifiers.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="labelled JSONL/CSV/seed file (default: the seed corpus)")
    parser.add_argument("--reviews", type=Path, help="manager corrections (JSONL/CSV), weighted x3")
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help=f"model directory (default: {MODEL_DIR})")
    parser.add_argument(
        "--no-cv", action="store_true", help="skip cross-validation (no metrics, no critical threshold)"
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
        paths = save_model(result.model, args.out)
    for line in _summary(result.metrics):
        console.print(line)
    console.print(
        f"saved {result.model.version} -> {paths[0]} ({paths[0].stat().st_size / 1e6:.1f} MB), {paths[1]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
