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
import time
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
        "possible_critical_threshold": -1.0
        if model.possible_critical_threshold is None
        else float(model.possible_critical_threshold),
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
        "possible_critical_threshold": model.possible_critical_threshold,
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
        heads = {}
        for head in header["heads"]:
            prefix = f"head.{head}."
            arrays = {k.removeprefix(prefix): data[k] for k in data.files if k.startswith(prefix)}
            heads[head] = LinearSigmoidHead.from_arrays(arrays)
    return TriageModel(
        Featurizer.from_state(state),
        heads,
        header["labels"],
        header["critical_threshold"],
        meta,
        header.get("possible_critical_threshold"),
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
    possible = float(state.get("possible_critical_threshold", -1.0))
    return TriageModel(
        Featurizer.from_state(state["featurizer"]),
        state["heads"],
        state["labels"],
        None if threshold < 0 else threshold,
        meta,
        None if possible < 0 else possible,
    )


# --- versions ------------------------------------------------------------------------------------
#
# ``<model_dir>/triage.*`` is the serving model (what load_model reads). Every trained model is also
# kept in ``<model_dir>/versions/<version>/``, and ``versions/history.json`` lists the promotions,
# so `intake model promote VERSION` and `intake model rollback` swap files, never retrain.

VERSIONS_DIR = "versions"
HISTORY_FILE = "history.json"
MODEL_FILES = (MODEL_FILE, SERVING_FILE, SIDECAR_FILE)


class PromotionRefused(RuntimeError):
    """A candidate model would lower what the serving one guarantees (see gate)."""


def gate_figure(meta: dict[str, Any]) -> float | None:
    """The figure promotion protects: grouped-CV critical recall of the decided label, or None."""
    metrics = meta.get("metrics", {})
    if not isinstance(metrics, dict) or metrics.get("cv_scheme") != "grouped":
        return None
    recall = metrics.get("cv", {}).get("severity", {}).get("critical_recall")
    return float(recall) if isinstance(recall, int | float) else None


def read_meta(directory: Path) -> dict[str, Any] | None:
    side = directory / SIDECAR_FILE
    if not side.is_file():
        return None
    meta = json.loads(side.read_text(encoding="utf-8"))
    return meta if isinstance(meta, dict) else None


def serving_version(model_dir: Path) -> str | None:
    meta = read_meta(model_dir)
    return str(meta.get("version")) if meta else None


def save_version(model: TriageModel, model_dir: Path) -> Path:
    """Keep ``model`` as ``versions/<version>/`` (not serving); returns that directory."""
    target = model_dir / VERSIONS_DIR / model.version
    save_model(model, target)
    return target


def archive_serving(model_dir: Path) -> None:
    version = serving_version(model_dir)
    if version is None:
        return
    target = model_dir / VERSIONS_DIR / version
    if (target / SIDECAR_FILE).is_file():
        return
    target.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        if (model_dir / name).is_file():
            (target / name).write_bytes((model_dir / name).read_bytes())


def _history(model_dir: Path) -> list[dict[str, Any]]:
    path = model_dir / VERSIONS_DIR / HISTORY_FILE
    if not path.is_file():
        return []
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _source(model_dir: Path, version: str) -> Path | None:
    """Where ``version``'s files are kept: this registry's versions/, else the shipped model's."""
    if not version or "/" in version or "\\" in version or version.startswith("."):
        return None
    places = [model_dir / VERSIONS_DIR / version, MODEL_DIR / VERSIONS_DIR / version, MODEL_DIR]
    return next((p for p in places if (read_meta(p) or {}).get("version") == version), None)


def current_version(model_dir: Path) -> str | None:
    """The version being served: the registry's, else the shipped model's (None: no model at all)."""
    return serving_version(model_dir) or serving_version(MODEL_DIR)


def refusal(model_dir: Path, version: str) -> str | None:
    """Why the gate refuses to serve ``version`` (see promote); None when it may be served."""
    source = _source(model_dir, version)
    if source is None:
        return f"no model version {version!r}"
    current = read_meta(model_dir) or read_meta(MODEL_DIR)
    new, old = gate_figure(read_meta(source) or {}), gate_figure(current) if current else None
    if old is not None and (new is None or new < old):
        return (
            f"{version}: grouped-CV critical recall {'unknown' if new is None else f'{new:.3f}'} is lower"
            f" than the serving model's {old:.3f}"
        )
    return None


def promote(model_dir: Path, version: str, *, force: bool = False, reason: str = "promote") -> dict[str, Any]:
    """Make ``versions/<version>`` the serving model; returns the history entry written.

    Refused (PromotionRefused) when the candidate's grouped-CV critical recall is
    lower than the serving model's, or unknown while the serving one's is known,
    unless ``force``. The serving model is archived first, so it can be rolled back to.
    This is the one registry: `intake train`, `intake model promote|rollback` and the
    web page's promote and restore all come here.
    """
    source = _source(model_dir, version)
    if source is None:
        raise FileNotFoundError(f"no model version {version!r} in {model_dir / VERSIONS_DIR} or {MODEL_DIR}")
    read_model(source, serving=False)  # refuses files that do not belong together before anything moves
    refused = refusal(model_dir, version)
    if refused is not None and not force:
        raise PromotionRefused(f"{refused}; use --force to promote it anyway")
    current = read_meta(model_dir) or read_meta(MODEL_DIR)
    archive_serving(model_dir)
    # the sidecar last (MODEL_FILES ends with it): a reader never sees a sidecar naming files not in place
    for name in MODEL_FILES:
        if (source / name).is_file():
            tmp = model_dir / (name + ".tmp")
            tmp.write_bytes((source / name).read_bytes())
            tmp.replace(model_dir / name)
        elif (model_dir / name).is_file():
            (model_dir / name).unlink()
    previous = current.get("version") if current else None
    new = gate_figure(read_meta(source) or {})
    return record_promotion(model_dir, version, previous, reason + (" (forced)" if refused else ""), new)


def discard(model_dir: Path, version: str) -> bool:
    """Delete a kept version that never served (a refused candidate); False when it is kept.

    A version that is serving, or that a promotion names (it served, so rollback may need
    it), stays; so does anything outside this registry's versions/.
    """
    target = model_dir / VERSIONS_DIR / version
    if _source(model_dir, version) != target or current_version(model_dir) == version:
        return False
    if any(version in (e.get("version"), e.get("previous")) for e in _history(model_dir)):
        return False
    for name in MODEL_FILES:
        (target / name).unlink(missing_ok=True)
    try:
        target.rmdir()
    except OSError:
        return False
    return True


def record_promotion(
    model_dir: Path, version: str, previous: str | None, reason: str, critical_recall: float | None
) -> dict[str, Any]:
    """Append to versions/history.json (what rollback reads); returns the entry."""
    entry = {
        "version": version,
        "previous": previous,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reason": reason,
        "critical_recall": critical_recall,
    }
    history = [*_history(model_dir), entry]
    path = model_dir / VERSIONS_DIR / HISTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    return entry


def rollback(model_dir: Path) -> dict[str, Any]:
    """Serve again the model that the last promotion replaced (no gate: it served before)."""
    history = _history(model_dir)
    current = current_version(model_dir)
    for entry in reversed(history):
        if (
            entry.get("version") == current
            and entry.get("previous")
            and not str(entry.get("reason")).startswith("rollback")
        ):
            return promote(model_dir, str(entry["previous"]), force=True, reason=f"rollback from {current}")
    raise FileNotFoundError(f"nothing to roll back to: no promotion of {current} is recorded")


def list_versions(model_dir: Path) -> list[dict[str, Any]]:
    """Every kept version with its CV figures, the serving one marked; newest training first."""
    serving = current_version(model_dir)
    found: dict[str, dict[str, Any]] = {}
    dirs = [model_dir, *sorted((model_dir / VERSIONS_DIR).glob("*/"))]
    dirs += [MODEL_DIR, *sorted((MODEL_DIR / VERSIONS_DIR).glob("*/"))]
    for directory in dirs:
        meta = read_meta(directory)
        if meta is None or str(meta.get("version")) in found:
            continue
        metrics = meta.get("metrics", {})
        cv = metrics.get("cv", {})
        sev = cv.get("severity", {})
        found[str(meta["version"])] = {
            "version": str(meta["version"]),
            "serving": str(meta["version"]) == serving,
            "cv_scheme": metrics.get("cv_scheme", "random"),
            "n_records": metrics.get("n_records"),
            "data": metrics.get("data", "seed corpus"),
            "severity_macro_f1": sev.get("macro_f1"),
            "critical_recall": sev.get("critical_recall"),
            "category_macro_f1": cv.get("category", {}).get("macro_f1"),
            "possible_critical": sev.get("possible_critical"),
            "trained_at": meta.get("trained_at"),
            "where": str(directory),
        }
    return sorted(
        found.values(), key=lambda v: (not v["serving"], str(v.get("trained_at") or "")), reverse=False
    )
