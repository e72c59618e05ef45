"""The fetcher cannot be turned on the host: SSRF spellings, redirects, DNS answers, bombs, drips.

Every attack runs against a real HTTP server on 127.0.0.1 (or 127.0.0.2, also loopback
on Linux) that counts the connections it accepts, so "refused before any connection"
is checked by the server itself, not by trusting the fetcher. Private addresses are
allowed only in the tests that need them, through the Settings passed in. The one
fake is a resolver, used where a real DNS answer cannot be had offline (a public-looking
name that resolves to loopback).
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import threading
import time
import tracemalloc
import zlib

import pytest

from ingest import Article, LoadFailure, load
from ingest.fetch import FETCH_FAILED, Fetcher, FetchError, check_url, is_public_address
from qa.settings import Settings
from tests.chroma_server import free_port

PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Ferry timetable changes</title></head>
<body><article><h1>Ferry timetable changes</h1>
<p>The island ferry will leave the harbour half an hour earlier on weekdays from next month, the operator said.</p>
<p>Passengers who commute to the mainland welcomed the change, which lets them reach the first train.</p>
</article></body></html>"""
SECRET = b"<html><body><article><p>The internal admin password is hunter2 and must never leave this host.</p></article></body></html>"


# --- a real server that counts connections ------------------------------------------


class Site(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1"):
        super().__init__((host, 0), _Handler)
        self.routes: dict = {}
        self.connections = 0
        self.requests: list[str] = []
        self.port = self.server_address[1]
        self.base = f"http://{host}:{self.port}"

    def verify_request(self, request, client_address):  # called once per accepted connection
        self.connections += 1
        return True


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.requests.append(self.path)
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        route(self)

    def log_message(self, *args):
        pass


def page(body: bytes, ctype: str = "text/html; charset=utf-8", headers: dict | None = None):
    def serve(h):
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    return serve


def redirect(location: str, status: int = 302):
    def serve(h):
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return serve


@contextlib.contextmanager
def running(host: str = "127.0.0.1"):
    server = Site(host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site():
    with running() as s:
        yield s


def private_ok(**kw) -> Settings:
    """Settings for the tests that must reach the local server."""
    return Settings(allow_private_urls=True, **kw)


def only_failure(items: list) -> LoadFailure:
    assert len(items) == 1 and isinstance(items[0], LoadFailure), items
    return items[0]


# --- the address check ---------------------------------------------------------------


@pytest.mark.parametrize("addr", [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "192.0.0.8", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "2002:7f00:1::1", "2002:a00:1::",  # 6to4 around loopback / 10/8
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",  # NAT64 around loopback / metadata
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::ffff:93.184.215.14",  # mapped, even around a public address: no resolver answers so
    "not an address",
])
def test_non_public_addresses_are_refused(addr):
    assert not is_public_address(addr)


@pytest.mark.parametrize("addr", ["93.184.215.14", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111",
                                  "2a00:1450:4001:80b::200e"])
def test_public_addresses_pass(addr):
    assert is_public_address(addr)


# --- SSRF spellings, against a real server ------------------------------------------------


def ssrf_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/secret",
        f"http://localhost:{port}/secret",
        f"http://LOCALHOST.:{port}/secret",
        f"http://2130706433:{port}/secret",  # decimal
        f"http://0x7f000001:{port}/secret",  # hex
        f"http://0x7f.0.0.1:{port}/secret",
        f"http://0177.0.0.1:{port}/secret",  # octal
        f"http://017700000001:{port}/secret",
        f"http://127.1:{port}/secret",  # short form
        f"http://127.0.1:{port}/secret",
        f"http://0:{port}/secret",
        f"http://0.0.0.0:{port}/secret",
        f"http://[::1]:{port}/secret",
        f"http://[::ffff:127.0.0.1]:{port}/secret",
        f"http://[::ffff:7f00:1]:{port}/secret",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/secret",
        f"https://127.0.0.1:{port}/secret",
        f"http://127.0.0.1:{port}@127.0.0.1:{port}/secret",  # credentials / confusion
        f"http://public.example@127.0.0.1:{port}/secret",
    ]


def test_every_ssrf_spelling_is_refused_before_any_connection(site):
    site.routes["/secret"] = page(SECRET)
    settings = Settings()  # the default: private addresses refused
    for url in ssrf_urls(site.port):
        fail = only_failure(list(load(url, settings)))
        assert fail.reason == FETCH_FAILED, (url, fail.reason)
        assert check_url(url, settings) == FETCH_FAILED, url
    assert site.connections == 0 and site.requests == []


def test_the_same_server_is_reached_when_private_addresses_are_allowed(site):
    """The refusals above are the address check, not a broken fetcher: allowed, the
    numeric spellings reach the very server they were refused for."""
    site.routes["/page"] = page(PAGE)
    settings = private_ok()
    for host in ("127.0.0.1", "2130706433", "0x7f000001", "127.1"):
        items = list(load(f"http://{host}:{site.port}/page", settings))
        assert len(items) == 1 and isinstance(items[0], Article), (host, items)
        assert "half an hour earlier" in items[0].text
    assert site.connections == 4


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://example.org/x", "gopher://127.0.0.1:70/_x", "dict://127.0.0.1:11211/",
    "javascript:alert(1)", "http://", "http:///nohost", "",
])
def test_only_http_and_https_urls_are_fetched(url):
    with pytest.raises(FetchError) as err:
        Fetcher(private_ok()).get(url)
    assert str(err.value) == FETCH_FAILED


# --- redirects ----------------------------------------------------------------------------------


def test_redirect_chain_to_loopback_is_refused_at_the_hop():
    """A site that may be fetched (127.0.0.2, allowed as one network) redirects, through a
    second hop, to a loopback service; the hop is checked like a first URL and refused."""
    with running("127.0.0.2") as front, running("127.0.0.1") as internal:
        internal.routes["/secret"] = page(SECRET)
        front.routes["/story"] = redirect("/moved")
        front.routes["/moved"] = redirect(f"http://2130706433:{internal.port}/secret", 301)
        settings = Settings(fetch_allowed_networks=["127.0.0.2/32"])
        fail = only_failure(list(load(front.base + "/story", settings)))
        assert fail.reason == FETCH_FAILED
        assert front.requests == ["/story", "/moved"]
        assert internal.connections == 0


def test_redirects_are_followed_up_to_the_limit(site):
    site.routes["/page"] = page(PAGE)
    for n in range(1, 7):
        site.routes[f"/r{n}"] = redirect(f"/r{n - 1}" if n > 1 else "/page")
    settings = private_ok(max_redirects=5)
    art = list(load(site.base + "/r5", settings))[0]
    assert isinstance(art, Article) and art.url == site.base + "/page"  # the address that answered
    fail = only_failure(list(load(site.base + "/r6", settings)))
    assert fail.reason == FETCH_FAILED
    assert "/page" not in site.requests[-6:]  # the sixth redirect was not followed


# --- DNS: checked once, connected to what was checked ----------------------------------------------


def test_the_checked_address_is_the_one_connected_to(site):
    """'news.invalid' has no real DNS answer: the fetch works only because the connection
    goes to the address the resolver gave the check, with no second lookup."""
    site.routes["/page"] = page(PAGE)
    calls = []

    def resolver(host, port):
        calls.append(host)
        return ["127.0.0.1"]

    got = Fetcher(private_ok(), resolver=resolver).get(f"http://news.invalid:{site.port}/page")
    assert b"half an hour earlier" in got.body
    assert calls == ["news.invalid"] and site.connections == 1


def test_a_public_name_that_resolves_to_loopback_is_refused(site):
    site.routes["/secret"] = page(SECRET)
    for answer in (["127.0.0.1"], ["93.184.215.14", "127.0.0.1"], ["::ffff:127.0.0.1"]):
        fetcher = Fetcher(Settings(), resolver=lambda host, port, a=answer: a)
        with pytest.raises(FetchError):
            fetcher.get(f"http://news.example.com:{site.port}/secret")
    assert site.connections == 0


# --- one message for every failure ------------------------------------------------------------------


def test_every_failure_reads_the_same(site):
    """No port-scan oracle: a refused address, a closed port, an HTTP error, a body over
    the cap and a timeout cannot be told apart from the message."""
    site.routes["/big"] = page(b"x" * 5000)
    site.routes["/hang"] = lambda h: time.sleep(3)
    reasons = {
        "private": only_failure(list(load(f"{site.base}/x", Settings()))).reason,
        "closed port": only_failure(list(load(f"http://127.0.0.1:{free_port()}/x", private_ok()))).reason,
        "404": only_failure(list(load(f"{site.base}/missing", private_ok()))).reason,
        "too big": only_failure(list(load(f"{site.base}/big", private_ok(max_fetch_bytes=1000)))).reason,
        "timeout": only_failure(list(load(f"{site.base}/hang", private_ok(fetch_timeout_s=0.5)))).reason,
    }
    assert set(reasons.values()) == {FETCH_FAILED}, reasons


# --- size and time ------------------------------------------------------------------------------------


def gzip_bomb(decoded_mb: int) -> bytes:
    """Gzip of ``decoded_mb`` MB of zeros, built a megabyte at a time (never held whole)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * 1_000_000
    out = [comp.compress(block) for _ in range(decoded_mb)]
    out.append(comp.flush())
    return b"".join(out)


def test_gzip_bomb_is_cut_at_the_cap_without_inflating_in_memory(site):
    bomb = gzip_bomb(150)
    assert len(bomb) < 200_000
    site.routes["/bomb"] = page(bomb, headers={"Content-Encoding": "gzip"})
    settings = private_ok()  # the default 20 MB decoded cap
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        fail = only_failure(list(load(site.base + "/bomb", settings)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert fail.reason == FETCH_FAILED
    assert peak - base < 50_000_000, f"peak grew {(peak - base) / 1e6:.0f} MB"


def test_gzip_and_deflate_pages_are_decoded(site):
    site.routes["/gz"] = page(gzip.compress(PAGE), headers={"Content-Encoding": "gzip"})
    site.routes["/zlib"] = page(zlib.compress(PAGE), headers={"Content-Encoding": "deflate"})
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    site.routes["/raw"] = page(raw.compress(PAGE) + raw.flush(), headers={"Content-Encoding": "deflate"})
    fetcher = Fetcher(private_ok())
    for path in ("/gz", "/zlib", "/raw"):
        assert fetcher.get(site.base + path).body == PAGE, path


def test_declared_and_streamed_lengths_over_the_cap_are_refused(site):
    def chunked(h):  # no Content-Length: the cap must hold while streaming
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.end_headers()
        for _ in range(50):
            h.wfile.write(b"y" * 10_000)

    site.routes["/declared"] = page(b"", headers={"Content-Length": str(10**12)})
    site.routes["/stream"] = chunked
    fetcher = Fetcher(private_ok(max_fetch_bytes=100_000))
    for path in ("/declared", "/stream"):
        with pytest.raises(FetchError) as err:
            fetcher.get(site.base + path)
        assert "cap" in err.value.detail, (path, err.value.detail)


def drip(head_first: bool):
    """A server that sends one byte every 0.2 s for a minute (in the body, or in the headers)."""
    def serve(h):
        try:
            if head_first:
                h.send_response(200)
                h.send_header("Content-Type", "text/html")
                h.end_headers()
                payload = b"<p>" + b"z" * 300
            else:
                payload = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nX-Slow: " + b"z" * 300
            for i in range(300):
                h.wfile.write(payload[i:i + 1])
                h.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the client hung up: that is the point
    return serve


@pytest.mark.parametrize("head_first", [True, False], ids=["body", "headers"])
def test_slow_drip_is_cut_at_the_overall_deadline(site, head_first):
    site.routes["/drip"] = drip(head_first)
    fetcher = Fetcher(private_ok(fetch_timeout_s=1.0))
    t0 = time.monotonic()
    with pytest.raises(FetchError) as err:
        fetcher.get(site.base + "/drip")
    took = time.monotonic() - t0
    assert "deadline" in err.value.detail, err.value.detail
    # the drip lasts 60 s and every single read is quick: only an overall deadline stops it
    assert took < 15, took


# --- the budget of one request ---------------------------------------------------------------------


def test_fetch_count_budget_is_shared_by_one_request(site):
    site.routes["/page"] = page(PAGE)
    fetcher = Fetcher(private_ok(max_fetches_per_request=2))
    fetcher.get(site.base + "/page")
    fetcher.get(site.base + "/page")
    with pytest.raises(Exception, match="QA_MAX_FETCHES_PER_REQUEST"):
        fetcher.get(site.base + "/page")
    assert len(site.requests) == 2


def test_time_budget_of_one_request(site):
    """A clock is passed in (a fault no real part shows fast): once the request's budget is
    spent, no further fetch starts."""
    site.routes["/page"] = page(PAGE)
    now = [1000.0]
    fetcher = Fetcher(private_ok(ingest_budget_s=60), clock=lambda: now[0])
    fetcher.get(site.base + "/page")
    now[0] += 61
    assert not fetcher.can_fetch()
    with pytest.raises(Exception, match="QA_INGEST_BUDGET_S"):
        fetcher.get(site.base + "/page")
    assert len(site.requests) == 1


def rss(base: str, n: int) -> str:
    items = "".join(
        f"<item><title>Story number {i}</title><link>{base}/s{i}</link>"
        f"<description>Summary of story number {i}, told in one plain sentence for the feed.</description></item>"
        for i in range(n)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Many Stories</title>{items}</channel></rss>'


def test_feed_fan_out_is_bounded(site):
    """A 100-entry feed made 101 fetches; now entries past QA_MAX_FEED_ENTRIES are not read
    and links past the request's fetch budget fall back to the entry summary."""
    site.routes["/feed"] = page(rss(site.base, 100).encode(), "application/rss+xml")
    for i in range(100):
        site.routes[f"/s{i}"] = page(PAGE.replace(b"Ferry timetable changes", b"Ferry story %d" % i))
    settings = private_ok(max_feed_entries=20, max_fetches_per_request=6)
    items = list(load(site.base + "/feed", settings))
    arts = [i for i in items if isinstance(i, Article)]
    fails = [i for i in items if isinstance(i, LoadFailure)]
    assert len(arts) == 20
    assert len(site.requests) == 6  # the feed and five entry pages
    assert sum("half an hour earlier" in a.text for a in arts) == 5
    assert sum(a.text.startswith("Summary of story") for a in arts) == 15
    assert len(fails) == 1 and "QA_MAX_FEED_ENTRIES" in fails[0].reason and "100" in fails[0].reason
