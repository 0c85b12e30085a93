"""Grading an answer without a model: normalised and fuzzy matching, with feedback a learner can use.

An answer is compared after normalisation (case, accents, punctuation, leading articles, a plural
-s). A spelling slip (one typo from five letters on, two from ten) still counts (with a note); a near miss earns partial credit and is told the
answer; numbers must be exact. Multiple choice accepts the option text or its letter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

from rapidfuzz.distance import OSA

from modules.ai.providers.base import BLUR_ANSWER_SEPARATOR, Evaluation, GradingRequest
from modules.ai.providers.local.text import STOPWORDS

ACCEPT_RATIO = 0.86  # a typo or two: counted right, with a spelling note
CLOSE_RATIO = 0.6  # recognisably the same idea: partial credit, not right
_ARTICLES = ("the ", "a ", "an ")
_LETTERS = "abcde"


def normalise(text: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[^\w\s.]|_", " ", text.lower())
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # full stops, not decimal points
    text = " ".join(text.split())
    for article in _ARTICLES:
        if text.startswith(article):
            text = text[len(article) :]
    return text


def _singular(text: str) -> str:
    return " ".join(
        w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in text.split()
    )


def similarity(a: str, b: str) -> float:
    """The better of a character ratio and a word-order-insensitive ratio, 0..1."""
    if not a or not b:
        return 0.0
    direct = SequenceMatcher(None, a, b, autojunk=False).ratio()
    sorted_a, sorted_b = " ".join(sorted(a.split())), " ".join(sorted(b.split()))
    reordered = SequenceMatcher(None, sorted_a, sorted_b, autojunk=False).ratio()
    return max(direct, reordered)


def allowed_typos(expected: str) -> int:
    """Slips forgiven in an answer: none in short words ("ATP" is not "ADP"), one from five letters,
    two from ten, three from sixteen."""
    n = len(expected.replace(" ", ""))
    return 0 if n < 5 else 1 if n < 10 else 2 if n < 16 else 3


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    return OSA.distance(a, b)


@dataclass(frozen=True)
class Match:
    score: float
    correct: bool
    note: str  # "", "spelling", "close", "extra", "wrong", "empty", "number"


def match_answer(answer: str, expected: str) -> Match:
    given, wanted = normalise(answer), normalise(expected)
    if not given:
        return Match(0.0, False, "empty")
    if given == wanted or _singular(given) == _singular(wanted):
        return Match(1.0, True, "")
    if re.fullmatch(r"[\d.,]+", wanted):
        return Match(0.0, False, "number")
    given_words, wanted_words = set(_singular(given).split()), set(_singular(wanted).split())
    # "the Calvin cycle in the stroma" for "Calvin cycle": the term, with one more word around it.
    if wanted_words <= given_words and len(given_words - wanted_words - STOPWORDS) <= 1:
        return Match(0.9, True, "extra")
    ratio = similarity(_singular(given), _singular(wanted))
    typos = edit_distance(_singular(given), _singular(wanted))
    if typos <= allowed_typos(wanted) or (ratio >= ACCEPT_RATIO and len(wanted) >= 5):
        return Match(round(0.8 + 0.2 * ratio, 2) if ratio < 1 else 1.0, True, "spelling")
    if ratio >= CLOSE_RATIO:
        return Match(round(ratio * 0.5, 2), False, "close")
    return Match(0.0, False, "wrong")


def evaluate(request: GradingRequest) -> Evaluation:
    if request.type == "multiple_choice":
        return _evaluate_choice(request)
    if request.type == "blur":
        return _evaluate_blur(request)
    return _evaluate_single(request.answer, request.correct_answer, request.explanation)


def _evaluate_single(answer: str, expected: str, explanation: str) -> Evaluation:
    result = match_answer(answer, expected)
    feedback = {
        "": f"Correct: “{expected}”.",
        "spelling": f"Correct, but check the spelling: “{expected}”.",
        "extra": f"Correct. The precise term is “{expected}”.",
        "close": f"Close, but not quite. The answer is “{expected}”; you wrote “{answer.strip()}”.",
        "number": f"Not quite: the answer is {expected}.{_numeric_gap(answer, expected)}",
        "empty": f"No answer given. The answer is “{expected}”.",
        "wrong": f"Not quite. The answer is “{expected}”.",
    }[result.note]
    if not result.correct and explanation:
        feedback += f" {explanation}"
    return Evaluation(is_correct=result.correct, score=result.score, feedback=feedback)


def _numeric_gap(answer: str, expected: str) -> str:
    try:
        gap = abs(float(normalise(answer)) - float(normalise(expected)))
    except ValueError:
        return ""
    return f" You were {gap:g} off." if gap else ""


def _evaluate_choice(request: GradingRequest) -> Evaluation:
    options = list(request.options)
    given = normalise(request.answer)
    chosen: str | None = None
    if len(given) == 1 and given in _LETTERS[: len(options)]:
        chosen = options[_LETTERS.index(given)]
    elif given.isdigit() and 1 <= int(given) <= len(options):
        chosen = options[int(given) - 1]
    else:
        scored = sorted(((similarity(given, normalise(o)), o) for o in options), reverse=True)
        if scored and scored[0][0] >= 0.9 and (len(scored) == 1 or scored[0][0] - scored[1][0] >= 0.05):
            chosen = scored[0][1]
    if chosen is None:
        return Evaluation(
            is_correct=False,
            score=0.0,
            feedback=f"That is not one of the options. The answer is “{request.correct_answer}”.",
        )
    if normalise(chosen) == normalise(request.correct_answer):
        return Evaluation(is_correct=True, score=1.0, feedback=f"Correct: “{request.correct_answer}”.")
    feedback = f"Not quite: you chose “{chosen}”. The answer is “{request.correct_answer}”."
    if request.explanation:
        feedback += f" {request.explanation}"
    return Evaluation(is_correct=False, score=0.0, feedback=feedback)


def split_blur_answer(answer: str, blanks: int) -> list[str]:
    parts = [p.strip() for p in re.split(r"[;\n|]", answer)]
    if len([p for p in parts if p]) < blanks and answer.count(",") >= blanks - 1:
        parts = [p.strip() for p in answer.split(",")]
    parts = [re.sub(r"^\[?\d+\]?[.):]?\s+", "", p) for p in parts if p]  # "[1] term", "1) term"
    return parts


def _evaluate_blur(request: GradingRequest) -> Evaluation:
    expected = [t.strip() for t in request.correct_answer.split(BLUR_ANSWER_SEPARATOR.strip())]
    given = split_blur_answer(request.answer, len(expected))
    results = [match_answer(given[i] if i < len(given) else "", want) for i, want in enumerate(expected)]
    right = sum(r.correct for r in results)
    score = round(sum(r.score for r in results) / len(expected), 2)
    notes: list[str] = []
    for i, (want, result) in enumerate(zip(expected, results, strict=True), start=1):
        if result.note == "spelling":
            notes.append(f"[{i}] right, spelled “{want}”")
        elif not result.correct:
            wrote = given[i - 1] if i <= len(given) else ""
            if not wrote:
                notes.append(f"[{i}] missing: “{want}”")
            elif result.note == "close":
                notes.append(f"[{i}] close: “{want}”, not “{wrote}”")
            else:
                notes.append(f"[{i}] “{want}”, not “{wrote}”")
    if right == len(expected):
        feedback = f"All {len(expected)} hidden terms right."
    else:
        feedback = f"{right} of {len(expected)} hidden terms right."
    if notes:
        feedback += " " + "; ".join(notes) + "."
    return Evaluation(is_correct=right == len(expected), score=min(score, 1.0), feedback=feedback)
