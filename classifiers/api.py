"""Plain functions behind ``intake classify``, ``intake train`` and ``intake eval``.

They return data (JSON-able dicts, or the model and its metrics) and print
nothing; the CLI formats. ``train`` does not save: call
``classifiers.store.save_model(result.model)`` to replace the shipped model,
then ``classifiers.model.clear_model_cache()`` in a long-lived process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from classifiers.evaluate import evaluate, render_report
from classifiers.model import TriageModel, load_model, text_input
from classifiers.train import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "classify", "evaluate", "render_report", "train"]

DEFAULT_REVIEW_THRESHOLD = 0.6  # settings: [classifier] review_threshold


def classify(
    texts: Sequence[str],
    *,
    channel: str = "email",
    review_threshold: float = DEFAULT_REVIEW_THRESHOLD,
    model: TriageModel | None = None,
    model_dir: Path | None = None,
) -> list[dict[str, Any]]:
    """One dict per text: Prediction's fields plus ``needs_review`` and ``model_version``.

    A first line ``Subject: ...`` is taken as the subject.
    """
    triage = model or load_model(model_dir)
    out: list[dict[str, Any]] = []
    for pred in triage.predict([text_input(t, channel) for t in texts]):
        row = pred.to_dict()
        row["needs_review"] = triage.needs_review(pred, review_threshold) or pred.possible_critical
        row["possible_critical_threshold"] = triage.possible_critical_threshold
        row["model_version"] = triage.version
        out.append(row)
    return out
