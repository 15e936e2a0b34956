"""Commands of the triage classifier: `classify`, `train`, `eval`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from intake.cli.support import JsonOpt, NowOpt, choice, emit, err, out, runtime
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
        out.print(f"language: {doc['language'] or 'undetermined'}")
        if doc["possible_critical"]:
            out.print(
                f"POSSIBLE CRITICAL: P(critical) {doc['severity_proba']['critical']:.2f} is past the "
                f"recall-first threshold {doc['possible_critical_threshold']:.3f}"
            )

    @app.command()
    def train(
        data: Annotated[
            Path | None,
            typer.Option(
                help="JSON Lines or CSV (a helpdesk export: name its columns with --map);"
                " default: the seed corpus."
            ),
        ] = None,
        columns: Annotated[
            list[str] | None,
            typer.Option(
                "--map",
                help="FIELD=COLUMN, repeatable: text|subject|severity|category|channel|env|id|group|when.",
            ),
        ] = None,
        labels: Annotated[
            list[str] | None,
            typer.Option("--label", help="THEIRS=OURS label translation, repeatable, e.g. bug=defect."),
        ] = None,
        cv: Annotated[
            str, typer.Option(help="grouped (by --map group=...), time (by --map when=...) or random.")
        ] = "grouped",
        force: Annotated[
            bool, typer.Option("--force", help="Serve the new model even if its critical recall is lower.")
        ] = False,
        with_reviews: Annotated[
            bool, typer.Option("--with-reviews", help="Managers' corrections weigh in.")
        ] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Retrain the triage model, keep it as a new version, and serve it if it is not worse.

        It replaces the serving model only when its grouped-CV critical recall is not
        lower (unless --force); either way it stays listed by `intake model list`.
        """
        from classifiers.api import train as run_train
        from classifiers.dataset import ColumnMap, DataError
        from classifiers.model import clear_model_cache
        from classifiers.store import PromotionRefused, promote, save_version
        from classifiers.train import TrainConfig

        if data is not None and not data.exists():
            raise BadInput(f"no such file: {data}")
        if cv not in ("grouped", "time", "random"):
            raise BadInput(f"--cv {cv!r}: use grouped, time or random")
        try:
            mapping = ColumnMap.parse(columns or [], labels or [])
        except DataError as exc:
            raise BadInput(str(exc)) from exc
        rt = runtime()
        reviews = []
        if with_reviews:
            from intake.tickets.reviews import review_records

            with rt.sessions() as session:
                reviews = review_records(session)
        started = time.perf_counter()

        def progress(step: str) -> None:
            if not as_json:
                err.print(f"[{time.perf_counter() - started:6.1f} s] {step}")

        try:
            result = run_train(data, reviews, config=TrainConfig(cv=cv), progress=progress, mapping=mapping)
        except (ValueError, DataError) as exc:
            raise BadInput(f"cannot train on {data or 'the seed corpus'}: {exc}") from exc
        model_dir = Path(rt.settings.classifier.model_dir)
        progress("save")
        saved = save_version(result.model, model_dir)
        try:
            entry = promote(model_dir, result.model.version, force=force, reason="train")
            served, refusal = True, None
        except PromotionRefused as exc:
            entry, served, refusal = None, False, str(exc)
        clear_model_cache()
        doc = {
            "model": str(saved),
            "version": result.model.version,
            "serving": served,
            "refused": refusal,
            "promotion": entry,
            "reviews": len(reviews),
            "metrics": result.metrics,
        }
        if as_json:
            emit(doc)
            return
        for line in summary_lines(result.metrics):
            out.print(line)
        if served:
            out.print(
                f"saved {doc['version']} to {saved} and serving it ({len(reviews)} manager corrections)"
            )
        else:
            out.print(f"saved {doc['version']} to {saved}, NOT serving it: {refusal}")

    @app.command()
    def severity(
        ref: Annotated[str, typer.Argument(help="The ticket, e.g. support-42.")],
        level: Annotated[str, typer.Argument(help="The policy's level key (s1, critical, severity_2 ...).")],
        by: Annotated[
            str, typer.Option("--by", help="Who decides (recorded in the audit trail).")
        ] = "manager",
        now: NowOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Confirm or change a ticket's severity; this ends a possible critical and resets its SLA clock."""
        from intake.errors import NotFound
        from intake.tickets.ops import TicketOps
        from intake.tickets.replies import find_ticket
        from intake.tickets.views import ticket_json

        rt = runtime(now)
        with rt.sessions() as session:
            ticket = find_ticket(session, ref, rt.settings.tickets.ref_prefix)
            ops = TicketOps(session, rt.settings, rt.clock.now(), actor=by)
            try:
                ops.set_severity(ticket, level)
            except NotFound as exc:
                raise BadInput(str(exc)) from exc
            session.commit()
            doc = ticket_json(ticket, rt.settings.tickets.ref_prefix)
        if as_json:
            emit(doc)
        else:
            out.print(
                f"{doc['ref']}: severity {doc['severity']}, first response due {doc['first_response_due']}"
            )

    model_app = typer.Typer(
        no_args_is_help=True, help="Versions of the triage model: list, promote, roll back."
    )
    app.add_typer(model_app, name="model")

    @model_app.command("list")
    def model_list(as_json: JsonOpt = False) -> None:
        """Every kept model version with its cross-validation figures; the serving one marked."""
        from classifiers.store import list_versions
        from intake.config import load_settings

        rows = list_versions(Path(load_settings().classifier.model_dir))
        if as_json:
            emit(rows)
            return
        from rich.table import Table

        table = Table("", "version", "cv", "rows", "sev F1", "crit recall", "cat F1", "trained")
        for r in rows:
            table.add_row(
                "*" if r["serving"] else "",
                r["version"],
                str(r["cv_scheme"]),
                str(r["n_records"]),
                _fmt(r["severity_macro_f1"]),
                _fmt(r["critical_recall"]),
                _fmt(r["category_macro_f1"]),
                str(r["trained_at"] or "-"),
            )
        out.print(table)

    @model_app.command("promote")
    def model_promote(
        version: str,
        force: Annotated[bool, typer.Option("--force", help="Even if its critical recall is lower.")] = False,
        as_json: JsonOpt = False,
    ) -> None:
        """Serve a kept version; refused if its grouped-CV critical recall is lower, unless --force."""
        from classifiers.model import clear_model_cache
        from classifiers.store import PromotionRefused, promote
        from intake.config import load_settings

        try:
            entry = promote(Path(load_settings().classifier.model_dir), version, force=force)
        except (PromotionRefused, FileNotFoundError) as exc:
            raise BadInput(str(exc)) from exc
        clear_model_cache()
        if as_json:
            emit(entry)
        else:
            out.print(f"serving {entry['version']} (was {entry['previous']})")

    @model_app.command("rollback")
    def model_rollback(as_json: JsonOpt = False) -> None:
        """Serve again the version the last promotion replaced."""
        from classifiers.model import clear_model_cache
        from classifiers.store import rollback
        from intake.config import load_settings

        try:
            entry = rollback(Path(load_settings().classifier.model_dir))
        except FileNotFoundError as exc:
            raise BadInput(str(exc)) from exc
        clear_model_cache()
        if as_json:
            emit(entry)
        else:
            out.print(f"serving {entry['version']} again (rolled back from {entry['previous']})")

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


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def summary_lines(metrics: dict[str, Any]) -> list[str]:
    """What a training run measured, for the terminal."""
    lines = [f"records: {metrics['n_records']}; cross-validation: {metrics.get('cv_scheme')}"]
    cv = metrics.get("cv", {})
    sev = cv.get("severity")
    if sev:
        lines.append(
            f"severity macro-F1 {sev['macro_f1']:.3f}, critical recall {sev['critical_recall']:.3f}"
            f" (critical threshold {sev['critical_threshold']})"
        )
        pc = sev.get("possible_critical") or {}
        if pc:
            lines.append(
                f"possible_critical threshold {pc['threshold']:.4f}: catches {pc['critical_caught']:.3f}"
                f" of criticals, flags {pc['others_flagged']:.3f} of the rest"
            )
    if cv.get("category"):
        lines.append(f"category macro-F1 {cv['category']['macro_f1']:.3f}")
    if metrics.get("heads_from_seed"):
        lines.append(
            f"learnt from the seed corpus (not in the data): {', '.join(metrics['heads_from_seed'])}"
        )
    lines.append(f"trained in {metrics['train_seconds']} s")
    return lines
