"""The JSON schemas Claude answers in (one tool per task), as Pydantic models.

Claude fills a tool's ``input`` to match the tool's ``input_schema``; nothing it returns is trusted
until the model validates here, so a malformed answer is rejected before anything is stored.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modules.ai.providers.base import BLANK, QuestionType, blur_marker
from modules.common.enums import literal

QuestionTypeName = literal(QuestionType)

_BLANK_RUN = re.compile(r"_{3,}")
_BLUR_MARK = re.compile(r"\[(\d{1,2})\]\s*_{3,}")


def _distinct(values: list[str]) -> bool:
    keys = [" ".join(v.lower().split()) for v in values]
    return len(set(keys)) == len(keys)


class GeneratedQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: QuestionTypeName
    question: str = Field(min_length=5, max_length=6000)
    options: list[str] = Field(default_factory=list, max_length=5, description="multiple_choice only")
    correct_answer: str = Field(default="", max_length=500)
    hidden_terms: list[str] = Field(default_factory=list, max_length=12, description="blur only, in order")
    explanation: str = Field(default="", max_length=1500)

    @field_validator("options", "hidden_terms")
    @classmethod
    def _strip_items(cls, values: list[str]) -> list[str]:
        return [" ".join(v.split()) for v in values]

    @model_validator(mode="after")
    def _shape(self) -> GeneratedQuestion:
        if self.type == "multiple_choice":
            if not 3 <= len(self.options) <= 5 or not all(self.options) or not _distinct(self.options):
                raise ValueError("multiple_choice needs 3 to 5 distinct, non-empty options")
            if self.correct_answer.strip() not in self.options:
                raise ValueError("multiple_choice correct_answer must be one of the options")
        elif self.type == "fill_blank":
            if len(_BLANK_RUN.findall(self.question)) != 1:
                raise ValueError("fill_blank needs exactly one blank (_____) in the question")
            if not self.correct_answer.strip():
                raise ValueError("fill_blank needs a correct_answer")
            self.question = _BLANK_RUN.sub(BLANK, self.question)
        else:
            numbers = [int(n) for n in _BLUR_MARK.findall(self.question)]
            terms = self.hidden_terms
            if not terms or not all(terms) or any(";" in t for t in terms):
                raise ValueError("blur needs hidden_terms: non-empty terms without semicolons")
            if sorted(set(numbers)) != list(range(1, len(terms) + 1)):
                raise ValueError("blur markers [1]_____ .. [n]_____ must match hidden_terms")
            self.question = _BLUR_MARK.sub(lambda m: blur_marker(int(m.group(1))), self.question)
        return self


class QuestionsPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    questions: list[GeneratedQuestion] = Field(min_length=1, max_length=10)


class EvaluationPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_correct: bool
    score: float = Field(ge=0, le=1)
    feedback: str = Field(min_length=1, max_length=1000)


class AnalysisPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    difficulty: Literal["beginner", "intermediate", "advanced"]
    key_concepts: list[str] = Field(min_length=1, max_length=15)
    summary: str = Field(min_length=1, max_length=1500)
    estimated_study_minutes: int = Field(ge=1, le=600)


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its ``$defs`` inlined (a tool's input_schema is one object)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return resolve(schema)
