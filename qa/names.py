"""Multiword names in a question ("Thomas Cup", "Prix de l'Arc de Triomphe") and whether a text names them.

Checking a name word by word lets unrelated passages cover it: "Thomas Cup" was covered
by "Thomas Bollyky" in one passage and "Stanley Cup" in another, and the 1.5B then answered
a badminton question from an ice-hockey roster. A name of two or more capitalised words is
covered only where its words stand together, in order, in one text. Word forms count
(stems, and one word a prefix of the other: "Ash Carter" is "Ashton Carter"); a leading
acronym or country word is left to the word-by-word check ("NHL Stanley Cup Finals" needs
"Stanley Cup Final", "US Senate" needs "Senate"), and commas, "and" and a possessive end a
name ("Kia and Hyundai SUVs" holds no two-word name).
"""

from __future__ import annotations

import re

from .citations import _WORD, STOP, _stem, is_country_word

# lower-case words that stand inside a name ("Prix de l'Arc de Triomphe", "Bank of England")
_INSIDE = {"de", "of", "la", "le", "du", "des", "del", "di", "da", "van", "von", "the"}
_ACRONYM = re.compile(r"[A-Z]{2,}s?")
_POSSESSIVE = re.compile(r"['’]s$")


def _capitalised(word: str) -> bool:
    return word[:1].isupper() or bool(re.match(r"^[ld]['’][A-Z]", word))  # "l'Arc", "d'Italia"


def names(question: str, *, first_word: bool = False) -> list[str]:
    """The question's names of two or more capitalised words, not counting its first word (capitalised
    as a sentence's) unless ``first_word`` (an answer: "Major League Baseball")."""
    found: list[str] = []
    run: list[str] = []

    def close():
        while run and (_ACRONYM.fullmatch(run[0]) or is_country_word(run[0]) or run[0].lower() in _INSIDE):
            run.pop(0)
        while run and (_ACRONYM.fullmatch(run[-1]) or run[-1].lower() in _INSIDE):
            run.pop()
        if sum(_capitalised(w) for w in run) >= 2:
            found.append(" ".join(run))
        run.clear()

    tokens = list(_WORD.finditer(question))
    for i, m in enumerate(tokens):
        word = m.group()
        if run and question[tokens[i - 1].end() : m.start()].strip():
            close()  # a comma, a dash or a quote between two words ends a name
        if (i > 0 or first_word) and _capitalised(word) and not any(c.isdigit() for c in word) and word.lower() not in STOP:
            run.append(_POSSESSIVE.sub("", word))
        elif run and word.lower() in _INSIDE and i + 1 < len(tokens) and _capitalised(tokens[i + 1].group()):
            run.append(word)
        else:
            close()
        if _POSSESSIVE.search(word):
            close()  # "Trump's Mar-a-Lago" is two names
    close()
    return found


def _words(text: str) -> list[str]:
    return [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower().replace("’", "'"))
            if w not in _INSIDE and w not in ("l", "d", "s")]


def _same(a: str, b: str) -> bool:
    return a == b or (min(len(a), len(b)) >= 3 and (a.startswith(b) or b.startswith(a)))


def unnamed(question: str, texts: list[str]) -> set[str]:
    """The question's multiword names (lower-cased) whose words stand together, in order, in none
    of the texts."""
    wanted = names(question)
    if not wanted:
        return set()
    haves = [_words(text) for text in texts]  # each text stemmed once, whatever the number of names
    return {name.lower() for name in wanted if not any(_stands_in(_words(name), have) for have in haves)}


def stands_together(name: str, text: str, gap: int = 0) -> bool:
    """Whether the name's words stand in the text in their order, at most ``gap`` other words between
    two of them."""
    return _stands_in(_words(name), _words(text), gap)


def _stands_in(want: list[str], have: list[str], gap: int = 0) -> bool:
    if not want:
        return True
    for i, word in enumerate(have):
        if not _same(want[0], word):
            continue
        at = i
        for w in want[1:]:
            at = next((j for j in range(at + 1, min(at + 2 + gap, len(have))) if _same(w, have[j])), -1)
            if at < 0:
                break
        else:
            return True
    return False


__all__ = ["names", "stands_together", "unnamed"]
