"""The offline provider: no key, no network, no cost. The default when no Anthropic key is set."""

from __future__ import annotations

import random
import time

from modules.ai.providers.base import (
    Allocation,
    Analysis,
    CallStats,
    Evaluation,
    GenerationRequest,
    GradingRequest,
    Material,
    NotEnoughMaterial,
    ProviderResult,
    QuestionDraft,
    QuestionType,
)
from modules.ai.providers.local.analysis import analyse
from modules.ai.providers.local.builders import QuestionBuilder, Reading, distractor_pool
from modules.ai.providers.local.evaluator import evaluate

LOCAL_MODEL = "resee-local-1"
LOCAL_VERSION = "local.v1"


class LocalProvider:
    name = "local"
    model = LOCAL_MODEL
    uses_related_material = True

    def generate_questions(self, request: GenerationRequest) -> ProviderResult[list[QuestionDraft]]:
        started = time.perf_counter()
        reading = Reading.of(request.material)
        # Not a secret: a seeded generator makes a run reproducible in tests and benchmarks.
        rng = random.Random(request.seed)  # noqa: S311
        builder = QuestionBuilder(
            reading=reading,
            difficulty=request.difficulty,
            rng=rng,
            pool=distractor_pool(request.related, exclude_text=request.material.body),
            avoid=request.avoid,
        )
        allocation = Allocation.of(request.question_types, request.count)
        made: dict[QuestionType, list[QuestionDraft]] = {}
        for kind, wanted in allocation.counts.items():
            made[kind] = self._build(builder, kind, wanted)
        # A short text may not carry enough of one kind; the other requested kinds make up for it.
        missing = request.count - sum(len(v) for v in made.values())
        for kind in request.question_types:
            if missing <= 0:
                break
            extra = self._build(builder, kind, missing)
            made[kind] += extra
            missing -= len(extra)
        drafts = _interleave([made[k] for k in request.question_types])[: request.count]
        if not drafts:
            raise NotEnoughMaterial(
                "The text is too short to build questions from; add a few full sentences and try again."
            )
        return ProviderResult(drafts, self._stats(started))

    def evaluate_answer(self, request: GradingRequest) -> ProviderResult[Evaluation]:
        started = time.perf_counter()
        return ProviderResult(evaluate(request), self._stats(started))

    def analyze_content(self, material: Material) -> ProviderResult[Analysis]:
        started = time.perf_counter()
        return ProviderResult(analyse(material), self._stats(started))

    @staticmethod
    def _build(builder: QuestionBuilder, kind: QuestionType, count: int) -> list[QuestionDraft]:
        if count <= 0:
            return []
        if kind == "multiple_choice":
            return builder.multiple_choice(count)
        if kind == "fill_blank":
            return builder.fill_blank(count)
        return builder.blur(count)

    def _stats(self, started: float) -> CallStats:
        latency = round((time.perf_counter() - started) * 1000)
        return CallStats(
            provider=self.name, model=self.model, prompt_version=LOCAL_VERSION, latency_ms=latency
        )


def _interleave(groups: list[list[QuestionDraft]]) -> list[QuestionDraft]:
    out: list[QuestionDraft] = []
    longest = max((len(g) for g in groups), default=0)
    for i in range(longest):
        out += [g[i] for g in groups if i < len(g)]
    return out
