"""CSV files (and Anki's "Notes in Plain Text" export) read into a ``LearningImport``.

Anki's header lines are honoured (``#separator:Tab``, ``#html:true``, ``#deck column:3``,
``#guid column:1``, ``#tags column:4``, ``#notetype column:2``, ``#deck:Name``). Otherwise the
separator is sniffed (comma, tab, semicolon, pipe) and a first row naming its columns is a header:
``title``/``front``/``question``/``term``, ``body``/``back``/``answer``/``definition``,
``category``/``deck``, ``guid``/``id``. Without a header the first column is the title and the others
the body. Rows are keyed by their guid column, or else by a hash of their title and body, so importing
the same file again finds them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from modules.learning.services import ExternalKey, ImportedContent, LearningImport
from modules.portability.errors import UnsupportedFile
from modules.portability.formats.text import (
    fit,
    html_to_text,
    looks_like_html,
    storable,
    tidy,
    title_and_body,
)

SOURCE = "csv"
TITLE_LIMIT, BODY_LIMIT, CATEGORY_LIMIT = 200, 50_000, 100
_SEPARATORS = {"tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " ", "colon": ":"}
_ROLES = {
    "title": {"title", "front", "question", "term", "word", "prompt"},
    "body": {"body", "back", "answer", "definition", "meaning", "text"},
    "category": {"category", "deck"},
    "guid": {"guid", "id", "note id"},
    "ignore": {"tags", "notetype", "note type"},
}


@dataclass
class CsvImport:
    """A CSV file being read: ``data.contents`` yields its rows as the import consumes them;
    ``counts``, ``rows_skipped`` and ``warnings`` are final once it has been consumed, and ``fraction()``
    tells how much of the file has been read."""

    data: LearningImport
    counts: dict[str, int] = field(default_factory=lambda: {"rows": 0})  # rows read (empty ones aside)
    rows_skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    fraction: Callable[[], float] = lambda: 0.0


# The separator is sniffed from the first lines of at most this many characters.
_SNIFF_CHARS = 64 * 1024


@contextmanager
def open_csv(path: Path, *, now: datetime) -> Iterator[CsvImport]:
    """Reads the file a row at a time while the import consumes its contents: memory stays bounded by a
    row and the set of row keys seen (a 107 MB file of 500,000 rows took 1.2 GB when read whole). A
    file that turns out not to be UTF-8 or CSV further on raises UnsupportedFile from the iteration."""
    with path.open("rb") as raw:
        if b"\x00" in raw.read(4096):
            raise UnsupportedFile("This is not a text file.")
        raw.seek(0)
        size = max(path.stat().st_size, 1)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        try:
            options, sample = _options_and_sample(text)
        except UnicodeDecodeError as exc:
            raise UnsupportedFile("A CSV file must be UTF-8 text.") from exc
        separator = _SEPARATORS.get(options.get("separator", "").lower(), options.get("separator", "")[:1])
        if not separator:
            separator = _guess_separator("".join(sample))
        result = CsvImport(data=LearningImport(), fraction=lambda: min(raw.tell() / size, 1.0))
        lines = itertools.chain(sample, text)
        result.data = LearningImport(contents=_contents(lines, separator, options, result, now=now))
        yield result


def _options_and_sample(text: io.TextIOWrapper) -> tuple[dict[str, str], list[str]]:
    """Anki's ``#key:value`` header lines, then the first lines after them (up to ``_SNIFF_CHARS``),
    kept for the separator's guess and read again as rows."""
    options: dict[str, str] = {}
    sample: list[str] = []
    sampled = 0
    for line in text:
        if not sample and line.startswith("#") and ":" in line:
            key, _, value = line[1:].partition(":")
            options[key.strip().lower()] = value.strip()
            continue
        sample.append(line)
        sampled += len(line)
        if sampled >= _SNIFF_CHARS:
            break
    return options, sample


def _rows(lines: Iterable[str], separator: str) -> Iterator[list[str]]:
    try:
        for row in csv.reader(lines, delimiter=separator):
            if any(c.strip() for c in row):
                yield row
    except csv.Error as exc:
        raise UnsupportedFile(f"This is not readable CSV ({exc}).") from exc
    except UnicodeDecodeError as exc:
        raise UnsupportedFile("A CSV file must be UTF-8 text.") from exc


def _contents(
    lines: Iterable[str], separator: str, options: dict[str, str], result: CsvImport, *, now: datetime
) -> Iterator[ImportedContent]:
    rows = _rows(lines, separator)
    roles = _roles_from_options(options)
    first = next(rows, None)
    if first is not None and not roles and _is_header(first):
        roles = {i: role for i, name in enumerate(first) if (role := _role_of(name))}
    elif first is not None:
        rows = itertools.chain([first], rows)
    html = options.get("html", "").lower() == "true"
    default_deck = options.get("deck") or None
    seen: set[bytes] = set()  # 16-byte digests of the row keys: a row given twice is skipped
    for row in rows:
        result.counts["rows"] += 1
        cells = [_clean(cell, html=html) for cell in row]
        title_cells = [i for i, role in roles.items() if role == "title" and i < len(cells)]
        body_cells = [i for i, role in roles.items() if role == "body" and i < len(cells)]
        if not title_cells:
            taken = set(roles)
            free = [i for i in range(len(cells)) if i not in taken]
            title_cells, body_cells = free[:1], body_cells + free[1:]
        fields = [cells[i] for i in title_cells + body_cells]
        if not any(fields):
            result.rows_skipped += 1
            continue
        title, body = title_and_body(
            fields, title_limit=TITLE_LIMIT, body_limit=BODY_LIMIT, fallback="Untitled"
        )
        category = next(
            (cells[i] for i, role in roles.items() if role == "category" and i < len(cells)), None
        )
        category = category or default_deck
        guid = next(
            (cells[i] for i, role in roles.items() if role == "guid" and i < len(cells) and cells[i]), None
        )
        key = guid or hashlib.sha256(f"{title}\x1f{body}".encode()).hexdigest()[:40]
        digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
        if digest in seen:
            result.rows_skipped += 1
            continue
        seen.add(digest)
        yield ImportedContent(
            ref=key,
            key=ExternalKey(SOURCE, fit(key, 200)),
            title=title,
            body=body,
            category=fit(category.replace("\x1f", "::"), CATEGORY_LIMIT) if category else None,
            created_at=now,
        )
    if result.rows_skipped:
        result.warnings.append(f"{result.rows_skipped} rows were empty or repeated and were skipped.")


def _guess_separator(text: str) -> str:
    """The candidate found on the most of the first lines (then the most often): a comma, a tab, a
    semicolon or a pipe."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    scores = {
        candidate: (sum(candidate in line for line in lines), sum(line.count(candidate) for line in lines))
        for candidate in (",", "\t", ";", "|")
    }
    best = max(scores, key=lambda candidate: scores[candidate])
    return best if scores[best][0] else ","


def _clean(cell: str, *, html: bool) -> str:
    return html_to_text(cell) if html or looks_like_html(cell) else tidy(storable(cell))


def _role_of(name: str) -> str | None:
    lowered = name.strip().lower()
    return next((role for role, names in _ROLES.items() if lowered in names), None)


def _is_header(row: list[str]) -> bool:
    roles = [_role_of(cell) for cell in row]
    return any(role in {"title", "body"} for role in roles)


def _roles_from_options(options: dict[str, str]) -> dict[int, str]:
    roles: dict[int, str] = {}
    for option, role in (
        ("guid column", "guid"),
        ("deck column", "category"),
        ("tags column", "ignore"),
        ("notetype column", "ignore"),
    ):
        value = options.get(option, "")
        if value.isdigit() and int(value) >= 1:
            roles[int(value) - 1] = role
    return roles
