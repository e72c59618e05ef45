"""The LangChain chat models behind the LLM answerers (see :mod:`qa.answerers` for who answers).

``LlamaCppChat`` runs the embedded GGUF model in-process and passes llama.cpp's
``response_format`` (a JSON schema turned into a grammar) through, so the local
reader cannot reply in any other shape. ``openai_chat`` builds ``ChatOpenAI`` for
any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import os
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from . import local_model
from .errors import LLMUnavailable
from .settings import Settings


def openai_chat(settings: Settings):
    """(ChatOpenAI, base URL) for OPENAI_API_KEY / OPENAI_BASE_URL."""
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
    return chat, base_url or "https://api.openai.com/v1"


class LlamaCppChat(BaseChatModel):
    """A minimal LangChain chat model over an in-process llama.cpp model (streams tokens)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    settings: Any
    model_key: str

    @property
    def _llm_type(self) -> str:
        return "llama-cpp-local"

    def _loaded(self):
        return local_model.load_for(self.settings, self.model_key)

    def _messages(self, messages: list[BaseMessage]) -> list[dict]:
        roles = {"human": "user", "ai": "assistant", "system": "system"}
        return [{"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _stream(self, messages, stop=None, run_manager: CallbackManagerForLLMRun | None = None, **kwargs) -> Iterator[ChatGenerationChunk]:
        model = self._loaded()
        with model.lock:
            for delta in self._deltas(model, messages, stop, kwargs):
                if delta:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=delta))
                    if run_manager:
                        run_manager.on_llm_new_token(delta, chunk=chunk)
                    yield chunk

    def _deltas(self, model, messages, stop, kwargs) -> Iterator[str]:
        sampling = {"temperature": 0.0, "top_k": 1, "repeat_penalty": kwargs.get("repeat_penalty", 1.1),
                    "max_tokens": kwargs.get("max_tokens", self.settings.max_answer_tokens), "stop": stop, "stream": True}
        chat = self._messages(messages)
        if chat and chat[0]["role"] == "system":
            model.prime(chat[:1], self.settings.model_cache_dir / "prefix-states")
        response_format = kwargs.get("response_format")
        split = _forced_opening(response_format) if response_format else None
        prompt = model.chat_prompt(chat) if split else None
        if prompt is None:
            extra = {"response_format": response_format} if response_format else {}
            for part in model.llama.create_chat_completion(messages=chat, **sampling, **extra):
                yield part["choices"][0].get("delta", {}).get("content") or ""
            return
        # The reply's opening is fixed by the schema ('{"answer":'): written into the prompt instead
        # of generated, it costs no decoding steps (three tokens, ≈0.3 s on two cores, before the
        # first word of the answer can show), and the grammar constrains only the rest.
        from llama_cpp.llama_grammar import LlamaGrammar

        opening, rest = split
        llama = model.llama
        tokens = llama.tokenize(prompt.encode(), add_bos=False, special=True) + llama.tokenize(opening.encode(), add_bos=False)
        yield opening
        for part in llama.create_completion(prompt=tokens, grammar=LlamaGrammar.from_string(rest, verbose=False), **sampling):
            yield part["choices"][0].get("text") or ""

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop=stop, run_manager=run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


def _forced_opening(response_format: dict) -> tuple[str, str] | None:
    """(opening, grammar of the rest) for a JSON schema whose first property is required: every reply
    under its grammar starts ``{"<name>":``. None where the schema is not of that shape.

    The opening stops before the value: the model writes ``"$`` as one token, so an opening that
    fixed ``"`` would push it off its own spelling (it then wrote "6 billion" for "$6 billion").
    """
    import json
    import re

    schema = response_format.get("schema") if response_format.get("type") == "json_object" else None
    props = list((schema or {}).get("properties", {}))
    if not props or (schema.get("required") or [None])[0] != props[0]:
        return None
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    name = props[0]
    gbnf = json_schema_to_gbnf(json.dumps(schema))
    root = re.search(rf'^root ::= "\{{" space {re.escape(name)}-kv (.*)$', gbnf, re.M)
    kv = re.search(rf'^{re.escape(name)}-kv ::= "\\"{re.escape(name)}\\"" space ":" (.*)$', gbnf, re.M)
    if not root or not kv:
        return None
    gbnf = gbnf.replace(root.group(0), f"root ::= {kv.group(1)} {root.group(1)}").replace(kv.group(0) + "\n", "")
    return '{"' + name + '":', gbnf


def __getattr__(name):
    # qa.llm.resolve / qa.llm.Answerer were here before the registry moved to qa.answerers
    if name in ("resolve", "Answerer", "openai_configured"):
        from . import answerers

        return getattr(answerers, name)
    raise AttributeError(name)
