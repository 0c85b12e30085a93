"""A stand-in for the Anthropic Messages API at the HTTP boundary.

The SDK is given ``httpx2.Client(transport=httpx2.MockTransport(fake.handle))`` (anthropic >= 1 is
built on httpx2, so respx would not see its requests); the fake answers with bodies of the real API's
shape: a ``message`` with a ``tool_use`` block, ``stop_reason`` and ``usage``, or an ``error`` body
with the real status codes (429 ``rate_limit_error`` with ``retry-after``, 529 ``overloaded_error``).
Tests script the next answers with ``queue``; by default it answers each tool sensibly.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

MODEL_ID = "claude-sonnet-4-6"

Reply = Callable[[dict[str, Any]], httpx2.Response]


def message(
    tool: str,
    tool_input: dict[str, Any],
    *,
    input_tokens: int = 1200,
    output_tokens: int = 400,
    stop_reason: str = "tool_use",
    model: str = MODEL_ID,
) -> httpx2.Response:
    body = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [
            {"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": tool, "input": tool_input}
        ],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }
    return httpx2.Response(200, json=body, headers={"request-id": f"req_{uuid.uuid4().hex[:24]}"})


def text_message(text: str) -> httpx2.Response:
    body = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": MODEL_ID,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 900, "output_tokens": 40},
    }
    return httpx2.Response(200, json=body)


def error(status: int, kind: str, text: str, *, retry_after: str | None = None) -> httpx2.Response:
    headers = {"request-id": f"req_{uuid.uuid4().hex[:24]}"}
    if retry_after is not None:
        headers["retry-after"] = retry_after
        headers["retry-after-ms"] = "5"  # keeps the test fast; the SDK prefers it to retry-after
    else:
        headers["retry-after-ms"] = "5"
    body = {"type": "error", "error": {"type": kind, "message": text}, "request_id": headers["request-id"]}
    return httpx2.Response(status, json=body, headers=headers)


def rate_limited() -> httpx2.Response:
    return error(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        retry_after="1",
    )


def overloaded() -> httpx2.Response:
    return error(529, "overloaded_error", "Overloaded")


@dataclass(eq=False)  # hashed by identity: the settings hook is one of its bound methods
class FakeAnthropic:
    """Records every request; answers from ``queue`` first, then with a sensible default."""

    queue: list[httpx2.Response | Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)  # each request's read timeout, as the SDK set it
    slow: float = 0.0  # seconds every answer takes; a read timeout below it times out after that timeout

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self.handle))

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/messages", request.url
        body = json.loads(request.content)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        read_timeout = request.extensions.get("timeout", {}).get("read")
        self.timeouts.append(read_timeout)
        if self.slow:
            if read_timeout is not None and read_timeout < self.slow:
                time.sleep(read_timeout)
                raise httpx2.ReadTimeout("timed out", request=request)
            time.sleep(self.slow)
        if self.queue:
            reply = self.queue.pop(0)
            return reply if isinstance(reply, httpx2.Response) else reply(body)
        return self.default(body)

    # --- default answers --------------------------------------------------------------------------

    def default(self, body: dict[str, Any]) -> httpx2.Response:
        tool = body["tool_choice"]["name"]
        prompt = body["messages"][0]["content"]
        if tool == "record_questions":
            return message(tool, questions_for(prompt))
        if tool == "record_grade":
            return message(
                tool,
                {
                    "is_correct": True,
                    "score": 0.9,
                    "feedback": "Right idea; the text's term is the expected answer.",
                },
                input_tokens=400,
                output_tokens=60,
            )
        return message(
            tool,
            {
                "difficulty": "intermediate",
                "key_concepts": ["photosynthesis", "chlorophyll", "Calvin cycle"],
                "summary": "Plants turn light into chemical energy in two linked stages.",
                "estimated_study_minutes": 6,
            },
            input_tokens=800,
            output_tokens=120,
        )


def material_of(prompt: str) -> str:
    match = re.search(r"<material>\n(.*)\n</material>", prompt, re.DOTALL)
    assert match, "the material is delimited"
    return match.group(1)


def questions_for(prompt: str) -> dict[str, Any]:
    """Valid questions of the requested kinds and number, built from words of the material."""
    count = int(re.search(r"Write exactly (\d+) practice questions", prompt).group(1))  # type: ignore[union-attr]
    kinds = re.search(r"Use only these question types: ([a-z_, ]+)\.", prompt).group(1).split(", ")  # type: ignore[union-attr]
    words = [w for w in re.findall(r"[A-Za-z]{6,}", material_of(prompt))] or [
        "material",
        "lesson",
        "studying",
    ]
    questions = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        word = words[i % len(words)]
        if kind == "multiple_choice":
            questions.append(
                {
                    "type": kind,
                    "question": f"Which term does the text use in point {i + 1}?",
                    "options": [word, f"{word}ism", f"non{word}", f"{word}ology"],
                    "correct_answer": word,
                    "explanation": f"The text uses “{word}”.",
                }
            )
        elif kind == "fill_blank":
            questions.append(
                {
                    "type": kind,
                    "question": f"Fill in the blank ({i + 1}): the text speaks of ____ here.",
                    "correct_answer": word,
                    "explanation": f"The text says “{word}”.",
                }
            )
        else:
            other = words[(i + 1) % len(words)]
            questions.append(
                {
                    "type": kind,
                    "question": f"Passage {i + 1}: [1]_____ comes before [2]____ in the text.",
                    "hidden_terms": [word, other],
                    "explanation": "Both terms are from the material.",
                }
            )
    return {"questions": questions}
