"""Anki packages (``.apkg``, ``.colpkg``) read into a ``LearningImport``.

Both are zips holding an SQLite collection and media. The collection comes in three forms, newest
first: ``collection.anki21b`` (zstd-compressed, schema 18: note types and decks in their own tables;
Anki 2.1.50+), ``collection.anki21`` and ``collection.anki2`` (schema 11: note types and decks as JSON
in ``col``). A current package also holds a legacy ``collection.anki2`` with a single "please update"
note, so the newest present is read. ``media`` maps numbered members to file names: JSON in legacy
packages, zstd-compressed protobuf (``MediaEntries``) in current ones. Media is not imported; it is
counted.

Mapping: a note becomes a content (its sort field, usually the front, is the title; the other fields
the body; HTML stripped; cloze deletions hidden in the title and revealed in the body), keyed by the
note's guid. Its deck (of its first card) becomes its category (``A::B`` stays the name). The review
log of the note's card with the most reviews becomes its history (a Resee content has one schedule;
reviews of sibling cards are counted, not imported), each entry keyed by ``<guid>/<revlog id>``:
Again → forgot, Hard → partial, Good and Easy → remembered (in the v1 scheduler's learning steps the
buttons were Again, Good, Easy, so 2 and 3 are remembered there). Manual reschedules and entries
without a rating are ignored. Times are the log's own (its ids are epoch milliseconds).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import zstandard

from modules.learning.services import ExternalKey, ImportedContent, ImportedReview, LearningImport
from modules.portability.errors import CorruptFile, UnsafeArchive, UnsupportedFile
from modules.portability.formats.archive import METADATA_LIMIT, Limits, SafeZip, bounded_copy
from modules.portability.formats.text import (
    cloze_answer,
    cloze_question,
    fit,
    has_cloze,
    html_to_text,
    title_and_body,
)

SOURCE = "anki"
COLLECTIONS = ("collection.anki21b", "collection.anki21", "collection.anki2")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_WINDOW_LIMIT = 1 << 23  # what zstd's levels up to 19 use; a larger window is refused, not allocated
ZSTD_CHUNK = 1 << 16
MAX_META_FIELDS = 64  # Anki's PackageMetadata has one field, the version
MAX_FIELDS = 100_000  # any other message read here (a note type's config: a dozen or so)
TITLE_LIMIT = 200  # learning's Content.title
BODY_LIMIT = 50_000  # learning's Content.body
CATEGORY_LIMIT = 100  # learning's Category.name
FIELD_SEPARATOR = "\x1f"
_EARLIEST = datetime(2006, 1, 1, tzinfo=UTC)  # before Anki existed: not a timestamp


@dataclass
class AnkiImport:
    data: LearningImport
    notes: int = 0
    cards: int = 0
    media_skipped: int = 0
    reviews_of_sibling_cards: int = 0
    log_entries_ignored: int = 0
    collection: str = ""
    expected_rows: int = 0  # the contents and reviews ``data`` will yield (for the import's progress)
    warnings: list[str] = field(default_factory=list)


# --- Protobuf, just enough for ``meta`` and ``media`` ------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise CorruptFile("A protobuf value is truncated.")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def protobuf_fields(data: bytes, *, max_fields: int = MAX_FIELDS) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a message's top level, one at a time: varints as ints,
    length-delimited as bytes. Lazy, so a caller stops at the field it wants; more than ``max_fields``
    fields, or a field numbered 0 (never valid), is a corrupt message."""
    pos = count = 0
    while pos < len(data):
        count += 1
        if count > max_fields:
            raise CorruptFile(f"A protobuf message has more than {max_fields} fields.")
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise CorruptFile("A protobuf field is numbered 0.")
        if wire == 0:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise CorruptFile("A protobuf field is truncated.")
            yield number, data[pos : pos + length]
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > len(data):
                raise CorruptFile("A protobuf field is truncated.")
        else:
            raise CorruptFile("An unknown protobuf wire type.")


def _unzstd(data: bytes, *, limit: int, what: str) -> bytes:
    """A zstd frame's content, decompressed a chunk at a time and refused past ``limit`` bytes
    (whatever size the frame declares); the decoder's window is held to ``ZSTD_WINDOW_LIMIT``."""
    out = bytearray()
    try:
        decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_WINDOW_LIMIT)
        with decompressor.stream_reader(data) as reader:
            while chunk := reader.read(ZSTD_CHUNK):
                out += chunk
                if len(out) > limit:
                    raise UnsafeArchive(f"{what} expands beyond {limit} bytes once decompressed.")
    except zstandard.ZstdError as exc:
        raise CorruptFile(f"{what} cannot be decompressed ({exc}).") from exc
    return bytes(out)


# --- The package -------------------------------------------------------------------------------------


def package_version(archive: SafeZip) -> int | None:
    """``meta``'s version (1: anki2, 2: anki21, 3: anki21b), None for packages without it or with a
    ``meta`` that cannot be read. Runs while the upload waits: ``meta`` over ``METADATA_LIMIT`` is
    refused (``UnsafeArchive``) and its fields are read only up to the version."""
    if not archive.has("meta"):
        return None
    meta = archive.read("meta", limit=METADATA_LIMIT)
    try:
        fields = protobuf_fields(meta, max_fields=MAX_META_FIELDS)
        return next((value for number, value in fields if number == 1 and isinstance(value, int)), None)
    except CorruptFile:
        return None


def media_count(archive: SafeZip) -> int:
    """How many media files the package holds: its numbered members, or its ``media`` list if that
    names more. The list (JSON or zstd protobuf) is held to ``METADATA_LIMIT`` bytes, compressed and
    decompressed, and to one entry per member the archive may hold."""
    numbered = sum(1 for name in archive.names() if name.isdigit())
    if not archive.has("media"):
        return numbered
    raw = archive.read("media", limit=METADATA_LIMIT)
    listed = 0
    if raw.startswith(ZSTD_MAGIC):
        entries = protobuf_fields(
            _unzstd(raw, limit=METADATA_LIMIT, what="media"), max_fields=archive.limits.max_members
        )
        try:
            listed = sum(1 for number, _ in entries if number == 1)
        except CorruptFile as exc:
            raise CorruptFile(f"The package's media list is not readable ({exc.message})") from exc
    elif raw.strip():
        try:
            mapping = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise CorruptFile("The package's media list is not readable.") from exc
        listed = len(mapping) if isinstance(mapping, dict) else 0
    return max(listed, numbered)


def choose_collection(archive: SafeZip) -> str:
    present = [name for name in COLLECTIONS if archive.has(name)]
    if not present:
        raise UnsupportedFile("This zip holds no Anki collection (collection.anki21b, .anki21 or .anki2).")
    if package_version(archive) == 3 and "collection.anki21b" not in present:
        raise CorruptFile("The package says it holds collection.anki21b, which is missing.")
    return present[0]


def extract_collection(archive: SafeZip, name: str, target: Path) -> None:
    limit = archive.limits.max_total_bytes
    with target.open("wb") as out:
        if name.endswith("anki21b"):
            with archive.open(name) as member:
                head = member.read(4)
            if head != ZSTD_MAGIC:
                raise CorruptFile(f"{name} is not zstd-compressed.")
            with archive.open(name) as member:
                reader = zstandard.ZstdDecompressor().stream_reader(member)
                try:
                    bounded_copy(reader, out, limit=limit, what=name)
                except zstandard.ZstdError as exc:
                    raise CorruptFile(f"{name} cannot be decompressed ({exc}).") from exc
        else:
            archive.copy(name, out)


def _unicase(left: str, right: str) -> int:
    a, b = left.casefold(), right.casefold()
    return (a > b) - (a < b)


def open_read_only(path: Path) -> sqlite3.Connection:
    """The collection opened read-only (``immutable``: no journal, no lock), its schema untrusted."""
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
    conn.create_collation("unicase", _unicase)  # schema 18's collation, for any query that compares names
    conn.execute("PRAGMA trusted_schema = OFF")
    conn.execute("PRAGMA query_only = ON")
    return conn


# --- The collection ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _NoteType:
    fields: tuple[str, ...]
    sort_field: int


def _timestamp_ms(value: int, now: datetime) -> datetime | None:
    try:
        at = datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return at if _EARLIEST <= at <= now + timedelta(days=1) else None


class _Collection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = {"col", "notes", "cards", "revlog"} - tables
        if missing:
            raise CorruptFile(f"The collection lacks its {', '.join(sorted(missing))} table(s).")
        self.modern = {"notetypes", "fields", "decks"} <= tables
        self.tables = tables
        row = conn.execute("SELECT conf, models, decks FROM col").fetchone()
        if row is None:
            raise CorruptFile("The collection has no header row.")
        self.col_conf, self.col_models, self.col_decks = (self._json(value) for value in row)

    @staticmethod
    def _json(value: Any) -> dict[str, Any]:
        if not value:
            return {}
        try:
            parsed = json.loads(value)
        except (TypeError, ValueError) as exc:
            raise CorruptFile("The collection's header is not readable.") from exc
        return parsed if isinstance(parsed, dict) else {}

    def scheduler_version(self) -> int:
        if "config" in self.tables:
            row = self.conn.execute("SELECT val FROM config WHERE key = 'schedVer'").fetchone()
            if row is not None:
                try:
                    return int(json.loads(row[0]))
                except (TypeError, ValueError):
                    return 2
            return 2  # schema 18 collections run the v2 or v3 scheduler
        return int(self.col_conf.get("schedVer", 1) or 1)

    def note_types(self) -> dict[int, _NoteType]:
        if self.modern:
            names: dict[int, list[str]] = defaultdict(list)
            for ntid, _ord, name in self.conn.execute(
                "SELECT ntid, ord, name FROM fields ORDER BY ntid, ord"
            ):
                names[int(ntid)].append(str(name))
            sort_fields: dict[int, int] = {}
            for ntid, config in self.conn.execute("SELECT id, config FROM notetypes"):
                values = protobuf_fields(config or b"") if isinstance(config, bytes) else []
                sort_fields[int(ntid)] = next((v for n, v in values if n == 2 and isinstance(v, int)), 0)
            return {ntid: _NoteType(tuple(f), sort_fields.get(ntid, 0)) for ntid, f in names.items()}
        types = {}
        for key, model in self.col_models.items():
            fields = sorted(model.get("flds", []), key=lambda f: f.get("ord", 0))
            types[int(key)] = _NoteType(
                tuple(str(f.get("name", "")) for f in fields), int(model.get("sortf", 0))
            )
        return types

    def decks(self) -> dict[int, str]:
        if self.modern:
            rows = self.conn.execute("SELECT id, name FROM decks")
            return {int(did): str(name).replace(FIELD_SEPARATOR, "::") for did, name in rows}
        return {int(key): str(deck.get("name", "")) for key, deck in self.col_decks.items()}


def _result(ease: int, kind: int, *, v1: bool) -> str:
    if ease == 1:
        return "forgot"
    if ease == 2 and not (v1 and kind in (0, 2)):
        return "partial"
    return "remembered"


def _as_int(value: Any) -> int | None:
    """A column of an untrusted collection as an integer (SQLite columns hold any type), else None."""
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


_EARLIEST_MS = int(_EARLIEST.timestamp() * 1000)


def _latest_ms(now: datetime) -> int:
    return int((now + timedelta(days=1)).timestamp() * 1000)


def _rated(rid: Any, ease: Any, kind: Any, latest_ms: int) -> tuple[int, int, int] | None:
    """A log entry's (id, ease, type) when it is a rating at a plausible time (its id, epoch
    milliseconds, between Anki's beginning and ``latest_ms``: ``_timestamp_ms``'s bounds), else None."""
    rid, ease, kind = _as_int(rid), _as_int(ease), _as_int(kind)
    if rid is None or ease is None or kind is None or not (1 <= ease <= 4 and kind in (0, 1, 2, 3)):
        return None
    return (rid, ease, kind) if _EARLIEST_MS <= rid <= latest_ms else None


def read_collection(conn: sqlite3.Connection, *, now: datetime) -> AnkiImport:
    """The collection as learning's import, read lazily: three passes count and choose (the cards, the
    log's ratings per card, the notes' ids and guids: one small entry per card or note), then the
    contents and the reviews are read from the collection as the import takes them, the reviews card by
    card in time order (``reviews_grouped``), so no review is held (a million took ~1 GB before)."""
    collection = _Collection(conn)
    v1 = collection.scheduler_version() == 1
    note_types = collection.note_types()
    decks = collection.decks()

    cards_of: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # nid -> (ord, card id, deck id)
    card_count = 0
    for cid, nid, did, odid, ord_ in conn.execute("SELECT id, nid, did, odid, ord FROM cards"):
        card_count += 1
        cid, nid, deck, ord_ = _as_int(cid), _as_int(nid), _as_int(odid) or _as_int(did), _as_int(ord_)
        if cid is not None and nid is not None:
            cards_of[nid].append((ord_ or 0, cid, deck or 0))

    rated: dict[int, list[int]] = {}  # card id -> [its ratings, the first one's log id]
    ignored = 0
    latest_ms = _latest_ms(now)
    for rid, cid, ease, kind in conn.execute("SELECT id, cid, ease, type FROM revlog"):
        entry, card = _rated(rid, ease, kind, latest_ms), _as_int(cid)
        if entry is None or card is None:
            ignored += 1
            continue
        counted = rated.get(card)
        if counted is None:
            rated[card] = [1, entry[0]]
        else:
            counted[0] += 1
            counted[1] = min(counted[1], entry[0])

    def ratings(card: tuple[int, int, int] | None) -> int:
        return rated[card[1]][0] if card is not None and card[1] in rated else 0

    chosen: dict[int, tuple[str, tuple[int, int, int] | None]] = {}  # note id -> (guid, its primary card)
    primary_of: dict[int, str] = {}  # a chosen note's primary card -> the note's guid
    guids: set[str] = set()
    notes = siblings = expected = 0
    for nid, guid in conn.execute("SELECT id, guid FROM notes ORDER BY id"):
        notes += 1
        nid, guid = _as_int(nid), str(guid)
        if nid is None or nid in chosen or guid in guids:
            continue
        guids.add(guid)
        cards = sorted(cards_of.get(nid, []))
        primary = max(cards, key=lambda card: (ratings(card), -card[0]), default=None)
        siblings += sum(ratings(card) for card in cards) - ratings(primary)
        chosen[nid] = (guid, primary)
        if primary is not None:
            primary_of.setdefault(primary[1], guid)
        expected += 1 + ratings(primary)
    del cards_of, guids

    def contents() -> Iterator[ImportedContent]:
        for nid, guid, mid, mod, flds in conn.execute(
            "SELECT id, guid, mid, mod, flds FROM notes ORDER BY id"
        ):
            nid = _as_int(nid)
            note = chosen.pop(nid, None) if nid is not None else None
            if note is None or note[0] != str(guid):
                continue
            guid, primary = note
            note_type = note_types.get(_as_int(mid) or 0, _NoteType((), 0))
            title, body = _title_and_body(str(flds).split(FIELD_SEPARATOR), note_type)
            first = rated.get(primary[1]) if primary else None
            first_review = _timestamp_ms(first[1], now) if first else None
            created = _timestamp_ms(nid, now) or first_review or now
            if first_review is not None:
                created = min(created, first_review)
            modified_seconds = _as_int(mod) or 0
            modified = (
                datetime.fromtimestamp(modified_seconds, tz=UTC) if 0 < modified_seconds < 2**33 else created
            )
            deck = decks.get(primary[2]) if primary else None
            yield ImportedContent(
                ref=guid,
                key=ExternalKey(SOURCE, guid),
                title=title,
                body=body,
                category=fit(deck.strip(), CATEGORY_LIMIT) if deck and deck.strip() else None,
                created_at=created,
                updated_at=max(modified, created),
            )

    def reviews() -> Iterator[ImportedReview]:
        # Anki's ix_revlog_cid (cid, and the row id after it) gives this order without sorting; a
        # collection without it is sorted by SQLite, which spills to temporary files, not to memory.
        for rid, cid, ease, kind, spent in conn.execute(
            "SELECT id, cid, ease, type, time FROM revlog ORDER BY cid, id"
        ):
            card = _as_int(cid)
            guid = primary_of.get(card) if card is not None else None
            entry = _rated(rid, ease, kind, latest_ms) if guid is not None else None
            if entry is None:
                continue
            milliseconds = _as_int(spent) or 0
            yield ImportedReview(
                content_ref=guid,  # type: ignore[arg-type]
                key=ExternalKey(SOURCE, f"{guid}/{entry[0]}"),
                result=_result(entry[1], entry[2], v1=v1),
                reviewed_at=datetime.fromtimestamp(entry[0] / 1000, tz=UTC),
                time_spent_seconds=round(milliseconds / 1000) if milliseconds > 0 else None,
            )

    return AnkiImport(
        data=LearningImport(contents=contents(), reviews=reviews(), reviews_grouped=True),
        notes=notes,
        cards=card_count,
        reviews_of_sibling_cards=siblings,
        log_entries_ignored=ignored,
        expected_rows=expected,
    )


def _title_and_body(raw_fields: list[str], note_type: _NoteType) -> tuple[str, str]:
    texts = [html_to_text(value) for value in raw_fields]
    cloze = next((i for i, text in enumerate(texts) if has_cloze(text)), None)
    if cloze is None:
        return title_and_body(
            texts,
            title_index=note_type.sort_field,
            title_limit=TITLE_LIMIT,
            body_limit=BODY_LIMIT,
            fallback="Untitled Anki note",
        )
    question = " ".join(cloze_question(texts[cloze]).split())
    answer = [cloze_answer(texts[cloze])] + [
        cloze_answer(text) for i, text in enumerate(texts) if i != cloze and text
    ]
    return fit(question, TITLE_LIMIT) or "Untitled Anki note", fit("\n\n".join(answer), BODY_LIMIT)


@contextmanager
def open_package(path: Path, *, limits: Limits, now: datetime) -> Iterator[AnkiImport]:
    """An ``.apkg``/``.colpkg`` opened for the import: its collection extracted to a temporary file that
    the import reads while this is open (``read_collection``). Raises a ``FileRejected`` error for
    anything it cannot trust, reading the collection included."""
    with tempfile.TemporaryDirectory(prefix="resee-anki-") as workdir:
        database = Path(workdir) / "collection.sqlite"
        with SafeZip(path, limits) as archive:
            name = choose_collection(archive)
            media = media_count(archive)
            extract_collection(archive, name, database)
        conn = open_read_only(database)
        try:
            try:
                result = read_collection(conn, now=now)
            except sqlite3.DatabaseError as exc:
                raise _unreadable(exc) from exc
            result.media_skipped = media
            result.collection = name
            result.warnings.extend(_warnings(result, media))
            try:
                yield result
            except sqlite3.DatabaseError as exc:  # raised while the import read the collection
                raise _unreadable(exc) from exc
        finally:
            conn.close()


def read_package(path: Path, *, limits: Limits, now: datetime) -> AnkiImport:
    """The package read whole (its records as lists): for tools and benchmarks."""
    with open_package(path, limits=limits, now=now) as result:
        data = result.data
        result.data = LearningImport(
            contents=list(data.contents), reviews=list(data.reviews), reviews_grouped=True
        )
    return result


def _unreadable(exc: sqlite3.DatabaseError) -> CorruptFile:
    return CorruptFile(f"The collection is not a readable SQLite database ({exc}).")


def _warnings(result: AnkiImport, media: int) -> list[str]:
    warnings = []
    if result.reviews_of_sibling_cards:
        warnings.append(
            f"{result.reviews_of_sibling_cards} reviews of a note's other cards were not imported "
            "(a content keeps the history of its most reviewed card)."
        )
    if result.log_entries_ignored:
        warnings.append(
            f"{result.log_entries_ignored} review log entries without a rating (manual reschedules) "
            "were ignored."
        )
    if media:
        warnings.append(f"{media} media files were skipped (Resee stores text only).")
    return warnings
