"""One definition per enumerated concept (modules/common/enums.py): model choices and schema types are
derived from the StrEnum, and nothing in modules/ spells the values out again."""

from __future__ import annotations

import ast
from enum import StrEnum
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ValidationError

import modules
from modules.ai.providers.base import QuestionType
from modules.common.enums import SchedulerKind, literal, model_choices
from modules.learning.scheduling import ReviewResult

CONCEPTS: tuple[type[StrEnum], ...] = (SchedulerKind, ReviewResult, QuestionType)
MODULES = Path(modules.__file__).parent


def _enumerations(tree: ast.AST) -> list[tuple[int, set[str]]]:
    """(line, values) of every ``Literal[...]`` and of every class body of string constants."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and getattr(node.value, "id", None) == "Literal":
            parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            found.append((node.lineno, {p.value for p in parts if isinstance(p, ast.Constant)}))
        elif isinstance(node, ast.ClassDef):
            values = set()
            for statement in node.body:
                if isinstance(statement, ast.Assign):
                    value = statement.value
                    if isinstance(value, ast.Tuple) and value.elts:
                        value = value.elts[0]  # TextChoices: NAME = "value", "label"
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        values.add(value.value)
            found.append((node.lineno, values))
    return found


def test_each_concept_is_enumerated_once_in_modules() -> None:
    definitions: dict[str, list[str]] = {concept.__name__: [] for concept in CONCEPTS}
    for path in sorted(MODULES.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for line, values in _enumerations(ast.parse(path.read_text(encoding="utf-8"))):
            for concept in CONCEPTS:
                if len(values & {member.value for member in concept}) >= 2:
                    definitions[concept.__name__].append(f"{path.relative_to(MODULES.parent)}:{line}")
    assert all(len(places) == 1 for places in definitions.values()), definitions


def test_a_derived_schema_type_validates_to_members_and_documents_like_a_literal_of_strings() -> None:
    class Derived(BaseModel):
        result: literal(ReviewResult)  # type: ignore[valid-type]

    class Spelled(BaseModel):
        result: Literal["remembered", "partial", "forgot"]

    assert Derived(result="partial").result is ReviewResult.PARTIAL
    assert Derived.model_json_schema()["properties"] == Spelled.model_json_schema()["properties"]
    assert Derived(result=ReviewResult.FORGOT).model_dump_json() == '{"result":"forgot"}'


def test_a_wrong_value_is_refused_naming_the_values_as_a_client_writes_them() -> None:
    class Derived(BaseModel):
        result: literal(ReviewResult)  # type: ignore[valid-type]

    with pytest.raises(ValidationError) as refused:
        Derived(result="bogus")

    assert refused.value.errors()[0]["msg"] == "Input should be 'remembered', 'partial' or 'forgot'"


def test_model_choices_label_like_text_choices_unless_told() -> None:
    assert model_choices(QuestionType, {QuestionType.BLUR: "Blur it"}) == [
        ("multiple_choice", "Multiple Choice"),
        ("fill_blank", "Fill Blank"),
        ("blur", "Blur it"),
    ]
