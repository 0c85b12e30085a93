"""Claude through Anthropic's official SDK (``anthropic`` 2.x).

- Structured output: every task offers Claude exactly one tool whose ``input_schema`` is the task's
  Pydantic model, and forces it with ``tool_choice``; the tool input is validated before use.
- Retries: the SDK retries 408/409/429/5xx (529 "overloaded" included) and connection errors with
  exponential backoff and jitter, honouring ``retry-after``; we set how many times
  (``AI_MAX_RETRIES``) and the timeout (``AI_REQUEST_TIMEOUT``) instead of looping ourselves.
  Under a ``call_deadline`` (a user waiting on a web request) the SDK has no notion of a total time,
  so each attempt is made with the SDK's retries off and a timeout of what is left, and the same
  errors are retried here only while the wait and another attempt still fit.
- Usage and cost: tokens come from the response's ``usage``; cost from the price table.
- Prompt injection: the learner's material travels as delimited data, and the system prompt says to
  treat it as material only (``modules/ai/prompts``).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import anthropic
import httpx2
from pydantic import BaseModel, ValidationError

from modules.ai.prompts import PROMPT_VERSION, as_data, render
from modules.ai.providers.base import (
    BLUR_ANSWER_SEPARATOR,
    Analysis,
    CallStats,
    Deadline,
    Evaluation,
    GenerationRequest,
    GradingRequest,
    Material,
    ProviderError,
    ProviderResult,
    QuestionDraft,
    Task,
    current_deadline,
)
from modules.ai.providers.claude.schemas import (
    AnalysisPayload,
    EvaluationPayload,
    GeneratedQuestion,
    QuestionsPayload,
    input_schema,
)
from modules.ai.providers.local.evaluator import evaluate as evaluate_locally
from modules.ai.providers.local.evaluator import match_answer
from modules.ai.providers.pricing import cost_usd

P = TypeVar("P", bound=BaseModel)

MAX_MATERIAL_CHARS = 60_000  # content bodies are at most 50,000 characters
MAX_TOKENS: dict[Task, int] = {"generate_questions": 8192, "evaluate_answer": 1024, "analyze_content": 2048}
# Under a deadline: no attempt is started with less time than this left; waits between attempts as
# the SDK's (0.5 s doubling up to 8 s, less up to a quarter of jitter) unless Claude says retry-after.
MIN_ATTEMPT_SECONDS = 1.0
RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class ClaudeSettings:
    api_key: str
    model: str
    timeout: float
    max_retries: int


@dataclass
class _Attempts:
    retries: int


@dataclass(frozen=True)
class _Tool:
    name: str
    description: str
    payload: type[BaseModel]

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": input_schema(self.payload),
        }


TOOLS: dict[Task, _Tool] = {
    "generate_questions": _Tool(
        "record_questions", "Record the practice questions written about the material.", QuestionsPayload
    ),
    "evaluate_answer": _Tool("record_grade", "Record the grade of the learner's answer.", EvaluationPayload),
    "analyze_content": _Tool("record_analysis", "Record the analysis of the material.", AnalysisPayload),
}


class ClaudeProvider:
    name = "claude"
    uses_related_material = False

    def __init__(self, settings: ClaudeSettings, *, http_client: httpx2.Client | None = None) -> None:
        if not settings.api_key:
            raise ProviderError(
                "The Claude provider is not configured (ANTHROPIC_API_KEY is empty).", kind="config"
            )
        self.model = settings.model
        self.timeout = settings.timeout
        self.max_retries = settings.max_retries
        self._client = anthropic.Anthropic(
            api_key=settings.api_key,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            http_client=http_client,
        )

    # --- the three tasks ----------------------------------------------------------------------------

    def generate_questions(self, request: GenerationRequest) -> ProviderResult[list[QuestionDraft]]:
        prompt = render(
            "generate_questions",
            count=request.count,
            difficulty=request.difficulty,
            question_types=", ".join(request.question_types),
            title=as_data(request.material.title),
            content=as_data(request.material.body[:MAX_MATERIAL_CHARS]),
        )
        payload, stats = self._call("generate_questions", prompt, QuestionsPayload)
        wanted = set(request.question_types)
        drafts = [self._draft(q, request) for q in payload.questions if q.type in wanted][: request.count]
        if not drafts:
            raise ProviderError(
                "Claude answered with none of the requested question types.",
                kind="invalid_output",
                stats=stats,
            )
        return ProviderResult(drafts, stats)

    def evaluate_answer(self, request: GradingRequest) -> ProviderResult[Evaluation]:
        # Choosing an option and typing the exact term are graded without a call (and without cost).
        if (
            request.type == "multiple_choice"
            or match_answer(request.answer, request.correct_answer).score == 1.0
        ):
            return ProviderResult(evaluate_locally(request), CallStats(self.name, self.model, PROMPT_VERSION))
        prompt = render(
            "evaluate_answer",
            question_type=request.type,
            question=as_data(request.question),
            options=json.dumps(list(request.options), ensure_ascii=False),
            correct_answer=as_data(request.correct_answer),
            explanation=as_data(request.explanation),
            answer=as_data(request.answer),
        )
        payload, stats = self._call("evaluate_answer", prompt, EvaluationPayload)
        return ProviderResult(
            Evaluation(
                is_correct=payload.is_correct, score=round(payload.score, 2), feedback=payload.feedback
            ),
            stats,
        )

    def analyze_content(self, material: Material) -> ProviderResult[Analysis]:
        prompt = render(
            "analyze_content",
            title=as_data(material.title),
            content=as_data(material.body[:MAX_MATERIAL_CHARS]),
        )
        payload, stats = self._call("analyze_content", prompt, AnalysisPayload)
        analysis = Analysis(
            difficulty=payload.difficulty,
            key_concepts=tuple(" ".join(c.split()) for c in payload.key_concepts if c.strip())[:10],
            summary=payload.summary.strip(),
            estimated_study_minutes=payload.estimated_study_minutes,
        )
        return ProviderResult(analysis, stats)

    # --- one call -----------------------------------------------------------------------------------

    def _call(self, task: Task, prompt: str, payload_model: type[P]) -> tuple[P, CallStats]:
        tool = TOOLS[task]
        started = time.perf_counter()
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": MAX_TOKENS[task],
            "system": render("system"),
            "messages": [{"role": "user", "content": prompt}],
            "tools": [tool.definition()],
            "tool_choice": {"type": "tool", "name": tool.name, "disable_parallel_tool_use": True},
        }
        deadline = current_deadline()
        attempts = _Attempts(retries=self.max_retries)  # the SDK's, when it retries itself
        try:
            if deadline is None:
                message = self._client.messages.create(**request)
            else:
                message = self._create_before(deadline, request, attempts)
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc, started, attempts.retries) from exc
        except anthropic.APITimeoutError as exc:
            text = (
                "Claude did not answer in time."
                if deadline is None
                else f"Claude did not answer within the {max(deadline.seconds, 0):.0f} s {deadline.what}."
            )
            raise ProviderError(text, kind="timeout", stats=self._stats(started, self.model)) from exc
        except anthropic.APIConnectionError as exc:
            raise ProviderError(
                "Claude could not be reached.", kind="connection", stats=self._stats(started, self.model)
            ) from exc

        usage = message.usage
        stats = self._stats(
            started,
            message.model or self.model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_creation=usage.cache_creation_input_tokens or 0,
            cache_read=usage.cache_read_input_tokens or 0,
        )
        if message.stop_reason == "max_tokens":
            raise ProviderError(
                "Claude's answer was cut off (max_tokens).", kind="invalid_output", stats=stats
            )
        block = next((b for b in message.content if b.type == "tool_use" and b.name == tool.name), None)
        if block is None:
            raise ProviderError(
                f"Claude did not answer with the {tool.name} tool (stop_reason {message.stop_reason}).",
                kind="invalid_output",
                stats=stats,
            )
        try:
            payload = payload_model.model_validate(block.input)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise ProviderError(
                f"Claude's answer did not match the expected shape ({problems}).",
                kind="invalid_output",
                stats=stats,
            ) from exc
        return payload, stats

    def _create_before(self, deadline: Deadline, request: dict[str, Any], attempts: _Attempts) -> Any:
        """``messages.create`` ending before ``deadline``: each attempt with the SDK's retries off and
        a timeout of at most what is left; what the SDK would retry (timeouts, connection errors,
        408/409/429/5xx) is retried here while the wait and another attempt still fit. Returns the
        message; ``attempts`` counts the retries made. A deadline already spent raises the SDK's
        timeout error, as an attempt cut short by it does."""
        attempts.retries = 0
        while True:
            left = deadline.left()
            if left < MIN_ATTEMPT_SECONDS:
                raise anthropic.APITimeoutError(request=httpx2.Request("POST", "/v1/messages"))
            client = self._client.with_options(timeout=min(self.timeout, left), max_retries=0)
            try:
                # the SDK's own count of retries, which it sends when it retries itself
                headers = {"x-stainless-retry-count": str(attempts.retries)}
                return client.messages.create(**request, extra_headers=headers)
            except (anthropic.APIStatusError, anthropic.APIConnectionError) as exc:
                status = getattr(exc, "status_code", None)
                if attempts.retries >= self.max_retries or (
                    status is not None and status not in RETRYABLE_STATUSES and status < 500
                ):
                    raise
                wait = _retry_after(exc.response.headers) if status is not None else None
                if wait is None or wait < 0:
                    wait = min(0.5 * 2**attempts.retries, 8.0) * (1 - 0.25 * random.random())  # noqa: S311
                if deadline.left() - wait < MIN_ATTEMPT_SECONDS:
                    raise
                time.sleep(wait)
                attempts.retries += 1

    def _status_error(
        self, exc: anthropic.APIStatusError, started: float, retries_made: int
    ) -> ProviderError:
        retries = f"after {retries_made} retries"
        stats = self._stats(started, self.model)
        retry_after = _retry_after(exc.response.headers)
        if isinstance(exc, anthropic.RateLimitError):
            return ProviderError(
                f"Claude is rate limiting requests (HTTP 429) {retries}.",
                kind="rate_limited",
                retry_after=retry_after,
                stats=stats,
            )
        if exc.status_code == 529:
            return ProviderError(
                f"Claude is overloaded (HTTP 529) {retries}.",
                kind="overloaded",
                retry_after=retry_after,
                stats=stats,
            )
        if exc.status_code >= 500:
            return ProviderError(
                f"Claude had a server error (HTTP {exc.status_code}) {retries}.", stats=stats
            )
        if exc.status_code in {401, 403}:
            return ProviderError(
                "Claude rejected the API key (check ANTHROPIC_API_KEY).", kind="config", stats=stats
            )
        return ProviderError(
            f"Claude rejected the request (HTTP {exc.status_code}).", kind="rejected", stats=stats
        )

    def _stats(
        self,
        started: float,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_creation: int = 0,
        cache_read: int = 0,
    ) -> CallStats:
        cost = (
            cost_usd(
                model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_creation_input_tokens=cache_creation,
                cache_read_input_tokens=cache_read,
            )
            if input_tokens or output_tokens
            else Decimal(0)
        )
        return CallStats(
            provider=self.name,
            model=model,
            prompt_version=PROMPT_VERSION,
            tokens_in=input_tokens + cache_creation + cache_read,
            tokens_out=output_tokens,
            cost_usd=cost,
            latency_ms=round((time.perf_counter() - started) * 1000),
        )

    @staticmethod
    def _draft(question: GeneratedQuestion, request: GenerationRequest) -> QuestionDraft:
        if question.type == "blur":
            answer = BLUR_ANSWER_SEPARATOR.join(question.hidden_terms)
            options: tuple[str, ...] = ()
        else:
            answer = question.correct_answer.strip()
            options = tuple(question.options) if question.type == "multiple_choice" else ()
        return QuestionDraft(
            type=question.type,
            question=question.question.strip(),
            options=options,
            correct_answer=answer,
            explanation=question.explanation.strip(),
            difficulty=request.difficulty,
        )


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
