"""Reading a text without a model: sentences, words and key terms. Pure Python, no Django.

Key terms are found the way a careful reader skims: words that are long, repeated, capitalised in
mid-sentence (names), written in capitals (acronyms) or numeric (years), and short phrases that are
names, repeat, or qualify a repeated head word ("light energy" / "chemical energy").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

from modules.ai.providers.local.lexicon import NOUN_LIKE_VERBS, VERB_FORMS, words_of

TermKind = Literal["number", "acronym", "name", "phrase", "word"]

# Function words and words too vague to ask about. Kept short on purpose: everything else counts.
STOPWORDS = frozenset(
    words_of(
        """
    a about above across after afterwards again against all almost alone along already also although always
    am among an and another any anyone anything anyway are around as at back be became because become becomes
    been before beforehand being below beside besides between beyond both but by can cannot could did do does
    doing done down during each either else elsewhere enough etc even ever every everyone everything
    everywhere except few first for former formerly from further had has have having he hence her here hers
    herself him himself his how however i if in indeed into is it its itself just last latter least less
    let like made make makes many may me meanwhile might more moreover most mostly much must my myself namely
    neither never nevertheless new next no nobody none nor not nothing now nowhere of off often on once one
    only onto or other others otherwise our ours ourselves out over own per perhaps rather same second see
    seem seemed seems several she should since so some somehow someone something sometimes somewhere still
    such than that the their theirs them themselves then thence there thereafter thereby therefore therein
    these they third this those though three through throughout thus to together too toward towards two
    under until up upon us use used uses using very via was we well were what whatever when whenever where
    whereas whereby wherever whether which while who whoever whole whom whose why will with within without
    would yet you your yours yourself yourselves
    able actually already another began begin begins called calls come comes certain different
    especially example famous get gets give gives given go goes good great help helps important include
    included includes including instead known kind later lot main mainly making means need needs often part
    particular really said say says shows show showed shown simply small take takes taken thing things think
    took turn turns way ways whose wide widely year years big large long high low early late short
    based become becomes called usually typically generally e.g i.e vs fast slow simple quick
    single actual fresh ultimately immediately especially heavily earlier mainly almost
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    """
    )
)

# Words that are content words grammatically but make poor answers on their own.
GENERIC = frozenset(
    words_of(
        """
    process processes stage stages step steps type types form forms result results way part parts
    side sides value values role number numbers amount amounts level levels case cases time times
    fact facts idea ideas system systems method methods area areas point points set sets order term terms
    thing things people person group groups called known named using use uses used example examples
    actual following single fresh central global ultimately immediately especially heavily earlier
    relied showed proposed published received suggested produced perform performs performed
    """
    )
)

_ABBREVIATIONS = frozenset(
    words_of("e.g i.e etc vs dr mr mrs ms prof st mt fig no approx ca cf al jr sr inc ltd co u.s u.k")
)

_TOKEN = re.compile(r"\d+(?:[.,]\d+)+|[^\W_](?:[\w'\u2019\-]*[^\W_])?", re.UNICODE)
_POSSESSIVE = re.compile(r"['\u2019]s$", re.IGNORECASE)
# After these a verb-looking word is a verb ("listing the", "signed by", "store it").
_DETERMINERS = frozenset(words_of("the a an this that these those its it their his her our them him"))
_VERB_FOLLOWERS = _DETERMINERS | frozenset(
    words_of("by to into from as around with for on at in of about without")
)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[^\W_])", re.UNICODE)
_LINE_BREAKS = re.compile(r"\n\s*\n|\n(?=\s*[-*•]\s)")


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # offset inside its sentence
    end: int

    @property
    def key(self) -> str:
        return lemma(normalise_word(_POSSESSIVE.sub("", self.text)))

    @property
    def possessive(self) -> bool:
        return bool(_POSSESSIVE.search(self.text))


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    tokens: tuple[Token, ...]
    is_heading: bool

    @property
    def word_count(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True)
class Term:
    text: str  # the surface form shown to a learner ("Calvin cycle", "RuBisCO")
    key: str  # normalised, for matching
    kind: TermKind
    score: float
    count: int
    sentences: tuple[int, ...]  # indexes of the sentences it occurs in

    @cached_property
    def words(self) -> tuple[str, ...]:
        return tuple(self.key.split())


def normalise_word(word: str) -> str:
    return strip_accents(word).lower().replace("\u2019", "'")


def lemma(word: str) -> str:
    """A light singular: enough to count "certificate" and "certificates" as one word."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "ys")):
        return word[:-1]
    return word


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def is_number(word: str) -> bool:
    return bool(re.fullmatch(r"\d+(?:[.,]\d+)*", word))


def is_acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and sum(c.isupper() for c in letters) >= 2 and not word.istitle()


def is_capitalised(word: str) -> bool:
    return word[:1].isupper()


# --- Sentences --------------------------------------------------------------------------------------


def split_sentences(text: str) -> list[Sentence]:
    sentences: list[Sentence] = []
    for block in _LINE_BREAKS.split(text.replace("\r\n", "\n")):
        block = " ".join(block.split())
        if not block:
            continue
        for piece in _split_block(block):
            tokens = tuple(Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(piece))
            if not tokens:
                continue
            heading = piece[-1] not in ".!?:;\"'\u201d)" and len(tokens) <= 12
            sentences.append(Sentence(len(sentences), piece, tokens, heading))
    return sentences


def _split_block(block: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(block):
        candidate = block[start : match.start()].strip()
        last_word = candidate.rstrip(".!?\"'\u201d\u2019)]").rsplit(" ", 1)[-1].lower().rstrip(".")
        # "e.g. the", "Dr. Franklin", "J. Watson": a full stop that does not end a sentence.
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue
        pieces.append(candidate)
        start = match.end()
    tail = block[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


# --- Key terms --------------------------------------------------------------------------------------


def _is_content(token: Token) -> bool:
    key = token.key
    if key in STOPWORDS or normalise_word(token.text) in STOPWORDS:
        return False
    if is_number(token.text):
        return len(token.text) >= 2
    if is_acronym(token.text):
        return True
    return len(key) >= 3 and any(c.isalpha() for c in key)


def _is_verb(token: Token, following: Token | None) -> bool:
    """Verbs split noun phrases ("plants convert | light energy"). A word list plus two cheap cues."""
    word = normalise_word(token.text)
    if is_acronym(token.text) or (is_capitalised(token.text) and token.start > 0):
        return False
    nxt = normalise_word(following.text) if following is not None else ""
    if word in NOUN_LIKE_VERBS:
        return nxt in _DETERMINERS
    if len(word) > 5 and word.endswith("ing"):
        return nxt in _VERB_FOLLOWERS
    if word in VERB_FORMS:
        return True
    if len(word) > 5 and word.endswith("ed"):
        return nxt in _VERB_FOLLOWERS
    return False


def _chunks(sentence: Sentence) -> list[list[Token]]:
    """Runs of content words with nothing but spaces between them; stopwords, verbs, punctuation and
    possessives ("Chargaff's finding") split them. A possessive name keeps going ("King's College")."""
    chunks: list[list[Token]] = []
    current: list[Token] = []
    previous: Token | None = None
    tokens = sentence.tokens
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        gap = sentence.text[previous.end : token.start] if previous else ""
        if current and (
            gap.strip() or (previous is not None and previous.possessive and not is_capitalised(token.text))
        ):
            chunks.append(current)
            current = []
        if _is_content(token) and not _is_verb(token, following):
            current.append(token)
        elif current:
            chunks.append(current)
            current = []
        previous = token
    if current:
        chunks.append(current)
    return chunks


def _specificity(word: str, *, capitalised: bool) -> float:
    """How much a single word looks like a term worth learning."""
    if is_number(word):
        return 2.2 if is_year(word) else 1.4
    weight = 1.0 + 0.18 * max(0, len(word) - 5)
    lowered = normalise_word(word)
    if not capitalised and lowered.endswith("ly"):
        weight *= 0.35
    elif not capitalised and lowered.endswith(("ing", "ed")) and len(lowered) > 5:
        weight *= 0.6
    if is_acronym(word):
        weight += 1.6
    elif capitalised:
        weight += 1.1
    if "-" in word:
        weight += 0.3
    if lowered in GENERIC or lemma(lowered) in GENERIC:
        weight *= 0.25
    return weight


def is_year(word: str) -> bool:
    return bool(re.fullmatch(r"\d{4}", word)) and 1000 <= int(word) <= 2100


@dataclass
class _Stats:
    count: int = 0
    capitalised: int = 0  # occurrences capitalised in mid-sentence
    initial: int = 0  # occurrences at the start of a sentence
    forms: Counter[str] | None = None
    sentences: set[int] | None = None

    def add(self, form: str, sentence: int, *, capitalised: bool, initial: bool) -> None:
        if self.forms is None:
            self.forms = Counter()
            self.sentences = set()
        self.count += 1
        self.capitalised += int(capitalised)
        self.initial += int(initial)
        self.forms[form] += 1
        assert self.sentences is not None
        self.sentences.add(sentence)


def _surface(stats: _Stats, *, is_name: bool) -> str:
    assert stats.forms is not None
    form = stats.forms.most_common(1)[0][0]
    if is_name or is_acronym(form):
        return form
    # A word seen only at the start of sentences is shown in lower case ("Plants" -> "plants").
    return form if stats.capitalised else form.lower()


def extract_terms(text: str, *, title: str = "", limit: int = 40) -> list[Term]:
    return list(_extract_terms_cached(text, title, limit))


@lru_cache(maxsize=256)
def _extract_terms_cached(text: str, title: str, limit: int) -> tuple[Term, ...]:
    sentences = [s for s in split_sentences(text) if not s.is_heading]
    return tuple(terms_of(sentences, title=title, limit=limit))


def terms_of(sentences: list[Sentence], *, title: str = "", limit: int = 40) -> list[Term]:
    title_words = {normalise_word(t.group()) for t in _TOKEN.finditer(title)} - STOPWORDS
    words: dict[str, _Stats] = defaultdict(_Stats)
    phrases: dict[str, _Stats] = defaultdict(_Stats)
    heads: Counter[str] = Counter()

    chunked: list[tuple[Sentence, list[list[Token]]]] = []
    for sentence in sentences:
        chunks = _chunks(sentence)
        chunked.append((sentence, chunks))
        first = sentence.tokens[0].start
        for chunk in chunks:
            for token in chunk:
                initial = token.start == first
                words[token.key].add(
                    _POSSESSIVE.sub("", token.text),
                    sentence.index,
                    capitalised=is_capitalised(token.text) and not initial,
                    initial=initial,
                )
    for _, chunks in chunked:
        for chunk in chunks:
            for token in chunk[1:]:
                heads[token.key] += 1

    def word_is_name(key: str) -> bool:
        stats = words[key]
        mid = stats.count - stats.initial
        return stats.capitalised > 0 and stats.capitalised >= mid * 0.5

    chunk_phrases: set[str] = set()
    for sentence, chunks in chunked:
        for chunk in chunks:
            if len(chunk) == 2:
                chunk_phrases.add(" ".join(t.key for t in chunk))
            for size in (2, 3, 4):
                for i in range(len(chunk) - size + 1):
                    run = chunk[i : i + size]
                    surface = _POSSESSIVE.sub("", sentence.text[run[0].start : run[-1].end])
                    key = " ".join(t.key for t in run)
                    at_end = i + size == len(chunk)
                    phrases[key].add(surface, sentence.index, capitalised=at_end, initial=False)

    candidates: list[Term] = []
    for key, stats in words.items():
        name = word_is_name(key)
        surface = _surface(stats, is_name=name)
        weight = _specificity(surface, capitalised=name)
        if key in title_words:
            weight += 0.8
        score = weight * (1.0 + math.log(stats.count))
        word_kind: TermKind = (
            "number"
            if is_number(surface)
            else "acronym"
            if is_acronym(surface)
            else "name"
            if name
            else "word"
        )
        assert stats.sentences is not None
        candidates.append(Term(surface, key, word_kind, score, stats.count, tuple(sorted(stats.sentences))))

    for key, stats in phrases.items():
        parts = key.split()
        assert stats.forms is not None and stats.sentences is not None
        surface = stats.forms.most_common(1)[0][0]
        surface_parts = surface.split()
        if len(surface_parts) != len(parts):
            continue
        capitals = [is_capitalised(s) or is_number(s) for s in surface_parts]
        all_names = all(capitals) and any(
            word_is_name(p) or is_acronym(s) for p, s in zip(parts, surface_parts, strict=True)
        )
        all_names = all_names and not is_number(surface_parts[0])
        repeated = stats.count >= 2
        whole_chunk = key in chunk_phrases
        # "light energy", "chemical energy": a qualifier before a head word the text keeps using.
        qualified_head = len(parts) == 2 and stats.capitalised > 0 and heads[parts[-1]] >= 2
        if not (all_names or repeated or whole_chunk or qualified_head):
            continue
        if parts[0] in GENERIC or parts[-1] in GENERIC or any(is_number(p) for p in parts[:-1]):
            continue
        # "the enzyme RuBisCO", "the journal Nature": an apposition; the name stands on its own.
        if (
            not all_names
            and (is_capitalised(surface_parts[-1]) or is_acronym(surface_parts[-1]))
            and not any(is_capitalised(s) or is_acronym(s) for s in surface_parts[:-1])
        ):
            continue
        weights = [
            _specificity(s, capitalised=word_is_name(p)) for p, s in zip(parts, surface_parts, strict=True)
        ]
        score = (sum(weights) / len(weights)) * (1.0 + 0.3 * len(parts)) * (1.0 + math.log(stats.count))
        if all_names:
            score *= 1.3
        elif not (repeated or qualified_head):
            score *= 0.8
        if title_words & set(parts):
            score += 0.8
        kind: TermKind = "name" if all_names else "phrase"
        candidates.append(Term(surface, key, kind, score, stats.count, tuple(sorted(stats.sentences))))

    candidates = _drop_subsumed(candidates)
    candidates.sort(key=lambda t: (-t.score, t.key))
    return candidates[:limit]


def _drop_subsumed(terms: list[Term]) -> list[Term]:
    """A word that only ever occurs inside one phrase is represented by that phrase ("dioxide"), and a
    part of a longer name by the whole name ("King's College" by "King's College London")."""
    phrases = [t for t in terms if " " in t.key]
    names = [t for t in phrases if t.kind == "name"]
    kept: list[Term] = []
    for term in terms:
        if " " not in term.key:
            if any(term.key in p.words and p.count >= term.count for p in phrases):
                continue
        elif any(
            len(o.words) > len(term.words) and o.count >= term.count and _contains(o.words, term.words)
            for o in names
        ):
            continue
        kept.append(term)
    return kept


def _contains(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def term_pattern(term_text: str) -> re.Pattern[str]:
    """Matches the term as whole words, case-insensitively, tolerating a plural -s."""
    words = [re.escape(w) for w in term_text.split()]
    body = r"\s+".join(words)
    return re.compile(rf"(?<![\w-]){body}(?:s|es)?(?![\w-])", re.IGNORECASE)


def find_term(sentence_text: str, term_text: str) -> list[re.Match[str]]:
    return list(term_pattern(term_text).finditer(sentence_text))
