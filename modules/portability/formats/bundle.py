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
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
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
from modules.portability.formats.archive import METADATA_LIMIT, SafeZip

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


class Bundle(_Row):
    format: Literal["resee-export", "resee-export-csv"]
    version: Literal[1]
    exported_at: AwareDatetime
    origin: Origin
    profile: ProfileRow | None = None
    categories: list[CategoryRow] = []
    contents: list[ContentRow] = []
    reviews: list[ReviewRow] = []
    ai_questions: list[QuestionRow] = []


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


def _invalid(exc: ValidationError, where: str = "") -> CorruptFile:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first.get("loc", ()))
    return CorruptFile(
        f"The export is not valid{where}: {location}: {first.get('msg')} ({exc.error_count()} errors)."
    )


def read_json(raw: bytes) -> Bundle:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UnsupportedFile("This is not a JSON document.") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT_JSON:
        raise UnsupportedFile("This JSON document is not a Resee export.")
    try:
        return Bundle.model_validate(document)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def _nullable(model: type[BaseModel]) -> set[str]:
    return {name for name, info in model.model_fields.items() if type(None) in get_args(info.annotation)}


def _csv_rows(
    archive: SafeZip, file_name: str, columns: tuple[str, ...], *, escaped: bool
) -> Iterator[dict[str, Any]]:
    if not archive.has(file_name):
        return
    with archive.open(file_name) as raw:
        reader = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        if reader.fieldnames is None:
            return
        if tuple(reader.fieldnames) != columns:
            raise CorruptFile(f"{file_name} does not have the columns of an export.")
        for row in reader:
            if escaped:  # a short row's missing cells are None, a long row's extras a list: left as they are
                row = {key: unescape_formula(v) if isinstance(v, str) else v for key, v in row.items()}
            yield row


def read_csv_zip(archive: SafeZip) -> Bundle:
    if not archive.has("manifest.json"):
        raise UnsupportedFile("This zip is not a Resee export (no manifest.json).")
    try:
        manifest = json.loads(archive.read("manifest.json", limit=METADATA_LIMIT))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CorruptFile("manifest.json is not readable.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_CSV:
        raise UnsupportedFile("This zip is not a Resee export.")
    # Exports written before formulas were escaped have no ``formula_escape``: their cells are as is.
    escaped = manifest.get("formula_escape") == FORMULA_ESCAPE
    document: dict[str, Any] = {
        key: manifest.get(key) for key in ("format", "version", "exported_at", "origin")
    }
    if manifest.get("profile") is not None:
        document["profile"] = manifest["profile"]
    models: dict[str, type[BaseModel]] = {
        "categories": CategoryRow,
        "contents": ContentRow,
        "reviews": ReviewRow,
        "ai_questions": QuestionRow,
    }
    try:
        for name, (file_name, columns) in CSV_FILES.items():
            nullable = _nullable(models[name]) | {f"schedule_{n}" for n in _nullable(ScheduleRow)}
            rows = []
            for row in _csv_rows(archive, file_name, columns, escaped=escaped):
                values = {
                    key: (None if value == "" and key in nullable else value) for key, value in row.items()
                }
                if name == "contents":
                    schedule = {
                        key[9:]: values.pop(key) for key in list(values) if key.startswith("schedule_")
                    }
                    values["schedule"] = schedule if schedule.get("next_review_date") else None
                if name == "ai_questions":
                    values["options"] = json.loads(values["options"] or "[]")
                rows.append(values)
            document[name] = rows
    except (csv.Error, UnicodeDecodeError, ValueError) as exc:
        raise CorruptFile(f"A CSV file of the export is not readable ({exc}).") from exc
    try:
        return Bundle.model_validate(document)
    except ValidationError as exc:
        raise _invalid(exc) from exc
