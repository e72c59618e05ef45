"""One spelling per web address, so one article read twice is stored once.

News sites serve the same page as ``…/story/index.html`` and ``…/story`` (the
RealTimeQA corpus holds such twins, and its gold URL may be either one), feeds add ``utm_`` tracking parameters, and links carry ``#fragments``. The article
id is the canonical form; the ``url`` field keeps the address as given, for the link.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_INDEX_PAGES = ("index.html", "index.htm", "index.php", "index.shtml")
_TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid")


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; anything else is returned unchanged."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        return text
    path = parts.path or "/"
    for page in _INDEX_PAGES:
        if path.endswith("/" + page):
            path = path[: -len(page)]
            break
    if len(path) > 1:
        path = path.rstrip("/")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not k.lower().startswith(_TRACKING)])
    return urlunsplit((scheme, parts.netloc.lower(), path, query, ""))
