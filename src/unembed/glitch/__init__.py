"""Glitch-token audits: find the under-trained tokens of a vocabulary, and compare the ways to find them."""
from .audit import (CARRIERS, REPEAT_PROMPTS, VocabModel, audit_vocabulary, crossfit_magikarp, fill, kmeans, known_unused,
                    load_vocab_model, placeholder_for, resolve_inverter, roc_auc, tokenizer_checks)

__all__ = ["CARRIERS", "REPEAT_PROMPTS", "VocabModel", "audit_vocabulary", "crossfit_magikarp", "fill", "kmeans",
           "known_unused", "load_vocab_model", "placeholder_for", "resolve_inverter", "roc_auc", "tokenizer_checks"]
