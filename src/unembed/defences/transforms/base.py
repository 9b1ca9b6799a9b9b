"""The base class of every defence, and the checks and helpers the defences share.

A defence subclasses :class:`Defence`, declares what the registry reads (``family``, ``spec_form``,
``spec_param`` and ``spec_type`` or :meth:`Defence.spec_params`, ``colour``, ``description``) and
overrides the hooks it needs (:meth:`Defence.transform`, :meth:`Defence.transform_queries`,
:meth:`Defence.transform_for_attacker`, :meth:`Defence.fit_array`), all on checked float64 arrays.
``get()`` takes the parameters of its ``__init__``. Then ``@register`` (``registry.py``) makes it
known to ``get``, ``parse``, the command line's help and the plot.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import InputError
from ...vectors import check_vectors

__all__ = ["Defence", "FINETUNE", "LEAST_SQUARES", "relative_error", "fmt", "check_number", "check_integer",
           "check_seed"]

#: Defences with an attacker that fine-tunes the inverter on defended vectors; the keyed ones
#: (rotation, masking) are attacked with a least-squares map fitted on leaked (text, vector) pairs.
FINETUNE = "finetune"
LEAST_SQUARES = "least_squares"


class Defence:
    """A transform on (n, d) vectors. Subclasses set ``family`` and override :meth:`transform`."""

    # -- what the registry reads -----------------------------------------------------------------
    family = "none"  # the name before the colon of a spec
    spec_form = "none"  # how the spec is written on the command line: "none", "noise:SCALE", "pq:MxBITS"
    spec_param: str | None = None  # the parameter (and attribute) a one-argument spec sets, e.g. "scale"
    spec_type: type = float  # how that argument is read: float or int
    colour = "#555555"  # of the family's curve in the utility-against-leakage plot
    description = "no defence: vectors stored as the embedder returns them"  # formatted with d=self

    needs_fit = False
    deterministic = True  # the same input always gives the same output
    attack: str | None = FINETUNE  # how the adaptive attacker attacks it: FINETUNE, LEAST_SQUARES or None
    strength_name = ""
    fitted = False

    def __init__(self) -> None:
        self.dim: int | None = None
        self.fit_info: dict = {}

    # -- naming ----------------------------------------------------------------------------------
    @classmethod
    def takes_argument(cls) -> bool:
        """Whether the spec has an argument after the colon (``noise:0.01``) or none (``int8``)."""
        return ":" in cls.spec_form

    @classmethod
    def spec_params(cls, arg: str) -> dict:
        """The ``get()`` parameters a spec's argument stands for (``"0.01"`` -> ``{"scale": 0.01}``);
        a malformed argument raises ValueError. Families whose argument is not one number override it."""
        return {cls.spec_param: cls.spec_type(arg)}

    @property
    def spec_argument(self) -> str:
        """The spec's argument, the inverse of :meth:`spec_params`."""
        return fmt(getattr(self, self.spec_param))

    @property
    def spec(self) -> str:
        """The command-line name, e.g. ``noise:0.01``; ``parse`` turns it back into this defence."""
        return f"{self.family}:{self.spec_argument}" if self.takes_argument() else self.family

    @property
    def strength(self) -> float:
        """A number ordering defences of one family from weak to strong (for curves)."""
        return 0.0

    def describe(self) -> str:
        return self.description.format(d=self)

    def __repr__(self) -> str:
        return f"Defence({self.spec})"

    # -- fitting ---------------------------------------------------------------------------------
    def fit(self, vectors) -> "Defence":
        """Fit on a corpus sample (a no-op for defences without parameters to fit); returns self."""
        x = check_vectors(vectors, what="vectors to fit the defence on")
        self.dim = x.shape[1]
        self.fit_array(x.astype(np.float64))
        self.fitted = True
        return self

    def fit_array(self, x: np.ndarray) -> None:
        """Fit the defence's parameters on a checked float64 sample (hook of :meth:`fit`)."""

    # -- applying --------------------------------------------------------------------------------
    def _check(self, vectors, what: str) -> np.ndarray:
        if self.needs_fit and not self.fitted:
            raise InputError(f"defence {self.spec} must be fitted on a corpus sample first: call .fit(vectors)")
        x = check_vectors(vectors, self.dim if self.needs_fit else None, what=what)
        if self.needs_fit and x.shape[1] != self.dim:  # pragma: no cover - check_vectors raises first
            raise InputError(f"{what} have dimension {x.shape[1]}; {self.spec} was fitted on {self.dim}")
        return x

    def _run(self, hook, vectors, what: str) -> np.ndarray:
        x = self._check(vectors, what)
        return np.ascontiguousarray(hook(x.astype(np.float64)), dtype=np.float32)

    def __call__(self, vectors) -> np.ndarray:
        """The defended copy of ``vectors`` (n, d), as float32."""
        return self._run(self.transform, vectors, f"vectors given to {self.spec}")

    def queries(self, vectors) -> np.ndarray:
        """What the service does to query vectors before searching defended vectors."""
        return self._run(self.transform_queries, vectors, f"query vectors given to {self.spec}")

    def attacker_view(self, vectors) -> np.ndarray:
        """An attacker who knows the defence but not its secrets maps clean vectors (the re-embeddings
        of candidate texts) into the defended space with this: the transform itself when it is
        deterministic and keyless, its expectation when it is random."""
        return self._run(self.transform_for_attacker, vectors, f"vectors given to {self.spec}")

    # -- the hooks, on checked float64 arrays ----------------------------------------------------
    def transform(self, x: np.ndarray) -> np.ndarray:
        """The defence itself (hook of ``__call__``)."""
        return x

    def transform_queries(self, x: np.ndarray) -> np.ndarray:
        """What happens to queries (hook of :meth:`queries`): nothing, unless the space changes."""
        return x

    def transform_for_attacker(self, x: np.ndarray) -> np.ndarray:
        """The attacker's view (hook of :meth:`attacker_view`): the transform, unless it is random."""
        return self.transform(x)

    def details(self) -> dict:
        """Parameters and fitted facts worth reporting (e.g. reconstruction error on the fit sample)."""
        return dict(self.fit_info)


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------


def relative_error(x: np.ndarray, y: np.ndarray) -> float:
    """Mean over rows of ||x - y|| / ||x||: the relative L2 error of a reconstruction y of x."""
    num = np.linalg.norm(np.asarray(x, np.float64) - np.asarray(y, np.float64), axis=1)
    return float(np.mean(num / np.maximum(np.linalg.norm(np.asarray(x, np.float64), axis=1), 1e-12)))


def fmt(x) -> str:
    """A spec argument as written: floats shortest (``0.01``, ``8``), integers in full."""
    return f"{x:g}" if isinstance(x, float) else str(x)


def check_number(value, what: str, low: float) -> float:
    """``value`` as a finite float >= ``low``, or a one-line InputError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"the {what} must be a number, not {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low:
        raise InputError(f"the {what} must be a finite number >= {low:g}, not {value:g}")
    return value


def check_integer(value, what: str, low: int) -> int:
    """``value`` as an int >= ``low``, or a one-line InputError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"the {what} must be an integer >= {low}, not {value!r}")
    return int(value)


def check_seed(value, family: str) -> int:
    return check_integer(value, f"{family} seed", low=0)
