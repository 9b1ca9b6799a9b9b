"""Defences of stored vectors, and what each costs in retrieval and buys against inversion.

- ``transforms``: the defences as callables on (n, d) arrays (noise, mask, rotate, int8, binary,
  pq, pca, ldp), one module a family, each registered with ``@register``; built from specs such
  as ``noise:0.01`` or ``pq:16x8``;
- ``retrieval``: the retrieval set (trivia questions against Wikipedia lead sections) and
  recall@10 / NDCG@10;
- ``attacks``: the attackers: least squares on leaked pairs, the inverter fine-tuned on defended
  vectors, the embedder as the attacker sees it;
- ``decision``: the leakage a decision uses, the Pareto front, the recommendation;
- ``results``: a measured defence and a whole run as dataclasses (``to_dict()``: their JSON);
- ``config``: ``DefendConfig``, the settings of a run, and ``DEFAULT_DEFENCES``;
- ``measure``: ``unembed defend``: the run (resumable);
- ``report``: the utility-against-leakage plot and the self-contained HTML report.

Layer rule: transforms know only arrays; the others use inversion (the attackers), corpus (the
texts) and the shared html/io/reporting/signature pieces. Importing this package imports only the
transforms.
"""
from . import transforms
from .transforms import (FINETUNE, LEAST_SQUARES, Defence, colour, get, haar_orthogonal, names, parse, parse_list,
                         register, registered, relative_error, spec_forms)


def __getattr__(name: str):
    if name in ("NAMES", "SPEC_FORMS"):  # read from the registry on access: late registrations count
        return getattr(transforms, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Defence", "get", "parse", "parse_list", "register", "registered", "names", "spec_forms", "colour",
           "haar_orthogonal", "relative_error", "NAMES", "SPEC_FORMS", "FINETUNE", "LEAST_SQUARES"]
