"""Defences: transforms applied to embedding vectors before they are stored; one module a family.

Each defence is a callable on an ``(n, d)`` float array that returns an ``(n, d)`` float32 array: the
vectors a reader of the store can compute from what is stored plus the defence's public parameters
(PQ codebooks, PCA basis, int8 ranges). Compressing defences therefore return their *reconstruction*
in the original space; storing the codes instead is equivalent, since the reconstruction is a fixed
function of them. Keyed defences (rotation, masking) keep their seed secret from the attacker.

``defence.queries(q)`` is what the service does to a query vector before searching the defended
vectors: nothing, unless the defence changes the space (rotation, binary codes), since queries are
computed at query time and never stored.

=========== ====================== ============================================================
spec        ``get(name, ...)``     transform
=========== ====================== ============================================================
none        ``get("none")``        identity (the undefended baseline)
noise:S     ``scale=S``            e + S * N(0, I) (Morris et al., EMNLP 2023, section 8)
mask:F      ``fraction=F, seed``   a secret, seeded set of round(F * d) dimensions set to zero
rotate:SEED ``seed=SEED``          e @ Q, Q a Haar-random orthogonal matrix drawn from a secret seed
int8        ``get("int8")``        per-dimension scalar quantisation to 256 levels (ranges fitted)
binary      ``get("binary")``      sign(e) / sqrt(d): one bit per dimension (Hamming search)
pq:MxB      ``m=M, nbits=B``       product quantisation, M sub-vectors of B bits (Jegou et al. 2011; faiss)
pca:K       ``k=K``                projection on the top-K principal components (fitted), back in R^d
ldp:EPS     ``epsilon=EPS, clip``  Laplace mechanism, epsilon-local differential privacy (``ldp.py``)
=========== ====================== ============================================================

Defences that need fitting (pq, pca, int8) are fitted with :meth:`Defence.fit` on a corpus sample,
never on the texts they are evaluated on; calling one unfitted is an :class:`InputError`.

Adding a defence is adding one module here (or anywhere: a plug-in, a test) whose :class:`Defence`
subclass is decorated with :func:`register`; ``get``, ``parse``, ``parse_list``, ``NAMES``,
``SPEC_FORMS``, the plot's colours and ``unembed defend --help`` then know it. Every module of this
package is imported here: the built-in families in the order of :data:`BUILTIN` (the order of the
help and of error messages), then any other module in name order (``base``, ``registry`` and
``_*`` modules register nothing).
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import FINETUNE, LEAST_SQUARES, Defence, relative_error
from .registry import colour, get, names, parameters, parse, parse_list, register, registered, spec_forms

#: The built-in families, in the order they are listed.
BUILTIN = ("none", "noise", "mask", "rotate", "int8", "binary", "pq", "pca", "ldp")


def _load_all() -> None:
    rest = sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if m.name not in BUILTIN and m.name not in ("base", "registry") and not m.name.startswith("_"))
    for name in BUILTIN + tuple(rest):
        importlib.import_module(f"{__name__}.{name}")


_load_all()

from .binary import Binary  # noqa: E402  (registered above, in BUILTIN's order)
from .int8 import Int8  # noqa: E402
from .ldp import LaplaceLDP  # noqa: E402
from .mask import Mask  # noqa: E402
from .noise import GaussianNoise  # noqa: E402
from .none import NoDefence  # noqa: E402
from .pca import PCA  # noqa: E402
from .pq import ProductQuantization  # noqa: E402
from .rotate import Rotation, haar_orthogonal  # noqa: E402


def __getattr__(name: str):
    if name in ("NAMES", "SPEC_FORMS"):  # read from the registry on access: late registrations count
        return names() if name == "NAMES" else spec_forms()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Defence", "GaussianNoise", "Mask", "Rotation", "Int8", "Binary", "ProductQuantization", "PCA",
           "LaplaceLDP", "NoDefence", "get", "parse", "parse_list", "register", "registered", "names", "spec_forms",
           "colour", "parameters", "haar_orthogonal", "relative_error", "NAMES", "SPEC_FORMS", "FINETUNE",
           "LEAST_SQUARES", "BUILTIN"]
