"""Labelled data files for training and evaluation: JSON Lines, CSV or seed-format text.

JSON Lines and CSV rows carry ``subject``, ``body``, ``severity`` and
``category``, optionally ``channel`` (email, chat or slack), ``env``
(production, test, unknown), ``id``, ``group`` (customer, writer, project: the
unit grouped cross-validation keeps together) and ``when`` (a sortable time, for
time-ordered cross-validation).

An export from another helpdesk names its columns and labels its own way: a
:class:`Mapping` says which column holds which field (``category=label``,
``subject=title``; ``text`` is an alias of ``body``) and how its label values
translate (``bug=defect``, ``feature=enhancement``); values are matched
case-insensitively. Either label may be missing or empty on a row:
such a row counts only for the head whose label it has. An unknown label is an
error naming the file and line, never a silently dropped row. A ``.txt`` file
or a directory is read as the seed format (classifiers/seed/LABELLING.md).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from classifiers.features import canonical_severity
from classifiers.seed_corpus import CATEGORIES, ENVIRONMENTS, SEVERITIES, Record, load_seed, parse_seed_text


class DataError(ValueError):
    """A data file row that cannot be used; the message names file and line."""


FIELDS: tuple[str, ...] = ("subject", "body", "severity", "category", "channel", "env", "id", "group", "when")


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Columns and label values of an export, translated to ours (see module doc)."""

    columns: dict[str, str] = field(default_factory=dict)  # our field -> their column
    labels: dict[str, str] = field(default_factory=dict)  # their value (lower case) -> our label

    @classmethod
    def parse(cls, columns: Sequence[str] = (), labels: Sequence[str] = ()) -> ColumnMap:
        """From ``FIELD=COLUMN`` and ``THEIRS=OURS`` strings (the CLI's --map and --label)."""
        cols: dict[str, str] = {}
        for item in columns:
            ours, sep, theirs = item.partition("=")
            ours = "body" if ours.strip() == "text" else ours.strip()
            if not sep or not theirs.strip():
                raise DataError(f"--map {item!r}: write FIELD=COLUMN, e.g. category=label")
            if ours not in FIELDS:
                raise DataError(f"--map {item!r}: {ours!r} is not one of {'|'.join(('text', *FIELDS))}")
            cols[ours] = theirs.strip()
        vals: dict[str, str] = {}
        for item in labels:
            theirs, sep, ours = item.partition("=")
            if not sep or not theirs.strip() or not ours.strip():
                raise DataError(f"--label {item!r}: write THEIRS=OURS, e.g. bug=defect")
            vals[theirs.strip().lower()] = ours.strip().lower()
        return cls(cols, vals)

    def apply(self, row: Mapping[str, object]) -> dict[str, object]:
        """The row with our field names (mapped columns first, then same-named ones) and labels."""
        out: dict[str, object] = {}
        for name in FIELDS:
            column = self.columns.get(name, name)
            if column in row:
                out[name] = row[column]
        if "env" not in out and "environment" in row:
            out["env"] = row["environment"]
        for name in ("severity", "category", "env"):
            value = out.get(name)
            if isinstance(value, str) and value.strip().lower() in self.labels:
                out[name] = self.labels[value.strip().lower()]
        return out


NO_MAPPING = ColumnMap()


def _label(value: object, allowed: tuple[str, ...], what: str, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(f"{where}: {what} must be a string, not {type(value).__name__}")
    text = value.strip().lower()
    if not text:
        return None
    if text in allowed:
        return text
    if what == "severity":
        mapped = canonical_severity(text)
        if mapped is not None:
            return mapped
    raise DataError(f"{where}: {what} {value!r} is not one of {'|'.join(allowed)}")


def record_from_row(row: Mapping[str, object], where: str) -> Record:
    """One Record from a JSON object or CSV row; ``where`` is "file:line" for errors."""
    subject = row.get("subject")
    body = row.get("body")
    if subject is not None and not isinstance(subject, str):
        raise DataError(f"{where}: subject must be a string")
    if body is not None and not isinstance(body, str):
        raise DataError(f"{where}: body must be a string")
    if not (subject or "").strip() and not (body or "").strip():
        raise DataError(f"{where}: row has neither subject nor body")
    channel = str(row.get("channel") or "email").strip().lower()
    if channel == "slack":
        channel = "chat"
    if channel not in ("email", "chat"):
        raise DataError(f"{where}: channel {channel!r} is not email|chat|slack")
    env = _label(row.get("env", row.get("environment")), ENVIRONMENTS, "env", where)
    return Record(
        subject=(subject or "").strip() or None,
        body=(body or "").strip(),
        severity=_label(row.get("severity"), SEVERITIES, "severity", where),
        category=_label(row.get("category"), CATEGORIES, "category", where),
        channel=channel,
        env=env,
        source=where,
        group=str(row.get("group") or "").strip(),
        when=str(row.get("when") or "").strip(),
        id=str(row.get("id") or "").strip(),
    )


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Mapping[str, object]]]:
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: a line must be a JSON object")
            yield lineno, row


def _csv_rows(path: Path, mapping: ColumnMap) -> Iterator[tuple[int, Mapping[str, object]]]:
    csv.field_size_limit(2**31 - 1)  # issue bodies with pasted logs exceed the 128 KiB default
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        text_columns = {mapping.columns.get("subject", "subject"), mapping.columns.get("body", "body")}
        if reader.fieldnames is None or not text_columns & set(reader.fieldnames):
            raise DataError(
                f"{path}:1: CSV header needs {' and/or '.join(sorted(text_columns))} columns"
                " (name others with --map subject=COLUMN --map text=COLUMN)"
            )
        for row in reader:
            yield reader.line_num, row


def read_labelled(path: Path, mapping: ColumnMap = NO_MAPPING) -> list[Record]:
    """Records from a .jsonl/.json/.ndjson, .csv or seed-format .txt file, or a seed directory."""
    if path.is_dir():
        return load_seed(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data file {path}")
    suffix = path.suffix.lower()
    if suffix == ".txt":
        return parse_seed_text(path.read_text(encoding="utf-8"), path.name)
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows = _jsonl_rows(path)
    elif suffix == ".csv":
        rows = _csv_rows(path, mapping)
    else:
        raise DataError(f"{path}: unknown data format {suffix!r} (use .jsonl, .csv or seed .txt)")
    return [record_from_row(mapping.apply(row), f"{path}:{lineno}") for lineno, row in rows]
