"""Tests for unembed.embedders: real models, a real local HTTP server, no stand-ins."""
from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from unembed.embedders import (
    PROBE_SENTENCE,
    CallableEmbedder,
    Embedder,
    HFEmbedder,
    HTTPEmbedder,
    SentenceTransformerEmbedder,
    check_fingerprint,
    known_embedders,
    load_embedder,
    minilm_path,
)
from unembed.errors import EmbedderError, InputError

TEXTS = ["A cat sat on the mat.", "Stock markets fell sharply on Monday.", "Café Zürich opens at nine."]


# --------------------------------------------------------------------------------------------------
# MiniLM
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return load_embedder("minilm", device="cpu")


def test_minilm_embeds_unit_vectors(minilm: Embedder) -> None:
    assert minilm.name == "minilm"
    assert (minilm.dim, minilm.pooling, minilm.normalize, minilm.cased) == (384, "mean", True, False)
    minilm.reset_counters()
    out = minilm.embed(TEXTS)
    assert out.shape == (3, 384) and out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    minilm.embed(TEXTS[:1], batch_size=1)
    assert (minilm.calls, minilm.texts_embedded) == (2, 4)
    assert minilm.embed([]).shape == (0, 384)
    assert (minilm.calls, minilm.texts_embedded) == (3, 4)
    minilm.reset_counters()
    assert (minilm.calls, minilm.texts_embedded) == (0, 0)


def test_minilm_batches_agree_and_normalize_text(minilm: Embedder) -> None:
    together = minilm.embed(TEXTS)
    one_by_one = minilm.embed(TEXTS, batch_size=1)
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert minilm.normalize_text("Café Zürich") == "cafe zurich"
    # Uncased: the embedding does not change when the text is normalised first.
    np.testing.assert_allclose(minilm.embed(["Café Zürich"]), minilm.embed(["cafe zurich"]), atol=1e-5)


def test_minilm_aliases_share_the_loaded_model(minilm: Embedder) -> None:
    assert known_embedders()[0] == "minilm"
    for alias in known_embedders():
        other = load_embedder(alias, device="cpu")
        assert isinstance(other, SentenceTransformerEmbedder)
        assert other.model is minilm.model  # cached per process
        assert other.calls == 0
    assert load_embedder(minilm) is minilm


def test_fingerprint_and_check(minilm: Embedder) -> None:
    fp = minilm.fingerprint()
    assert fp["name"] == "minilm" and fp["dim"] == 384 and fp["probe_sentence"] == PROBE_SENTENCE
    assert len(fp["probe"]) == 384 and fp["normalize"] is True and fp["cased"] is False
    assert json.loads(json.dumps(fp)) == fp
    np.testing.assert_allclose(fp["probe"], minilm.embed([PROBE_SENTENCE])[0], atol=1e-6)

    minilm.reset_counters()
    check_fingerprint(fp, minilm)
    check_fingerprint(fp, load_embedder(str(minilm_path()), device="cpu"))
    assert minilm.calls == 0 and minilm.texts_embedded == 0

    other_dim = load_embedder(lambda texts: np.ones((len(texts), 768)), name="callable:wide")
    with pytest.raises(EmbedderError, match=r"trained for minilm \(dim 384\) but the embedder is callable:wide \(dim 768\)"):
        check_fingerprint(fp, other_dim)

    rng = np.random.default_rng(0)
    same_dim = CallableEmbedder(lambda texts: rng.standard_normal((len(texts), 384)), name="random")
    with pytest.raises(EmbedderError, match=r"trained for minilm, but the embedder random gives different vectors \(probe cosine -?0\.\d\d\)"):
        check_fingerprint(fp, same_dim)
    assert same_dim.calls == 0

    with pytest.raises(EmbedderError, match="fingerprint is incomplete"):
        check_fingerprint({"name": "minilm"}, minilm)


def test_sentence_transformers_folder_by_path(minilm: Embedder) -> None:
    folder = load_embedder(minilm_path(), device="cpu")
    assert isinstance(folder, SentenceTransformerEmbedder)
    assert (folder.dim, folder.pooling, folder.normalize, folder.cased) == (384, "mean", True, False)
    np.testing.assert_allclose(folder.embed(TEXTS), minilm.embed(TEXTS), atol=1e-6)


def test_sentence_transformers_copy_gets_path_name(tmp_path: Path, minilm: Embedder) -> None:
    copy = tmp_path / "my-st"
    shutil.copytree(minilm_path(), copy)
    emb = load_embedder(str(copy), device="cpu")
    assert emb.name == f"st:{copy.resolve()}"
    check_fingerprint(minilm.fingerprint(), emb)
    again = load_embedder(emb.name, device="cpu")  # the name is itself a valid spec
    assert again.model is emb.model


# --------------------------------------------------------------------------------------------------
# Bad inputs
# --------------------------------------------------------------------------------------------------


def test_bad_inputs(minilm: Embedder, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"not a single string: pass \[text\]"):
        minilm.embed("hello")
    with pytest.raises(InputError, match="text 1 is int"):
        minilm.embed(["a", 3])
    with pytest.raises(InputError, match="batch_size"):
        minilm.embed(["a"], batch_size=0)
    with pytest.raises(EmbedderError, match=r"unknown embedder 'gpt-17': .*minilm.*sentence-transformers folder.*http"):
        load_embedder("gpt-17")
    with pytest.raises(EmbedderError, match=r"unknown embedder .*nowhere.*no such folder"):
        load_embedder(str(tmp_path / "nowhere"))
    with pytest.raises(EmbedderError, match="unknown embedder 42"):
        load_embedder(42)
    with pytest.raises(EmbedderError, match="not a model folder"):
        load_embedder(str(tmp_path))
    with pytest.raises(EmbedderError, match="pooling do not apply to minilm"):
        load_embedder("minilm", pooling="cls")
    with pytest.raises(EmbedderError, match=r"names no model: add \?model=NAME"):
        load_embedder("http://127.0.0.1:9/v1")


def test_messages_are_one_line(tmp_path: Path) -> None:
    for spec in ("gpt-17", str(tmp_path / "nowhere"), str(tmp_path)):
        with pytest.raises(EmbedderError) as info:
            load_embedder(spec)
        assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------
# Hugging Face folder (a tiny random BERT with the MiniLM tokenizer)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).eval().save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def test_hf_folder_needs_pooling_stated(tiny_bert: Path) -> None:
    with pytest.raises(EmbedderError, match=r"does not state pooling and normalize: pass pooling='mean'\|'cls'\|'pooler'.*unembed_embedder.json"):
        load_embedder(str(tiny_bert))
    with pytest.raises(EmbedderError, match="does not state normalize"):
        load_embedder(str(tiny_bert), pooling="mean")
    with pytest.raises(EmbedderError, match="unknown pooling 'max'"):
        load_embedder(str(tiny_bert), pooling="max", normalize=True)


@pytest.mark.parametrize("pooling", ["mean", "cls", "pooler"])
def test_hf_folder_poolings(tiny_bert: Path, pooling: str) -> None:
    normed = load_embedder(str(tiny_bert), pooling=pooling, normalize=True, device="cpu")
    raw = load_embedder(str(tiny_bert), pooling=pooling, normalize=False, device="cpu")
    assert isinstance(normed, HFEmbedder) and normed.pooling == pooling and normed.dim == 32
    a, b = normed.embed(TEXTS), raw.embed(TEXTS)
    assert a.shape == b.shape == (3, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(a, b / np.linalg.norm(b, axis=1, keepdims=True), atol=1e-5)
    assert raw.normalize is False and normed.normalize is True


def test_hf_mean_pooling_ignores_padding(tiny_bert: Path) -> None:
    emb = load_embedder(str(tiny_bert), pooling="mean", normalize=False, device="cpu")
    short = "A short one."
    long = "This sentence is a good deal longer than the other one, so the short one gets padded."
    alone = emb.embed([short])[0]
    batched = emb.embed([short, long])[0]
    np.testing.assert_allclose(alone, batched, atol=1e-5)
    # Uncased tokenizer: the embedder reports and applies its normalisation.
    assert emb.cased is False and emb.normalize_text("Café Zürich") == "cafe zurich"


def test_hf_settings_file(tiny_bert: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bert-with-settings"
    shutil.copytree(tiny_bert, folder)
    (folder / "unembed_embedder.json").write_text(json.dumps({"pooling": "cls", "normalize": True, "max_length": 8}))
    emb = load_embedder(str(folder), device="cpu")
    assert (emb.pooling, emb.normalize, emb.max_length) == ("cls", True, 8)
    assert emb.name == f"hf:{folder.resolve()}"
    # Two long texts that share their first few tokens embed identically once truncated to 8.
    same = emb.embed(["one two three four five six seven eight nine", "one two three four five six seven zebra"])
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)
    # Options override the file.
    assert load_embedder(str(folder), pooling="mean", device="cpu").pooling == "mean"
    (folder / "unembed_embedder.json").write_text(json.dumps({"pooling": "mean", "normalise": True}))
    with pytest.raises(EmbedderError, match="unknown keys"):
        load_embedder(str(folder))


# --------------------------------------------------------------------------------------------------
# Python callables
# --------------------------------------------------------------------------------------------------


def test_callable_embedder() -> None:
    seen: list[list[str]] = []

    def fn(texts: list[str]) -> list[list[float]]:
        seen.append(texts)
        return [[float(len(t)), 1.0, 0.0] for t in texts]

    emb = load_embedder(fn, batch_size=2)
    assert isinstance(emb, CallableEmbedder) and emb.name.startswith("callable:")
    assert emb.dim == 3  # discovered from the probe, not counted
    assert emb.calls == 0 and emb.normalize is False and emb.cased is True
    out = emb.embed(["ab", "abcd", "x"])
    np.testing.assert_array_equal(out[:, 0], [2, 4, 1])
    assert [len(batch) for batch in seen[1:]] == [2, 1]
    assert emb.normalize_text("Café") == "Café"


def test_callable_bad_outputs() -> None:
    nan = load_embedder(lambda texts: np.full((len(texts), 4), np.nan), name="nan-model")
    with pytest.raises(EmbedderError, match="nan-model returned NaN or infinite values"):
        nan.embed(["hello"])
    inf = CallableEmbedder(lambda texts: np.full((len(texts), 4), np.inf))
    with pytest.raises(EmbedderError, match="NaN or infinite"):
        inf.embed(["hello"])
    short = CallableEmbedder(lambda texts: np.ones((1, 4)))
    with pytest.raises(EmbedderError, match="returned 1 vectors for 2 texts"):
        short.embed(["a", "b"])
    flat = CallableEmbedder(lambda texts: np.ones(4))
    with pytest.raises(EmbedderError, match=r"shape \(4,\)"):
        flat.embed(["a"])

    def broken(texts: list[str]) -> None:
        raise RuntimeError("backend exploded")

    with pytest.raises(EmbedderError, match="failed: backend exploded"):
        CallableEmbedder(broken, name="broken").embed(["a"])


# --------------------------------------------------------------------------------------------------
# HTTP: a real OpenAI-compatible server on 127.0.0.1
# --------------------------------------------------------------------------------------------------

HTTP_DIM = 8


def hash_vector(text: str) -> list[float]:
    """Deterministic unit vector for ``text``."""
    raw = np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest()[: HTTP_DIM * 4], dtype=np.uint32)
    vec = raw.astype(np.float64) / 2**32 - 0.5
    return (vec / np.linalg.norm(vec)).tolist()


class FakeOpenAI(ThreadingHTTPServer):
    """An embeddings server that records requests and can fail on command."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EmbeddingsHandler)
        self.requests: list[list[str]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.fail_next = 0
        self.fail_status = 503
        self.reject_with: tuple[int, str] | None = None
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    @property
    def texts_received(self) -> list[str]:
        return [text for batch in self.requests for text in batch]


class EmbeddingsHandler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
        pass

    def _reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length))
        server = self.server
        with server.lock:
            server.headers_seen.append(dict(self.headers))
            if self.path != "/v1/embeddings":
                self._reply(404, {"error": {"message": f"no route {self.path}"}})
                return
            if server.fail_next > 0:
                server.fail_next -= 1
                self._reply(server.fail_status, {"error": {"message": "try again later"}})
                return
            if server.reject_with is not None:
                self._reply(server.reject_with[0], {"error": {"message": server.reject_with[1]}})
                return
            texts = request["input"]
            server.requests.append(list(texts))
        data = [{"object": "embedding", "index": i, "embedding": hash_vector(request["model"] + t)} for i, t in enumerate(texts)]
        self._reply(200, {"object": "list", "data": data[::-1], "model": request["model"]})  # out of order on purpose


@pytest.fixture()
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeOpenAI]:
    for var in ("UNEMBED_API_KEY", "OPENAI_API_KEY", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("UNEMBED_CACHE", str(tmp_path / "cache-root"))
    srv = FakeOpenAI()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def expected(model: str, texts: list[str]) -> np.ndarray:
    return np.asarray([hash_vector(model + t) for t in texts], dtype=np.float32)


def test_http_batching_and_order(server: FakeOpenAI, tmp_path: Path) -> None:
    emb = load_embedder(f"{server.base}?model=m1", batch_size=4, cache_dir=str(tmp_path / "c"))
    assert isinstance(emb, HTTPEmbedder) and emb.pooling == "unknown" and emb.cased is True
    texts = [f"text number {i}" for i in range(10)]
    out = emb.embed(texts)
    assert out.shape == (10, HTTP_DIM) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected("m1", texts), atol=1e-6)
    assert [len(r) for r in server.requests] == [4, 4, 2]
    assert emb.dim == HTTP_DIM and (emb.calls, emb.texts_embedded) == (1, 10)
    assert emb.embed(texts[:3], batch_size=1).shape == (3, HTTP_DIM)  # cached: no new requests
    assert len(server.requests) == 3


def test_http_cache_and_duplicates(server: FakeOpenAI, tmp_path: Path) -> None:
    url = f"{server.base}?model=m1"
    texts = ["alpha", "beta", "alpha", "gamma", "beta"]
    first = load_embedder(url, cache_dir=str(tmp_path / "c"))
    out = first.embed(texts)
    assert sorted(server.texts_received) == ["alpha", "beta", "gamma"]  # duplicates sent once
    np.testing.assert_array_equal(out[0], out[2])
    first.embed(texts)
    assert len(server.requests) == 1  # second call: all cached
    second = load_embedder(url, cache_dir=str(tmp_path / "c"))
    np.testing.assert_array_equal(second.embed(texts[::-1]), out[::-1])
    assert len(server.requests) == 1  # new instance, same cache folder: nothing sent
    second.embed(["alpha", "delta"])
    assert server.requests[-1] == ["delta"]
    # Another model name does not share cached vectors.
    other = load_embedder(f"{server.base}?model=m2", cache_dir=str(tmp_path / "c"))
    other.embed(["alpha"])
    assert server.requests[-1] == ["alpha"]
    # The default cache lives under $UNEMBED_CACHE/http.
    load_embedder(url).embed(["epsilon"])
    assert (tmp_path / "cache-root" / "http").is_dir()


def test_http_lazy_dim_and_normalize(server: FakeOpenAI, tmp_path: Path) -> None:
    emb = load_embedder(f"{server.base}/?model=m1", cache_dir=str(tmp_path / "c"))
    assert emb.dim == HTTP_DIM and emb.normalize is True
    assert server.requests == [[PROBE_SENTENCE]] and emb.calls == 0
    fp = emb.fingerprint()
    assert fp["name"] == f"{server.base}/?model=m1" and fp["pooling"] == "unknown"
    check_fingerprint(fp, load_embedder(f"{server.base}?model=m1", cache_dir=str(tmp_path / "c")))
    with pytest.raises(EmbedderError, match="gives different vectors"):
        check_fingerprint(fp, load_embedder(f"{server.base}?model=m2", cache_dir=str(tmp_path / "c")))


@pytest.mark.parametrize("status", [503, 429])
def test_http_retries_transient_errors(server: FakeOpenAI, tmp_path: Path, status: int) -> None:
    server.fail_next, server.fail_status = 2, status
    emb = load_embedder(f"{server.base}?model=m1", backoff=0.01, max_retries=3, cache_dir=str(tmp_path / "c"))
    out = emb.embed(["retry me"])
    np.testing.assert_allclose(out, expected("m1", ["retry me"]), atol=1e-6)
    assert len(server.headers_seen) == 3 and emb.requests_sent == 3


def test_http_gives_up_after_retries(server: FakeOpenAI, tmp_path: Path) -> None:
    server.fail_next = 100
    emb = load_embedder(f"{server.base}?model=m1", backoff=0.01, max_retries=2, cache_dir=str(tmp_path / "c"))
    with pytest.raises(EmbedderError, match=r"cannot reach embedding endpoint http://127\.0\.0\.1:\d+/v1/embeddings: HTTP 503 try again later"):
        emb.embed(["never"])
    assert len(server.headers_seen) == 3


def test_http_client_error_is_not_retried(server: FakeOpenAI, tmp_path: Path) -> None:
    server.reject_with = (400, "input must not be empty\nreally")
    emb = load_embedder(f"{server.base}?model=m1", backoff=0.01, cache_dir=str(tmp_path / "c"))
    with pytest.raises(EmbedderError, match="refused the request: HTTP 400 input must not be empty really; check") as info:
        emb.embed(["x"])
    assert "\n" not in str(info.value)
    assert len(server.headers_seen) == 1


def test_http_unreachable_port_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    emb = load_embedder(f"http://127.0.0.1:{port}/v1?model=m1", backoff=0.01, max_retries=2, timeout=2, cache_dir=str(tmp_path / "c"))
    start = time.monotonic()
    with pytest.raises(EmbedderError, match=rf"cannot reach embedding endpoint http://127\.0\.0\.1:{port}/v1/embeddings: .*; check"):
        emb.embed(["hello"])
    assert time.monotonic() - start < 5


def test_http_api_key_header(server: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_embedder(f"{server.base}?model=m1", api_key="sk-test", cache_dir=str(tmp_path / "a")).embed(["k"])
    assert server.headers_seen[-1]["Authorization"] == "Bearer sk-test"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    load_embedder(f"{server.base}?model=m1", cache_dir=str(tmp_path / "b")).embed(["k"])
    assert server.headers_seen[-1]["Authorization"] == "Bearer sk-openai"
    monkeypatch.setenv("UNEMBED_API_KEY", "sk-unembed")
    load_embedder(f"{server.base}?model=m1", cache_dir=str(tmp_path / "c")).embed(["k"])
    assert server.headers_seen[-1]["Authorization"] == "Bearer sk-unembed"
    monkeypatch.delenv("UNEMBED_API_KEY")
    monkeypatch.delenv("OPENAI_API_KEY")
    load_embedder(f"{server.base}?model=m1", cache_dir=str(tmp_path / "d")).embed(["k"])
    assert "Authorization" not in server.headers_seen[-1]
