"""`intake ...` in the test's own process: the console script's entry point, its exit code and streams.

One helper for the end-to-end tests' command runners (test_cli, test_cli_engineer,
test_policies_e2e and the files that borrow their runners); what only a real process
shows (tracebacks, logging, standard input, the terminal) they run with subprocess.
"""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass


@dataclass
class Done:
    code: int
    out: str
    err: str


def invoke(args: list[str]) -> Done:
    from intake.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(bool(exc.code))
    return Done(code, stdout.getvalue(), stderr.getvalue())
