"""SPF, DKIM and DMARC verified by the bot's own SMTP server, and the Authentication-Results it writes.

Mail delivered straight to the bot carries whatever headers its sender chose, so
the server believes none of them: `strip_authentication_results` removes every
incoming Authentication-Results field, `Verifier.authenticate` checks

- SPF (RFC 7208) of the connecting IP for the MAIL FROM domain, or the HELO
  name for a null reverse path, with pyspf;
- every DKIM-Signature (RFC 6376, at most `MAX_SIGNATURES`) with dkimpy, on the
  bytes exactly as received;
- DMARC (RFC 7489): the From domain's record (or its organisational domain's,
  from the public suffix list), and identifier alignment of the SPF and DKIM
  passes with the From domain, relaxed or strict as the record says;

and `Verifier.header` writes one Authentication-Results (authres) under the
server's own authserv-id. intake/trust.py says what the contact step makes of it.

Every DNS query goes through a `Resolver`, so tests serve records from a dict
and production uses dnspython with a per-query lifetime; the SMTP handler also
bounds the whole verification (`smtp_server.verify_timeout`) and writes
`temperror` when it runs out. authheaders' `authenticate_message` does much the
same, but verifies only the first DKIM signature, cannot take a resolver for
SPF, and re-reads the public suffix list from disk on every DMARC check.
"""

from __future__ import annotations

import logging
import re
import types
from dataclasses import dataclass, field
from typing import Any, Protocol

import authres
import dkim
import dns.exception
import dns.resolver
import spf
from authres import DKIMAuthenticationResult, SPFAuthenticationResult
from authres.dmarc import DMARCAuthenticationResult

from channels.mail_headers import parse_addresses, split_headers
from intake.trust import organisational_domain

log = logging.getLogger(__name__)

MAX_SIGNATURES = 5
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)
_AR_FIELD = re.compile(rb"(?i)^authentication-results[ \t]*:")
_LINES = re.compile(rb"\r\n|\n|\r")


class DnsTempError(Exception):
    """A lookup that could not be answered now (timeout, SERVFAIL): the result is temperror."""


class Resolver(Protocol):
    """DNS as verification needs it: answers as text, [] for no such name or no such record."""

    def resolve(self, name: str, rdtype: str) -> list[str]:
        """TXT: each record's strings joined; A/AAAA: addresses; MX: "preference exchange"; PTR: names.

        Raises DnsTempError when the answer cannot be had now.
        """
        ...


class DnsPythonResolver:
    """The system's resolvers through dnspython, each query bounded by `lifetime` seconds."""

    def __init__(self, lifetime: float = 3.0) -> None:
        try:
            self.resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            # No /etc/resolv.conf: every lookup is a temperror (nobody is verified) rather than
            # a server that does not start.
            log.warning("no DNS resolver configured: SPF, DKIM and DMARC will all be temperror")
            self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.lifetime = lifetime

    def resolve(self, name: str, rdtype: str) -> list[str]:
        try:
            answer = self.resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
            raise DnsTempError(str(exc)) from exc
        except dns.exception.DNSException as exc:
            raise DnsTempError(str(exc)) from exc
        out: list[str] = []
        for rdata in answer:
            if rdtype == "TXT":
                out.append(b"".join(rdata.strings).decode("utf-8", "replace"))
            elif rdtype in ("A", "AAAA"):
                out.append(str(rdata.address))
            elif rdtype == "MX":
                out.append(f"{rdata.preference} {rdata.exchange.to_text(omit_final_dot=True)}")
            elif rdtype == "PTR":
                out.append(rdata.target.to_text(omit_final_dot=True))
        return out


def _spf_query_class(resolver: Resolver) -> type[spf.query]:
    """pyspf's query, its DNS answered by `resolver`.

    pyspf looks names up through its module-global `DNSLookup`; rather than
    replace that global (shared by every thread), the class gets its own copy of
    `query.dns` whose globals name a `DNSLookup` bound to this resolver.
    """

    def lookup(name: str, qtype: str, strict: Any = True, timeout: Any = None) -> list[tuple[Any, Any]]:
        try:
            answers = resolver.resolve(name, "TXT" if qtype == "SPF" else qtype)
        except DnsTempError as exc:
            raise spf.TempError(f"DNS {exc}") from exc
        key = (name, qtype)
        if qtype in ("TXT", "SPF"):
            return [(key, (a.encode("utf-8"),)) for a in answers]
        if qtype == "MX":
            pairs = [a.split(None, 1) for a in answers]
            return [(key, (int(p), host)) for p, host in pairs]
        return [(key, a) for a in answers]

    original = spf.query.dns
    scope = dict(original.__globals__)
    scope["DNSLookup"] = lookup
    dns_method = types.FunctionType(original.__code__, scope, "dns", original.__defaults__)
    return type("ResolverQuery", (spf.query,), {"dns": dns_method})


@dataclass
class Results:
    """One message's verification, before it is written as a header."""

    spf: str = "none"
    spf_domain: str = ""
    spf_helo: bool = False
    dkim: list[tuple[str, str, str]] = field(default_factory=list)  # (result, d=, s=)
    dmarc: str = "none"
    from_domain: str = ""
    policy: str = ""
    reason: str = ""


def _hostname(value: str) -> str:
    """`value` if it is a plain host name, else "": nothing a sender wrote goes into our header raw."""
    value = value.strip().rstrip(".").lower()
    return value if _HOSTNAME.match(value) else ""


def from_domain(raw: bytes) -> str | None:
    """The domain of the one From address, or None when From is not exactly one address (RFC 7489 6.6.1)."""
    values = split_headers(raw).get_all("from")
    if len(values) != 1:
        return None
    addresses = [a for _, a in parse_addresses(values[0]) if a]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return None
    return _hostname(addresses[0].rpartition("@")[2]) or None


class Verifier:
    """Verifies messages for one authserv-id with one resolver; safe to share between threads."""

    def __init__(self, authserv_id: str, resolver: Resolver, timeout: float = 10.0) -> None:
        self.authserv_id = authserv_id
        self.resolver = resolver
        self.timeout = timeout
        self._spf_query = _spf_query_class(resolver)

    def check(self, raw: bytes, ip: str, mail_from: str, helo: str) -> Results:
        results = Results()
        self._spf(results, ip, mail_from, helo)
        self._dkim(results, raw)
        self._dmarc(results, raw)
        return results

    def authenticate(self, raw: bytes, ip: str, mail_from: str, helo: str) -> str:
        """The Authentication-Results value (without the field name) for the message as received."""
        return self.header(self.check(raw, ip, mail_from, helo))

    def header(self, results: Results) -> str:
        items: list[Any] = []
        spf_kw = {"smtp_helo" if results.spf_helo else "smtp_mailfrom": results.spf_domain or None}
        items.append(SPFAuthenticationResult(result=results.spf, **spf_kw))
        if not results.dkim:
            items.append(DKIMAuthenticationResult(result="none"))
        for result, domain, selector in results.dkim:
            items.append(
                DKIMAuthenticationResult(result=result, header_d=domain or None, header_s=selector or None)
            )
        items.append(
            DMARCAuthenticationResult(
                result=results.dmarc,
                result_comment=results.reason or None,
                header_from=results.from_domain or None,
                policy=results.policy or None,
            )
        )
        text = str(authres.AuthenticationResultsHeader(authserv_id=self.authserv_id, results=items))
        return text.partition(":")[2].strip()

    def temperror(self) -> str:
        """The header when verification ran out of time: nothing could be checked."""
        return self.header(Results(spf="temperror", dmarc="temperror", reason="verification timed out"))

    def _spf(self, results: Results, ip: str, mail_from: str, helo: str) -> None:
        sender = mail_from.strip().strip("<>")
        helo_name = _hostname(helo)
        if sender and "@" in sender:
            results.spf_domain = _hostname(sender.rpartition("@")[2])
        else:
            results.spf_domain, results.spf_helo = helo_name, True
            sender = f"postmaster@{helo_name}" if helo_name else ""
        if not results.spf_domain:
            results.spf = "none"
            return
        try:
            query = self._spf_query(
                i=ip, s=sender, h=helo_name or "unknown", timeout=self.timeout, querytime=self.timeout
            )
            outcome, _code, _explanation = query.check()
        except Exception as exc:  # pyspf turns most trouble into a result; anything else is ours
            log.warning("spf check of %s from %s failed: %s", results.spf_domain, ip, exc)
            outcome = "temperror"
        results.spf = str(outcome).lower()

    def _dkim(self, results: Results, raw: bytes) -> None:
        try:
            signer = dkim.DKIM(raw, timeout=self.timeout)
        except Exception:
            return
        count = sum(1 for name, _ in signer.headers if name.lower() == b"dkim-signature")
        for idx in range(min(count, MAX_SIGNATURES)):
            temp: list[str] = []

            def txt(name: bytes, timeout: float = 5.0, _temp: list[str] = temp) -> bytes | None:
                try:
                    found = self.resolver.resolve(name.decode("ascii", "replace").rstrip("."), "TXT")
                except DnsTempError as exc:
                    _temp.append(str(exc))
                    raise dkim.DnsTimeoutError(str(exc)) from exc
                return found[0].encode("utf-8") if found else None

            try:
                ok = signer.verify(idx=idx, dnsfunc=txt)
                result = "pass" if ok else "temperror" if temp else "fail"
            except dkim.DKIMException:
                result = "permerror"
            except Exception:
                result = "temperror" if temp else "permerror"
            fields = signer.signature_fields or {}
            domain = _hostname(bytes(fields.get(b"d", b"")).decode("ascii", "replace"))
            selector = _hostname(bytes(fields.get(b"s", b"")).decode("ascii", "replace"))
            results.dkim.append((result, domain, selector))

    def _record(self, domain: str) -> dict[str, str] | None:
        """The one DMARC record at _dmarc.<domain> as tags, or None (none, or several: RFC 7489 6.6.3)."""
        found = [r for r in self.resolver.resolve(f"_dmarc.{domain}", "TXT") if r.startswith("v=DMARC1")]
        if len(found) != 1:
            return None
        tags: dict[str, str] = {}
        for part in found[0].split(";"):
            key, eq, value = part.partition("=")
            if eq:
                tags[key.strip().lower()] = value.strip().lower()
        return tags

    def _dmarc(self, results: Results, raw: bytes) -> None:
        domain = from_domain(raw)
        if domain is None:
            results.dmarc, results.reason = "permerror", "not exactly one From address"
            return
        results.from_domain = domain
        org = organisational_domain(domain)
        try:
            record = self._record(domain)
            if record is None and org != domain:
                record = self._record(org)
        except DnsTempError:
            results.dmarc = "temperror"
            return
        if record is None:
            results.dmarc = "none"
            return
        policy = record.get("p", "")
        if policy not in ("none", "quarantine", "reject"):
            results.dmarc, results.reason = "permerror", "the DMARC record has no valid p="
            return
        if org != domain and record.get("sp") in ("none", "quarantine", "reject"):
            policy = record["sp"]
        results.policy = policy

        def aligned(other: str, mode: str) -> bool:
            if not other:
                return False
            return other == domain if mode == "s" else organisational_domain(other) == org

        spf_ok = results.spf == "pass" and aligned(results.spf_domain, record.get("aspf", "r"))
        dkim_ok = any(r == "pass" and aligned(d, record.get("adkim", "r")) for r, d, _ in results.dkim)
        results.dmarc = "pass" if spf_ok or dkim_ok else "fail"


def strip_authentication_results(raw: bytes) -> bytes:
    """`raw` without any Authentication-Results field (and its continuation lines) in the header block.

    Lone CRs count as line ends here (and become CRLF), so a field hidden
    behind one is removed too; the body is left byte for byte.
    """
    block = split_headers(raw)
    head, body = raw[: block.body_start], raw[block.body_start :]
    if b"uthentication-" not in head and b"UTHENTICATION-" not in head.upper():
        return raw
    out: list[bytes] = []
    dropping = False
    pos = 0
    for match in _LINES.finditer(head):
        line, end = head[pos : match.start()], match.end()
        if line[:1] in (b" ", b"\t") and dropping:
            pos = end
            continue
        dropping = bool(_AR_FIELD.match(line))
        if not dropping:
            # A lone CR becomes CRLF: the field it hid is gone, the one after it stays a field.
            out.append(line + (b"\r\n" if match.group() == b"\r" else match.group()))
        pos = end
    tail = head[pos:]
    if tail and not (_AR_FIELD.match(tail) or (dropping and tail[:1] in (b" ", b"\t"))):
        out.append(tail)
    return b"".join(out) + body
