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
from dataclasses import dataclass, field
from datetime import datetime

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
    data: LearningImport
    rows: int = 0
    rows_skipped: int = 0
    warnings: list[str] = field(default_factory=list)


def _decode(raw: bytes) -> str:
    if b"\x00" in raw[:4096]:
        raise UnsupportedFile("This is not a text file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnsupportedFile("A CSV file must be UTF-8 text.") from exc


def read_csv(raw: bytes, *, now: datetime) -> CsvImport:
    text = _decode(raw)
    lines = text.splitlines(keepends=True)
    options: dict[str, str] = {}
    start = 0
    while start < len(lines) and lines[start].startswith("#") and ":" in lines[start]:
        key, _, value = lines[start][1:].partition(":")
        options[key.strip().lower()] = value.strip()
        start += 1
    body_text = "".join(lines[start:])
    separator = _SEPARATORS.get(options.get("separator", "").lower(), options.get("separator", "")[:1])
    if not separator:
        separator = _guess_separator(body_text)
    try:
        rows = [
            row
            for row in csv.reader(io.StringIO(body_text), delimiter=separator)
            if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        raise UnsupportedFile(f"This is not readable CSV ({exc}).") from exc
    roles = _roles_from_options(options)
    if rows and not roles and _is_header(rows[0]):
        roles = {i: role for i, name in enumerate(rows[0]) if (role := _role_of(name))}
        rows = rows[1:]
    html = options.get("html", "").lower() == "true"
    default_deck = options.get("deck") or None
    result = CsvImport(data=LearningImport())
    contents: list[ImportedContent] = []
    seen: set[str] = set()
    for row in rows:
        result.rows += 1
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
        if key in seen:
            result.rows_skipped += 1
            continue
        seen.add(key)
        contents.append(
            ImportedContent(
                ref=key,
                key=ExternalKey(SOURCE, fit(key, 200)),
                title=title,
                body=body,
                category=fit(category.replace("\x1f", "::"), CATEGORY_LIMIT) if category else None,
                created_at=now,
            )
        )
    if result.rows_skipped:
        result.warnings.append(f"{result.rows_skipped} rows were empty or repeated and were skipped.")
    result.data = LearningImport(contents=contents)
    return result


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
