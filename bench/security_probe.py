"""Figures for bench/ROBUSTNESS.md "Security": the attacks of issue 12, measured, not asserted.

    .venv/bin/python bench/security_probe.py

Runs in a few seconds against real HTTP servers on 127.0.0.1 (the same ones the tests
use). The unit tests keep the behaviour (refused, cut, capped); timings live here because
a timed unit test fails on a busy machine for reasons that are not bugs.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest import load  # noqa: E402
from ingest.fetch import Fetcher, FetchError  # noqa: E402
from ingest.loaders import _only_link_text, load_html  # noqa: E402
from qa.settings import Settings  # noqa: E402
from tests.test_fetch_security import drip, gzip_bomb, page, running, ssrf_urls  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    out: dict = {}
    local = Settings(allow_private_urls=True)
    with running() as site:
        # SSRF spellings: refused, and the server saw no connection
        for url in ssrf_urls(site.port):
            list(load(url, Settings()))
        out["ssrf_urls_tried"] = len(ssrf_urls(site.port))
        out["ssrf_connections_seen"] = site.connections

        # gzip bomb: 150 MB of zeros in ~150 KB
        bomb = gzip_bomb(150)
        site.routes["/bomb"] = page(bomb, headers={"Content-Encoding": "gzip"})
        rss0 = rss_mb()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        t0 = time.monotonic()
        items = list(load(site.base + "/bomb", local))
        took = time.monotonic() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out["gzip_bomb"] = {"compressed_kb": round(len(bomb) / 1e3), "decoded_mb": 150,
                            "refused": type(items[0]).__name__ == "LoadFailure",
                            "peak_python_alloc_growth_mb": round((peak - base) / 1e6, 1),
                            "max_rss_growth_mb": round(rss_mb() - rss0, 1), "seconds": round(took, 2)}

        # slow drip: one byte every 0.2 s, in the body and in the headers, 1 s deadline
        for where, head_first in (("body", True), ("headers", False)):
            site.routes["/drip"] = drip(head_first)
            fetcher = Fetcher(Settings(allow_private_urls=True, fetch_timeout_s=1.0))
            t0 = time.monotonic()
            try:
                fetcher.get(site.base + "/drip")
                cut = False
            except FetchError:
                cut = True
            out[f"slow_drip_{where}"] = {"deadline_s": 1.0, "cut": cut, "seconds": round(time.monotonic() - t0, 2)}

    # 500-link page: the link-text check alone, and the whole HTML load
    links = " ".join(f'<a href="/s{i}">Section {i} news today</a>' for i in range(500))
    menu = f"<html><head><title>Front</title></head><body><nav>{links}</nav></body></html>"
    text = "\n".join(f"Section {i} news today" for i in range(500))
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        assert _only_link_text(menu, text)
        runs.append(time.perf_counter() - t0)
    out["links_500_check_ms"] = round(min(runs) * 1e3, 1)
    t0 = time.perf_counter()
    try:
        load_html(menu, "x", "x", settings=Settings())
    except Exception as exc:  # noqa: BLE001 - a menu page is refused; that is the expected end
        out["links_500_load_result"] = str(exc)
    out["links_500_load_ms"] = round((time.perf_counter() - t0) * 1e3, 1)

    # huge title: refused before any cleaning
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "t.jsonl"
        f.write_text(json.dumps({"url": "https://example.org/t", "title": "Breaking " * 500_000,
                                 "text": "A short story."}) + "\n")
        t0 = time.perf_counter()
        [fail] = list(load(str(f), Settings()))
        out["huge_title"] = {"title_mb": 4.5, "reason": fail.reason, "ms": round((time.perf_counter() - t0) * 1e3, 1)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
