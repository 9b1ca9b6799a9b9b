"""Serving-side defences against LM inversion, and what each costs honest users.

Each defence is a :class:`LMDefence` registered by family (``register``); ``parse_defences`` reads
``noise:0.1,topk:5,temperature:1.5,no-logit-bias,samples-only`` through the registry.

- ``noise:S``: Gaussian noise of standard deviation S on returned log-probabilities (renormalised);
  sampling is untouched.
- ``topk:K``: at most K log-probabilities per position are returned (``probs`` attackers get the K
  entries and a floor).
- ``temperature:T``: the served distribution is softmax(logits / T), for sampling and returned
  log-probabilities alike.
- ``no-logit-bias``: the bias steers sampling but returned log-probabilities are unbiased, as hosted
  APIs have done since March 2024 (this defeats the logit-bias recovery of Finlayson et al. 2024).
- ``samples-only``: text only, no log-probabilities.

Cost (:func:`defence_cost`): the mean KL divergence KL(served || clean) of the returned next-token
distributions over the observed positions (top-K truncation is the renormalised top K; n/a for
samples-only), and greedy agreement: the share of prompts whose greedy continuation is unchanged.
Leakage is measured by ``measure_defences``: the inverter and the ask-the-model baseline on the
defended target.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..errors import InputError, TargetError
from ..reporting import LogReporter, Reporter
from .targets import LocalTarget

__all__ = ["LMDefence", "register", "families", "parse_defences", "defended", "defence_cost", "measure_defences",
           "LMDefenceResult", "DEFAULT_DEFENCES"]

DEFAULT_DEFENCES = "noise:0.1,noise:1,topk:5,temperature:1.5,no-logit-bias,samples-only"


@dataclass(frozen=True)
class LMDefence:
    family: str
    value: float | None = None

    @property
    def spec(self) -> str:
        return self.family if self.value is None else f"{self.family}:{self.value:g}"

    def apply(self, target: LocalTarget) -> None:
        _FAMILIES[self.family].apply(self, target)


@dataclass(frozen=True)
class Family:
    name: str
    form: str  # e.g. "noise:S"
    describe: str
    takes_value: bool
    apply: Callable[[LMDefence, LocalTarget], None]


_FAMILIES: dict[str, Family] = {}


def register(family: Family) -> Family:
    _FAMILIES[family.name] = family
    return family


def families() -> list[Family]:
    return list(_FAMILIES.values())


def _noise(d: LMDefence, t: LocalTarget) -> None:
    import torch

    gen = torch.Generator().manual_seed(0)

    def f(lp):
        return (lp + d.value * torch.randn(lp.shape, generator=gen)).log_softmax(-1)

    t.returned_transform = f


def _temperature(d: LMDefence, t: LocalTarget) -> None:
    t.logits_transform = lambda logits: logits / d.value


register(Family("noise", "noise:S", "Gaussian noise (std S) on returned log-probabilities", True, _noise))
register(Family("topk", "topk:K", "at most K log-probabilities returned per position", True,
                lambda d, t: t.policy.update(topk=int(d.value))))
register(Family("temperature", "temperature:T", "served distribution softmax(logits / T)", True, _temperature))
register(Family("no-logit-bias", "no-logit-bias", "logit_bias not applied to returned log-probabilities", False,
                lambda d, t: t.policy.update(no_logit_bias=True)))
register(Family("samples-only", "samples-only", "text only, no log-probabilities", False,
                lambda d, t: t.policy.update(samples_only=True)))


def parse_defences(spec: str) -> list[LMDefence]:
    out = []
    for part in [p.strip() for p in str(spec).split(",") if p.strip()]:
        m = re.fullmatch(r"([a-z-]+)(?::([0-9.]+))?", part.lower())
        fam = _FAMILIES.get(m[1]) if m else None
        if fam is None or fam.takes_value != (m[2] is not None):
            forms = ", ".join(f.form for f in _FAMILIES.values())
            raise InputError(f"unknown LM defence '{part}': use {forms}")
        value = float(m[2]) if m[2] is not None else None
        if value is not None and value <= 0 or (fam.name == "topk" and value is not None and value != int(value)):
            raise InputError(f"LM defence '{part}': the value must be positive (K a whole number)")
        out.append(LMDefence(fam.name, value))
    if not out:
        raise InputError("no defence given: use for example noise:0.1,topk:5")
    return out


@contextmanager
def defended(target: LocalTarget, defence: LMDefence | None):
    """The target serving under ``defence`` for the duration of the block, then clean again."""
    saved = (target.logits_transform, target.returned_transform, dict(target.policy))
    try:
        if defence is not None:
            defence.apply(target)
        yield target
    finally:
        target.logits_transform, target.returned_transform, target.policy = saved


def defence_cost(target: LocalTarget, defence: LMDefence | None, prompts: Sequence[str], positions: int = 4,
                 batch_size: int = 16) -> dict:
    """``{"kl": mean KL(served || clean) or None, "greedy_agreement": share of unchanged continuations}``."""
    import torch

    kls, same = [], []
    for s in range(0, len(prompts), batch_size):
        chunk = list(prompts[s: s + batch_size])
        with defended(target, None):
            clean = target.logprobs(chunk, positions)
            clean_txt = [c[0].token_ids for c in target.complete(chunk, positions)]
        with defended(target, defence):
            txt = [c[0].token_ids for c in target.complete(chunk, positions)]
            if not target.policy.get("samples_only"):
                cap = target.policy.get("topk")
                target.policy.pop("topk", None)
                served = target.logprobs(chunk, positions)
                if cap:
                    v, ix = served.topk(int(cap), dim=-1)
                    served = torch.full_like(served, float("-inf")).scatter_(-1, ix, v).log_softmax(-1)
                q = served.exp()
                kl = torch.where(q > 0, q * (served - clean), torch.zeros_like(q)).sum(-1)
                kls.extend(kl.mean(-1).tolist())
        same.extend(float(a == b) for a, b in zip(txt, clean_txt))
    return {"kl": float(sum(kls) / len(kls)) if kls else None, "greedy_agreement": sum(same) / max(1, len(same))}


@dataclass
class LMDefenceResult:
    defence: str
    bleu: float | None
    exact_match: float | None
    token_f1: float | None
    queries_per_prompt: float | None
    ask_bleu: float | None
    kl: float | None
    greedy_agreement: float
    note: str = ""
    examples: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def measure_defences(inverter, target: LocalTarget, prompts: Sequence[str], defences: Sequence[LMDefence],
                     reporter: Reporter | None = None, positions: int | None = None,
                     baselines: bool = True) -> list[LMDefenceResult]:
    """Leakage (inverter, and ask-the-model unless ``baselines`` is False: its greedy continuations
    are most of the time) and cost of no defence and of each defence, in order."""
    from .baselines import ask_the_model
    from .evaluate import evaluate_lm, uncased

    reporter = reporter or LogReporter()
    positions = positions or max(1, inverter.access.positions)
    rows = []
    reporter.start("defences", len(defences) + 1)
    for d in [None, *defences]:
        name = "none" if d is None else d.spec
        with defended(target, d):
            note, ev = "", None
            try:
                ev = evaluate_lm(inverter, target, prompts, baselines=False)
            except TargetError as exc:
                note = f"inverter blocked: {exc}"
            ask = ask_the_model(target, prompts, normalize=uncased)["best"] if baselines else None
        cost = defence_cost(target, d, prompts, positions)
        rows.append(LMDefenceResult(name, ev.bleu if ev else None, ev.exact_match if ev else None,
                                    ev.token_f1 if ev else None, ev.queries_per_prompt if ev else None,
                                    ask["bleu"] if ask else None, cost["kl"], cost["greedy_agreement"], note,
                                    ev.examples[:5] if ev else []))
        reporter.advance("defences", 1)
    return rows
