"""The web server's own defences: trusted hosts, same-origin writes, login throttling, temp pruning.

A chat bound to 127.0.0.1 is still reachable from any web page the user opens:
a page on ``evil.example`` whose name is re-pointed at 127.0.0.1 (DNS
rebinding) sends requests with ``Host: evil.example``, and a plain cross-site
form POST carries a foreign ``Origin``. So every request must name a host we
serve under (loopback names, ``QA_HOST``, ``QA_TRUSTED_HOSTS``), and every
state-changing request that carries an ``Origin`` must come from the page's
own origin. Login attempts are counted per client so a password cannot be
guessed at request speed. Uploads and Gradio's temp files are deleted after a
while and capped in total, so a stream of uploads cannot fill the disk.

All of it is plain ASGI so it wraps the Gradio app and the HTTP API alike and
never buffers a streamed response.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

from qa.settings import Settings

log = logging.getLogger("news-qa.web")

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_loopback(host: str) -> bool:
    """True when binding to ``host`` keeps the server reachable from this machine only."""
    host = (host or "").strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ip(name: str) -> ipaddress._BaseAddress | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def split_host(value: str) -> str:
    """The host name of a ``Host`` header or URL netloc, lowercased, without port or brackets."""
    value = (value or "").strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


class HostPolicy:
    """Which ``Host`` names the server answers to.

    Loopback names always; the bound address; every name in ``trusted_hosts``.
    When bound to a wildcard address, any IP literal is accepted as well: a
    rebinding attack needs a *name* the attacker controls, and a page served
    from an IP address is the same origin as the server it names.
    """

    def __init__(self, settings: Settings):
        names = {n.strip().lower().rstrip(".") for n in settings.trusted_hosts.split(",") if n.strip()}
        self.any = "*" in names
        bound = (settings.host or "").strip().lower()
        self.wildcard = bound in WILDCARD
        self.names = set(LOOPBACK_NAMES) | {split_host(n) for n in names if n != "*"}
        if not self.wildcard:
            self.names.add(split_host(bound))

    def allows(self, host: str) -> bool:
        if self.any:
            return True
        name = split_host(host)
        if not name:
            return False
        if name in self.names:
            return True
        ip = _ip(name)
        return ip is not None and (ip.is_loopback or self.wildcard)


def _header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or []:
        if k == name:
            return v.decode("latin-1")
    return None


async def _send_json(send, status: int, message: str, code: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": code}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class HostOriginGuard:
    """Refuse a foreign ``Host`` (421) and a cross-origin write (403) before any route runs."""

    def __init__(self, app, policy: HostPolicy):
        self.app = app
        self.policy = policy

    def refusal(self, scope) -> tuple[int, str, str] | None:
        host = _header(scope, b"host") or ""
        if not self.policy.allows(host):
            return 421, "This server does not answer to that host name (QA_TRUSTED_HOSTS).", "untrusted_host"
        if self.policy.any:
            return None
        method = scope.get("method", "GET")
        origin = _header(scope, b"origin")
        if scope["type"] == "websocket" or method not in SAFE_METHODS:
            if origin is not None:
                o = urlsplit(origin) if origin != "null" else None
                if o is None or not o.netloc or o.netloc.lower() != host.strip().lower() or not self.policy.allows(
                        o.netloc):
                    return 403, "Cross-origin request refused.", "cross_origin"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        refused = self.refusal(scope)
        if refused is None:
            return await self.app(scope, receive, send)
        status, message, code = refused
        client = (scope.get("client") or ("?",))[0]
        log.warning("refused %s %s from %s: %s (Host %r, Origin %r)", scope.get("method", "WS"), scope.get("path"),
                    client, code, _header(scope, b"host"), _header(scope, b"origin"))
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await _send_json(send, status, message, code)


class LoginThrottle:
    """After ``max_failures`` failed logins from one client within ``window_s``, answer 429 until it ages out.

    Gradio answers a wrong password on ``POST /login`` with 400; the status is
    read from the response as it passes, so Gradio's own check stays the one
    that decides.
    """

    def __init__(self, app, max_failures: int, window_s: float, clock=time.monotonic):
        self.app = app
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, client: str) -> deque:
        q = self._failures[client]
        cutoff = self.clock() - self.window_s
        while q and q[0] < cutoff:
            q.popleft()
        return q

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path", "").rstrip("/") != "/login":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?",))[0]
        with self._lock:
            locked = len(self._recent(client)) >= self.max_failures
        if locked:
            log.warning("login throttled for %s", client)
            await _send_json(send, 429, "Too many failed logins; try again later.", "rate_limited")
            return

        async def watch(message):
            if message["type"] == "http.response.start" and message["status"] in (400, 401, 403):
                with self._lock:
                    self._recent(client).append(self.clock())
            await send(message)

        await self.app(scope, receive, watch)


# --- temp and upload folders --------------------------------------------------------

def prune(folders: Iterable[Path], *, max_age_s: float, max_bytes: int, now: float | None = None,
          min_age_s: float = 60.0) -> list[Path]:
    """Delete files older than ``max_age_s``, then the oldest until the total fits ``max_bytes``.

    Files younger than ``min_age_s`` are never removed by the size cap: they
    may be an upload that is being indexed right now. Empty folders left
    behind are removed too. Returns the files deleted.
    """
    now = time.time() if now is None else now
    files: list[tuple[float, int, Path]] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, _dirs, names in os.walk(folder):
            for name in names:
                p = Path(root) / name
                try:
                    st = p.lstat()
                except OSError:
                    continue
                files.append((st.st_mtime, st.st_size, p))
    removed: list[Path] = []
    keep: list[tuple[float, int, Path]] = []
    for mtime, size, p in files:
        if now - mtime > max_age_s and _unlink(p):
            removed.append(p)
        else:
            keep.append((mtime, size, p))
    total = sum(size for _, size, _ in keep)
    for mtime, size, p in sorted(keep):
        if total <= max_bytes:
            break
        if now - mtime >= min_age_s and _unlink(p):
            removed.append(p)
            total -= size
    for folder in folders:
        _remove_empty_dirs(folder)
    return removed


def _unlink(p: Path) -> bool:
    try:
        p.unlink()
        return True
    except OSError:
        return False


def _remove_empty_dirs(folder: Path) -> None:
    if not folder.is_dir():
        return
    for root, dirs, files in os.walk(folder, topdown=False):
        if Path(root) != folder and not dirs and not files:
            try:
                os.rmdir(root)
            except OSError:
                pass


def temp_folders(settings: Settings) -> list[Path]:
    return [settings.data_dir / "gradio-tmp", settings.data_dir / "uploads"]


class Pruner:
    """A daemon thread that prunes the temp folders every ``temp_prune_interval_s``."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prune-temp", daemon=True)

    def start(self) -> "Pruner":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def once(self) -> list[Path]:
        s = self.settings
        removed = prune(temp_folders(s), max_age_s=s.temp_max_age_h * 3600, max_bytes=s.temp_max_mb * 1_000_000)
        if removed:
            log.info("pruned %d old upload/temp files", len(removed))
        return removed

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.once()
            except Exception:  # a failed pass is retried next interval; the log has why
                log.exception("pruning the temp folders failed")
            self._stop.wait(self.settings.temp_prune_interval_s)


# --- starting up ------------------------------------------------------------------------

class UnsafeStart(SystemExit):
    """The server would listen beyond loopback without a login."""


def check_exposure(settings: Settings, *, ui: bool) -> list[str]:
    """Refuse to serve an open chat beyond loopback; return warnings for what is allowed but risky.

    The chat (``ui``) needs ``QA_AUTH`` off loopback unless ``QA_ALLOW_OPEN=true``
    says the operator means it. The HTTP API needs ``QA_API_KEY`` off loopback:
    without one, its routes answer 401 (and the standalone API refuses to start).
    """
    if is_loopback(settings.host):
        return []
    warnings = []
    if ui and not settings.auth:
        if not settings.allow_open:
            raise UnsafeStart(
                f"Refusing to listen on {settings.host} without a login: anyone who reaches this address could "
                "use the chat and add articles. Set QA_AUTH=\"user:password\", or QA_ALLOW_OPEN=true if an open "
                "chat is really meant (e.g. behind your own authenticating proxy)."
            )
        warnings.append(f"!!! The chat listens on {settings.host} with NO LOGIN (QA_ALLOW_OPEN=true). Anyone "
                        "who can reach it can ask questions and add articles. !!!")
    if not settings.api_key:
        if not ui:
            raise UnsafeStart(f"Refusing to serve the HTTP API on {settings.host} without QA_API_KEY.")
        warnings.append(f"The HTTP API (/v1, /api) is off on {settings.host}: set QA_API_KEY to turn it on.")
    return warnings
