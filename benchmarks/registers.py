"""Quality of inverters by register, by PII kind and by length, on texts no training saw.

    .venv/bin/python benchmarks/registers.py --inverter minilm --inverter runs/broad [--n 50] [--steps 20 --beam 4]

Evaluation sets, all from one build of the default corpus (``load_corpus("default", max_tokens=64)``),
seeded samples of ``--n`` texts each:
- ``test``: the default corpus's test split (in-domain sources), with a breakdown by source;
- one set per held-out source (never trained on): fortunes (humour), nodejs-doc (technical),
  janeausten (fiction), chatterbot-corpus (dialogue), kernel-maintainers (real ``Name <e-mail>``
  lines), synthetic_records_heldout (correspondence and records from templates the training never
  used);
- ``long``: texts of 33-64 tokens from the test split.
PII: on kernel-maintainers lines, a full name is recovered when the text before ``<`` comes back
whole (after the embedder's normalisation), an e-mail address when the address does; on the
synthetic records, each kind the audit's detector finds (``unembed.audit.find_items``) counts as
recovered when it comes back whole (``unembed.audit.score_record``).
Decoding in fp32 unless ``--precision`` says otherwise (bf16 results are keyed apart).
Baseline: the nearest neighbour among ``--nn-pool`` training texts (an attacker holding a corpus).
Each (inverter, set) result is saved as it finishes (benchmarks/results/registers.json, keyed by
the inverter's model id and the set's digest); a rerun skips finished ones. Quality numbers do not
depend on the machine's load; the inversions/s column does.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results"
HELDOUT = ("fortunes", "nodejs-doc", "janeausten", "chatterbot-corpus", "kernel-maintainers",
           "synthetic_records_heldout")
_NAME_LINE = re.compile(r"^\s*(?P<name>[^<>@]+?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>")


def machine() -> str:
    return f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def sets(corpus, codec, n: int, seed: int) -> dict[str, list[str]]:
    from unembed.inversion.evaluate import sample

    out = {"test": sample(corpus.test, n, seed)}
    for name in HELDOUT:
        texts = corpus.split("ood") if name == corpus.manifest.get("ood_source") else corpus.heldout.get(name)
        if texts:
            out[name] = sample(list(texts), n, seed)
    longs = [t for t in corpus.test if 33 <= len(codec.ids([t])[0]) <= 64]
    out["long"] = sample(longs, n, seed)
    return out


def pii(name: str, texts: list[str], preds: list[str], normalize) -> dict:
    from unembed.audit import score_record
    from unembed.audit.audit import contains, tokens

    if name == "kernel-maintainers":
        got = {"name": [0, 0], "email": [0, 0]}
        for t, p in zip(texts, preds):
            m = _NAME_LINE.match(t)
            if not m:
                continue
            rec = tokens(normalize(p))
            for kind in ("name", "email"):
                got[kind][0] += 1
                got[kind][1] += contains(rec, tokens(normalize(m.group(kind))))
        return {k: {"found": f, "recovered": r, "rate": r / f if f else None} for k, (f, r) in got.items()}
    kinds: dict[str, list[int]] = {}
    for t, p in zip(texts, preds):
        for it in score_record(p, t, normalize)["sensitive"]:
            k = kinds.setdefault(it["kind"], [0, 0])
            k[0] += 1
            k[1] += bool(it["recovered"])
    return {k: {"found": f, "recovered": r, "rate": r / f if f else None} for k, (f, r) in kinds.items()}


def evaluate_set(inv, name, texts, steps, beam, explore, edits=0) -> dict:
    from unembed.metrics import score

    vecs = inv.embedder.embed(texts)
    t0 = time.perf_counter()
    res = inv.invert(vecs, steps=steps, beam=beam, explore=explore, edits=edits)
    seconds = time.perf_counter() - t0
    preds = [r.text for r in res]
    m = score(preds, texts, normalize=inv.embedder.normalize_text, cosines=[r.cosine for r in res])
    out = {k: m[k] for k in ("bleu", "token_f1", "exact_match", "cosine", "n")}
    out["inversions_per_second"] = len(texts) / seconds
    out["examples"] = [{"original": t, "recovered": p} for t, p in list(zip(texts, preds))[:4]]
    out["pii"] = pii(name, texts, preds, inv.embedder.normalize_text)
    out["per_item"] = [{"bleu": b} for b in score_pairs_bleu(preds, texts, inv.embedder.normalize_text)]
    return out


def score_pairs_bleu(preds, refs, normalize):
    from unembed.metrics import score_pairs

    return score_pairs(preds, refs, normalize)["bleu"]


def nearest_neighbour(inv, pool: list[str], name: str, texts: list[str], cache: dict) -> dict:
    from unembed.metrics import score

    if "pool" not in cache:
        cache["pool"] = inv.embedder.embed(pool)
        cache["pool"] /= np.linalg.norm(cache["pool"], axis=1, keepdims=True)
    v = inv.embedder.embed(texts)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    sims = v @ cache["pool"].T
    preds = [pool[j] for j in sims.argmax(1)]
    m = score(preds, texts, normalize=inv.embedder.normalize_text, cosines=list(sims.max(1)))
    return {**{k: m[k] for k in ("bleu", "token_f1", "exact_match", "cosine", "n")},
            "pii": pii(name, texts, preds, inv.embedder.normalize_text)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inverter", action="append", default=None, help="repeatable; default: minilm")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--explore", type=int, default=0)
    ap.add_argument("--edits", type=int, default=0, help="token-level edits at this many doubted positions a step")
    ap.add_argument("--nn-pool", type=int, default=40000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sets", default="", help="comma-separated subset of the sets")
    ap.add_argument("--corpus-dir", type=Path, default=None,
                    help="a built corpus folder (a training run's corpus/); default: build the default corpus at 64 tokens")
    ap.add_argument("--out", type=Path, default=RESULTS / "registers.json")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"),
                    help="decoding precision (fp32, the default, compares across machines; results in bf16 are "
                         "kept under their own key)")
    args = ap.parse_args()

    from unembed import load_inverter
    from unembed.corpus import load_corpus, open_corpus
    from unembed.signature import text_digest

    corpus = open_corpus(args.corpus_dir) if args.corpus_dir else load_corpus("default", max_tokens=64)
    done = json.loads(args.out.read_text()) if args.out.exists() else {}
    done.setdefault("runs", {})
    done.update(date=str(date.today()), machine=machine(), corpus=str(corpus.path))

    def save():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(done, indent=1))

    chosen = set(filter(None, args.sets.split(",")))
    for spec in args.inverter or ["minilm"]:
        inv = load_inverter(spec, precision=args.precision)
        evals = sets(corpus, inv.codec, args.n, args.seed)
        key = f"{inv.model_id}|steps{args.steps}|beam{args.beam}|explore{args.explore}" + \
            (f"|edits{args.edits}" if args.edits else "") + ("" if inv.precision == "fp32" else f"|{inv.precision}")
        run = done["runs"].setdefault(key, {"inverter": spec, "model": inv.model_id, "steps": args.steps,
                                            "beam": args.beam, "explore": args.explore, "edits": args.edits,
                                            "precision": inv.precision,
                                            "sets": {}})
        for name, texts in evals.items():
            if chosen and name not in chosen:
                continue
            tag = f"{name}@{text_digest(texts)}"
            if tag in run["sets"]:
                continue
            t0 = time.perf_counter()
            run["sets"][tag] = evaluate_set(inv, name, texts, args.steps, args.beam, args.explore, args.edits)
            print(f"{spec} {name}: BLEU {run['sets'][tag]['bleu']:.1f} ({time.perf_counter() - t0:.0f}s)", flush=True)
            save()
    nn = done.setdefault("nearest_neighbour", {})  # --nn-pool 0: no baseline
    cache: dict = {}
    inv = load_inverter((args.inverter or ["minilm"])[0])
    pool_texts = [corpus.train[i] for i in sorted(np.random.default_rng([args.seed, 1]).permutation(len(corpus.train))[:args.nn_pool])]
    for name, texts in sets(corpus, inv.codec, args.n, args.seed).items():
        tag = f"{name}@{text_digest(texts)}"
        if tag not in nn and args.nn_pool and (not chosen or name in chosen):
            nn[tag] = nearest_neighbour(inv, pool_texts, name, texts, cache)
            save()
    print_tables(done)


def print_tables(done: dict) -> None:
    for key, run in done["runs"].items():
        print(f"\n{run['inverter']} ({run['model']}), {run['steps']} steps, beam {run['beam']}, explore {run['explore']}, "
              f"edits {run.get('edits', 0)}")
        print("| set | n | BLEU | token F1 | exact % | cosine | PII recovered |")
        print("|---|---|---|---|---|---|---|")
        for tag, r in run["sets"].items():
            p = ", ".join(f"{k} {v['recovered']}/{v['found']}" for k, v in r["pii"].items() if v["found"])
            print(f"| {tag.split('@')[0]} | {r['n']} | {r['bleu']:.1f} | {r['token_f1']:.1f} | {r['exact_match']:.1f} "
                  f"| {r['cosine']:.3f} | {p} |")


if __name__ == "__main__":
    main()
