"""Boilerplate removal: captions, "Related stories" trailers and share/footer lines go,
every sentence of the story stays. The seed article is read at test time, never copied."""

from __future__ import annotations

from ingest import Article, load
from ingest.clean import clean_text, normalize_text, split_title

CAPTION = "Scott Bessent and He Lifeng in Geneva as part of trade talks between US and China during May 2025."
SEED_TITLE = "US-China Talks Advance on TikTok Amid Trade Tensions in Madrid"


def _seed(seed_article) -> Article:
    items = list(load(str(seed_article)))
    assert len(items) == 1 and isinstance(items[0], Article), items
    return items[0]


# --- the seed article -------------------------------------------------------------


def test_seed_title(seed_article):
    art = _seed(seed_article)
    assert art.title == SEED_TITLE
    assert not art.text.startswith(SEED_TITLE)
    assert art.id == str(seed_article.resolve())


def test_seed_caption_dropped_with_every_copy(seed_article):
    raw = seed_article.read_text(encoding="utf-8")
    assert raw.count(CAPTION) >= 3, "the seed file is expected to repeat its photo caption"
    assert CAPTION + "[Photo by" in raw, "one copy of the caption carries its credit"
    text = _seed(seed_article).text
    assert CAPTION not in text  # the photo is of Geneva in May; the story is about Madrid now
    assert "[Photo by" not in text


def test_seed_related_stories_block_removed(seed_article):
    raw = seed_article.read_text(encoding="utf-8")
    assert "Related Stories" in raw and "No stories found." in raw
    text = _seed(seed_article).text
    assert "Related Stories" not in text
    assert "No stories found." not in text
    for line in ("Updated on", "2 min read"):
        assert line not in text.split("\n")


def test_seed_no_body_sentence_lost(seed_article):
    raw = seed_article.read_text(encoding="utf-8")
    text = _seed(seed_article).text
    body = [
        line.strip()
        for line in raw.splitlines()
        if len(line.strip()) > 80 and not line.strip().startswith(CAPTION)
    ]
    assert len(body) >= 15, "expected the seed's body paragraphs"
    lost = [line for line in body if line not in text]
    assert not lost, f"body sentences lost by cleaning: {lost}"
    # and they keep their order
    positions = [text.index(line) for line in body]
    assert positions == sorted(positions)


def test_seed_section_headings_kept(seed_article):
    # short lines inside the story (section headings) are not boilerplate
    text = _seed(seed_article).text
    assert "Trade Tensions and Broader Issues" in text.split("\n")
    assert "Future Prospects and Expectations" in text.split("\n")


# --- clean_text rules on small made-up texts --------------------------------------


STORY = [
    "The new tram line opened on Saturday with free rides for the whole weekend.",
    "City officials said the line will carry twelve thousand people a day once schools reopen.",
    "Shops along the route reported busier mornings than usual.",
    "The operator plans a second line toward the airport within five years.",
]


def test_repeated_caption_and_teasers_dropped():
    caption = "Passengers boarding the first tram at Central Square."
    raw = "\n\n".join(
        [caption, caption + " [Photo by City Transport]", *STORY, caption, "Cyclists protest lane closures",
         caption, "Ferry timetable changes in June"]
    )
    out = clean_text(raw)
    assert caption not in out  # credited once, so a caption everywhere
    assert "[Photo by" not in out
    assert "Cyclists protest lane closures" not in out  # teaser headlines after repeated captions
    assert "Ferry timetable changes in June" not in out
    for sentence in STORY:
        assert sentence in out
    # without a credit, a repeated line is kept once: it may be the story's own lead
    out = clean_text("\n\n".join([caption, *STORY, caption]))
    assert out.count(caption) == 1 and all(s in out for s in STORY)


def test_a_credited_caption_goes_and_the_story_stays():
    caption = "Commuters wait on the platform at Central Square on Monday. (Photo by A. Lens/Example Images)"
    out = clean_text("\n\n".join([STORY[0], caption, *STORY[1:]]))
    assert "Commuters wait" not in out and "Photo by" not in out
    assert all(s in out for s in STORY)


def test_related_trailer_cut_only_near_the_end():
    raw = "\n\n".join([*STORY, *STORY[::-1], "Related Stories", "Another headline here", "More words"])
    out = clean_text(raw)
    assert "Related Stories" not in out and "Another headline here" not in out
    assert all(s in out for s in STORY)
    # the same heading early in a text is not a trailer: nothing after it is cut
    early = "\n".join(["Read more", *STORY, *STORY[::-1]])
    out2 = clean_text(early)
    assert all(s in out2 for s in STORY)


def test_share_and_footer_lines_dropped_but_prose_kept():
    prose = "Share prices of the tram builder rose four percent after the opening was announced."
    raw = "\n".join(
        ["Share this article", "3 min read", "Advertisement", STORY[0], prose, "Subscribe now", STORY[1],
         "Follow us on Twitter", "© 2024 Example Media"]
    )
    out = clean_text(raw).split("\n")
    for junk in ("Share this article", "3 min read", "Advertisement", "Subscribe now", "Follow us on Twitter",
                 "© 2024 Example Media"):
        assert junk not in out
    assert prose in out and STORY[0] in out and STORY[1] in out


def test_video_player_text_dropped_but_a_sentence_about_watching_kept():
    player = ("JUST WATCHED Harbor tram opens to riders Replay More Videos ... "
              "MUST WATCH Harbor tram opens to riders 02:39")
    alone = "MUST WATCH Crews retrace the tram's first route 04:11"
    prose = "Riders said they must watch the timetable closely: the first tram left at 6:15."
    out = clean_text("\n\n".join([STORY[0], player, STORY[1], alone, prose])).split("\n")
    assert player not in out and alone not in out
    assert not [line for line in out if "WATCH" in line]
    assert STORY[0] in out and STORY[1] in out and prose in out


def test_normalize_text():
    raw = "Cafe\u0301 line one  \r\nline two\rline\u0007 three\u200b"
    out = normalize_text(raw)
    assert out.split("\n") == ["Café line one", "line two", "line three"]


def test_split_title():
    assert split_title("\n\n### A heading\n\nBody text.") == ("A heading", "Body text.")
    assert split_title("Only a title") == ("Only a title", "")
    assert split_title("   \n  ") == ("", "")
