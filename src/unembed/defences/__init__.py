"""Defences of stored vectors, and what each costs in retrieval and buys against inversion.

- ``transforms``: the defences as callables on (n, d) arrays (noise, mask, rotate, int8, binary,
  pq, pca, ldp), built from specs such as ``noise:0.01`` or ``pq:16x8``;
- ``measure``: ``unembed defend``: retrieval utility, leakage to a non-adaptive and an adaptive
  attacker, the recommendation and the report.

Layer rule: transforms know only arrays; measure uses inversion (the attackers), corpus (the texts)
and the shared html/signature pieces.
"""
from .transforms import (FINETUNE, LEAST_SQUARES, NAMES, SPEC_FORMS, Defence, get, haar_orthogonal, parse, parse_list,
                         relative_error)

__all__ = ["Defence", "get", "parse", "parse_list", "haar_orthogonal", "relative_error", "NAMES", "SPEC_FORMS",
           "FINETUNE", "LEAST_SQUARES"]
