"""DNS for tests: records served from a dict, so SPF, DKIM and DMARC run offline, and DKIM keys to sign with.

`FakeResolver` answers what `channels.mail_auth.Resolver` asks; names listed in
`failing` raise a temporary error, as a timed-out lookup would. `DkimKey` is a
real RSA key made with dkimpy: `key.sign(raw)` prepends a real DKIM-Signature and
`key.record` is the TXT record to publish at `key.name`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import dkim

from channels.mail_auth import DnsTempError


@dataclass
class FakeResolver:
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    failing: set[str] = field(default_factory=set)
    queries: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, rdtype: str, *values: str) -> FakeResolver:
        self.records.setdefault((name.lower().rstrip("."), rdtype), []).extend(values)
        return self

    def resolve(self, name: str, rdtype: str) -> list[str]:
        key = (name.lower().rstrip("."), rdtype)
        self.queries.append(key)
        if key[0] in self.failing:
            raise DnsTempError(f"timed out looking up {name} {rdtype}")
        return list(self.records.get(key, []))


@cache
def _private_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str = "s1"

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def record(self) -> str:
        from cryptography.hazmat.primitives import serialization

        private = serialization.load_pem_private_key(_private_key(), password=None)
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        import base64

        return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"

    def sign(
        self, raw: bytes, headers: tuple[bytes, ...] = (b"from", b"to", b"subject", b"date", b"message-id")
    ) -> bytes:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        signature = dkim.sign(
            raw, self.selector.encode(), self.domain.encode(), _private_key(), include_headers=list(headers)
        )
        return signature + raw

    def publish(self, resolver: FakeResolver) -> None:
        resolver.add(self.name, "TXT", self.record)
