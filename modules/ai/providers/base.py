"""The provider interface and the plain values that cross it. No Django, no I/O.

A provider turns study material into questions, grades an answer and analyses a text. It never
touches the database: the ai services reserve quota, call the provider, validate and store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Generic, Literal, Protocol, TypeVar


class QuestionType(StrEnum):
    MULTIPLE_CHOICE = "multiple_choice"
    FILL_BLANK = "fill_blank"
    BLUR = "blur"


Difficulty = Literal["beginner", "intermediate", "advanced"]
Task = Literal["generate_questions", "evaluate_answer", "analyze_content"]

QUESTION_TYPES: tuple[QuestionType, ...] = tuple(QuestionType)
DIFFICULTIES: tuple[Difficulty, ...] = ("beginner", "intermediate", "advanced")

# How every provider writes a blank: one for fill_blank, numbered ones for blur ("[2]_____").
BLANK = "_____"
BLUR_ANSWER_SEPARATOR = "; "


def blur_marker(number: int) -> str:
    return f"[{number}]{BLANK}"


def fingerprint(question: str, correct_answer: str) -> str:
    """Identifies a question for "do not ask this again" (several share a stem, such as
    "Which statement matches the text?", so the answer is part of it)."""
    return f"{' '.join(question.split()).lower()}\n{' '.join(correct_answer.split()).lower()}"


@dataclass(frozen=True)
class Material:
    """A piece of study material, as plain values."""

    title: str
    body: str


@dataclass(frozen=True)
class GenerationRequest:
    material: Material
    question_types: tuple[QuestionType, ...]
    difficulty: Difficulty
    count: int
    # Other texts of the same user: the local provider draws distractors from their key terms.
    related: tuple[Material, ...] = ()
    # Fingerprints of the questions already stored for this material; a provider avoids repeating them.
    avoid: frozenset[str] = frozenset()
    seed: int | None = None


@dataclass(frozen=True)
class QuestionDraft:
    type: QuestionType
    question: str
    options: tuple[str, ...]
    correct_answer: str  # blur: the hidden terms in order, joined by BLUR_ANSWER_SEPARATOR
    explanation: str
    difficulty: Difficulty


@dataclass(frozen=True)
class GradingRequest:
    type: QuestionType
    question: str
    options: tuple[str, ...]
    correct_answer: str
    explanation: str
    answer: str


@dataclass(frozen=True)
class Evaluation:
    is_correct: bool
    score: float  # 0..1
    feedback: str


@dataclass(frozen=True)
class Analysis:
    difficulty: Difficulty
    key_concepts: tuple[str, ...]
    summary: str
    estimated_study_minutes: int


@dataclass(frozen=True)
class CallStats:
    """What one provider call cost: recorded in the request log and the daily usage."""

    provider: str
    model: str
    prompt_version: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


T = TypeVar("T")


@dataclass(frozen=True)
class ProviderResult(Generic[T]):
    value: T
    stats: CallStats


class ProviderError(Exception):
    """The provider could not answer (down, throttled, misconfigured, or its output was unusable).

    ``retry_after`` is a hint in seconds when the upstream gave one. ``stats`` describes the failed
    call (latency, tokens if any were billed) for the request log.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "unavailable",
        retry_after: float | None = None,
        stats: CallStats | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.retry_after = retry_after
        self.stats = stats


@dataclass(frozen=True)
class Deadline:
    """When the calls of a ``call_deadline`` block must have ended (``time.monotonic``), its budget in
    seconds and what the budget is (for the message of a call that ran out of it)."""

    ends_at: float
    seconds: float
    what: str

    def left(self) -> float:
        return self.ends_at - time.monotonic()


_deadline: ContextVar[Deadline | None] = ContextVar("ai_call_deadline", default=None)


@contextmanager
def call_deadline(seconds: float, what: str) -> Iterator[Deadline]:
    """Provider calls made inside end within ``seconds`` in all, retries and the waits between them
    included. A call made while the user waits must end before the web server gives up on the request,
    and a job's call before the worker's task timeout. ``what`` names the budget in the timeout's
    message: "Claude did not answer within the 24 s {what}"."""
    deadline = Deadline(time.monotonic() + seconds, seconds, what)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def current_deadline() -> Deadline | None:
    return _deadline.get()


class NotEnoughMaterial(Exception):
    """The text is too short or too plain to build any question of the requested kinds."""


class AIProvider(Protocol):
    name: str
    model: str

    def generate_questions(self, request: GenerationRequest) -> ProviderResult[list[QuestionDraft]]: ...

    def evaluate_answer(self, request: GradingRequest) -> ProviderResult[Evaluation]: ...

    def analyze_content(self, material: Material) -> ProviderResult[Analysis]: ...


@dataclass
class Allocation:
    """How many questions of each type a request asks for (round-robin over the requested types)."""

    counts: dict[QuestionType, int] = field(default_factory=dict)

    @classmethod
    def of(cls, types: tuple[QuestionType, ...], count: int) -> Allocation:
        counts: dict[QuestionType, int] = dict.fromkeys(types, 0)
        for i in range(count):
            counts[types[i % len(types)]] += 1
        return cls(counts)
