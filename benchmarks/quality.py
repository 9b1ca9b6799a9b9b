"""Quality of an inverter against baselines, on fixed held-out texts, in one resumable run.

    .venv/bin/python benchmarks/quality.py [--inverter minilm] [--n 100] [--n-ood 100] [--n-long 50]

On the same texts (a seeded sample of the default corpus's test split):
- the grid: correction steps 0, 1, 5, 20, 50 x beam 1, 4, 8 -- BLEU, token F1, exact match, cosine,
  inversions per second and embedder calls per inversion. One run per beam at 50 steps gives every
  row: inversion is deterministic and a run stopped at step s is the prefix of a longer one, so the
  text at step s is the history's entry at s, and the time to step s the sum of the per-step times;
- results by length bucket (<= 8, 9-16, 17-32 tokens from the test texts; 33-64 tokens from texts
  of the default sources longer than anything the inverter was trained on) at 20 steps, beam 4;
- out of domain: the corpus's held-out source (Debian fortunes, a register none of the training
  sources has), 20 steps, beam 4;
- baselines: nearest neighbour over training texts (an attacker holding a corpus returns the closest
  text by cosine), bag of words (the m words whose own embeddings are closest to the target, m the
  median training text length in words: a training-free word-set attack), and the hypothesizer alone
  (step 0 of the grid).
Each part is saved as it finishes (benchmarks/results/quality.json); a rerun skips finished parts.
Writes the plot benchmarks/results/quality.png.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import re
import time
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"
GRID_STEPS = (0, 1, 5, 20, 50)
GRID_BEAMS = (1, 4, 8)
BUCKETS = ((1, 8), (9, 16), (17, 32), (33, 64))


def machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.node()}"


def metrics(inv, preds: list[str], refs: list[str], cosines) -> dict:
    from unembed.metrics import score

    m = score(preds, refs, normalize=inv.embedder.normalize_text, cosines=list(cosines))
    return {k: m[k] for k in ("bleu", "token_f1", "exact_match", "rouge_l", "cosine", "n")} | {"cased_bleu": m["cased"]["bleu"]}


def text_at(result, step: int) -> tuple[str, float]:
    """The best text after ``step`` steps (the run stopped early keeps its last best)."""
    last = result.history[0]
    for h in result.history:
        if h.step <= step:
            last = h
    return last.text, last.cosine


def grid(inv, texts: list[str], vecs: np.ndarray, beam: int) -> list[dict]:
    res = inv.invert(vecs, steps=max(GRID_STEPS), beam=beam, batch_size=len(texts))
    st = inv.stats
    rows = []
    for s in GRID_STEPS:
        picked = [text_at(r, s) for r in res]
        seconds = sum(st["step_seconds"][: s + 1])
        calls = sum(st["step_embedder_calls"][: s + 1])
        rows.append({"steps": s, "beam": beam, **metrics(inv, [p for p, _ in picked], texts, [c for _, c in picked]),
                     "inversions_per_second": len(texts) / seconds, "seconds": seconds,
                     "embedder_calls_per_inversion": calls / len(texts),
                     "texts_embedded_per_inversion": None if s != max(GRID_STEPS) else st["texts_embedded"] / len(texts),
                     "mean_steps_run": float(np.mean([min(r.steps, s) for r in res]))})
    rows[-1]["time_split"] = {"decode": st["decode_seconds"] / st["seconds"], "embed": st["embed_seconds"] / st["seconds"],
                              "other": 1 - (st["decode_seconds"] + st["embed_seconds"]) / st["seconds"]}
    if beam == 4:
        rows[-1]["examples"] = [{"original": t, **{f"step_{s}": text_at(r, s)[0] for s in (0, 1, 20)}}
                                for t, r in list(zip(texts, res))[:8]]
        rows[-1]["per_item_step20"] = [text_at(r, 20) for r in res]
    return rows


def embed_cached(emb, texts: list[str], name: str) -> np.ndarray:
    key = hashlib.sha256(("\n".join(texts) + emb.fingerprint()["name"]).encode()).hexdigest()[:12]
    path = Path.home() / ".cache" / "unembed" / "bench" / f"{name}-{key}.npy"
    if path.exists():
        return np.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = np.concatenate([emb.embed(texts[i:i + 1024]) for i in range(0, len(texts), 1024)])
    np.save(path, out)
    return out


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_neighbour(inv, train: list[str], n_pool: int, texts, vecs, seed: int) -> dict:
    pool = [train[i] for i in sorted(np.random.default_rng([seed, 1]).permutation(len(train))[:n_pool])]
    pv = unit(embed_cached(inv.embedder, pool, "nn-pool"))
    sims = unit(vecs) @ pv.T
    best = sims.argmax(1)
    preds = [pool[j] for j in best]
    return {"baseline": f"nearest neighbour over {len(pool):,} training texts", **metrics(inv, preds, texts, sims.max(1))}


def bag_of_words(inv, train: list[str], texts, vecs, n_words: int) -> dict:
    words = Counter(w for t in train for w in re.findall(r"[a-z0-9']+", t.lower()))
    vocab = [w for w, _ in words.most_common(n_words)]
    m = int(np.median([len(t.split()) for t in train]))
    wv = unit(embed_cached(inv.embedder, vocab, "bow-vocab"))
    sims = unit(vecs) @ wv.T
    preds = [" ".join(vocab[j] for j in np.argsort(-row)[:m]) for row in sims]
    cos = (unit(inv.embedder.embed(preds)) * unit(vecs)).sum(1)
    return {"baseline": f"bag of words: top {m} of the {len(vocab):,} commonest training words by cosine",
            **metrics(inv, preds, texts, cos)}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, key, label in zip(axes, ("bleu", "token_f1", "cosine"), ("BLEU", "token F1", "cosine")):
        for beam in GRID_BEAMS:
            pts = [(r["steps"], r[key]) for r in rows if r["beam"] == beam]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"beam {beam}")
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(list(GRID_STEPS), [str(s) for s in GRID_STEPS])
        ax.set_xlabel("correction steps")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("Shipped MiniLM inverter on held-out test texts: quality against correction steps")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inverter", default="minilm")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--n-ood", type=int, default=100)
    ap.add_argument("--n-long", type=int, default=50)
    ap.add_argument("--nn-pool", type=int, default=40000)
    ap.add_argument("--bow-words", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "quality.json")
    args = ap.parse_args()

    from unembed import load_inverter
    from unembed.corpus import load_corpus
    from unembed.inversion.evaluate import sample, text_digest

    inv = load_inverter(args.inverter)
    corpus = load_corpus("default")
    texts = sample(corpus.test, args.n, args.seed)
    vecs = inv.embedder.embed(texts)
    n_tok = [len(inv.codec.ids([t])[0]) for t in texts]
    done = json.loads(args.out.read_text()) if args.out.exists() else {}
    sig = {"model": inv.model_id, "embedder": inv.fingerprint["name"], "data": f"default:test:{text_digest(texts)}",
           "n": len(texts), "seed": args.seed, "early_stop": True, "precision": inv.precision,
           "norm": "embedder (lowercase, accents stripped)"}
    if done.get("signature") != sig:
        done = {"signature": sig}
    done.update(date=str(date.today()), machine=machine(),
                command="python benchmarks/quality.py " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"))

    def save():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(done, indent=1))

    for beam in GRID_BEAMS:
        key = f"grid_beam{beam}"
        if key not in done:
            t0 = time.perf_counter()
            done[key] = grid(inv, texts, vecs, beam)
            print(f"{key}: {time.perf_counter() - t0:.0f}s", flush=True)
            save()
    if "buckets" not in done:
        per_item = done["grid_beam4"][-1]["per_item_step20"]
        out = {}
        for lo, hi in BUCKETS[:3]:
            idx = [i for i, k in enumerate(n_tok) if lo <= k <= hi]
            out[f"{lo}-{hi}"] = metrics(inv, [per_item[i][0] for i in idx], [texts[i] for i in idx], [per_item[i][1] for i in idx]) if idx else None
        long_corpus = load_corpus("default", max_tokens=64)
        pool = [t for t in long_corpus.train + long_corpus.test if 33 <= len(inv.codec.ids([t])[0]) <= 64]
        longs = sample(pool, args.n_long, args.seed)
        res = inv.invert(inv.embedder.embed(longs), steps=20, beam=4)
        out["33-64"] = metrics(inv, [r.text for r in res], longs, [r.cosine for r in res])
        out["33-64"]["source"] = f"{len(pool):,} texts of 33-64 tokens from the default sources (max_tokens=64 build); the inverter was trained on <= 32"
        done["buckets"] = out
        save()
    if "ood" not in done:
        ood = sample(corpus.ood, args.n_ood, args.seed)
        t0 = time.perf_counter()
        res = inv.invert(inv.embedder.embed(ood), steps=20, beam=4)
        done["ood"] = {"source": corpus.manifest.get("ood_source", "fortunes") if isinstance(corpus.manifest, dict) else "fortunes",
                       "steps": 20, "beam": 4, **metrics(inv, [r.text for r in res], ood, [r.cosine for r in res]),
                       "inversions_per_second": len(ood) / (time.perf_counter() - t0),
                       "examples": [{"original": t, "recovered": r.text} for t, r in list(zip(ood, res))[:5]]}
        save()
    if "baselines" not in done:
        done["baselines"] = [nearest_neighbour(inv, corpus.train, args.nn_pool, texts, vecs, args.seed),
                             bag_of_words(inv, corpus.train, texts, vecs, args.bow_words)]
        save()

    rows = [r for b in GRID_BEAMS for r in done[f"grid_beam{b}"]]
    plot(rows, args.out.with_suffix(".png"))
    print("| steps | beam | BLEU | token F1 | exact % | cosine | inversions/s | embedder calls/inversion |")
    print("|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["steps"], r["beam"])):
        print(f"| {r['steps']} | {r['beam']} | {r['bleu']:.1f} | {r['token_f1']:.1f} | {r['exact_match']:.1f} | {r['cosine']:.3f} "
              f"| {r['inversions_per_second']:.2f} | {r['embedder_calls_per_inversion']:.2f} |")
    for k, v in done["buckets"].items():
        print(f"bucket {k}: " + ("-" if v is None else f"n {v['n']} BLEU {v['bleu']:.1f} F1 {v['token_f1']:.1f} exact {v['exact_match']:.1f} cos {v['cosine']:.3f}"))
    o = done["ood"]
    print(f"OOD: BLEU {o['bleu']:.1f} F1 {o['token_f1']:.1f} exact {o['exact_match']:.1f} cos {o['cosine']:.3f}")
    for b in done["baselines"]:
        print(f"{b['baseline']}: BLEU {b['bleu']:.1f} F1 {b['token_f1']:.1f} exact {b['exact_match']:.1f} cos {b['cosine']:.3f}")


if __name__ == "__main__":
    main()
