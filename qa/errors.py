"""Errors a user can act on; each message says what went wrong and where."""


class QAError(RuntimeError):
    """Base for errors shown to users without a traceback."""


class StoreUnavailable(QAError):
    """The Chroma server (or the local store) cannot be reached or opened."""


class IndexMismatch(QAError):
    """The index was built with another embedding model."""


class LLMUnavailable(QAError):
    """The configured LLM endpoint or local model cannot answer."""
