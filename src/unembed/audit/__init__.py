"""Vector-store audits: read a store's vectors read-only, recover their texts, report what leaks.

- ``stores``: one read-only reader a store, found by URI scheme through a registry;
- ``audit``: the audit job (embedder check, inversion, scores, sensitive items, resume);
- ``report``: the self-contained HTML report.
"""
from .audit import DETECTION, KINDS, Audit, audit, check_fit, find_items, score_record, summarize

__all__ = ["Audit", "audit", "check_fit", "find_items", "score_record", "summarize", "DETECTION", "KINDS"]
