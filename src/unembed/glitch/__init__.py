"""Glitch-token audits: find the under-trained tokens of a vocabulary, and compare the ways to find them.

One module a concept: :mod:`.models` (the model under audit), :mod:`.tokenizer` (vocabulary,
special and known-unused tokens, reachability and round-trip checks), :mod:`.indicators`
(clustering, weight indicators and their statistics), :mod:`.behaviour` (verification by carrier
sentences, repeat prompts and an inverter), :mod:`.audit` (the audit that runs them all and its
:class:`GlitchAudit` result) and :mod:`.report` (the HTML page).
"""
from .audit import GlitchAudit, audit_vocabulary
from .behaviour import CARRIERS, REPEAT_PROMPTS, fill, placeholder_for, resolve_inverter
from .indicators import crossfit_magikarp, kmeans, roc_auc
from .models import VocabModel, load_vocab_model
from .report import render_report
from .tokenizer import known_unused, tokenizer_checks

__all__ = ["CARRIERS", "REPEAT_PROMPTS", "GlitchAudit", "VocabModel", "audit_vocabulary", "crossfit_magikarp", "fill",
           "kmeans", "known_unused", "load_vocab_model", "placeholder_for", "render_report", "resolve_inverter",
           "roc_auc", "tokenizer_checks"]
