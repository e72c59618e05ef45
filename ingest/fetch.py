"""The one way ingest talks to the network: a fetcher that cannot be turned on the host.

Anyone who can reach the chat, or who writes a feed it reads, chooses the URLs
fetched here, so every request goes through :class:`Fetcher`, which

* accepts only ``http``/``https`` URLs without credentials;
* resolves the host itself and refuses it when any address is not globally
  routable (loopback, private, link-local, carrier-grade NAT, multicast,
  reserved, unspecified, and the same hidden inside IPv4-mapped, 6to4, Teredo
  or NAT64 IPv6). Numeric spellings such as ``2130706433``, ``0x7f000001`` or
  ``127.1`` go through the same resolver, so they are judged by the address
  they mean, not by how they are written;
* connects to exactly the address it checked (a pinned httpcore network
  backend), so a DNS answer that changes between check and connect cannot
  slip in a private address;
* follows at most ``max_redirects`` redirects itself, checking every hop as
  if it were the first URL;
* streams the body, decompressing gzip/deflate with a bound on the decoded
  size, and stops at an overall deadline that covers DNS, connect, headers
  and every read (a per-read timeout lets a server drip one byte at a time
  for ever);
* answers every failure with the same message, :data:`FETCH_FAILED`, so the
  chat cannot be used to tell a closed port from a filtered one, an internal
  address from a 404, or a timeout from a refusal. The precise cause goes to
  the log at INFO for whoever runs the server.

httpx has no hook to pin the connected address or bound decompression, so the
request itself is sent with httpcore (httpx's own transport layer) through a
small network backend; URL parsing and joining are httpx's.

A fetcher also carries the budget of one ingest request (one ``ingest.add``
call, one click in the chat): at most ``max_fetches_per_request`` fetches and
``ingest_budget_s`` seconds, so a feed with many slow entries cannot hold the
ingest lock that other people's uploads wait for.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable

import httpcore
import httpx

from qa.settings import Settings, get_settings

log = logging.getLogger(__name__)

FETCH_FAILED = "cannot fetch the URL (unreachable, refused, too large, too slow, or not a public web address)"
USER_AGENT = "news-qa/0.1 (+offline-first news QA)"
_REDIRECTS = {301, 302, 303, 307, 308}
_CHUNK = 64 * 1024

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# IANA special-purpose blocks, named here as well as asked of ``ipaddress``: its tables differ
# between Python patch releases (3.11.7 calls 192.0.0.8 global)
_SPECIAL = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::/96", "::ffff:0:0/96", "100::/64", "2001::/23", "2001:db8::/32",
    "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)]


class FetchError(Exception):
    """A fetch that did not produce a body. ``str()`` is always :data:`FETCH_FAILED`;
    ``detail`` says what really happened, for the log only."""

    def __init__(self, detail: str):
        super().__init__(FETCH_FAILED)
        self.detail = detail


class BudgetExceeded(Exception):
    """This ingest request used up its fetches or its time. Our own limit, not the
    target's behaviour, so the message may be specific."""


@dataclass
class Fetched:
    body: bytes  # decoded (decompressed) body
    content_type: str
    url: str  # the URL that answered, after redirects


# --- which addresses may be reached ------------------------------------------------


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), if any:
    ``::ffff:127.0.0.1`` reaches loopback on a dual-stack host, so it must be judged as 127.0.0.1."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: Address | str) -> bool:
    """True only for a globally routable unicast address (and whatever IPv4 it embeds).

    ``is_global`` alone is not enough: the stdlib counts multicast as global.
    """
    try:
        ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    except ValueError:
        return False
    for addr in (ip, embedded_ipv4(ip)):
        if addr is None:
            continue
        if (not addr.is_global or addr.is_multicast or addr.is_private or addr.is_loopback
                or addr.is_link_local or addr.is_reserved or addr.is_unspecified):
            return False
        if any(addr in net for net in _SPECIAL if net.version == addr.version):
            return False
    return True


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (numeric spellings included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0].split("%", 1)[0] for info in infos))


# --- the fetcher -------------------------------------------------------------------


class Fetcher:
    """Fetch public web pages for one ingest request; see the module docstring.

    ``resolver`` (host, port -> addresses) is the system's unless a test needs to
    inject a DNS answer a real resolver cannot give; ``clock`` is ``time.monotonic``.
    """

    def __init__(self, settings: Settings | None = None, *, resolver: Resolver | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings or get_settings()
        self._resolver = resolver or system_resolver
        self._clock = clock
        self._allowed_networks = [ipaddress.ip_network(n, strict=False)
                                  for n in self.settings.fetch_allowed_networks]
        self.deadline = clock() + self.settings.ingest_budget_s
        self.fetches_left = self.settings.max_fetches_per_request
        self._ssl_context = None  # made on the first fetch: loading the CA bundle costs ~75 ms

    @property
    def _ssl(self):
        if self._ssl_context is None:
            self._ssl_context = httpx.create_ssl_context()
        return self._ssl_context

    # -- budget --

    def remaining_s(self) -> float:
        return self.deadline - self._clock()

    def can_fetch(self) -> bool:
        """Whether this request may still fetch (used by feeds to fall back to summaries)."""
        return self.fetches_left > 0 and self.remaining_s() > 0

    def _take(self) -> float:
        """Spend one fetch; returns this fetch's own deadline."""
        if self.fetches_left <= 0:
            raise BudgetExceeded(
                f"this request already made {self.settings.max_fetches_per_request} fetches, "
                "the limit (QA_MAX_FETCHES_PER_REQUEST)")
        if self.remaining_s() <= 0:
            raise BudgetExceeded(
                f"this request used its {self.settings.ingest_budget_s:.0f} s time budget (QA_INGEST_BUDGET_S)")
        self.fetches_left -= 1
        return min(self.deadline, self._clock() + self.settings.fetch_timeout_s)

    # -- checks --

    def address_allowed(self, ip: Address) -> bool:
        if self.settings.allow_private_urls or is_public_address(ip):
            return True
        return any(ip in net for net in self._allowed_networks if net.version == ip.version)

    def parse(self, url: str) -> httpx.URL:
        """The URL, if its form may be fetched at all (scheme, host, no credentials)."""
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise FetchError(f"not a valid URL: {exc}") from exc
        if parsed.scheme not in ("http", "https"):
            raise FetchError(f"scheme {parsed.scheme!r} is not http or https")
        if not parsed.host:
            raise FetchError("URL has no host")
        if parsed.userinfo:
            raise FetchError("URL carries credentials")
        return parsed

    def resolve(self, url: httpx.URL, deadline: float) -> list[str]:
        """The host's addresses, all of them checked; refused if any one is not allowed
        (a name with one public and one private answer is a rebinding trick)."""
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = _with_deadline(lambda: self._resolver(host, port), deadline - self._clock())
        if not addresses:
            raise FetchError(f"{host} has no address")
        for addr in addresses:
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError as exc:
                raise FetchError(f"{host} resolved to {addr!r}, not an address") from exc
            if not self.address_allowed(ip):
                raise FetchError(f"{host} resolves to {ip}, which is not a public address "
                                 "(QA_ALLOW_PRIVATE_URLS / QA_FETCH_ALLOWED_NETWORKS allow it)")
        return addresses

    def check(self, url: str) -> None:
        """Refuse, with :class:`FetchError`, a URL that would be refused before connecting.
        Resolves the host but does not connect; spends no budget."""
        parsed = self.parse(url)
        self.resolve(parsed, self._clock() + self.settings.fetch_timeout_s)

    # -- fetching --

    def get(self, url: str, *, max_bytes: int | None = None) -> Fetched:
        """GET a public URL. Raises FetchError (generic message) or BudgetExceeded."""
        deadline = self._take()
        cap = max_bytes or self.settings.max_fetch_bytes
        current = url
        try:
            for hop in range(self.settings.max_redirects + 1):
                parsed = self.parse(current)
                addresses = self.resolve(parsed, deadline)
                status, headers, body = self._request(parsed, addresses, deadline, cap)
                if status in _REDIRECTS and headers.get("location"):
                    nxt = parsed.join(headers["location"])
                    log.info("fetch %s: redirect %d to %s", current, status, nxt)
                    current = str(nxt)
                    continue
                if status >= 300:
                    raise FetchError(f"HTTP {status}")
                return Fetched(body, headers.get("content-type", ""), str(parsed))
            raise FetchError(f"more than {self.settings.max_redirects} redirects")
        except FetchError as exc:
            log.info("fetch %s refused or failed: %s", url if current == url else f"{url} (at {current})", exc.detail)
            raise

    def _request(self, url: httpx.URL, addresses: list[str], deadline: float,
                 cap: int) -> tuple[int, dict[str, str], bytes]:
        backend = _PinnedBackend(addresses, deadline, self._clock)
        headers = [(b"Host", url.netloc), (b"User-Agent", USER_AGENT.encode()),
                   (b"Accept-Encoding", b"gzip, deflate"), (b"Accept", b"*/*"), (b"Connection", b"close")]
        timeout = max(0.001, deadline - self._clock())
        ext = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
        try:
            with httpcore.ConnectionPool(ssl_context=self._ssl, network_backend=backend, retries=0,
                                         max_connections=1) as pool:
                target = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                                      target=url.raw_path)
                with pool.stream("GET", target, headers=headers, extensions=ext) as resp:
                    hdrs = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in resp.headers}
                    if resp.status in _REDIRECTS or resp.status >= 300:
                        return resp.status, hdrs, b""
                    return resp.status, hdrs, _read_body(resp.iter_stream(), hdrs, cap)
        except FetchError:
            raise
        except (httpcore.TimeoutException, _Deadline) as exc:
            raise FetchError(f"deadline passed: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - network, TLS, protocol or parser: to the caller all read alike
            raise FetchError(f"{type(exc).__name__}: {exc}") from exc


def check_url(url: str, settings: Settings | None = None, *, resolver: Resolver | None = None) -> str | None:
    """None when ``url`` may be fetched, else the generic refusal (for the web layer's URL box).

    It resolves the host but never connects; the fetch itself checks again, hop by hop.
    """
    try:
        Fetcher(settings, resolver=resolver).check(url)
    except FetchError as exc:
        log.info("URL %s refused: %s", url, exc.detail)
        return str(exc)
    return None


# --- body ----------------------------------------------------------------------------


def _decoder(encoding: str):
    """A zlib decompressor for the one content coding we asked for, or None for identity."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip() and c.strip().lower() != "identity"]
    if not codings:
        return None
    if len(codings) > 1 or codings[0] not in ("gzip", "x-gzip", "deflate"):
        raise FetchError(f"unsupported content encoding {encoding!r}")
    if codings[0] == "deflate":
        return _Deflate()
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


class _Deflate:
    """'deflate' is zlib-wrapped by the standard and raw by some servers; try both."""

    def __init__(self):
        self._d = None
        self.unconsumed_tail = b""

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._d is None:
            self._d = zlib.decompressobj()
            try:
                out = self._d.decompress(data, max_length)
            except zlib.error:
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
                out = self._d.decompress(data, max_length)
        else:
            out = self._d.decompress(data, max_length)
        self.unconsumed_tail = self._d.unconsumed_tail
        return out


def _read_body(chunks: Iterable[bytes], headers: dict[str, str], cap: int) -> bytes:
    """The decoded body, refused as soon as it (or the declared length) passes ``cap``.

    Decompression is asked for at most the room left, a megabyte at a time, so a gzip bomb
    never expands past the cap in memory, however small the compressed chunk that carries it.
    """
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(f"declared length {declared} over the {cap} byte cap")
    decoder = _decoder(headers.get("content-encoding", ""))
    out = bytearray()
    raw = 0
    for chunk in chunks:
        raw += len(chunk)
        if raw > cap:
            raise FetchError(f"body over the {cap} byte cap")
        if decoder is None:
            out += chunk
        else:
            data = chunk
            while data:
                try:
                    piece = decoder.decompress(data, min(cap - len(out) + 1, _CHUNK * 16))
                except zlib.error as exc:
                    raise FetchError(f"corrupt compressed body: {exc}") from exc
                out += piece
                if len(out) > cap:
                    raise FetchError(f"decoded body over the {cap} byte cap")
                data = decoder.unconsumed_tail
                if not piece and data:
                    break
        if len(out) > cap:
            raise FetchError(f"body over the {cap} byte cap")
    return bytes(out)


# --- connecting to the checked address only, within the deadline ----------------------


class _Deadline(Exception):
    pass


def _with_deadline(fn, seconds: float):
    """Run a blocking call (the resolver has no timeout of its own) for at most ``seconds``.

    On timeout the worker thread is left to finish on its own; it holds nothing.
    """
    if seconds <= 0:
        raise FetchError("deadline passed before name resolution")
    result: dict = {}

    def work():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=work, name="fetch-resolve", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise FetchError(f"name resolution took over {seconds:.1f} s")
    if "error" in result:
        exc = result["error"]
        raise FetchError(f"name resolution failed: {exc}") from exc
    return result["value"]


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to the addresses that were checked, whatever host httpcore asks for,
    and hands out streams that never wait past the deadline."""

    def __init__(self, addresses: list[str], deadline: float, clock: Callable[[], float]):
        self._inner = httpcore.SyncBackend()
        self._addresses = addresses
        self._deadline = deadline
        self._clock = clock

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        last: Exception | None = None
        for addr in self._addresses:  # host is ignored on purpose: no second lookup
            left = _left(self._deadline, self._clock, timeout)
            try:
                stream = self._inner.connect_tcp(addr, port, timeout=left, local_address=local_address,
                                                 socket_options=socket_options)
                return _DeadlineStream(stream, self._deadline, self._clock)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError("no address")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _left(deadline: float, clock: Callable[[], float], timeout: float | None) -> float:
    left = deadline - clock()
    if left <= 0:
        raise _Deadline("overall deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float, clock: Callable[[], float]):
        self._inner = inner
        self._deadline = deadline
        self._clock = clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(self._deadline, self._clock, timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(self._deadline, self._clock, timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        inner = self._inner.start_tls(ssl_context, server_hostname, _left(self._deadline, self._clock, timeout))
        return _DeadlineStream(inner, self._deadline, self._clock)

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)
