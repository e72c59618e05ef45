"""Check every [n] marker against the passages it points at.

A marker with no passage is dropped. A sentence is *supported* by a passage
when one sentence of that passage covers most of the sentence's content words
(stemmed) and every name and number in the claim appears in the passage: a
cheap, explainable check that catches the swapped-entity lie ("He Lifeng leads
the American delegation") that plain embedding similarity lets through.
Sentences without a marker get the best supporting passage, so small models
that forget markers still produce cited answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .types import REFUSAL, Citation, Passage

MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
_SENT_SPLIT = re.compile(r"(?<=[.!?])[\"”’)]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’.-]*[A-Za-z0-9]|[A-Za-z0-9]")
_REFUSAL = re.compile(
    r"(articles?|passages?|context|sources?|text|documents?|information)\s+(provided\s+)?"
    r"(do(es)?n['’]?t|do(es)? not|did not|didn['’]t)\s+(say|mention|cover|contain|provide|include|specify|state|answer)"
    r"|(^|\b)(not|no)\s+(mentioned|stated|specified|covered|provided|information|answer)"
    r"|\b(cannot|can['’]t|unable to)\s+(answer|determine|find|tell)"
    r"|\bi (do not|don['’]t) know\b|\bno (relevant )?information\b",
    re.I,
)
STOP = set(
    """a an the and or but if of at by for with about against between into through during before after above
    below to from up down in out on off over under again further then once here there when where why how all any
    both each few more most other some such no nor not only own same so than too very s t can will just don should
    now is are was were be been being have has had having do does did doing i me my we our you your he him his she
    her it its they them their what which who whom this that these those am would could also said says say according
    as per one""".split()
)
SUPPORT_THRESHOLD = 0.6


# "Florida Gov. Ron DeSantis" is one sentence: no split after a title, month or initial.
_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Gov|Sen|Rep|Gen|Lt|Col|Sgt|Capt|Adm|Maj|Rev|Hon|Pres|Supt|St|Jr|Sr|Inc|Corp|Co|"
    r"Ltd|No|vs|Mt|Ft|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)|(?<![A-Za-z.])(?:[A-Z]\.)*[A-Z])\.$"
)


def split_sentences(text: str) -> list[str]:
    parts = []
    for block in re.split(r"\n+", text.strip()):
        merged: list[str] = []
        for piece in (p.strip() for p in _SENT_SPLIT.split(block)):
            if not piece:
                continue
            if merged and _ABBREV.search(merged[-1]):
                merged[-1] = f"{merged[-1]} {piece}"
            else:
                merged.append(piece)
        parts.extend(merged)
    return parts


def is_refusal(text: str) -> bool:
    first = split_sentences(MARKER.sub("", text))[:1]
    return bool(first) and bool(_REFUSAL.search(first[0]))


def _stem(word: str) -> str:
    from .bm25 import stemmer

    return stemmer().stemWord(re.sub(r"['’]s$", "", word.lower()).strip("'’.-"))


def content_terms(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(MARKER.sub(" ", text)) if w.lower() not in STOP and len(w) > 1 or w.isdigit()}


def key_terms(text: str) -> set[str]:
    """Names and numbers: capitalised words not opening the sentence, and digits."""
    words = [re.sub(r"['’]s$", "", w) for w in _WORD.findall(MARKER.sub(" ", text))]
    keys = set()
    for i, w in enumerate(words):
        if any(ch.isdigit() for ch in w):
            keys.add(re.sub(r"[^0-9]", "", w))
        elif i > 0 and w[0].isupper() and w.lower() not in STOP:
            keys.add(w.lower())
    return {k for k in keys if k}


@dataclass
class Support:
    score: float
    quote: str
    missing_keys: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return self.score >= SUPPORT_THRESHOLD and not self.missing_keys


_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())} | {w: str(10 * i) for i, w in enumerate(
    "thirty forty fifty sixty seventy eighty ninety".split(), 3)}


def numbers_in(words: list[str]) -> set[str]:
    """Digit strings of the numbers among ``words``, also their whole part ("11.8" gives "118" and
    "11"); a number written as a word counts as its digits ("six months" holds "6")."""
    out = set()
    for w in words:
        if any(c.isdigit() for c in w):
            out.add(re.sub(r"[^0-9]", "", w))
            out.add(re.sub(r"[^0-9.]", "", w).split(".")[0])
        elif w.lower() in _NUMBER_WORDS:
            out.add(_NUMBER_WORDS[w.lower()])
    return out - {""}


def support(claim: str, passage_text: str, premise: frozenset[str] = frozenset(),
            premise_keys: frozenset[str] = frozenset()) -> Support:
    """How well the passage backs the claim, and its best sentence as the quote.

    ``premise``: content terms the claim may take from the question without the passage
    repeating them; coverage is measured on the rest (all of it when nothing is left).
    ``premise_keys``: the question's own words; names and numbers among them are not
    required of the passage (the question's names are checked on their own, see
    :func:`uncovered_names`).
    """
    terms = (content_terms(claim) - premise) or content_terms(claim)
    keys = key_terms(claim) - premise_keys
    lower_passage = passage_text.lower()
    words = _WORD.findall(passage_text)
    passage_words = {w.lower() for w in words} | numbers_in(words)
    missing = {k for k in keys if k not in passage_words and k not in lower_passage}
    best = Support(0.0, "", missing)
    if not terms:
        return best
    sentences = split_sentences(passage_text) or [passage_text]
    # a claim may merge two adjacent sentences of the passage, so try pairs too
    windows = sentences + [a + " " + b for a, b in zip(sentences, sentences[1:])]
    for sent in windows:
        got = terms & content_terms(sent)
        score = len(got) / len(terms)
        if score > best.score + 1e-9 or (abs(score - best.score) < 1e-9 and len(sent) < len(best.quote)):
            best = Support(score, sent, missing)
    if best.missing_keys and best.quote:
        # the sentence's first word counts here too: "Bessent leads the American delegation"
        first = _WORD.findall(MARKER.sub(" ", claim))[:1]
        names = keys | {w.lower() for w in first if w[:1].isupper() and w.lower() not in STOP}
        best.missing_keys = {k for k in best.missing_keys if not _alias_near(k, names - {k}, best.quote)}
    conflict = leader_conflict(claim, passage_text)
    if conflict:
        best.missing_keys = best.missing_keys | {conflict}
    return best


_LEAD = {"lead", "leads", "leading", "led", "head", "heads", "heading", "headed",
         "represent", "represents", "representing", "represented"}
_DESCRIPTOR_STOP = {",", ";", "(", ")", "and", "with", "while", "met", "meets", "meeting", "against", "versus", "vs"}
_TOKEN = re.compile(r"[^\W_][\w’'.-]*|[,;()]")


def _country_key(token: str) -> str:
    return re.sub(r"['’]s$", "", token).lower().rstrip(".")  # "Britain's", "U.S." → "britain", "u.s"


def country_group(token: str) -> frozenset | None:
    t = _country_key(token)
    return next((g for g in _ALIASES if t in g), None)


def leader_conflict(claim: str, passage_text: str) -> str | None:
    """The country in "<name> leads the <country> delegation" when the passage gives the name another one.

    Word overlap accepts "The Chinese delegation is led by Scott Bessent" from a sentence
    naming "US Treasury Secretary Scott Bessent and Chinese Vice Premier He Lifeng": both
    words are there. News puts a person's country right before the name ("Chinese Vice
    Premier He Lifeng"), so the claim is refused when the nearest country word before
    every mention of the named leader is another country's (and never the claimed one).
    """
    tokens = _TOKEN.findall(MARKER.sub(" ", claim))
    for v, tok in enumerate(tokens):
        if tok.lower() not in _LEAD:
            continue
        passive = v + 1 < len(tokens) and tokens[v + 1].lower() == "by"
        if passive:
            country_zone, name_zone = tokens[max(0, v - 5) : v][::-1], tokens[v + 2 : v + 6]
        else:
            country_zone, name_zone = tokens[v + 1 : v + 5], tokens[max(0, v - 6) : v]
        country = next((t for t in country_zone if country_group(t)), None)
        names = [t for t in name_zone if t[:1].isupper() and not country_group(t) and t.lower() not in STOP]
        if not country or not names:
            continue
        claimed = country_group(country)
        for name in names:
            seen = _descriptors(name, passage_text)
            if seen and claimed not in seen:
                return re.sub(r"['’]s$", "", country).lower()
    return None


def _descriptors(name: str, text: str) -> set[frozenset]:
    """The country words standing just before each mention of ``name`` (up to 5 words back)."""
    found: set[frozenset] = set()
    for sentence in split_sentences(text) or [text]:
        tokens = _TOKEN.findall(sentence)
        for i, tok in enumerate(tokens):
            if re.sub(r"['’]s$", "", tok) != name:
                continue
            for back in tokens[max(0, i - 5) : i][::-1]:
                if back.lower() in _DESCRIPTOR_STOP:
                    break
                group = country_group(back)
                if group:
                    found.add(group)
                    break
    return found


def _alias_near(key: str, others: set[str], quote: str, window: int = 4) -> bool:
    """"American" is backed by "US" only where "US" stands next to the claim's other names.

    "US Treasury Secretary Scott Bessent" backs "Bessent leads the American delegation";
    the same sentence does not back "He Lifeng leads the American delegation", because
    "US" is far from "Lifeng" there (and "Chinese" is next to it).
    """
    group = country_group(key)
    if not group or not others:
        return False
    tokens = [re.sub(r"['’]s$", "", w).lower() for w in _WORD.findall(quote)]
    alias_at = [i for i, t in enumerate(tokens) if t in group]
    other_at = [i for i, t in enumerate(tokens) if t in others]
    return any(abs(a - o) <= window for a in alias_at for o in other_at)


@dataclass
class Checked:
    text: str
    citations: list[Citation]
    flagged: list[str]
    refused: bool
    invalid_markers: int
    total_markers: int


def check(raw: str, passages: list[Passage], question: str = "") -> Checked:
    """Validate markers, verify support, add missing citations, renumber compactly.

    With the question, a sentence's words that only repeat it ("… are forging much closer
    economic ties since the war began") are its premise: support is measured on what the
    sentence adds (its answer), names and numbers still all required.
    """
    raw = re.sub(r"(\d),\s+(\d{3})\b", r"\1,\2", raw.strip())  # "300, 000" as the model sometimes writes it
    premise = frozenset(content_terms(question)) if question else frozenset()
    premise_keys = frozenset(w.lower() for w in _WORD.findall(question)) | frozenset(numbers_in(_WORD.findall(question)))
    total = invalid = 0
    for m in MARKER.finditer(raw):
        for n in re.split(r"\s*[,;]\s*", m.group(1)):
            total += 1
            if not 1 <= int(n) <= len(passages):
                invalid += 1
    if not raw or is_refusal(raw):
        return Checked(_strip_markers(raw) or "", [], [], True, invalid, total)
    out_sentences: list[str] = []
    flagged: list[str] = []
    cites: dict[int, Citation] = {}  # passage number -> citation
    order: list[int] = []
    for sentence in split_sentences(raw):
        cited = []
        for m in MARKER.finditer(sentence):
            for n in re.split(r"\s*[,;]\s*", m.group(1)):
                n = int(n)
                if 1 <= n <= len(passages) and n not in cited:
                    cited.append(n)
        bare = _strip_markers(sentence)
        if not content_terms(bare):
            out_sentences.append(bare)
            continue
        supported: list[tuple[int, Support]] = []
        for n in cited:
            s = support(bare, passages[n - 1].text, premise, premise_keys)
            if s.ok:
                supported.append((n, s))
        if not supported:
            # no (valid, supporting) marker: give it the passage that supports it best, if any does
            best = max(((n, support(bare, p.text, premise, premise_keys)) for n, p in enumerate(passages, 1)), key=lambda t: t[1].score, default=None)
            if best and best[1].ok:
                supported = [best]
        if not supported:
            flagged.append(bare)
            out_sentences.append(bare)
            continue
        for n, s in supported:
            if n not in cites:
                p = passages[n - 1]
                cites[n] = Citation(
                    index=0, title=p.title, url=p.url, source=p.source, published=p.date_label,
                    chunk_id=p.chunk_id, article_id=p.article_id, quote=s.quote, passage=p.text, support=s.score,
                )
                order.append(n)
        marks = "".join(f"\x00{n}\x00" for n, _ in supported)  # a placeholder no model writes
        m = re.search(r"[.!?]+[\"”’)]*$", bare)
        out_sentences.append(f"{bare[:m.start()]} {marks}{bare[m.start():]}" if m else f"{bare} {marks}")
    # renumber: the first passage cited becomes [1], and so on
    renum = {n: i for i, n in enumerate(order, 1)}
    text = " ".join(out_sentences)
    text = re.sub(r"\x00(\d+)\x00", lambda m: f"[{renum[int(m.group(1))]}]", text)
    citations = []
    for n in order:
        c = cites[n]
        c.index = renum[n]
        citations.append(c)
    if not citations and flagged:
        # Nothing the model said is in the passages (outside knowledge, a guess, or an
        # instruction it picked up): say so honestly instead of showing it as an answer.
        return Checked(REFUSAL, [], flagged, True, invalid, total)
    return Checked(text.strip(), citations, flagged, False, invalid, total)


def _strip_markers(text: str) -> str:
    text = text.replace("\x00", "")
    while MARKER.search(text):  # "[1[2]]" leaves "[1]" after one pass
        text = MARKER.sub("", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


# Countries as news names them: the adjective, the names, the capital (or seat of government).
# All of them cover each other ("the American delegation" is covered by a passage that says
# "US"); only the names stand in for each other when an answer is shown ("UK" is shown as the
# sentence's "United Kingdom", but "France" never as the sentence's "French-Swiss" or "Paris").
# Small on purpose: the common cases in English news.
_COUNTRIES = [
    ("american", ("america", "us", "usa", "united states", "u.s"), ("washington",)),
    ("chinese", ("china",), ("beijing",)), ("british", ("britain", "uk", "united kingdom"), ("london",)),
    ("russian", ("russia",), ("moscow", "kremlin")), ("ukrainian", ("ukraine",), ("kyiv",)),
    ("french", ("france",), ("paris",)), ("german", ("germany",), ("berlin",)), ("japanese", ("japan",), ("tokyo",)),
    ("indian", ("india",), ("delhi",)), ("israeli", ("israel",), ()), ("iranian", ("iran",), ("tehran",)),
    ("european", ("europe", "eu"), ()), ("canadian", ("canada",), ()), ("mexican", ("mexico",), ()),
    ("spanish", ("spain",), ("madrid",)), ("italian", ("italy",), ("rome",)), ("korean", ("korea",), ("seoul",)),
]
_ALIASES = [frozenset({adjective, *names, *places}) for adjective, names, places in _COUNTRIES]


def is_country_word(token: str) -> bool:
    """A country's name or adjective ("US", "Chinese"); not its capital."""
    t = _country_key(token)
    return any(t == adjective or t in names for adjective, names, _places in _COUNTRIES)


def country_names(token: str) -> tuple[str, ...]:
    """The names of the country ``token`` names ("uk" → britain, uk, united kingdom, …); empty for an
    adjective, a capital or anything else."""
    t = _country_key(token)
    return next((names for _adj, names, _places in _COUNTRIES if t in names), ())


def uncovered_names(question: str, texts: list[str]) -> set[str]:
    """Names and numbers in the question that none of the texts mentions (aliases and word forms count:
    "Russians" is covered by "Russian"); a name of several words counts as mentioned only where
    its words stand together (:mod:`qa.names`)."""
    haystack = " ".join(texts).lower()
    words = {w.lower() for w in _WORD.findall(haystack)} | set(re.findall(r"[a-z0-9]+", haystack))
    stems = {_stem(w) for w in words}
    digits = numbers_in(list(words))
    missing = set()
    def covered(key: str) -> bool:
        variants = country_group(key) or {key}
        return any(v in words or v in digits or _stem(v) in stems or (not v.isalnum() and v in haystack)
                   for v in variants)

    acronyms = {w.lower() for w in re.findall(r"\b[A-Z]{2,5}\b", question)}
    for key in key_terms(question):
        # "Texas-Mexico border" is covered by a passage on the "US-Mexico border": a part is enough
        parts = [p for p in re.split(r"[-–/]", key) if p] if not key.isdigit() else [key]
        if not any(covered(p) for p in parts) and not (key in acronyms and _spelled_out(key, haystack)):
            missing.add(key)
    if not missing:
        from .names import unnamed  # qa.names reads this module's word rules

        missing = unnamed(question, texts)
    return missing


def _spelled_out(acronym: str, haystack: str) -> bool:
    """"AC" is covered by "air conditioning": consecutive words whose initials spell it."""
    pattern = r"\b" + r"[a-z]+\W+".join(acronym) + r"[a-z]+"
    return re.search(pattern, haystack) is not None
