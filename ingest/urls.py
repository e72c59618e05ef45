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


def site_of(url: str) -> str:
    """The registered domain of a URL's host ('news.bbc.co.uk' -> 'bbc.co.uk'), by the
    Public Suffix List bundled with the ``tld`` package (no download); an IP address or a
    name the list does not know stands for itself."""
    from tld import get_fld

    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""
    if not host:
        return ""
    try:
        return get_fld(host, fix_protocol=True, fail_silently=True) or host
    except Exception:  # noqa: BLE001 - tld raises its own types on odd names; the host then stands alone
        return host


def same_site(a: str, b: str) -> bool:
    """Whether two URLs belong to one site (same registered domain): a page may name a
    canonical address on its own site, never on another outlet's."""
    site = site_of(a)
    return bool(site) and site == site_of(b)
