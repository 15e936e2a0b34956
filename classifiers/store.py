"""Persistence of the triage model: skops for the estimators, a JSON sidecar for provenance.

Serving: importing scikit-learn and skops costs one to two seconds, more than a
whole batch of mail takes to ingest. So beside the skops file (the model of
record, from which training, inspection and re-export work) ``save_model`` writes
``triage.npz``: the same fitted parameters as plain arrays (vocabularies, idf
weights, the linear coefficients and Platt sigmoids of each head), read with
``numpy.load(allow_pickle=False)``, which cannot execute code. Its sha256 is in
the sidecar next to the skops file's; ``read_model`` uses it when both match and
a test checks both give the same probabilities.

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

import numpy as np

from classifiers.features import Featurizer
from classifiers.model import TriageModel

MODEL_DIR = Path(__file__).resolve().parent / "model"
MODEL_FILE = "triage.skops"
SERVING_FILE = "triage.npz"
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
    serving = write_serving(model, directory)
    if serving is not None:
        sidecar["serving_file"] = SERVING_FILE
        sidecar["serving_sha256"] = _sha256(serving)
    side = directory / SIDECAR_FILE
    side.write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target, side


def write_serving(model: TriageModel, directory: Path) -> Path | None:
    """Write triage.npz (see module doc); None when a head is not a linear sigmoid head."""
    from classifiers.model import LinearSigmoidHead

    arrays: dict[str, Any] = {}
    for key, value in model.featurizer.to_state().items():
        arrays[f"featurizer.{key}"] = np.asarray(value)
    for head in model.heads:
        fast = model._fast.get(head)
        if not isinstance(fast, LinearSigmoidHead):
            return None
        for key, value in fast.arrays().items():
            arrays[f"head.{head}.{key}"] = value
    header = {
        "format": FORMAT,
        "heads": list(model.heads),
        "labels": {head: list(labels) for head, labels in model.labels.items()},
        "critical_threshold": model.critical_threshold,
    }
    arrays["header"] = np.asarray(json.dumps(header))
    target = directory / SERVING_FILE
    tmp = directory / (SERVING_FILE + ".tmp")
    with tmp.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    tmp.replace(target)
    return target


def read_serving(path: Path, meta: dict[str, Any]) -> TriageModel:
    """The model from triage.npz alone: numpy and scipy, no scikit-learn, no skops, no pickle."""
    from classifiers.model import LinearSigmoidHead

    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
        if header.get("format") != FORMAT:
            raise ModelFileError(f"{path}: unsupported serving format {header.get('format')}")
        state = {k.removeprefix("featurizer."): data[k] for k in data.files if k.startswith("featurizer.")}
        if "signal_weight" in state:
            state["signal_weight"] = float(state["signal_weight"])
        heads = {}
        for head in header["heads"]:
            prefix = f"head.{head}."
            arrays = {k.removeprefix(prefix): data[k] for k in data.files if k.startswith(prefix)}
            heads[head] = LinearSigmoidHead.from_arrays(arrays)
    return TriageModel(
        Featurizer.from_state(state), heads, header["labels"], header["critical_threshold"], meta
    )


def read_model(directory: Path = MODEL_DIR, *, serving: bool = True) -> TriageModel:
    """Load the model in ``directory``; see load_model for the cached one.

    With ``serving`` (the default) the array file is used when the sidecar vouches
    for it; otherwise the skops file is read with the trusted-type list.
    """
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
    fast = directory / SERVING_FILE
    if serving and fast.is_file() and meta.get("serving_sha256") == _sha256(fast):
        return read_serving(fast, meta)
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
