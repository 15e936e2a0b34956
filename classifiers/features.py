"""Features for the triage model: TF-IDF word and character n-grams plus named signals.

Vectorising is the hot path of classification (target: well under 0.3 ms per
message in batches), so transforming does not run scikit-learn's per-n-gram
Python loop (about 0.5 ms per message for word plus character n-grams here).
Instead a batch is tokenised once and the rest is array work:

* words: tokens become ids through one dict, bigrams are looked up as integer
  codes with ``searchsorted``;
* characters: the character n-grams of a document are the sum of those of its
  whitespace-separated words (what ``analyzer="char_wb"`` computes), so each
  distinct word is expanded once, cached, and a batch is a sparse product
  (documents x words) @ (words x n-grams).

Scikit-learn's ``TfidfVectorizer`` is still what *fits* vocabularies and IDF
weights, with the same analyzers, so train and serve share one definition of a
feature (tests check the two agree). Fitted blocks are persisted as plain arrays
(terms and IDF), never as code.

The signals are the cues LABELLING.md names as deciding severity: impact
("nobody can log in", "all users", data lost), environment (production or
test), stated severity, workarounds, error traces, and the channel. Their
phrases are forced into the word vocabulary, so a cue is a column lookup.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise, repeat

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from classifiers.lexicons import CONCEPTS, compiled

# Long mails (pasted logs, quoted threads) are cut: the opening carries the report.
MAX_CHARS = 4000
CHAR_NGRAMS = (3, 5)
LEXICON_CHARS = 2000  # impact is told in the opening; pasted logs below it only cost time
_WORDS = re.compile(r"\w+")

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TriageInput:
    """What the classifier sees of a message. ``channel`` is "email", "slack" or "chat"."""

    subject: str = ""
    body: str = ""
    channel: str = "email"
    stated_severity: str | None = None


def document(item: TriageInput) -> str:
    """Subject and body as one lower-cased text, cut to MAX_CHARS."""
    text = f"{item.subject}\n{item.body}" if item.subject else item.body
    return text[:MAX_CHARS].lower()


def word_analyzer(doc: str) -> list[str]:
    """Unigrams and bigrams of ``\\w+`` tokens (single characters kept: "can t", "severity 1")."""
    tokens = _WORDS.findall(doc)
    return tokens + [f"{a} {b}" for a, b in pairwise(tokens)]


def word_char_ngrams(word: str) -> list[str]:
    """Character 3- to 5-grams of one word padded with spaces (scikit-learn's char_wb)."""
    padded = f" {word} "
    size = len(padded)
    lo, hi = CHAR_NGRAMS
    if size <= lo:
        return [padded]
    return [padded[i : i + n] for n in range(lo, min(hi, size) + 1) for i in range(size - n + 1)]


def char_analyzer(doc: str) -> list[str]:
    """All character n-grams of a document, word by word (for fitting)."""
    grams: list[str] = []
    for word in doc.split():
        grams.extend(word_char_ngrams(word))
    return grams


def _tfidf(counts: sp.csr_matrix, idf: FloatArray) -> sp.csr_matrix:
    """Sublinear TF (1 + log count) times IDF, rows scaled to unit L2 norm: TfidfVectorizer's output."""
    matrix = counts.astype(np.float64)
    np.log(matrix.data, out=matrix.data)
    matrix.data += 1.0
    matrix.data *= idf[matrix.indices]
    squares = np.bincount(
        np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr)),
        weights=matrix.data**2,
        minlength=matrix.shape[0],
    )
    norms = np.sqrt(squares)
    norms[norms == 0.0] = 1.0
    matrix.data /= np.repeat(norms, np.diff(matrix.indptr))
    return matrix


def _fit_idf(
    analyzer: object, docs: Sequence[str], vocabulary: Sequence[str] | None, min_df: int
) -> tuple[list[str], FloatArray]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(
        analyzer=analyzer, min_df=1 if vocabulary else min_df, vocabulary=vocabulary, sublinear_tf=True
    )
    vec.fit(docs)
    return [str(t) for t in vec.get_feature_names_out()], np.asarray(vec.idf_, dtype=np.float64)


class WordBlock:
    """Word unigram and bigram TF-IDF over a fixed vocabulary."""

    def __init__(self, terms: Sequence[str], idf: FloatArray) -> None:
        self.terms = list(terms)
        self.idf = np.asarray(idf, dtype=np.float64)
        tokens: dict[str, int] = {}
        for term in self.terms:
            for token in term.split(" "):
                tokens.setdefault(token, len(tokens))
        self.token_id = tokens
        self.unigram = np.full(len(tokens), -1, dtype=np.int64)
        codes: list[int] = []
        features: list[int] = []
        for j, term in enumerate(self.terms):
            parts = term.split(" ")
            if len(parts) == 1:
                self.unigram[tokens[term]] = j
            else:
                codes.append(tokens[parts[0]] * len(tokens) + tokens[parts[1]])
                features.append(j)
        order = np.argsort(np.asarray(codes, dtype=np.int64), kind="stable")
        self.bigram_codes = np.asarray(codes, dtype=np.int64)[order]
        self.bigram_feature = np.asarray(features, dtype=np.int64)[order]

    @classmethod
    def fit(cls, docs: Sequence[str], min_df: int, extra: Sequence[str] = ()) -> WordBlock:
        terms, _ = _fit_idf(word_analyzer, docs, None, min_df)
        vocabulary = sorted(set(terms) | set(extra))
        terms, idf = _fit_idf(word_analyzer, docs, vocabulary, min_df)
        return cls(terms, idf)

    def counts(self, docs: Sequence[str]) -> sp.csr_matrix:
        tokens: list[str] = []
        lengths: list[int] = []
        for doc in docs:
            found = _WORDS.findall(doc)
            tokens.extend(found)
            lengths.append(len(found))
        ids = np.fromiter(map(self.token_id.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
        row = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        known = ids >= 0
        uni = np.where(known, self.unigram[np.where(known, ids, 0)], -1)
        keep = uni >= 0
        rows = [row[keep]]
        cols = [uni[keep]]
        if len(ids) > 1 and len(self.bigram_codes):
            first, second = ids[:-1], ids[1:]
            pair = (first >= 0) & (second >= 0) & (row[:-1] == row[1:])
            code = first[pair] * len(self.token_id) + second[pair]
            pos = np.minimum(np.searchsorted(self.bigram_codes, code), len(self.bigram_codes) - 1)
            hit = self.bigram_codes[pos] == code
            rows.append(row[:-1][pair][hit])
            cols.append(self.bigram_feature[pos[hit]])
        # Counting through np.unique leaves the matrix canonical (sorted, no duplicates) for free.
        width = len(self.terms)
        keys, counts = np.unique(np.concatenate(rows) * width + np.concatenate(cols), return_counts=True)
        indptr = np.concatenate(([0], np.cumsum(np.bincount(keys // width, minlength=len(docs)))))
        return sp.csr_matrix((counts.astype(np.float64), keys % width, indptr), shape=(len(docs), width))

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        return _tfidf(self.counts(docs), self.idf)


class CharBlock:
    """Character 3- to 5-gram TF-IDF (char_wb); each distinct word is expanded once and cached."""

    CACHE_LIMIT = 200_000  # words; bounds memory on endless new tokens (ids, hashes)

    def __init__(self, terms: Sequence[str], idf: FloatArray) -> None:
        self.terms = list(terms)
        self.idf = np.asarray(idf, dtype=np.float64)
        self.index = {t: i for i, t in enumerate(self.terms)}
        self._word_row: dict[str, int] = {}
        self._rows: list[IntArray] = []
        self._lock = threading.Lock()  # the cache is shared by threads predicting at once

    @classmethod
    def fit(cls, docs: Sequence[str], min_df: int) -> CharBlock:
        terms, idf = _fit_idf(char_analyzer, docs, None, min_df)
        return cls(terms, idf)

    def _expand(self, words: set[str]) -> None:
        get = self.index.get
        for word in words:
            hits = [j for j in map(get, word_char_ngrams(word)) if j is not None]
            self._word_row[word] = len(self._rows)
            self._rows.append(np.asarray(hits, dtype=np.int64))

    def counts(self, docs: Sequence[str]) -> sp.csr_matrix:
        words: list[str] = []
        lengths: list[int] = []
        for doc in docs:
            found = doc.split()
            words.extend(found)
            lengths.append(len(found))
        with self._lock:
            new = set(words).difference(self._word_row)
            if len(self._word_row) + len(new) > self.CACHE_LIMIT:
                self._word_row.clear()
                self._rows.clear()
                new = set(words)
            self._expand(new)
            ids = np.fromiter(map(self._word_row.__getitem__, words), dtype=np.int64, count=len(words))
            distinct, column = np.unique(ids, return_inverse=True)
            pieces = [self._rows[i] for i in distinct.tolist()]
        sizes = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
        expand = sp.csr_matrix(
            (
                np.ones(int(sizes.sum())),
                np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64),
                np.concatenate(([0], np.cumsum(sizes))),
            ),
            shape=(len(distinct), len(self.terms)),
        )
        row = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        occurrences = sp.csr_matrix((np.ones(len(ids)), (row, column)), shape=(len(docs), len(distinct)))
        # The sparse product has no duplicate entries; unsorted indices are fine for what follows.
        matrix: sp.csr_matrix = occurrences @ expand
        return matrix

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        return _tfidf(self.counts(docs), self.idf)


# --- signals -----------------------------------------------------------------------------------

_STATED = {
    "critical": "critical",
    "blocker": "critical",
    "s1": "critical",
    "p1": "critical",
    "sev1": "critical",
    "severity1": "critical",
    "1": "critical",
    "high": "high",
    "urgent": "high",
    "major": "high",
    "s2": "high",
    "p2": "high",
    "sev2": "high",
    "severity2": "high",
    "2": "high",
    "medium": "medium",
    "normal": "medium",
    "important": "medium",
    "s3": "medium",
    "p3": "medium",
    "sev3": "medium",
    "severity3": "medium",
    "3": "medium",
    "low": "low",
    "minor": "low",
    "trivial": "low",
    "s4": "low",
    "p4": "low",
    "sev4": "low",
    "severity4": "low",
    "4": "low",
}


def canonical_severity(stated: str | None) -> str | None:
    """Map a stated level ("P1", "Severity 2", "Urgent", "S3", "low") to critical/high/medium/low."""
    if not stated:
        return None
    key = re.sub(r"[\s_\-:]+", "", stated.strip().lower())
    return _STATED.get(key)


def _phrases(text: str) -> frozenset[str]:
    return frozenset(p.strip() for p in text.split(","))


# Cues are one- and two-word phrases over \w+ tokens ("can't log in" -> can, t, log, in):
# a set intersection per message is ten times cheaper than a regex alternation.
_CUES: dict[str, frozenset[str]] = {
    "stated_critical": _phrases(
        "p1, sev1, s1, severity 1, sev 1, priority 1, priority critical, blocker, prio 1"
    ),
    "stated_high": _phrases("p2, sev2, s2, severity 2, sev 2, priority 2, priority high, prio 2"),
    "stated_lower": _phrases(
        "p3, p4, s3, s4, sev3, sev4, severity 3, severity 4, sev 3, sev 4, priority 3, priority 4, "
        "priority low, priority medium"
    ),
    "env_production": _phrases(
        "production, prod, prd, live, go live, our customers, customers can, customer facing, live site"
    ),
    "env_test": _phrases(
        "staging, stage, sandbox, uat, qa, test environment, test system, test instance, test server, "
        "test tenant, test env, testing environment, dev environment, dev instance, dev env, dev server, "
        "development environment, preprod, pre prod, non prod, nonprod, trial"
    ),
    "everyone": _phrases(
        "everyone, everybody, nobody, no one, all users, all our, all staff, all employees, all customers, "
        "all agents, all sites, all stores, all of, whole company, entire company, whole team, entire team, "
        "entire organisation, entire organization, whole office, company wide, every user, every customer, "
        "every employee, every single, none of, all locations, all branches"
    ),
    "limited": _phrases(
        "some users, a few, few users, one user, two users, single user, several users, some of, one of, "
        "couple of, handful of, only one, only some, intermittent, intermittently, sometimes, occasionally, "
        "one customer, some customers, a user, minority, one team"
    ),
    "down": _phrases(
        "down, outage, unreachable, unavailable, not responding, nothing works, stopped working, "
        "not loading, "
        "bad gateway, 502, 503, 504, timeout, timed out, times out, offline, inaccessible, crashed, crashes, "
        "completely broken, total loss, complete loss, unusable, dead, hangs, frozen"
    ),
    "login": _phrases("log in, login, sign in, signin, log on, logon, authenticate, access"),
    "negated": _phrases(
        "cannot, can t, unable, not able, couldn t, won t, doesn t, isn t, not working, blocked"
    ),
    "data_loss": _phrases(
        "data loss, data lost, lost data, corrupted, corrupt, corruption, wiped, deleted, overwritten, "
        "disappeared, missing data, data missing, lost all, duplicated, gone"
    ),
    "security_active": _phrases(
        "breach, breached, compromised, exploited, exploiting, ransomware, attacker, attackers, malicious, "
        "unauthorized access, unauthorised access, leaked, leaking, phishing, hacked, exfiltrating, "
        "exfiltration, exfiltrated, intrusion, intruder, stolen, suspicious, ddos, hijacked"
    ),
    "vulnerability": _phrases(
        "vulnerability, vulnerable, cve, security issue, security vulnerability, pentest"
    ),
    "business": _phrases(
        "revenue, payment, payments, payroll, orders, checkout, sla, deadline, invoices, losing money, "
        "transactions, month end, go live, launch"
    ),
    "workaround": _phrases(
        "workaround, work around, worked around, meantime, for now, manually, temporary fix"
    ),
    "howto": _phrases(
        "how do, how can, how to, how should, is there, where do, where can, where is, "
        "what is, what does, can i, can we, do i, does the, is it, it possible, possible to"
    ),
    "request": _phrases(
        "feature request, would be, please add, you add, it would, wish, suggestion, suggest, idea, "
        "nice to, would love, feature, roadmap"
    ),
    "account": _phrases(
        "licence, license, licences, licenses, seat, seats, invoice, billing, renewal, renew, subscription, "
        "password, locked out, deactivate, admin rights, permission, permissions, plan, add user, "
        "remove user, "
        "refund, charged"
    ),
    "setup": _phrases(
        "sso, saml, ldap, oauth, okta, azure ad, certificate, cert, dns, proxy, firewall, agent, install, "
        "installed, installing, installation, upgrade, upgraded, upgrading, configure, configured, "
        "configuration, config, tls, ssl, webhook, api key, integration, smtp, vpn, port"
    ),
    "shouting": _phrases("urgent, urgently, asap, immediately, emergency"),
}
# Error traces are not words: cheap substring tests, then one literal-led regex.
_TRACE_WORDS = (
    "traceback",
    "exception",
    "stack trace",
    "stacktrace",
    "panic:",
    "fatal",
    "error:",
    "err_",
    "errno",
)
_TRACE_RE = re.compile(r"\.(?:java|py|go|js|ts|php|cs|rb|c|cpp):\d|0x[0-9a-f]{6}|\n\s+at ")

# Conjunctions a linear model cannot form by itself: impact AND scope AND environment.
_CONJUNCTIONS: dict[str, tuple[str, ...]] = {
    "everyone+down": ("everyone", "down"),
    "everyone+no_login": ("everyone", "login", "negated"),
    "production+down": ("env_production", "down"),
    "test+down": ("env_test", "down"),
    "production+data_loss": ("env_production", "data_loss"),
    "limited+down": ("limited", "down"),
}

# The signals of models trained before the lexicons; a model stores the names it was fitted on.
LEGACY_SIGNAL_NAMES: tuple[str, ...] = (
    *(f"cue:{name}" for name in _CUES),
    *(f"cue:{name}" for name in _CONJUNCTIONS),
    "cue:error_trace",
    "cue:exclamations",
    "channel:chat",
    "has_subject",
    "questions",
    "length",
)
_LEXICONS = compiled()
# Impact told in any of six languages, and the conjunctions that make it critical.
_LEXICON_CONJUNCTIONS: dict[str, tuple[str, ...]] = {
    "all_users+service_down": ("all_users", "service_down"),
    "production+service_down": ("production", "service_down"),
    "production+data_loss": ("production", "data_loss"),
    "no_workaround+service_down": ("no_workaround", "service_down"),
    "test_env+service_down": ("test_env", "service_down"),
    "all_users+cannot_login": ("all_users", "cannot_login"),
}
LEXICON_NAMES: tuple[str, ...] = (
    *(f"lex:{name}" for name in CONCEPTS),
    *(f"lex:{name}" for name in _LEXICON_CONJUNCTIONS),
)
SIGNAL_NAMES: tuple[str, ...] = LEGACY_SIGNAL_NAMES + LEXICON_NAMES
_COLUMN = {name: i for i, name in enumerate(SIGNAL_NAMES)}
_STATED_CUE = {
    "critical": _COLUMN["cue:stated_critical"],
    "high": _COLUMN["cue:stated_high"],
    "medium": _COLUMN["cue:stated_lower"],
    "low": _COLUMN["cue:stated_lower"],
}
CUE_PHRASES: tuple[str, ...] = tuple(sorted({p for phrases in _CUES.values() for p in phrases}))
for _phrase in CUE_PHRASES:
    if len(_WORDS.findall(_phrase)) not in (1, 2) or " ".join(_WORDS.findall(_phrase)) != _phrase:
        raise AssertionError(f"cue phrase {_phrase!r} must be one or two \\w+ tokens")


def _cue_matrix(terms: Sequence[str]) -> sp.csr_matrix:
    """Word vocabulary x cues: 1 where a term is one of the cue's phrases."""
    rows: list[int] = []
    cols: list[int] = []
    index = {t: i for i, t in enumerate(terms)}
    for c, phrases in enumerate(_CUES.values()):
        for phrase in phrases:
            if phrase in index:
                rows.append(index[phrase])
                cols.append(c)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(terms), len(_CUES)))


def environment_from_signals(row: FloatArray) -> str:
    """Rule of thumb: test words win over production words (a staging outage is a test fault)."""
    if row[_COLUMN["cue:env_test"]]:
        return "test"
    if row[_COLUMN["cue:env_production"]]:
        return "production"
    return "unknown"


def _pack(terms: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Terms as UTF-8 bytes joined by newlines (no term holds one): a fifth of a numpy str array."""
    return np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8).copy()


def _unpack(packed: npt.NDArray[np.uint8]) -> list[str]:
    text = packed.tobytes().decode("utf-8")
    return text.split("\n") if text else []


def lexicon_signals(docs: Sequence[str]) -> FloatArray:
    """One row per document, one column per LEXICON_NAMES entry: 1.0 where the concept is present."""
    out = np.zeros((len(docs), len(LEXICON_NAMES)), dtype=np.float64)
    concepts = list(_LEXICONS.values())
    for row, full in enumerate(docs):
        doc = full[:LEXICON_CHARS]
        words = set(_WORDS.findall(doc))
        for column, concept in enumerate(concepts):
            if concept.search(doc, words) is not None:
                out[row, column] = 1.0
    base = len(CONCEPTS)
    index = {name: i for i, name in enumerate(CONCEPTS)}
    for n, parts in enumerate(_LEXICON_CONJUNCTIONS.values()):
        out[:, base + n] = np.prod([out[:, index[p]] for p in parts], axis=0)
    return out


def lexicon_phrase(doc: str, concept: str) -> str | None:
    """The words of ``doc`` that fired lexicon ``concept`` (for reasons), or None."""
    matcher = _LEXICONS.get(concept)
    doc = doc[:LEXICON_CHARS]
    match = matcher.search(doc, set(_WORDS.findall(doc))) if matcher is not None else None
    return match.group(0) if match else None


def cue_phrases(doc_terms: set[str], cue: str) -> list[str]:
    """The cue's phrases that occur among a document's word terms (for reasons)."""
    return sorted(_CUES.get(cue, frozenset()) & doc_terms, key=lambda p: (-len(p), p))


@dataclass(slots=True)
class Featurizer:
    """Word block, character block and signals, stacked.

    The cue signals are scaled by ``signal_weight``, the lexicon signals by
    ``lexicon_weight``. ``signal_names`` are the signals this featurizer emits,
    in order: a model keeps the ones it was fitted on (older models have no
    lexicons), so a newer release still serves, and can roll back to, them.
    """

    word: WordBlock
    char: CharBlock | None
    signal_weight: float = 1.0
    signal_names: tuple[str, ...] = SIGNAL_NAMES
    lexicon_weight: float = 1.0
    _cues: sp.csr_matrix = field(init=False, repr=False)
    _select: IntArray = field(init=False, repr=False)
    _scale: FloatArray = field(init=False, repr=False)
    _lexicons: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cues = _cue_matrix(self.word.terms)
        unknown = [n for n in self.signal_names if n not in _COLUMN]
        if unknown:
            raise ValueError(f"signals {unknown} are not known to this version of classifiers.features")
        self._select = np.asarray([_COLUMN[n] for n in self.signal_names], dtype=np.int64)
        self._scale = np.asarray(
            [self.lexicon_weight if n.startswith("lex:") else self.signal_weight for n in self.signal_names]
        )
        self._lexicons = any(n.startswith("lex:") for n in self.signal_names)

    @classmethod
    def fit(
        cls,
        items: Sequence[TriageInput],
        *,
        use_char: bool = True,
        signal_weight: float = 1.0,
        lexicons: bool = True,
        lexicon_weight: float = 1.0,
    ) -> Featurizer:
        docs = [document(i) for i in items]
        word = WordBlock.fit(docs, min_df=2, extra=CUE_PHRASES)
        char = CharBlock.fit(docs, min_df=3) if use_char else None
        names = SIGNAL_NAMES if lexicons else LEGACY_SIGNAL_NAMES
        return cls(word, char, signal_weight, names, lexicon_weight)

    def to_state(self) -> dict[str, object]:
        """Plain arrays and numbers for persistence (see classifiers.store)."""
        state: dict[str, object] = {
            "word_terms": _pack(self.word.terms),
            "word_idf": self.word.idf,
            "signal_weight": float(self.signal_weight),
            "signal_names": _pack(self.signal_names),
            "lexicon_weight": float(self.lexicon_weight),
        }
        if self.char is not None:
            state["char_terms"] = _pack(self.char.terms)
            state["char_idf"] = self.char.idf
        return state

    @classmethod
    def from_state(cls, state: dict[str, object]) -> Featurizer:
        def strings(key: str) -> list[str]:
            return _unpack(np.asarray(state[key], dtype=np.uint8))

        def number(key: str, default: float) -> float:
            value = state.get(key, default)
            if isinstance(value, np.ndarray):
                value = value.item()
            return float(value) if isinstance(value, int | float) else default

        word = WordBlock(strings("word_terms"), np.asarray(state["word_idf"], dtype=np.float64))
        char = None
        if "char_terms" in state:
            char = CharBlock(strings("char_terms"), np.asarray(state["char_idf"], dtype=np.float64))
        names = tuple(strings("signal_names")) if "signal_names" in state else LEGACY_SIGNAL_NAMES
        return cls(word, char, number("signal_weight", 1.0), names, number("lexicon_weight", 1.0))

    @property
    def names(self) -> list[str]:
        """Feature names in column order: ``word:...``, ``char:...``, then ``signal_names``."""
        names = [f"word:{t}" for t in self.word.terms]
        if self.char is not None:
            names += [f"char:{t}" for t in self.char.terms]
        return names + list(self.signal_names)

    def signals(
        self, items: Sequence[TriageInput], docs: Sequence[str], word_counts: sp.csr_matrix
    ) -> FloatArray:
        """One row of every named signal per message, each in [0, 1], in SIGNAL_NAMES order."""
        out = np.zeros((len(items), len(SIGNAL_NAMES)), dtype=np.float64)
        out[:, : len(_CUES)] = (word_counts @ self._cues).toarray() > 0
        for name, parts in _CONJUNCTIONS.items():
            out[:, _COLUMN[f"cue:{name}"]] = np.prod([out[:, _COLUMN[f"cue:{p}"]] for p in parts], axis=0)
        trace, bangs, stated = (
            _COLUMN["cue:error_trace"],
            _COLUMN["cue:exclamations"],
            _COLUMN["channel:chat"],
        )
        for row, (item, doc) in enumerate(zip(items, docs, strict=True)):
            if any(w in doc for w in _TRACE_WORDS) or _TRACE_RE.search(doc):
                out[row, trace] = 1.0
            if "!!" in doc:
                out[row, bangs] = 1.0
            # A stated level from a form field or header counts like one written in the text.
            level = canonical_severity(item.stated_severity)
            if level is not None:
                out[row, _STATED_CUE[level]] = 1.0
            out[row, stated] = 1.0 if item.channel in ("chat", "slack") else 0.0
            out[row, stated + 1] = 1.0 if item.subject else 0.0
            out[row, stated + 2] = min(doc.count("?"), 3) / 3.0
            out[row, stated + 3] = min(len(doc), 2000) / 2000.0
        if self._lexicons:
            out[:, len(LEGACY_SIGNAL_NAMES) :] = lexicon_signals(docs)
        return out

    def environments(self, matrix: sp.csr_matrix) -> list[str]:
        """environment_from_signals for each row of a transformed matrix (models without that head)."""
        full = np.zeros((matrix.shape[0], len(SIGNAL_NAMES)))
        full[:, self._select] = matrix[:, matrix.shape[1] - len(self.signal_names) :].toarray()
        return [environment_from_signals(row) for row in full]

    def transform(self, items: Sequence[TriageInput]) -> sp.csr_matrix:
        docs = [document(i) for i in items]
        counts = self.word.counts(docs)
        blocks = [_tfidf(counts, self.word.idf)]
        if self.char is not None:
            blocks.append(self.char.transform(docs))
        signals = self.signals(items, docs, counts)[:, self._select] * self._scale
        blocks.append(sp.csr_matrix(signals))
        return sp.hstack(blocks, format="csr")
