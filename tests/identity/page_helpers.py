"""Reading the server-rendered pages in tests: their form's hidden fields and their text."""

from __future__ import annotations

import html
import re
from typing import Any


def form_fields(response: Any) -> dict[str, str]:
    """The hidden fields of the page's form (the CSRF token, the token of the link)."""
    content = response.content.decode()
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', content)
    }


def text(response: Any) -> str:
    return html.unescape(response.content.decode())
