"""Is a sensitive item in the vector at all? How well the embedder's cosine singles out names, e-mail
addresses and digits, with and without the rest of the text.

    .venv/bin/python benchmarks/pii_ceiling.py --corpus-dir RUN/corpus [--embedder minilm] [--n 40] [--distractors 199]

The inverter recovers few names, e-mail addresses and numbers exactly (BENCHMARKS.md, issue #11). This
asks what limits that: the embedder, or the inverter. Items come from the held-out sets of
``benchmarks/registers.py`` (the synthetic records' items as the audit's detector finds them, and the
``Name <e-mail>`` lines of kernel-maintainers), seeded samples of ``--n`` texts each. Only the
embedder's ``embed`` is used, as an attacker would.

- **digit, one wrong** (number, phone, date): each digit of an item is set to each of 0-9 with the rest
  of the text exact; restored when the true text has the highest cosine to the target vector. Also the
  median gap between the true text's cosine and the best wrong one;
- **digit search**: all digits of an item drawn at random, the rest of the text exact; a beam of 8 over
  single-digit changes, 3 sweeps, ranked by cosine (a black-box attacker's search). Recovered when the
  whole item comes back;
- **name / e-mail among distractors, in context**: the true item against ``--distractors`` others in
  the same place of the same text (Faker's names from eight locales; for e-mail addresses, Faker's
  addresses plus the usual patterns built from the line's own name: first.last@, flast@, first@, ...);
  identified when the true text ranks first;
- **name alone** (an attacker with a list of names and no text): the bare name's vector against the
  record's vector, the true name among the distractors; identified when it ranks first.

The distractor names come from the same Faker lists that filled the synthetic records, so the
records' name rows are easier than a real directory; the kernel lines are real names.
Results: ``benchmarks/results/pii_ceiling.json``.
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import re
import time
import unicodedata
from datetime import date
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
_NAME_LINE = re.compile(r"^\s*(?P<name>[^<>@]+?)\s*<(?P<email>[^<>\s]+@[^<>\s]+)>")
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL"]


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


class Judge:
    """Cosines to one target vector, counting the texts embedded."""

    def __init__(self, embedder):
        self.embedder, self.calls = embedder, 0

    def cos(self, target: np.ndarray, texts: list[str]) -> np.ndarray:
        self.calls += len(texts)
        return unit(self.embedder.embed(texts)) @ target


def items_of(name: str, text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of each sensitive item of ``text``."""
    from unembed.audit import find_items

    if name == "kernel-maintainers":
        m = _NAME_LINE.match(text)
        return [("name", m.start("name"), m.end("name")), ("email", m.start("email"), m.end("email"))] if m else []
    out, at = [], 0
    for it in find_items(text):
        i = text.find(it["text"], at)
        if i >= 0:
            out.append((it["kind"], i, i + len(it["text"])))
            at = i + len(it["text"])
    return out


def digits_one_wrong(judge: Judge, target: np.ndarray, text: str, start: int, end: int) -> tuple[int, int, list[float]]:
    ok, n, gaps = 0, 0, []
    for i in range(start, end):
        if not text[i].isdigit():
            continue
        cands = [text[:i] + str(k) + text[i + 1:] for k in range(10)]
        c = judge.cos(target, cands)
        truth = int(text[i])
        n += 1
        ok += int(c.argmax() == truth)
        gaps.append(float(c[truth] - np.max(np.delete(c, truth))))
    return ok, n, gaps


def digit_search(judge: Judge, target: np.ndarray, text: str, start: int, end: int, rng: random.Random,
                 beam: int = 8, sweeps: int = 3) -> bool:
    pos = [i for i in range(start, end) if text[i].isdigit()]
    chars = list(text)
    for i in pos:
        chars[i] = str(rng.randrange(10))
    hyps = ["".join(chars)]
    for _ in range(sweeps):
        for i in pos:
            cands = sorted({h[:i] + str(k) + h[i + 1:] for h in hyps for k in range(10)})
            c = judge.cos(target, cands)
            hyps = [cands[j] for j in np.argsort(-c)[:beam]]
    return hyps[0][start:end] == text[start:end]


def email_distractors(fake, name: str, email: str, k: int) -> list[str]:
    """Addresses an attacker would try: the usual patterns of ``name`` at the true domain and common
    ones, then Faker's addresses; never ``email`` itself."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = re.findall(r"[A-Za-z]+", ascii_name)
    domain = email.split("@", 1)[1]
    out = []
    if words:
        first, last = words[0].lower(), words[-1].lower()
        for local in (f"{first}.{last}", f"{first[0]}{last}", first, last, f"{first}{last}", f"{last}.{first}",
                      f"{first}_{last}", f"{first[0]}.{last}"):
            for d in (domain, "gmail.com", "kernel.org"):
                out.append(f"{local}@{d}")
    while len(out) < 4 * k:
        out.append(fake.email())
    out = [e for e in dict.fromkeys(out) if e.lower() != email.lower()]
    return out[:k]


def rank_first(judge: Judge, target: np.ndarray, truth: str, others: list[str]) -> bool:
    c = judge.cos(target, [truth] + others)
    return bool(c[0] > c[1:].max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus-dir", type=Path, required=True, help="a built default corpus (a training run's corpus/)")
    ap.add_argument("--embedder", default="minilm", help="an embedder spec (unembed.load_embedder)")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--distractors", type=int, default=199)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "pii_ceiling.json")
    args = ap.parse_args()

    import torch
    from faker import Faker

    from unembed import load_embedder
    from unembed.corpus import open_corpus
    from unembed.inversion.evaluate import sample

    t0 = time.perf_counter()
    embedder = load_embedder(args.embedder)
    judge = Judge(embedder)
    corpus = open_corpus(args.corpus_dir)
    fake = Faker(LOCALES)
    fake.seed_instance(args.seed)
    rng = random.Random(args.seed)
    names_pool = list(dict.fromkeys(fake.name() for _ in range(3 * args.distractors)))
    tally: dict[str, list[int]] = {}

    def add(set_name: str, test: str, kind: str, ok: int, n: int = 1) -> None:
        row = tally.setdefault(f"{set_name}|{test}|{kind}", [0, 0])
        row[0] += int(ok)
        row[1] += n

    gaps: list[float] = []
    for set_name in ("synthetic_records_heldout", "kernel-maintainers"):
        texts = sample(list(corpus.heldout[set_name]), args.n, args.seed)
        for text in texts:
            target = unit(embedder.embed([text])[0])
            found = items_of(set_name, text)
            names = [text[s:e] for kind, s, e in found if kind == "name"]
            for kind, s, e in found:
                item = text[s:e]
                if kind in ("number", "phone", "date") and any(c.isdigit() for c in item):
                    ok, n, g = digits_one_wrong(judge, target, text, s, e)
                    add(set_name, "digit, one wrong", kind, ok, n)
                    gaps += g
                    add(set_name, "digit search", kind, digit_search(judge, target, text, s, e, rng))
                elif kind in ("name", "email"):
                    if kind == "name":
                        others = rng.sample([x for x in names_pool if x != item], args.distractors)
                    else:
                        others = email_distractors(fake, names[0] if names else item.split("@")[0], item,
                                                   args.distractors)
                    ctx = [text[:s] + o + text[e:] for o in others]
                    add(set_name, f"among {len(others) + 1}, in context", kind, rank_first(judge, target, text, ctx))
                    if kind == "name":
                        add(set_name, f"among {len(others) + 1}, name alone", kind,
                            rank_first(judge, target, item, others))
            print(f"{set_name}: {texts.index(text) + 1}/{len(texts)}, {judge.calls} texts embedded", flush=True)

    rows = [{"set": k.split("|")[0], "test": k.split("|")[1], "kind": k.split("|")[2], "hits": v[0], "n": v[1],
             "rate": v[0] / v[1] if v[1] else None} for k, v in tally.items()]
    result = {"date": str(date.today()), "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, "
              f"torch {torch.__version__}", "command": "benchmarks/pii_ceiling.py " + " ".join(
              f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"),
              "embedder": {k: v for k, v in embedder.fingerprint().items() if k != "probe"},
              "texts_embedded": judge.calls, "seconds": time.perf_counter() - t0,
              "digit_gap_median": float(np.median(gaps)) if gaps else None,
              "digit_gap_p10": float(np.percentile(gaps, 10)) if gaps else None, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print("| set | test | kind | identified |\n|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["set"], r["kind"], r["test"])):
        print(f"| {r['set']} | {r['test']} | {r['kind']} | {r['hits']} of {r['n']} ({100 * r['rate']:.0f}%) |")
    print(f"digit gap: median {result['digit_gap_median']:.5f}, 10th percentile {result['digit_gap_p10']:.5f}; "
          f"{judge.calls} texts embedded in {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
