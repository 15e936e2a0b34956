"""Persistence of the triage model: skops for the estimators, a JSON sidecar for provenance.

``triage.skops`` holds only scikit-learn estimators, numpy arrays and plain
containers, and is read with an explicit list of trusted types: nothing is
unpickled, and a file that smuggles in another type is refused
(``skops.io.load`` raises). ``triage.json`` records the version (the sha256 of
the training data), the training metrics and the sha256 of ``triage.skops``; a
sidecar that does not match its model file is an error, so metrics are never
reported for a different model than the one loaded.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

from classifiers.features import Featurizer
from classifiers.model import TriageModel

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "triage.skops"
SIDECAR_FILE = "triage.json"
FORMAT = 1

# Everything triage.skops may contain beyond skops' built-in safe types (dict, list, numpy arrays...).
TRUSTED_TYPES: list[str] = [
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.linear_model._logistic.LogisticRegression",
]


class ModelFileError(RuntimeError):
    """The model directory holds files that do not belong together or cannot be read."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_model(model: TriageModel, directory: Path = MODEL_DIR) -> tuple[Path, Path]:
    """Write triage.skops and triage.json into ``directory``; returns both paths."""
    import skops.io as sio

    directory.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "format": FORMAT,
        "featurizer": model.featurizer.to_state(),
        "heads": dict(model.heads),
        "labels": {head: list(labels) for head, labels in model.labels.items()},
        "critical_threshold": -1.0 if model.critical_threshold is None else float(model.critical_threshold),
    }
    target = directory / MODEL_FILE
    tmp = target.with_suffix(".skops.tmp")
    sio.dump(state, tmp, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
    tmp.replace(target)
    sidecar = dict(model.meta)
    sidecar["format"] = FORMAT
    sidecar["model_file"] = MODEL_FILE
    sidecar["model_sha256"] = _sha256(target)
    side = directory / SIDECAR_FILE
    side.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target, side


def read_model(directory: Path = MODEL_DIR) -> TriageModel:
    """Load the model in ``directory`` with the trusted-type list; see load_model for the cached one."""
    target, side = directory / MODEL_FILE, directory / SIDECAR_FILE
    for path in (target, side):
        if not path.is_file():
            raise FileNotFoundError(
                f"no trained triage model: {path} is missing; build one with `python -m classifiers.train`"
                " (or `intake train`)"
            )
    meta = json.loads(side.read_text(encoding="utf-8"))
    if meta.get("model_sha256") != _sha256(target):
        raise ModelFileError(f"{side} describes another model file than {target}; retrain or restore both")
    import skops.io as sio

    state = sio.load(target, trusted=TRUSTED_TYPES)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModelFileError(
            f"{target}: unsupported model format {state.get('format') if isinstance(state, dict) else '?'}"
        )
    threshold = float(state["critical_threshold"])
    return TriageModel(
        Featurizer.from_state(state["featurizer"]),
        state["heads"],
        state["labels"],
        None if threshold < 0 else threshold,
        meta,
    )
