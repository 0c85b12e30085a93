"""The README's Metrics section lists every collected metric with its unit (they cannot drift apart)."""

from __future__ import annotations

import re
from pathlib import Path

from modules.ops.catalog import METRICS

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_metric_with_its_unit() -> None:
    text = README.read_text()
    section = text[text.index("\n## Metrics") :]
    rows = dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, flags=re.MULTILINE))
    assert set(rows) == {metric.name for metric in METRICS}
    for metric in METRICS:
        assert rows[metric.name].strip().lower() == metric.unit, metric.name
