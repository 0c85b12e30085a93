"""The three study paragraphs of tests/ai/data (first line the title, then the body)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).parent / "data"


def load_paragraphs() -> dict[str, tuple[str, str]]:
    """name -> (title, body) of the paragraphs in tests/ai/data."""
    out = {}
    for path in sorted(DATA.glob("*.txt")):
        title, body = path.read_text(encoding="utf-8").split("\n", 1)
        out[path.stem] = (title.strip(), body.strip())
    return out


PARAGRAPHS = load_paragraphs()
