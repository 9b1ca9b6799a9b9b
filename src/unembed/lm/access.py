"""Access modes: what the attacker sees of the target, turned into the inverter's input.

- ``probs[:P]``: full next-token distributions at the end of the prompt and after each of the first
  P-1 greedy tokens (P = 1 is logit2prompt, Morris et al., "Language Model Inversion", ICLR 2024;
  P > 1 is PILS, Nazir, Finlayson et al. 2025), each kept as hidden-size numbers plus a normaliser
  (:mod:`unembed.lm.compact`). One query per prompt.
- ``topk:K[:P]``: what hosted APIs return, the top-K log-probabilities per position, plus
  ``logit_bias`` queries that recover the log-probabilities of a fixed probe set of d+1 tokens
  (exactly, by the softmax-bottleneck argument those d+1 numbers carry the whole distribution).
  Each recovery query biases K tokens by the same large B: the reference token r (the greedy token,
  whose unbiased log-probability the first call returned) and K-1 probes; biased tokens share the
  bias and the normaliser, so ``l_i = l_r + (l'_i - l'_r)``: K-1 new entries per query, the
  k-tokens-per-call idea of Finlayson et al. (2024). Queries are counted per prompt. Without
  logit_bias (hosted APIs since March 2024, or the ``no-logit-bias`` defence) biased tokens do not
  show up and the probes are filled with the floor (the least returned log-probability).
- ``samples:N``: N sampled continuations only, the output2prompt setting (Zhang, Morris & Shmatikov,
  "Extracting Prompts by Inverting LLM Outputs", 2024).

Deliberate differences: the topk feature is the probe vector itself (the inverter learns the linear
map to h), not a reconstructed full vector, so that it needs no output matrix.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import InputError, TargetError
from .targets import LocalTarget, Target

__all__ = ["Access", "Observation", "parse_access", "probe_tokens", "ACCESS_FORMS"]

ACCESS_FORMS = "probs[:P] (full distributions at P positions), topk:K[:P] (top-K log-probs + logit_bias), samples:N"
BIAS = 100.0  # OpenAI's largest logit_bias


@dataclass
class Observation:
    """What one access mode saw of a list of prompts: ``features`` (n, P, F) float32 for the vector
    modes or ``samples`` (n lists of N texts), and the queries each prompt cost."""

    access: str
    features: np.ndarray | None = None
    samples: list[list[str]] | None = None
    queries: list[int] = field(default_factory=list)
    recovered: float | None = None  # topk: fraction of probe entries recovered through logit_bias

    def __len__(self) -> int:
        return len(self.samples) if self.samples is not None else len(self.features)

    def subset(self, idx: Sequence[int]) -> "Observation":
        idx = list(idx)
        return Observation(self.access, None if self.features is None else self.features[idx],
                           None if self.samples is None else [self.samples[i] for i in idx],
                           [self.queries[i] for i in idx] if self.queries else [], self.recovered)


def probe_tokens(vocab_size: int, m: int) -> list[int]:
    """m token ids spread evenly over the vocabulary (deterministic: no seed to carry)."""
    m = min(m, vocab_size)
    return sorted({int(round(i * (vocab_size - 1) / max(m - 1, 1))) for i in range(m)})


@dataclass(frozen=True)
class Access:
    """A parsed access spec. ``mode``: probs, topk or samples."""

    mode: str
    positions: int = 1
    k: int = 0
    n: int = 0
    max_tokens: int = 24
    probes: int = 0  # topk: size of the probe set (d+1 of the target, set at training)
    bias: bool = True  # topk: use logit_bias recovery
    temperature: float = 1.0  # samples

    @property
    def spec(self) -> str:
        if self.mode == "probs":
            return f"probs:{self.positions}"
        if self.mode == "topk":
            return f"topk:{self.k}:{self.positions}" + ("" if self.bias else ":no-bias")
        return f"samples:{self.n}"

    def feature_dim(self, target_dim: int) -> int:
        return target_dim if self.mode == "probs" else self.probes + self.k

    # -- observing -----------------------------------------------------------------------------
    def observe(self, target: Target, prompts: Sequence[str], projection=None) -> Observation:
        if not prompts:
            return Observation(self.spec, np.zeros((0, self.positions, 0), np.float32) if self.mode != "samples" else None,
                               [] if self.mode == "samples" else None, [])
        if self.mode == "probs":
            return self._probs(target, prompts, projection)
        if self.mode == "topk":
            return self._topk(target, prompts)
        return self._samples(target, prompts)

    def _probs(self, target, prompts, projection):
        if not isinstance(target, LocalTarget) or not hasattr(target, "logprobs"):
            raise TargetError(f"{target.name} returns no full distributions (an endpoint gives top-K log-probabilities "
                              "at most): use --access topk:K or samples:N")
        lp = target.logprobs(list(prompts), self.positions)
        z = projection.compact(lp.flatten(0, 1)).view(len(prompts), self.positions, -1)
        return Observation(self.spec, z.numpy().astype(np.float32), queries=[1] * len(prompts))

    def _topk(self, target, prompts):
        probes = probe_tokens(target.vocab_size, self.probes)
        feats = np.zeros((len(prompts), self.positions, len(probes) + self.k), np.float32)
        shared = getattr(target, "complete_biased", None)
        if shared is not None:  # a local target: every prompt's first call, then each position's queries, batched
            before = target.queries
            firsts = [row[0] for row in target.complete(list(prompts), self.positions, temperature=0.0,
                                                          top_logprobs=self.k)]
            plans = [self._plan(target, prompt, first, probes) for prompt, first in zip(prompts, firsts)]
            for t in range(self.positions):
                todo = [i for i, p in enumerate(plans) if p[t]["biases"]]
                answers = shared([plans[i][t]["ctx"] for i in todo], [plans[i][t]["biases"] for i in todo], self.k) \
                    if todo else []
                for i, got in zip(todo, answers):
                    plans[i][t]["answers"] = got
            queries = [1 + sum(len(step["biases"]) for step in p) for p in plans]
            assert sum(queries) == target.queries - before, "queries miscounted"
        else:  # an endpoint: one request at a time, as the attacker sends them
            plans, queries = [], []
            for prompt in prompts:
                before = target.queries
                first = target.complete([prompt], self.positions, temperature=0.0, top_logprobs=self.k)[0][0]
                plan = self._plan(target, prompt, first, probes)
                for step in plan:
                    step["answers"] = bias_answers(target, step["ctx"], step["biases"], self.k)
                plans.append(plan)
                queries.append(target.queries - before)  # the echo that turns the prompt into ids included
        got = asked = 0
        for i, plan in enumerate(plans):
            for t, step in enumerate(plan):
                known = dict(step["top"])
                for chunk, top_seen in zip(step["chunks"], step.get("answers", [])):
                    seen = dict(top_seen)
                    asked += len(chunk)
                    if step["ref"] in seen:
                        for p in chunk:
                            if p in seen:
                                known[p] = step["ref_lp"] + (seen[p] - seen[step["ref"]])
                                got += 1
                feats[i, t, : len(probes)] = [known.get(p, step["floor"]) for p in probes]
                feats[i, t, len(probes):] = step["vals"]
        return Observation(self.spec, feats, queries=queries, recovered=(got / asked) if asked else None)

    def _plan(self, target, prompt, first, probes) -> list[dict]:
        """Per position: what the first call returned, and the logit_bias queries that recover the
        probes it did not: K-1 probes and the reference token (the greedy one) per query."""
        if not first.top or not first.top[0]:
            raise TargetError(f"{target.name} returned no logprobs: it cannot be queried in topk mode "
                              "(use --access samples:N)")
        prefix = target_prompt_ids(target, prompt) if self.bias else None
        plan = []
        for t in range(self.positions):
            t_eff = min(t, len(first.top) - 1)
            top = dict(first.top[t_eff])
            vals = sorted(top.values(), reverse=True)[: self.k]
            vals += [vals[-1]] * (self.k - len(vals))
            step = {"top": top, "vals": vals, "floor": min(top.values()), "chunks": [], "biases": [], "ctx": None,
                    "ref": None, "ref_lp": None}
            if prefix is not None:
                ref, ref_lp = max(top.items(), key=lambda kv: kv[1])
                todo = [p for p in probes if p not in top]
                step["chunks"] = [todo[j: j + self.k - 1] for j in range(0, len(todo), self.k - 1)]
                step["biases"] = [{ref: BIAS, **{p: BIAS for p in chunk}} for chunk in step["chunks"]]
                step.update(ctx=prefix + first.token_ids[:t_eff], ref=ref, ref_lp=ref_lp)
            plan.append(step)
        return plan

    def _samples(self, target, prompts):
        out = target.complete(list(prompts), self.max_tokens, temperature=self.temperature, n=self.n, seed=0)
        return Observation(self.spec, samples=[[c.text for c in row] for row in out], queries=[1] * len(prompts))


def bias_answers(target: Target, ctx: list[int], biases: list[dict[int, float]], k: int) -> list[list[tuple[int, float]]]:
    """The top-K answers of one-token ``logit_bias`` queries at ``ctx``, one request per bias (a target
    without :meth:`LocalTarget.complete_biased`, e.g. an endpoint)."""
    answers = []
    for bias in biases:
        ans = target.complete([ctx], 1, temperature=0.0, top_logprobs=k, logit_bias=bias)[0][0]
        answers.append(ans.top[0] if ans.top else [])
    return answers


def target_prompt_ids(target: Target, prompt: str) -> list[int] | None:
    """The prompt as token ids, when the target can tell (recovery queries continue a prefix)."""
    enc = getattr(target, "encode", None)
    return enc(prompt) if enc is not None else None


def parse_access(spec: str, probes: int = 0) -> Access:
    """``probs``, ``probs:4``, ``topk:5``, ``topk:5:4``, ``topk:5:1:no-bias``, ``samples:16``."""
    s = str(spec).strip().lower()
    m = re.fullmatch(r"probs(?::(\d+))?", s)
    if m:
        p = int(m[1] or 1)
        if not 1 <= p <= 64:
            raise InputError(f"access {spec}: positions must be 1 to 64")
        return Access("probs", positions=p)
    m = re.fullmatch(r"topk:(\d+)(?::(\d+))?(:no-bias)?", s)
    if m:
        k, p = int(m[1]), int(m[2] or 1)
        if not 2 <= k <= 20 or not 1 <= p <= 64:
            raise InputError(f"access {spec}: K must be 2 to 20 (hosted APIs return at most 20) and P 1 to 64")
        return Access("topk", positions=p, k=k, probes=probes, bias=not m[3])
    m = re.fullmatch(r"samples:(\d+)", s)
    if m and 1 <= int(m[1]) <= 64:
        return Access("samples", n=int(m[1]))
    raise InputError(f"unknown access mode '{spec}': use {ACCESS_FORMS}")


def recovery_queries(probes: int, k: int, positions: int) -> int:
    """Queries per prompt of ``topk:K`` with logit_bias for a probe set: the plan, before overlaps."""
    return 1 + positions * math.ceil(probes / (k - 1))
