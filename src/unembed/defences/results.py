"""What a ``defend`` run returns: one :class:`DefenceResult` a defence and a :class:`DefendResult`.

``DefenceResult.to_dict()`` is the JSON record of a defence (a line of ``results.jsonl``, an item of
``results.json``'s ``defences``, what ``--json`` prints from); ``DefendResult.to_dict()`` is
``results.json``. Leakage and attack entries stay dicts: their keys are the metrics of
``metrics.score`` (``LEAK_KEYS`` and more) and each attacker's own facts.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..signature import Signature
from .decision import DECISION_KEYS

__all__ = ["LEAK_KEYS", "DefenceResult", "DefendResult"]

#: The leakage metrics every attacker's entry has (BLEU, token F1, exact match 0-100; cosine -1..1).
LEAK_KEYS = ("bleu", "token_f1", "exact_match", "cosine")


def _signature_dict(sig: Signature | dict) -> dict:
    return sig.to_dict() if isinstance(sig, Signature) else dict(sig)


@dataclass
class DefenceResult:
    """One defence measured: its utility, its leakage to every attacker, and (once the run decides)
    its place in the decision. ``signature`` is the run's (a dict when read back from results.jsonl)."""

    defence: str  # its spec
    family: str
    strength: float
    description: str
    recall_at_10: float
    ndcg_at_10: float
    leakage: dict  # {"non_adaptive": {...}, "adaptive": {...}}: the adaptive one is the strongest run
    attacks: list[dict]  # every adaptive attacker run
    distortion: float  # mean ||D(e) - e|| / ||e|| over the inverted texts' vectors
    details: dict  # the defence's parameters and fitted facts
    examples: list[dict]  # the first texts: original, non_adaptive, adaptive
    seconds: float
    signature: Signature | dict | None = None
    leakage_for_decision: float | None = None  # set by the decision (decision.recommend)
    adaptive_measured: bool | None = None
    pareto: bool | None = None
    recommended: bool | None = None

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name != "signature" and f.name not in DECISION_KEYS}
        if self.signature is not None:
            out["signature"] = _signature_dict(self.signature)
        out.update({k: getattr(self, k) for k in DECISION_KEYS if getattr(self, k) is not None})
        return out

    @classmethod
    def from_dict(cls, record: dict) -> "DefenceResult":
        """A record as :meth:`to_dict` wrote it (a line of results.jsonl)."""
        return cls(**{f.name: record[f.name] for f in fields(cls) if f.name in record})

    def decide(self, record: dict) -> None:
        """Take the decision's fields from ``record``, this result's dict after ``recommend``."""
        for k in DECISION_KEYS:
            setattr(self, k, record[k])

    def __getitem__(self, key: str) -> Any:
        """The JSON form's field (for callers of the dict this replaces)."""
        return self.to_dict()[key]


@dataclass
class DefendResult:
    """A whole run: how it was computed, the recommendation, the retrieval set, the settings, and
    every defence in the order measured (``none`` first)."""

    signature: Signature
    threshold: float
    recommendation: dict
    retrieval: dict  # the retrieval set's facts, with the undefended recall@10 and NDCG@10
    settings: dict  # the DefendConfig, as JSON
    defences: list[DefenceResult] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"signature": _signature_dict(self.signature), "threshold": self.threshold,
                "recommendation": self.recommendation, "retrieval": self.retrieval, "settings": self.settings,
                "defences": [d.to_dict() for d in self.defences]}

    def __getitem__(self, key: str) -> Any:
        """The JSON form's field (for callers of the dict this replaces)."""
        return self.to_dict()[key]
