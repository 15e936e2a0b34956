"""Is a channel message small talk ("thanks!", "ok will try", a lone emoji) rather than a request?

A rule set, measured on bench/data/slack_smalltalk.jsonl (bench/bench_slack_smalltalk.py
prints precision and recall). A message is small talk when, after removing emoji,
mentions, links' absence and punctuation, what is left is only pleasantry words
of one of the languages below, and nothing in it reads as a problem (a question
mark, a negation, "still", "error" ...). It errs towards a ticket: a missed
request costs a breached SLA, a pleasantry that becomes a ticket costs a click.
"""

from __future__ import annotations

import re
import unicodedata

_SHORTCODE = re.compile(r":[a-z0-9_+\-']+:")
_MENTION = re.compile(r"<[@#!][^>]*>")
_LINK = re.compile(r"<https?://[^>]*>|https?://\S+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+", re.UNICODE)

# Pleasantry words and short phrases' words, many languages; lower case, accents kept.
_PLEASANT = frozenset(
    """
    thanks thank thx thnx tnx ty tyvm thankyou cheers ta much so very many lot a lots you again for the
    quick help helping reply response answer fast prompt support all your guys team folks everyone
    fantastic news on i'll we'll i’ll we’ll
    ok okay k kk okey oki okie alright allright right fine cool great awesome perfect excellent nice
    super brilliant wonderful lovely amazing appreciated appreciate it much noted understood
    got gotcha sure yes yep yeah yup no worries problem np sounds good works that this makes sense
    will try i we ll 'll try give shot do check test look into let know later tomorrow monday
    have good day weekend morning afternoon evening night hi hello hey hiya all there
    done confirmed confirm received receipt ack acknowledged sg lgtm ty+ 👍
    merci beaucoup bien reçu parfait super génial bonne journée d'accord accord ok je vais essayer
    danke schön vielen dank super alles klar prima perfekt gut wunderbar toll passt ich probiere es versuche
    gracias muchas vale perfecto genial de acuerdo entendido lo pruebo probaré buenísimo
    obrigado obrigada valeu beleza perfeito certo combinado
    grazie mille perfetto va bene bene capito provo
    dank je jij wel bedankt top prima oké
    tack så mycket bra
    ありがとう ありがとうございます 了解 了解です 承知しました 谢谢 好的 收到
    """.split()  # noqa: SIM905
)
# Words that make even a short message a request.
_PROBLEM = frozenset(
    """
    not no isn't isnt doesn't doesnt don't dont didn't didnt can't cant cannot won't wont still again
    but however error errors fail fails failed failing failure broken break breaks crash crashes crashed
    down issue issues problem problems bug bugs wrong stuck slow timeout urgent asap blocked
    missing lost unable outage incident 500 502 503 404 why how what when where which who
    nicht kein keine fehler immer noch aber kaputt
    pas ne erreur toujours encore mais panne
    error sigue pero falla todavía
    não erro ainda mas
    non errore ancora ma
    niet fout nog maar
    エラー まだ 错误 还是
    """.split()  # noqa: SIM905
)


# Set phrases whose words would otherwise read as a problem ("no", "again") or as content.
_PHRASES = re.compile(
    r"\b(no worries|no problem|thanks again|thank you again|works now|working now|"
    r"looking into (?:this|it)|good news|great news|give it a (?:try|shot|go))\b",
    re.I,
)


def _strip(text: str) -> str:
    text = _PHRASES.sub(" thanks ", text)
    text = _LINK.sub(" LINK ", text)
    text = _MENTION.sub(" ", text)
    text = _SHORTCODE.sub(" ", text)
    return "".join(" " if unicodedata.category(ch).startswith("S") else ch for ch in text)


def small_talk(text: str) -> str | None:
    """Why `text` is small talk, or None when it may be a request."""
    raw = text.strip()
    if not raw:
        return "empty message"
    if "?" in raw or "？" in raw:
        return None
    stripped = _strip(raw)
    words = [w.lower() for w in _WORD.findall(stripped)]
    if "link" in words and "LINK" in stripped:
        return None
    if not words:
        return "only emoji or punctuation"
    if any(w in _PROBLEM for w in words):
        return None
    # CJK has no spaces: a short run made only of pleasantry phrases counts as one word each.
    if len(words) > 12:
        return None
    unknown = [w for w in words if w not in _PLEASANT and w.rstrip("!.") not in _PLEASANT]
    if not unknown:
        return "only pleasantries: " + " ".join(words[:6])
    return None
