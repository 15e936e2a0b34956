"""The trust model: which Authentication-Results are believed, and what they must say.

Every header of a message is attacker-chosen until a server we trust vouches for
it. A sender's From address (one address, decided by `channels.email_parse`; an
empty sender is never designated) is believed only on the strength of
Authentication-Results (RFC 8601) written by a *trusted* authserv-id:

- the bot's own SMTP server: it strips every incoming Authentication-Results,
  verifies SPF, DKIM and DMARC itself and prepends its own header with its own
  authserv-id (`smtp_server.authserv_id`). The adapter marks such a message
  (`InboundMessage.authenticated_by`); that id is believed for that message
  only, never for mail read from IMAP or files, where anyone could have written
  it. Connections from `smtp_server.trusted_networks` (a local MTA relaying to
  us) are not verified and keep their incoming headers, which then count like
  IMAP mail: only under `guard.trusted_authserv_ids`.
- `guard.trusted_authserv_ids`: the border MX in front of an IMAP mailbox (and
  files ingested from such a mailbox). The id must match byte for byte, as the
  MX writes it: a look-alike (`mx.vendor.example.evil`, another case, a comment
  `mx.vendor.example (forged);`) is another server's header and is ignored.

ARC-Authentication-Results, X-*-Authentication-Results, results quoted in the
body or in an attached message/rfc822 part are never read.

Several trusted headers (a forged one above or below the real one, or an MX
whose SPF and DMARC milters each add a header) are merged per method,
conservatively: a method passes only if every trusted statement about it says
pass, and a fail anywhere is a fail. So an attacker's added `pass` can never
outvote the real header; only a missing real header leaves forged ones alone,
which is why the real MX must be the one writing the configured id.

What a designated contact needs, `guard.require`:

- `dmarc-pass`: a trusted `dmarc=pass`. Anything else (`none`: the domain
  publishes no DMARC; `permerror`, `temperror`, no DMARC result) is not enough.
- `not-fail` (default): nothing trusted says the From is forged, and something
  trusted says it is authentic. `dmarc=pass` is enough. Without a DMARC verdict
  (`none`: no record; `permerror`: the domain's record is broken, which RFC 7489
  6.6.3 treats as no policy; `temperror`: the record could not be fetched; or
  no dmarc result at all) the From must be *aligned* with a pass: `dkim=pass`
  with header.d in the From's organisational domain, or `spf=pass` with
  smtp.mailfrom there, stated by every trusted header that reports that method,
  and not by a header that overstates DMARC or SPF (says `pass` where another
  trusted header says worse). An aligned pass is exactly what DMARC would have
  passed on, so a temperror cannot hide a real failure, and neither a DKIM
  signature of another domain nor an SPF pass for the attacker's own MAIL FROM
  domain makes anyone a designated contact.

Under both, `dmarc=fail`, or `spf=fail` without an aligned `dkim=pass`, is a
fail. A limit, stated: a forged header with the trusted id that reports a
method the real server does not report at all (an MX that never checks DKIM,
say) is not contradicted; the MX removing headers that claim its id, as RFC
8601 section 5 asks, closes that.

With nothing trusted configured (no `trusted_authserv_ids`, and the message did
not come through our verifying SMTP server), nothing can be verified: under
`not-fail` the From is taken as claimed unless the topmost header says it
failed (the pre-trust-model behaviour, for a bare local test set-up; `intake
doctor` warns about it); under `dmarc-pass` nobody is designated.

The outcomes: `pass` (may be designated), `fail` (never designated:
`not_designated`), `unverified` (a trusted source exists but does not vouch for
this From: a designated contact is `unverified`, never `designated`), and
`unchecked` (nothing is trusted: believed as claimed, see above).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from publicsuffix2 import PublicSuffixList

Require = Literal["not-fail", "dmarc-pass"]
Verdict = Literal["pass", "fail", "unverified", "unchecked"]

# Worst first: when trusted headers disagree about a method, the worst statement stands.
_RANK = ("fail", "softfail", "temperror", "permerror", "policy", "neutral", "none", "pass")
_ID = re.compile(r"^[ \t]*([^\s;()]+)(?:[ \t]+[0-9]+)?[ \t]*;")


@dataclass(frozen=True)
class Assessment:
    """What the trusted results say about the From, and why (recorded as the contact hit)."""

    verdict: Verdict
    reason: str


@dataclass
class _Results:
    """Every trusted header's statements: per header, per method, (result, domain) pairs.

    The domain is header.d for DKIM and smtp.mailfrom's domain for SPF.
    """

    ids: list[str] = field(default_factory=list)
    headers: list[dict[str, list[tuple[str, str]]]] = field(default_factory=list)

    def worst(self, method: str) -> str | None:
        found = [value for h in self.headers for value, _ in h.get(method, [])]
        if not found:
            return None
        return min(found, key=lambda v: _RANK.index(v) if v in _RANK else _RANK.index("neutral"))

    def credible(self) -> _Results:
        """The headers that do not overstate DMARC or SPF: one saying `pass` where another trusted
        header says worse has lied (or is forged), so none of its statements count."""
        worst = {m: self.worst(m) for m in ("dmarc", "spf")}
        kept = _Results()
        for who, statements in zip(self.ids, self.headers, strict=True):
            if all(v == worst[m] for m in worst for v, _ in statements.get(m, [])):
                kept.ids.append(who)
                kept.headers.append(statements)
        return kept

    def aligned_pass(self, method: str, from_domain: str) -> str | None:
        """The domain of a pass aligned with the From, if every trusted header stating `method` has one.

        Requiring it of every header is what keeps a forged trusted-looking header
        (`dkim=pass header.d=<victim>`) from adding a pass the real one did not see.
        """
        stating = [h[method] for h in self.headers if h.get(method)]
        found: str | None = None
        for statements in stating:
            match = next((d for v, d in statements if v == "pass" and aligned(from_domain, d)), None)
            if match is None:
                return None
            found = found or match
        return found


def authserv_id(entry: str) -> str | None:
    """The authserv-id an Authentication-Results value starts with, written plainly, or None.

    Only `id;` or `id version;` counts: an id followed by a comment, or none at
    all, is not any server's header we could trust.
    """
    match = _ID.match(entry)
    return match.group(1) if match else None


def _entries(header: str) -> list[str]:
    return [e for e in header.split("\n") if e.strip()]


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].strip().strip(".").lower()


def _segments(value: str) -> list[str] | None:
    """The value without comments, split at the semicolons outside quoted strings; None if unbalanced."""
    segments: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                current.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
            continue
        if quoted:
            current.append(char)
            quoted = char != '"'
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return None
            depth -= 1
            current.append(" ")
        elif depth:
            continue
        elif char == '"':
            quoted = True
            current.append(char)
        elif char == ";":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth or quoted:
        return None
    segments.append("".join(current))
    return segments


# RFC 8601 2.2: resinfo = methodspec [reasonspec] *propspec, methodspec = method [/version] = result.
_METHOD = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_-]*)(?:\s*/\s*[0-9]+)?\s*=\s*([A-Za-z0-9_-]+)(.*)$", re.S)
_REASON = re.compile(r'(?i)^\s*reason\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')
_PROPERTY = re.compile(r'([A-Za-z0-9_-]+)\s*\.\s*([A-Za-z0-9_.-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s"]+)')


def parse_results(value: str) -> list[tuple[str, str, dict[str, str]]] | None:
    """(method, result, {"ptype.property": value}) per resinfo of one header value; None if unreadable.

    A small reader of RFC 8601's grammar (comments removed, quoted values kept):
    authres' parser takes about a millisecond a header, far too slow for the
    contact step of every message.
    """
    segments = _segments(value)
    if segments is None:
        return None
    found: list[tuple[str, str, dict[str, str]]] = []
    rest = [seg for seg in segments[1:] if seg.strip()]
    if len(rest) == 1 and rest[0].strip().lower() == "none":
        return found
    for segment in rest:
        match = _METHOD.match(segment)
        if match is None:
            return None
        method, result, tail = match.groups()
        tail = _REASON.sub(" ", tail)
        props = {f"{t}.{n}".lower(): v.strip('"') for t, n, v in _PROPERTY.findall(tail)}
        found.append((method.lower(), result.lower(), props))
    return found


def _collect(entries: list[str], trusted: frozenset[str]) -> _Results:
    results = _Results()
    for entry in entries:
        who = authserv_id(entry)
        if who is None or who not in trusted:
            continue
        parsed = parse_results(entry)
        if parsed is None:
            # Unreadable text under a trusted id vouches for nothing, and must not hide
            # what the readable ones say: skipped, not fatal.
            continue
        results.ids.append(who)
        statements: dict[str, list[tuple[str, str]]] = {}
        for method, value, props in parsed:
            domain = props.get("header.d", "") if method == "dkim" else props.get("smtp.mailfrom", "")
            statements.setdefault(method, []).append((value, _domain_of(domain)))
        results.headers.append(statements)
    return results


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def organisational_domain(domain: str) -> str:
    """The registrable domain (RFC 7489 3.2), from the public suffix list; cached, no network."""
    domain = domain.strip(".").lower()
    if _psl().get_tld(domain, strict=True) is None:
        # A top-level domain the list does not know (.example, .internal): the list's default
        # rule "*" makes it the public suffix, so the organisational domain has two labels.
        return ".".join(domain.split(".")[-2:])
    return str(_psl().get_sld(domain) or domain)


def aligned(from_domain: str, other: str) -> bool:
    """Relaxed identifier alignment (RFC 7489 3.1): the same organisational domain."""
    if not from_domain or not other:
        return False
    return organisational_domain(from_domain) == organisational_domain(other)


def assess(header: str, sender: str, trusted: frozenset[str], require: Require) -> Assessment:
    """Judge the From `sender` by the Authentication-Results `header` (values joined by newlines).

    `trusted` holds the authserv-ids believed for this message (configured ones,
    plus our SMTP server's own where it verified the message itself).
    """
    entries = _entries(header)
    if not trusted:
        return _untrusted(entries, require)
    results = _collect(entries, trusted)
    if not results.ids:
        return Assessment("unverified", f"no Authentication-Results from {', '.join(sorted(trusted))}")
    by = ", ".join(dict.fromkeys(results.ids))
    dmarc = results.worst("dmarc")
    if dmarc == "fail":
        return Assessment("fail", f"dmarc=fail from {by}")
    if dmarc == "pass":
        return Assessment("pass", f"dmarc=pass from {by}")
    credible = results.credible()
    from_domain = _domain_of(sender)
    dkim = credible.aligned_pass("dkim", from_domain)
    if results.worst("spf") == "fail" and dkim is None:
        return Assessment("fail", f"spf=fail without an aligned dkim=pass from {by}")
    if require == "dmarc-pass":
        return Assessment("unverified", f"dmarc={dmarc or 'absent'} from {by}; dmarc=pass is required")
    if dkim is not None:
        return Assessment("pass", f"dkim=pass for {dkim} from {by} (dmarc={dmarc or 'absent'})")
    spf = credible.aligned_pass("spf", from_domain)
    if spf is not None:
        return Assessment("pass", f"spf=pass for {spf} from {by} (dmarc={dmarc or 'absent'})")
    return Assessment(
        "unverified",
        f"dmarc={dmarc or 'absent'} and no pass aligned with {from_domain or 'the From'} from {by}",
    )


def _untrusted(entries: list[str], require: Require) -> Assessment:
    if require == "dmarc-pass":
        return Assessment("unverified", "no trusted authserv-id configured; dmarc=pass is required")
    if entries:
        top = entries[0]
        lowered = top.lower()
        if re.search(r"\bdmarc\s*=\s*fail\b", lowered):
            return Assessment("fail", "dmarc=fail in the topmost Authentication-Results")
        if re.search(r"\bspf\s*=\s*fail\b", lowered) and not re.search(r"\bdkim\s*=\s*pass\b", lowered):
            return Assessment("fail", "spf=fail without dkim=pass in the topmost Authentication-Results")
    return Assessment("unchecked", "no trusted authserv-id configured: the From is taken as written")
