"""The HTTP embedder's security and load behaviour (issue 13, defects 1 and 12, and the load test).

A real loopback server: redirects, plain-http keys, the cache's key and permissions, and 8 concurrent
callers against injected 429s, 503s, slow replies and dropped connections.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from unembed.embedders import load_embedder
from unembed.embedders.http import HTTPEmbedder, cache_key
from unembed.errors import EmbedderError

DIM = 8


def vector(model: str, text: str) -> list[float]:
    raw = np.frombuffer(hashlib.sha256((model + text).encode()).digest()[: DIM * 4], dtype=np.uint32)
    vec = raw.astype(np.float64) / 2**32 - 0.5
    return (vec / np.linalg.norm(vec)).tolist()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model_salt: str = "") -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.salt = model_salt
        self.lock = threading.Lock()
        self.headers_seen: list[dict[str, str]] = []
        self.embedded: list[str] = []
        self.redirect_to: str | None = None
        self.faults: list[str] = []  # consumed one per request: "429", "503", "slow", "drop"
        self.slow_seconds = 0.3

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, payload: object, extra: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        srv = self.server
        with srv.lock:
            srv.headers_seen.append(dict(self.headers))
            fault = srv.faults.pop(0) if srv.faults else None
            redirect = srv.redirect_to
        if redirect:
            self._reply(302, {}, {"Location": redirect})
            return
        if fault in ("429", "503"):
            self._reply(int(fault), {"error": {"message": "busy"}})
            return
        if fault == "drop":  # close the connection without a response
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "slow":
            threading.Event().wait(srv.slow_seconds)
        texts = request["input"]
        with srv.lock:
            srv.embedded.extend(texts)
        data = [{"index": i, "embedding": vector(srv.salt + request["model"], t)} for i, t in enumerate(texts)]
        self._reply(200, {"data": data[::-1]})


def start(salt: str = "") -> Server:
    srv = Server(salt)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return srv


@pytest.fixture()
def servers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[list[Server]]:
    for var in ("UNEMBED_API_KEY", "OPENAI_API_KEY", "HTTP_PROXY", "http_proxy", "UNEMBED_HTTP_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("UNEMBED_CACHE", str(tmp_path / "cache-root"))
    made = [start(), start("other-model-behind-the-same-name")]
    yield made
    for srv in made:
        srv.shutdown()
        srv.server_close()


def test_a_redirect_is_refused_and_the_key_never_reaches_the_other_origin(servers, tmp_path) -> None:
    configured, elsewhere = servers
    configured.redirect_to = f"{elsewhere.base}/embeddings"
    emb = load_embedder(f"{configured.base}?model=m", api_key="sk-secret", cache_dir=str(tmp_path / "c"), backoff=0.01)
    with pytest.raises(EmbedderError, match=r"answered HTTP 302 redirect to .*never follows redirects") as info:
        emb.embed(["hello"])
    assert "\n" not in str(info.value)
    assert elsewhere.headers_seen == []  # nothing at all, so certainly no key, reached the other server
    assert configured.headers_seen[0]["Authorization"] == "Bearer sk-secret"


@pytest.mark.parametrize("code", [301, 303, 307, 308])
def test_every_redirect_code_is_refused(servers, tmp_path, code: int) -> None:
    configured, elsewhere = servers

    class Redirector(Handler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._reply(code, {}, {"Location": f"{elsewhere.base}/embeddings"})

    configured.RequestHandlerClass = Redirector
    emb = load_embedder(f"{configured.base}?model=m", api_key="sk-secret", cache_dir=str(tmp_path / "c"))
    with pytest.raises(EmbedderError, match=rf"HTTP {code} redirect"):
        emb.embed(["hello"])
    assert elsewhere.headers_seen == []


def test_a_key_over_plain_http_to_a_remote_host_is_warned_about_once(caplog, tmp_path) -> None:
    with caplog.at_level(logging.WARNING, logger="unembed.embedders"):
        for _ in range(3):
            HTTPEmbedder("http://embeddings.example.invalid:8080/v1?model=m", api_key="sk", cache=False)
        HTTPEmbedder("http://127.0.0.1:9/v1?model=m", api_key="sk", cache=False)
        HTTPEmbedder("https://secure.example.invalid/v1?model=m", api_key="sk", cache=False)
        HTTPEmbedder("http://nokey.example.invalid/v1?model=m", cache=False)
    warnings = [r.getMessage() for r in caplog.records if "plain http" in r.getMessage()]
    assert len(warnings) == 1 and "embeddings.example.invalid:8080" in warnings[0]


def test_the_cache_is_keyed_by_endpoint_so_two_servers_with_one_model_name_do_not_share_vectors(servers, tmp_path) -> None:
    first, second = servers
    cache = str(tmp_path / "shared")
    a = load_embedder(f"{first.base}?model=same-name", cache_dir=cache).embed(["one text"])
    b = load_embedder(f"{second.base}?model=same-name", cache_dir=cache).embed(["one text"])
    assert second.embedded == ["one text"]  # a cache hit from the first server would never have asked
    assert not np.allclose(a, b)
    assert cache_key(first.base, "m", "t") != cache_key(second.base, "m", "t")
    assert cache_key("HTTP://Host:1/v1", "m", "t") == cache_key("http://host:1/v1", "m", "t")


def test_the_cache_file_is_0600_in_a_0700_folder(servers, tmp_path) -> None:
    os.umask(0o022)
    folder = tmp_path / "cache"
    load_embedder(f"{servers[0].base}?model=m", cache_dir=str(folder)).embed(["private text"])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in files)


def test_one_environment_variable_turns_the_cache_off(servers, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("UNEMBED_HTTP_CACHE", "off")
    folder = tmp_path / "never"
    emb = load_embedder(f"{servers[0].base}?model=m", cache_dir=str(folder))
    emb.embed(["a"])
    emb.embed(["a"])
    assert servers[0].embedded == ["a", "a"] and not folder.exists()


def test_eight_concurrent_callers_through_429_503_slow_and_dropped_connections_embed_each_text_once_in_order(
    servers, tmp_path
) -> None:
    srv = servers[0]
    srv.slow_seconds = 0.2
    srv.faults = ["429", "503", "slow", "drop", "503", "slow", "429", "drop", "slow", "503", "drop", "429"]
    emb = load_embedder(f"{srv.base}?model=m", batch_size=3, backoff=0.01, max_retries=8, timeout=5,
                        cache_dir=str(tmp_path / "c"))
    per_caller = {k: [f"caller {k} text {i}" for i in range(10)] for k in range(8)}
    with ThreadPoolExecutor(8) as pool:
        futures = {k: pool.submit(emb.embed, texts) for k, texts in per_caller.items()}
        results = {k: f.result(timeout=60) for k, f in futures.items()}
    for k, texts in per_caller.items():
        np.testing.assert_allclose(results[k], np.asarray([vector("m", t) for t in texts]), atol=1e-6)
    sent = sorted(srv.embedded)
    assert sent == sorted(t for texts in per_caller.values() for t in texts)  # every text exactly once
    assert srv.faults == []  # every injected fault was met and survived
