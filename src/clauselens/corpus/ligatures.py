"""Put back the "fi"/"fl"/"ff" ligatures that some PDF extractions dropped ("re resistance", "ttings").

Several Approved Document files lost every typographic ligature ("fire" -> "re", "floor" -> "oor",
"fittings" -> "ttings", "specified" -> "specied"), while other files of the same corpus kept them. The
corpus itself is therefore the dictionary: a lower-case word is replaced when inserting a ligature somewhere
in it gives a word that the corpus uses far more often (at least `MIN_COUNT` times and `MIN_RATIO` times
as often as the damaged form). Common short words stay ("at" is not turned into "flat") because they are
frequent in their own right; a few genuine words that a ligature would also explain ("replace" /
"fireplace", "species" / "specifies") are listed in `GENUINE` and never touched.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

LIGATURES = ("ffi", "ffl", "fi", "fl", "ff")
MIN_COUNT = 5
MIN_RATIO = 2
GENUINE = frozenset({"replace", "replaces", "species", "ring", "rings", "red"})
LOWER_WORD = re.compile(r"(?<![\w\-])[a-z]{2,}(?![\w\-])")


def build_lexicon(texts: Iterable[str]) -> Counter[str]:
    """Lower-cased word counts of a corpus: the evidence for every repair."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(w.lower() for w in re.findall(r"[A-Za-z]+", text))
    return counts


def repair_table(lexicon: Counter[str]) -> dict[str, str]:
    """Damaged word -> repaired word, for every word of the lexicon that a ligature explains."""
    table: dict[str, str] = {}
    for word, count in lexicon.items():
        if word in GENUINE:
            continue
        best, best_count = None, max(MIN_COUNT - 1, MIN_RATIO * count - 1)
        for lig in LIGATURES:
            for pos in range(len(word) + 1):
                cand = word[:pos] + lig + word[pos:]
                if lexicon.get(cand, 0) > best_count:
                    best, best_count = cand, lexicon[cand]
        if best is not None:
            table[word] = best
    return table


def repair_text(text: str, table: dict[str, str]) -> tuple[str, int]:
    """The text with damaged lower-case words replaced, and how many replacements were made."""
    n = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal n
        word = match.group(0)
        if word in table:
            n += 1
            return table[word]
        return word

    return LOWER_WORD.sub(fix, text), n
