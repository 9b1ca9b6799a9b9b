"""Inversion speed at 20 steps x beam 4 on the 32 longest default-corpus test texts, and whether a
change to decoding left the outputs as they were.

    .venv/bin/python benchmarks/decode_speed.py --out before.json            # on the old code
    .venv/bin/python benchmarks/decode_speed.py --out after.json --compare before.json

Each run inverts the texts twice after a warm-up and records both rates, the decoding seconds, the
recovered texts and their cosines; ``--compare`` counts the texts that came back identical and the
largest cosine difference, so that a speed-up meant to be exact can be shown to be. The texts are
recoveries of corpus text: keep the files out of the repository (copies under benchmarks/results
carry only the numbers).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--inverter", default="minilm")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--compare", type=Path)
    a = ap.parse_args()

    from unembed import load_inverter
    from unembed.corpus import load_corpus
    from unembed.metrics import score

    inv = load_inverter(a.inverter)
    test = sorted(load_corpus("default").test, key=lambda t: -len(inv.codec.ids([t])[0]))[: a.n]
    vecs = inv.embedder.embed(test)
    inv.invert(vecs[:4], steps=1, beam=4)  # warm-up
    rates, decode = [], []
    for _ in range(2):
        t = time.perf_counter()
        res = inv.invert(vecs, steps=20, beam=4)
        rates.append(len(test) / (time.perf_counter() - t))
        decode.append(inv.stats["decode_seconds"])
    m = score([r.text for r in res], test, normalize=inv.embedder.normalize_text, cosines=[r.cosine for r in res])
    out = {"inverter": a.inverter, "n": len(test), "inversions_per_second": rates, "decode_seconds": decode,
           "bleu": m["bleu"], "cosine": m["cosine"], "texts": [r.text for r in res], "cosines": [r.cosine for r in res]}
    if a.compare:
        old = json.loads(a.compare.read_text())
        out["identical_to_compared"] = sum(x == y for x, y in zip(old["texts"], out["texts"]))
        out["max_cosine_difference"] = max(abs(x - y) for x, y in zip(old["cosines"], out["cosines"]))
    a.out.write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k not in ("texts", "cosines")}))


if __name__ == "__main__":
    main()
