"""Evaluation: score a model on a labelled file and render the report.

``evaluate(file)`` reads JSON Lines or CSV with ``subject``, ``body``,
``severity`` and ``category`` (either label may be missing or empty on a row;
each head is scored on the rows that have its label) and returns a JSON-able
dict::

    {"file", "model_version", "rows",
     "severity": {"n", "macro_f1", "accuracy", "per_class": {label: {"precision", "recall", "f1", "support"}},
                  "confusion": {"labels": [...], "matrix": [[...]]},  # rows: truth, columns: prediction
                  "critical_recall", "critical_precision"},
     "category": {same keys, without the critical ones},
     "possible_critical": {"threshold", "critical_caught", "others_flagged", ...} | null,
     "messages": [{"id", "severity", "category", "environment", "language", "possible_critical",
                   "probabilities": {"severity": {...}, "category": {...}},
                   "truth": {"severity", "category"}}]}

Severity is scored on the model's decision (critical threshold applied), not
on its argmax. ``render_report`` turns that dict into text for a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from classifiers.seed_corpus import CATEGORIES, SEVERITIES, Record

if TYPE_CHECKING:
    from classifiers.model import TriageModel


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def head_report(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Macro-F1, accuracy, per-class precision/recall/F1 and the confusion matrix over ``labels``.

    Macro-F1 averages over the labels that occur in the truth or the predictions,
    as scikit-learn does for labels present in either.
    """
    if len(y_true) != len(y_pred):
        raise ValueError("y_true and y_pred differ in length")
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for truth, pred in zip(y_true, y_pred, strict=True):
        matrix[index[truth]][index[pred]] += 1
    per_class: dict[str, dict[str, float | int]] = {}
    f1s: list[float] = []
    for i, label in enumerate(labels):
        tp = matrix[i][i]
        predicted = sum(row[i] for row in matrix)
        support = sum(matrix[i])
        precision, recall = _ratio(tp, predicted), _ratio(tp, support)
        f1 = _ratio(2 * precision * recall, precision + recall)
        per_class[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
        }
        if support or predicted:
            f1s.append(f1)
    n = len(y_true)
    report: dict[str, Any] = {
        "n": n,
        "macro_f1": round(_ratio(sum(f1s), len(f1s)), 4),
        "accuracy": round(_ratio(sum(matrix[i][i] for i in range(len(labels))), n), 4),
        "per_class": per_class,
        "confusion": {"labels": list(labels), "matrix": matrix},
    }
    if "critical" in index:
        report["critical_recall"] = per_class["critical"]["recall"]
        report["critical_precision"] = per_class["critical"]["precision"]
    return report


def score(model: TriageModel, records: Sequence[Record]) -> dict[str, Any]:
    """Per-head reports for ``records`` (each head on the rows labelled for it)."""
    from classifiers.train import to_input

    preds = model.predict([to_input(r) for r in records]) if records else []
    out: dict[str, Any] = {"model_version": model.version, "rows": len(records)}
    sev = [(r.severity, p.severity) for r, p in zip(records, preds, strict=True) if r.severity]
    cat = [(r.category, p.category) for r, p in zip(records, preds, strict=True) if r.category]
    out["severity"] = head_report([t for t, _ in sev], [p for _, p in sev], SEVERITIES)
    out["category"] = head_report([t for t, _ in cat], [p for _, p in cat], CATEGORIES)
    out["possible_critical"] = _possible_report(model, records, preds)
    out["messages"] = [
        {
            "id": r.id or r.source,
            "severity": p.severity,
            "category": p.category,
            "environment": p.environment,
            "language": p.language,
            "possible_critical": p.possible_critical,
            "probabilities": {
                "severity": {k: round(v, 4) for k, v in p.severity_proba.items()},
                "category": {k: round(v, 4) for k, v in p.category_proba.items()},
            },
            "reasons": p.reasons,
            "truth": {"severity": r.severity, "category": r.category},
        }
        for r, p in zip(records, preds, strict=True)
    ]
    return out


def _possible_report(
    model: TriageModel, records: Sequence[Record], preds: Sequence[Any]
) -> dict[str, Any] | None:
    """What the recall-first flag caught on labelled rows: criticals labelled or flagged, others flagged."""
    threshold = model.possible_critical_threshold
    rows = [(r.severity, p) for r, p in zip(records, preds, strict=True) if r.severity]
    crit = [p for s, p in rows if s == "critical"]
    others = [p for s, p in rows if s != "critical"]
    if threshold is None or not rows:
        return None
    return {
        "threshold": threshold,
        "criticals": len(crit),
        "critical_caught": round(
            _ratio(sum(p.possible_critical or p.severity == "critical" for p in crit), len(crit)), 4
        ),
        "others": len(others),
        "others_flagged": round(_ratio(sum(p.possible_critical for p in others), len(others)), 4),
    }


def evaluate(file: Path, model: TriageModel | None = None) -> dict[str, Any]:
    """Score ``model`` (default: the shipped one) on a labelled JSONL or CSV file."""
    from classifiers.dataset import read_labelled
    from classifiers.model import load_model

    records = read_labelled(file)
    report = score(model or load_model(), records)
    return {"file": str(file), **report}


def render_report(report: dict[str, Any]) -> str:
    """The evaluate() dict as aligned text: summary, per-class table and confusion matrix per head."""
    lines = [
        f"{report.get('file', '')}  model {report.get('model_version', '?')}  rows {report.get('rows', '?')}"
    ]
    for head in ("severity", "category"):
        rep = report.get(head)
        if not rep:
            continue
        summary = f"{head}: n={rep['n']}  macro-F1 {rep['macro_f1']:.3f}  accuracy {rep['accuracy']:.3f}"
        if head == "severity" and report.get("possible_critical"):
            pc = report["possible_critical"]
            summary += (
                f"\n  possible_critical (P(critical) >= {pc['threshold']:.4f}): criticals labelled or"
                f" flagged {pc['critical_caught']:.3f} of {pc['criticals']}, others flagged"
                f" {pc['others_flagged']:.3f} of {pc['others']}"
            )
        if "critical_recall" in rep:
            summary += f"  critical recall {rep['critical_recall']:.3f}"
        lines += ["", summary, f"  {'class':<14}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
        for label, row in rep["per_class"].items():
            lines.append(
                f"  {label:<14}{row['precision']:>10.3f}{row['recall']:>8.3f}"
                f"{row['f1']:>8.3f}{row['support']:>9}"
            )
        labels = rep["confusion"]["labels"]
        width = max(8, *(len(label) + 1 for label in labels))
        lines.append("  confusion (rows: truth, columns: predicted)")
        lines.append("  " + " " * 14 + "".join(f"{label[: width - 1]:>{width}}" for label in labels))
        for label, row in zip(labels, rep["confusion"]["matrix"], strict=True):
            lines.append(f"  {label:<14}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)
