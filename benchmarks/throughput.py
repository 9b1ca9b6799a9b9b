"""Training and inversion throughput on this machine.

    .venv/bin/python benchmarks/throughput.py train  [--presets tiny,small,base] [--steps 20]
    .venv/bin/python benchmarks/throughput.py invert --inverter demo_out/inverter [--n 64]

`train`: examples per second of the hypothesizer and the corrector, per model preset and precision,
on real texts of the default corpus (batch 64, max 32 tokens), after 3 warm-up steps.
`invert`: inversions per second at steps 0, 1 and 20 x beam 1 and 4 on held-out texts of the default
corpus, with early stopping on (the default) and off, embedder texts per inversion, and where the
time goes (decoding, re-embedding, the rest). Prints a markdown table and writes JSON beside it.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.node()}"


def train_throughput(presets: list[str], steps: int, batch: int) -> list[dict]:
    from unembed.corpus import load_corpus
    from unembed.embedders import load_embedder
    from unembed.inversion.models import Corrector, Hypothesizer
    from unembed.inversion.tokenization import Codec
    from unembed.inversion.training import TrainConfig, model_configs

    codec = Codec.default()
    texts = load_corpus("default").train[: batch * 4]
    emb = load_embedder("minilm")
    vecs = torch.from_numpy(emb.embed(texts))
    rows = []
    for preset in presets:
        for precision in ("bf16", "no"):
            hcfg, ccfg = model_configs(TrainConfig(out="-", model=preset), 384, codec.vocab_size, codec)
            for name, model in (("hypothesizer", Hypothesizer(hcfg)), ("corrector", Corrector(ccfg))):
                opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
                n_params = sum(p.numel() for p in model.parameters())

                def step(i: int):
                    sl = slice((i % 4) * batch, (i % 4 + 1) * batch)
                    labels = codec.labels(texts[sl], 32)
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                        if name == "hypothesizer":
                            loss = model(vecs[sl], labels)
                        else:
                            ids, mask = codec.inputs(texts[sl], 40)
                            loss = model(vecs[sl], vecs[sl], ids, mask, labels)
                    loss.backward()
                    opt.step()
                    opt.zero_grad()

                for i in range(3):
                    step(i)
                t0 = time.perf_counter()
                for i in range(steps):
                    step(i)
                dt = time.perf_counter() - t0
                rows.append({"preset": preset, "model": name, "precision": precision, "params_m": n_params / 1e6,
                             "steps_per_second": steps / dt, "examples_per_second": steps * batch / dt})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def invert_throughput(inverter: str, n: int) -> list[dict]:
    from unembed import load_inverter
    from unembed.corpus import load_corpus
    from unembed.metrics import score

    inv = load_inverter(inverter)
    corpus = load_corpus("default")
    # 32-token-ish texts: the longest of the test split
    test = sorted(corpus.test, key=lambda t: -len(inv.codec.ids([t])[0]))[:n]
    vecs = inv.embedder.embed(test)
    lengths = [len(x) for x in inv.codec.ids(test)]
    rows = []
    for early in (True, False):
        for steps in (0, 1, 20):
            for beam in (1, 4):
                if not early and steps == 0:
                    continue
                res = inv.invert(vecs, steps=steps, beam=beam, early_stop=early)
                s = dict(inv.stats)
                m = score([r.text for r in res], test, normalize=inv.embedder.normalize_text,
                          cosines=[r.cosine for r in res])
                rows.append({
                    "steps": steps, "beam": beam, "early_stop": early, "n": n,
                    "mean_tokens": float(np.mean(lengths)),
                    "inversions_per_second": s["inversions_per_second"],
                    "texts_embedded_per_inversion": s["texts_embedded"] / n,
                    "mean_steps_run": float(np.mean([r.steps for r in res])),
                    "decode_share": s["decode_seconds"] / s["seconds"],
                    "embed_share": s["embed_seconds"] / s["seconds"],
                    "bleu": m["bleu"], "cosine": m["cosine"],
                })
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["train", "invert"])
    ap.add_argument("--presets", default="tiny,small,base")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--inverter", default="minilm")
    ap.add_argument("--n", type=int, default=64)
    args = ap.parse_args()
    t0 = time.time()
    if args.what == "train":
        rows = train_throughput(args.presets.split(","), args.steps, args.batch)
    else:
        rows = invert_throughput(args.inverter, args.n)
    RESULTS.mkdir(exist_ok=True)
    meta = {"date": str(date.today()), "machine": machine(), "args": vars(args), "seconds": time.time() - t0}
    (RESULTS / f"throughput_{args.what}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
