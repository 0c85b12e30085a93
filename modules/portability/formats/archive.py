"""Zip files read defensively.

A zip is checked as a whole before anything is read from it: how many members, how much they expand
to in total and per member (a zip bomb declares sizes far beyond what it holds compressed), and their
names (absolute paths, ``..``, drive letters: path traversal). Before that, the central directory's
records are counted in the raw bytes, so a directory of millions of entries is refused before
``zipfile`` builds an object for each. Member names are never used as paths: only known members are
read, by name, into a temporary file the reader owns (a collection: ``copy``) or into memory (a small
metadata member such as ``meta``, ``media`` or ``manifest.json``: ``read``, capped at
``METADATA_LIMIT``), with a cap on the bytes copied that does not trust the declared size.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Protocol

from modules.portability.errors import CorruptFile, UnsafeArchive, UnsupportedFile

CHUNK = 1 << 20
# What a metadata member read into memory (``meta``, ``media``, ``manifest.json``) may hold, compressed
# inside the zip or once decompressed: Anki's ``meta`` is a few bytes, its ``media`` list about 50
# bytes a file (8 MiB: some 150,000 media files), a Resee manifest well under a kilobyte.
METADATA_LIMIT = 8 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_CENTRAL_RECORD = b"PK\x01\x02"
# Reading a member can fail past ``open``: a CRC mismatch (BadZipFile), a damaged deflate or lzma
# stream (zlib.error, LZMAError), a truncated one (EOFError). A damaged bzip2 stream raises OSError,
# caught where nothing is written (``read``), so that a full disk is not called a damaged file.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError)


@dataclass(frozen=True)
class Limits:
    max_total_bytes: int  # everything the members expand to
    max_ratio: float  # expanded / compressed, for members over 1 MiB
    max_members: int = 200_000


def _unsafe_name(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or bool(_DRIVE.match(name)) or ".." in parts or "\x00" in name


class SafeZip:
    """An opened, checked zip. Use as a context manager."""

    def __init__(self, source: str | Path | BinaryIO, limits: Limits) -> None:
        _check_directory_size(source, limits.max_members)
        try:
            self.zip = zipfile.ZipFile(source)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise UnsupportedFile("This is not a zip file.") from exc
        try:
            self._check(limits)
        except BaseException:
            self.zip.close()
            raise
        self.limits = limits

    def _check(self, limits: Limits) -> None:
        infos = self.zip.infolist()
        if len(infos) > limits.max_members:
            raise UnsafeArchive(
                f"The archive has {len(infos)} members; at most {limits.max_members} are accepted."
            )
        total = 0
        for info in infos:
            if _unsafe_name(info.filename):
                raise UnsafeArchive(f"The archive names a path outside itself ({info.filename[:100]!r}).")
            if info.flag_bits & 0x1:
                raise UnsupportedFile("The archive is encrypted.")
            total += info.file_size
            if info.file_size > CHUNK and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise UnsafeArchive(
                    f"A member expands {info.file_size / max(info.compress_size, 1):.0f} times; "
                    "this looks like a zip bomb."
                )
        if total > limits.max_total_bytes:
            raise UnsafeArchive(
                f"The archive expands to {total} bytes; at most {limits.max_total_bytes} are accepted."
            )

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.zip.close()

    def names(self) -> list[str]:
        return self.zip.namelist()

    def has(self, name: str) -> bool:
        try:
            self.zip.getinfo(name)
        except KeyError:
            return False
        return True

    def read(self, name: str, *, limit: int = METADATA_LIMIT) -> bytes:
        """A small member's bytes, in memory: refused when it declares or expands to more than
        ``limit`` bytes (at most ``limit + 1`` bytes are ever decompressed). Large members are
        ``copy``'d to a file."""
        declared = self._info(name).file_size
        if declared > limit:
            raise UnsafeArchive(_too_large(name, limit))
        try:
            with self.open(name) as member:
                data = member.read(limit + 1)
        except (*READ_ERRORS, OSError) as exc:
            raise CorruptFile(f"{name} is damaged ({exc}).") from exc
        if len(data) > limit:
            raise UnsafeArchive(_too_large(name, limit))
        return data

    def _info(self, name: str) -> zipfile.ZipInfo:
        try:
            return self.zip.getinfo(name)
        except KeyError as exc:
            raise CorruptFile(f"{name} is not in the archive.") from exc

    def open(self, name: str) -> IO[bytes]:
        try:
            return self.zip.open(name)
        except (zipfile.BadZipFile, NotImplementedError, OSError) as exc:
            raise CorruptFile(f"{name} cannot be read from the archive.") from exc

    def copy(self, name: str, target: BinaryIO) -> int:
        """Streams a member into ``target``; returns the bytes written (capped by the total limit)."""
        try:
            with self.open(name) as member:
                return bounded_copy(member, target, limit=self.limits.max_total_bytes, what=name)
        except READ_ERRORS as exc:  # a CRC mismatch or a damaged stream found while reading
            raise CorruptFile(f"{name} is damaged ({exc}).") from exc


def _too_large(name: str, limit: int) -> str:
    return f"{name} is larger than {limit} bytes, more than such a member ever holds; the file is refused."


def _check_directory_size(source: str | Path | BinaryIO, max_members: int) -> None:
    """Refuses an archive with more than ``max_members`` central directory records before ``zipfile``
    parses them (it builds a ``ZipInfo`` for every record up front: a 45 MB upload of a million records
    took 10 s and 460 MB). Every record ``zipfile`` accepts starts with the record signature, so the
    signatures in the raw bytes bound the count, whatever the end record says; the scan reads the file
    once, in chunks, at C speed, and stops at the limit."""
    if isinstance(source, (str, os.PathLike)):
        try:
            with open(source, "rb") as file:
                _count_records(file, max_members)
        except OSError:
            return  # zipfile reports it
        return
    try:
        start = source.tell()
        source.seek(0)
    except (AttributeError, OSError):
        return  # not seekable: zipfile refuses it
    try:
        _count_records(source, max_members)
    finally:
        source.seek(start)


def _count_records(file: IO[bytes] | BinaryIO, max_members: int) -> None:
    found = 0
    tail = b""
    while chunk := file.read(CHUNK):
        window = tail + chunk  # a signature across two chunks is found once: ``tail`` is too short for one
        found += window.count(_CENTRAL_RECORD)
        tail = window[-(len(_CENTRAL_RECORD) - 1) :]
        if found > max_members:
            raise UnsafeArchive(
                f"The archive has more than {max_members} members; at most {max_members} are accepted."
            )


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def bounded_copy(source: Readable | IO[bytes], target: BinaryIO | IO[bytes], *, limit: int, what: str) -> int:
    written = 0
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            return written
        written += len(chunk)
        if written > limit:
            raise UnsafeArchive(f"{what} expands beyond {limit} bytes.")
        target.write(chunk)


def copy_file(source: IO[bytes], target: IO[bytes]) -> None:
    shutil.copyfileobj(source, target, CHUNK)
