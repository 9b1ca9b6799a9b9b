"""How often the audit's name-list attack (`unembed audit --names FILE`) names the person a stored
vector mentions, by the size of the attacker's directory and how alike its names are.

    .venv/bin/python benchmarks/name_list.py --corpus-dir RUN/corpus [--embedder minilm] [--n 300]

No inverter takes part: the attacker embeds each name of a directory once and ranks the names by
cosine to each stored vector (:class:`unembed.audit.names.NameList`, what the audit runs). Records
are two held-out sets of the default corpus, seeded samples of ``--n``: the ``Name <e-mail>`` lines
of kernel-maintainers (real people) and the synthetic records (Faker-filled mail, tickets and notes).
A record counts when it contains a name of the directory (the audit's own rule); the right person
is ranked first (top-1) or among the first five (top-5). Directories:

- **real N**: every name of the kernel-maintainers file (a real directory of 1,800 people, the
  sampled ones included), plus the synthetic records' names, plus Faker names of eight locales up
  to N names in all;
- **near**: real 1,000 plus, for every sampled person, 10 names with the same given name and
  another surname and 10 with the same surname and another given name: the confusions a directory
  of one family or one culture holds;
- **builtin**: the audit's default (``--names builtin``), its 308 common given names alone; a record
  counts when it contains one of them (so a kernel line counts only when its given name is common);
- **e-mail addresses**: the list is every address of the kernel-maintainers file (a mailing list or
  customer list rather than a directory of names; the kernel lines only).

The margin of the top name over the second is the attacker's own confidence; the table gives the
share right among records with a margin of at least 0.05 and 0.1, which is what a store without
originals can be read by. Results: ``benchmarks/results/name_list.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import re
import time
from datetime import date
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
_NAME_LINE = re.compile(r"^\s*(?P<name>[^<>@]+?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>")
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL"]


def people_of(name: str, text: str) -> list[str]:
    """The people a record names: the kernel line's name, or the audit detector's names."""
    from unembed.audit import find_items

    if name == "kernel-maintainers":
        m = _NAME_LINE.match(text)
        return [m.group("name")] if m else []
    return [it["text"] for it in find_items(text) if it["kind"] == "name"]


def faker_names(k: int, seed: int, avoid: set[str]) -> list[str]:
    from faker import Faker

    fake = Faker(LOCALES)
    fake.seed_instance(seed)
    out: dict[str, None] = {}
    while len(out) < k:
        n = f"{fake.first_name()} {fake.last_name()}"
        if n not in avoid:
            out[n] = None
    return list(out)


def near_names(people: list[str], seed: int, avoid: set[str], each: int = 10) -> list[str]:
    from faker import Faker

    fake = Faker(LOCALES)
    fake.seed_instance(seed)
    out: dict[str, None] = {}
    for p in people:
        words = p.split()
        if len(words) < 2:
            continue
        first, last = words[0], words[-1]
        for make in (lambda: f"{first} {fake.last_name()}", lambda: f"{fake.first_name()} {last}"):
            got = 0
            for _ in range(each * 20):
                n = make()
                if n not in avoid and n not in out:
                    out[n] = None
                    got += 1
                    if got == each:
                        break
    return list(out)


def score(names, vectors: np.ndarray, texts: list[str]) -> dict:
    ranked = names.rank(vectors, texts)
    listed = [r for r in ranked if r.get("listed")]
    m = len(listed)
    out = {"records": len(ranked), "records_naming_a_listed_name": m,
           "top1": sum(r["rank"] == 1 for r in listed), "top5": sum(r["rank"] <= 5 for r in listed),
           "chance_top1": float(np.mean([r["chance"] for r in listed])) if m else None}
    for t in (0.05, 0.1):
        conf = [r for r in listed if r["margin"] >= t]
        out[f"margin_ge_{t}"] = {"records": len(conf), "right": sum(r["rank"] == 1 for r in conf)}
    out["rate_top1"] = 100 * out["top1"] / m if m else None
    out["rate_top5"] = 100 * out["top5"] / m if m else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus-dir", type=Path, required=True, help="a built default corpus (its heldout/ folder)")
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--sizes", default="2000,10000,50000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "name_list.json")
    args = ap.parse_args()

    import torch
    from unembed import load_embedder
    from unembed.audit.names import BUILTIN, NameList, load_names

    t0 = time.time()
    embedder = load_embedder(args.embedder)
    held = args.corpus_dir / "heldout"
    sets = {}
    for name in ("kernel-maintainers", "synthetic_records_heldout"):
        texts = [t for t in (held / f"{name}.txt").read_text(encoding="utf-8").splitlines() if people_of(name, t)]
        sets[name] = random.Random(args.seed).sample(texts, min(args.n, len(texts)))
    kernel_all = [p for t in (held / "kernel-maintainers.txt").read_text(encoding="utf-8").splitlines()
                  for p in people_of("kernel-maintainers", t)]
    sampled = [p for name, texts in sets.items() for t in texts for p in people_of(name, t)]
    base = list(dict.fromkeys(kernel_all + sampled))
    vectors = {name: embedder.embed(texts) for name, texts in sets.items()}
    results: dict = {"command": "python benchmarks/name_list.py " + " ".join(
                         f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
                     "date": date.today().isoformat(),
                     "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
                     "embedder": args.embedder, "n": {k: len(v) for k, v in sets.items()},
                     "base_directory": len(base), "directories": {}}
    extra = faker_names(max(int(s) for s in args.sizes.split(",")), args.seed, set(base))
    for size in [int(s) for s in args.sizes.split(",")]:
        directory = (base + extra)[:max(size, len(base))]
        names = NameList.embed(directory, embedder, source=f"real {len(directory)}")
        results["directories"][f"real {len(directory)}"] = {
            "size": len(directory), **{name: score(names, vectors[name], texts) for name, texts in sets.items()}}
        print(f"real {len(directory)}: " + json.dumps(results["directories"][f"real {len(directory)}"]), flush=True)
    near = near_names(sampled, args.seed + 1, set(base))
    directory = list(dict.fromkeys((base + extra)[:max(1000, len(base))] + near))
    names = NameList.embed(directory, embedder, source="near")
    results["directories"]["near"] = {"size": len(directory), "near_names": len(near),
                                      **{name: score(names, vectors[name], texts) for name, texts in sets.items()}}
    print("near: " + json.dumps(results["directories"]["near"]), flush=True)
    names = load_names(BUILTIN, embedder)
    results["directories"]["builtin"] = {"size": len(names.names),
                                         **{name: score(names, vectors[name], texts) for name, texts in sets.items()}}
    print("builtin: " + json.dumps(results["directories"]["builtin"]), flush=True)
    emails = list(dict.fromkeys(m.group("email") for t in (held / "kernel-maintainers.txt").read_text(
        encoding="utf-8").splitlines() if (m := _NAME_LINE.match(t))))
    names = NameList.embed(emails, embedder, source="e-mail addresses")
    results["directories"]["e-mail addresses"] = {
        "size": len(names.names), "kernel-maintainers": score(names, vectors["kernel-maintainers"],
                                                              sets["kernel-maintainers"])}
    print("e-mail addresses: " + json.dumps(results["directories"]["e-mail addresses"]), flush=True)
    results["seconds"] = round(time.time() - t0, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out} in {results['seconds']} s")


if __name__ == "__main__":
    main()
