"""The triage model at prediction time: severity, category and environment with reasons.

A :class:`TriageModel` holds a fitted :class:`~classifiers.features.Featurizer`
and one calibrated linear classifier per head (scikit-learn
``CalibratedClassifierCV`` around ``LinearSVC``, see classifiers.train). It is
built by :func:`classifiers.store.read_model`; :func:`load_model` keeps one per
process.

Decisions:

* severity is the most probable class, except that ``critical`` wins whenever
  its calibrated probability reaches ``critical_threshold`` (chosen on
  cross-validation in training): a missed outage costs far more than an
  over-cautious critical, so the threshold sits below 0.5;
* ``confidence`` is the smaller of the two heads' probabilities for the labels
  they chose (for a threshold-promoted critical, its own probability), so one
  unsure head is enough to send a decision to review;
* ``reasons`` are the readable features (words, word pairs, named signals)
  that added most to the chosen class's linear score for this text; character
  n-grams also count in the score but are not shown.

Importing this module does not import scikit-learn; loading a model does.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

if TYPE_CHECKING:
    from classifiers.language import Detector

from classifiers.features import Featurizer, TriageInput, cue_phrases, document, lexicon_phrase

__all__ = ["HEADS", "Prediction", "TriageInput", "TriageModel", "clear_model_cache", "load_model"]

HEADS: tuple[str, ...] = ("severity", "category", "environment")
REASONS_PER_HEAD = 5


@dataclass(frozen=True, slots=True)
class Prediction:
    """One message's triage proposal; probabilities are calibrated and sum to 1 per head."""

    severity: str
    severity_proba: dict[str, float]
    category: str
    category_proba: dict[str, float]
    confidence: float
    reasons: list[str]
    environment: str
    severity_reasons: list[str] = field(default_factory=list)
    category_reasons: list[str] = field(default_factory=list)
    # P(critical) at or above the recall-first threshold while the label is not critical.
    possible_critical: bool = False
    language: str | None = None  # ISO 639-1, None when undetermined (classifiers.language)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Words that explain nothing to a manager, in the six languages of the lexicons: function words,
# greetings and sign-offs. A word pair is hidden only when both of its words are here. Impact words
# ("nobody", "all", "down", "cannot", "niemand", "personne") are deliberately absent.
_FILLER = frozenset(
    str.split(
        """
    a an and are as at be been but by can could do does did for from has have had he her here hi him his
    hello hey how i if in into is it its me my of on or our ours so that the their them then there these
    they this those to too us was we were what when where which who why will with would you your yours
    dear thanks thank regards kind best cheers please pls morning afternoon evening team all's just also
    very really some any about after again am an being both each few further more most other same such
    than through under until up while again ve ll re d s t m ok okay sir madam guys folks sincerely
    der die das den dem des ein eine einen einem einer und oder aber ich wir sie er es ihr ihnen uns
    mit von zu zum zur im in ist sind war bei auf für an als auch noch schon wie was dass da hier
    hallo guten tag morgen liebe lieber sehr geehrte geehrter damen herren gruß grüße grüßen freundlichen
    vielen dank danke bitte mfg viele beste
    le la les un une des et ou mais je nous vous il elle ils elles de du au aux en dans sur pour par
    avec est sont été ce cette ces qui que quoi notre nos votre vos mon ma mes son sa ses leur leurs
    bonjour bonsoir madame monsieur cordialement merci salutations bien bonne journée
    el los las uno una unos unas y o pero yo nosotros usted ustedes él ella ellos de del al en con por
    para es son fue ha han que se lo le su sus nuestro nuestra nuestros muy
    hola buenos buenas días tardes estimado estimada estimados saludos gracias atentamente un cordial
    het een en of maar ik wij we jullie u hij zij ze van voor met op aan bij naar is zijn was dat dit die
    ons onze uw je mijn er hier
    hallo goedemorgen goedemiddag beste geachte groet groeten vriendelijke met dank alvast
    o os as um uma uns umas e ou mas eu nós você vocês ele ela eles elas de do da dos das no na nos nas
    em com por para é são foi que se nosso nossa nossos nossas seu sua muito
    olá ola bom dia boa tarde caro cara prezado prezada prezados cumprimentos obrigado obrigada
    atenciosamente melhores
    """
    )
)
# Greetings, thanks and sign-offs: a word pair with one of them is never a reason ("hallo sinds").
_GREETINGS = frozenset(
    str.split(
        """
    hello hi hey dear thanks thank regards cheers sincerely hallo liebe lieber geehrte geehrter danke dank
    grüße gruß grüßen freundlichen mfg bonjour bonsoir merci cordialement salutations hola estimado estimada
    estimados gracias saludos atentamente goedemorgen goedemiddag beste geachte groet groeten bedankt alvast
    olá ola caro cara prezado prezada prezados obrigado obrigada cumprimentos atenciosamente
    """
    )
)
# Between the words of one phrase: spaces, an apostrophe or a hyphen ("l'écran", "log-in"), not a comma.
_JOINER = r"(?:\s+|\s*['’-]\s*)"
# Signals that are facts about the message, not phrases in it: never shown as reasons.
_NOT_PHRASES = frozenset(
    ("cue:error_trace", "cue:exclamations", "channel:chat", "has_subject", "questions", "length")
)


def _readable(name: str) -> bool:
    kind, _, term = name.partition(":")
    if kind == "char" or name in _NOT_PHRASES:
        return False
    if kind in ("cue", "lex"):
        return True
    if kind != "word":
        return False
    words = term.split(" ")
    if len(words) > 1 and any(w in _GREETINGS for w in words):
        return False
    return not all(len(w) < 2 or w in _FILLER or w.isdigit() for w in words)


def _contains(longer: str, shorter: str) -> bool:
    """True when ``shorter`` occurs in ``longer`` as whole words."""
    return f" {shorter} " in f" {longer} "


def merge_phrases(shown: Sequence[str], new: Sequence[str]) -> list[str]:
    """``shown`` plus ``new``, without a phrase that is inside another (the longer one stays)."""
    out = list(shown)
    for phrase in new:
        if any(_contains(q, phrase) for q in out):
            continue
        out = [q for q in out if not _contains(phrase, q)] + [phrase]
    return out


def _phrases_of(name: str, doc: str, terms: set[str]) -> list[str]:
    """The words of the message behind feature ``name``: the term, the cue's phrase, the lexicon's match."""
    kind, _, term = name.partition(":")
    if kind == "word":
        if " " not in term:
            return [term]
        # A word pair as the message writes it, and only where it is one phrase there.
        joined = _JOINER.join(re.escape(w) for w in term.split(" "))
        match = re.search(rf"(?<!\w){joined}(?!\w)", doc) if doc else None
        if match is None:
            return []
        # "a dark" reads as "dark", "since the" as "since": filler at either end says nothing.
        words = match.group(0).split()
        while len(words) > 1 and words[0] in _FILLER:
            words = words[1:]
        while len(words) > 1 and words[-1] in _FILLER:
            words = words[:-1]
        return [" ".join(words)]
    parts = term.split("+")
    found: list[str] = []
    for part in parts:
        if kind == "lex":
            phrase = lexicon_phrase(doc, part)
            if phrase:
                found.append(" ".join(phrase.split()))
        else:
            hits = cue_phrases(terms, part)
            found.extend(hits[:1])
    return found


class LinearSigmoidHead:
    """``CalibratedClassifierCV(linear, method="sigmoid", ensemble=False).predict_proba``, same arithmetic.

    scikit-learn validates its input on every call (about 1.5 ms per head, whatever
    the batch size), which dominates classifying one message at a time. This
    evaluates the fitted parameters directly: decision = X @ coef.T + intercept,
    then each class's Platt sigmoid, then normalisation, as in
    ``sklearn.calibration._CalibratedClassifier.predict_proba`` (1.9). The tests
    check it against scikit-learn; an unexpected structure raises TypeError and
    the model falls back to scikit-learn's own method.
    """

    def __init__(self, calibrated: Any) -> None:
        found = getattr(calibrated, "calibrated_classifiers_", [])
        if len(found) != 1 or getattr(found[0], "method", None) != "sigmoid":
            raise TypeError("not a single sigmoid-calibrated classifier (ensemble=False)")
        inner = found[0]
        estimator = inner.estimator
        classes = list(np.asarray(inner.classes).tolist())
        self._set(
            np.asarray(estimator.coef_, dtype=np.float64),
            np.asarray(estimator.intercept_, dtype=np.float64),
            np.array([float(c.a_) for c in inner.calibrators]),
            np.array([float(c.b_) for c in inner.calibrators]),
            np.array([classes.index(c) for c in np.asarray(estimator.classes_).tolist()]),
            len(classes),
        )

    def _set(
        self,
        coef: npt.NDArray[np.float64],
        intercept: npt.NDArray[np.float64],
        a: npt.NDArray[np.float64],
        b: npt.NDArray[np.float64],
        columns: npt.NDArray[Any],
        n_classes: int,
    ) -> None:
        self.coef = coef
        self.coef_t = coef.T
        self.intercept = intercept
        self.a, self.b = a, b
        self.columns = np.asarray(columns, dtype=np.int64)
        self.n_classes = int(n_classes)
        self.classes_ = np.arange(self.n_classes)
        if self.coef_t.shape[1] != len(self.a):
            raise TypeError("one calibrator per decision column expected")

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> LinearSigmoidHead:
        """A head rebuilt from `arrays()`: no scikit-learn needed (the serving format)."""
        head = cls.__new__(cls)
        head._set(
            np.asarray(arrays["coef"], dtype=np.float64),
            np.asarray(arrays["intercept"], dtype=np.float64),
            np.asarray(arrays["a"], dtype=np.float64),
            np.asarray(arrays["b"], dtype=np.float64),
            np.asarray(arrays["columns"]),
            int(np.asarray(arrays["n_classes"])),
        )
        return head

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "coef": self.coef,
            "intercept": self.intercept,
            "a": self.a,
            "b": self.b,
            "columns": self.columns,
            "n_classes": np.asarray(self.n_classes),
        }

    def predict_proba(self, matrix: sp.csr_matrix) -> npt.NDArray[np.float64]:
        from scipy.special import expit

        decision = np.asarray(matrix @ self.coef_t) + self.intercept
        calibrated = expit(-(self.a * decision + self.b))
        proba = np.zeros((matrix.shape[0], self.n_classes))
        if self.n_classes == 2:
            proba[:, 1] = calibrated[:, 0]
            proba[:, 0] = 1.0 - proba[:, 1]
            return proba
        proba[:, self.columns] = calibrated
        total = proba.sum(axis=1)[:, np.newaxis]
        uniform = np.full_like(proba, 1.0 / self.n_classes)
        np.divide(proba, total, out=uniform, where=total != 0)
        return uniform


class TriageModel:
    """Calibrated severity/category/environment heads over one featurizer (see module doc)."""

    def __init__(
        self,
        featurizer: Featurizer,
        heads: Mapping[str, Any],
        labels: Mapping[str, Sequence[str]],
        critical_threshold: float | None,
        meta: Mapping[str, Any] | None = None,
        possible_critical_threshold: float | None = None,
        *,
        detect_language: bool = True,
    ) -> None:
        for required in ("severity", "category"):
            if required not in heads:
                raise ValueError(f"a triage model needs a {required!r} head")
        self.featurizer = featurizer
        self.heads = dict(heads)
        self.labels = {head: [str(c) for c in labels[head]] for head in self.heads}
        for head, clf in self.heads.items():
            if len(clf.classes_) != len(self.labels[head]):
                raise ValueError(f"{head}: {len(clf.classes_)} classes but {len(self.labels[head])} labels")
        self.critical_threshold = critical_threshold
        self.possible_critical_threshold = possible_critical_threshold
        self.meta: dict[str, Any] = dict(meta or {})
        names = featurizer.names
        self._names = names
        self._readable = np.array([_readable(n) for n in names], dtype=bool)
        self._word_count = len(featurizer.word.terms)
        self._language: Detector | None = None
        if detect_language:
            from classifiers.language import detector

            self._language = detector()
        self._weights: dict[str, npt.NDArray[np.float64]] = {}
        self._fast: dict[str, LinearSigmoidHead] = {}
        for head, clf in self.heads.items():
            if isinstance(clf, LinearSigmoidHead):
                self._fast[head] = clf
                continue
            # Otherwise scikit-learn's predict_proba is used for this head.
            with contextlib.suppress(TypeError, AttributeError, ValueError):
                self._fast[head] = LinearSigmoidHead(clf)
        for head, clf in self.heads.items():
            if isinstance(clf, LinearSigmoidHead):
                coef = clf.coef
            else:
                coef = np.asarray(clf.calibrated_classifiers_[0].estimator.coef_, dtype=np.float64)
            if coef.shape[0] == 1:  # binary head: one row scores the second class
                coef = np.vstack([-coef[0], coef[0]])
            self._weights[head] = coef

    @property
    def version(self) -> str:
        """``tfidf-svc-<first 12 hex of the training data's sha256>``."""
        return str(self.meta.get("version", "unversioned"))

    @property
    def metrics(self) -> dict[str, Any]:
        metrics = self.meta.get("metrics", {})
        return dict(metrics) if isinstance(metrics, dict) else {}

    def classes(self, head: str) -> list[str]:
        """Labels in the column order of the head's probabilities (it is fitted on their indices)."""
        return self.labels[head]

    def transform(self, items: Sequence[TriageInput]) -> sp.csr_matrix:
        return self.featurizer.transform(items)

    def proba(self, matrix: sp.csr_matrix, head: str, *, fast: bool = True) -> npt.NDArray[np.float64]:
        """Calibrated probabilities, columns in ``classes(head)`` order."""
        if fast and head in self._fast:
            return self._fast[head].predict_proba(matrix)
        return np.asarray(self.heads[head].predict_proba(matrix), dtype=np.float64)

    def decide_severity(self, proba: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Column index of the chosen severity per row: argmax, or critical past its threshold."""
        chosen = np.argmax(proba, axis=1)
        classes = self.classes("severity")
        if self.critical_threshold is not None and "critical" in classes:
            crit = classes.index("critical")
            chosen = np.where(proba[:, crit] >= self.critical_threshold, crit, chosen)
        return np.asarray(chosen, dtype=np.int64)

    def reasons(
        self,
        matrix: sp.csr_matrix,
        head: str,
        chosen: npt.NDArray[np.int64],
        k: int,
        docs: Sequence[str] | None = None,
    ) -> list[list[str]]:
        """Up to ``k`` phrases of each message that added most to its chosen class, per row.

        Features are ranked by contribution x_j * w[class, j] > 0; a word or word
        pair is shown as it is, a cue or lexicon signal as the words of the
        message that fired it ("all users", "niemand kann sich anmelden"), and a
        phrase already inside a longer one shown is not repeated.
        """
        coo = matrix.tocoo()
        keep = self._readable[coo.col]
        rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
        contrib = vals * self._weights[head][chosen[rows], cols]
        positive = contrib > 0
        rows, cols, contrib = rows[positive], cols[positive], contrib[positive]
        order = np.lexsort((-contrib, rows))
        rows, cols = rows[order], cols[order]
        starts = np.searchsorted(rows, np.arange(matrix.shape[0]))
        ends = np.searchsorted(rows, np.arange(matrix.shape[0]), side="right")
        out: list[list[str]] = []
        for n, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            ranked = [self._names[c] for c in cols[s:e].tolist()]
            if docs is None or not any(not r.startswith("word:") for r in ranked[: 3 * k]):
                terms: set[str] = set()
            else:
                row = matrix.indices[matrix.indptr[n] : matrix.indptr[n + 1]]
                terms = {self._names[c][5:] for c in row.tolist() if c < self._word_count}
            shown: list[str] = []
            for name in ranked[: 3 * k]:
                shown = merge_phrases(shown, _phrases_of(name, docs[n] if docs is not None else "", terms))
                if len(shown) >= k:
                    break
            out.append(shown[:k])
        return out

    def predict(self, items: Sequence[TriageInput]) -> list[Prediction]:
        """Predict a batch; batches of hundreds are far cheaper per message than one at a time."""
        if not items:
            return []
        matrix = self.transform(items)
        docs = [document(i) for i in items]
        sev_p = self.proba(matrix, "severity")
        cat_p = self.proba(matrix, "category")
        sev_i = self.decide_severity(sev_p)
        cat_i = np.argmax(cat_p, axis=1).astype(np.int64)
        sev_c, cat_c = self.classes("severity"), self.classes("category")
        rows = np.arange(len(items))
        confidence = np.minimum(sev_p[rows, sev_i], cat_p[rows, cat_i])
        sev_r = self.reasons(matrix, "severity", sev_i, REASONS_PER_HEAD, docs)
        cat_r = self.reasons(matrix, "category", cat_i, REASONS_PER_HEAD, docs)
        possible = self.possible_critical(sev_p, sev_i)
        languages: list[str | None] = [None] * len(items)
        if self._language is not None:
            languages = self._language.detect_many([f"{i.subject}\n{i.body}" for i in items])
        if "environment" in self.heads:
            env_p = self.proba(matrix, "environment")
            env_c = self.classes("environment")
            environments = [env_c[i] for i in np.argmax(env_p, axis=1).tolist()]
        else:
            environments = self.featurizer.environments(matrix)
        out: list[Prediction] = []
        for n in range(len(items)):
            sp_row, cp_row = sev_p[n].tolist(), cat_p[n].tolist()
            out.append(
                Prediction(
                    severity=sev_c[int(sev_i[n])],
                    severity_proba=dict(zip(sev_c, sp_row, strict=True)),
                    category=cat_c[int(cat_i[n])],
                    category_proba=dict(zip(cat_c, cp_row, strict=True)),
                    confidence=float(confidence[n]),
                    reasons=merge_phrases(sev_r[n], cat_r[n]),
                    environment=environments[n],
                    severity_reasons=sev_r[n],
                    category_reasons=cat_r[n],
                    possible_critical=bool(possible[n]),
                    language=languages[n],
                )
            )
        return out

    def possible_critical(
        self, proba: npt.NDArray[np.float64], chosen: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.bool_]:
        """Rows whose P(critical) reaches the recall-first threshold but whose label is not critical."""
        classes = self.classes("severity")
        if self.possible_critical_threshold is None or "critical" not in classes:
            return np.zeros(len(proba), dtype=bool)
        crit = classes.index("critical")
        return np.asarray((proba[:, crit] >= self.possible_critical_threshold) & (chosen != crit))

    def classify(self, texts: Sequence[str], channel: str = "email") -> list[Prediction]:
        """Predict raw texts; a first line ``Subject: ...`` becomes the subject."""
        return self.predict([text_input(t, channel) for t in texts])

    @staticmethod
    def needs_review(pred: Prediction, threshold: float) -> bool:
        """True when the confidence is below ``threshold`` (settings: classifier.review_threshold)."""
        return pred.confidence < threshold


def text_input(text: str, channel: str = "email") -> TriageInput:
    """A TriageInput from free text; ``Subject: ...`` on the first line is taken as the subject."""
    first, sep, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        return TriageInput(
            subject=first[len("subject:") :].strip(), body=rest.strip() if sep else "", channel=channel
        )
    return TriageInput(body=text, channel=channel)


_lock = threading.Lock()
_cache: dict[Path, TriageModel] = {}


def load_model(directory: Path | None = None) -> TriageModel:
    """The model in ``directory`` (default: the shipped classifiers/model/), loaded once per process.

    Raises FileNotFoundError naming the missing file and how to build it.
    """
    from classifiers.store import MODEL_DIR, read_model

    key = (directory or MODEL_DIR).resolve()
    with _lock:
        model = _cache.get(key)
        if model is None:
            model = read_model(key)
            _cache[key] = model
        return model


def clear_model_cache() -> None:
    """Forget loaded models (after retraining in the same process)."""
    with _lock:
        _cache.clear()
