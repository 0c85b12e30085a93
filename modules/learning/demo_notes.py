"""Sample learning notes for the demo account (``manage.py seed_demo``)."""

from __future__ import annotations

CATEGORIES: dict[str, str] = {
    "Biology": "How living things work.",
    "History": "Dates, causes and consequences.",
    "Programming": "Ideas worth keeping at your fingertips.",
    "Spanish": "Everyday words and grammar.",
}

# (category, title, body)
NOTES: list[tuple[str, str, str]] = [
    (
        "Biology",
        "Photosynthesis",
        "Plants turn light energy into chemical energy: 6 CO2 + 6 H2O + light -> C6H12O6 + 6 O2. "
        "The light reactions happen in the thylakoid membranes and make ATP and NADPH; the Calvin "
        "cycle in the stroma uses them to fix carbon dioxide into sugar.",
    ),
    (
        "Biology",
        "Mitochondria",
        "Mitochondria make most of a cell's ATP by oxidative phosphorylation. They have their own "
        "circular DNA, inherited from the mother, a trace of their origin as engulfed bacteria "
        "(endosymbiotic theory).",
    ),
    (
        "Biology",
        "DNA base pairing",
        "Adenine pairs with thymine (two hydrogen bonds), guanine with cytosine (three). In RNA, "
        "uracil replaces thymine. GC-rich regions are more stable because of the extra bond.",
    ),
    (
        "Biology",
        "Mitosis vs meiosis",
        "Mitosis: one division, two identical diploid cells, for growth and repair. Meiosis: two "
        "divisions, four genetically different haploid gametes; crossing over in prophase I shuffles "
        "alleles.",
    ),
    (
        "History",
        "The fall of the Berlin Wall",
        "On 9 November 1989 an East German spokesman announced, by mistake, that border crossings "
        "were open 'immediately'. Crowds gathered and guards opened the gates. Germany reunified on "
        "3 October 1990.",
    ),
    (
        "History",
        "Magna Carta (1215)",
        "Sealed by King John at Runnymede under pressure from rebel barons. It put the king under "
        "the law and promised that no free man be imprisoned except by lawful judgement of his peers.",
    ),
    (
        "History",
        "The printing press",
        "Johannes Gutenberg's movable-type press (around 1440, Mainz) made books cheap. The 42-line "
        "Bible appeared around 1455; within fifty years millions of books had been printed in Europe.",
    ),
    (
        "History",
        "Causes of World War I",
        "Remember MAIN: Militarism, Alliances, Imperialism, Nationalism. The spark was the "
        "assassination of Archduke Franz Ferdinand in Sarajevo on 28 June 1914.",
    ),
    (
        "Programming",
        "Big-O of common operations",
        "Python list: index O(1), append amortised O(1), insert at front O(n), 'in' O(n). dict and "
        "set: lookup, insert and delete O(1) on average. Sorting: O(n log n).",
    ),
    (
        "Programming",
        "SQL join types",
        "INNER JOIN keeps matching rows only. LEFT JOIN keeps every row of the left table, with NULLs "
        "where the right has no match. FULL OUTER JOIN keeps both sides. A CROSS JOIN is every pair.",
    ),
    (
        "Programming",
        "HTTP status classes",
        "1xx informational, 2xx success (200 OK, 201 Created, 204 No Content), 3xx redirection, 4xx "
        "client errors (400, 401, 403, 404, 409, 422, 429), 5xx server errors (500, 502, 503).",
    ),
    (
        "Programming",
        "Git rebase vs merge",
        "merge records a new commit joining two histories and keeps them as they were; rebase replays "
        "your commits on top of another branch for a linear history. Never rebase commits others "
        "already have.",
    ),
    (
        "Spanish",
        "Ser vs estar",
        "Ser for permanent traits, identity, origin and time: 'Soy ingeniera', 'Son las tres'. Estar "
        "for states, feelings and location: 'Estoy cansado', 'Madrid está en España'.",
    ),
    (
        "Spanish",
        "Preterite vs imperfect",
        "Preterite for completed actions at a definite time: 'Ayer comí paella'. Imperfect for "
        "habits, background and ongoing past: 'Cuando era niño, comía paella los domingos'.",
    ),
    (
        "Spanish",
        "False friends",
        "'Embarazada' means pregnant, not embarrassed (avergonzado). 'Éxito' is success, not exit "
        "(salida). 'Constipado' means having a cold. 'Librería' is a bookshop; a library is a "
        "biblioteca.",
    ),
]
