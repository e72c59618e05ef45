"""Which answerer runs, and the LangChain chat models behind the LLM ones.

``QA_LLM=auto`` picks openai when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is
set, else the embedded local model when it is installed, else extractive; the
choice is reported on every Answer so a silent fallback is visible.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from . import local_model
from .errors import LLMUnavailable
from .settings import Settings


@dataclass
class Answerer:
    name: str  # "openai" | "local" | "extractive"
    model: str
    chat: BaseChatModel | None = None
    endpoint: str = ""


def openai_configured() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def resolve(settings: Settings) -> Answerer:
    choice = settings.llm
    if choice == "auto":
        if openai_configured():
            choice = "openai"
        elif local_model.is_installed(settings.local_model):
            choice = "local"
        else:
            choice = "extractive"
    if choice == "openai":
        return _openai(settings)
    if choice == "local":
        spec = local_model.spec_for(settings.local_model)
        return Answerer("local", spec.display, LlamaCppChat(settings=settings, model_key=settings.local_model))
    return Answerer("extractive", "sentence-scorer (no LLM)")


def _openai(settings: Settings) -> Answerer:
    from langchain_openai import ChatOpenAI

    base_url = os.environ.get("OPENAI_BASE_URL") or None
    key = os.environ.get("OPENAI_API_KEY") or ("local" if base_url else None)
    if not key:
        raise LLMUnavailable("QA_LLM=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server).")
    chat = ChatOpenAI(
        model=settings.openai_model, base_url=base_url, api_key=key, temperature=0,
        timeout=settings.openai_timeout_s, max_retries=settings.openai_max_retries,
        max_completion_tokens=settings.max_answer_tokens,
    )
    return Answerer("openai", settings.openai_model, chat, base_url or "https://api.openai.com/v1")


class LlamaCppChat(BaseChatModel):
    """A minimal LangChain chat model over an in-process llama.cpp model (streams tokens)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    settings: Any
    model_key: str

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    def _loaded(self):
        s = self.settings
        return local_model.load(self.model_key, s.model_cache_dir, n_ctx=s.local_ctx, threads=s.local_threads)

    def _messages(self, messages: list[BaseMessage]) -> list[dict]:
        roles = {"human": "user", "ai": "assistant", "system": "system"}
        return [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _stream(self, messages, stop=None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs) -> Iterator[ChatGenerationChunk]:
        model = self._loaded()
        with model.lock:
            for part in model.llama.create_chat_completion(
                messages=self._messages(messages), temperature=0.0, top_k=1, repeat_penalty=1.1,
                max_tokens=kwargs.get("max_tokens", self.settings.max_answer_tokens), stop=stop, stream=True,
            ):
                delta = part["choices"][0].get("delta", {}).get("content") or ""
                if delta:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                    if run_manager:
                        run_manager.on_llm_new_token(delta, chunk=chunk)
                    yield chunk

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
