"""95% intervals for the figures of a sampled audit, and the sample sizes that would narrow them.

A sampled audit inverts a uniform sample of ``n`` of the store's ``N`` records without replacement,
so every headline figure is an estimate of the figure a full audit would give:

- means over records (BLEU, token F1, cosine, the attacker's confidence): a **BCa bootstrap** of the
  mean (``B`` = 2,000 seeded resamples; Efron, "Better Bootstrap Confidence Intervals", JASA 1987:
  the percentiles shifted for the bias and skew of the resampled means, the acceleration from the
  jackknife, which for a mean is the skewness of the values); above ``BOOTSTRAP_MAX`` records the
  normal interval (mean ± z·sd/√n), which the bootstrap approaches there anyway. Per-record BLEU is
  very skewed (most records near 0, a few high), and the plain percentile bootstrap covered the
  truth of a fully audited store only 76% of the time at n = 25-50 and 91% at n = 200
  (BENCHMARKS.md); BCa is the correction for exactly that;
- proportions (exact match, the share of records that leak an item of a sensitive kind, the share
  of a kind's items recovered): the **Wilson** score interval;
- both with the finite population correction ``sqrt((N - n) / (N - 1))``: the interval narrows as
  the sample covers more of the store and has zero width when it covers all of it (a full audit
  knows the figure). For Wilson this is done through the effective sample size ``n (N-1)/(N-n)``;
  for the bootstrap by shrinking the resampled deviations around the estimate.

The share of a kind's *items* recovered counts items, which cluster in records (a record with two
names): its Wilson interval treats them as independent and is slightly too narrow when records hold
several items of a kind; the record-level share (records that leak at least one) has no such issue
and is the one the whole-store estimate uses.

``n_for(...)`` gives the sample size whose interval would have a given half-width: for a mean
``n0 = (z·sd/h)²``, for a proportion ``n0 = z²·p(1-p)/h²`` (``p`` the estimate, or the interval's
upper end when the estimate is 0 or 1), both then corrected for the population,
``n = n0 / (1 + (n0 - 1)/N)``.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["Z", "BOOTSTRAP", "BOOTSTRAP_MAX", "fpc", "wilson", "bootstrap_mean", "n_for_mean", "n_for_proportion",
           "mean_interval", "proportion_interval", "bca_levels"]

Z = 1.959963984540054  # the 97.5% quantile of the standard normal
BOOTSTRAP = 2000
BOOTSTRAP_MAX = 20000  # above this many records: the normal interval
SMALL_SKEWED = 100  # below this many records a skewed figure's interval gets a caution (BENCHMARKS.md)


def fpc(n: int, population: int | None) -> float:
    """The finite population correction factor sqrt((N - n) / (N - 1)) (1 without a population)."""
    if population is None or population <= 1 or n <= 0:
        return 1.0
    return math.sqrt(max(0.0, (population - n) / (population - 1)))


def wilson(k: int, n: int, population: int | None = None, z: float = Z) -> tuple[float, float]:
    """The Wilson score interval of the proportion k/n, with the finite population correction."""
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    f = fpc(n, population)
    if f == 0.0:
        return (p, p)
    m = n / (f * f)  # effective sample size
    centre = (p + z * z / (2 * m)) / (1 + z * z / m)
    half = z * math.sqrt(p * (1 - p) / m + z * z / (4 * m * m)) / (1 + z * z / m)
    return (max(0.0, centre - half), min(1.0, centre + half))


def bootstrap_mean(values, population: int | None = None, resamples: int = BOOTSTRAP, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float]:
    """A BCa bootstrap interval of the mean of ``values``, with the finite population correction."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n == 0:
        return (float("nan"), float("nan"))
    mean = float(x.mean())
    f = fpc(n, population)
    if n == 1 or f == 0.0:
        return (mean, mean) if f == 0.0 else (float(x.min()), float(x.max()))
    if n > BOOTSTRAP_MAX:
        half = Z * float(x.std(ddof=1)) / math.sqrt(n) * f
        return (mean - half, mean + half)
    rng = np.random.default_rng([seed, 1729])
    means = np.empty(resamples)
    step = max(1, 2_000_000 // n)  # resamples drawn at a time (bounded memory)
    for start in range(0, resamples, step):
        b = min(step, resamples - start)
        means[start:start + b] = x[rng.integers(0, n, size=(b, n))].mean(axis=1)
    lo, hi = np.quantile(means, bca_levels(x, means, mean, level))
    return (mean - (mean - float(lo)) * f, mean + (float(hi) - mean) * f)


def bca_levels(x: np.ndarray, means: np.ndarray, mean: float, level: float = 0.95) -> list[float]:
    """The two quantile levels of the bootstrap distribution of the mean that give a BCa interval:
    bias correction z0 from the share of resampled means below the estimate, acceleration from the
    jackknife (for a mean, sum(d^3) / (6 sum(d^2)^1.5) with d the deviations from the mean)."""
    normal = NormalDist()
    below = (np.sum(means < mean) + 0.5 * np.sum(means == mean)) / len(means)
    z0 = normal.inv_cdf(min(max(below, 1e-6), 1 - 1e-6))
    d = x - mean
    ss = float(np.sum(d * d))
    acc = float(np.sum(d ** 3)) / (6 * ss ** 1.5) if ss > 0 else 0.0
    out = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        z = z0 + normal.inv_cdf(q)
        out.append(normal.cdf(z0 + z / (1 - acc * z)))
    return out


def _corrected(n0: float, population: int | None) -> int:
    if population:
        n0 = n0 / (1 + (n0 - 1) / population)
    return int(math.ceil(max(1.0, n0)))


def n_for_mean(sd: float, half_width: float, population: int | None = None) -> int:
    """Records needed for a ±half_width interval of a mean whose per-record sd is ``sd``."""
    return _corrected((Z * sd / half_width) ** 2, population)


def n_for_proportion(p: float, half_width: float, population: int | None = None) -> int:
    """Records needed for a ±half_width interval of a proportion near ``p``."""
    return _corrected(Z * Z * p * (1 - p) / half_width ** 2, population)


def mean_interval(values, population: int | None, targets, scale: float = 1.0, seed: int = 0) -> dict:
    """Estimate, bootstrap interval and the records needed for each half-width in ``targets``
    (in the figure's units; ``scale`` multiplies the values first, e.g. 100 for percentages)."""
    x = np.asarray(values, dtype=np.float64) * scale
    if not len(x):
        return {"estimate": None, "low": None, "high": None, "n": 0}
    lo, hi = bootstrap_mean(x, population, seed=seed)
    sd = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    skew = float(np.mean((x - x.mean()) ** 3)) / sd ** 3 if sd > 0 else 0.0
    caution = (f"; with {len(x)} records of skewness {skew:.1f} this interval covers the truth less often than 95% "
               "(about 80-90% measured below 100 records for BLEU)" if len(x) < SMALL_SKEWED and abs(skew) > 1 else "")
    return {"estimate": float(x.mean()), "low": lo, "high": hi, "n": int(len(x)), "sd": sd,
            "method": (f"bootstrap of the mean ({BOOTSTRAP} resamples, BCa)" if len(x) <= BOOTSTRAP_MAX
                       else "normal (mean ± 1.96 sd/√n)") + (", finite population corrected" if population else "")
            + caution,
            "n_for": {f"{t:g}": n_for_mean(sd, t, population) for t in targets}}


def proportion_interval(k: int, n: int, population: int | None, targets, scale: float = 100.0) -> dict:
    """Estimate (``scale`` times k/n), Wilson interval, and the records needed for each half-width
    in ``targets`` (in the figure's units)."""
    if n <= 0:
        return {"estimate": None, "low": None, "high": None, "n": 0, "k": 0}
    lo, hi = wilson(k, n, population)
    p = k / n
    p_plan = p if 0 < p < 1 else (hi if p == 0 else lo)
    return {"estimate": p * scale, "low": lo * scale, "high": hi * scale, "n": int(n), "k": int(k),
            "method": "Wilson score interval" + (", finite population corrected" if population else ""),
            "n_for": {f"{t:g}": n_for_proportion(p_plan, t / scale, population) for t in targets}}
