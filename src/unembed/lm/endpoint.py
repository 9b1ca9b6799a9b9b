"""An OpenAI-compatible completions endpoint as a target: ``http(s)://HOST:PORT/v1[?model=NAME]``.

Requests ``/v1/completions`` with ``logprobs`` (top-K per position), ``logit_bias`` and vLLM's
``return_tokens_as_token_ids`` so that returned tokens are ids (``token_id:N``), which logit_bias
needs; ``echo`` with ``max_tokens: 0`` turns a prompt into its token ids. ``GET /v1/models`` gives the
model id and, where the server reports it (llama.cpp's ``meta.n_vocab``, ``meta.n_embd``), the
vocabulary and hidden sizes; ``?vocab=N&probes=M`` in the URL gives them otherwise.

Every failure is one line: unreachable, an HTTP error, a reply without logprobs when they were asked
for, or tokens returned as text. Only the standard library's urllib is used.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from ..errors import TargetError
from .targets import Choice, Target

__all__ = ["EndpointTarget"]


class EndpointTarget(Target):
    kind = "endpoint"

    def __init__(self, url: str, model: str | None = None, timeout: float = 60.0, **_):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise TargetError(f"bad endpoint URL {url!r}: use http(s)://HOST:PORT/v1[?model=NAME]")
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") or "/v1", "", ""))
        self.timeout, self.queries = timeout, 0
        listing = self._request("GET", "/models")
        data = listing.get("data") or [{}]
        self.model = model or query.get("model") or data[0].get("id")
        entry = next((d for d in data if d.get("id") == self.model), data[0])
        meta = entry.get("meta") or {}
        self.vocab_size = int(query.get("vocab") or meta.get("n_vocab") or entry.get("vocab_size") or 0)
        hidden = meta.get("n_embd")
        self.probe_count = int(query.get("probes") or (int(hidden) + 1 if hidden else 0))
        self.name = f"{self.model}@{parts.netloc}"
        self._ids: dict[str, list[int]] = {}

    def fingerprint(self) -> str:
        return f"endpoint:{self.model}"

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            try:
                msg = json.loads(exc.read()).get("error", {}).get("message", "")
            except Exception:
                msg = ""
            raise TargetError(f"endpoint {self.base}{path} answered HTTP {exc.code}{': ' + msg if msg else ''}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TargetError(f"endpoint {self.base} is unreachable ({reason}); start the server or fix the URL") from None
        except json.JSONDecodeError:
            raise TargetError(f"endpoint {self.base}{path} did not answer JSON: is it an OpenAI-compatible API?") from None

    @staticmethod
    def _token_id(name: str) -> int:
        if not name.startswith("token_id:"):
            raise TargetError("the endpoint returns tokens as text, not ids (it ignores return_tokens_as_token_ids): "
                              "logit_bias recovery needs token ids; use --access samples:N")
        return int(name.split(":", 1)[1])

    def encode(self, prompt: str) -> list[int]:
        if prompt not in self._ids:
            r = self._request("POST", "/completions", {"model": self.model, "prompt": prompt, "max_tokens": 0,
                                                       "echo": True, "logprobs": 1, "return_tokens_as_token_ids": True})
            self.queries += 1
            lp = (r.get("choices") or [{}])[0].get("logprobs") or {}
            if not lp.get("tokens"):
                raise TargetError(f"endpoint {self.base} does not echo prompt tokens: logit_bias recovery needs them")
            self._ids[prompt] = [self._token_id(t) for t in lp["tokens"]]
        return self._ids[prompt]

    def complete(self, prompts, max_tokens, temperature=0.0, top_logprobs=0, logit_bias=None, n=1, seed=0):
        out = []
        for prompt in prompts:
            body = {"model": self.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": temperature,
                    "n": n, "seed": seed, "return_tokens_as_token_ids": True}
            if top_logprobs:
                body["logprobs"] = top_logprobs
            if logit_bias:
                body["logit_bias"] = {str(int(t)): float(b) for t, b in logit_bias.items()}
            r = self._request("POST", "/completions", body)
            self.queries += 1
            row = []
            for c in r.get("choices") or []:
                lp = c.get("logprobs")
                if top_logprobs and not (lp and lp.get("top_logprobs")):
                    raise TargetError(f"endpoint {self.base} returned no logprobs: it cannot be queried with "
                                      "--access topk:K (use --access samples:N)")
                ids = [self._token_id(t) for t in lp["tokens"]] if lp and lp.get("tokens") else []
                top = [sorted(((self._token_id(t), float(v)) for t, v in (d or {}).items()), key=lambda x: -x[1])
                       for d in lp["top_logprobs"]] if top_logprobs else []
                row.append(Choice(text=c.get("text", ""), token_ids=ids, top=top))
            if not row:
                raise TargetError(f"endpoint {self.base} returned no choices")
            out.append(row)
        return out
