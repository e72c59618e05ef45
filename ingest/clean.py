"""Conservative boilerplate removal: drop what is certainly not the story, keep the rest.

Five rules, each aimed at something seen in real scraped news: a photo caption
that carries its credit ("… [Photo by …]", "(Photo by …/Getty Images)") goes with
every copy of it; a line that repeats inside one article (captions, teaser
headings) is kept once; trailing "Related stories" blocks and short
share/subscribe/footer lines go; so does a video player's text ("JUST WATCHED
<clip> Replay More Videos ... MUST WATCH <clip> 02:39"). Anything that looks like
a sentence of prose is kept even if it matches loosely.
"""

from __future__ import annotations

import re
import unicodedata

# A photo credit glued to a caption: "...2025.[Photo by X, Public Domain]".
_CREDIT = re.compile(r"\s*[\[(](?:photo|image|picture|credit|file photo)[^\])]*[\])]\s*$", re.I)

_TRAILER_HEADINGS = re.compile(
    r"^(related (stories|articles|coverage|news|content|posts)|more (stories|from .{1,40})|read more|"
    r"you (may|might) also like|recommended( for you)?|most (read|popular)|trending( now)?|"
    r"top stories|latest news|more on this( story)?)\s*:?$",
    re.I,
)
_BOILERPLATE = re.compile(
    r"^("
    r"updated( on)?|published( on)?|advertisement|advert|sponsored( content)?|"
    r"\d+\s*min(ute)?s?\s*read|share( this( article| story)?)?|share on \w+|tweet|email|print|"
    r"copy link|link copied|comments?|no stories found\.?|"
    r"(click|tap) here to .{0,60}|sign up( now)?( for .{0,60})?|subscribe( now| today)?( to .{0,60})?|"
    r"follow us( on .{0,40})?|all rights reserved\.?|skip to (main )?content|"
    # a notice, not a sentence about copyright: "©…", "Copyright 2024 …", "Copyright © …", "… rights reserved"
    r"©.{0,80}|copyright(\s*(©|\(c\)|\d{4}|by\b|:).{0,80}|\b.{0,80}rights reserved\.?)?|"
    r"listen to (this )?article.{0,20}|image\s*\d*( of \d+)?|(photo|image) credit:?.{0,60}"
    r")$",
    re.I,
)
# CNN's embedded player, scraped as one line (in 184 of the RealTimeQA articles, 441 lines): its
# clip titles read as sentences and took evidence slots ("JUST WATCHED NASA scrubs Artemis I
# rocket launch due to engine issues.") beside the article's own sentences
_VIDEO_PLAYER = re.compile(r"^(?:JUST WATCHED .{1,300}? Replay More Videos \.\.\. )?MUST WATCH .{1,300}? \d{1,2}:\d{2}$")
_SENTENCE_END = re.compile(r"[.!?\"”’)]$")


def normalize_text(text: str) -> str:
    """Unicode NFC, unified newlines, no control characters, no trailing spaces."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def one_line(text: str, limit: int | None = None) -> str:
    """A label fit for a chunk header or a prompt line: one line, no control or format
    characters (bidi overrides, zero-width marks), single spaces, at most ``limit`` characters
    (cut at a word boundary and marked with an ellipsis)."""
    text = " ".join(normalize_text(text).split())
    if limit is None or len(text) <= limit:
        return text
    cut = text[: max(1, limit - 1)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip() + "…"


def headline(text: str, limit: int = 200) -> str:
    """A title made from the start of the text, for sources that give none."""
    first = next((line for line in text.split("\n") if line.strip()), "")
    return one_line(first[: limit * 4], limit)


def _key(line: str) -> str:
    return re.sub(r"\s+", " ", _CREDIT.sub("", line)).strip().casefold()


def _is_boilerplate(line: str) -> bool:
    stripped = line.strip()
    return (len(stripped) <= 100 and bool(_BOILERPLATE.match(stripped))) or bool(_VIDEO_PLAYER.match(stripped))


def clean_text(text: str) -> str:
    lines = normalize_text(text).split("\n")
    lines = _cut_trailer(lines)
    # A caption describes a photo, often of another day and place ("… in Geneva as part of trade
    # talks … during May 2025" above a story about talks in Madrid): read as reporting, it answered
    # "where are the talks held?" wrongly. The credit marks it; its uncredited copies go with it.
    seen: set[str] = {_key(line) for line in lines if _CREDIT.search(line)}
    kept: list[str] = []
    after_repeat = False  # the previous non-empty line was a dropped repeat
    tail_start = len(lines) * 2 // 3
    for i, line in enumerate(lines):
        key = _key(line)
        if not key:
            kept.append("")
            continue
        if key in seen:
            after_repeat = True
            continue
        if _is_boilerplate(line) or (after_repeat and i >= tail_start and _is_teaser(line)):
            after_repeat = False
            continue
        after_repeat = False
        seen.add(key)
        kept.append(line.strip())
    out = "\n".join(kept)
    return re.sub(r"\n{3,}", "\n\n", out).strip()


def _is_teaser(line: str) -> bool:
    """A headline linking elsewhere: short, no sentence punctuation at the end."""
    stripped = line.strip()
    return len(stripped) <= 120 and not _SENTENCE_END.search(stripped)


def _cut_trailer(lines: list[str]) -> list[str]:
    """Drop a "Related stories"-style heading and what follows, if it sits in the last third."""
    n = len(lines)
    for i, line in enumerate(lines):
        if i >= n * 2 // 3 and _TRAILER_HEADINGS.match(line.strip()):
            return lines[:i]
    return lines


def split_title(text: str) -> tuple[str, str]:
    """First non-empty line is the title (Markdown heading marks removed), the rest the body."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.strip():
            title = re.sub(r"^#+\s*", "", line.strip())
            return title, "\n".join(lines[i + 1 :]).strip()
    return "", ""
