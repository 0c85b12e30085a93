"""The domain errors (modules/common/errors.py) say what went wrong in the domain's words; how a
transport answers them is its own business (config/api.py for the API)."""

from __future__ import annotations

import re
from pathlib import Path

import modules.common.errors as errors_module
from modules.common.errors import FieldError, QuotaExceeded, ValidationFailed


def test_the_errors_module_knows_nothing_of_http() -> None:
    source = Path(errors_module.__file__).read_text(encoding="utf-8")
    assert not re.search(r"\b[1-5]\d\d\b", source), "an HTTP status in modules/common/errors.py"
    assert not re.search(r"status|header|http|retry-after", source, re.IGNORECASE)
    assert not re.search(r"^\s*(from|import) (django|ninja)", source, re.MULTILINE)


def test_a_field_error_names_its_source_and_field() -> None:
    error = ValidationFailed.field("ordering", "Unknown ordering.", source="query", kind="enum")
    assert error.fields == (
        FieldError(location=("query", "ordering"), message="Unknown ordering.", kind="enum"),
    )
    assert error.detail == str(error) == "Unknown ordering."


def test_a_field_is_in_the_body_unless_said_otherwise() -> None:
    assert ValidationFailed.field("reviewed_at", "In the future.").fields[0].location == (
        "body",
        "reviewed_at",
    )


def test_a_sentence_about_the_whole_input_has_no_fields() -> None:
    error = ValidationFailed("Give at least one content id.")
    assert (error.fields, error.detail) == ((), "Give at least one content id.")


def test_a_quota_refusal_carries_when_it_ends() -> None:
    assert QuotaExceeded(retry_after_seconds=90).retry_after_seconds == 90
    assert QuotaExceeded().detail == "Daily quota exceeded."
