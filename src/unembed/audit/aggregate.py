"""The audit's figures over a stream of result records, in bounded memory, with their intervals.

:class:`Tally` reads result records one at a time (``results.jsonl`` line by line) and keeps:

- exact running sums and counts for every headline figure (the means and shares of
  :func:`unembed.audit.summarize`);
- the per-record values the intervals need (``intervals``), in a seeded reservoir of at most
  ``keep`` records (all of them in a sampled audit of fewer records); above it the intervals come
  from the reservoir with its width scaled to the full count (normal approximation);
- the ``rows`` records with the highest cosine (the report's table) and a seeded reservoir of
  ``plot`` records (its histograms), so the report of a million records costs what one of a few
  thousand does.
"""
from __future__ import annotations

import heapq
import json
import math
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .intervals import mean_interval, proportion_interval

__all__ = ["Tally", "read_records", "TARGETS"]

#: half-widths the report gives sample sizes for: points for 0-100 figures, units for cosine
TARGETS = {"points": (1.0, 2.0, 5.0), "cosine": (0.005, 0.01, 0.02)}
_COLUMNS = ("cosine", "bleu", "token_f1", "exact_match")


def read_records(path: Path) -> Iterator[dict]:
    """The records of a results.jsonl, one at a time (a cut last line ends the stream)."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    return


class Tally:
    def __init__(self, kinds: tuple[str, ...] | None = None, keep: int = 200_000, rows: int = 200, plot: int = 5000,
                 seed: int = 0):
        if kinds is None:
            from .audit import KINDS as kinds
        self.kinds = tuple(kinds)
        self.keep, self.rows, self.plot_size = keep, rows, plot
        self.rng = np.random.default_rng([seed, 31])
        self.n = self.n_scored = 0
        self.sums = {k: 0.0 for k in ("cosine", "bleu", "token_f1", "exact_match", "exact_match_cased",
                                      "stored_cosine")}
        self.n_stored_cosine = self.n_ge_0_9 = 0
        self.items = {k: {"found": 0, "recovered": 0, "partial": 0} for k in self.kinds}
        self.records_with = {k: 0 for k in self.kinds}  # scored records holding an item of the kind
        self.records_leaking = {k: 0 for k in self.kinds}  # ... with one recovered
        self.leaked: dict[str, int] = {}
        self.leaked_records: dict[str, int] = {}
        # the name-list attack (records carry "names" unless the audit ran with --names none)
        self.named = {"records": 0, "with_listed": 0, "top1": 0, "top5": 0, "chance": 0.0}
        self._named_top: list[tuple] = []  # the most confident guesses (largest margins)
        # reservoir of per-record values (interval estimation)
        self._values: list[tuple] = []
        self._seen_values = 0
        self._top: list[tuple] = []
        self._plot: list[dict] = []
        self._seq = 0

    # -- reading --------------------------------------------------------------------------------------
    def add(self, r: dict) -> None:
        self.n += 1
        self._seq += 1
        cos = float(r["cosine"])
        self.sums["cosine"] += cos
        self.n_ge_0_9 += cos >= 0.9
        scored = r.get("original") is not None and "bleu" in r
        row = [cos, math.nan, math.nan, math.nan] + [math.nan] * len(self.kinds)
        if scored:
            self.n_scored += 1
            for key in ("bleu", "token_f1"):
                self.sums[key] += float(r[key])
            self.sums["exact_match"] += 100.0 * bool(r["exact_match"])
            self.sums["exact_match_cased"] += 100.0 * bool(r.get("exact_match_cased"))
            if "stored_cosine" in r:
                self.sums["stored_cosine"] += float(r["stored_cosine"])
                self.n_stored_cosine += 1
            row[1], row[2], row[3] = float(r["bleu"]), float(r["token_f1"]), float(bool(r["exact_match"]))
            for j, kind in enumerate(self.kinds):
                its = [it for it in r.get("sensitive", []) if it["kind"] == kind]
                got = sum(bool(it["recovered"]) for it in its)
                e = self.items[kind]
                e["found"] += len(its)
                e["recovered"] += got
                e["partial"] += sum(bool(it.get("partial")) for it in its)
                self.records_with[kind] += bool(its)
                self.records_leaking[kind] += got > 0
                row[4 + j] = float(got > 0)
        else:
            kinds_here = set()
            for it in r.get("leaked_patterns", []) or []:
                self.leaked[it["kind"]] = self.leaked.get(it["kind"], 0) + 1
                kinds_here.add(it["kind"])
            for k in kinds_here:
                self.leaked_records[k] = self.leaked_records.get(k, 0) + 1
        if r.get("names"):
            self._add_names(r)
        self._reservoir(self._values, tuple(row), self.keep, self._seen_values)
        self._seen_values += 1
        light = {k: v for k, v in r.items()}
        item = (cos, -self._seq, light)
        if len(self._top) < self.rows:
            heapq.heappush(self._top, item)
        elif item > self._top[0]:
            heapq.heapreplace(self._top, item)
        self._reservoir(self._plot, light, self.plot_size, self._seq - 1)

    def _add_names(self, r: dict) -> None:
        nl, e = r["names"], self.named
        e["records"] += 1
        if nl.get("listed"):
            e["with_listed"] += 1
            e["top1"] += nl["rank"] == 1
            e["top5"] += nl["rank"] <= 5
            e["chance"] += float(nl.get("chance") or 0.0)
        item = (float(nl["margin"]), -self._seq, {"id": r["id"], "original": r.get("original"), "names": nl})
        if len(self._named_top) < self.rows:
            heapq.heappush(self._named_top, item)
        elif item > self._named_top[0]:
            heapq.heapreplace(self._named_top, item)

    def named_top(self) -> list[dict]:
        """The name-list guesses with the largest margins over the runner-up, largest first."""
        return [r for _, _, r in sorted(self._named_top, key=lambda t: (-t[0], -t[1]))]

    def _reservoir(self, store: list, value, size: int, seen: int) -> None:
        if len(store) < size:
            store.append(value)
        else:
            j = int(self.rng.integers(0, seen + 1))
            if j < size:
                store[j] = value

    def extend(self, records: Iterable[dict]) -> "Tally":
        for r in records:
            self.add(r)
        return self

    # -- figures --------------------------------------------------------------------------------------
    def top(self) -> list[dict]:
        """The ``rows`` records with the highest cosine, highest first."""
        return [r for _, _, r in sorted(self._top, key=lambda t: (-t[0], -t[1]))]

    def plot_records(self) -> list[dict]:
        """A uniform sample of at most ``plot`` records (all of them when there are fewer)."""
        return list(self._plot)

    def summary(self) -> dict:
        """The headline figures, as :func:`unembed.audit.summarize` returns them."""
        n, m = self.n, self.n_scored
        vals = np.array([v[0] for v in self._values], dtype=np.float64)

        def mean(key):
            return self.sums[key] / m if m else None

        sensitive = {}
        for kind in self.kinds:
            e = self.items[kind]
            entry = {"found": e["found"], "recovered": e["recovered"],
                     "rate": e["recovered"] / e["found"] if e["found"] else None}
            if kind == "name":
                entry["partial"] = e["partial"]
            sensitive[kind] = entry
        return {
            "n": n,
            "n_with_original": m,
            "bleu": mean("bleu"),
            "token_f1": mean("token_f1"),
            "exact_match": mean("exact_match"),
            "exact_match_cased": mean("exact_match_cased"),
            "cosine": self.sums["cosine"] / n if n else None,
            "cosine_quantiles": ({q: float(np.quantile(vals, float(q[1:]) / 100)) for q in ("p10", "p50", "p90")}
                                 if len(vals) else None),
            "share_cosine_ge_0_9": self.n_ge_0_9 / n if n else None,
            "stored_cosine": self.sums["stored_cosine"] / self.n_stored_cosine if self.n_stored_cosine else None,
            "sensitive": sensitive,
            "leaked_patterns_without_original": dict(self.leaked),
            **({"name_list": self._names_summary()} if self.named["records"] else {}),
        }

    def _names_summary(self) -> dict:
        e = self.named
        m = e["with_listed"]
        return {"records": e["records"], "records_naming_a_listed_name": m,
                "right_first": e["top1"], "right_in_top5": e["top5"],
                "rate_first": e["top1"] / m if m else None, "rate_top5": e["top5"] / m if m else None,
                "chance_first": e["chance"] / m if m else None}

    def intervals(self, population: int | None, random: bool, seed: int = 0) -> dict:
        """95% intervals of every headline figure, the whole-store estimates and the sample sizes
        that would narrow them. ``population``: the records the sample was drawn from; ``random``:
        whether the audited records are a uniform sample of them (else there is nothing to infer)."""
        n = self.n
        out: dict = {"level": 0.95, "n": n, "population": population, "random": bool(random)}
        if not n:
            return out
        if not random and population is not None and n < population:
            out["note"] = ("the audited records are the first records of the store, not a random sample: their "
                           "figures describe them only, and no interval for the store is given")
            return out
        full = population is not None and n >= population
        if full:
            out["note"] = "every record was audited: the figures are the store's, with no sampling uncertainty"
        pop = population
        vals = np.array(self._values, dtype=np.float64)
        scale = 1.0
        if len(vals) < n:  # a reservoir: its spread stands for the whole count's
            out["note_reservoir"] = f"intervals from a uniform reservoir of {len(vals)} of the {n} records"
            scale = math.sqrt(len(vals) / n)
        pts, cosine_t = TARGETS["points"], TARGETS["cosine"]
        figs = {"cosine": self._mean(vals[:, 0], pop, cosine_t, seed, scale)}
        scored = vals[~np.isnan(vals[:, 1])]
        m = self.n_scored
        if m:
            figs["bleu"] = self._mean(scored[:, 1], pop, pts, seed, scale)
            figs["token_f1"] = self._mean(scored[:, 2], pop, pts, seed, scale)
            figs["exact_match"] = proportion_interval(int(round(self.sums["exact_match"] / 100)), m, pop, pts)
            kinds = {}
            for j, kind in enumerate(self.kinds):
                e = self.items[kind]
                rec = proportion_interval(self.records_leaking[kind], m, pop, pts)
                rec["records_with_kind"] = self.records_with[kind]
                entry = {"records_leaking": rec,
                         "items_recovered": proportion_interval(e["recovered"], e["found"], None, pts)
                         if e["found"] else None}
                if population:
                    entry["store_estimate"] = {"records": population * rec["estimate"] / 100,
                                               "low": population * rec["low"] / 100,
                                               "high": population * rec["high"] / 100, "of": population}
                kinds[kind] = entry
            figs["sensitive"] = kinds
            if population:
                em = figs["exact_match"]
                em["store_estimate"] = {"records": population * em["estimate"] / 100, "low": population * em["low"] / 100,
                                        "high": population * em["high"] / 100, "of": population}
        elif self.leaked_records:
            figs["leaked_patterns"] = {k: proportion_interval(v, n, pop, pts) for k, v in self.leaked_records.items()}
        if self.named["with_listed"]:  # of the records naming a listed person, the share whose person came first
            figs["name_list_first"] = proportion_interval(self.named["top1"], self.named["with_listed"], None, pts)
            if m and population:  # of all scored records, those that give their person away: a store estimate
                given = proportion_interval(self.named["top1"], m, pop, pts)
                given["store_estimate"] = {"records": population * given["estimate"] / 100,
                                           "low": population * given["low"] / 100,
                                           "high": population * given["high"] / 100, "of": population}
                figs["name_list_records"] = given
        out["figures"] = figs
        return out

    @staticmethod
    def _mean(values, population, targets, seed, scale) -> dict:
        d = mean_interval(values, population, targets, seed=seed)
        if scale != 1.0 and d.get("estimate") is not None:
            est = d["estimate"]
            d["low"] = est - (est - d["low"]) * scale
            d["high"] = est + (d["high"] - est) * scale
        return d
