"""A JSON document read a member at a time, never whole: the top-level object's members in document
order, small ones decoded whole, the arrays it names element by element.

A Resee export of a million reviews is some 400 MB of JSON; ``json.loads`` would hold it, then every
row as a dict, at once (2.8 GB for that file). Here each value (an array's element, or a member that
is not streamed) is decoded by the standard library's decoder, ``json.JSONDecoder.raw_decode`` (C
speed), from a window of the file that slides forward; this module only walks the punctuation
between values (the object's braces, colons and commas, and the brackets and commas of the streamed
arrays). One value may be at most ``max_value_chars`` long, so memory stays bounded whatever the file.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import IO, Any

READ_CHARS = 1 << 20  # the window grows by at least this much at a time
MAX_VALUE_CHARS = 16 << 20  # one value: far above any row an export holds (a body is 50,000 characters)
_WHITESPACE = " \t\n\r"
_NUMBER_CHARS = frozenset("0123456789+-.eE")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class JsonStreamError(ValueError):
    """Not a JSON document, or one that is cut short or holds a value over the limit. ``at_start`` is
    true when not even the top-level object could be opened (the file is not JSON at all)."""

    def __init__(self, message: str, *, at_start: bool = False) -> None:
        super().__init__(message)
        self.at_start = at_start


class _Window:
    """A sliding window over a text file: what has been read and not yet consumed."""

    def __init__(self, text: IO[str], max_value_chars: int) -> None:
        self.text = text
        self.max_value_chars = max_value_chars
        self.buffer = ""
        self.pos = 0
        self.consumed = 0  # characters dropped from the buffer's front: where ``pos`` is in the file
        self.eof = False
        self.decoder = json.JSONDecoder()

    def where(self) -> int:
        return self.consumed + self.pos

    def _more(self) -> bool:
        """Reads more (at least as much as is pending, so a long value is re-decoded few times)."""
        if self.eof:
            return False
        pending = len(self.buffer) - self.pos
        chunk = self.text.read(max(READ_CHARS, pending))
        if not chunk:
            self.eof = True
            return False
        self.consumed += self.pos
        self.buffer = self.buffer[self.pos :] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer) or not self._more():
                return self.buffer[self.pos : self.pos + 1]

    def expect(self, allowed: str) -> str:
        char = self.peek()
        if not char or char not in allowed:
            found = repr(char) if char else "the end of the file"
            raise JsonStreamError(f"Expected one of {allowed!r} at character {self.where()}, found {found}.")
        self.pos += 1
        return char

    def value(self) -> Any:
        """Decodes the next value, reading more until it is whole."""
        self.peek()
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if self._grow():
                    continue
                raise JsonStreamError(
                    f"Invalid JSON at character {self.consumed + exc.pos}: {exc.msg}."
                ) from exc
            except RecursionError as exc:
                raise JsonStreamError(f"A value nested too deeply at character {self.where()}.") from exc
            if _is_number(value) and self._cut_number(end) and self._grow():
                continue  # a number the window's edge may have cut ("12" of "12.5"): decode it again whole
            if end - self.pos > self.max_value_chars:
                raise self._too_long()
            self.pos = end
            return value

    def _cut_number(self, end: int) -> bool:
        """Whether the number ending at ``end`` runs to the window's edge (it may go on past it)."""
        buffer = self.buffer
        while end < len(buffer) and buffer[end] in _NUMBER_CHARS:
            end += 1
        return end == len(buffer)

    def _grow(self) -> bool:
        if len(self.buffer) - self.pos > self.max_value_chars:
            raise self._too_long()
        return self._more()

    def _too_long(self) -> JsonStreamError:
        return JsonStreamError(
            f"Invalid JSON, or a value longer than {self.max_value_chars} characters, at character {self.where()}."
        )


class Array:
    """The elements of one streamed array, decoded as they are asked for."""

    def __init__(self, window: _Window) -> None:
        self.window = window
        self.first = True
        self.done = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self.done:
            raise StopIteration
        window = self.window
        if window.peek() == "]":
            window.pos += 1
            self.done = True
            raise StopIteration
        if not self.first:
            window.expect(",")
        self.first = False
        return window.value()

    def drain(self) -> None:
        for _ in self:
            pass


class Members:
    """The members of the JSON object in ``path``, in document order, as ``(name, value)`` (iterate it
    once). A member named in ``streamed`` whose value is an array comes as an ``Array`` over its
    elements, read as the caller advances it; what the caller leaves unread is skipped when the next
    member is asked for. ``JsonStreamError`` for anything that is not such a document (UTF-8, a BOM
    allowed); ``position`` is how many characters have been read."""

    def __init__(
        self, path: Path, *, streamed: Collection[str], max_value_chars: int = MAX_VALUE_CHARS
    ) -> None:
        self.path = path
        self.streamed = streamed
        self.max_value_chars = max_value_chars
        self.window: _Window | None = None

    @property
    def position(self) -> int:
        return self.window.where() if self.window else 0

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        with self.path.open(encoding="utf-8-sig") as text:
            window = self.window = _Window(text, self.max_value_chars)
            try:
                window.expect("{")
            except (JsonStreamError, UnicodeDecodeError) as exc:
                raise JsonStreamError("This is not a JSON object.", at_start=True) from exc
            if window.peek() == "}":
                window.pos += 1
            else:
                while True:
                    if window.peek() != '"':
                        raise JsonStreamError(f"Expected a member name at character {window.where()}.")
                    name = window.value()
                    window.expect(":")
                    if name in self.streamed and window.peek() == "[":
                        window.pos += 1
                        array = Array(window)
                        yield name, array
                        array.drain()
                    else:
                        yield name, window.value()
                    if window.expect(",}") == "}":
                        break
            if window.peek():
                raise JsonStreamError(f"Unexpected data after the document at character {window.where()}.")
