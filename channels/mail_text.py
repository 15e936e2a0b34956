"""The sender's own words: HTML to text, and the new text split from the quoted conversation.

`split_reply` separates what the sender wrote now from the earlier conversation
they quoted. It classifies each line (text, quote, attribution such as
"On ... wrote:", Outlook header block, separator, mobile signature, empty) and
decides on that sequence of kinds, the way discourse/email_reply_trimmer does,
with its own patterns for the common clients in a dozen languages:

- top-posting: everything from the first attribution, separator
  ("-----Original Message-----", "Forwarded message") or Outlook
  "From:/Sent:/To:/Subject:" block below the new text is quoted;
- bottom-posting and inline replies: quote blocks followed by the sender's
  answers stay in the text (they are the context of the answers); their
  attribution lines and a trailing quote block go to `quoted`;
- a message that is only a forward keeps the forwarded text as the new text
  (the customer forwarded it because it is the request).

Maintained libraries were measured first, on the 64 discourse truth files (exact
match after whitespace normalisation) on this 2-core machine: email-reply-parser
0.5.12 28/64 at 16,850 bodies/s (English only, unmaintained since 2020),
mail-parser-reply 1.36 19/64 at 559 bodies/s, quotequail 0.5.4 8/64 at 1,550/s.
This splitter: 63/64 (the miss is explained in the corpus test's allow-list), and
on the benchmark corpus about 20 us for a plain body and 100 us for a reply.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Final

# --- HTML -------------------------------------------------------------------------------------

_HTML_LIMIT: Final = 1_000_000  # characters of HTML converted; the rest is noted as a defect
# inscriptis lays text out well (blocks, lists, tables) but costs about 2 s per MB here; beyond
# this size a linear regex reading does a plainer job instead. (selectolax/lexbor was measured
# too: 5x faster than inscriptis on normal mail, but 35 s on 100,000 nested <div>s.)
_INSCRIPTIS_LIMIT: Final = 100_000


def html_to_text(html: str, limit: int = _HTML_LIMIT) -> str:
    """Readable text from an HTML body, with a marker line before the first quoted block.

    Measured on the benchmark corpus's HTML parts: inscriptis 2,500-3,000 documents/s
    with proper block layout; selectolax (lexbor) 12,500/s but it breaks lines at every
    inline element and is quadratic on deep nesting. HTML is converted only when a message
    has no text part, so layout wins for normal sizes and a linear pass for huge ones.
    """
    if len(html) > limit:
        html = html[:limit]
    html = _mark_html_quotes(html)
    text = _inscriptis(html) if len(html) <= _INSCRIPTIS_LIMIT else _tags_stripped(html)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _inscriptis(html: str) -> str:
    from inscriptis import get_text  # imported on first use: most mail has a text part
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    try:
        text: str = get_text(html, ParserConfig(css=CSS_PROFILES["strict"], display_links=False))
    except Exception:  # lxml refuses some documents outright (e.g. empty); then the plain way
        return _tags_stripped(html)
    return text


# Every pattern here is linear: "[^<>]" stops at the next "<", so a run of "<" without ">"
# cannot make the engine rescan the rest of the document for each one.
_INVISIBLE = re.compile(r"<!--|<(script|style|head|title)\b", re.IGNORECASE)
_BLOCK = re.compile(
    r"<(?:/?(?:p|div|li|ul|ol|tr|table|h[1-6]|blockquote|pre|section|article)\b|br\b)[^<>]*>", re.I
)
_TAG = re.compile(r"<[^<>]*>")
_BLANKS = re.compile(r"[ \t\r\f\v]+")


def _tags_stripped(html: str) -> str:
    """A linear, regex-only reading of a huge or unparseable HTML body: block tags become line breaks."""
    html = _drop_invisible(html)
    last_open = html.rfind("<")
    if last_open > html.rfind(">"):
        html = html[:last_open]  # a tag cut off by the size limit
    text = _TAG.sub("", _BLOCK.sub("\n", html))
    return _BLANKS.sub(" ", unescape(text))


def _drop_invisible(html: str) -> str:
    """Remove comments and script/style/head/title elements; an unclosed one swallows the rest."""
    low = html.lower()
    out: list[str] = []
    pos = 0
    while True:
        match = _INVISIBLE.search(html, pos)
        if match is None:
            out.append(html[pos:])
            break
        out.append(html[pos : match.start()])
        if match.group(1) is None:
            close = low.find("-->", match.end())
            if close < 0:
                break
            pos = close + 3
        else:
            close = low.find(f"</{match.group(1).lower()}", match.end())
            if close < 0:
                break
            end = low.find(">", close)
            pos = end + 1 if end >= 0 else len(html)
    return "".join(out)


# Quote containers that mail clients put in HTML. In text they would lose their ">"
# prefix, so a marker line is placed before each one for split_reply to find.
QUOTE_MARK: Final = "\u2063QUOTED\u2063"
_HTML_QUOTE_START = re.compile(
    r"""<(?:div|blockquote)\b[^>]*?(?:class\s*=\s*["']?[^"'>]*\b(?:gmail_quote|moz-cite-prefix|yahoo_quoted|"""
    r"""protonmail_quote|OutlookMessageHeader)\b|type\s*=\s*["']?cite\b|id\s*=\s*["']?(?:divRplyFwdMsg|"""
    r"""appendonsend|OLK_SRC_BODY_SECTION|reply-intro)\b)[^>]*>"""
    r"""|<hr\b[^>]*id\s*=\s*["']?(?:zwchr|stopSpelling)\b[^>]*>""",
    re.IGNORECASE,
)


def _mark_html_quotes(html: str) -> str:
    match = _HTML_QUOTE_START.search(html)
    if match is None:
        return html
    return f"{html[: match.start()]}<p>{QUOTE_MARK}</p>{html[match.start() :]}"


# --- line kinds -------------------------------------------------------------------------------

_EMPTY, _TEXT, _QUOTE, _DELIM, _ATTRIB, _SEPARATOR, _HEADER, _MOBILE = "etqdbshm"

_WROTE = (
    r"(?:wrote|writes|schrieb|a\s+écrit|escribió|ha\s+scritto|escreveu|schreef|het\s+volgende\s+geschreven|"
    r"napisał(?:\(a\))?|napsal(?:\(a\))?|skrev|kirjoitti|написал(?:\(а\)|а)?|пише|írta|yazdı|"
    r"写道|寫道|のメッセージ|が書きました)"
)
_EMAIL = r"<\s*(?:mailto:)?[^<>\s@]+@[^<>\s]+\s*>"
_ATTRIBUTION_FORMS = (
    # On <date>, <someone> wrote:  (and the same opening words in other languages)
    r"(?:On|Am|Le|El|Il|Em|Op|Dnia|W\s+dniu|Den|Dne|Dana|At|Kl\.|\d{1,4}[./-]\d{1,2}[./-]\d{1,4})\b.{3,300}?"
    + _WROTE
    + r"(?:.{0,160}?[:：])?",
    # <someone> <address> wrote:
    r"[^<>]{0,200}" + _EMAIL + r"\s*" + _WROTE + r"(?:.{0,160}?[:：])?",
    # someone via Something wrote:
    r"[^<>]{1,120}?\svia\s.{1,120}\s" + _WROTE + r"[:：]?",
    # 2015-10-18 0:17 GMT+03:00 Someone <someone@example.com>:
    r"[^<>]{0,120}?\d{4}[^<>]{0,120}" + _EMAIL + r"\s*[:：]",
    # 2013/7/20 someone <someone@example.com>
    r"(?:\d{4}[./-]\d{1,2}[./-]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4})\b[^<>]{0,120}" + _EMAIL,
    # 2016-03-03 17:21 GMT+01:00 Someone
    r"\d{4}-\d\d-\d\d\s+\d{1,2}:\d\d\s+GMT[+-]\d\d:\d\d\s+[\w\s.'-]{1,80}",
    # суббота, 14 марта 2015 г. пользователь Someone написал:
    r"[^:：]{0,120}?пользователь.{1,200}?написал.{0,10}[:：]",
    # Posted by someone on 01/21/2016
    r"Posted\s+by\s.{1,100}\son\s\d{1,2}/\d{1,2}/\d{2,4}",
)
_ATTRIBUTION = re.compile(r"[-*\s]*(?:" + "|".join(_ATTRIBUTION_FORMS) + r")\s*-*\s*", re.IGNORECASE)
# Opening words of an attribution that may be wrapped over several lines.
_ATTRIBUTION_OPENER = re.compile(
    r"[-*\s]*(?:On|Am|Le|El|Il|Em|Op|Dnia|W\s+dniu|Den|Dne|At)\s|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
    r"|.*(?:<\s*|" + _EMAIL + r"\s*|[\w.-]+@[\w-]+\.[\w.-]+>?|пользователь.*)$|.*" + _EMAIL + r"\s*" + _WROTE,
    re.IGNORECASE,
)
_LINE_END_CUE = re.compile(r"[:：>*-][ \t\r]*$", re.MULTILINE)
_OPENING_WORD = re.compile(r"(?:On|Am|Le|El|Il|Em|Op|Dnia|W\s+dniu|Den|Dne|At)\s", re.IGNORECASE)
_SEPARATOR_RE = re.compile(
    r"\**[-=_*\s]*(?:"
    r"-{2,}\s*(?:Original\s+Message|Forwarded\s+Message|Ursprüngliche\s+Nachricht|Weitergeleitete\s+Nachricht|"
    r"Originalnachricht|Message\s+d'origine|Message\s+original|Message\s+transféré|Mensaje\s+original|"
    r"Mensaje\s+reenviado|Messaggio\s+originale|Messaggio\s+inoltrato|Oorspronkelijk\s+bericht|"
    r"Origineel\s+bericht|Doorgestuurd\s+bericht|Originalmeddelande|Vidarebefordrat\s+meddelande|"
    r"Oprindelig\s+meddelelse|Oprindelig\s+besked|Videresendt\s+meddelelse|Videresendt\s+besked|"
    r"Opprinnelig\s+melding|Videresendt\s+melding|Ursprungligt\s+meddelande|Orijinal\s+mesaj|"
    r"Original\s+melding|Original\s+meddelelse|Originalt\s+meddelande|"
    r"Wiadomość\s+oryginalna|Oryginalna\s+wiadomość|Przekazana\s+wiadomość|Исходное\s+сообщение|"
    r"Пересылаемое\s+сообщение|Пересланное\s+сообщение|Mensagem\s+original|Mensagem\s+encaminhada|"
    r"Původní\s+zpráva|Přeposlaná\s+zpráva|Alkuperäinen\s+viesti|Eredeti\s+üzenet|原始邮件|原始郵件|"
    r"转发的邮件|転送されたメッセージ|元のメッセージ)\s*-*"
    r"|(?:Begin\s+forwarded\s+message|Anfang\s+der\s+weitergeleiteten\s+Nachricht|"
    r"Début\s+du\s+message\s+réexpédié|Inicio\s+del\s+mensaje\s+reenviado|Reply\s+message)\s*:?"
    r")\s*\**",
    re.IGNORECASE,
)
_HEADER_NAMES = (
    r"From|Sent|To|Cc|Bcc|Subject|Date|Reply-To|De|Envoyé|Envoyé\s+le|À|A|Objet|Cc|Von|Gesendet|An|Betreff|"
    r"Datum|Van|Verzonden|Aan|Onderwerp|Da|Inviato|Oggetto|Data|Para|Enviado|Enviada\s+em|Asunto|Assunto|"
    r"Fecha|Från|Skickat|Till|Ämne|Fra|Sendt|Til|Emne|Od|Wysłano|Do|Temat|От|Отправлено|Дата|Кому|Копия|"
    r"Тема|发件人|发送时间|收件人|抄送|主题|寄件者|寄件日期|收件者|主旨|差出人|送信日時|宛先|件名|"
    r"Lähettäjä|Lähetetty|Vastaanottaja|Aihe|Odesláno|Komu|Předmět|Feladó|Elküldve|Címzett|Tárgy"
)
_DELIM_RE = re.compile(r"[-_=+~#*\u1427\u2014\u2013]{2,}|--\s*")
_MOBILE_RE = re.compile(
    r"[(<]*(?:sent\s+(?:from|via|with|by)\s.+|\w+\s+from\s+mobile|from\s+my\s.{1,20}|"
    r"Envoyé\s+(?:depuis|de)\s+mon\s.+|Von\s+meinem\s.+\s+gesendet|Diese\s+Nachricht\s+wurde\s+von\s.+\s+gesendet\.?|"
    r"Enviado\s+desde\s+mi\s.+|Inviato\s+da\s.+|Verzonden\s+(?:met|vanaf)\s.+|Skickat\s+från\s.+|Sendt\s+fra\s.+|"
    r"Wysłane\s+z\s.+|Отправлено\s+с\s.+|從我的\s*iPhone\s*傳送|发自我的\s*iPhone|iPhoneから送信|"
    r"Get\s+(?:\[?Outlook\s+for\s+(?:iOS|Android)).*)[)>]*",
    re.IGNORECASE,
)
_QUOTE_RE = re.compile(r"[ \t]*(?:>|[A-Z]{1,3}>(?:\s|$))")
_HEADER_NAME_SET = frozenset(name.replace(r"\s+", " ").lower() for name in _HEADER_NAMES.split("|"))
_FROM_LIKE_SET = frozenset(
    [
        "from",
        "de",
        "von",
        "van",
        "da",
        "od",
        "от",
        "fra",
        "från",
        "发件人",
        "寄件者",
        "差出人",
        "lähettäjä",
        "feladó",
        "sent",
        "date",
        "datum",
        "envoyé",
        "gesendet",
        "enviado",
        "data",
        "fecha",
    ]
)
_DELIM_START = frozenset("-_=+~#*\u2014\u2013\u1427")

# Cheap structural cues that decide whether a line is worth the (slow) attribution and separator
# patterns: every attribution and separator line ends with one of these characters, starts with
# a delimiter or one of a few letters (Begin forwarded, Reply message, Posted by, Anfang der,
# Début du, Inicio del), or carries an address or a GMT offset.
_CUE_END = frozenset(":：>-*")


# Every attribution form carries one of these; without any, no wrapped attribution needs joining.
_JOIN_HINTS = (
    "@", "GMT", "wrote", "writes", "schrieb", "écrit", "escribió", "scritto", "escreveu", "schreef",
    "geschreven", "napisa", "napsal", "skrev", "kirjoitti", "написал", "пише", "írta", "yazdı",
    "写道", "寫道", "のメッセージ", "が書きました",
)  # fmt: skip
_CUE_START = (
    "begin forwarded",
    "reply message",
    "posted by",
    "anfang der",
    "début du",
    "inicio del",
    QUOTE_MARK,
)
_MOBILE_INITIALS = frozenset(
    "sSeEvVdDiIwWоОgGfF從发(<" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_MOBILE_STARTS = (
    "sent ", "envoy", "von meinem", "diese nachricht", "enviado", "inviato", "verzonden", "skickat", "sendt",
    "wysłane", "отправлено", "從我的", "发自我的", "get outlook", "get [outlook", "from my", "iphoneから",
)  # fmt: skip


def _kind(line: str) -> str:
    """The kind of one line. Ordinary text must be cheap: most lines of most mail are just that."""
    s = line.strip()
    if not s:
        return _EMPTY
    first = s[0]
    if first == ">" or (">" in s[:4] and _QUOTE_RE.match(line)):
        return _QUOTE
    if (
        first in _DELIM_START
        or s[-1] in _CUE_END
        or "@" in s
        or "GMT" in s
        or (first in "BbRrPpAaDdIi\u2063" and s[:20].lower().startswith(_CUE_START))
    ):
        if s == "\u1427":  # the invisible tracking mark some Gmail add-ons append
            return _EMPTY
        if first in _DELIM_START and _DELIM_RE.fullmatch(s):
            return _DELIM
        if s == QUOTE_MARK or _SEPARATOR_RE.fullmatch(s):
            return _SEPARATOR
        if len(s) <= 400 and _ATTRIBUTION.fullmatch(s):
            return _ATTRIB
    colon = s.find(":", 0, 40)
    if colon > 0 or "：" in s:
        if colon < 0:
            colon = s.find("：", 0, 40)
        if colon > 0 and s[:colon].strip(" *").lower() in _HEADER_NAME_SET and s[colon + 1 :].strip(" *"):
            return _HEADER
    if len(s) <= 120 and first in _MOBILE_INITIALS:
        low = s[:24].lower().lstrip("(<")
        if (low.startswith(_MOBILE_STARTS) or "from mobile" in s.lower()) and _MOBILE_RE.fullmatch(s):
            return _MOBILE
    return _TEXT


def _classify(lines: list[str], text: str = "") -> list[str]:
    text = text or "\n".join(lines)
    # A trailing block of ">" lines (the commonest reply shape) needs no closer look.
    tail = len(lines)
    while tail > 0 and (not lines[tail - 1].strip() or lines[tail - 1].lstrip()[:1] == ">"):
        tail -= 1
    kinds = [_kind(line) for line in lines[:tail]]
    kinds += [_QUOTE if line.strip() else _EMPTY for line in lines[tail:]]
    if "```" in text:
        _unmark_code(lines, kinds)
    if not any(hint in text for hint in _JOIN_HINTS):
        return kinds
    # An attribution wrapped over several lines ("On Mon, ... Robert <r@x>\nwrote:"): tried only
    # upwards from a line that can end one (a "wrote" word, or a final colon or ">").
    i, last = 0, 0
    for match in _LINE_END_CUE.finditer(text):
        i += text.count("\n", last, match.start())
        last = match.start()
        line = lines[i]
        kind = kinds[i]
        if len(line) > 400 or (kind == _QUOTE and len(line) > 44):
            continue  # a wrapped attribution ends in a short "> wrote:" when it ends in a quote
        address_first = line.lstrip()[:1] == "<"
        if kind not in (_TEXT, _HEADER, _QUOTE) and not (kind == _ATTRIB and address_first):
            continue
        if line.rstrip(" \t\r-*")[-1:] not in (":", "：", ">") and "wrote" not in line:
            continue
        for start in range(max(0, i - 6), i + 1):
            if kinds[start] in (_TEXT, _HEADER) and (
                (_could_open(lines[start]) and _ATTRIBUTION_OPENER.match(lines[start]))
                or (start == i - 1 and address_first)
            ):
                # ... or the line right above an address that starts its own line ("Name\n<a@b> wrote:").
                _join_attribution(lines, kinds, start)
                if kinds[start] == _ATTRIB:
                    break
    return kinds


def _could_open(line: str) -> bool:
    """A cheap necessary condition for `_ATTRIBUTION_OPENER`, whose ".*" branches are costly."""
    head = line.lstrip(" \t-*")
    return (
        head[:1].isdigit()
        or _OPENING_WORD.match(head) is not None
        or "@" in line
        or line.rstrip().endswith("<")
        or "пользователь" in line
    )


def _join_attribution(lines: list[str], kinds: list[str], i: int) -> None:
    joined = lines[i].strip()
    taken = 0
    for j in range(i + 1, min(i + 7, len(lines))):
        if kinds[j] == _EMPTY:
            continue
        taken += 1
        part = lines[j].strip()
        if (
            kinds[j] not in (_TEXT, _QUOTE, _HEADER, _ATTRIB)
            or taken > 3
            or len(joined) > 300
            or (kinds[j] == _QUOTE and len(part) > 40)
            or _OPENING_WORD.match(part)
        ):
            return
        if part.startswith(">") and joined.count("<") > joined.count(">"):
            joined += part  # the ">" closes an address wrapped as "<someone@example.com\n>:"
        else:
            part = part.lstrip(">").strip()
            joined = f"{joined}{part}" if joined.endswith("<") else f"{joined} {part}"
        if _ATTRIBUTION.fullmatch(joined):
            for k in range(i, j + 1):
                kinds[k] = _ATTRIB
            return


def _unmark_code(lines: list[str], kinds: list[str]) -> None:
    """Lines inside a Markdown code fence are text, whatever they look like."""
    inside = False
    for i, line in enumerate(lines):
        if line.strip().startswith("```"):
            inside = not inside
            kinds[i] = _TEXT
        elif inside and kinds[i] != _EMPTY:
            kinds[i] = _TEXT


# --- the split ----------------------------------------------------------------------------------


_SPLIT_LIMIT: Final = 200_000  # characters examined; a longer body is split within its head only


def split_reply(text: str) -> tuple[str, str]:
    """(new text, quoted earlier conversation) of one plain-text body; see the module docstring."""
    if not text:
        return "", ""
    if len(text) > _SPLIT_LIMIT:
        # A giant body (a pasted log, a 700 KB quote): decide on its head, so the cost stays
        # bounded; what follows a split point found there is quoted too.
        cut = text.rfind("\n", 0, _SPLIT_LIMIT) + 1 or _SPLIT_LIMIT
        new, quoted = split_reply(text[:cut])
        return (new, f"{quoted}\n{text[cut:]}".strip("\n")) if quoted else (text.strip("\n"), "")
    if not _may_hold_quotes(text):
        return text.strip("\n"), ""
    lines = text.split("\n")
    kinds = _classify(lines, text)
    if _QUOTE not in kinds and _ATTRIB not in kinds and _SEPARATOR not in kinds and kinds.count(_HEADER) < 2:
        return text.strip("\n"), ""
    _mark_header_blocks(kinds, lines)
    new_idx, quoted_idx = _decide(kinds)
    if not any(kinds[i] in (_TEXT, _MOBILE, _DELIM, _QUOTE) for i in new_idx):
        # Nothing of the sender's own: keep the whole thing rather than an empty message.
        return text.replace(QUOTE_MARK, "").strip("\n"), ""
    new = "\n".join(lines[i] for i in new_idx if lines[i].strip() != QUOTE_MARK)
    quoted = "\n".join(lines[i] for i in quoted_idx if lines[i].strip() != QUOTE_MARK)
    return new.strip("\n"), quoted.strip("\n")


# Whole-text cues, each one a fast substring search: a text with none of them cannot contain a
# quote, an attribution, a separator or a header block, and skips the per-line work.
_QUOTE_LINE = re.compile(r"\n[ \t]*[A-Z]{0,3}>")
_DASH_WORD = re.compile(r"--+[ \t]*[^\s-]")
_HEADER_LINE = re.compile("\n[ \t*]*(?:" + "|".join(sorted(_FROM_LIKE_SET)) + r")\**[ \t]*[:：]")


def _may_hold_quotes(text: str) -> bool:
    """False when `text` cannot contain a quote, attribution, separator or header block.

    Each test is one substring search or one regex with a literal prefix; together they
    cost a fraction of classifying every line. Every attribution form ends its line with a
    colon, names an address in angle brackets, a GMT offset or "wrote"; every separator has
    dashes before a word or a run of underscores.
    """
    if ">" in text and (text[:1] == ">" or _QUOTE_LINE.search(text)):
        return True
    if ("<" in text and "@" in text) or "GMT" in text or "Posted by" in text or "__" in text:
        return True
    if ":\n" in text or ":\r\n" in text or ": \n" in text or "：" in text or text.rstrip().endswith(":"):
        return True
    if "--" in text and _DASH_WORD.search(text):
        return True
    low = text.lower()
    return "wrote" in low or _HEADER_LINE.search("\n" + low) is not None


def _mark_header_blocks(kinds: list[str], lines: list[str]) -> None:
    """Turn runs of Outlook-style header lines into one separator followed by header lines.

    A run needs three header lines (two right after a separator), blank lines
    allowed between them, and must open with From/Sent/Date or a translation.
    """
    n = len(kinds)
    i = 0
    while i < n:
        if (
            kinds[i] != _HEADER
            or lines[i].strip().split(":", 1)[0].split("：", 1)[0].strip(" *").lower() not in _FROM_LIKE_SET
        ):
            i += 1
            continue
        j, count, last = i, 0, i
        while j < n and kinds[j] in (_HEADER, _EMPTY, _TEXT):
            if kinds[j] == _HEADER:
                count += 1
                last = j
            elif kinds[j] == _TEXT:
                # A header value wrapped onto the next line ("Subject: a long\n  subject").
                if j != last + 1 or lines[j].strip() == "" or count == 0:
                    break
            elif j > last + 1:
                break
            j += 1
        prev = i - 1
        while prev >= 0 and kinds[prev] in (_EMPTY, _DELIM):
            prev -= 1
        after_separator = prev >= 0 and kinds[prev] in (_SEPARATOR, _ATTRIB)
        if count >= 3 or (count >= 2 and after_separator):
            for k in range(i, last + 1):
                if kinds[k] == _TEXT:
                    kinds[k] = _HEADER
            if not after_separator:
                kinds[i] = _SEPARATOR
            i = last + 1
        else:
            i += 1


def _decide(kinds: list[str]) -> tuple[list[int], list[int]]:
    n = len(kinds)
    markers = [i for i, k in enumerate(kinds) if k in (_ATTRIB, _SEPARATOR)]
    first_text = _first_of(kinds, _TEXT, 0)
    if first_text == n:
        return list(range(n)), []
    if markers and markers[0] > first_text:
        m = markers[0]
        if not (_is_quote_attribution(kinds, m) and _text_after_quote(kinds, m)):
            # Top-posting: the conversation starts at the marker (with the delimiter lines above it).
            cut = m
            while cut > 0 and kinds[cut - 1] in (_EMPTY, _DELIM):
                cut -= 1
            return list(range(cut)), list(range(cut, n))
    elif markers and markers[0] < first_text:
        m = markers[0]
        if not _is_quote_attribution(kinds, m):
            # A forward with no comment, or an attribution over unquoted text: the rest is the message.
            end = _block_end(kinds, m)
            new, quoted = _decide_rest(kinds, end)
            return new, list(range(end)) + quoted
        end = _block_end(kinds, m)
        if not any(kinds[i] == _QUOTE for i in range(end, _signature_start(kinds))):
            # Reply below a quote with its attribution, nothing quoted after it.
            return list(range(end, n)), list(range(end))
    return _inline(kinds)


def _decide_rest(kinds: list[str], start: int) -> tuple[list[int], list[int]]:
    """Decide on kinds[start:] as a message of its own; indices stay absolute."""
    if start >= len(kinds):
        return [], []
    new, quoted = _decide(kinds[start:])
    return [i + start for i in new], [i + start for i in quoted]


def _first_of(kinds: list[str], kind: str, start: int) -> int:
    for i in range(start, len(kinds)):
        if kinds[i] == kind:
            return i
    return len(kinds)


def _signature_start(kinds: list[str]) -> int:
    """Index of a delimiter line ("-- ", "____") after the last quote line, or len(kinds)."""
    last_quote = max((i for i, k in enumerate(kinds) if k == _QUOTE), default=-1)
    for i in range(last_quote + 1, len(kinds)):
        if kinds[i] == _DELIM:
            return i
    return len(kinds)


def _block_end(kinds: list[str], m: int) -> int:
    """Index after a marker and the header/empty/quote lines that belong to it."""
    j = m + 1
    while j < len(kinds) and kinds[j] in (_ATTRIB, _HEADER, _EMPTY, _QUOTE, _SEPARATOR, _DELIM):
        j += 1
    return j


def _is_quote_attribution(kinds: list[str], m: int) -> bool:
    if kinds[m] != _ATTRIB:
        return False
    j = m + 1
    while j < len(kinds) and kinds[j] in (_EMPTY, _ATTRIB):
        j += 1
    return j < len(kinds) and kinds[j] == _QUOTE


def _text_after_quote(kinds: list[str], m: int) -> bool:
    """Whether the sender wrote more below the quote that starts at `m` (a signature does not count)."""
    j = m + 1
    while j < len(kinds) and kinds[j] in (_EMPTY, _ATTRIB, _QUOTE):
        j += 1
    for k in kinds[j:]:
        if k == _DELIM:
            return False
        if k == _TEXT:
            return True
    return False


def _inline(kinds: list[str]) -> tuple[list[int], list[int]]:
    """Inline or bottom-posted reply: quotes stay as context, attributions and a trailing quote go."""
    n = len(kinds)
    quoted: set[int] = set()
    limit = _signature_start(kinds)
    # The trailing quote block: quote and empty lines after the last line of text (before a signature).
    last_text = max((i for i in range(limit) if kinds[i] in (_TEXT, _MOBILE)), default=-1)
    tail = range(last_text + 1, limit)
    if last_text >= 0 and any(kinds[i] == _QUOTE for i in tail):
        quoted.update(tail)
        # An attribution standing right above the trailing block belongs to it.
        i = last_text
        while i > 0 and kinds[i] in (_EMPTY, _ATTRIB, _SEPARATOR):
            i -= 1
    for i in range(n):
        if kinds[i] == _ATTRIB and _is_quote_attribution(kinds, i):
            quoted.add(i)
    new = [i for i in range(n) if i not in quoted]
    return new, sorted(quoted)


# --- signatures ------------------------------------------------------------------------------------


def strip_signature(text: str) -> tuple[str, str]:
    """(body, signature): the "-- " block and mobile "Sent from my ..." lines at the end.

    `parse` keeps signatures in `InboundMessage.text` (a phone number in one is
    worth having); this is for readers that want the bare message, such as the
    classifier.
    """
    lines = text.split("\n")
    kinds = _classify(lines)
    seen_text = False
    cut = len(lines)
    for i, kind in enumerate(kinds):
        if kind == _TEXT:
            seen_text = True
        elif kind == _DELIM and seen_text and len(lines) - i <= 25:
            cut = i
            break
    while cut > 0 and kinds[cut - 1] in (_EMPTY, _MOBILE):
        cut -= 1
    body_lines = [line for line, kind in zip(lines[:cut], kinds[:cut], strict=True) if kind != _MOBILE]
    return "\n".join(body_lines).strip("\n"), "\n".join(lines[cut:]).strip("\n")
