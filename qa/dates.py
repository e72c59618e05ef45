"""Dates as the index stores them: ISO text for people, day numbers for filters.

Chroma's ``$gte``/``$lte`` work on numbers only, so every chunk also carries
``published_days`` (days since 1970-01-01); undated articles get ``UNDATED``
so an ``as_of`` filter can let them through explicitly.
"""

from __future__ import annotations

import datetime as dt

EPOCH = dt.date(1970, 1, 1)
UNDATED = -1


def parse_date(value) -> dt.date | None:
    """Accept a date, datetime, ISO string or any common date string; None if unusable."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        pass
    try:
        from dateutil import parser as dparser

        return dparser.parse(text, fuzzy=False).date()
    except (ValueError, OverflowError, TypeError):
        return None


def require_date(value, what: str = "date") -> dt.date:
    parsed = parse_date(value)
    if parsed is None:
        raise ValueError(f"Could not read {what} {value!r}; use YYYY-MM-DD")
    return parsed


def to_days(day: dt.date | None) -> int:
    return UNDATED if day is None else (day - EPOCH).days


def from_days(days: int) -> dt.date | None:
    return None if days == UNDATED else EPOCH + dt.timedelta(days=int(days))
