"""`intake classify`, `intake train [--with-reviews]` and `intake eval` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from classifiers.seed_corpus import load_seed
from intake.config import Settings
from intake.store.orm import TriageDecision
from intake.store.session import make_engine, make_sessionmaker
from tests.conftest import MailBuilder
from tests.e2e.test_policies_e2e import Cli


@pytest.fixture
def cli(tmp_path: Path, make_mail: MailBuilder, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INTAKE_DATABASE_URL", f"sqlite:///{tmp_path / 'intake.db'}")
    monkeypatch.setenv("INTAKE_CONFIG", "")
    monkeypatch.setenv("INTAKE_CLASSIFIER__MODEL_DIR", str(tmp_path / "model"))
    runner = Cli(tmp_path, make_mail)
    runner("init")
    return runner


def test_classify_explains_its_decision(cli: Cli) -> None:
    doc = cli.json(
        "classify", "Subject: Nobody can log in\nSince 8am the whole company is locked out of production."
    )
    assert doc["severity"] == "critical" and doc["environment"] == "production"
    assert set(doc["severity_proba"]) == {"critical", "high", "medium", "low"}
    assert doc["reasons"] and isinstance(doc["needs_review"], bool) and doc["model_version"]
    assert doc["language"] == "en" and doc["possible_critical"] is False
    assert 0 < doc["possible_critical_threshold"] < doc["severity_proba"]["critical"]
    german = cli.json("classify", "Subject: Alles steht\nSeit 8 Uhr kann sich niemand mehr anmelden.")
    assert german["language"] == "de" and isinstance(german["possible_critical"], bool)
    assert "empty" in cli("classify", "   ", code=2)


def test_eval_reports_both_heads_and_refuses_bad_files(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "labelled.jsonl"
    data.write_text(
        json.dumps(
            {
                "subject": "Production down",
                "body": "Nobody in the company can log in, all users are locked out of production since 8am.",
                "severity": "critical",
                "category": "defect",
            }
        )
        + "\n"
        + json.dumps(
            {"subject": "", "body": "How do I export a report to CSV?", "severity": "low", "category": ""}
        )
        + "\n"
    )
    report = cli.json("eval", str(data))
    assert report["severity"]["n"] == 2 and report["category"]["n"] == 1
    first, second = report["messages"]
    assert first["id"].endswith("labelled.jsonl:1") and second["id"].endswith("labelled.jsonl:2")
    assert first["severity"] == "critical" and first["possible_critical"] is False
    assert isinstance(second["possible_critical"], bool) and second["language"] == "en"
    assert set(first["probabilities"]["severity"]) == {"critical", "high", "medium", "low"}
    assert first["truth"] == {"severity": "critical", "category": "defect"}
    assert report["possible_critical"]["criticals"] == 1
    assert report["severity"]["critical_recall"] == 1.0
    assert "confusion" in json.dumps(report)
    csv = tmp_path / "labelled.csv"
    csv.write_text("subject,body,severity,category\nHello,How do I add a user?,low,question\n")
    assert cli.json("eval", str(csv))["category"]["n"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"subject": "x", "body": "y", "severity": "apocalyptic"}\n')
    out = cli("eval", str(bad), code=2)
    assert "apocalyptic" in out and len(out.strip().splitlines()) == 1
    assert "no such file" in cli("eval", str(tmp_path / "missing.jsonl"), code=2)


def test_train_with_reviews_saves_a_model_that_is_then_used(cli: Cli, tmp_path: Path) -> None:
    records = load_seed()[::6]
    data = tmp_path / "subset.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "title": r.subject or "",
                    "description": r.body,
                    "priority": {"critical": "P1", "high": "P2", "medium": "P3", "low": "P4"}[
                        str(r.severity)
                    ],
                    "type": "bug" if r.category == "defect" else r.category,
                }
            )
            + "\n"
            for r in records
        )
    )
    cli.mail(
        "2026-11-16T09:00:00+00:00", subject="Reports page slow", body="The reports page takes a minute."
    )
    settings = Settings.model_validate({"database": {"url": f"sqlite:///{tmp_path / 'intake.db'}"}})
    engine = make_engine(settings.database.url)
    with make_sessionmaker(engine)() as session:
        decision = session.scalars(select(TriageDecision)).one()
        decision.reviewed_at = decision.created_at
        decision.reviewed_by = "manager@vendor.example"
        decision.corrected_severity = "high"
        decision.corrected_category = "defect"
        session.commit()
    engine.dispose()
    mapping = ["--map", "subject=title", "--map", "text=description", "--map", "severity=priority"]
    mapping += ["--map", "category=type", "--label", "bug=defect", "--label", "P1=critical"]
    doc = cli.json("train", "--data", str(data), "--with-reviews", "--force", *mapping)
    assert doc["reviews"] == 1 and (Path(doc["model"]) / "triage.skops").is_file()
    assert doc["model"].startswith(str(tmp_path / "model")) and doc["serving"] is True
    assert doc["metrics"]["cv"]["category"]["per_class"]["defect"]["support"] > 0
    assert cli.json("classify", "How do I add a user?")["model_version"] == doc["version"]
    listed = {row["version"]: row for row in cli.json("model", "list")}
    assert listed[doc["version"]]["serving"] is True
    rolled = cli.json("model", "rollback")
    assert rolled["version"] != doc["version"] and rolled["previous"] == doc["version"]
    assert cli.json("classify", "How do I add a user?")["model_version"] == rolled["version"]
    assert "nothing to roll back" in cli("model", "rollback", code=2)
    assert "--map 'category'" in cli("train", "--data", str(data), "--map", "category", code=2)
