"""Retraining from the web page: a background retrain, the candidate beside the serving model, promote.

A small model registry lives beside `classifier.model_dir` (the serving model):
`candidates/<job>` holds a retrain's output until it is promoted or discarded;
`versions/<version>` keeps every model that was serving before a promotion, so
a previous version can be restored. The `triage` engineer's registry
(`intake model list|promote|rollback` in classifiers/) replaces this on merge:
the page needs only `versions`, `promote` and `rollback` below.

Serving picks a promoted model up without a restart: `intake.runtime.load_classifier`
reloads when the serving directory's sidecar changed.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from intake.config import Settings
from intake.errors import BadInput, NotFound
from intake.runtime import Runtime
from intake.store.orm import RetrainJob
from intake.web.app import Web

log = logging.getLogger(__name__)
FILES = ("triage.skops", "triage.npz", "triage.json")


def serving_dir(settings: Settings) -> Path:
    return Path(settings.classifier.model_dir)


def registry_dir(settings: Settings) -> Path:
    return serving_dir(settings).parent / "models"


def _version_of(directory: Path) -> str | None:
    import json

    sidecar = directory / "triage.json"
    if not sidecar.is_file():
        return None
    return str(json.loads(sidecar.read_text()).get("version") or "") or None


def versions(settings: Settings) -> list[dict[str, Any]]:
    """Earlier serving models that can be restored, newest first."""
    root = registry_dir(settings) / "versions"
    found = sorted((p for p in root.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    return [{"version": p.name, "path": str(p)} for p in found]


def _copy(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, target / f".{name}.new")
    # the sidecar last, so a reader never sees a sidecar whose model file is not in place
    for name in sorted(FILES, key=lambda n: n == "triage.json"):
        if (target / f".{name}.new").is_file():
            (target / f".{name}.new").replace(target / name)


def _archive_serving(settings: Settings) -> None:
    current = serving_dir(settings)
    version = _version_of(current)
    if version:
        _copy(current, registry_dir(settings) / "versions" / version)


def promote(settings: Settings, candidate: Path) -> str:
    """Make `candidate` the serving model (the current one is kept under versions/); its version."""
    from classifiers.model import clear_model_cache

    version = _version_of(candidate)
    if version is None:
        raise BadInput(f"{candidate} holds no model")
    _archive_serving(settings)
    _copy(candidate, serving_dir(settings))
    _copy(candidate, registry_dir(settings) / "versions" / version)
    clear_model_cache()
    return version


def rollback(settings: Settings, version: str) -> str:
    from classifiers.model import clear_model_cache

    source = registry_dir(settings) / "versions" / version
    if "/" in version or ".." in version or not source.is_dir():
        raise NotFound(f"no model version {version!r}")
    _archive_serving(settings)
    _copy(source, serving_dir(settings))
    clear_model_cache()
    return version


def _evaluation_records(runtime: Runtime) -> tuple[str, list[Any]]:
    """What both models are scored on: the managers' reviewed decisions, else the seed corpus."""
    from classifiers.seed_corpus import load_seed
    from intake.tickets.reviews import review_records

    with runtime.sessions() as session:
        reviewed = review_records(session)
    if len(reviewed) >= 20:
        return f"{len(reviewed)} reviewed decisions", reviewed
    return "the seed corpus (fewer than 20 reviewed decisions)", load_seed()


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"version": report.get("model_version")}
    for head in ("severity", "category"):
        rep = report.get(head) or {}
        out[head] = {
            "macro_f1": rep.get("macro_f1"),
            "critical_recall": rep.get("critical_recall"),
            "confusion": rep.get("confusion"),
        }
    return out


def run_job(runtime: Runtime, job_id: int) -> None:
    """Train with the reviews, save the candidate, score it and the serving model on the same records."""
    from classifiers.api import train
    from classifiers.evaluate import score
    from classifiers.store import save_model
    from intake.runtime import load_classifier
    from intake.tickets.reviews import review_records

    def note(progress: str, **values: Any) -> None:
        with runtime.sessions() as session:
            job = session.get(RetrainJob, job_id)
            assert job is not None
            job.progress = progress
            for key, value in values.items():
                setattr(job, key, value)
            session.commit()

    try:
        with runtime.sessions() as session:
            reviews = review_records(session)
        note(f"training with {len(reviews)} reviewed decisions")
        result = train(None, reviews, progress=lambda step: note(f"training: {step}"))
        target = registry_dir(runtime.settings) / "candidates" / str(job_id)
        save_model(result.model, target)
        note("evaluating the candidate and the serving model")
        what, records = _evaluation_records(runtime)
        serving = load_classifier(runtime.settings)
        report = {
            "evaluated_on": what,
            "candidate": _summary(score(result.model, records)),
            "serving": _summary(score(serving, records)) if serving is not None else None,
        }
        note(
            "done",
            state="ready",
            candidate_dir=str(target),
            candidate_version=result.model.version,
            report=report,
            finished_at=runtime.clock.now(),
        )
    except Exception as exc:
        log.exception("retrain %s failed", job_id)
        note("failed", state="failed", error=f"{type(exc).__name__}: {exc}", finished_at=runtime.clock.now())


def register(app: FastAPI, web: Web) -> None:
    runtime = web.runtime

    @app.get("/models", include_in_schema=False)
    def models(request: Request) -> Response:
        who = web.user(request, manager=True)
        with web.db() as session:
            jobs = list(session.scalars(select(RetrainJob).order_by(RetrainJob.id.desc()).limit(10)))
        return web.render(
            request,
            "models.html",
            who,
            jobs=jobs,
            versions=versions(runtime.settings),
            serving=_version_of(serving_dir(runtime.settings)) or "the shipped model",
        )

    @app.get("/models/jobs/{job_id}.json", include_in_schema=False)
    def job_state(request: Request, job_id: int) -> dict[str, Any]:
        web.user(request, manager=True)
        with web.db() as session:
            job = session.get(RetrainJob, job_id)
            if job is None:
                raise NotFound(f"no retrain {job_id}")
            return {"id": job.id, "state": job.state, "progress": job.progress}

    @app.post("/models/retrain", include_in_schema=False)
    async def retrain(request: Request) -> Response:
        who = web.user(request, manager=True)
        await web.form(request, who)
        with web.db() as session:
            if session.scalar(select(RetrainJob.id).where(RetrainJob.state == "running")) is not None:
                raise BadInput("a retrain is already running")
            job = RetrainJob(
                started_by=who.email, started_at=web.now(), state="running", progress="starting", report={}
            )
            session.add(job)
            session.commit()
            job_id = job.id
        threading.Thread(
            target=run_job, args=(runtime, job_id), name=f"retrain-{job_id}", daemon=True
        ).start()
        return RedirectResponse("/models", status_code=303)

    @app.post("/models/jobs/{job_id}", include_in_schema=False)
    async def decide(request: Request, job_id: int) -> Response:
        who = web.user(request, manager=True)
        form = await web.form(request, who)
        with web.db() as session:
            job = session.get(RetrainJob, job_id)
            if job is None or job.state != "ready" or not job.candidate_dir:
                raise BadInput("that retrain has no candidate waiting")
            if form.get("action") == "promote":
                promote(runtime.settings, Path(job.candidate_dir))
                job.state = "promoted"
            else:
                shutil.rmtree(job.candidate_dir, ignore_errors=True)
                job.state = "discarded"
            job.decided_by = who.email
            session.commit()
        return RedirectResponse("/models", status_code=303)

    @app.post("/models/rollback", include_in_schema=False)
    async def restore(request: Request) -> Response:
        who = web.user(request, manager=True)
        form = await web.form(request, who)
        rollback(runtime.settings, str(form.get("version", "")))
        return RedirectResponse("/models", status_code=303)
