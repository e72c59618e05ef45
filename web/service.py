"""What the chat and the HTTP API share: one answerer, one limit on questions in flight.

Both faces call :func:`qa.stream`; the limit lives here so that eight API
clients and four chat users together never run more questions at once than
``QA_CHAT_CONCURRENCY`` allows (the local model answers one at a time behind
its own lock anyway; the limit bounds the memory and threads the rest takes).
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from qa.errors import QAError
from qa.answerers import Answerer, resolve
from qa.settings import Settings


log = logging.getLogger(__name__)


class Busy(Exception):
    """No answering slot came free within the wait allowed."""


class Slots:
    """A counting limit that also reports how many questions are being answered (for /api/stats)."""

    def __init__(self, size: int):
        self.size = size
        self._sem = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.served = 0

    @contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        if not self._sem.acquire(timeout=timeout if timeout is not None else -1):
            raise Busy(f"all {self.size} answering slots stayed busy for {timeout:.0f} s")
        with self._lock:
            self.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
                self.served += 1
            self._sem.release()


class Service:
    """The answerer (resolved once, its failure kept as a message) and the shared slots."""

    def __init__(self, settings: Settings, answerer: Answerer | None = None):
        """``answerer``: one made elsewhere (an app embedding the chat, a test's scripted model)
        instead of the one the settings resolve to."""
        self.settings = settings
        self.slots = Slots(settings.chat_concurrency)
        self.started = time.time()
        self._answerer: Answerer | None = answerer
        self._error = ""
        self._lock = threading.Lock()

    def answerer(self) -> Answerer | None:
        with self._lock:
            if self._answerer is None and not self._error:
                try:
                    self._answerer = resolve(self.settings)
                except QAError as exc:
                    self._error = str(exc)
            return self._answerer

    def start_warm_up(self) -> threading.Thread:
        """:meth:`warm_up` in a background thread, as both faces do when they start."""
        thread = threading.Thread(target=self.warm_up, name="warm-up", daemon=True)
        thread.start()
        return thread

    def warm_up(self) -> None:
        """Load the model and read the answerer's fixed prompt now, not inside the first question
        (a GGUF load plus ≈200 tokens of system prompt: several seconds on two cores). Run in the background
        at start; a question asked meanwhile waits for the model's lock, as it would for the load."""
        who = self.answerer()
        if who is None:
            return
        t0 = time.perf_counter()
        try:
            who.warm_up()
        except Exception as exc:  # the first question then reports the problem in its own words
            log.warning("Warming up the answerer failed: %s", exc)
            return
        log.info("Answerer ready: %s (%s), warmed up in %.1f s", who.name, who.model or "no model", time.perf_counter() - t0)

    @property
    def answerer_error(self) -> str:
        return self._error

    def require_answerer(self) -> Answerer:
        who = self.answerer()
        if who is None:
            raise QAError(self._error or "No answerer is available.")
        return who

