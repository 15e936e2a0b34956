"""Ruff's complexity rule (C901, max-complexity 10) with an allow-list that may only shrink.

pyproject.toml ignores C901 in a few files and records, in [tool.intake.complexity],
each function still above the limit with its figure. Here ruff runs without that
config: every function over 10 must be on the list at no more than its recorded
figure, and every entry must still be over 10 (a simplified function leaves the list).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ALLOWED: dict[str, dict[str, int]] = PYPROJECT["tool"]["intake"]["complexity"]
_MESSAGE = re.compile(r"`(?P<name>[^`]+)` is too complex \((?P<figure>\d+) > (?P<limit>\d+)\)")


def measured() -> dict[tuple[str, str], int]:
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--isolated", "--select", "C901", "--output-format", "json",
         "--exclude", ".venv", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    found: dict[tuple[str, str], int] = {}
    for item in json.loads(result.stdout):
        match = _MESSAGE.search(item["message"])
        assert match is not None and match["limit"] == "10", item["message"]
        path = Path(item["filename"]).resolve().relative_to(ROOT).as_posix()
        found[(path, match["name"])] = int(match["figure"])
    return found


def test_no_function_is_more_complex_than_its_allowance() -> None:
    found = measured()
    allowed = {(path, name): figure for path, names in ALLOWED.items() for name, figure in names.items()}
    over = {key: figure for key, figure in found.items() if figure > allowed.get(key, 10)}
    assert over == {}, f"above max-complexity 10 and not allowed at this figure: {over}"
    gone = sorted(key for key in allowed if key not in found)
    assert gone == [], f"now 10 or less: delete from [tool.intake.complexity]: {gone}"
    lower = {key: found[key] for key in allowed if key in found and found[key] < allowed[key]}
    assert lower == {}, f"simpler now: lower the figures in [tool.intake.complexity]: {lower}"


def test_the_ignores_are_exactly_the_allowed_files() -> None:
    ignores = PYPROJECT["tool"]["ruff"]["lint"]["per-file-ignores"]
    assert sorted(p for p, rules in ignores.items() if "C901" in rules) == sorted(ALLOWED)
    assert PYPROJECT["tool"]["ruff"]["lint"]["mccabe"]["max-complexity"] == 10


def test_the_check_sees_a_complex_function(tmp_path: Path) -> None:
    """The measurement is real: a function of complexity 12 is reported with its figure."""
    body = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(11))
    (tmp_path / "knot.py").write_text(f"def knot(x: int) -> int:\n{body}\n    return -1\n")
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--isolated", "--select", "C901", "--output-format", "json", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    [item] = json.loads(result.stdout)
    assert "`knot` is too complex (12 > 10)" in item["message"]
