"""Real Anki packages for tests and benchmarks (needs the dev dependency ``genanki``).

``build_package`` writes an ``.apkg``/``.colpkg`` whose notes genanki creates, then sets their creation
times, adds a review log with sqlite3 and, for the current format, converts the collection to schema 18
(``collection.anki21b``, zstd) with a ``meta`` and a zstd-protobuf ``media`` list, beside the dummy
``collection.anki2`` Anki itself writes for old clients.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import zstandard

Format = Literal["anki2", "anki21", "anki21b"]
AGAIN, HARD, GOOD, EASY = 1, 2, 3, 4
LEARN, REVIEW, RELEARN = 0, 1, 2


@dataclass
class Review:
    at: datetime
    ease: int = GOOD
    kind: int = REVIEW
    ms: int = 6000


@dataclass
class Note:
    fields: Sequence[str]
    created_at: datetime
    deck: str = "Imported"
    reviews: list[Review] = field(default_factory=list)
    cloze: bool = False
    guid: str | None = None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _genanki_collection(notes: Sequence[Note], workdir: Path) -> Path:
    import genanki

    basic = genanki.Model(
        1607392319,
        "Basic",
        fields=[{"name": "Front"}, {"name": "Back"}],
        templates=[{"name": "Card 1", "qfmt": "{{Front}}", "afmt": "{{FrontSide}}<hr id=answer>{{Back}}"}],
    )
    decks: dict[str, genanki.Deck] = {}
    for index, note in enumerate(notes):
        deck = decks.setdefault(note.deck, genanki.Deck(2059400000 + len(decks), note.deck))
        model = genanki.CLOZE_MODEL if note.cloze else basic
        deck.add_note(
            genanki.Note(model=model, fields=list(note.fields), guid=note.guid or f"guid-{index:06d}")
        )
    package = workdir / "genanki.apkg"
    genanki.Package(list(decks.values())).write_to_file(str(package))
    database = workdir / "collection.anki2"
    with zipfile.ZipFile(package) as archive:
        database.write_bytes(archive.read("collection.anki2"))
    return database


def _add_history(database: Path, notes: Sequence[Note], sched_ver: int) -> None:
    """Notes created at their ``created_at`` (a note's id is its creation in epoch ms) and their reviews
    in the revlog (ids: the review's epoch ms, moved on by a millisecond where two would collide)."""
    conn = sqlite3.connect(database)
    with conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM notes ORDER BY id")]
        for index, old_id in enumerate(ids):  # out of the way first: new ids may equal old ones
            conn.execute("UPDATE notes SET id = ? WHERE id = ?", (-(index + 1), old_id))
            conn.execute("UPDATE cards SET nid = ? WHERE nid = ?", (-(index + 1), old_id))
        used: set[int] = set()
        revlog = []
        for index, note in enumerate(notes):
            note_id = _ms(note.created_at) + index
            conn.execute("UPDATE notes SET id = ? WHERE id = ?", (note_id, -(index + 1)))
            conn.execute("UPDATE cards SET nid = ? WHERE nid = ?", (note_id, -(index + 1)))
            card_id = conn.execute("SELECT id FROM cards WHERE nid = ? ORDER BY ord", (note_id,)).fetchone()[
                0
            ]
            for review in note.reviews:
                revlog_id = _ms(review.at)
                while revlog_id in used:
                    revlog_id += 1
                used.add(revlog_id)
                revlog.append((revlog_id, card_id, -1, review.ease, 1, 0, 2500, review.ms, review.kind))
        conn.executemany("INSERT INTO revlog VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", revlog)
        conf = json.loads(conn.execute("SELECT conf FROM col").fetchone()[0] or "{}")
        conf["schedVer"] = sched_ver
        conn.execute("UPDATE col SET conf = ?", (json.dumps(conf),))
    conn.close()


def _unicase(left: str, right: str) -> int:
    a, b = left.casefold(), right.casefold()
    return (a > b) - (a < b)


def _to_schema_18(database: Path) -> None:
    """Note types and decks out of ``col`` into their own tables, as Anki 2.1.50+ stores them."""
    conn = sqlite3.connect(database)
    conn.create_collation("unicase", _unicase)
    with conn:
        models, decks = (
            json.loads(value) for value in conn.execute("SELECT models, decks FROM col").fetchone()
        )
        conn.executescript(
            """
            CREATE TABLE notetypes (id integer NOT NULL PRIMARY KEY, name text NOT NULL COLLATE unicase,
              mtime_secs integer NOT NULL, usn integer NOT NULL, config blob NOT NULL);
            CREATE TABLE fields (ntid integer NOT NULL, ord integer NOT NULL, name text NOT NULL COLLATE unicase,
              config blob NOT NULL, PRIMARY KEY (ntid, ord)) WITHOUT ROWID;
            CREATE TABLE decks (id integer PRIMARY KEY NOT NULL, name text NOT NULL COLLATE unicase,
              mtime_secs integer NOT NULL, usn integer NOT NULL, common blob NOT NULL, kind blob NOT NULL);
            CREATE UNIQUE INDEX idx_decks_name ON decks (name);
            CREATE TABLE config (KEY text NOT NULL PRIMARY KEY, usn integer NOT NULL,
              mtime_secs integer NOT NULL, val blob NOT NULL) WITHOUT ROWID;
            """
        )
        for mid, model in models.items():
            config = _field(1, int(model.get("type", 0))) + _field(2, int(model.get("sortf", 0)))
            conn.execute("INSERT INTO notetypes VALUES (?, ?, 0, 0, ?)", (int(mid), model["name"], config))
            for f in model["flds"]:
                conn.execute("INSERT INTO fields VALUES (?, ?, ?, ?)", (int(mid), f["ord"], f["name"], b""))
        for did, deck in decks.items():
            name = deck["name"].replace("::", "\x1f")
            conn.execute("INSERT OR IGNORE INTO decks VALUES (?, ?, 0, 0, ?, ?)", (int(did), name, b"", b""))
        conn.execute("INSERT INTO config VALUES ('schedVer', 0, 0, ?)", (b"2",))
        conn.execute("UPDATE col SET models = '', decks = '', dconf = '', tags = ''")
    conn.execute("VACUUM")
    conn.close()


def _dummy_collection(workdir: Path) -> bytes:
    """What Anki writes as collection.anki2 beside a current collection: one "please update" note."""
    notes = [
        Note(
            fields=[
                "Please update to the latest Anki version, then import the .colpkg/.apkg file again.",
                "",
            ],
            created_at=datetime(2022, 1, 1).astimezone(),
        )
    ]
    dummy_dir = workdir / "dummy"
    dummy_dir.mkdir()
    return _genanki_collection(notes, dummy_dir).read_bytes()


def build_package(
    path: Path,
    notes: Sequence[Note],
    *,
    format: Format = "anki2",
    media: int = 0,
    sched_ver: int = 2,
) -> Path:
    """Writes an Anki package with ``notes`` (their reviews in the revlog) and ``media`` media files."""
    with tempfile.TemporaryDirectory(prefix="resee-apkg-") as tmp:
        workdir = Path(tmp)
        database = _genanki_collection(notes, workdir)
        _add_history(database, notes, sched_ver)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            names = [f"image{i}.jpg" for i in range(media)]
            for i in range(media):
                archive.writestr(str(i), b"\xff\xd8\xff" + bytes(64))
            if format == "anki21b":
                _to_schema_18(database)
                archive.writestr(
                    "collection.anki21b", zstandard.ZstdCompressor().compress(database.read_bytes())
                )
                archive.writestr("collection.anki2", _dummy_collection(workdir))
                archive.writestr("meta", _field(1, 3))
                entries = b"".join(_field(1, _field(1, name.encode()) + _field(2, 67)) for name in names)
                archive.writestr("media", zstandard.ZstdCompressor().compress(entries))
            else:
                archive.writestr(f"collection.{format}", database.read_bytes())
                if format == "anki21":
                    archive.writestr("collection.anki2", _dummy_collection(workdir))
                archive.writestr("media", json.dumps({str(i): name for i, name in enumerate(names)}))
    return path
