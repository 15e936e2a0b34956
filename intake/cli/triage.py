"""Commands of the triage classifier: `classify`, `train`, `eval`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from intake.cli.support import JsonOpt, choice, emit, err, out, runtime
from intake.errors import BadInput


def register(app: typer.Typer) -> None:
    @app.command()
    def classify(
        text: Annotated[
            str,
            typer.Argument(help='The message, or - for stdin; a first line "Subject: ..." is the subject.'),
        ],
        channel: Annotated[str, typer.Option(help="email or slack.")] = "email",
        as_json: JsonOpt = False,
    ) -> None:
        """Show what the triage model makes of a message: severity, category, confidence and why."""
        from classifiers.api import classify as run_classify
        from intake.config import load_settings
        from intake.runtime import load_classifier

        choice("--channel", channel, ("email", "slack"))
        settings = load_settings()
        body = sys.stdin.read() if text == "-" else text
        if not body.strip():
            raise BadInput("nothing to classify: the text is empty")
        model = load_classifier(settings)
        if model is None:
            raise BadInput("no triage model: run `intake train`")
        [doc] = run_classify(
            [body], channel=channel, review_threshold=settings.classifier.review_threshold, model=model
        )
        if as_json:
            emit(doc)
            return
        out.print(
            f"severity {doc['severity']}, category {doc['category']}, environment {doc['environment']}, "
            f"confidence {doc['confidence']:.2f}{' (needs review)' if doc['needs_review'] else ''}"
        )
        out.print(f"because: {', '.join(doc['reasons'])}")

    @app.command()
    def train(
        data: Annotated[
            Path | None,
            typer.Option(
                help="JSON Lines or CSV with subject, body, severity, category; default: the seed corpus."
            ),
        ] = None,
        with_reviews: Annotated[
            bool, typer.Option("--with-reviews", help="Managers' corrections weigh in.")
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Retrain the triage model and save it to classifier.model_dir."""
        from rich.progress import Progress

        from classifiers.api import train as run_train
        from classifiers.model import clear_model_cache
        from classifiers.store import save_model

        if data is not None and not data.exists():
            raise BadInput(f"no such file: {data}")
        rt = runtime()
        reviews = []
        if with_reviews:
            from intake.tickets.reviews import review_records

            with rt.sessions() as session:
                reviews = review_records(session)
        if not as_json:
            err.print(
                f"training on {data or 'the seed corpus'}"
                + (f" and {len(reviews)} corrections" if reviews else "")
                + "; this takes about half a minute"
            )
        with Progress(console=err, transient=True, disable=as_json or not sys.stderr.isatty()) as bar:
            task = bar.add_task("training", total=None)
            lines = not as_json and not sys.stderr.isatty()

            def step(name: str) -> None:
                bar.update(task, description=name)
                if lines:
                    err.print(f"train: {name}")

            try:
                result = run_train(data, reviews, progress=step)
            except ValueError as exc:
                raise BadInput(f"cannot train on {data or 'the seed corpus'}: {exc}") from exc
        target, _sidecar = save_model(result.model, Path(rt.settings.classifier.model_dir))
        clear_model_cache()
        doc = {
            "model": str(target),
            "version": result.model.version,
            "reviews": len(reviews),
            "metrics": result.metrics,
        }
        if as_json:
            emit(doc)
        else:
            out.print(f"saved {doc['version']} to {target} ({len(reviews)} manager corrections)")

    @app.command("eval")
    def evaluate(
        file: Annotated[
            Path, typer.Argument(help="JSON Lines or CSV with subject, body, severity, category.")
        ],
        as_json: JsonOpt = False,
    ) -> None:
        """Score the triage model on labelled messages: macro-F1, per-class figures, confusion matrices."""
        from classifiers.api import evaluate as run_eval
        from classifiers.api import render_report
        from classifiers.dataset import DataError, read_labelled
        from intake.config import load_settings
        from intake.runtime import load_classifier

        if not file.exists():
            raise BadInput(f"no such file: {file}")
        if file.is_file() and not file.read_bytes().strip():
            raise BadInput(f"{file} holds no labelled messages: nothing to evaluate")
        try:
            records = read_labelled(file)
        except DataError as exc:
            raise BadInput(str(exc).splitlines()[0]) from exc
        if not records:
            raise BadInput(f"{file} holds no labelled messages: nothing to evaluate")
        model = load_classifier(load_settings())
        try:
            report = run_eval(file, model)
        except DataError as exc:
            raise BadInput(str(exc)) from exc
        if as_json:
            emit(report)
        else:
            out.print(render_report(report), markup=False)
