"""Times a question names ("last week", "in June", "on Monday", "since March 3"), read against ``as_of``.

Parsing is dateparser's (its ``search_dates`` finds the expressions, its period tells a
day from a week, month or year); this module only decides which matches are times at
all ("may" and "now" are not) and turns each into a window of publication days. A
window is *soft* (a prior: articles inside it are preferred) unless the question says
"since …", which is a bound.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from dataclasses import dataclass

from .dates import EPOCH, to_days

# what asks for "the newest" rather than naming a time
_LATEST = re.compile(
    r"\b(this (week|month|year|weekend)|last (week|month|weekend)|recent(ly)?|latest|newest|today|yesterday|"
    r"right now|current(ly)?|so far|most recent)\b",
    re.I,
)
_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_DAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
# a match is a time only when it says one of these (dateparser also reads "may", "now", "second", "a" …)
_TIMEY = re.compile(
    rf"\b({_MONTHS}|{_DAYS}|yesterday|today|\d{{4}}|\d{{1,2}}/\d{{1,2}}|ago|"
    rf"(last|this|past|previous) (week|month|year|weekend))\b",
    re.I,
)
# "may" and "march" written in lower case without a day or year are the verbs ("what may happen")
_VERB_MONTH = re.compile(r"^(?!.*\d)(.*\s)?(may|march)(\s.*)?$")
# news about a day is published that day or soon after
_REPORTING_LAG_DAYS = 3


@dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date
    hard: bool
    phrase: str

    def contains_days(self, days: int) -> bool:
        return to_days(self.start) <= days <= to_days(self.end) + (0 if self.hard else _REPORTING_LAG_DAYS)


def asks_for_latest(question: str) -> bool:
    return bool(_LATEST.search(question))


# How old an answer's article may be, in days before the newest article the question can see, when
# the question asks for what is new. "This week" allows the week and the one before it (news of a
# Friday question was often written the week before); "this month" a month and a half; "recently",
# "latest" two months; "this fall" four. "Currently" and "so far" set no limit: a months-old article
# may still say who currently leads something, and refusing that would hide a true answer.
_FRESH = [
    (re.compile(rf"\b(today|yesterday|tonight|this (week|weekend)|last (week|weekend)|past (few )?days|"
                rf"(on|last|this) ({_DAYS}))\b", re.I), 14),
    (re.compile(r"\b(this|last|past) month\b", re.I), 45),
    (re.compile(r"\b(recent(ly)?|latest|newest|most recent)\b", re.I), 60),
    # "this fall", "for the summer": the season now or next, so a season and its run-up; not "the
    # fall of the ruble" nor "the summer of 2016"
    (re.compile(r"\b(this|for the|next) (fall|autumn|summer|winter|spring)\b(?!\s+(of|in)\b)(?!,?\s*\d{4})", re.I), 120),
]


def freshness_limit(question: str) -> tuple[int, str] | None:
    """(the most days an answer's article may predate the newest visible article, the words that
    say so); None when the question sets no limit."""
    found = [(days, m.group(0)) for pattern, days in _FRESH if (m := pattern.search(question))]
    return min(found) if found else None


@functools.lru_cache(maxsize=1)
def _parsers():
    from dateparser import DateDataParser

    return DateDataParser(languages=["en"])


def time_window(question: str, as_of: dt.date | None) -> Window | None:
    """The first time the question names, as a window of days; None when it names none."""
    if as_of is None or not _TIMEY.search(question):
        return None
    from dateparser.search import search_dates

    base = dt.datetime.combine(as_of, dt.time(12))
    settings = {"RELATIVE_BASE": base, "PREFER_DATES_FROM": "past", "REQUIRE_PARTS": []}
    found = search_dates(question, languages=["en"], settings=settings) or []
    for phrase, when in found:
        if not _TIMEY.search(phrase) or _VERB_MONTH.search(phrase):
            continue
        data = _parsers().get_date_data(phrase, date_formats=None)
        period = getattr(data, "period", None) or "day"
        day = when.date()
        if day > as_of and not re.search(r"\d{4}", phrase):
            day = day.replace(year=day.year - 1)  # "in December" asked in March: the last one
        start, end = _span(day, period)
        end = min(end, as_of)
        if start > end:
            continue
        hard = bool(re.search(rf"\bsince\s+{re.escape(phrase)}", question, re.I))
        if hard:
            end = as_of
        return Window(start, end, hard, phrase)
    return None


def _span(day: dt.date, period: str) -> tuple[dt.date, dt.date]:
    if period == "year":
        return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    if period == "month":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if period == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + dt.timedelta(days=6)
    return day, day


__all__ = ["Window", "time_window", "asks_for_latest", "freshness_limit", "EPOCH"]
