"""The portability module's Django-Q2 task functions (thin: load, call a service; safe to run twice)."""

from __future__ import annotations

from modules.portability import services


def run_export(job_id: int) -> str | None:
    return services.run_export(job_id=job_id)


def run_import(job_id: int) -> str | None:
    return services.run_import(job_id=job_id)


def prune_files() -> dict[str, int]:
    """Daily: expired export files, leftover uploads, jobs whose worker died."""
    return services.prune_files()
