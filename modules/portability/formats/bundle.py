"""Resee's own export: one JSON document, or a zip of CSV files with a ``manifest.json``.

Both carry the same data, column for column: the profile, categories, contents with their schedules,
the review history with every column the scheduler wrote, and AI questions. Both read back through the
same validation (``Bundle``), so an export re-imports as it was (``docs/portability.md``: format).
Datetimes are ISO 8601 in UTC; floats are written with ``repr`` precision (JSON numbers, CSV text), so
they read back bit for bit. A CSV text cell a spreadsheet would run as a formula (starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) is written behind a single quote, which the import
takes off again (``formula_escape`` in the manifest says the files were written so).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Annotated, Any, Literal, get_args
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from modules.ai.services import QuestionRecord, QuestionType
from modules.common.enums import SchedulerKind, literal
from modules.learning.services import CategoryRecord, ContentRecord, ReviewRecord, ReviewResult
from modules.portability.errors import CorruptFile, UnsupportedFile
from modules.portability.formats import jsonstream
from modules.portability.formats.archive import METADATA_LIMIT, READ_ERRORS, SafeZip

FORMAT_JSON = "resee-export"
FORMAT_CSV = "resee-export-csv"
VERSION = 1
INT32 = 2**31 - 1
INT16 = 2**15 - 1


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL characters cannot be stored")
    return value


Text = Annotated[str, AfterValidator(_storable)]
SchedulerName = literal(SchedulerKind)
ResultName = literal(ReviewResult)
QuestionTypeName = literal(QuestionType)


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Origin(_Row):
    instance: str = Field(max_length=64)
    user_id: int = Field(ge=1)


class ProfileRow(_Row):
    first_name: Text = Field("", max_length=150)
    last_name: Text = Field("", max_length=150)
    timezone: str = "UTC"
    daily_reminder_hour: int = Field(9, ge=0, le=23)
    notifications_enabled: bool = True
    scheduler: SchedulerName = "ladder"
    desired_retention: float = Field(0.9, ge=0.70, le=0.97)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _zones():
            raise ValueError(f"unknown time zone {value!r}")
        return value


def _zones(cache: dict[str, set[str]] = {}) -> set[str]:  # noqa: B006 - computed once
    if "zones" not in cache:
        cache["zones"] = available_timezones()
    return cache["zones"]


class CategoryRow(_Row):
    name: Text = Field(min_length=1, max_length=100)
    description: Text = Field("", max_length=1000)
    created_at: AwareDatetime | None = None


class ScheduleRow(_Row):
    stage: int = Field(ge=0, le=INT16)
    next_review_date: AwareDatetime
    last_reviewed_at: AwareDatetime | None
    review_count: int = Field(ge=0, le=INT32)
    interval_days: int = Field(ge=0, le=INT32)
    scheduler: SchedulerName
    stability: float | None
    difficulty: float | None
    fsrs_state: int | None = Field(None, ge=0, le=INT16)
    fsrs_step: int | None = Field(None, ge=0, le=INT16)


class ContentRow(_Row):
    id: int = Field(ge=1)
    title: Text = Field(min_length=1, max_length=200)
    body: Text = Field(max_length=50_000)
    category: Text | None = Field(None, max_length=100)
    created_at: AwareDatetime
    updated_at: AwareDatetime
    external_source: Text | None = Field(None, min_length=1, max_length=20)
    external_id: Text | None = Field(None, min_length=1, max_length=200)
    schedule: ScheduleRow | None = None


class ReviewRow(_Row):
    id: int = Field(ge=1)
    content_id: int = Field(ge=1)
    result: ResultName
    reviewed_at: AwareDatetime
    time_spent_seconds: int | None = Field(None, ge=0, le=INT32)
    external_source: Text | None = Field(None, min_length=1, max_length=20)
    external_id: Text | None = Field(None, min_length=1, max_length=200)
    recorded_at: AwareDatetime
    stage_before: int = Field(ge=0, le=INT16)
    stage_after: int = Field(ge=0, le=INT16)
    interval_days: int = Field(ge=0, le=INT32)
    early: bool
    retrievability_before: float | None
    scheduler: SchedulerName


class QuestionRow(_Row):
    content_id: int = Field(ge=1)
    type: QuestionTypeName
    question: Text
    options: list[Text]
    correct_answer: Text
    explanation: Text = ""
    difficulty: Literal["beginner", "intermediate", "advanced"]
    provider: Text = Field(max_length=20)
    model: Text = Field(max_length=100)
    tokens_used: int = Field(0, ge=0, le=INT32)
    generation_time_ms: int = Field(0, ge=0, le=INT32)
    created_at: AwareDatetime


class Header(_Row):
    """What precedes the rows: which format, from where, and the learner's settings."""

    format: Literal["resee-export", "resee-export-csv"]
    version: Literal[1]
    exported_at: AwareDatetime
    origin: Origin
    profile: ProfileRow | None = None


SECTION_ROWS: dict[str, type[_Row]] = {
    "categories": CategoryRow,
    "contents": ContentRow,
    "reviews": ReviewRow,
    "ai_questions": QuestionRow,
}


# --- Writing -------------------------------------------------------------------------------------------

CATEGORY_COLUMNS = ("name", "description", "created_at")
SCHEDULE_COLUMNS = tuple(ScheduleRow.model_fields)
CONTENT_COLUMNS = (
    *(name for name in ContentRow.model_fields if name != "schedule"),
    *(f"schedule_{name}" for name in SCHEDULE_COLUMNS),
)
REVIEW_COLUMNS = tuple(ReviewRow.model_fields)
QUESTION_COLUMNS = tuple(QuestionRow.model_fields)
CSV_FILES = {
    "categories": ("categories.csv", CATEGORY_COLUMNS),
    "contents": ("contents.csv", CONTENT_COLUMNS),
    "reviews": ("reviews.csv", REVIEW_COLUMNS),
    "ai_questions": ("ai_questions.csv", QUESTION_COLUMNS),
}


def category_row(record: CategoryRecord) -> dict[str, Any]:
    return {"name": record.name, "description": record.description, "created_at": record.created_at}


def content_row(record: ContentRecord) -> dict[str, Any]:
    schedule = record.schedule
    return {
        "id": record.id,
        "title": record.title,
        "body": record.body,
        "category": record.category,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "external_source": record.external_source,
        "external_id": record.external_id,
        "schedule": {name: getattr(schedule, name) for name in SCHEDULE_COLUMNS} if schedule else None,
    }


def review_row(record: ReviewRecord) -> dict[str, Any]:
    recorded = record.recorded
    return {
        "id": record.id,
        "content_id": record.content_id,
        "result": record.result,
        "reviewed_at": record.reviewed_at,
        "time_spent_seconds": record.time_spent_seconds,
        "external_source": record.external_source,
        "external_id": record.external_id,
        "recorded_at": recorded.recorded_at,
        "stage_before": recorded.stage_before,
        "stage_after": recorded.stage_after,
        "interval_days": recorded.interval_days,
        "early": recorded.early,
        "retrievability_before": recorded.retrievability_before,
        "scheduler": recorded.scheduler,
    }


def question_row(record: QuestionRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in QUESTION_COLUMNS}


def _json_default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


Sections = dict[str, Iterable[dict[str, Any]]]


def write_json(target: IO[str], header: dict[str, Any], sections: Sections, tick: Callable[[], None]) -> None:
    """One JSON document, written row by row (an export never sits whole in memory)."""
    head = json.dumps(
        {"format": FORMAT_JSON, "version": VERSION, **header}, default=_json_default, ensure_ascii=False
    )
    target.write(head[:-1])
    for name, rows in sections.items():
        target.write(f', "{name}": [')
        for i, row in enumerate(rows):
            target.write((",\n" if i else "\n") + json.dumps(row, default=_json_default, ensure_ascii=False))
            tick()
        target.write("\n]")
    target.write("}\n")


# OWASP's CSV injection advice: a cell starting with one of these runs as a formula in Excel or
# LibreOffice (``=HYPERLINK(...)`` from a shared deck), so text starting with one is written behind a
# single quote. Text that already starts with quotes before one of them gets one more, so the import
# can take exactly one off any cell that starts with a quote followed (after more quotes) by one of
# these: every cell reads back as it was.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_ESCAPE = "'"


def escape_formula(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet shows as text (OWASP: a leading single quote)."""
    return FORMULA_ESCAPE + text if text.lstrip(FORMULA_ESCAPE).startswith(FORMULA_TRIGGERS) else text


def unescape_formula(cell: str) -> str:
    """The text ``escape_formula`` wrote ``cell`` for."""
    if cell.startswith(FORMULA_ESCAPE) and cell.lstrip(FORMULA_ESCAPE).startswith(FORMULA_TRIGGERS):
        return cell[len(FORMULA_ESCAPE) :]
    return cell


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return str(value)  # a number, never a formula (``-3`` is minus three)
    return escape_formula(str(value))


def _flat(name: str, row: dict[str, Any]) -> dict[str, Any]:
    if name != "contents":
        return row
    schedule = row.get("schedule") or {}
    flat = {key: value for key, value in row.items() if key != "schedule"}
    flat.update({f"schedule_{key}": schedule.get(key) for key in SCHEDULE_COLUMNS})
    return flat


def write_csv_zip(
    target: IO[bytes], header: dict[str, Any], sections: Sections, tick: Callable[[], None]
) -> None:
    """``manifest.json`` and one CSV file per section (UTF-8, a header row, RFC 4180 quoting)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        manifest = {
            "format": FORMAT_CSV,
            "version": VERSION,
            **header,
            "formula_escape": FORMULA_ESCAPE,
            "files": {},
        }
        for name, rows in sections.items():
            file_name, columns = CSV_FILES[name]
            manifest["files"][name] = file_name
            with archive.open(file_name, "w", force_zip64=True) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                writer = csv.writer(text)
                writer.writerow(columns)
                for row in rows:
                    flat = _flat(name, row)
                    writer.writerow([_csv_value(flat.get(column)) for column in columns])
                    tick()
                text.flush()
                text.detach()
        archive.writestr(
            "manifest.json", json.dumps(manifest, default=_json_default, ensure_ascii=False, indent=2)
        )


# --- Reading -----------------------------------------------------------------------------------------------
#
# An export is read a section at a time and a row at a time, each row validated as it comes: the import
# writes rows in batches as it reads them, so a file of a million reviews is never held whole (before,
# the JSON was parsed whole, then validated whole: 2.8 GB of memory for 1,000,000 reviews).


def _invalid(exc: ValidationError, where: str = "") -> CorruptFile:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in (*([where] if where else []), *first.get("loc", ())))
    return CorruptFile(
        f"The export is not valid: {location}: {first.get('msg')} ({exc.error_count()} errors)."
    )


class BundleReader(ABC):
    """A Resee export opened for reading: its ``header`` at once, each section's rows when asked for
    (``rows``), validated one by one. ``fraction`` tells how far into the file the reading is."""

    header: Header

    def rows(self, section: str) -> Iterator[Any]:
        """The section's rows in file order, each a validated row model; CorruptFile names the first
        invalid one (``contents.12.title``)."""
        model = SECTION_ROWS[section]
        for index, raw in enumerate(self._raw_rows(section)):
            try:
                yield model.model_validate(raw)
            except ValidationError as exc:
                raise _invalid(exc, f"{section}.{index}") from exc

    @abstractmethod
    def _raw_rows(self, section: str) -> Iterable[Any]:
        """The section's rows as read, before validation."""

    @abstractmethod
    def fraction(self) -> float:
        """How far into the file the reading is, 0 to 1."""

    def finish(self) -> None:
        """Checks what the sections read so far left unread (once every section has been read)."""
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _header(values: dict[str, Any]) -> Header:
    try:
        return Header.model_validate(values)
    except ValidationError as exc:
        raise _invalid(exc) from exc


_ABSENT = object()
READ_CHUNK = 1 << 20
_HEADER_KEYS = frozenset(Header.model_fields)


class JsonBundle(BundleReader):
    """A JSON export, streamed (``jsonstream``). A section is read where the reading stands when it is
    after it in the file, else by a new reading from the start: an export's own order (header,
    categories, contents, reviews, questions) is read once, any other order still works."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = max(path.stat().st_size, 1)
        self._members: Iterator[tuple[str, Any]] | None = None  # the reading under way
        self._reading: jsonstream.Members | None = None
        found: dict[str, Any] = {}
        for name, value in self._read():
            if name in _HEADER_KEYS:
                found[name] = value
                if found.keys() == _HEADER_KEYS:
                    break
        if found.get("format") != FORMAT_JSON:
            raise UnsupportedFile("This JSON document is not a Resee export.")
        self.header = _header(found)

    def _from_start(self) -> Iterator[tuple[str, Any]]:
        seen: set[str] = set()
        self._reading = jsonstream.Members(self.path, streamed=SECTION_ROWS)
        with self._errors():
            for name, value in self._reading:
                if name in seen:
                    raise CorruptFile(f"The document names {name[:40]!r} twice.")
                seen.add(name)
                yield name, value

    @staticmethod
    @contextmanager
    def _errors() -> Iterator[None]:
        """The reader's errors as the import's: not JSON at all, or not valid past some point."""
        try:
            yield
        except jsonstream.JsonStreamError as exc:
            if exc.at_start:
                raise UnsupportedFile("This is not a JSON document.") from exc
            raise CorruptFile(f"The export is not valid JSON: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise CorruptFile("The export is not UTF-8 text.") from exc

    def _read(self) -> Iterator[tuple[str, Any]]:
        """The members from where the reading under way stands, or from the start."""
        if self._members is None:
            self._members = self._from_start()
        members = self._members
        # Not ``yield from``: a caller that stops early would close the reading under way with it.
        while (member := next(members, None)) is not None:
            yield member
        self._members = None

    def close(self) -> None:
        if self._members is not None:
            self._members.close()
            self._members = None

    def _find(self, section: str) -> Any:
        """The section's value: further on in the reading under way, else in a new reading."""
        for fresh in (self._members is None, True):
            if fresh:
                self._members = None
            for name, value in self._read():
                if name == section:
                    return value
            if fresh:
                break
        return _ABSENT

    def _raw_rows(self, section: str) -> Iterator[Any]:
        with self._errors():
            value = self._find(section)
            if value is _ABSENT:
                return
            if not isinstance(value, jsonstream.Array):
                raise CorruptFile(f"The export is not valid: {section}: Input should be a valid list.")
            yield from value

    def finish(self) -> None:
        with self._errors():
            for _ in self._read():  # the rest of the document: nothing named twice, nothing cut
                pass

    def fraction(self) -> float:
        return min(self._reading.position / self.size, 1.0) if self._reading else 0.0


def open_json(path: Path) -> JsonBundle:
    return JsonBundle(path)


def _nullable(model: type[BaseModel]) -> set[str]:
    return {name for name, info in model.model_fields.items() if type(None) in get_args(info.annotation)}


class CsvZipBundle(BundleReader):
    """A CSV export: ``manifest.json`` (the header) and one CSV file per section, each read a row at a
    time."""

    def __init__(self, archive: SafeZip) -> None:
        self.archive = archive
        if not archive.has("manifest.json"):
            raise UnsupportedFile("This zip is not a Resee export (no manifest.json).")
        try:
            manifest = json.loads(archive.read("manifest.json", limit=METADATA_LIMIT))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise CorruptFile("manifest.json is not readable.") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_CSV:
            raise UnsupportedFile("This zip is not a Resee export.")
        # Exports written before formulas were escaped have no ``formula_escape``: their cells are as is.
        self.escaped = manifest.get("formula_escape") == FORMULA_ESCAPE
        self.header = _header({key: manifest[key] for key in _HEADER_KEYS if manifest.get(key) is not None})
        names = [file_name for file_name, _ in CSV_FILES.values() if archive.has(file_name)]
        self.total = max(sum(archive.zip.getinfo(name).file_size for name in names), 1)
        self.read_bytes = 0

    def _raw_rows(self, section: str) -> Iterator[dict[str, Any]]:
        file_name, columns = CSV_FILES[section]
        nullable = _nullable(SECTION_ROWS[section]) | {f"schedule_{n}" for n in _nullable(ScheduleRow)}
        try:
            for row in self._csv_rows(file_name, columns):
                values = {
                    key: (None if value == "" and key in nullable else value) for key, value in row.items()
                }
                if section == "contents":
                    schedule = {
                        key[9:]: values.pop(key) for key in list(values) if key.startswith("schedule_")
                    }
                    values["schedule"] = schedule if schedule.get("next_review_date") else None
                if section == "ai_questions":
                    values["options"] = json.loads(values["options"] or "[]")
                yield values
        except (csv.Error, UnicodeDecodeError, ValueError, *READ_ERRORS) as exc:
            raise CorruptFile(f"A CSV file of the export is not readable ({exc}).") from exc

    def _csv_rows(self, file_name: str, columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        if not self.archive.has(file_name):
            return
        with self.archive.open(file_name) as raw:
            counted = io.BufferedReader(_Counted(raw, self), READ_CHUNK)
            reader = csv.DictReader(io.TextIOWrapper(counted, encoding="utf-8", newline=""))
            if reader.fieldnames is None:
                return
            if tuple(reader.fieldnames) != columns:
                raise CorruptFile(f"{file_name} does not have the columns of an export.")
            for row in reader:
                if self.escaped:  # a short row's missing cells are None, a long row's extras a list: as is
                    row = {key: unescape_formula(v) if isinstance(v, str) else v for key, v in row.items()}
                yield row

    def fraction(self) -> float:
        return min(self.read_bytes / self.total, 1.0)


class _Counted(io.RawIOBase):
    """A member's stream that counts what is read from it (for ``fraction``)."""

    def __init__(self, raw: IO[bytes], bundle: CsvZipBundle) -> None:
        self.raw, self.bundle = raw, bundle

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.bundle.read_bytes += len(data)
        return len(data)


def open_csv_zip(archive: SafeZip) -> CsvZipBundle:
    return CsvZipBundle(archive)
