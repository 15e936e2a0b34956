"""The web app in a real browser: Playwright driving Debian's chromium, headless, against uvicorn.

Log in, filter the queue, open a decision, override it and see the audit row and
the moved due time; retrain, promote and see the serving model change; the
dashboard's plots (screenshots checked non-empty); the customers' form with its
confirmation link. No page may log a Content-Security-Policy violation.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.runtime import Runtime
from intake.store.orm import Outbox, Review, Ticket
from tests.conftest import MailBuilder, missing
from tests.servers.web import MANAGER, Served, sample_mails, seed, serve_web, with_web_settings

CHROMIUM = os.environ.get("INTAKE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is None:
        missing(f"no chromium at {CHROMIUM} (scripts/test installs Debian's package as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def quick_retrain(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's retrain fits the whole seed corpus with cross-validation (over a minute, twice per
    run of this file); what this test proves is the page's path (retrain, compare, promote, serve),
    for which any real model will do: a quarter of the seed, no cross-validation. The training itself
    is tested in tests/unit/test_classifier.py and tests/e2e/test_triage_cli.py."""
    import classifiers.api
    import classifiers.seed_corpus
    import classifiers.train
    from classifiers.train import TrainConfig, TrainResult

    whole = classifiers.seed_corpus.load_seed
    real_train = classifiers.train.train

    def quarter(directory: Path = classifiers.seed_corpus.SEED_DIR) -> list[Any]:
        return whole(directory)[::4]

    def quick(data_file: Path | None = None, reviews: Any = (), **options: Any) -> TrainResult:
        options["config"] = TrainConfig(cross_validate=False, n_jobs=1)
        return real_train(data_file, reviews, **options)

    monkeypatch.setattr(classifiers.seed_corpus, "load_seed", quarter)
    monkeypatch.setattr(classifiers.train, "load_seed", quarter)
    monkeypatch.setattr(classifiers.api, "train", quick)


@pytest.fixture
def served(runtime: Runtime, tmp_path: Path, make_mail: MailBuilder) -> Iterator[Served]:
    rt = with_web_settings(runtime, str(tmp_path / "model"))
    seed(rt, sample_mails(make_mail))
    with serve_web(rt) as web:
        yield web


def _page(browser: Any, served: Served) -> tuple[Any, list[str]]:
    page = browser.new_page(base_url=served.base)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page, problems


def _login(page: Any) -> None:
    page.goto("/review")
    assert "/login" in page.url
    page.fill("input[name=email]", MANAGER[0])
    page.fill("input[name=password]", MANAGER[1])
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/review$"))


@pytest.mark.slow
@pytest.mark.usefixtures("quick_retrain")
def test_review_override_retrain_promote_and_dashboard(browser: Any, served: Served, tmp_path: Path) -> None:
    page, problems = _page(browser, served)
    _login(page)
    assert page.locator("#queue tbody tr").count() == 2

    page.select_option("select[name=org]", "Acme")
    page.select_option("select[name=sort]", "confidence")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"org=Acme"))
    assert page.locator("#queue tbody tr").count() == 2

    page.locator("#queue tbody tr a").first.click()
    page.wait_for_url(re.compile(r"/review/\d+"))
    before = page.inner_text("#first-response-due")
    current = page.input_value("select[name=severity]")
    target = "low" if current != "low" else "critical"
    page.select_option("select[name=severity]", target)
    page.fill("input[name=reason]", "the customer has a workaround")
    page.click("button[value=override]")
    page.wait_for_selector("#done")
    assert "first response due" in page.inner_text("#done")
    audit = page.inner_text("#audit")
    assert MANAGER[0] in audit and "the customer has a workaround" in audit and target in audit
    assert page.inner_text("#first-response-due") != before
    with served.runtime.sessions() as session:
        [review] = session.scalars(select(Review)).all()
        assert review.after["canonical_severity"] == target

    page.goto("/models")
    page.click("text=Retrain with the reviews")
    page.wait_for_selector("button[value=promote]", timeout=300_000)
    assert page.locator("table.compare").count() == 1
    candidate = re.search(r"candidate \(([^)]+)\)", page.inner_text("table.compare"))
    assert candidate
    page.click("button[value=promote]")
    page.wait_for_load_state()
    assert page.inner_text("#serving-version") == candidate.group(1)
    from intake.runtime import load_classifier

    # the serving process picks the promoted model up without a restart
    model = load_classifier(served.runtime.settings)
    assert model is not None and model.version == candidate.group(1)

    page.goto("/dashboard")
    for key in ("acknowledged", "first_response", "targets", "closed", "volume", "agreement", "confusion"):
        shot = page.locator(f"#plot-{key} svg").screenshot()
        assert len(shot) > 1000, key
        (tmp_path / f"{key}.png").write_bytes(shot)
    assert page.locator("#plot-volume svg rect").count() >= 1
    assert page.locator("#plot-agreement svg rect").count() >= 1
    assert problems == [], problems


def test_support_form_in_the_browser(browser: Any, served: Served) -> None:
    page, problems = _page(browser, served)
    page.goto("/support/new")
    page.fill("input[name=name]", "Dana Smith")
    page.fill("input[name=email]", "dana@acme.example")
    page.fill("input[name=organisation]", "Acme")
    page.select_option("select[name=stated_severity]", "high")
    page.select_option("select[name=environment]", "production")
    page.fill("input[name=subject]", "Agents stopped syncing")
    page.fill("textarea[name=description]", "All agents stopped syncing at 08:00.")
    page.set_input_files(
        "input[name=attachments]", files=[{"name": "agent.log", "mimeType": "text/plain", "buffer": b"log"}]
    )
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your mail")
    with served.runtime.sessions() as session:
        row = session.scalars(select(Outbox).where(Outbox.template == "support_confirm")).one()
        link = re.search(r"https?://\S+", row.body_text)
        assert link
    page.goto(link.group(0))
    page.click("button[type=submit]")
    page.wait_for_selector("text=Your request is")
    with served.runtime.sessions() as session:
        ticket = session.scalars(select(Ticket).where(Ticket.channel == "portal")).one()
        assert ticket.contact_status == "designated"
        assert ticket.messages[0].attachments[0].filename == "agent.log"
    assert problems == [], problems
