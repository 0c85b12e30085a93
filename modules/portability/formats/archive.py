"""Zip files read defensively.

A zip is checked as a whole before anything is read from it: how many members, how much they expand
to in total and per member (a zip bomb declares sizes far beyond what it holds compressed), and their
names (absolute paths, ``..``, drive letters: path traversal). Member names are never used as paths:
only known members are read, by name, into memory or a temporary file the reader owns, with a cap on
the bytes copied that does not trust the declared size.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from modules.portability.errors import CorruptFile, UnsafeArchive, UnsupportedFile

CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


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

    def read(self, name: str) -> bytes:
        """A member's bytes (at most the archive's total limit)."""
        with self.open(name) as member:
            data = member.read(self.limits.max_total_bytes + 1)
        if len(data) > self.limits.max_total_bytes:
            raise UnsafeArchive(f"{name} expands beyond the limit.")
        return data

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
        except zipfile.BadZipFile as exc:  # a CRC mismatch found while reading
            raise CorruptFile(f"{name} is damaged ({exc}).") from exc


def bounded_copy(source: IO[bytes], target: BinaryIO | IO[bytes], *, limit: int, what: str) -> int:
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
