"""Small English word lists for the offline reader. Deliberately short: they only need to keep verbs
and vague words out of the key terms; everything else is decided by the text's own statistics."""

from __future__ import annotations


def words_of(text: str) -> list[str]:
    """A word list written as prose-like text (easier to read and edit than a list literal)."""
    return text.split()


# Base forms of common general and academic verbs; inflections are derived below.
_VERB_BASES = """
absorb accept achieve act add adapt affect agree allow answer appear apply argue arise arrange arrive ask
assume attach attack avoid bear beat believe belong bind block boil borrow break breathe bring build burn
buy calculate care carry catch cause change charge check choose claim clean close collect combine compare
compete complete compose connect consider consist contain continue contribute control convert cool copy
correct cost count cover create cross cut damage deal decide decline decrease define deliver demonstrate
deny depend derive describe design destroy determine develop die differ discover discuss display divide
drink drive drop earn eat emerge enable encode encourage end enjoy ensure enter establish estimate examine
exchange exist expand expect explain explore express extend fail fall feed feel fight fill find finish fit
fix flow fly focus follow forget form found gain gather generate grant grow guide handle hang happen hate
hear hide hit hold hope identify ignore imagine improve increase indicate influence inform introduce invent
involve join jump keep kill know lack lay lead learn leave lend lie lift limit link list live load locate
look lose love maintain manage mark match matter measure meet mention mix move multiply need note notice
observe obtain occur offer open operate order organise organize own pair pass pay perform permit pick place
plan play point pose power predict prefer prepare present prevent print produce promote propose protect
prove provide publish pull push put raise reach react read realise realize receive recognise recognize
record reduce refer reflect relate release rely remain remember remove repeat replace reply report
represent require rest result retain return reveal rise run save secure select sell send separate serve
share shift show sign sit sleep slow solve sort sound speak spend split spread stand start state stay
steal stop store study succeed suffer suggest supply support suppose survive switch take talk teach tell
tend test think throw touch trade transfer transform transmit travel treat trust try turn understand
unite update vary verify view visit wait walk want warn wash watch wear win wind wish work worry write
yield award
"""

_IRREGULAR = """
arose arisen ate eaten beat beaten became begun began bent bound bit bitten blew blown broke broken bred
brought built burnt bought caught chose chosen clung came dealt did done drew drawn drank drunk drove
driven fell fallen fed felt fought found fled flew flown forgot forgotten froze frozen got gotten gave
given went gone grew grown hung had heard hid hidden held hurt kept knew known laid led left lent lain
lost made meant met paid proved proven quit rode ridden rang rose risen ran said saw seen sought sold
sent shook shaken shone shot shown shut sang sung sank sat slept slid spoke spoken spent spun stood stole
stolen stuck struck swore sworn swept swam swum swung took taken taught tore torn told thought threw
thrown understood woke woken wore worn won wound wrote written
"""


def _inflections(base: str) -> set[str]:
    forms = {base, base + "s", base + "ed", base + "ing"}
    if base.endswith("e"):
        forms |= {base + "d", base[:-1] + "ing"}
    if base.endswith(("s", "sh", "ch", "x", "z", "o")):
        forms.add(base + "es")
    if base.endswith("y") and len(base) > 2 and base[-2] not in "aeiou":
        forms |= {base[:-1] + "ies", base[:-1] + "ied"}
    if len(base) >= 3 and base[-1] in "bdgmnprt" and base[-2] in "aeiou" and base[-3] not in "aeiou":
        forms |= {base + base[-1] + "ed", base + base[-1] + "ing"}
    return forms


VERB_FORMS: frozenset[str] = frozenset(
    {form for base in _VERB_BASES.split() for form in _inflections(base)} | set(_IRREGULAR.split())
)

# Verb forms that are far more often nouns in study material; they stay candidates.
NOUN_LIKE_VERBS = frozenset(
    words_of(
        """
    power powers work works form forms control record records order orders report reports release
    supply exchange exchanges change changes result results pair pairs test tests design designs list
    lists study studies trade transfer transform update view views water light signal signals store
    """
    )
)
