"""One definition per enumerated concept: a ``StrEnum``, from which a model's ``choices`` and a
schema's field type are derived (``model_choices``, ``literal``). Pure Python, no Django.

``SchedulerKind`` itself lives here because two modules need it and neither may import the other's
internals: identity stores a learner's choice (``User.scheduler``) and learning's pure schedulers
dispatch on it. An enumeration only one module uses is defined in that module.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator


class SchedulerKind(StrEnum):
    """How a learner's reviews are scheduled: the tier's interval ladder or FSRS."""

    LADDER = "ladder"
    FSRS = "fsrs"


SCHEDULER_LABELS: Mapping[SchedulerKind, str] = {
    SchedulerKind.LADDER: "Tier ladder",
    SchedulerKind.FSRS: "FSRS",
}


def model_choices(enum: type[StrEnum], labels: Mapping[Any, str] | None = None) -> list[tuple[str, str]]:
    """A model field's ``choices`` for ``enum``'s values: ``(value, label)``, the label from ``labels``
    or, as Django's ``TextChoices`` would write it, the member's name ("FILL_BLANK" -> "Fill Blank")."""
    labels = labels or {}
    return [(member.value, labels.get(member, member.name.replace("_", " ").title())) for member in enum]


def literal(enum: type[StrEnum]) -> Any:
    """A schema field type for ``enum``: a ``Literal`` of its values, validated to the member. OpenAPI
    shows the values inline (``{"enum": [...], "type": "string"}``; a bare ``StrEnum`` field would
    become a ``$ref`` component instead), and a wrong value's 422 lists them as the client writes them
    ("Input should be 'remembered', 'partial' or 'forgot'"): a ``Literal`` of the members themselves
    would list their Python reprs."""
    return Annotated[Literal[tuple(member.value for member in enum)], AfterValidator(enum)]  # type: ignore[valid-type]
