"""A small OpenAI-compatible server for a local target: ``unembed lm serve``.

llama-cpp-python's server speaks this API and reads GGUF, but ships no wheel here (its source build
needs a C++ toolchain and several minutes), so the project serves its own, on the standard library's
``http.server``, for tests and for measuring defences as a real endpoint would apply them:

- ``GET /v1/models``: the model's id, with ``meta.n_vocab`` (llama.cpp's field) and ``meta.n_embd``;
- ``POST /v1/completions``: ``prompt`` (a string or a list of token ids), ``max_tokens``,
  ``temperature``, ``n``, ``seed``, ``logprobs`` (top log-probabilities per position, at most
  ``max_logprobs``), ``logit_bias`` ({token id: bias in [-100, 100]}), ``echo`` (with
  ``max_tokens: 0``: the prompt's tokens) and vLLM's ``return_tokens_as_token_ids`` (tokens as
  ``token_id:N``).

Serving-side defences (``unembed.lm.defences``) are applied as a provider would: ``no-logit-bias``
applies the bias to sampling but returns unbiased log-probabilities (hosted APIs since March 2024);
``samples-only`` returns no log-probabilities; ``topk:K`` caps ``logprobs`` at K; ``noise`` and
``temperature`` change what is returned. It binds to loopback by default and is not meant to face a
network (no authentication, one request at a time).
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import InputError
from .targets import LocalTarget

__all__ = ["make_server", "serve_in_thread"]


class _BadRequest(Exception):
    pass


def completion(target: LocalTarget, body: dict, model_id: str, max_logprobs: int, policy: dict) -> dict:
    prompt = body.get("prompt")
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        prompt_in: str | list[int] = prompt
    elif isinstance(prompt, str) and prompt:
        prompt_in = prompt
    else:
        raise _BadRequest("prompt must be a non-empty string or a list of token ids")
    max_tokens = int(body.get("max_tokens", 16))
    k = body.get("logprobs")
    k = 0 if k is None else int(k)
    if k < 0 or k > max_logprobs:
        raise _BadRequest(f"logprobs must be 0 to {max_logprobs}")
    bias_in = body.get("logit_bias") or {}
    try:
        bias = {int(t): float(b) for t, b in bias_in.items()}
    except (TypeError, ValueError, AttributeError):
        raise _BadRequest("logit_bias must map token ids to numbers") from None
    if any(not -100 <= b <= 100 for b in bias.values()):
        raise _BadRequest("logit_bias values must be in [-100, 100]")
    as_ids = bool(body.get("return_tokens_as_token_ids"))
    temperature = float(body.get("temperature", 1.0))
    n = int(body.get("n", 1))
    if not 1 <= n <= 64 or not 0 <= max_tokens <= 512:
        raise _BadRequest("n must be 1 to 64 and max_tokens 0 to 512")

    def name(t: int) -> str:
        return f"token_id:{t}" if as_ids else target.tokenizer.convert_ids_to_tokens(int(t))

    choices = []
    if max_tokens == 0:
        if not body.get("echo"):
            raise _BadRequest("max_tokens 0 needs echo: true")
        ids = target.encode(prompt_in)
        target.queries += 1
        choices.append({"index": 0, "text": target.decode(ids), "finish_reason": "length",
                        "logprobs": {"tokens": [name(t) for t in ids], "token_logprobs": [None] * len(ids),
                                     "top_logprobs": [None] * len(ids)}})
    else:
        rows = target.complete([prompt_in], max_tokens, temperature=temperature, top_logprobs=k,
                               logit_bias=bias or None, n=n, seed=int(body.get("seed", 0)))[0]
        for i, c in enumerate(rows):
            lp = None
            if k and c.top:
                lp = {"tokens": [name(t) for t in c.token_ids],
                      "token_logprobs": [dict(top).get(t) for t, top in zip(c.token_ids, c.top)],
                      "top_logprobs": [{name(t): v for t, v in top} for top in c.top]}
            eos = target.tokenizer.eos_token_id
            choices.append({"index": i, "text": c.text, "logprobs": lp,
                            "finish_reason": "stop" if c.token_ids and c.token_ids[-1] == eos else "length"})
    return {"id": f"cmpl-{int(time.time() * 1000)}", "object": "text_completion", "created": int(time.time()),
            "model": model_id, "choices": choices}


def make_server(target: LocalTarget, host: str = "127.0.0.1", port: int = 0, model_id: str | None = None,
                max_logprobs: int = 20, policy: dict | None = None) -> ThreadingHTTPServer:
    """A server (not yet serving) for ``target``; ``port=0`` picks a free port (``server.server_port``)."""
    if not isinstance(target, LocalTarget):
        raise InputError("lm serve serves a local target (gemma3-270m or a causal-LM folder), not an endpoint")
    model_id = model_id or target.name
    policy = dict(policy if policy is not None else target.policy)
    lock = threading.Lock()  # one forward pass at a time: the model is not thread-safe on CPU

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the command line prints what it needs
            pass

        def _send(self, code: int, obj: dict):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.rstrip("/") in ("/v1/models", "/models"):
                self._send(200, {"object": "list", "data": [{
                    "id": model_id, "object": "model", "owned_by": "unembed",
                    "meta": {"n_vocab": target.vocab_size, "n_embd": target.hidden_size}}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})

        def do_POST(self):
            if self.path.rstrip("/") not in ("/v1/completions", "/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise _BadRequest("the body must be a JSON object")
                with lock:  # this server's policy, for this request only (a target may back several servers)
                    saved, target.policy = target.policy, policy
                    try:
                        reply = completion(target, body, model_id, max_logprobs, policy)
                    finally:
                        target.policy = saved
                self._send(200, reply)
            except (_BadRequest, InputError, json.JSONDecodeError, ValueError, TypeError) as exc:
                self._send(400, {"error": {"message": str(exc), "type": "invalid_request_error"}})

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_in_thread(target: LocalTarget, **kwargs) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread; returns it and its base URL (``http://127.0.0.1:PORT/v1``)."""
    server = make_server(target, **kwargs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{server.server_address[0]}:{server.server_port}/v1"
