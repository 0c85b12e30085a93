"""Prompt templates of the Claude provider, versioned by file name: ``<name>.v<N>.txt``.

A change of wording is a new file (``generate_questions.v2.txt``) and a bump of ``PROMPT_VERSION``,
so the request log can tell which prompt produced which questions. Templates use ``$placeholders``
(``string.Template``): braces and dollar signs inside the learner's material are never interpreted,
because the material is a substituted value, not part of the template.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from string import Template

PROMPT_VERSION = "v1"
PROMPTS_DIR = Path(__file__).resolve().parent

# Tags that delimit untrusted text inside a prompt; the text may not close or open them itself.
_DELIMITERS = re.compile(r"<\s*/?\s*(material|learner_answer)\b", re.IGNORECASE)


@cache
def template(name: str, version: str = PROMPT_VERSION) -> Template:
    path = PROMPTS_DIR / f"{name}.{version}.txt"
    return Template(path.read_text(encoding="utf-8"))


def render(name: str, version: str = PROMPT_VERSION, **values: object) -> str:
    return template(name, version).substitute({k: str(v) for k, v in values.items()}).strip()


def as_data(text: str) -> str:
    """Untrusted text, made safe to place between our delimiter tags (it cannot close them)."""
    return _DELIMITERS.sub(lambda m: m.group().replace("<", "\u2039"), text)
