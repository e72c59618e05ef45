"""The plain LangChain recipe, as the floor our pipeline must beat.

RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) over each
article's text, the same embedding model (our ``OnnxSentenceEmbeddings`` is a
LangChain ``Embeddings``), ``langchain_chroma.Chroma`` and ``similarity_search``
top 4, then the same LLM with the classic RAG prompt (LangChain's tutorial
prompt, ``rlm/rag-prompt``). No dates, no BM25, no citation check.
"""

from __future__ import annotations

import time

from qa.citations import is_refusal

from .cache import CachedEmbeddings
from .data import Question
from .systems import RETRIEVE_K

PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to "
    "answer the question. If you don't know the answer, just say that you don't know. Use three sentences "
    "maximum and keep the answer concise.\nQuestion: {question} \nContext: {context} \nAnswer:"
)
CHUNK_SIZE, CHUNK_OVERLAP, TOP_K = 1000, 200, 4
ADD_BATCH = 2000


def baseline_chunks(records: list[dict]):
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = [
        Document(
            page_content=str(r.get("text") or ""),
            metadata={"url": str(r.get("url") or ""), "title": str(r.get("title") or ""),
                      "source": str(r.get("source") or ""), "published": str(r.get("published") or "")},
        )
        for r in records
        if str(r.get("text") or "").strip()
    ]
    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    return splitter.split_documents(docs)


class BaselineSystem:
    name = "baseline"

    def __init__(self, settings, *, emb: CachedEmbeddings):
        self.settings = settings
        self.emb = emb
        self.k = TOP_K
        self.store = None
        self._answerer = None

    def build(self, records: list[dict], where: str, advance) -> dict:
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma

        path = self.settings.data_dir / "baseline-chroma"
        path.mkdir(parents=True, exist_ok=True)
        client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
        self.store = Chroma(client=client, collection_name="baseline", embedding_function=self.emb)
        t0 = time.perf_counter()
        chunks = baseline_chunks(records)
        have = self.store._collection.count()
        if have != len(chunks):  # a reused --data-dir with the same corpus is not re-added
            if have:
                client.delete_collection("baseline")
                self.store = Chroma(client=client, collection_name="baseline", embedding_function=self.emb)
            # advance the progress bar by articles, roughly in step with the chunks written
            per = len(records) / max(1, len(chunks))
            done = 0.0
            for i in range(0, len(chunks), ADD_BATCH):
                part = chunks[i : i + ADD_BATCH]
                self.store.add_documents(part, ids=[f"c{i + j}" for j in range(len(part))])
                done += per * len(part)
                advance(int(done))
                done -= int(done)
        ingest_s = time.perf_counter() - t0
        return {"articles": len(records), "articles_failed": 0, "chunks": self.store._collection.count(),
                "chunks_added": len(chunks) if have != len(chunks) else 0, "ingest_s": ingest_s, "bm25_build_s": 0.0}

    def sample_texts(self, n: int) -> list[str]:
        res = self.store._collection.get(limit=n, include=["documents"])
        return list(res["documents"] or [])

    def retrieve(self, q: Question) -> tuple[list[str], float]:
        t0 = time.perf_counter()
        docs = self.store.similarity_search(q.question, k=RETRIEVE_K)
        return [d.metadata.get("url", "") for d in docs], time.perf_counter() - t0

    @property
    def answerer(self):
        if self._answerer is None:
            from qa.answerers import resolve

            self._answerer = resolve(self.settings)
        return self._answerer

    def warm_up(self) -> None:
        self.answerer.warm_up()

    def answer(self, q: Question) -> dict:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        from qa import extractive
        from qa.types import Passage

        t0 = time.perf_counter()
        docs = self.store.similarity_search(q.question, k=TOP_K)
        first = None
        chat = getattr(self.answerer, "chat", None)  # the recipe's LLM: the same chat model ours would use
        if chat is None:
            passages = [
                Passage(chunk_id=str(i), article_id=d.metadata.get("url", ""), title=d.metadata.get("title", ""),
                        url=d.metadata.get("url", ""), text=d.page_content)
                for i, d in enumerate(docs)
            ]
            raw = extractive.answer(q.question, passages, self.emb.embed, self.settings.refuse_threshold,
                                   rank_weight=self.settings.evidence_rank_weight)
            first = time.perf_counter() - t0
        else:
            chain = ChatPromptTemplate.from_template(PROMPT) | chat | StrOutputParser()
            parts = []
            for piece in chain.stream({"question": q.question, "context": "\n\n".join(d.page_content for d in docs)}):
                if piece and first is None:
                    first = time.perf_counter() - t0
                parts.append(piece)
            raw = "".join(parts).strip()
        total = time.perf_counter() - t0
        return {
            "text": raw, "raw_text": raw, "refused": (not raw) or is_refusal(raw),
            "answerer": self.answerer.name, "model": self.answerer.model, "citations": [],
            "total_markers": 0, "invalid_markers": 0, "cited_sentences": 0, "flagged_sentences": 0,
            "answer_s": total, "first_token_s": first or total,
            "passage_urls": [d.metadata.get("url", "") for d in docs],
        }

    def remove(self, urls: list[str]) -> int:
        col = self.store._collection
        n = 0
        for i in range(0, len(urls), 200):
            ids = col.get(where={"url": {"$in": urls[i : i + 200]}}, include=[])["ids"]
            if ids:
                col.delete(ids=ids)
                n += len(ids)
        return n

    def close(self) -> None:
        self.store = None
