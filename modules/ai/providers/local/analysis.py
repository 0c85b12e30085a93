"""Analysing a text without a model: difficulty, key concepts, an extractive summary and study time.

Difficulty blends readability (Flesch reading ease: long sentences and long words) with how dense
the text is in technical terms (acronyms, numbers, rare long words). The summary is made of the
text's own most central sentences, in their original order.
"""

from __future__ import annotations

import math
import re

from modules.ai.providers.base import Analysis, Difficulty, Material
from modules.ai.providers.local.text import Term, extract_terms, split_sentences

READING_WORDS_PER_MINUTE: dict[str, int] = {"beginner": 200, "intermediate": 160, "advanced": 120}
SUMMARY_WORDS = 60
KEY_CONCEPTS = 8


def syllables(word: str) -> int:
    word = word.lower()
    if len(word) <= 3:
        return 1
    word = re.sub(r"(?:[^laeiouy]es|ed|[^laeiouy]e)$", "", word)
    word = re.sub(r"^y", "", word)
    return max(1, len(re.findall(r"[aeiouy]{1,2}", word)))


def reading_ease(words: list[str], sentence_count: int) -> float:
    if not words or not sentence_count:
        return 100.0
    total_syllables = sum(syllables(w) for w in words)
    return 206.835 - 1.015 * (len(words) / sentence_count) - 84.6 * (total_syllables / len(words))


def difficulty_of(words: list[str], sentence_count: int, terms: list[Term]) -> Difficulty:
    ease = reading_ease(words, sentence_count)
    technical = sum(1 for t in terms if t.kind in {"acronym", "number"}) + sum(
        1 for w in words if len(w) >= 12
    )
    density = technical / max(len(words), 1)
    # Points: hard reading and technical density both push the text up a level.
    points = 0.0
    points += 0 if ease >= 60 else 1 if ease >= 40 else 2 if ease >= 20 else 3
    points += 0 if density < 0.02 else 1 if density < 0.05 else 2
    if points <= 1:
        return "beginner"
    if points <= 3:
        return "intermediate"
    return "advanced"


def key_concepts(terms: list[Term], limit: int = KEY_CONCEPTS) -> tuple[str, ...]:
    chosen: list[Term] = []
    for term in terms:
        if term.kind == "number":
            continue
        if any(set(term.words) & set(c.words) for c in chosen):
            continue
        chosen.append(term)
        if len(chosen) == limit:
            break
    return tuple(t.text for t in chosen)


def summarise(material: Material, terms: list[Term], *, max_words: int = SUMMARY_WORDS) -> str:
    sentences = [s for s in split_sentences(material.body) if not s.is_heading]
    if not sentences:
        return material.body.strip()[:300]
    weight = {t.key: t.score for t in terms}
    by_sentence: dict[int, float] = dict.fromkeys((s.index for s in sentences), 0.0)
    for term in terms:
        for index in term.sentences:
            if index in by_sentence:
                by_sentence[index] += weight[term.key]
    ranked = sorted(
        sentences,
        key=lambda s: (
            -(by_sentence[s.index] / math.sqrt(max(s.word_count, 1))) - (0.5 if s.index == 0 else 0.0)
        ),
    )
    chosen: list[int] = []
    words = 0
    for sentence in ranked:
        if chosen and words + sentence.word_count > max_words:
            continue
        chosen.append(sentence.index)
        words += sentence.word_count
        if words >= max_words * 0.6:
            break
    text = " ".join(s.text for s in sentences if s.index in chosen)
    tokens = text.split()
    if len(tokens) > max_words:
        text = " ".join(tokens[:max_words]).rstrip(",;:") + " …"
    return text


def analyse(material: Material) -> Analysis:
    sentences = [s for s in split_sentences(material.body) if not s.is_heading]
    words = [t.text for s in sentences for t in s.tokens]
    terms = extract_terms(material.body, title=material.title)
    level = difficulty_of(words, len(sentences), terms)
    concepts = key_concepts(terms)
    reading = len(words) / READING_WORDS_PER_MINUTE[level]
    # Reading once, then about half a minute of recall practice per key concept.
    minutes = max(1, math.ceil(reading + 0.5 * len(concepts)))
    return Analysis(
        difficulty=level,
        key_concepts=concepts,
        summary=summarise(material, terms),
        estimated_study_minutes=minutes,
    )
