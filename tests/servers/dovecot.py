"""A throw-away Dovecot IMAP server: its own config, users and Maildirs in a temp dir, free ports.

Port of ../shared/recipes/dovecot-start.sh to Python, with the same pitfalls
handled: logins fail with "Internal error" until `first_valid_uid` is set; the
login process refuses to run as root (root runs it as `dovenull` and stores
mail as `dovecot`); the daemon must not keep our pipes open; a user added to
the passwd-file is seen only after about a second, so a pool of users is
written before the server starts and each test takes a fresh one.

The tests never install anything: without `dovecot` they skip (fail under CI).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.conftest import missing
from tests.servers.net import Cert, free_port, make_cert

POOL = 40
IMAP_BINARY = Path("/usr/lib/dovecot/imap")


def available() -> str | None:
    """None when Dovecot can run here, else why not."""
    if shutil.which("dovecot") is None or not IMAP_BINARY.exists():
        return "dovecot is not installed (Debian package dovecot-imapd)"
    if shutil.which("openssl") is None:
        return "openssl is not installed"
    return None


@dataclass
class Dovecot:
    root: Path
    host: str
    port: int
    tls_port: int
    cert: Cert
    users: dict[str, str]
    pid: int = 0
    _free: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, pool: int = POOL) -> Dovecot:
        root = Path(tempfile.mkdtemp(prefix="intake-dovecot-"))
        # the dovecot user (auth and mail processes) must traverse the dir when we are root
        root.chmod(0o755)
        cert = make_cert(root / "tls")
        assert cert is not None
        users = {f"u{n:02d}@example.test": f"pw-{n:02d}-secret" for n in range(pool)}
        server = cls(root, "127.0.0.1", free_port(), free_port(), cert, users, _free=sorted(users))
        server._write_config()
        server._launch()
        return server

    # set-up ----------------------------------------------------------------------------
    def _owner(self) -> tuple[int, int, str, str, str]:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("dovecot")
            return entry.pw_uid, entry.pw_gid, "dovecot", "dovecot", "dovenull"
        name = pwd.getpwuid(os.geteuid()).pw_name
        import grp

        group = grp.getgrgid(os.getegid()).gr_name
        return os.geteuid(), os.getegid(), name, group, name

    def _write_config(self) -> None:
        uid, gid, internal, group, login = self._owner()
        for sub in ("run", "state", "mail", "log"):
            (self.root / sub).mkdir(exist_ok=True)
        lines = [f"{u}:{{PLAIN}}{p}:{uid}:{gid}::{self.root}/mail/{u}" for u, p in self.users.items()]
        users_file = self.root / "users"
        users_file.write_text("\n".join(lines) + "\n")
        users_file.chmod(0o644)
        if os.geteuid() == 0:
            os.chown(self.root / "mail", uid, gid)
        rootless = os.geteuid() != 0
        anvil = "  chroot =\n" if rootless else ""
        extra = f"service anvil {{\n{anvil}  unix_listener anvil-auth-penalty {{\n    mode = 0\n  }}\n}}\n"
        if rootless:
            extra += f"default_internal_group = {group}\nservice imap-login {{\n  chroot =\n}}\n"
        (self.root / "dovecot.conf").write_text(f"""# written by tests/servers/dovecot.py
protocols = imap
listen = {self.host}
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = intake-test-{self.port}
log_path = {self.root}/log/dovecot.log
info_log_path = {self.root}/log/dovecot.log
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 1
ssl = yes
ssl_cert = <{self.cert.cert}
ssl_key = <{self.cert.key}
disable_plaintext_auth = no
# XOAUTH2: Dovecot 2.3 hands the bearer token to the passdb as the password, so a
# passwd-file user whose password is the token stands in for a real token service.
auth_mechanisms = plain login xoauth2 oauthbearer
# failed logins are answered after 2 s by default, and anvil's penalty then doubles the wait
# for every address (up to 15 s, all users): tests of failing mailboxes need neither
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_fsync = never
mailbox_idle_check_interval = 1 secs
mail_max_userip_connections = 200
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users_file}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users_file}
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.tls_port}
    ssl = yes
  }}
}}
{extra}""")

    def _launch(self) -> None:
        conf = self.root / "dovecot.conf"
        with open(self.root / "log" / "stdout", "ab") as sink:
            subprocess.run(
                ["dovecot", "-c", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
                check=True,
                timeout=30,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as sock:
                    if sock.recv(200).startswith(b"* OK"):
                        self.pid = int((self.root / "run" / "master.pid").read_text())
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not greet on {self.port}: {self.log_tail()}")

    # use -----------------------------------------------------------------------------
    def take_user(self) -> tuple[str, str]:
        """A user nobody else used in this session: an empty mailbox of one's own."""
        user = self._free.pop(0)
        return user, self.users[user]

    def log_tail(self, lines: int = 20) -> str:
        path = self.root / "log" / "dovecot.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def _children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    if int(fields[1]) == self.pid:
                        found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """Stop the master and its children; a clean SIGTERM shutdown takes Dovecot ~3 s, so
        the children (all throw-away) are killed first and the master follows at once."""
        if self.pid:
            for child in self._children():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.pid = 0
        shutil.rmtree(self.root, ignore_errors=True)


def run_dovecot() -> Iterator[Dovecot]:
    """Generator body of the session fixture: start, hand out, stop."""
    server = Dovecot.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Mailbox:
    """One fresh user's mailbox on the test Dovecot, with a client for setting up and looking."""

    server: Dovecot
    user: str
    password: str

    def client(self) -> IMAPClient:
        client = IMAPClient(self.server.host, self.server.port, ssl=False, timeout=30)
        client.login(self.user, self.password)
        return client

    def append(self, folder: str, messages: list[bytes]) -> None:
        """Deliver messages into a folder (created if missing), 500 per MULTIAPPEND."""
        with self.client() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for start in range(0, len(messages), 500):
                client.multiappend(folder, messages[start : start + 500])

    def flags(self, folder: str) -> dict[int, tuple[bytes, ...]]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return {}
            return {uid: data[b"FLAGS"] for uid, data in client.fetch(uids, ["FLAGS"]).items()}

    def settings(self, **extra: Any) -> dict[str, Any]:
        """An [[imap]] table for this mailbox: plain IMAP, password login, INBOX."""
        return {
            "name": "support",
            "host": self.server.host,
            "port": self.server.port,
            "tls": "none",
            "username": self.user,
            "password": self.password,
            "timeout": 30,
            **extra,
        }


@pytest.fixture(scope="session", name="dovecot")
def dovecot_fixture() -> Iterator[Dovecot]:
    problem = available()
    if problem:
        missing(problem)
    yield from run_dovecot()


@pytest.fixture(name="mailbox")
def mailbox_fixture(dovecot: Dovecot) -> Mailbox:
    user, password = dovecot.take_user()
    return Mailbox(dovecot, user, password)
