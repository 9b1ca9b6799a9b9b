"""The decision: the leakage a defence is judged by, the Pareto front, and the recommendation.

A defence's leakage for the recommendation is the highest BLEU of every attacker run against it;
its cost is the NDCG@10 it loses against the undefended vectors. The recommendation is the cheapest
defence whose leakage stays below the user's threshold. The Pareto front is over (NDCG@10, that
leakage). Everything here works on the JSON records (dicts) of ``results.DefenceResult.to_dict()``.
"""
from __future__ import annotations

from typing import Sequence

__all__ = ["DECISION_KEYS", "decision_leakage", "pareto_front", "recommend"]

#: What :func:`recommend` adds to every record, in this order.
DECISION_KEYS = ("leakage_for_decision", "adaptive_measured", "pareto", "recommended")


def decision_leakage(record: dict) -> float:
    """The highest BLEU of every attacker run against the defence (the worst case we measured)."""
    leak = record["leakage"]
    values = [leak["non_adaptive"]["bleu"]] + [a["bleu"] for a in record.get("attacks") or []]
    if leak["adaptive"].get("bleu") is not None:
        values.append(leak["adaptive"]["bleu"])
    return float(max(values))


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (utility, leakage) points: True where no other point has utility >= and leakage <=, one strictly."""
    out = []
    for i, (u, lk) in enumerate(points):
        dominated = any(u2 >= u and l2 <= lk and (u2 > u or l2 < lk) for j, (u2, l2) in enumerate(points) if j != i)
        out.append(not dominated)
    return out


def _nothing_below(records: list[dict], threshold: float, out: dict, base: dict | None) -> dict:
    best = min((r for r in records if r["family"] != "none"), key=lambda r: r["leakage_for_decision"], default=None)
    out.update(defence=None, text=(f"No defence measured brings the attackers' BLEU below {threshold:g}"
                                   + (f"; the least leaky is {best['defence']} (BLEU {best['leakage_for_decision']:.1f},"
                                      f" NDCG@10 {best['ndcg_at_10']:.3f})." if best else ".")))
    if out.get("undefended_below_threshold"):
        out["text"] += (f" (The undefended vectors already stay below it with this inverter, BLEU "
                        f"{base['leakage_for_decision']:.1f}: a stronger inverter may not.)")
    return out


def recommend(records: list[dict], threshold: float) -> dict:
    """Mark the Pareto front and pick the cheapest defence (least NDCG@10 lost) whose leakage is below
    ``threshold``; adds ``leakage_for_decision``, ``pareto`` and ``recommended`` to every record."""
    for r in records:
        r["leakage_for_decision"] = decision_leakage(r)
        r["adaptive_measured"] = bool(r["attacks"]) or r["family"] == "none"
    front = pareto_front([(r["ndcg_at_10"], r["leakage_for_decision"]) for r in records])
    for r, p in zip(records, front):
        r["pareto"] = bool(p)
        r["recommended"] = False
    base = next((r for r in records if r["family"] == "none"), None)
    ok = [r for r in records if r["family"] != "none" and r["leakage_for_decision"] < threshold]
    out: dict = {"threshold": threshold, "rule": ("cheapest defence (highest NDCG@10, then recall@10) whose BLEU "
                                                  "under every attacker run is below the threshold")}
    if base is not None and base["leakage_for_decision"] < threshold:
        out["undefended_below_threshold"] = True
    if not ok:
        return _nothing_below(records, threshold, out, base)
    pick = max(ok, key=lambda r: (r["ndcg_at_10"], r["recall_at_10"], -r["leakage_for_decision"]))
    pick["recommended"] = True
    cost = (base["ndcg_at_10"] - pick["ndcg_at_10"]) if base else None
    text = (f"{pick['defence']} is the cheapest defence that keeps BLEU below {threshold:g} against every attacker "
            f"run (highest BLEU {pick['leakage_for_decision']:.1f}): NDCG@10 {pick['ndcg_at_10']:.3f}"
            + (f" against {base['ndcg_at_10']:.3f} undefended (cost {cost:.3f})" if base else "")
            + f", recall@10 {pick['recall_at_10']:.3f}.")
    if not pick["adaptive_measured"]:
        text += " It was not measured against an adaptive attacker."
    if out.get("undefended_below_threshold"):
        text += (f" Note: the undefended vectors already stay below {threshold:g} with this inverter (BLEU "
                 f"{base['leakage_for_decision']:.1f}); a stronger inverter may not.")
    out.update(defence=pick["defence"], ndcg_at_10=pick["ndcg_at_10"], recall_at_10=pick["recall_at_10"],
               bleu=pick["leakage_for_decision"], cost_ndcg_at_10=cost, text=text)
    return out
