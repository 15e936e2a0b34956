#!/usr/bin/env python3
"""The project's corpus generator: a deterministic set of realistic support-desk .eml files.

    python bench/gen_corpus.py OUT_DIR [-n 2000] [--seed 1]     # --help lists every option

Standard library only. The same --seed and options give byte-identical files
(the script prints a SHA-256 over all file names and bytes, so two runs can be
compared); `-n 2000 --seed 1` is the corpus bench/bench_ingest.py measures, sha256
92153f5f6e5536f42e6a429c581a134933ad16f7df48374df3cc5de024a16b1f. It is the
same corpus the django-helpdesk peer ingests, so the two figures compare.

What it writes:
  OUT_DIR/msg-000001.eml ... msg-NNNNNN.eml   one RFC 5322 message each; name order is Date order
  OUT_DIR.manifest.jsonl                      one JSON object per message: the ground truth for
                                              threading (thread = the ticket id an empty store assigns)

Shape of the default corpus: 2,000 messages in 1,607 threads, 393 replies (about 20 %,
--reply-rate) carrying a `[support-N]` subject reference; 284 of them also point
In-Reply-To at the previous message of their thread, 109 at an acknowledgement that
is not in the corpus (only the subject reference threads those). 336 senders over
30 domains with Zipf-like use, about 10 % with non-ASCII display names, some Cc.
Bodies of 200-3,000 characters, text/plain or multipart/alternative, some with a
small .log/.txt attachment; 7bit, 8bit, quoted-printable and base64; utf-8,
us-ascii and iso-8859-1 (--legacy-8bit-latin1 sends a few as raw 8-bit Latin-1).

Manifest fields: file, seq, message_id, date, from, to, cc, subject, thread,
is_reply, in_reply_to, in_reply_to_in_corpus, references, ticket_ref,
multipart_alternative, attachment, body_chars, non_ascii, text_cte, charset, bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import random
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------
DOMAINS = [
    # company domains (reserved/fictitious TLDs, nothing here is real)
    "acme-logistics.example",
    "globex.example",
    "initech.example",
    "umbrella-health.example",
    "hooli.test",
    "piedpiper.test",
    "vandelay-imports.example",
    "wayne-ent.example",
    "stark-industries.test",
    "cyberdyne.example",
    "soylent-foods.example",
    "tyrell.test",
    "wonka-confect.example",
    "oceanic-air.test",
    "dunder-paper.example",
    "aperture-labs.test",
    "blackmesa.example",
    "gringotts-bank.test",
    "monarch-legal.example",
    "nakatomi.test",
    "bluth-homes.example",
    "krusty-burger.test",
    "prestige-worldwide.example",
    "sterling-cooper.test",
    "los-pollos.example",
    # free-mail style domains
    "mailbox.example",
    "webpost.test",
    "inbox-mail.example",
    "fastmail.test",
    "post.example",
]
FREEMAIL = set(DOMAINS[-5:])

FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Steven",
    "Ashley",
    "Paul",
    "Kimberly",
    "Andrew",
    "Emily",
    "Joshua",
    "Donna",
    "Kevin",
    "Michelle",
    "Brian",
    "Carol",
    "Priya",
    "Wei",
    "Yuki",
    "Ahmed",
    "Fatima",
    "Olga",
    "Lars",
    "Ingrid",
    "Pierre",
    "Giulia",
    "Mateo",
    "Aisha",
    "Kwame",
    "Sven",
    "Hana",
]
FIRST_NONASCII = [
    "José",
    "Zoë",
    "François",
    "Jürgen",
    "Søren",
    "Ångström",
    "Chloé",
    "Renée",
    "Ólafur",
    "Małgorzata",
    "Björn",
    "Inês",
    "Łukasz",
    "Çelik",
    "Dóra",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Nguyen",
    "Patel",
    "Kim",
    "Chen",
    "Nakamura",
    "Okafor",
    "Haddad",
    "Ivanova",
    "Larsen",
    "Dubois",
    "Rossi",
    "Schmidt",
    "Kowalski",
    "Silva",
]
LAST_NONASCII = [
    "Müller",
    "Álvarez",
    "Nørgaard",
    "Côté",
    "Šimůnek",
    "Gómez",
    "Öztürk",
    "Håkansson",
    "Ferré",
    "Weiß",
    "Jiménez",
    "Łęcki",
]

PRODUCTS = [
    "Cloud Backup",
    "customer portal",
    "iOS app",
    "Android app",
    "billing dashboard",
    "VPN client",
    "REST API",
    "desktop sync client",
    "reporting module",
    "SSO login",
    "invoice export",
    "webhooks",
    "CSV import",
    "email notifications",
    "admin console",
    "label printer driver",
    "router firmware",
    "license server",
    "mobile checkout",
    "calendar integration",
]
FEATURES = [
    "dark mode",
    "bulk user import",
    "SAML group mapping",
    "CSV export of audit logs",
    "per-project permissions",
    "custom invoice templates",
    "two-way calendar sync",
    "API rate-limit headers",
    "a German translation",
    "scheduled reports by email",
]
OSES = [
    "Windows 11 23H2",
    "Windows 10 22H2",
    "macOS 14.4 Sonoma",
    "macOS 13.6 Ventura",
    "Ubuntu 22.04 LTS",
    "Debian 12",
    "iOS 17.4",
    "Android 14 (Pixel 7)",
    "Android 13 (Galaxy S22)",
    "ChromeOS 122",
]
BROWSERS = ["Chrome 123", "Firefox 124", "Safari 17.3", "Edge 122", "Brave 1.64"]
ERRCODES = [
    "E1042",
    "ERR_CONN_RESET",
    "0x80070005",
    "HTTP 500",
    "HTTP 403",
    "HTTP 429",
    "SYNC-409",
    "AUTH_FAILED",
    "TIMEOUT_30S",
    "E_QUOTA_EXCEEDED",
    "DB-LOCK-7",
]
MAILERS = [
    ("X-Mailer", "Microsoft Outlook 16.0"),
    ("User-Agent", "Mozilla Thunderbird 115.9.0"),
    ("X-Mailer", "Apple Mail (2.3774.500.171.1.1)"),
    ("User-Agent", "K-9 Mail for Android"),
    ("X-Mailer", "iPhone Mail (21E236)"),
    ("User-Agent", "Roundcube Webmail/1.6.6"),
    None,
    None,
    None,
]

SUBJECTS = [
    "Cannot log in to the {product}",
    "{product} crashes on startup",
    "Error {err} when exporting invoices",
    "Refund request for order #{order}",
    "Password reset email never arrives",
    "{product} very slow since update {ver}",
    "How do I add a new user to the {product}?",
    "Invoice #{inv} shows the wrong VAT rate",
    "Feature request: {feature}",
    "Sync stuck at {pct}%",
    "API returns {err} on /v2/{endpoint}",
    "Account locked after failed login attempts",
    "Please cancel my subscription",
    "Question about upgrading our plan",
    "Data missing after migration to {ver}",
    "Certificate warning when opening the {product}",
    "Two-factor codes not accepted",
    "Webhook deliveries failing with timeout",
    "Charged twice for order #{order}",
    "Cannot upload files larger than {mb} MB",
    "URGENT: {product} down for our whole team",
    "[URGENT] Production outage - {err}",
    "Fwd: Invoice #{inv} overdue notice",
    "FW: problem with the {product}",
    "Licence key rejected on new laptop",
    "Export to PDF produces blank pages",
    "Notifications arrive hours late",
    "Can't connect {product} to our SSO provider",
    "Wrong time zone in reports",
    "Bug: {product} ignores proxy settings",
]
SUBJECTS_NONASCII = [
    "Problème de connexion au {product}",
    "Fehlermeldung {err} beim Export – bitte um Hilfe",
    "Facturación incorrecta en la factura #{inv}",
    "Synchronisering hänger på {pct} %",
]
ENDPOINTS = ["orders", "customers", "invoices", "users/{id}", "reports/daily", "webhooks"]

GREETINGS = [
    "Hi,",
    "Hello,",
    "Hello support team,",
    "Hi there,",
    "Dear Sir or Madam,",
    "Good morning,",
    "Hi support,",
    "Dear support team,",
    "Hey,",
    "Good afternoon,",
]
CLOSINGS = [
    "Thanks,",
    "Thank you,",
    "Best regards,",
    "Kind regards,",
    "Cheers,",
    "Regards,",
    "Many thanks in advance,",
    "Thanks for your help,",
]

DESCRIBE = [
    "Since this morning the {product} refuses to work for me. Every time I try, I get the "
    "error {err} and nothing else happens.",
    "We started seeing this problem right after the update to version {ver}. Before that "
    "everything worked fine for months.",
    "I have tried to do this several times today but the {product} just shows a spinner and "
    "then times out after about 30 seconds.",
    "Our accounting team noticed that invoice #{inv} has the wrong amount on it. The total "
    "should be {amount} EUR but it says {amount2} EUR.",
    "When I open the {product} on {os} it closes immediately without any error message.",
    "I was charged twice for order #{order} on my credit card ending in {card}. Please refund "
    "the duplicate payment.",
    "The password reset link you send expires before I can even click it. I requested it "
    "three times in the last hour.",
    "It looks like the {product} is ignoring the settings we configured last week, so all of "
    "our users are affected.",
    "Could you please explain how to {howto}? I could not find anything about it in the documentation.",
    "We would really like to have {feature}. Is this on your roadmap, and if so, when can we expect it?",
    "About {pct}% of our uploads fail with {err}. Smaller files seem to work, larger ones do not.",
    "Our users in the {city} office cannot connect at all, while the others are fine.",
]
DETAILS = [
    "I am using {os} with {browser}.",
    "This happens on {os}; I have not tested other systems yet.",
    "Our account ID is {acct} in case you need it.",
    "The problem started on {weekday} around {hour}:{minute}.",
    "I already cleared the cache, logged out and back in and restarted the computer, but it did not help.",
    "Reinstalling the {product} did not change anything.",
    "It affects about {users} users in our company.",
    "The same thing happens with a colleague's account, so it is not just me.",
    "I attached a screenshot of the error to my previous ticket but never got a reply.",
    'The log file says: "{err}: operation timed out after 30000 ms (request id {reqid})".',
    "We are on the {plan} plan with {users} seats.",
    "Our IT department says nothing changed on our side (firewall, proxy, DNS).",
    "The installer is in C:\\Program Files\\Acme\\Sync and the logs are in "
    "C:\\Users\\{user}\\AppData\\Local\\Acme\\logs.",
]
IMPACT = [
    "This is blocking our month-end closing, so a quick answer would be very much appreciated.",
    "It is not urgent, but it is quite annoying.",
    "Our whole team is unable to work right now, please treat this as high priority.",
    "We have a customer demo on {weekday}, so we need this fixed before then.",
    "Please let me know if you need any more information from my side.",
    "If this cannot be solved we will have to consider cancelling our subscription.",
    "Any workaround would already help us a lot.",
]
HOWTO = [
    "add a new user",
    "change the billing address",
    "export all invoices for last year",
    "enable two-factor authentication for everyone",
    "transfer the licence to a new PC",
    "set up the webhook signature check",
    "restore a deleted project",
]
CITIES = ["Berlin", "Chicago", "Lagos", "Osaka", "Madrid", "Toronto", "Sydney", "Lyon", "Pune", "Oslo"]
PLANS = ["Starter", "Business", "Business Plus", "Enterprise"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
TITLES = [
    "Office Manager",
    "IT Administrator",
    "CFO",
    "Accountant",
    "Head of Operations",
    "Software Engineer",
    "Project Manager",
    "Owner",
    "Customer Success Lead",
    None,
    None,
]

REPLY_OPENERS = [
    "Thanks for the quick answer. I tried what you suggested but unfortunately the problem is still there.",
    "Any update on this? It has been {days} days now and we still cannot work properly.",
    "Please ignore my last message, the problem disappeared after a restart. You can close the ticket.",
    "As requested, here are some more details.",
    "I just wanted to add that the error now also happens on {os}.",
    "Thank you, that fixed it!",
    "Sorry, I forgot to mention that we are on version {ver}.",
    "The workaround helps for now, but we still need a permanent fix.",
    "I am still waiting for a reply. Could someone please look at this?",
    "My colleague {colleague} is seeing the same issue since yesterday.",
]
DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole "
    "use of the intended recipient(s) and may contain confidential and privileged "
    "information. Any unauthorized review, use, disclosure or distribution is prohibited. If "
    "you are not the intended recipient, please contact the sender by reply e-mail and "
    "destroy all copies of the original message."
)
NONASCII_LINES = [
    "Merci d'avance pour votre aide — c'est assez urgent.",
    "Vielen Dank für die schnelle Rückmeldung, das Problem besteht weiterhin.",
    "Gracias de antemano, quedo atento a su respuesta.",
    "Tack på förhand för hjälpen!",
    "P.S. Die Größe der Datei beträgt ca. 12 MB (über das Limit?).",
]

LOG_LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"]
LOG_MSGS = [
    "Starting sync worker pid={pid}",
    "Connecting to api.service.example:443",
    "TLS handshake completed in {ms} ms",
    "Uploading chunk {n}/{m} ({kb} KB)",
    "Request {reqid} -> {err}",
    "Retrying in {secs}s (attempt {n}/5)",
    "Token refreshed, expires_in=3600",
    "Queue depth {n}, backlog {m} items",
    "Unhandled exception in worker thread: TimeoutError: timed out after 30000 ms",
    "Config loaded from C:\\ProgramData\\Acme\\sync.ini",
]


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------
class Ctx:
    """Random filler for {placeholders}."""

    def __init__(self, rng: random.Random):
        self.r = rng

    def fill(self, s: str, **extra) -> str:
        r = self.r
        vals = dict(
            product=r.choice(PRODUCTS),
            feature=r.choice(FEATURES),
            os=r.choice(OSES),
            browser=r.choice(BROWSERS),
            err=r.choice(ERRCODES),
            order=r.randint(100000, 999999),
            inv=r.randint(20000, 99999),
            ver=f"{r.randint(3, 9)}.{r.randint(0, 19)}.{r.randint(0, 9)}",
            pct=r.randint(3, 97),
            mb=r.choice([10, 25, 50, 100, 250]),
            endpoint=r.choice(ENDPOINTS).replace("{id}", str(r.randint(1, 99999))),
            amount=f"{r.randint(50, 9000)}.{r.randint(0, 99):02d}",
            amount2=f"{r.randint(50, 9000)}.{r.randint(0, 99):02d}",
            card=f"{r.randint(0, 9999):04d}",
            howto=r.choice(HOWTO),
            city=r.choice(CITIES),
            acct=f"AC-{r.randint(10000, 99999)}",
            weekday=r.choice(WEEKDAYS),
            hour=f"{r.randint(7, 19):02d}",
            minute=f"{r.randint(0, 59):02d}",
            users=r.choice([3, 5, 12, 25, 40, 120, 300]),
            reqid=f"{r.getrandbits(48):012x}",
            plan=r.choice(PLANS),
            user=r.choice(["jsmith", "m.garcia", "admin", "lchen", "p.okafor"]),
            days=r.randint(2, 12),
            colleague=r.choice(FIRST),
        )
        vals.update(extra)
        return s.format(**vals)


def pick_len(r: random.Random) -> int:
    x = r.random()
    if x < 0.30:
        return r.randint(200, 600)
    if x < 0.75:
        return r.randint(600, 1500)
    return r.randint(1500, 3000)


def clamp(text: str, lo: int = 200, hi: int = 3000) -> str:
    if len(text) > hi:
        cut = text.rfind("\n", 0, hi)
        if cut < lo:
            cut = text.rfind(" ", 0, hi)
        text = text[:cut].rstrip()
    return text


def make_people(r: random.Random, n_addr: int, domains: list[str]):
    """Deterministic list of (display_name, address, domain)."""
    people, seen = [], set()
    # Assign each domain a local-part style and a few people.
    styles = ["first.last", "flast", "first", "first_last", "firstl", "last.first"]
    dom_style = {d: styles[i % len(styles)] for i, d in enumerate(domains)}
    attempts = 0
    while len(people) < n_addr and attempts < n_addr * 50:
        attempts += 1
        non_ascii = r.random() < 0.12
        first = r.choice(FIRST_NONASCII if non_ascii and r.random() < 0.6 else FIRST)
        last = r.choice(LAST_NONASCII if non_ascii and r.random() < 0.7 else LAST)
        dom = (
            domains[min(len(domains) - 1, int(r.paretovariate(1.1)) - 1)]
            if r.random() < 0.5
            else r.choice(domains)
        )
        style = dom_style[dom]
        fa = ascii_fold(first).lower()
        la = ascii_fold(last).lower()
        local = {
            "first.last": f"{fa}.{la}",
            "flast": f"{fa[0]}{la}",
            "first": fa,
            "first_last": f"{fa}_{la}",
            "firstl": f"{fa}{la[0]}",
            "last.first": f"{la}.{fa}",
        }[style]
        if dom in FREEMAIL and r.random() < 0.5:
            local += str(r.randint(1, 99))
        addr = f"{local}@{dom}"
        if addr in seen:
            continue
        seen.add(addr)
        display = f"{first} {last}" if r.random() < 0.9 else ""
        people.append((display, addr, dom))
    return people


_FOLD = str.maketrans(
    {
        "é": "e",
        "ë": "e",
        "ç": "c",
        "ü": "u",
        "ø": "o",
        "Å": "A",
        "ö": "o",
        "Ó": "O",
        "ł": "l",
        "ó": "o",
        "ń": "n",
        "Ł": "L",
        "Ç": "C",
        "ê": "e",
        "ô": "o",
        "Š": "S",
        "ů": "u",
        "Á": "A",
        "ß": "ss",
        "á": "a",
        "ú": "u",
        "í": "i",
        "Ö": "O",
        "å": "a",
        "ę": "e",
        "Ø": "O",
        "ñ": "n",
        "Ž": "Z",
        "ž": "z",
        "Ü": "U",
        "ä": "a",
        "Ä": "A",
    }
)


def ascii_fold(s: str) -> str:
    s = s.translate(_FOLD)
    return s.encode("ascii", "ignore").decode() or "user"


def body_to_html(paragraphs: list[str], sig_lines: list[str]) -> str:
    ps = []
    for p in paragraphs:
        if p.startswith("> ") or (p.startswith("On ") and p.endswith("wrote:")):
            continue
        ps.append("<p>" + html.escape(p).replace("\n", "<br>\n") + "</p>")
    sig = "<br>\n".join(html.escape(s) for s in sig_lines)
    return (
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; '
        'charset=utf-8">\n<style>p{margin:0 0 1em 0} .sig{color:#555;font-size:12px}'
        '</style>\n</head>\n<body>\n<div dir="ltr">\n'
        + "\n".join(ps)
        + f'\n<div class="sig">{sig}</div>\n</div>\n</body>\n</html>\n'
    )


def wrap(text: str, width: int = 72) -> str:
    out = []
    for para in text.split("\n"):
        if len(para) <= width or para.startswith(">") or para[:4].isdigit():  # keep log lines
            out.append(para)
        else:
            out.extend(textwrap.wrap(para, width=width, break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


def make_log(r: random.Random, ctx: Ctx, size: int) -> str:
    t = datetime(2024, 3, 1, r.randint(0, 23), r.randint(0, 59), r.randint(0, 59))
    lines, total = [], 0
    while total < size:
        t += timedelta(milliseconds=r.randint(5, 4000))
        msg = ctx.fill(
            r.choice(LOG_MSGS),
            pid=r.randint(1000, 65000),
            ms=r.randint(20, 900),
            n=r.randint(1, 40),
            m=r.randint(40, 200),
            kb=r.randint(64, 4096),
            secs=r.choice([1, 2, 4, 8, 16]),
        )
        line = (
            f"{t:%Y-%m-%d %H:%M:%S},{t.microsecond // 1000:03d} {r.choice(LOG_LEVELS):5s} "
            f"[{r.choice(['main', 'sync-1', 'sync-2', 'http', 'auth'])}] {msg}"
        )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# Main generation
# --------------------------------------------------------------------------
def generate(
    out_dir: str,
    n: int,
    seed: int,
    slug: str,
    to_addr: str,
    to_name: str,
    reply_rate: float,
    n_addr: int,
    n_dom: int,
    crlf: bool,
    manifest_path: str | None,
    legacy_8bit: bool = False,
):
    r = random.Random(seed)
    ctx = Ctx(r)
    domains = DOMAINS[:n_dom]
    people = make_people(r, n_addr, domains)
    # Zipf-like weights: a few frequent customers, a long tail
    weights = [1.0 / (i + 1) ** 0.6 for i in range(len(people))]
    r.shuffle(people)
    tz_of_domain = {d: r.choice([-8, -7, -5, -4, 0, 0, 1, 1, 2, 3, 5.5, 8, 9, 10]) for d in domains}

    os.makedirs(out_dir, exist_ok=True)
    pol = policy.default.clone(linesep="\r\n" if crlf else "\n")
    t = datetime(2024, 3, 4, 7, 30, 0, tzinfo=UTC)
    threads = []  # dict(ticket, root_subject, sender idx, msgs=[msgid...], closed)
    manifest = []
    digest = hashlib.sha256()

    for seq in range(1, n + 1):
        # working-hours-ish arrival process: mean gap ~20 min, quieter nights
        gap = r.expovariate(1 / 1200)
        if not (7 <= t.hour < 19):
            gap *= 3
        t += timedelta(seconds=max(5, int(gap)))

        is_reply = bool(threads) and r.random() < reply_rate
        if is_reply:
            # favour recent threads
            k = len(threads) - 1 - min(len(threads) - 1, int(r.expovariate(1 / 25)))
            th = threads[k]
            if r.random() < 0.85:
                pidx = th["sender"]
            else:  # a colleague from the same domain, else the original sender
                dom = people[th["sender"]][2]
                same = [i for i, p in enumerate(people) if p[2] == dom]
                pidx = r.choice(same)
        else:
            pidx = r.choices(range(len(people)), weights=weights)[0]
        display, addr, dom = people[pidx]
        tzh = tz_of_domain[dom]
        local_t = t.astimezone(timezone(timedelta(hours=tzh)))

        msg = EmailMessage(policy=pol)
        # --- trace headers -------------------------------------------------
        relay_ip = f"{r.choice(['192.0.2', '198.51.100', '203.0.113'])}.{r.randint(1, 254)}"
        mx = f"mx{r.randint(1, 4)}.helpdesk.example"
        msg["Return-Path"] = f"<{addr}>"
        msg["Received"] = (
            f"from mail.{dom} (mail.{dom} [{relay_ip}]) by {mx} with ESMTPS id "
            f"{r.getrandbits(40):010X} for <{to_addr}>; "
            f"{format_datetime(t + timedelta(seconds=r.randint(1, 20)))}"
        )
        if r.random() < 0.6:
            msg["Received"] = (
                f"from [10.{r.randint(0, 255)}.{r.randint(0, 255)}."
                f"{r.randint(1, 254)}] by mail.{dom} with ESMTPSA; "
                f"{format_datetime(local_t)}"
            )
        if dom not in FREEMAIL and r.random() < 0.5:
            b64 = "".join(
                r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                for _ in range(172)
            )
            msg["DKIM-Signature"] = (
                f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom}; "
                f"s=sel{r.randint(1, 3)}; h=from:to:subject:date:message-id; "
                f"bh={b64[:43]}=; b={b64}"
            )
        # --- addressing ------------------------------------------------------
        msg["From"] = Address(display_name=display, addr_spec=addr)
        msg["To"] = Address(display_name=to_name, addr_spec=to_addr)
        cc = None
        if r.random() < 0.08:
            same = [p for p in people if p[2] == dom and p[1] != addr]
            if same:
                c = r.choice(same)
                cc = c[1]
                msg["Cc"] = Address(display_name=c[0], addr_spec=c[1])

        # --- subject / threading --------------------------------------------
        in_reply_to, refs, ticket_ref, irt_in_corpus = None, [], None, None
        if is_reply:
            ticket_ref = th["ticket"]
            base = th["root_subject"]
            style = r.random()
            if style < 0.65:
                subject = f"Re: [{slug}-{ticket_ref}] {base}"
            elif style < 0.85:
                subject = f"[{slug}-{ticket_ref}] Re: {base}"
            elif style < 0.95:
                subject = f"RE: [{slug}-{ticket_ref}] {base}"
            else:
                subject = f"AW: [{slug}-{ticket_ref}] {base}"
            if r.random() < 0.70:
                in_reply_to = th["msgs"][-1]
                irt_in_corpus = True
                refs = th["msgs"][-10:]
            else:
                in_reply_to = f"<{r.getrandbits(64):016x}.{ticket_ref}@helpdesk.example>"
                irt_in_corpus = False
                refs = [*th["msgs"][-9:], in_reply_to]
            thread_no = ticket_ref
        else:
            pool = SUBJECTS_NONASCII if r.random() < 0.05 else SUBJECTS
            subject = ctx.fill(r.choice(pool))
            thread_no = len(threads) + 1
        msg["Subject"] = subject
        msg["Date"] = format_datetime(local_t)
        mid_host = f"mail.{dom}" if dom not in FREEMAIL else dom
        message_id = f"<{r.getrandbits(64):016x}.{r.getrandbits(32):08x}@{mid_host}>"
        msg["Message-ID"] = message_id
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = " ".join(refs)
        mailer = r.choice(MAILERS)
        if mailer:
            msg[mailer[0]] = mailer[1]
        if r.random() < 0.04:
            msg["Importance"] = r.choice(["high", "High"])
            msg["X-Priority"] = "1"

        # --- body ------------------------------------------------------------
        target = pick_len(r)
        name_first = display.split(" ")[0] if display else addr.split("@")[0]
        title = r.choice(TITLES)
        company = dom.split(".")[0].replace("-", " ").title()
        sig = [display or addr]
        if title:
            sig.append(title)
        if dom not in FREEMAIL:
            sig.append(company)
            if r.random() < 0.5:
                sig.append(f"Phone: +1 555 {r.randint(100, 999)} {r.randint(1000, 9999)}")
        paras = [r.choice(GREETINGS)]
        if is_reply:
            paras.append(ctx.fill(r.choice(REPLY_OPENERS)))
        paras.append(ctx.fill(r.choice(DESCRIBE)))
        non_ascii_body = r.random() < 0.08
        body_pool = []
        had_log = False
        while sum(len(p) + 2 for p in paras) < target * 0.8:
            if not had_log and r.random() < 0.1:
                # an inline log excerpt (at most one per message)
                paras.append(make_log(r, ctx, r.randint(150, 450)).rstrip())
                had_log = True
            else:
                sents = []
                for _ in range(r.randint(1, 3)):
                    if not body_pool:  # draw without replacement, refill when empty
                        body_pool = DETAILS + IMPACT + DESCRIBE
                        r.shuffle(body_pool)
                    sents.append(ctx.fill(body_pool.pop()))
                paras.append(" ".join(sents))
        if non_ascii_body:
            paras.append(r.choice(NONASCII_LINES))
        paras.append(r.choice(CLOSINGS) + "\n" + name_first)
        if dom not in FREEMAIL and r.random() < 0.15:
            paras.append("--\n" + "\n".join(sig) + "\n\n" + DISCLAIMER)
        elif r.random() < 0.6:
            paras.append("--\n" + "\n".join(sig))
        new_text = "\n\n".join(paras)
        quote = ""
        if is_reply and r.random() < 0.8:
            prev = th["last_text"]
            prev_when = th["last_date"]
            qlines = ["> " + ln if ln else ">" for ln in prev.split("\n")]
            quote = f"\n\nOn {prev_when}, {th['last_from']} wrote:\n" + "\n".join(qlines)
        text = clamp(new_text + quote)
        if len(text) < 200:
            text = text + "\n\n" + clamp(DISCLAIMER, 0, 400)
        wrap_it = r.random() < 0.6
        if wrap_it:
            text = wrap(text)
        non_ascii = any(ord(c) > 127 for c in text)
        long_lines = any(len(ln) > 78 for ln in text.split("\n"))
        if not non_ascii:
            charset = r.choice(["utf-8", "utf-8", "us-ascii"])
            cte = "quoted-printable" if long_lines else "7bit"
        else:
            latin1_ok = True
            try:
                text.encode("iso-8859-1")
            except UnicodeEncodeError:
                latin1_ok = False
            charset = "iso-8859-1" if latin1_ok and r.random() < 0.2 else "utf-8"
            cte = r.choices(["quoted-printable", "8bit", "base64"], [0.6, 0.25, 0.15])[0]
            if charset == "iso-8859-1" and cte == "8bit" and not legacy_8bit:
                # raw 8-bit Latin-1 is not valid UTF-8; only with --legacy-8bit-latin1
                cte = "quoted-printable"
        msg.set_content(text, charset=charset, cte=cte)
        alternative = r.random() < 0.45
        if alternative:
            html_body = body_to_html(new_text.split("\n\n"), sig)
            msg.add_alternative(
                html_body,
                subtype="html",
                charset="utf-8",
                cte=r.choice(["quoted-printable", "quoted-printable", "base64"]),
            )
        attach_name = None
        if r.random() < 0.12:
            kind = r.random()
            size = r.randint(1024, 6144)
            logtxt = make_log(r, ctx, size)
            if kind < 0.5:
                attach_name = r.choice(
                    ["sync.log", "client.log", "error.log", "install.log", f"acme-{local_t:%Y%m%d}.log"]
                )
                msg.add_attachment(
                    logtxt.encode(), maintype="application", subtype="octet-stream", filename=attach_name
                )
            else:
                attach_name = r.choice(
                    [
                        "diagnostics.txt",
                        "config.txt",
                        "steps-to-reproduce.txt",
                        "output.txt",
                        "error-details.txt",
                    ]
                )
                msg.add_attachment(
                    logtxt,
                    subtype="plain",
                    filename=attach_name,
                    cte=r.choice(["7bit", "base64"])
                    if all(len(ln) <= 78 for ln in logtxt.split("\n"))
                    else "base64",
                )
        # deterministic MIME boundaries (the email package would use the global RNG)
        for part in msg.walk():
            if part.is_multipart():
                part.set_boundary(f"----=_Part_{r.getrandbits(64):016x}_{seq}")
        data = msg.as_bytes(policy=pol)
        fname = f"msg-{seq:06d}.eml"
        with open(os.path.join(out_dir, fname), "wb") as fh:
            fh.write(data)
        digest.update(fname.encode() + b"\0" + data)

        # --- bookkeeping -----------------------------------------------------
        if is_reply:
            th["msgs"].append(message_id)
        else:
            th = {"ticket": thread_no, "root_subject": subject, "sender": pidx, "msgs": [message_id]}
            threads.append(th)
        th["last_text"] = (wrap(new_text) if wrap_it else new_text)[:700]
        th["last_date"] = format_datetime(local_t)
        th["last_from"] = str(msg["From"])
        manifest.append(
            {
                "file": fname,
                "seq": seq,
                "message_id": message_id,
                "date": msg["Date"],
                "from": addr,
                "to": to_addr,
                "cc": cc,
                "subject": subject,
                "thread": thread_no,
                "is_reply": is_reply,
                "in_reply_to": in_reply_to,
                "in_reply_to_in_corpus": irt_in_corpus,
                "references": refs or None,
                "ticket_ref": ticket_ref,
                "multipart_alternative": alternative,
                "attachment": attach_name,
                "body_chars": len(text),
                "non_ascii": non_ascii,
                "text_cte": cte,
                "charset": charset,
                "bytes": len(data),
            }
        )

    mpath = manifest_path or os.path.normpath(out_dir) + ".manifest.jsonl"
    with open(mpath, "w", encoding="utf-8") as fh:
        for m in manifest:
            fh.write(json.dumps(m, ensure_ascii=False, sort_keys=True) + "\n")
    return manifest, digest.hexdigest(), len(threads)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("-n", "--count", type=int, default=2000, help="number of messages (2000)")
    ap.add_argument("--seed", type=int, default=1, help="RNG seed (1)")
    ap.add_argument(
        "--queue-slug", default="support", help="queue slug used in ticket references [slug-ID] (support)"
    )
    ap.add_argument("--to", default="support@helpdesk.example", help="helpdesk address")
    ap.add_argument("--to-name", default="Acme Support", help="helpdesk display name")
    ap.add_argument("--reply-rate", type=float, default=0.20)
    ap.add_argument("--addresses", type=int, default=350, help="distinct sender addresses")
    ap.add_argument("--domains", type=int, default=30, help="sender domains (<= 30)")
    ap.add_argument("--crlf", action="store_true", help="CRLF line endings (default LF)")
    ap.add_argument(
        "--legacy-8bit-latin1",
        action="store_true",
        help="send the ~0.5%% ISO-8859-1 bodies that drew '8bit' as raw 8-bit "
        "Latin-1 (files that are not valid UTF-8) instead of "
        "quoted-printable; a robustness test, off by default",
    )
    ap.add_argument(
        "--manifest", default=None, help="manifest path (default: OUT_DIR.manifest.jsonl, beside OUT_DIR)"
    )
    a = ap.parse_args(argv)
    if not 1 <= a.domains <= len(DOMAINS):
        ap.error(f"--domains must be 1..{len(DOMAINS)}")
    man, digest, n_threads = generate(
        a.out_dir,
        a.count,
        a.seed,
        a.queue_slug,
        a.to,
        a.to_name,
        a.reply_rate,
        a.addresses,
        a.domains,
        a.crlf,
        a.manifest,
        a.legacy_8bit_latin1,
    )
    n = len(man)
    replies = sum(m["is_reply"] for m in man)
    stats = {
        "messages": n,
        "threads(new tickets expected)": n_threads,
        "replies": replies,
        "replies_in_reply_to_in_corpus": sum(1 for m in man if m["in_reply_to_in_corpus"]),
        "distinct_senders": len({m["from"] for m in man}),
        "distinct_domains": len({m["from"].split("@")[1] for m in man}),
        "multipart_alternative": sum(m["multipart_alternative"] for m in man),
        "with_attachment": sum(1 for m in man if m["attachment"]),
        "body_chars_min": min(m["body_chars"] for m in man),
        "body_chars_max": max(m["body_chars"] for m in man),
        "body_chars_mean": round(sum(m["body_chars"] for m in man) / n),
        "total_bytes": sum(m["bytes"] for m in man),
        "not_valid_utf8_files": sum(
            1 for m in man if m["charset"] == "iso-8859-1" and m["text_cte"] == "8bit"
        ),
        "sha256": digest,
    }
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    sys.exit(main())
