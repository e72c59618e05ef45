"""Question answering over indexed news articles, with checked, numbered citations.

    from qa import ask
    answer = ask("Who leads the Chinese delegation?")
    print(answer.text, answer.citations)
"""

from .answer import ask, stream
from .errors import IndexMismatch, LLMUnavailable, QAError, StoreUnavailable
from .types import Answer, Citation, Evidence, Passage, Token

__all__ = [
    "Answer", "Citation", "Evidence", "IndexMismatch", "LLMUnavailable", "Passage", "QAError",
    "StoreUnavailable", "Token", "ask", "stream",
]
