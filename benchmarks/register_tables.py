"""Markdown tables of benchmarks/results/registers.json, for MODEL_CARD.md and BENCHMARKS.md.

    .venv/bin/python benchmarks/register_tables.py --run minilm@5e12736f63d1 --run broad4@... [--results FILE]

For each run (a model id, or the start of a key of ``runs``): quality by register, exact recovery by
PII kind, and by length bucket (the test split's mixed lengths against ``long``, its texts of 33-64
tokens), beside the nearest-neighbour baseline. Where a set was measured under two digests (the test
split of two corpus builds), the digest every run shares is used, else the newest. Prints; writes
nothing.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "registers.json"
ORDER = ("test", "long", "fortunes", "nodejs-doc", "janeausten", "chatterbot-corpus", "kernel-maintainers",
         "synthetic_records_heldout")
ROLE = {"test": "default test split (in-domain)", "long": "test split, 33-64 tokens", "fortunes": "humour (held out)",
        "nodejs-doc": "technical (held out)", "janeausten": "fiction (held out)",
        "chatterbot-corpus": "dialogue (held out)", "kernel-maintainers": "real `Name <e-mail>` lines (held out)",
        "synthetic_records_heldout": "records, unseen templates (held out)"}


def pick_runs(data: dict, wanted: list[str]) -> list[tuple[str, dict]]:
    out = []
    for w in wanted:
        keys = [k for k in data["runs"] if k == w or k.startswith(w)]
        if not keys:
            raise SystemExit(f"no run {w!r} in the results; runs: {', '.join(data['runs'])}")
        out.append((keys[0].split("|")[0], data["runs"][keys[0]]["sets"]))
    return out


def shared_keys(runs: list[tuple[str, dict]]) -> dict[str, str]:
    """Set name -> the key (name@digest) to report: one all runs measured, else the last one seen."""
    chosen = {}
    for name in ORDER:
        per_run = [[k for k in sets if k.split("@")[0] == name] for _, sets in runs]
        common = [k for k in per_run[0] if all(k in keys for keys in per_run)] if per_run else []
        if common:
            chosen[name] = common[-1]
    return chosen


def tables(data: dict, runs: list[tuple[str, dict]]) -> str:
    keys = shared_keys(runs)
    nn = data.get("nearest_neighbour", {})
    names = [m for m, _ in runs]
    lines = ["| set | n | " + " | ".join(f"{m}: BLEU / F1 / exact / cos" for m in names)
             + " | nearest neighbour: BLEU / F1 |", "|---|---|" + "---|" * (len(names) + 1)]
    for name, key in keys.items():
        cells = []
        for _, sets in runs:
            r = sets[key]
            cells.append(f"{r['bleu']:.1f} / {r['token_f1']:.1f} / {r['exact_match']:.1f}% / {r['cosine']:.3f}")
        b = nn.get(key)
        base = f"{b['bleu']:.1f} / {b['token_f1']:.1f}" if b else "not measured"
        lines.append(f"| {name}: {ROLE[name]} | {runs[0][1][key]['n']} | " + " | ".join(cells) + f" | {base} |")
    pii_rows = []
    for name, key in keys.items():
        kinds = sorted({k for _, sets in runs for k in sets[key].get("pii", {})})
        for kind in kinds:
            cells = []
            for _, sets in runs:
                p = sets[key].get("pii", {}).get(kind)
                cells.append(f"{p['recovered']} of {p['found']}" if p else "")
            b = nn.get(key, {}).get("pii", {}).get(kind)
            base = f"{b['recovered']} of {b['found']}" if b else ""
            pii_rows.append(f"| {name} | {kind} | " + " | ".join(cells) + f" | {base} |")
    if pii_rows:
        lines += ["", "Recovered exactly, by kind of sensitive item:", "",
                  "| set | kind | " + " | ".join(names) + " | nearest neighbour |",
                  "|---|---|" + "---|" * (len(names) + 1), *pii_rows]
    if "test" in keys and "long" in keys:
        lines += ["", "By length:", "", "| tokens | " + " | ".join(f"{m}: BLEU / F1" for m in names) + " |",
                  "|---|" + "---|" * len(names)]
        for label, name in (("4-64, mixed (test split)", "test"), ("33-64 (long)", "long")):
            lines.append(f"| {label} | " + " | ".join(f"{s[keys[name]]['bleu']:.1f} / {s[keys[name]]['token_f1']:.1f}"
                                                      for _, s in runs) + " |")
    speed = " | ".join(f"{m}: {sum(s[k]['inversions_per_second'] for k in keys.values()) / len(keys):.2f}"
                       for m, s in runs)
    lines += ["", f"Inversions/s (mean over the sets, 20 steps, beam 4; depends on the machine's load): {speed}."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, help="a model id (or key prefix); repeatable")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    data = json.loads(args.results.read_text())
    print(tables(data, pick_runs(data, args.run)))


if __name__ == "__main__":
    main()
