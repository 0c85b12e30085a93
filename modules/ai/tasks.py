"""The ai module's Django-Q2 task functions (thin: load, call a service; safe to run twice)."""

from __future__ import annotations

from modules.ai import services


def run_generation_job(job_id: int) -> str | None:
    """Generates an AI job's questions; a job already done or failed is left as it is."""
    return services.run_job(job_id=job_id)


def fail_stale_jobs() -> int:
    """Every ten minutes: fail jobs whose worker died and release their quota."""
    return services.fail_stale_jobs()


def prune_request_keys() -> int:
    """Daily: forget Idempotency-Keys older than a day."""
    return services.prune_request_keys()
