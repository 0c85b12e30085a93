"""Django-Q2's own cluster commands, which `manage.py help` lists for operators, work: they need
`blessed` to draw (without it each printed "Blessed is not installed" and exited 0)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_qinfo_prints_the_cluster_summary(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("qinfo")  # it writes to the terminal itself, not to the command's stdout
    printed = capsys.readouterr().out
    assert "Blessed is not installed" not in printed
    for label in ("Clusters", "Workers", "Queued", "Successes", "Failures", "Schedules"):
        assert label in printed, printed
