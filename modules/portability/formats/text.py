"""Anki fields (HTML) to plain text, cloze deletions, titles that fit."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"br", "div", "p", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "hr", "pre"}
_HIDDEN = {"script", "style", "head", "title"}
_SOUND = re.compile(r"\[sound:[^\]]*\]")
_CLOZE = re.compile(r"\{\{c\d+::(.*?)(?:::(.*?))?\}\}", re.DOTALL)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_TAG = re.compile(r"<[A-Za-z/!]")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            self.images += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            self.images += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def storable(text: str) -> str:
    """Without what PostgreSQL text cannot hold (NUL, lone surrogates)."""
    return _UNSTORABLE.sub("", text)


def tidy(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    """Visible text of an HTML field: blocks and ``<br>`` as line breaks, entities decoded, media
    references (``<img>``, ``[sound:...]``) and scripts dropped."""
    parser = _Text()
    parser.feed(_SOUND.sub("", storable(html)))
    parser.close()
    return tidy("".join(parser.parts))


def looks_like_html(text: str) -> bool:
    return bool(_TAG.search(text))


def has_cloze(text: str) -> bool:
    return bool(_CLOZE.search(text))


def cloze_question(text: str) -> str:
    """Deletions hidden: ``[...]``, or ``[hint]`` when the deletion has one."""
    return _CLOZE.sub(lambda m: f"[{m.group(2)}]" if m.group(2) else "[...]", text)


def cloze_answer(text: str) -> str:
    return _CLOZE.sub(lambda m: m.group(1), text)


def fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def title_and_body(
    fields: list[str], *, title_index: int = 0, title_limit: int, body_limit: int, fallback: str
) -> tuple[str, str]:
    """A content from a note's fields (plain text already): the title field on one line, the other
    fields as the body. What does not fit in the title is kept in the body; an empty title field gives
    its place to the first non-empty field."""
    texts = [text for text in fields]
    if not 0 <= title_index < len(texts) or not texts[title_index]:
        title_index = next((i for i, text in enumerate(texts) if text), -1)
    if title_index < 0:
        return fallback, fallback
    front = texts[title_index]
    one_line = " ".join(front.split())
    title = fit(one_line, title_limit)
    rest = [text for i, text in enumerate(texts) if i != title_index and text]
    if title != front:
        rest.insert(0, front)
    body = "\n\n".join(rest) or front
    return title, fit(body, body_limit)
