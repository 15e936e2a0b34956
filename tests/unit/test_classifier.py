"""Triage classifier: seed loader, features, training, persistence, evaluation, shipped model.

Real models only: a small one trained here on a subset of the seed corpus
(seconds), and the shipped one in classifiers/model/.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from classifiers.api import classify
from classifiers.dataset import DataError, read_labelled
from classifiers.evaluate import evaluate, head_report, render_report
from classifiers.features import (
    Featurizer,
    TriageInput,
    canonical_severity,
    char_analyzer,
    document,
    word_analyzer,
)
from classifiers.model import Prediction, TriageModel, load_model
from classifiers.seed_corpus import CorpusError, Record, load_seed, parse_seed_text
from classifiers.store import MODEL_FILE, SIDECAR_FILE, read_model, save_model
from classifiers.train import TrainConfig, fit_model, to_input, train

HEADER = "### severity=high category=defect channel=email env=production"
OUTAGE = "Production is down, nobody in the company can log in since 8am"
HOWTO = "How do I export a report to CSV?"


def subset(records: list[Record], per_class: int) -> list[Record]:
    """The first ``per_class`` records of each (severity, category) pair: quick but covers every label."""
    seen: dict[tuple[str | None, str | None], int] = {}
    out = []
    for r in records:
        key = (r.severity, r.category)
        if seen.get(key, 0) < per_class:
            seen[key] = seen.get(key, 0) + 1
            out.append(r)
    return out


QUICK = TrainConfig(cross_validate=False, folds=3, n_jobs=1)


@pytest.fixture(scope="module")
def seed() -> list[Record]:
    return load_seed()


@pytest.fixture(scope="module")
def small(seed: list[Record]) -> TriageModel:
    return fit_model(subset(seed, 20), config=QUICK).model


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


# --- seed loader ---------------------------------------------------------------------------------


def test_parse_email_and_chat_records() -> None:
    text = (
        f"{HEADER}\nSubject: Export fails\n\nHi,\nthe export fails.\n\n"
        "### severity=low category=question channel=chat env=unknown\nhow do i export?\n"
    )
    first, second = parse_seed_text(text, "part9.txt")
    assert (first.subject, first.body, first.severity, first.category) == (
        "Export fails",
        "Hi,\nthe export fails.",
        "high",
        "defect",
    )
    assert first.source == "part9.txt:1"
    assert (second.subject, second.body, second.channel, second.env) == (
        None,
        "how do i export?",
        "chat",
        "unknown",
    )
    assert second.source == "part9.txt:7"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("### severity=urgent category=defect channel=email env=production\nbody\n", 1, "severity='urgent'"),
        ("### severity=high category=defect channel=email\nbody\n", 1, "lacks env"),
        ("### severity=high severity=low category=defect channel=email env=test\nbody\n", 1, "given twice"),
        (
            "### severity=high category=defect channel=email env=test colour=red\nbody\n",
            1,
            "unknown header key",
        ),
        ("###severity=high category=defect channel=email env=test\nbody\n", 1, "malformed header"),
        (f"{HEADER}\nbody\n\n### severity=high category=defect\nbody\n", 4, "lacks channel"),
        ("stray text\n" + HEADER + "\nbody\n", 1, "before the first"),
        (f"{HEADER}\nSubject: x\nno blank line\n", 3, "blank line"),
        (f"{HEADER}\n\n\n{HEADER}\nbody\n", 1, "no body"),
    ],
)
def test_loader_is_strict(text: str, line: int, reason: str) -> None:
    with pytest.raises(CorpusError) as info:
        parse_seed_text(text, "part7.txt")
    assert info.value.source == "part7.txt"
    assert info.value.line == line
    assert reason in str(info.value)
    assert str(info.value).startswith(f"part7.txt:{line}:")


def test_load_seed_reads_parts_in_numeric_order(tmp_path: Path) -> None:
    (tmp_path / "part10.txt").write_text(f"{HEADER}\nten\n", encoding="utf-8")
    (tmp_path / "part2.txt").write_text(f"{HEADER}\ntwo\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a part", encoding="utf-8")
    assert [r.body for r in load_seed(tmp_path)] == ["two", "ten"]
    (tmp_path / "part3.txt").write_text("### severity=high\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"part3.txt:1"):
        load_seed(tmp_path)


def test_load_seed_without_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_seed(tmp_path)


def test_seed_corpus_parses(seed: list[Record]) -> None:
    assert len(seed) > 500
    assert {r.severity for r in seed} == {"critical", "high", "medium", "low"}
    assert {r.category for r in seed} == {"question", "defect", "configuration", "account", "enhancement"}


# --- features ------------------------------------------------------------------------------------


def test_fast_vectorizer_matches_scikit_learn(seed: list[Record]) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    items = [to_input(r) for r in seed[:200]]
    featurizer = Featurizer.fit(items)
    docs = [document(i) for i in items]
    assert featurizer.char is not None
    for analyzer, block in ((word_analyzer, featurizer.word), (char_analyzer, featurizer.char)):
        reference = TfidfVectorizer(analyzer=analyzer, vocabulary=block.terms, sublinear_tf=True).fit(docs)
        np.testing.assert_allclose(
            block.transform(docs).toarray(), reference.transform(docs).toarray(), atol=1e-12
        )


@pytest.mark.parametrize(
    ("stated", "level"),
    [
        ("P1", "critical"),
        ("Severity 2", "high"),
        ("sev-3", "medium"),
        ("Urgent", "high"),
        ("low", "low"),
        ("?", None),
    ],
)
def test_canonical_severity(stated: str, level: str | None) -> None:
    assert canonical_severity(stated) == level


# --- training, persistence, prediction -----------------------------------------------------------


def test_round_trip_through_skops(small: TriageModel, seed: list[Record], tmp_path: Path) -> None:
    skops_path, sidecar = save_model(small, tmp_path)
    loaded = read_model(tmp_path)
    items = [to_input(r) for r in seed[:300]]
    for head in ("severity", "category", "environment"):
        matrix = small.transform(items)
        np.testing.assert_allclose(loaded.proba(loaded.transform(items), head), small.proba(matrix, head))
    again, original = loaded.predict(items), small.predict(items)
    assert [(p.severity, p.category, p.environment) for p in again] == [
        (p.severity, p.category, p.environment) for p in original
    ]
    assert [p.confidence for p in again] == pytest.approx([p.confidence for p in original], abs=1e-12)
    # Equal contributions may swap places between runs; the sets of reasons are the same.
    assert [set(p.reasons) for p in again] == [set(p.reasons) for p in original]
    meta = json.loads(sidecar.read_text())
    assert loaded.version == small.version == meta["version"]
    assert loaded.version.startswith("tfidf-svc-") and len(loaded.version) == len("tfidf-svc-") + 12
    assert meta["data_sha256"].startswith(loaded.version[-12:])
    with zipfile.ZipFile(skops_path) as archive:  # skops format, not a pickle
        assert "schema.json" in archive.namelist()


def test_fast_probabilities_match_scikit_learn(small: TriageModel, seed: list[Record]) -> None:
    matrix = small.transform([to_input(r) for r in seed[:400]])
    for head in ("severity", "category", "environment"):
        fast = small.proba(matrix, head)
        reference = small.proba(matrix, head, fast=False)
        np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-12)


def test_untrusted_type_in_model_file_is_refused(small: TriageModel, tmp_path: Path) -> None:
    import hashlib

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer
    from skops.io.exceptions import UntrustedTypesFoundException

    save_model(small, tmp_path)
    smuggled = FunctionTransformer(func=os.system)  # would run a shell command if trusted
    sio.dump({"format": 1, "smuggled": smuggled}, tmp_path / MODEL_FILE)
    meta = json.loads((tmp_path / SIDECAR_FILE).read_text())
    meta["model_sha256"] = hashlib.sha256((tmp_path / MODEL_FILE).read_bytes()).hexdigest()
    (tmp_path / SIDECAR_FILE).write_text(json.dumps(meta))
    with pytest.raises(UntrustedTypesFoundException):
        read_model(tmp_path, serving=False)


def test_sidecar_must_match_model_file(small: TriageModel, tmp_path: Path) -> None:
    from classifiers.store import ModelFileError

    save_model(small, tmp_path)
    (tmp_path / MODEL_FILE).write_bytes((tmp_path / MODEL_FILE).read_bytes() + b"\0")
    with pytest.raises(ModelFileError):
        read_model(tmp_path)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m classifiers.train"):
        load_model(tmp_path)


def test_probabilities_are_distributions(small: TriageModel) -> None:
    (pred,) = small.predict(
        [TriageInput(subject="Export broken", body="The CSV export fails with a 500 error.")]
    )
    for proba in (pred.severity_proba, pred.category_proba):
        assert sum(proba.values()) == pytest.approx(1.0)
    assert set(pred.severity_proba) == {"critical", "high", "medium", "low"}
    assert pred.confidence == pytest.approx(
        min(pred.severity_proba[pred.severity], pred.category_proba[pred.category])
    )
    assert pred.environment in ("production", "test", "unknown")


def test_needs_review_below_threshold(small: TriageModel) -> None:
    (pred,) = small.predict([TriageInput(body="something about the thing, not sure")])
    assert small.needs_review(pred, pred.confidence + 0.01)
    assert not small.needs_review(pred, pred.confidence - 0.01)
    made = Prediction("low", {"low": 0.55}, "question", {"question": 0.9}, 0.55, [], "unknown")
    assert TriageModel.needs_review(made, 0.6)
    assert not TriageModel.needs_review(made, 0.5)


def test_reasons_are_words_from_the_text(small: TriageModel) -> None:
    text = "Our production database is down and nobody can log in; every checkout fails with error 503."
    (pred,) = small.predict([TriageInput(body=text)])
    words = [r for r in pred.reasons if not r.startswith("signal:")]
    assert words, pred.reasons
    assert all(all(w in text.lower() for w in r.split(" ")) for r in words)
    assert set(pred.reasons) <= set(pred.severity_reasons) | set(pred.category_reasons)


def test_critical_threshold_promotes_critical(small: TriageModel) -> None:
    classes = small.classes("severity")
    proba = np.zeros((1, len(classes)))
    proba[0, classes.index("high")] = 0.7
    proba[0, classes.index("critical")] = 0.3
    small.critical_threshold = 0.25
    try:
        assert classes[int(small.decide_severity(proba)[0])] == "critical"
        small.critical_threshold = 0.35
        assert classes[int(small.decide_severity(proba)[0])] == "high"
    finally:
        small.critical_threshold = None


def test_reviews_change_a_prediction(seed: list[Record]) -> None:
    base = subset(seed, 12)
    text = "The weekly summary email shows the totals of last month instead of this week."
    before = fit_model(base, config=QUICK).model.predict([TriageInput(body=text)])[0]
    insisted = "enhancement" if before.category != "enhancement" else "account"
    reviews = [
        Record(subject=None, body=body, severity="low", category=insisted, channel="email", env=None)
        for body in (
            text,
            "The weekly summary email shows last month's totals, not this week's.",
            "Weekly summary email: totals are from last month instead of this week.",
        )
    ]
    data = [*base, *reviews]
    after = fit_model(data, [1.0] * len(base) + [3.0] * len(reviews), QUICK).model
    assert after.predict([TriageInput(body=text)])[0].category == insisted


def test_train_api_weights_reviews(seed: list[Record], write: Callable[[str, str], Path]) -> None:
    rows = [r.key() for r in subset(seed, 8)]
    data = write("train.jsonl", "\n".join(json.dumps(r) for r in rows))
    review = Record(
        subject="Dark mode", body="Please add a dark mode.", severity="low", category="enhancement"
    )
    result = train(data, [review], config=QUICK)
    assert result.metrics["n_records"] == len(rows) + 1
    assert result.metrics["n_reviews"] == 1
    plain = train(data, config=QUICK)
    assert plain.model.version != result.model.version


# --- evaluation ----------------------------------------------------------------------------------


def test_head_report_hand_checked() -> None:
    report = head_report(
        ["critical", "critical", "low", "low"], ["critical", "low", "low", "low"], ["critical", "low"]
    )
    assert report["per_class"]["critical"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert report["per_class"]["low"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2}
    assert report["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2, abs=1e-4)
    assert report["accuracy"] == 0.75
    assert report["critical_recall"] == 0.5
    assert report["confusion"] == {"labels": ["critical", "low"], "matrix": [[1, 1], [0, 2]]}


EVAL_ROWS = [
    {"subject": "", "body": OUTAGE, "severity": "critical", "category": "defect"},
    {"subject": "", "body": HOWTO, "severity": "low", "category": "question"},
    {"subject": "Feature idea", "body": HOWTO, "severity": "", "category": None},  # no labels: scored nowhere
    {"subject": "", "body": OUTAGE, "severity": "critical"},  # severity only
    {"subject": "", "body": HOWTO, "category": "question"},  # category only
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_evaluate_file_with_missing_labels(fmt: str, write: Callable[[str, str], Path]) -> None:
    if fmt == "jsonl":
        path = write("eval.jsonl", "\n".join(json.dumps(r) for r in EVAL_ROWS) + "\n")
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["subject", "body", "severity", "category"])
        writer.writeheader()
        writer.writerows({k: v or "" for k, v in r.items()} for r in EVAL_ROWS)
        path = write("eval.csv", buffer.getvalue())
    report = evaluate(path)
    assert json.loads(json.dumps(report)) == report
    assert report["rows"] == 5
    assert report["model_version"] == load_model().version
    sev, cat = report["severity"], report["category"]
    assert set(sev) >= {"n", "macro_f1", "accuracy", "per_class", "confusion", "critical_recall"}
    assert sev["n"] == 3 and cat["n"] == 3
    # The shipped model gets these clear cases right: macro-F1 over the labels present is 1.
    assert sev["critical_recall"] == 1.0 and sev["macro_f1"] == 1.0
    assert sev["per_class"]["critical"]["support"] == 2 and sev["per_class"]["high"]["support"] == 0
    assert sev["confusion"]["matrix"][0] == [2, 0, 0, 0]
    assert cat["per_class"]["question"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}
    text = render_report(report)
    assert "critical recall 1.000" in text and "confusion" in text


def test_bad_label_names_file_and_line(write: Callable[[str, str], Path]) -> None:
    path = write(
        "bad.jsonl",
        json.dumps({"body": "x", "severity": "high"}) + "\n" + json.dumps({"body": "y", "severity": "huge"}),
    )
    with pytest.raises(DataError, match=r"bad.jsonl:2: severity 'huge'"):
        read_labelled(path)


# --- the shipped model ---------------------------------------------------------------------------


def test_shipped_model_classifies_the_obvious_cases() -> None:
    model = load_model()
    assert load_model() is model  # one instance per process
    outage, howto = model.predict([TriageInput(body=OUTAGE, channel="slack"), TriageInput(body=HOWTO)])
    assert outage.severity == "critical"
    assert howto.severity == "low" and howto.category == "question"
    assert model.version.startswith("tfidf-svc-")
    assert model.metrics["cv"]["severity"]["critical_recall"] > 0.8


def test_classify_function_returns_json_ready_rows() -> None:
    rows = classify([OUTAGE, f"Subject: Export\n{HOWTO}"], review_threshold=0.99)
    assert [r["severity"] for r in rows] == ["critical", "low"]
    assert all(r["needs_review"] for r in rows)
    assert json.loads(json.dumps(rows)) == rows


def test_serving_arrays_give_the_same_answers_as_the_skops_model_without_sklearn(tmp_path: Path) -> None:
    """triage.npz (loaded without scikit-learn or skops) matches the model of record."""
    import subprocess
    import sys

    from classifiers.store import MODEL_DIR, SERVING_FILE, read_model

    assert (MODEL_DIR / SERVING_FILE).is_file()
    of_record = read_model(MODEL_DIR, serving=False)
    serving = read_model(MODEL_DIR)
    assert type(serving.heads["severity"]).__name__ == "LinearSigmoidHead"
    records = load_seed()[::7]
    items = [TriageInput(subject=r.subject or "", body=r.body, channel=r.channel) for r in records]
    matrix = of_record.transform(items)
    for head in of_record.heads:
        expected = of_record.proba(matrix, head, fast=False)
        np.testing.assert_allclose(serving.proba(serving.transform(items), head), expected, atol=1e-12)
    assert [p.reasons for p in serving.predict(items)] == [p.reasons for p in of_record.predict(items)]
    probe = (
        "import sys; from classifiers.model import load_model; load_model(); "
        "print('sklearn' in sys.modules or 'skops' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_tampered_serving_file_is_not_used(tmp_path: Path) -> None:
    import shutil

    from classifiers.store import MODEL_DIR, SERVING_FILE, read_model

    for path in MODEL_DIR.iterdir():
        if path.is_file():
            shutil.copy(path, tmp_path / path.name)
    (tmp_path / SERVING_FILE).write_bytes((tmp_path / SERVING_FILE).read_bytes()[:-10] + b"0123456789")
    model = read_model(tmp_path)
    assert type(model.heads["severity"]).__name__ != "LinearSigmoidHead"
