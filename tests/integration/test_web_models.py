"""One model registry: the web page and `intake model list|promote|rollback` read and write the same one.

Each test changes the registry on one side and looks from the other: a version
promoted on the page is the one `intake model list` marks serving (a real
`python -m intake` process), a CLI rollback is what the page then shows, and the
serving process's `load_classifier` returns the new model without a restart.
Versions are the shipped model saved again under other names, so no test trains.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from classifiers.model import TriageModel
from classifiers.store import MODEL_DIR, read_model, save_version
from intake.runtime import Runtime, load_classifier
from intake.store.orm import RetrainJob
from tests.conftest import MailBuilder
from tests.e2e.test_cli import Cli
from tests.servers.web import Served, csrf_of, sample_mails, seed, serve_web, with_web_settings


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding versions `web-a`, `web-b` (same figures as the shipped model) and `web-low`
    (a lower grouped-CV critical recall, so the gate refuses it)."""
    root = tmp_path_factory.mktemp("registry")
    shipped = read_model(MODEL_DIR, serving=False)
    for version, recall in (("web-a", None), ("web-b", None), ("web-low", 0.1)):
        meta: dict[str, Any] = {**shipped.meta, "version": version}
        if recall is not None:
            metrics = dict(meta["metrics"])
            cv = dict(metrics["cv"])
            cv["severity"] = {**cv["severity"], "critical_recall": recall}
            meta["metrics"] = {**metrics, "cv": cv, "cv_scheme": "grouped"}
        copy = TriageModel(
            shipped.featurizer,
            shipped.heads,
            shipped.labels,
            shipped.critical_threshold,
            meta,
            shipped.possible_critical_threshold,
        )
        save_version(copy, root)
    return root


@pytest.fixture
def served(runtime: Runtime, tmp_path: Path, make_mail: MailBuilder, kept: Path) -> Iterator[Served]:
    shutil.copytree(kept, tmp_path / "model")
    rt = with_web_settings(runtime, str(tmp_path / "model"))
    seed(rt, sample_mails(make_mail)[:1])
    with serve_web(rt) as web:
        yield web


@pytest.fixture
def cli(served: Served, tmp_path: Path) -> Cli:
    runner = Cli(tmp_path)
    runner.env["INTAKE_CLASSIFIER__MODEL_DIR"] = served.runtime.settings.classifier.model_dir
    return runner


def _listed(cli: Cli) -> dict[str, bool]:
    rows = cli.json("model", "list")
    assert isinstance(rows, list)
    return {str(r["version"]): bool(r["serving"]) for r in rows}


def _ready_job(served: Served, version: str) -> int:
    """A retrain that finished with `version` as its candidate (what run_job leaves behind)."""
    directory = Path(served.runtime.settings.classifier.model_dir) / "versions" / version
    with served.runtime.sessions() as session:
        job = RetrainJob(
            started_by="manager@vendor.example",
            started_at=served.runtime.clock.now(),
            state="ready",
            progress="done",
            candidate_version=version,
            candidate_dir=str(directory),
            report={},
        )
        session.add(job)
        session.commit()
        return job.id


def _serving_on_page(client: Any) -> str:
    page = client.get("/models")
    assert page.status_code == 200
    start = page.text.index('id="serving-version">') + len('id="serving-version">')
    return unescape(page.text[start : page.text.index("<", start)])


def _post(client: Any, path: str, **data: str) -> Any:
    csrf = csrf_of(client.get("/models").text)
    return client.post(path, data={"csrf": csrf, **data})


def test_a_candidate_promoted_on_the_page_is_serving_in_the_cli(served: Served, cli: Cli) -> None:
    shipped = read_model(MODEL_DIR).version
    assert _listed(cli)[shipped] is True and _listed(cli)["web-a"] is False
    client = served.login()
    assert _serving_on_page(client) == shipped
    job = _ready_job(served, "web-a")
    assert _post(client, f"/models/jobs/{job}", action="promote").status_code == 303
    assert _listed(cli)["web-a"] is True and _listed(cli)[shipped] is False
    assert _serving_on_page(client) == "web-a"
    # the serving process picks it up without a restart
    model = load_classifier(served.runtime.settings)
    assert model is not None and model.version == "web-a"
    # and the CLI can roll the page's promotion back
    rolled = cli.json("model", "rollback")
    assert isinstance(rolled, dict) and rolled["version"] == shipped and rolled["previous"] == "web-a"


def test_a_cli_promotion_and_rollback_are_what_the_page_shows(served: Served, cli: Cli) -> None:
    client = served.login()
    shipped = _serving_on_page(client)
    cli("model", "promote", "web-a")
    cli("model", "promote", "web-b")
    assert _serving_on_page(client) == "web-b"
    model = load_classifier(served.runtime.settings)
    assert model is not None and model.version == "web-b"
    cli("model", "rollback")
    assert _serving_on_page(client) == "web-a"
    model = load_classifier(served.runtime.settings)
    assert model is not None and model.version == "web-a"
    page = client.get("/models").text
    # every version the CLI lists is on the page, the serving one without a restore button
    for version in (shipped, "web-a", "web-b", "web-low"):
        assert f'id="version-{version}"' in page
    assert 'name="version" value="web-a"' not in page and 'name="version" value="web-b"' in page


def test_restore_on_the_page_is_a_promotion_the_cli_rolls_back(served: Served, cli: Cli) -> None:
    client = served.login()
    shipped = _serving_on_page(client)
    assert _post(client, "/models/rollback", version="web-b").status_code == 303
    assert _listed(cli)["web-b"] is True
    rolled = cli.json("model", "rollback")
    assert isinstance(rolled, dict) and rolled["version"] == shipped
    assert _serving_on_page(client) == shipped
    assert _post(client, "/models/rollback", version="../web-b").status_code == 404
    assert _post(client, "/models/rollback", version="no-such").status_code == 404


def test_the_page_keeps_the_registrys_gate_and_discards_a_refused_candidate(served: Served, cli: Cli) -> None:
    client = served.login()
    shipped = _serving_on_page(client)
    job = _ready_job(served, "web-low")
    page = client.get("/models").text
    assert "critical recall 0.100 is lower" in page and 'value="force"' in page
    refused = _post(client, f"/models/jobs/{job}", action="promote")
    assert refused.status_code == 400 and "is lower" in refused.text
    assert _listed(cli)[shipped] is True
    # the CLI refuses it the same way
    done = cli("model", "promote", "web-low", code=2)
    assert "is lower" in done.stdout + done.stderr
    assert _post(client, f"/models/jobs/{job}", action="discard").status_code == 303
    assert "web-low" not in _listed(cli)
    # a version that served is never discarded
    job = _ready_job(served, "web-a")
    assert _post(client, f"/models/jobs/{job}", action="promote").status_code == 303
    cli("model", "rollback")
    again = _ready_job(served, "web-a")
    assert _post(client, f"/models/jobs/{again}", action="discard").status_code == 303
    assert "web-a" in _listed(cli)


def test_forcing_past_the_gate_is_recorded(served: Served, cli: Cli) -> None:
    client = served.login()
    job = _ready_job(served, "web-low")
    assert _post(client, f"/models/jobs/{job}", action="force").status_code == 303
    assert _listed(cli)["web-low"] is True
    history = (Path(served.runtime.settings.classifier.model_dir) / "versions" / "history.json").read_text()
    assert "promoted by manager@vendor.example (web) (forced)" in history
