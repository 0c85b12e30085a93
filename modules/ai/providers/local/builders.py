"""Question builders of the offline provider: multiple choice, fill in the blank, blur. Pure Python.

Every question comes from a real sentence of the material and a key term found in it; distractors
come from the key terms of the learner's other material (so they are plausible words for this
learner), then from other terms of the same text. Difficulty changes which terms are asked (the most
prominent ones for beginners, details for advanced learners), how many options or blanks there
are, and whether a hint is given.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from functools import cached_property

from modules.ai.providers.base import (
    BLANK,
    BLUR_ANSWER_SEPARATOR,
    Difficulty,
    Material,
    QuestionDraft,
    blur_marker,
    fingerprint,
)
from modules.ai.providers.local.text import (
    STOPWORDS,
    Sentence,
    Term,
    extract_terms,
    is_year,
    normalise_word,
    split_sentences,
    term_pattern,
)

OPTIONS_BY_DIFFICULTY: dict[str, int] = {"beginner": 3, "intermediate": 4, "advanced": 5}
BLANKS_BY_DIFFICULTY: dict[str, int] = {"beginner": 3, "intermediate": 5, "advanced": 7}
# How strongly prominent terms are preferred when sampling (beginner: the main ideas).
PROMINENCE_BY_DIFFICULTY: dict[str, float] = {"beginner": 2.0, "intermediate": 1.0, "advanced": 0.3}
MIN_SENTENCE_WORDS = 6
MIN_TERM_SCORE = 0.6  # below this a "term" is a vague word ("value", "sides")
MAX_EXCERPT_WORDS = 34
BLUR_PASSAGE_WORDS = (50, 170)

_DEFINITION = r"(?:\s*\([^)]{1,40}\))?\s+(?:is|are|was|were)\s+(?P<definition>(?:a|an|the)\s[^.;:]{8,200})"


@dataclass(frozen=True)
class Reading:
    """The material, read once: its sentences and key terms."""

    title: str
    sentences: tuple[Sentence, ...]
    terms: tuple[Term, ...]

    @classmethod
    def of(cls, material: Material) -> Reading:
        sentences = tuple(s for s in split_sentences(material.body) if not s.is_heading)
        terms = tuple(
            t for t in extract_terms(material.body, title=material.title) if t.score >= MIN_TERM_SCORE
        )
        return cls(material.title, sentences, terms)

    @property
    def word_count(self) -> int:
        return sum(s.word_count for s in self.sentences)

    @cached_property
    def inner_words(self) -> frozenset[str]:
        """Single words that are part of a longer term ("carbon" of "carbon dioxide"): weak answers."""
        phrase_words = {w for t in self.terms if len(t.words) > 1 for w in t.words}
        return frozenset(t.key for t in self.terms if len(t.words) == 1 and t.key in phrase_words)


def distractor_pool(related: tuple[Material, ...], *, exclude_text: str, per_text: int = 12) -> list[Term]:
    """Key terms of the learner's other material that do not occur in this one."""
    lowered = exclude_text.lower()
    seen: set[str] = set()
    pool: list[Term] = []
    for material in related:
        for term in extract_terms(material.body, title=material.title)[:per_text]:
            if term.key in seen or term.text.lower() in lowered:
                continue
            seen.add(term.key)
            pool.append(term)
    return pool


@dataclass
class QuestionBuilder:
    reading: Reading
    difficulty: Difficulty
    rng: random.Random
    pool: list[Term] = field(default_factory=list)  # distractors from the learner's other material
    avoid: frozenset[str] = frozenset()
    _asked: set[str] = field(default_factory=set)  # fingerprints of the questions built in this batch
    _used_sentences: dict[int, int] = field(default_factory=dict)
    _used_terms: dict[str, int] = field(default_factory=dict)
    _used_pairs: set[tuple[int, str]] = field(default_factory=set)  # (sentence, term) already asked

    # --- fill in the blank ------------------------------------------------------------------------

    def fill_blank(self, count: int) -> list[QuestionDraft]:
        drafts: list[QuestionDraft] = []
        for sentence, term, match in self._pick_blanks(count):
            before, after = sentence.text[: match.start()], sentence.text[match.end() :]
            answer = match.group()
            excerpt = _excerpt(before, BLANK, after)
            question = f"Fill in the blank: {excerpt}"
            if self.difficulty == "beginner":
                question += f" (hint: {_hint(answer)})"
            if not self._fresh(question, answer):
                continue
            self._remember(sentence, term)
            drafts.append(
                QuestionDraft(
                    type="fill_blank",
                    question=question,
                    options=(),
                    correct_answer=answer,
                    explanation=f"The text says: “{sentence.text}”",
                    difficulty=self.difficulty,
                )
            )
        return drafts

    def _blank_candidates(self) -> list[tuple[float, Sentence, Term, re.Match[str]]]:
        found: list[tuple[float, Sentence, Term, re.Match[str]]] = []
        by_index = {s.index: s for s in self.reading.sentences}
        for term in self.reading.terms:
            for index in term.sentences:
                sentence = by_index.get(index)
                if sentence is None or sentence.word_count < MIN_SENTENCE_WORDS:
                    continue
                match = _single_occurrence(sentence.text, term)
                if match is None or self._inside_longer_term(sentence.text, term, match):
                    continue
                if len(term.words) * 3 > sentence.word_count or (index, term.key) in self._used_pairs:
                    continue
                found.append((term.score, sentence, term, match))
        return found

    def _inside_longer_term(self, text: str, term: Term, match: re.Match[str]) -> bool:
        """ "Maurice _____" would blank half a name: the longer term is the one to ask."""
        for other in self.reading.terms:
            if len(other.words) <= len(term.words) or not set(term.words) <= set(other.words):
                continue
            for found in term_pattern(other.text).finditer(text):
                if found.start() <= match.start() and match.end() <= found.end():
                    return True
        return False

    def _pick_blanks(self, count: int) -> list[tuple[Sentence, Term, re.Match[str]]]:
        candidates = self._blank_candidates()
        picked: list[tuple[Sentence, Term, re.Match[str]]] = []
        while candidates and len(picked) < count:
            weights = [self._weight(score, sentence, term) for score, sentence, term, _ in candidates]
            i = _weighted_index(self.rng, weights)
            _, sentence, term, match = candidates.pop(i)
            # Prefer new sentences and terms; come back to them only if nothing else is left.
            if any(term.key == t.key or sentence.index == s.index for s, t, _ in picked) and any(
                c[1].index not in {s.index for s, _, _ in picked} for c in candidates
            ):
                continue
            picked.append((sentence, term, match))
        return picked

    def _weight(self, score: float, sentence: Sentence, term: Term) -> float:
        prominence = PROMINENCE_BY_DIFFICULTY[self.difficulty]
        weight = max(score, 0.05) ** prominence
        if self.difficulty == "advanced" and term.count == 1:
            weight *= 1.5  # details
        if term.key in self.reading.inner_words:
            weight *= 0.2
        reuse = self._used_sentences.get(sentence.index, 0) + self._used_terms.get(term.key, 0)
        return weight / (1 + 2 * reuse)

    # --- multiple choice -------------------------------------------------------------------------

    def multiple_choice(self, count: int) -> list[QuestionDraft]:
        styles = (
            ["definition", "completion", "statement"]
            if self.difficulty != "beginner"
            else [
                "definition",
                "completion",
            ]
        )
        drafts: list[QuestionDraft] = []
        definitions = self._definition_candidates()
        blanks = self._pick_blanks(count * 3)
        statements = self._statement_candidates() if "statement" in styles else []
        attempts = 0
        while len(drafts) < count and attempts < count * 6:
            style = styles[attempts % len(styles)]
            attempts += 1
            draft: QuestionDraft | None = None
            if style == "definition" and definitions:
                sentence, term, definition = definitions.pop(0)
                draft = self._choice(
                    question=f"Which term does the text describe as “{definition}”?",
                    answer=term.text,
                    term=term,
                    sentence=sentence,
                    explanation=f"The text says: “{sentence.text}”",
                )
            elif style == "completion" and blanks:
                sentence, term, match = blanks.pop(0)
                excerpt = _excerpt(sentence.text[: match.start()], BLANK, sentence.text[match.end() :])
                draft = self._choice(
                    question=f"Which term completes the sentence? {excerpt}",
                    answer=match.group(),
                    term=term,
                    sentence=sentence,
                    starts_sentence=match.start() == 0,
                    explanation=f"The text says: “{sentence.text}”",
                )
            elif style == "statement" and statements:
                sentence, term = statements.pop(0)
                draft = self._statement(sentence, term)
            if draft is not None:
                drafts.append(draft)
        return drafts

    def _choice(
        self,
        *,
        question: str,
        answer: str,
        term: Term,
        sentence: Sentence,
        explanation: str,
        starts_sentence: bool = False,
    ) -> QuestionDraft | None:
        if not self._fresh(question, answer):
            return None
        wanted = OPTIONS_BY_DIFFICULTY[self.difficulty] - 1
        distractors = self._distractors(term, answer=answer, context=sentence.text, wanted=wanted)
        if starts_sentence:
            distractors = [_capitalise(d) for d in distractors]
        if len(distractors) < 2:
            return None
        options = [answer, *distractors]
        self.rng.shuffle(options)
        self._remember(sentence, term)
        return QuestionDraft(
            type="multiple_choice",
            question=question,
            options=tuple(options),
            correct_answer=answer,
            explanation=explanation,
            difficulty=self.difficulty,
        )

    def _definition_candidates(self) -> list[tuple[Sentence, Term, str]]:
        found: list[tuple[Sentence, Term, str]] = []
        for sentence in self.reading.sentences:
            for term in self.reading.terms:
                pattern = re.compile(term_pattern(term.text).pattern + _DEFINITION, re.IGNORECASE)
                match = pattern.search(sentence.text)
                if match is None:
                    continue
                definition = match.group("definition").strip().rstrip(",")
                if term.text.lower() in definition.lower():
                    continue
                found.append((sentence, term, _trim_words(definition, 28)))
                break
        self.rng.shuffle(found)
        return found

    def _statement_candidates(self) -> list[tuple[Sentence, Term]]:
        found: list[tuple[Sentence, Term]] = []
        for _, sentence, term, _ in self._blank_candidates():
            if MIN_SENTENCE_WORDS + 2 <= sentence.word_count <= 32:
                found.append((sentence, term))
        self.rng.shuffle(found)
        found.sort(key=lambda pair: self._used_sentences.get(pair[0].index, 0))
        return found

    def _statement(self, sentence: Sentence, term: Term) -> QuestionDraft | None:
        """ "Which statement matches the text?": the true sentence beside copies with one term swapped."""
        question = "Which statement matches the text?"
        wanted = OPTIONS_BY_DIFFICULTY[self.difficulty] - 1
        # Swapped statements must be false: use the text's own terms (not plausible synonyms).
        own = [
            t for t in self.reading.terms if t.kind == term.kind or {t.kind, term.kind} <= {"word", "phrase"}
        ]
        substitutes = self._rank(term, own, answer=term.text, context=sentence.text)[:wanted]
        if len(substitutes) < wanted:  # other styles can still give this level its full option count
            return None
        match = _single_occurrence(sentence.text, term)
        if match is None:
            return None
        truth = _trim_words(sentence.text, MAX_EXCERPT_WORDS)
        false = [_trim_words(_swap(sentence.text, match, s), MAX_EXCERPT_WORDS) for s in substitutes]
        options = [truth, *false]
        if len(set(options)) != len(options) or not self._fresh(question, truth):
            return None
        self.rng.shuffle(options)
        self._remember(sentence, term)
        return QuestionDraft(
            type="multiple_choice",
            question=question,
            options=tuple(options),
            correct_answer=truth,
            explanation=f"The text says “{term.text}” here; the other statements swap in "
            + ", ".join(f"“{s}”" for s in substitutes)
            + ".",
            difficulty=self.difficulty,
        )

    def _distractors(self, term: Term, *, answer: str, context: str, wanted: int) -> list[str]:
        if term.kind == "number" and is_year(term.text):
            return self._year_distractors(int(term.text), context=context, wanted=wanted)
        # Other material first (the learner knows those words, and they are surely wrong here);
        # for a name, the text's other names first (people beside people, not beside protocols).
        sources = [self.pool, list(self.reading.terms)]
        if term.kind == "name":
            sources.reverse()
        chosen: list[str] = []
        for source in sources:
            ranked = self._rank(term, source, answer=answer, context=context)
            chosen += [t for t in ranked if t.lower() not in {c.lower() for c in chosen}][
                : wanted - len(chosen)
            ]
        return chosen

    def _rank(self, term: Term, candidates: list[Term], *, answer: str, context: str) -> list[str]:
        answer_words = {normalise_word(w) for w in answer.split()} | set(term.words)
        lowered = context.lower()
        scored: list[tuple[float, str]] = []
        seen: set[str] = set()
        for other in candidates:
            if other.key == term.key or other.text.lower() in seen:
                continue
            if set(other.words) & answer_words or other.text.lower() in lowered:
                continue
            # "Transport Layer Security" is no distractor for "TLS": the same thing spelled out.
            if _initials(other.text) in answer_words or _initials(answer) in set(other.words):
                continue
            if other.kind == "number" and term.kind != "number":
                continue
            kind_match = (
                2.0
                if other.kind == term.kind
                else 1.0
                if {other.kind, term.kind} <= {"word", "phrase"}
                or {other.kind, term.kind} <= {"name", "acronym"}
                else 0.0
            )
            if kind_match == 0.0:
                continue
            shape = 1.0 / (
                1 + abs(len(other.words) - len(term.words)) + abs(len(other.text) - len(answer)) / 6
            )
            # "thymine" for "adenine", "membranes" for "chloroplasts": same ending, same number.
            if len(answer) > 4 and other.text[-3:].lower() == answer[-3:].lower():
                shape += 0.7
            if (other.text.endswith("s") and not other.text.isupper()) == (
                answer.endswith("s") and not answer.isupper()
            ):
                shape += 0.3
            if other.key in self.reading.inner_words:
                shape -= 1.0
            scored.append((kind_match + shape + self.rng.random() * 0.8, other.text))
            seen.add(other.text.lower())
        scored.sort(key=lambda pair: -pair[0])
        return [text for _, text in scored]

    def _year_distractors(self, year: int, *, context: str, wanted: int) -> list[str]:
        text_years = [int(t.text) for t in self.reading.terms if t.kind == "number" and is_year(t.text)]
        choices = [y for y in text_years if y != year and str(y) not in context]
        self.rng.shuffle(choices)
        spread = 12 if self.difficulty == "beginner" else 6
        nearby = [y for y in range(year - spread, year + spread + 1) if y != year and str(y) not in context]
        self.rng.shuffle(nearby)
        picked: list[int] = []
        for y in choices + nearby:
            if y not in picked:
                picked.append(y)
        return [str(y) for y in picked[:wanted]]

    # --- blur -----------------------------------------------------------------------------------

    def blur(self, count: int) -> list[QuestionDraft]:
        passages = self._passages()
        drafts: list[QuestionDraft] = []
        attempts = 0
        while passages and len(drafts) < count and attempts < count * 4:
            passage = passages[attempts % len(passages)]
            attempts += 1
            draft = self._blur_passage(passage)
            if draft is not None:
                drafts.append(draft)
        return drafts

    def _passages(self) -> list[list[Sentence]]:
        sentences = list(self.reading.sentences)
        low, high = BLUR_PASSAGE_WORDS
        if sum(s.word_count for s in sentences) <= high:
            return [sentences] if sentences else []
        windows: list[list[Sentence]] = []
        start = 0
        while start < len(sentences):
            window: list[Sentence] = []
            words = 0
            for sentence in sentences[start:]:
                if window and words + sentence.word_count > high:
                    break
                window.append(sentence)
                words += sentence.word_count
            if words >= low or not windows:
                windows.append(window)
            start += max(1, len(window))
        self.rng.shuffle(windows)
        return windows

    def _blur_passage(self, passage: list[Sentence]) -> QuestionDraft | None:
        text = " ".join(s.text for s in passage)
        indexes = {s.index for s in passage}
        inner = self.reading.inner_words
        eligible = [
            t
            for t in self.reading.terms
            if t.key not in inner and indexes & set(t.sentences) and term_pattern(t.text).search(text)
        ]
        if len(eligible) < 2:
            return None
        wanted = min(BLANKS_BY_DIFFICULTY[self.difficulty], len(eligible))
        chosen: list[Term] = []
        pool = list(eligible)
        while pool and len(chosen) < wanted:
            weights = [
                max(t.score, 0.05) ** PROMINENCE_BY_DIFFICULTY[self.difficulty]
                / (1 + 2 * self._used_terms.get(t.key, 0))
                for t in pool
            ]
            term = pool.pop(_weighted_index(self.rng, weights))
            if any(set(term.words) & set(c.words) for c in chosen):
                continue
            chosen.append(term)
        if len(chosen) < 2:
            return None
        spans: list[tuple[int, int, Term]] = []
        for term in chosen:
            spans += [(m.start(), m.end(), term) for m in term_pattern(term.text).finditer(text)]
        spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
        order: list[Term] = []
        pieces: list[str] = []
        cursor = 0
        for start, end, term in spans:
            if start < cursor:
                continue
            if term not in order:
                order.append(term)
            pieces += [text[cursor:start], blur_marker(order.index(term) + 1)]
            cursor = end
        pieces.append(text[cursor:])
        blurred = "".join(pieces)
        question = f"Recall the hidden terms [1]\u2013[{len(order)}] (answer in order, separated by semicolons):\n\n{blurred}"
        answers = [t.text for t in order]
        if not self._fresh(question, BLUR_ANSWER_SEPARATOR.join(answers)):
            return None
        for term in order:
            self._used_terms[term.key] = self._used_terms.get(term.key, 0) + 1
        return QuestionDraft(
            type="blur",
            question=question,
            options=(),
            correct_answer=BLUR_ANSWER_SEPARATOR.join(answers),
            explanation="Hidden terms: "
            + ", ".join(f"[{i}] {a}" for i, a in enumerate(answers, start=1))
            + ".",
            difficulty=self.difficulty,
        )

    # --- bookkeeping ------------------------------------------------------------------------------

    def _fresh(self, question: str, answer: str) -> bool:
        """Not built already in this batch, nor stored before for this material."""
        print_ = fingerprint(question, answer)
        if print_ in self._asked or print_ in self.avoid:
            return False
        self._asked.add(print_)
        return True

    def _remember(self, sentence: Sentence, term: Term) -> None:
        self._used_sentences[sentence.index] = self._used_sentences.get(sentence.index, 0) + 1
        self._used_terms[term.key] = self._used_terms.get(term.key, 0) + 1
        self._used_pairs.add((sentence.index, term.key))


# --- helpers ----------------------------------------------------------------------------------------


def _single_occurrence(text: str, term: Term) -> re.Match[str] | None:
    """The term's only occurrence in the sentence, if the rest of the sentence does not give it away."""
    matches = list(term_pattern(term.text).finditer(text))
    if len(matches) != 1:
        return None
    match = matches[0]
    rest = (text[: match.start()] + " " + text[match.end() :]).lower()
    for word in term.words:
        if word in STOPWORDS or len(word) <= 3:
            continue
        if re.search(rf"(?<![\w-]){re.escape(word)}", rest):
            return None
    return match


def _excerpt(before: str, blank: str, after: str) -> str:
    """The sentence around a blank, cut at clause boundaries when it is long."""
    words_before, words_after = before.split(), after.split()
    if len(words_before) + len(words_after) + 1 <= MAX_EXCERPT_WORDS:
        return f"{before}{blank}{after}".strip()
    budget = MAX_EXCERPT_WORDS - 1
    keep_before = min(len(words_before), budget // 2)
    keep_after = min(len(words_after), budget - keep_before)
    keep_before = min(len(words_before), budget - keep_after)
    head = " ".join(words_before[len(words_before) - keep_before :]) if keep_before else ""
    tail = " ".join(words_after[:keep_after]) if keep_after else ""
    prefix = "… " if keep_before < len(words_before) else ""
    suffix = " …" if keep_after < len(words_after) else ""
    spacer_before = " " if before.endswith((" ", "\n")) else ""
    spacer_after = " " if after.startswith((" ", "\n")) else ""
    return f"{prefix}{head}{spacer_before}{blank}{spacer_after}{tail}{suffix}".strip()


def _trim_words(text: str, limit: int) -> str:
    words = text.split()
    if len(words) <= limit:
        return text.strip()
    return " ".join(words[:limit]).rstrip(",;:") + " …"


def _hint(answer: str) -> str:
    words = answer.split()
    if len(words) > 1:
        return f"{len(words)} words, starting with “{answer[0]}”"
    return f"{len(answer)} letters, starting with “{answer[0]}”"


def _initials(text: str) -> str:
    words = text.split()
    return "".join(w[0] for w in words).lower() if len(words) > 1 else ""


def _swap(text: str, match: re.Match[str], substitute: str) -> str:
    """The sentence with the matched term replaced, keeping a leading capital and "a"/"an" right."""
    before = text[: match.start()]
    if match.start() == 0:
        substitute = _capitalise(substitute)
    article = re.search(r"(?:^|\s)(an?) $", before, re.IGNORECASE)
    if article:
        wanted = "an" if substitute[:1].lower() in "aeiou" else "a"
        if article.group(1).lower() != wanted:
            start = article.start(1)
            wanted = wanted.capitalize() if article.group(1)[0].isupper() else wanted
            before = before[:start] + wanted + " "
    return before + substitute + text[match.end() :]


def _capitalise(option: str) -> str:
    """A distractor that replaces a sentence's first word starts with a capital, like the answer."""
    return option[:1].upper() + option[1:]


def _weighted_index(rng: random.Random, weights: list[float]) -> int:
    total = sum(weights)
    if total <= 0 or not math.isfinite(total):
        return rng.randrange(len(weights))
    threshold = rng.random() * total
    running = 0.0
    for i, weight in enumerate(weights):
        running += weight
        if running >= threshold:
            return i
    return len(weights) - 1
