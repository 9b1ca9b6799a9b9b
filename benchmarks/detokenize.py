"""How often a text survives encode -> decode unchanged: the ceiling on exact match for an inverter
that writes WordPiece (the embedder never sees the spacing around punctuation, so decoding guesses it).

    .venv/bin/python benchmarks/detokenize.py --corpus-dir runs/NAME/corpus [--n 20000] [--show 20]

Texts: the corpus's validation split plus a seeded sample of ``--n`` training texts (never held-out
material), compared after the embedder's normalisation (lowercase, accents stripped).
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus-dir", type=Path, required=True, help="a built corpus folder (a training run's corpus/)")
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=0, help="print this many texts that do not survive")
    args = ap.parse_args()

    from unembed.embedders import load_embedder
    from unembed.inversion.tokenization import Codec

    codec, norm = Codec.default(), load_embedder("minilm").normalize_text
    texts = [t for t in (args.corpus_dir / "validation.txt").read_text().splitlines() if t.strip()]
    train = (args.corpus_dir / "train.txt").read_text().splitlines()
    texts += random.Random(args.seed).sample(train, min(args.n, len(train)))
    ids = [s for s in codec.ids(texts) if len(s) <= args.max_tokens]
    texts = [t for t, s in zip(texts, codec.ids(texts)) if len(s) <= args.max_tokens]
    decoded = [d for k in range(0, len(ids), 512) for d in codec.decode(codec.pad(ids[k:k + 512])[0])]
    bad = [(norm(t).strip(), d) for t, d in zip(texts, decoded) if norm(t).strip() != d]
    print(f"{len(texts) - len(bad)} of {len(texts)} texts ({1 - len(bad) / len(texts):.1%}) survive encode -> decode")
    for ref, got in random.Random(args.seed).sample(bad, min(args.show, len(bad))):
        print(f"  {ref!r}\n  {got!r}\n")


if __name__ == "__main__":
    main()
