"""Language of a message: py3langid (langid.py's naive Bayes over byte n-grams, model in the package).

py3langid ships its model inside the wheel (``data/model.npz.xz``, 4.6 MB) and
needs only numpy; classifying costs about 0.2 ms for a 1,000-character mail.
Reading the model costs about 0.8 s, nearly all of it LZMA decompression, so
:func:`detector` starts loading it in a background thread the first time it is
asked for (the triage model asks when it loads) and :meth:`Detector.detect`
waits for it only if it is not ready yet: a serving process pays nothing, a
one-shot ``intake classify`` pays the wait once.

The candidate languages are restricted to those a European software vendor's
support mail is likely to be written in; langid's open set confuses short
business English with Luxembourgish or Latin. A text with too few letters, or
whose best language has a normalised probability under ``MIN_CONFIDENCE``, is
undetermined (``None``), and gets the English templates.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["CANDIDATES", "MIN_CONFIDENCE", "Detector", "detector"]

CANDIDATES: tuple[str, ...] = (
    *("en", "de", "fr", "es", "nl", "pt", "it", "da", "sv", "no", "fi"),
    *("pl", "cs", "hu", "ro", "el", "tr", "ru", "uk"),
)
MIN_CONFIDENCE = 0.6
MIN_LETTERS = 12
MAX_CHARS = 1500  # the opening carries the language; a pasted log only costs time
_LETTERS = re.compile(r"[^\W\d_]")
# Lines that are not the writer's prose: logs, quoted replies, signatures' phone lines.
_NOISE = re.compile(r"^(?:\s{2,}|\t|>|\S+\.\w+:\d+|\[?\d{4}-\d\d-\d\d).*$", re.MULTILINE)


class Detector:
    """One py3langid identifier restricted to CANDIDATES, loaded in a background thread."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._identifier: Any = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()  # py3langid's identifier is not documented as thread-safe
        threading.Thread(target=self._load, name="langid-load", daemon=True).start()

    def _load(self) -> None:
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(CANDIDATES))
            self._identifier = identifier
        except BaseException as exc:  # reported on first use, never lost
            self._error = exc
        finally:
            self._ready.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the identifier is loaded (or failed: detect raises then)."""
        return self._ready.wait(timeout)

    def detect(self, text: str) -> tuple[str | None, float]:
        """(ISO 639-1 code or None when undetermined, the normalised probability)."""
        prose = _NOISE.sub("", text[:MAX_CHARS])
        if len(_LETTERS.findall(prose)) < MIN_LETTERS:
            return None, 0.0
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"language identifier could not load: {self._error}") from self._error
        with self._lock:
            code, probability = self._identifier.classify(prose)
        probability = float(probability)
        if probability < MIN_CONFIDENCE:
            return None, probability
        return str(code), probability

    def detect_many(self, texts: Sequence[str]) -> list[str | None]:
        return [self.detect(t)[0] for t in texts]


_instances: list[Detector] = []
_instance_lock = threading.Lock()


def detector() -> Detector:
    """The process's detector; the first call starts loading it and returns at once."""
    with _instance_lock:
        if not _instances:
            _instances.append(Detector())
        return _instances[0]
