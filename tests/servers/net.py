"""Free ports and throw-away TLS certificates for test servers."""

from __future__ import annotations

import os
import random
import shutil
import socket
import ssl
import subprocess
from collections import deque
from dataclasses import dataclass
from pathlib import Path

# Ports handed to servers that bind them later (aiosmtpd's Controller, `intake serve`, Dovecot)
# come from below Linux's ephemeral range (32768-60999): a port the kernel picked with bind(0) is
# free again at once, and an outgoing connection of another pytest-xdist worker (to PostgreSQL,
# say) could take it before the server binds it. Each worker draws from its own block of 1,000.
_PORTS_FROM = 20000
_PORTS_PER_WORKER = 1000


_recent: deque[int] = deque(maxlen=200)  # handed out lately, perhaps not bound yet


def free_port() -> int:
    """A port nobody listens on right now, in this test process's block (see above)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = _PORTS_FROM + (int(worker) % 12 if worker.isdigit() else 0) * _PORTS_PER_WORKER
    for port in random.sample(range(first, first + _PORTS_PER_WORKER), 50):
        if port in _recent:
            continue
        _recent.append(port)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # the block is taken: the kernel's choice
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.cert))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx


def make_cert(folder: Path) -> Cert | None:
    """A self-signed certificate for localhost/127.0.0.1, or None when openssl is absent."""
    if shutil.which("openssl") is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    if not (cert.exists() and key.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "30",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        key.chmod(0o644)
    return Cert(cert, key)
