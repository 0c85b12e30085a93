"""The offline provider on real paragraphs: pure code, no database."""

from __future__ import annotations

import re

import pytest

from modules.ai.providers.base import (
    BLANK,
    GenerationRequest,
    GradingRequest,
    Material,
    NotEnoughMaterial,
    fingerprint,
)
from modules.ai.providers.local.analysis import analyse, reading_ease, syllables
from modules.ai.providers.local.evaluator import evaluate, match_answer, normalise, split_blur_answer
from modules.ai.providers.local.provider import LocalProvider
from modules.ai.providers.local.text import extract_terms, lemma, split_sentences
from tests.ai.paragraphs import PARAGRAPHS

MATERIALS = {name: Material(title, body) for name, (title, body) in PARAGRAPHS.items()}
ALL = ("multiple_choice", "fill_blank", "blur")


def generate(
    name: str, *, types=ALL, difficulty="intermediate", count=9, seed=7, related=True, avoid=frozenset()
):
    others = tuple(m for n, m in MATERIALS.items() if n != name) if related else ()
    req = GenerationRequest(MATERIALS[name], types, difficulty, count, others, avoid=avoid, seed=seed)
    return LocalProvider().generate_questions(req).value


# --- reading the text ------------------------------------------------------------------------------


def test_sentences_are_split_without_breaking_abbreviations_or_decimals() -> None:
    text = "Dr. Franklin used X-rays, e.g. Photo 51. TLS 1.3 is faster. It was 1953!"

    assert [s.text for s in split_sentences(text)] == [
        "Dr. Franklin used X-rays, e.g. Photo 51.",
        "TLS 1.3 is faster.",
        "It was 1953!",
    ]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "photosynthesis",
            {"photosynthesis", "ATP", "NADPH", "carbon dioxide", "Calvin cycle", "RuBisCO", "chlorophyll"},
        ),
        (
            "double_helix",
            {"DNA", "Rosalind Franklin", "King's College London", "Nobel Prize", "adenine", "1953"},
        ),
        (
            "tls_handshake",
            {"TLS", "Transport Layer Security", "handshake", "Diffie-Hellman", "AES-GCM", "forward secrecy"},
        ),
    ],
)
def test_key_terms_are_the_paragraphs_real_concepts(name, expected) -> None:
    title, body = PARAGRAPHS[name]

    terms = {t.text for t in extract_terms(body, title=title)}

    assert expected <= terms
    assert not terms & {"the", "which", "also", "because", "used", "April"}


def test_words_inside_a_phrase_are_represented_by_the_phrase() -> None:
    terms = {t.text for t in extract_terms(PARAGRAPHS["photosynthesis"][1])}

    assert "carbon dioxide" in terms and "dioxide" not in terms


def test_lemma_counts_plurals_as_one_word() -> None:
    assert [lemma(w) for w in ["certificates", "bodies", "classes", "glucose", "thesis", "bus"]] == [
        "certificate",
        "body",
        "class",
        "glucose",
        "thesis",
        "bus",
    ]


# --- building questions ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PARAGRAPHS))
def test_nine_questions_of_all_types_are_distinct_and_well_formed(name) -> None:
    questions = generate(name)
    body = MATERIALS[name].body

    assert len(questions) == 9
    assert len({(q.question, q.correct_answer) for q in questions}) == 9
    assert {q.type for q in questions} == set(ALL)
    for q in questions:
        if q.type == "multiple_choice":
            assert 3 <= len(q.options) <= 5
            assert len(set(q.options)) == len(q.options)
            assert q.options.count(q.correct_answer) == 1
        elif q.type == "fill_blank":
            assert q.question.count(BLANK) == 1
            filled = (
                q.question.removeprefix("Fill in the blank: ").replace(BLANK, q.correct_answer).strip(" …")
            )
            assert filled in body
        else:
            answers = q.correct_answer.split("; ")
            markers = sorted({int(n) for n in re.findall(r"\[(\d+)\]_____", q.question)})
            assert markers == list(range(1, len(answers) + 1))
            restored = q.question.split("\n\n", 1)[1]
            for i, answer in enumerate(answers, start=1):
                assert answer.lower() in body.lower()
                restored = restored.replace(f"[{i}]_____", answer)
            assert _loose(restored) in _loose(body)


def _loose(text: str) -> str:
    return re.sub(r"(s|es)\b", "", " ".join(text.lower().split()))


def test_multiple_choice_options_grow_with_difficulty() -> None:
    for difficulty, options in (("beginner", 3), ("intermediate", 4), ("advanced", 5)):
        questions = generate("double_helix", types=("multiple_choice",), difficulty=difficulty, count=4)
        assert {len(q.options) for q in questions} == {options}, difficulty


def test_blur_hides_more_terms_for_harder_levels() -> None:
    hidden = {
        d: len(
            generate("photosynthesis", types=("blur",), difficulty=d, count=1)[0].correct_answer.split("; ")
        )
        for d in ("beginner", "intermediate", "advanced")
    }

    assert hidden["beginner"] < hidden["intermediate"] < hidden["advanced"]


def test_beginners_get_a_hint_on_fill_in_the_blank() -> None:
    question = generate("tls_handshake", types=("fill_blank",), difficulty="beginner", count=1)[0]

    assert "(hint:" in question.question


def test_distractors_come_from_the_learners_other_material_first() -> None:
    others = {
        t.text.lower()
        for n, m in MATERIALS.items()
        if n != "photosynthesis"
        for t in extract_terms(m.body, title=m.title)
    }
    questions = [
        q for q in generate("photosynthesis", types=("multiple_choice",), difficulty="beginner", count=4)
    ]

    distractors = {o.lower() for q in questions for o in q.options if o != q.correct_answer}
    assert distractors and distractors <= others


def test_without_other_material_distractors_come_from_the_same_text() -> None:
    body = MATERIALS["double_helix"].body.lower()
    questions = generate("double_helix", types=("multiple_choice",), count=4, related=False)

    for q in [q for q in questions if q.question != "Which statement matches the text?"]:
        assert all(o.lower() in body for o in q.options), q


def test_years_get_nearby_years_as_distractors() -> None:
    material = Material(
        "Moon landing",
        "In 1969, Apollo 11 landed on the Moon. Neil Armstrong and Buzz Aldrin walked on its surface for two hours while Michael Collins orbited above.",
    )
    req = GenerationRequest(material, ("multiple_choice",), "advanced", 6, seed=3)
    questions = LocalProvider().generate_questions(req).value

    year_questions = [q for q in questions if q.correct_answer == "1969"]
    assert year_questions
    assert all(o.isdigit() and abs(int(o) - 1969) <= 12 for o in year_questions[0].options)


def test_the_same_seed_gives_the_same_questions_and_another_seed_varies_them() -> None:
    assert generate("tls_handshake", seed=1) == generate("tls_handshake", seed=1)
    assert generate("tls_handshake", seed=1) != generate("tls_handshake", seed=2)


def test_questions_already_asked_are_not_asked_again() -> None:
    first = generate("photosynthesis", count=6)
    avoid = frozenset(fingerprint(q.question, q.correct_answer) for q in first)

    second = generate("photosynthesis", count=6, avoid=avoid)

    assert second
    assert not {fingerprint(q.question, q.correct_answer) for q in second} & avoid


def test_a_text_without_sentences_cannot_make_questions() -> None:
    with pytest.raises(NotEnoughMaterial):
        LocalProvider().generate_questions(
            GenerationRequest(Material("Note", "Buy milk."), ALL, "beginner", 3)
        )


def test_a_short_text_makes_what_it_can() -> None:
    material = Material(
        "Mitochondria",
        "Mitochondria produce most of the chemical energy that powers the biochemical reactions of the cell.",
    )

    questions = (
        LocalProvider().generate_questions(GenerationRequest(material, ("fill_blank",), "beginner", 10)).value
    )

    assert 1 <= len(questions) < 10


# --- grading ---------------------------------------------------------------------------------------


def grade(
    answer: str, expected: str = "Calvin cycle", kind: str = "fill_blank", options: tuple[str, ...] = ()
):
    return evaluate(GradingRequest(kind, "Q", options, expected, "The text says: …", answer))


def test_right_near_right_and_wrong_answers() -> None:
    right, near, close, wrong = (
        grade("the Calvin cycle"),
        grade("Calvin cylce"),
        grade("Calvin"),
        grade("glucose"),
    )

    assert (right.is_correct, right.score) == (True, 1.0)
    assert near.is_correct and 0.8 <= near.score < 1 and "spelling" in near.feedback
    assert not close.is_correct and 0 < close.score < 0.5 and "Close" in close.feedback
    assert (wrong.is_correct, wrong.score) == (False, 0.0) and "Calvin cycle" in wrong.feedback


def test_numbers_must_match_exactly_and_feedback_says_how_far_off() -> None:
    result = grade("1958", expected="1953")

    assert not result.is_correct
    assert "5 off" in result.feedback


def test_empty_answer_is_wrong() -> None:
    assert grade("   ").feedback.startswith("No answer given")


def test_a_plural_or_an_extra_word_still_counts() -> None:
    assert grade("chloroplast", expected="chloroplasts").score == 1.0
    assert grade("the Calvin cycle in the stroma").is_correct


def test_multiple_choice_accepts_the_option_letter_number_or_text() -> None:
    options = ("ATP", "DNA", "TLS")
    for answer in ("DNA", "b", "B", "2", "dna."):
        assert grade(answer, "DNA", "multiple_choice", options).is_correct, answer
    assert "not one of the options" in grade("RNA", "DNA", "multiple_choice", options).feedback
    assert "you chose “ATP”" in grade("a", "DNA", "multiple_choice", options).feedback


def test_blur_is_graded_blank_by_blank() -> None:
    expected = "photosynthesis; chloroplasts; leaf cells"

    assert grade("Photosynthesis; chloroplast; leaf cells", expected, "blur").is_correct
    partial = grade("fotosynthesis, stroma, leaf cells", expected, "blur")
    assert not partial.is_correct
    assert partial.feedback.startswith("2 of 3 hidden terms right")
    assert "[2] “chloroplasts”, not “stroma”" in partial.feedback
    assert "missing" in grade("photosynthesis", expected, "blur").feedback


def test_blur_answers_may_be_numbered_lines() -> None:
    assert split_blur_answer("[1] alpha\n2) beta\n3. gamma", 3) == ["alpha", "beta", "gamma"]


def test_normalisation_ignores_case_accents_punctuation_and_articles() -> None:
    assert normalise("  The Café-Crème! ") == "cafe creme"
    assert normalise("TLS 1.3.") == "tls 1.3"
    assert match_answer("an Enzyme", "enzyme").score == 1.0


# --- analysis --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(PARAGRAPHS))
def test_analysis_of_the_paragraphs(name) -> None:
    analysis = analyse(MATERIALS[name])

    assert analysis.difficulty in {"intermediate", "advanced"}
    assert 3 <= len(analysis.key_concepts) <= 8
    assert 2 <= analysis.estimated_study_minutes <= 10
    first_summary_sentence = analysis.summary.split(". ")[0]
    assert first_summary_sentence in MATERIALS[name].body
    assert len(analysis.summary.split()) <= 61


def test_a_plain_text_is_easier_than_a_technical_one() -> None:
    plain = Material(
        "Cats",
        "Cats like to sleep in the sun. They eat fish and play with string. A cat can jump up on a high wall. Most cats are very soft.",
    )

    assert analyse(plain).difficulty == "beginner"
    assert analyse(MATERIALS["tls_handshake"]).difficulty != "beginner"


def test_readability_helpers() -> None:
    assert syllables("cat") == 1 and syllables("photosynthesis") >= 4
    assert reading_ease([], 0) == 100.0


def test_an_acronym_and_its_spelled_out_name_are_never_each_others_distractor() -> None:
    for seed in range(15):
        for q in generate("tls_handshake", types=("multiple_choice",), count=5, seed=seed):
            if q.correct_answer.startswith("TLS"):
                assert "Transport Layer Security" not in q.options, q
            if q.correct_answer == "Transport Layer Security":
                assert not any(o.startswith("TLS") for o in q.options), q


def test_swapped_statements_keep_their_article_right() -> None:
    from modules.ai.providers.local.builders import _swap

    text = "The client opens with a random value."
    assert _swap(text, re.search("random", text), "exchange") == "The client opens with an exchange value."
    text = "Photosynthesis is an old process."
    assert _swap(text, re.search("Photosynthesis", text), "glucose") == "Glucose is an old process."


@pytest.mark.parametrize(
    ("answer", "expected", "correct"),
    [
        ("glucoze", "glucose", True),
        ("cylce", "cycle", True),
        ("ADP", "ATP", False),
        ("guanine", "adenine", False),
        ("mitocondrion", "mitochondrion", True),
        ("mitocondrio", "mitochondrion", True),
        ("cytosine", "thymine", False),
    ],
)
def test_typos_are_forgiven_by_word_length(answer, expected, correct) -> None:
    assert match_answer(answer, expected).correct is correct


def test_edit_distance_counts_an_adjacent_swap_as_one() -> None:
    from modules.ai.providers.local.evaluator import edit_distance

    assert edit_distance("cylce", "cycle") == 1
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
