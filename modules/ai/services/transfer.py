"""A user's questions out (export) and back in (import), for portability."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from modules.ai import selectors
from modules.ai.models import AIQuestion
from modules.identity.services import User
from modules.learning.services import contents_for_user


@dataclass(frozen=True)
class QuestionRecord:
    """A stored question as an export carries it (and an import writes it back)."""

    content_id: int
    type: str
    question: str
    options: list[str]
    correct_answer: str
    explanation: str
    difficulty: str
    provider: str
    model: str
    tokens_used: int
    generation_time_ms: int
    created_at: datetime


_RECORD_COLUMNS = tuple(name for name in selectors.QUESTION_COLUMNS if name not in {"id", "job_id"})


def export_questions(*, user: User) -> Iterator[QuestionRecord]:
    """The user's questions, oldest first."""
    rows = selectors.questions_of(user_id=user.pk).order_by("created_at", "id").values_list(*_RECORD_COLUMNS)
    for row in rows.iterator(chunk_size=2000):
        yield QuestionRecord(**dict(zip(_RECORD_COLUMNS, row, strict=True)))


@transaction.atomic
def import_questions(*, user: User, questions: Sequence[QuestionRecord]) -> tuple[int, int]:
    """Stores questions of the user's contents; returns (created, skipped). A question already stored on
    its content (same type, text and answer) or on a content that is not the user's is skipped."""
    owned = {ref.id for ref in contents_for_user(user=user, ids=list({q.content_id for q in questions}))}
    existing = set(
        AIQuestion.objects.filter(user=user, content_id__in=owned).values_list(
            "content_id", "type", "question", "correct_answer"
        )
    )
    new = []
    for record in questions:
        key = (record.content_id, record.type, record.question, record.correct_answer)
        if record.content_id not in owned or key in existing:
            continue
        existing.add(key)
        new.append(AIQuestion(user=user, **{name: getattr(record, name) for name in _RECORD_COLUMNS}))
    AIQuestion.objects.bulk_create(new, batch_size=2000)
    return len(new), len(questions) - len(new)
