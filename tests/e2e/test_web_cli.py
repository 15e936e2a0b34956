"""`intake user add`, `intake token add`, `intake web`, and the web page in `intake serve`, as processes."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers.web import csrf_of, free_port

ROOT = Path(__file__).resolve().parents[2]


def _intake(env: dict[str, str], cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intake", *args],
        check=False,
        input=stdin,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _wait(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.communicate()[1])
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "INTAKE_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT), "INTAKE_CONFIG": ""}


def test_user_and_token_commands(env: dict[str, str], tmp_path: Path) -> None:
    done = _intake(
        env,
        tmp_path,
        "user",
        "add",
        "Boss@Vendor.example",
        "--role",
        "manager",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert done.returncode == 0, done.stderr
    assert "boss@vendor.example can log in as manager" in done.stdout
    again = _intake(
        env, tmp_path, "user", "add", "boss@vendor.example", "--password-stdin", stdin="another one\n"
    )
    assert again.returncode == 2 and "already has an account" in again.stderr
    bad = _intake(
        env,
        tmp_path,
        "user",
        "add",
        "x@vendor.example",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert bad.returncode == 2 and "--role admin" in bad.stderr
    short = _intake(env, tmp_path, "user", "add", "y@vendor.example", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "8 characters" in short.stderr
    token = _intake(env, tmp_path, "token", "add", "reports")
    assert token.returncode == 0 and token.stdout.strip().startswith("itk_")
    assert _intake(env, tmp_path, "token", "add", "reports").returncode == 2


def test_serve_serves_the_web_page_and_stops_cleanly(env: dict[str, str], tmp_path: Path) -> None:
    assert (
        _intake(
            env,
            tmp_path,
            "user",
            "add",
            "boss@vendor.example",
            "--role",
            "manager",
            "--password-stdin",
            stdin="a long password\n",
        ).returncode
        == 0
    )
    port = free_port()
    config = tmp_path / "intake.toml"
    config.write_text(f'[web]\nhost = "127.0.0.1"\nport = {port}\n[service]\ntick_interval = 0.5\n')
    serve = subprocess.Popen(
        [sys.executable, "-m", "intake", "serve"],
        env={**env, "INTAKE_CONFIG": str(config)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(port, serve)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            page = client.get("/login")
            assert (
                page.status_code == 200
                and "frame-ancestors 'none'" in page.headers["content-security-policy"]
            )
            login = client.post(
                "/login",
                data={
                    "csrf": csrf_of(page.text),
                    "email": "boss@vendor.example",
                    "password": "a long password",
                    "next": "/review",
                },
            )
            assert login.status_code == 303 and login.headers["location"] == "/review"
            assert client.get("/review").status_code == 200
        # the signing key was generated once and kept where the docs say, readable only by us
        key = tmp_path / ".intake" / "web_secret_key"
        assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=30)
        assert serve.returncode == 0, stderr
        assert time.monotonic() - started < 10
        assert "Traceback" not in stderr
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()


def test_intake_web_alone(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "intake", "web", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait(port, web)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/review").status_code == 303
            assert client.get("/api/tickets").status_code == 401
        web.send_signal(signal.SIGTERM)
        web.communicate(timeout=30)
        assert web.returncode == 0
    finally:
        if web.poll() is None:
            web.kill()
            web.communicate()
