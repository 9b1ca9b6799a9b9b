"""Language-model inversion: recover a hidden prompt from what a causal LM returns.

The second flow of ARCHITECTURE.md: prompts -> target LM -> distributions / top-k log-probs /
samples -> LM inverter -> prompts -> metrics -> report.

Modules, one concept each: ``targets`` (the registry of target kinds: Gemma 3 270M, HF folders,
endpoints), ``endpoint`` (the OpenAI-compatible client), ``compact`` (the softmax-bottleneck
projection), ``access`` (probs / topk / samples), ``cache`` (resumable fp16 cache), ``model`` (the
network), ``inverter`` (folders, ``invert``), ``reobserve`` (candidates ranked by re-observing them
through the target), ``training``, ``evaluate`` (metrics + Signature),
``baselines`` (ask the model, nearest neighbour), ``defences`` (serving-side, with their cost),
``report`` (self-contained HTML), ``serve`` (a loopback OpenAI-compatible server).

Layer rule: imports shared modules, ``inversion`` (models, tokenization, weights, training loop) and
``corpus`` (prompts); nothing imports it but the command line.
"""
from .access import Access, Observation, parse_access
from .compact import SpanProjection
from .inverter import LMInverter, load_lm_inverter
from .reobserve import recover
from .targets import GEMMA, Target, load_target

__all__ = ["Access", "Observation", "parse_access", "SpanProjection", "LMInverter", "load_lm_inverter", "recover",
           "GEMMA", "Target", "load_target"]
