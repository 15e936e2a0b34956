"""The layout shows the design: data flows one way, no module imports from a floor above it.

Floors, lowest first (docs/DESIGN.md, "Layout"):
0. foundations: errors, clock, storable text, edge models, settings, the store, policies,
   business time, the trust model, the triage model, and the mail codecs of channels/;
1. customers (the directory), outgoing mail (compose, outbox, bounces) and its sender,
   ticket lifecycle states and views;
2. the pipeline;
3. ticket operations (reply, resolve, review, story, scheduler) and the runtime;
4. the channel adapters (parse-or-quarantine, files, IMAP, the SMTP server);
5. the surfaces: service, command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

FLOORS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (5, ("intake.cli", "intake.service", "intake.__main__", "intake.web")),
    (4, ("channels.parse", "channels.files", "channels.imap", "channels.smtp_server", "channels.slack")),
    (3, ("intake.tickets", "intake.runtime")),
    (2, ("intake.pipeline",)),
    (
        1,
        (
            "intake.customers",
            "intake.outgoing",
            "channels.smtp_send",
            "intake.tickets.lifecycle",
            "intake.tickets.refs",
            "intake.tickets.views",
        ),
    ),
    (0, ("intake", "channels", "classifiers", "templates")),
)


def floor(module: str) -> int:
    """The floor of a module: its most specific prefix in FLOORS wins."""
    best: tuple[int, int] | None = None
    for level, prefixes in FLOORS:
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                key = (len(prefix), level)
                best = key if best is None or key > best else best
    assert best is not None, module
    return best[1]


def _modules() -> list[tuple[str, Path]]:
    found = []
    for package in ("intake", "channels", "classifiers"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found.append((name, path))
    return sorted(found)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from intake.tickets import lifecycle` imports the module
                submodule = f"{node.module}.{alias.name}"
                is_module = (ROOT / submodule.replace(".", "/")).with_suffix(".py").is_file()
                names.add(submodule if is_module else node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("intake", "channels", "classifiers")}


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_no_module_imports_from_a_floor_above_it(module: str, path: Path) -> None:
    mine = floor(module)
    above = sorted(name for name in _imports(path) if floor(name) > mine)
    assert not above, f"{module} (floor {mine}) imports from above: {above}"


def test_the_floor_rule_catches_an_upward_import() -> None:
    assert floor("intake.pipeline.decide") == 2 and floor("intake.cli.mail") == 5
    assert floor("intake.tickets.lifecycle") == 1 and floor("intake.tickets.ops") == 3
    assert floor("intake.outgoing.compose") > floor("intake.store.orm")


def test_the_top_of_intake_holds_only_foundations_and_packages() -> None:
    flat = sorted(p.stem for p in (ROOT / "intake").glob("*.py"))
    assert flat == [
        "__init__",
        "__main__",
        "clock",
        "config",
        "errors",
        "models",
        "runtime",
        "service",
        "storable",
        "trust",
    ]
