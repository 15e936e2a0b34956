"""Retraining from the web page: a background retrain, the candidate beside the serving model, promote.

There is one model registry, `classifiers.store`'s, under `classifier.model_dir`: the
serving model's files at its top, every kept version under `versions/<version>/`,
the promotions in `versions/history.json`. A retrain keeps its candidate there as a
version (so `intake model list` shows it, not serving); promoting it, restoring an
earlier version, or `intake model promote|rollback` all swap the same files, so the
page and the CLI see each other's changes.

Serving picks a promoted model up without a restart: `intake.runtime.load_classifier`
reloads when the serving directory's sidecar changed.
"""

from __future__ import annotations

import logging
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


def model_dir(settings: Settings) -> Path:
    return Path(settings.classifier.model_dir)


def promote(settings: Settings, version: str, who: str, *, force: bool = False) -> str:
    """Serve a kept version (a retrain's candidate), behind the registry's gate unless `force`."""
    from classifiers.model import clear_model_cache
    from classifiers.store import PromotionRefused
    from classifiers.store import promote as registry_promote

    try:
        entry = registry_promote(model_dir(settings), version, force=force, reason=f"promoted by {who} (web)")
    except FileNotFoundError as exc:
        raise NotFound(str(exc)) from exc
    except PromotionRefused as exc:
        raise BadInput(str(exc).replace("use --force", "use 'Promote anyway'")) from exc
    clear_model_cache()
    return str(entry["version"])


def restore(settings: Settings, version: str, who: str) -> str:
    """Serve an earlier kept version again (it served before, or a manager chose it: no gate)."""
    from classifiers.model import clear_model_cache
    from classifiers.store import promote as registry_promote

    try:
        entry = registry_promote(model_dir(settings), version, force=True, reason=f"restored by {who} (web)")
    except FileNotFoundError as exc:
        raise NotFound(str(exc)) from exc
    clear_model_cache()
    return str(entry["version"])


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
    from classifiers.store import save_version
    from classifiers.train import TrainConfig
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
        config = TrainConfig(folds=runtime.settings.classifier.retrain_folds)
        result = train(None, reviews, config=config, progress=lambda step: note(f"training: {step}"))
        target = save_version(result.model, model_dir(runtime.settings))
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


def _page_state(settings: Settings) -> dict[str, Any]:
    """What the models page shows from the registry: the serving version and every kept one."""
    from classifiers.store import current_version, list_versions, refusal

    directory = model_dir(settings)
    kept = list_versions(directory)
    return {
        "serving": current_version(directory) or "no model",
        "versions": kept,
        "refusals": {v["version"]: refusal(directory, v["version"]) for v in kept if not v["serving"]},
    }


def _decide(settings: Settings, job: RetrainJob, action: str, who: str) -> None:
    """Promote (behind the gate, or `force`d past it) or discard a retrain's candidate."""
    from classifiers.store import discard

    version = job.candidate_version or ""
    if action == "discard":
        discard(model_dir(settings), version)
        job.state = "discarded"
    elif action in ("promote", "force"):
        promote(settings, version, who, force=action == "force")
        job.state = "promoted"
    else:
        raise BadInput("action: promote, force or discard")
    job.decided_by = who


def register(app: FastAPI, web: Web) -> None:
    runtime = web.runtime

    @app.get("/models", include_in_schema=False)
    def models(request: Request) -> Response:
        who = web.user(request, manager=True)
        with web.db() as session:
            jobs = list(session.scalars(select(RetrainJob).order_by(RetrainJob.id.desc()).limit(10)))
        return web.render(request, "models.html", who, jobs=jobs, **_page_state(runtime.settings))

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
            if job is None or job.state != "ready" or not job.candidate_version:
                raise BadInput("that retrain has no candidate waiting")
            _decide(runtime.settings, job, str(form.get("action", "")), who.email)
            session.commit()
        return RedirectResponse("/models", status_code=303)

    @app.post("/models/rollback", include_in_schema=False)
    async def restore_version(request: Request) -> Response:
        who = web.user(request, manager=True)
        form = await web.form(request, who)
        restore(runtime.settings, str(form.get("version", "")), who.email)
        return RedirectResponse("/models", status_code=303)
