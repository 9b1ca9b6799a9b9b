"""Defences: transforms applied to embedding vectors before they are stored.

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
ldp:EPS     ``epsilon=EPS, clip``  Laplace mechanism, epsilon-local differential privacy (below)
=========== ====================== ============================================================

``mask:F`` takes the *fraction* of dimensions masked, 0 <= F < 1 (``mask:0.5`` zeroes half of them).

The Laplace mechanism (Dwork & Roth, "The Algorithmic Foundations of Differential Privacy", 2014,
Theorem 3.6) releases ``M(e) = clip(e) + Lap(0, b)^d`` with ``b = Delta / epsilon``. ``clip`` scales a
vector down to L1 norm at most ``C``; any two clipped vectors then differ by at most ``Delta = 2C`` in
L1 norm, which is the sensitivity assumed, so every stored vector is epsilon-DP on its own (local DP:
no trusted curator). ``C`` defaults to ``sqrt(d)``, the largest L1 norm of a vector of L2 norm 1, so
unit-normalised embeddings (MiniLM's) pass unclipped and ``b = 2 sqrt(d) / epsilon`` (4.9 per
coordinate for d = 384, epsilon = 8). Whole-vector epsilon-LDP in hundreds of dimensions needs very
large epsilon to keep any utility; papers that report small losses often clip each coordinate and
account per coordinate, which is a much weaker guarantee.

Defences that need fitting (pq, pca, int8) are fitted with :meth:`Defence.fit` on a corpus sample,
never on the texts they are evaluated on; calling one unfitted is an :class:`InputError`.
"""
from __future__ import annotations

import math
import re
from typing import Callable

import numpy as np

from ..errors import InputError
from ..vectors import check_vectors

#: Defences with an attacker that fine-tunes the inverter on defended vectors; the keyed ones
#: (rotation, masking) are attacked with a least-squares map fitted on leaked (text, vector) pairs.
FINETUNE = "finetune"
LEAST_SQUARES = "least_squares"


class Defence:
    """A transform on (n, d) vectors. Subclasses set ``family`` and implement :meth:`_apply`."""

    family = "none"
    needs_fit = False
    deterministic = True  # the same input always gives the same output
    attack = FINETUNE  # how the adaptive attacker attacks it: FINETUNE, LEAST_SQUARES or None
    strength_name = ""

    def __init__(self) -> None:
        self.dim: int | None = None
        self.fit_info: dict = {}

    # -- naming ----------------------------------------------------------------------------------
    @property
    def spec(self) -> str:
        """The command-line name, e.g. ``noise:0.01``; :func:`parse` turns it back into this defence."""
        return self.family

    @property
    def strength(self) -> float:
        """A number ordering defences of one family from weak to strong (for curves)."""
        return 0.0

    def describe(self) -> str:
        return "no defence: vectors stored as the embedder returns them"

    def __repr__(self) -> str:
        return f"Defence({self.spec})"

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, vectors) -> "Defence":
        """Fit on a corpus sample (a no-op for defences without parameters to fit); returns self."""
        x = check_vectors(vectors, what="vectors to fit the defence on")
        self.dim = x.shape[1]
        self._fit(x.astype(np.float64))
        self.fitted = True
        return self

    def _fit(self, x: np.ndarray) -> None:
        pass

    fitted = False

    # -- applying --------------------------------------------------------------------------------
    def _check(self, vectors, what: str) -> np.ndarray:
        if self.needs_fit and not self.fitted:
            raise InputError(f"defence {self.spec} must be fitted on a corpus sample first: call .fit(vectors)")
        x = check_vectors(vectors, self.dim if self.needs_fit else None, what=what)
        if self.needs_fit and x.shape[1] != self.dim:  # pragma: no cover - check_vectors raises first
            raise InputError(f"{what} have dimension {x.shape[1]}; {self.spec} was fitted on {self.dim}")
        return x

    def __call__(self, vectors) -> np.ndarray:
        """The defended copy of ``vectors`` (n, d), as float32."""
        x = self._check(vectors, f"vectors given to {self.spec}")
        return np.ascontiguousarray(self._apply(x.astype(np.float64)), dtype=np.float32)

    def _apply(self, x: np.ndarray) -> np.ndarray:
        return x

    def queries(self, vectors) -> np.ndarray:
        """What the service does to query vectors before searching defended vectors."""
        x = self._check(vectors, f"query vectors given to {self.spec}")
        return np.ascontiguousarray(self._query(x.astype(np.float64)), dtype=np.float32)

    def _query(self, x: np.ndarray) -> np.ndarray:
        return x

    def attacker_view(self, vectors) -> np.ndarray:
        """An attacker who knows the defence but not its secrets maps clean vectors (the re-embeddings
        of candidate texts) into the defended space with this: the transform itself when it is
        deterministic and keyless, its expectation when it is random."""
        x = self._check(vectors, f"vectors given to {self.spec}")
        return np.ascontiguousarray(self._view(x.astype(np.float64)), dtype=np.float32)

    def _view(self, x: np.ndarray) -> np.ndarray:
        return self._apply(x)

    def details(self) -> dict:
        """Parameters and fitted facts worth reporting (e.g. reconstruction error on the fit sample)."""
        return dict(self.fit_info)


# --------------------------------------------------------------------------------------------------
# The defences
# --------------------------------------------------------------------------------------------------


class NoDefence(Defence):
    attack = None


class GaussianNoise(Defence):
    """``e + scale * N(0, I)``, fresh noise on every call (Morris et al., EMNLP 2023, Table 7)."""

    family = "noise"
    deterministic = False
    strength_name = "scale"

    def __init__(self, scale: float, seed: int = 0):
        super().__init__()
        self.scale = _number(scale, "noise scale", self.family, low=0.0)
        self.seed = _seed(seed, self.family)
        self.rng = np.random.default_rng([self.seed, 101])

    @property
    def spec(self) -> str:
        return f"noise:{_fmt(self.scale)}"

    @property
    def strength(self) -> float:
        return self.scale

    def describe(self) -> str:
        return f"Gaussian noise e + {_fmt(self.scale)} * N(0, I) added to stored vectors; queries unchanged"

    def _apply(self, x):
        return x + self.scale * self.rng.standard_normal(x.shape)

    def _view(self, x):
        return x  # zero-mean noise: the clean vector is its expectation

    def details(self):
        return {"scale": self.scale, "seed": self.seed}


class Mask(Defence):
    """A secret, seeded set of ``round(fraction * d)`` dimensions set to zero, in stored vectors and
    (to the same effect) queries."""

    family = "mask"
    attack = LEAST_SQUARES
    strength_name = "fraction masked"

    def __init__(self, fraction: float, seed: int = 0):
        super().__init__()
        self.fraction = _number(fraction, "mask fraction", self.family, low=0.0)
        if not self.fraction < 1.0:
            raise InputError(f"the fraction of dimensions masked must be in [0, 1), not {fraction:g} "
                             "(mask:0.5 masks half of them)")
        self.seed = _seed(seed, self.family)

    @property
    def spec(self) -> str:
        return f"mask:{_fmt(self.fraction)}"

    @property
    def strength(self) -> float:
        return self.fraction

    def describe(self) -> str:
        return f"{_fmt(100 * self.fraction)}% of the dimensions (a secret seeded choice) set to zero"

    def dims(self, d: int) -> np.ndarray:
        """The masked dimensions for vectors of dimension ``d``, sorted."""
        count = int(round(self.fraction * d))
        return np.sort(np.random.default_rng([self.seed, 202, d]).permutation(d)[:count])

    def _apply(self, x):
        out = x.copy()
        out[:, self.dims(x.shape[1])] = 0.0
        return out

    _query = _apply

    def details(self):
        return {"fraction": self.fraction, "seed": self.seed}


def haar_orthogonal(d: int, seed: int) -> np.ndarray:
    """A (d, d) orthogonal matrix drawn uniformly (Haar measure) from ``seed``: QR of a Gaussian
    matrix with the signs of R's diagonal moved into Q (Mezzadri, "How to generate random matrices
    from the classical compact groups", Notices of the AMS, 2007)."""
    g = np.random.default_rng([seed, 303, d]).standard_normal((d, d))
    q, r = np.linalg.qr(g)
    return q * np.sign(np.diag(r))


class Rotation(Defence):
    """``e @ Q`` with Q orthogonal from a secret seed; queries are rotated too, so every inner
    product, norm and search result is unchanged."""

    family = "rotate"
    attack = LEAST_SQUARES

    def __init__(self, seed: int):
        super().__init__()
        self.seed = _seed(seed, self.family)
        self._q: dict[int, np.ndarray] = {}

    @property
    def spec(self) -> str:
        return f"rotate:{self.seed}"

    def describe(self) -> str:
        return "random orthogonal rotation (secret seed) of stored vectors and queries"

    def matrix(self, d: int) -> np.ndarray:
        if d not in self._q:
            self._q[d] = haar_orthogonal(d, self.seed)
        return self._q[d]

    def _apply(self, x):
        return x @ self.matrix(x.shape[1])

    _query = _apply

    def details(self):
        return {"seed": "secret (given on the command line)"}


class Int8(Defence):
    """Scalar quantisation: each dimension's range [lo, hi] (fitted) cut into 256 levels. A value
    inside its range comes back within half a step, ``(hi - lo) / 255 / 2``; values outside are
    clipped to the range first."""

    family = "int8"
    needs_fit = True
    levels = 256

    def describe(self) -> str:
        return "scalar int8 quantisation, per-dimension ranges fitted on a corpus sample"

    def _fit(self, x):
        self.lo = x.min(axis=0)
        hi = x.max(axis=0)
        self.step = np.maximum(hi - self.lo, 1e-12) / (self.levels - 1)
        self.fit_info = {"relative_l2_error_fit": relative_error(x, self._apply(x)),
                         "max_step": float(self.step.max())}

    def codes(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint((x - self.lo) / self.step), 0, self.levels - 1).astype(np.uint8)

    def _apply(self, x):
        return self.lo + self.codes(x).astype(np.float64) * self.step


class Binary(Defence):
    """One bit per dimension: ``sign(e) / sqrt(d)`` (zero counts as positive). Queries are binarised
    too, so that search is by Hamming distance: ``<b(q), b(e)> = 1 - 2 * hamming / d``."""

    family = "binary"

    def describe(self) -> str:
        return "binary quantisation: sign of each dimension (1 bit), Hamming search"

    def _apply(self, x):
        return np.where(x >= 0, 1.0, -1.0) / math.sqrt(x.shape[1])

    _query = _apply


class ProductQuantization(Defence):
    """Product quantisation (Jegou, Douze & Schmid, "Product quantization for nearest neighbor
    search", IEEE TPAMI 2011) with faiss: the vector is cut into ``m`` sub-vectors, each replaced by
    the nearest of ``2**nbits`` centroids learnt by k-means on a corpus sample. Queries stay exact
    (asymmetric distance computation)."""

    family = "pq"
    needs_fit = True

    def __init__(self, m: int, nbits: int = 8):
        super().__init__()
        self.m = _integer(m, "number of PQ sub-vectors", self.family, low=1)
        self.nbits = _integer(nbits, "PQ bits per sub-vector", self.family, low=1)
        if self.nbits > 16:
            raise InputError(f"use at most 16 bits per PQ sub-vector, not {nbits}")

    @property
    def spec(self) -> str:
        return f"pq:{self.m}x{self.nbits}"

    @property
    def strength(self) -> float:
        return -float(self.m * self.nbits)  # fewer bits: stronger

    def describe(self) -> str:
        return f"product quantisation, {self.m} sub-vectors x {self.nbits} bits ({self.m * self.nbits} bits a vector)"

    def _fit(self, x):
        try:
            import faiss
        except ImportError:
            raise InputError("the pq defence needs faiss: pip install 'unembed[faiss]' (faiss-cpu)") from None
        d = x.shape[1]
        if d % self.m:
            raise InputError(f"{self.spec}: the dimension {d} is not divisible by {self.m} sub-vectors; "
                             f"choose m among {', '.join(str(k) for k in range(1, d + 1) if d % k == 0 and k <= 64)}")
        k = 2 ** self.nbits
        if len(x) < k:
            raise InputError(f"{self.spec} needs at least {k} vectors to fit its {k} centroids, got {len(x)}: "
                             "fit it on more texts or use fewer bits")
        self.pq = faiss.ProductQuantizer(d, self.m, self.nbits)
        self.pq.cp.seed = 1234
        # faiss asks for 39 points per centroid and prints a warning below that; say it here instead.
        self.pq.cp.min_points_per_centroid = 1
        self.pq.train(np.ascontiguousarray(x, dtype=np.float32))
        self.fit_info = {"relative_l2_error_fit": relative_error(x, self._apply(x)), "fit_vectors": len(x)}
        if len(x) < 39 * k:
            self.fit_info["note"] = (f"fitted on {len(x)} vectors, fewer than the {39 * k} faiss recommends for "
                                     f"{k} centroids: the reconstruction error is optimistic on the fit sample")

    def _apply(self, x):
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        return self.pq.decode(self.pq.compute_codes(x32)).astype(np.float64)


class PCA(Defence):
    """Truncation to the top ``k`` principal components (fitted on a corpus sample):
    ``mu + (e - mu) V_k V_k^T``. Storing the k coefficients is equivalent given the basis; queries
    need no change (``<q, mu + P(e - mu)>`` ranks as ``<Pq, P(e - mu)>``)."""

    family = "pca"
    needs_fit = True

    def __init__(self, k: int):
        super().__init__()
        self.k = _integer(k, "number of PCA components", self.family, low=1)

    @property
    def spec(self) -> str:
        return f"pca:{self.k}"

    @property
    def strength(self) -> float:
        return -float(self.k)

    def describe(self) -> str:
        return f"projection on the top {self.k} principal components (fitted on a corpus sample)"

    def _fit(self, x):
        n, d = x.shape
        if self.k > d:
            raise InputError(f"{self.spec}: k = {self.k} is more than the dimension {d}; use pca:K with K <= {d}")
        self.mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.components = vt[: self.k]  # (k, d), orthonormal rows
        var = s ** 2
        self.fit_info = {"explained_variance_fit": float(var[: self.k].sum() / max(var.sum(), 1e-300)),
                         "relative_l2_error_fit": relative_error(x, self._apply(x)), "fit_vectors": n}

    def _apply(self, x):
        return self.mean + ((x - self.mean) @ self.components.T) @ self.components


class LaplaceLDP(Defence):
    """The Laplace mechanism for epsilon-local differential privacy; see the module docstring for the
    sensitivity: ``clip(e) + Lap(0, 2C / epsilon)^d`` with ``clip`` to L1 norm ``C`` (default sqrt(d))."""

    family = "ldp"
    deterministic = False
    strength_name = "1 / epsilon"

    def __init__(self, epsilon: float, clip: float | None = None, seed: int = 0):
        super().__init__()
        self.epsilon = _number(epsilon, "ldp epsilon", self.family, low=0.0)
        if self.epsilon <= 0:
            raise InputError(f"the ldp epsilon must be > 0, not {epsilon:g}")
        self.clip = None if clip is None else _number(clip, "L1 clipping norm", self.family, low=0.0)
        if self.clip is not None and self.clip <= 0:
            raise InputError("the L1 clipping norm of ldp must be > 0")
        self.seed = _seed(seed, self.family)
        self.rng = np.random.default_rng([self.seed, 404])

    @property
    def spec(self) -> str:
        return f"ldp:{_fmt(self.epsilon)}"

    @property
    def strength(self) -> float:
        return 1.0 / self.epsilon

    def clip_norm(self, d: int) -> float:
        return self.clip if self.clip is not None else math.sqrt(d)

    def sensitivity(self, d: int) -> float:
        """L1 sensitivity: the largest L1 distance between two clipped vectors, 2C."""
        return 2.0 * self.clip_norm(d)

    def laplace_scale(self, d: int) -> float:
        return self.sensitivity(d) / self.epsilon

    def describe(self) -> str:
        c = "sqrt(d)" if self.clip is None else _fmt(self.clip)
        return (f"Laplace mechanism, epsilon = {_fmt(self.epsilon)} per vector: L1 clip to C = {c}, "
                f"noise Lap(2C / epsilon) per dimension; queries unchanged")

    def clipped(self, x: np.ndarray) -> np.ndarray:
        c = self.clip_norm(x.shape[1])
        l1 = np.abs(x).sum(axis=1, keepdims=True)
        return x * np.minimum(1.0, c / np.maximum(l1, 1e-300))

    def _apply(self, x):
        return self.clipped(x) + self.rng.laplace(0.0, self.laplace_scale(x.shape[1]), x.shape)

    def _view(self, x):
        return self.clipped(x)  # the mechanism's expectation

    def details(self):
        d = self.dim
        out = {"epsilon": self.epsilon, "clip_l1": "sqrt(d)" if self.clip is None else self.clip,
               "sensitivity_l1": "2C", "seed": self.seed}
        if d:
            out.update(clip_l1_value=self.clip_norm(d), laplace_scale=self.laplace_scale(d))
        return out


# --------------------------------------------------------------------------------------------------
# Names, parameters and specs
# --------------------------------------------------------------------------------------------------

_FACTORIES: dict[str, tuple[Callable[..., Defence], tuple[str, ...]]] = {
    "none": (NoDefence, ()),
    "noise": (GaussianNoise, ("scale", "seed")),
    "mask": (Mask, ("fraction", "seed")),
    "rotate": (Rotation, ("seed",)),
    "int8": (Int8, ()),
    "binary": (Binary, ()),
    "pq": (ProductQuantization, ("m", "nbits")),
    "pca": (PCA, ("k",)),
    "ldp": (LaplaceLDP, ("epsilon", "clip", "seed")),
}
SPEC_FORMS = ("none", "noise:SCALE", "mask:FRACTION", "rotate:SEED", "int8", "binary", "pq:MxBITS", "pca:K", "ldp:EPSILON")
NAMES = tuple(_FACTORIES)


def get(name: str, **params) -> Defence:
    """A defence by name with its parameters, e.g. ``get("noise", scale=0.01)``, ``get("pq", m=16, nbits=8)``,
    ``get("rotate", seed=7)``. The result is a callable on (n, d) arrays (fit it first if ``needs_fit``)."""
    if name not in _FACTORIES:
        raise InputError(f"unknown defence '{name}': use one of {', '.join(NAMES)}")
    factory, allowed = _FACTORIES[name]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        takes = ", ".join(allowed) if allowed else "no parameters"
        raise InputError(f"defence '{name}' has no parameter {', '.join(unknown)}: it takes {takes}")
    try:
        return factory(**params)
    except TypeError:
        raise InputError(f"defence '{name}' needs its parameter(s) {', '.join(allowed)}") from None


_PQ = re.compile(r"^(\d+)x(\d+)$")


def parse(spec: str) -> Defence:
    """A defence from its command-line name: ``noise:0.01``, ``mask:0.5``, ``rotate:7``, ``int8``,
    ``binary``, ``pq:16x8``, ``pca:128``, ``ldp:8`` or ``none``."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"empty defence name: use one of {', '.join(SPEC_FORMS)}")
    spec = spec.strip()
    name, _, arg = spec.partition(":")
    name = name.strip().lower()
    arg = arg.strip()
    if name not in _FACTORIES:
        raise InputError(f"unknown defence '{spec}': use one of {', '.join(SPEC_FORMS)}")
    form = next(f for f in SPEC_FORMS if f.split(":")[0] == name)
    if ":" not in form:
        if arg:
            raise InputError(f"defence '{name}' takes no parameter (got '{spec}')")
        return get(name)
    if not arg:
        raise InputError(f"defence '{name}' needs a parameter: write it as {form}")
    try:  # only the conversions: an InputError of the defence itself (also a ValueError) must pass
        if name == "pq":
            m = _PQ.match(arg)
            if not m:
                raise ValueError(arg)
            params = {"m": int(m.group(1)), "nbits": int(m.group(2))}
        else:
            key, kind = {"noise": ("scale", float), "mask": ("fraction", float), "rotate": ("seed", int),
                         "pca": ("k", int), "ldp": ("epsilon", float)}[name]
            params = {key: kind(arg)}
    except ValueError:
        raise InputError(f"bad parameter in '{spec}': write it as {form}") from None
    try:
        return get(name, **params)
    except InputError as exc:
        raise InputError(f"bad parameter in '{spec}': {exc}") from None


def parse_list(specs) -> list[Defence]:
    """Defences from comma-separated specs (a string or a list of strings); duplicates refused."""
    items = [specs] if isinstance(specs, str) else list(specs)
    out = [parse(s) for item in items for s in str(item).split(",") if s.strip()]
    if not out:
        raise InputError(f"no defence given: use one or more of {', '.join(SPEC_FORMS)}, comma-separated")
    seen: set[str] = set()
    for d in out:
        if d.spec in seen:
            raise InputError(f"defence {d.spec} is listed twice")
        seen.add(d.spec)
    return out


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def relative_error(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over rows of ||x - y|| / ||x||: the relative L2 error of a reconstruction y of x."""
    num = np.linalg.norm(np.asarray(x, np.float64) - np.asarray(y, np.float64), axis=1)
    return float(np.mean(num / np.maximum(np.linalg.norm(np.asarray(x, np.float64), axis=1), 1e-12)))


def _fmt(x: float) -> str:
    return f"{x:g}"


def _number(value, what: str, family: str, low: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"the {what} must be a number, not {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low:
        raise InputError(f"the {what} must be a finite number >= {low:g}, not {value:g}")
    return value


def _integer(value, what: str, family: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"the {what} must be an integer >= {low}, not {value!r}")
    return int(value)


def _seed(value, family: str) -> int:
    return _integer(value, f"{family} seed", family, low=0)


__all__ = ["Defence", "GaussianNoise", "Mask", "Rotation", "Int8", "Binary", "ProductQuantization", "PCA",
           "LaplaceLDP", "NoDefence", "get", "parse", "parse_list", "haar_orthogonal", "relative_error",
           "NAMES", "SPEC_FORMS", "FINETUNE", "LEAST_SQUARES"]
