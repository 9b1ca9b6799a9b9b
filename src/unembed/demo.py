"""The main job on embedded defaults, end to end.

Realistic sentences (names, e-mail addresses, numbers) are embedded with MiniLM and written to an
embedded Chroma store, the way an application would; the vectors are then read back through the
read-only store reader, as an attacker who copied the store would, and inverted.

The shipped inverter is used when one ships; otherwise a small inverter is trained on the spot on a
slice of the default corpus (a few minutes on a laptop CPU), and the output says so.
"""
from __future__ import annotations

import time
from pathlib import Path

from .errors import CheckpointError
from .progress import RichReporter, bars

SENTENCES = [
    "Please send the signed contract to maria.garcia@example.com before Friday.",
    "John Smith was admitted to the hospital on 12 March 2023 with chest pain.",
    "The meeting with the board has been moved to 3 pm on Tuesday.",
    "Our quarterly revenue grew by 14 percent to 2.3 million dollars.",
    "Call me at 555-0142 if the delivery is late again.",
    "The patient is allergic to penicillin and takes 20 mg of lisinopril daily.",
    "Paris is the capital and most populous city of France.",
    "My password reset code is 48213, do not share it with anyone.",
]

DEMO_CORPUS_SIZE = 6000
DEMO_TRAINING = dict(model="small", batch_size=32, hypothesizer_steps=300, corrector_steps=100,
                     corrector_examples=1500, warmup_steps=30, eval_every=0, save_every=50,
                     n_validation=50, n_test=50)


def _run_dir(out_dir: Path) -> Path:
    """The on-the-spot run's folder, named by its settings so a changed recipe never clashes."""
    import hashlib
    import json

    key = hashlib.sha256(json.dumps([DEMO_CORPUS_SIZE, DEMO_TRAINING], sort_keys=True).encode()).hexdigest()[:8]
    return out_dir / f"inverter-{key}"


def _inverter(out_dir: Path, console):
    from .inverter import SHIPPED_DIR, load_inverter

    if (SHIPPED_DIR / "minilm" / "inverter.json").exists():
        console.print("Using the shipped MiniLM inverter.")
        return load_inverter("minilm"), True
    run = _run_dir(out_dir)
    try:
        inv = load_inverter(run)
        if inv.corrector is not None:
            console.print(f"Using the inverter trained earlier by the demo in {run}.")
            return inv, False
    except CheckpointError:
        pass
    return _train_on_the_spot(out_dir, console), False


def _train_on_the_spot(out_dir: Path, console):
    from .corpus import load_corpus
    from .training import TrainConfig, train

    console.print("[yellow]No inverter ships with this version yet: training a small one on the spot "
                  f"on {DEMO_CORPUS_SIZE} texts of the default corpus (a few minutes on CPU). "
                  "Expect rough recoveries: a model trained for minutes, not days.[/yellow]")
    corpus = load_corpus("default")
    subset = out_dir / "demo_corpus.txt"
    subset.parent.mkdir(parents=True, exist_ok=True)
    subset.write_text("\n".join(corpus.train[:DEMO_CORPUS_SIZE]) + "\n")
    cfg = TrainConfig(out=str(_run_dir(out_dir)), corpus=str(subset), **DEMO_TRAINING)
    t0 = time.perf_counter()
    with bars(console) as p:
        inv = train(cfg, resume=True, reporter=RichReporter(p))
    console.print(f"Trained in {(time.perf_counter() - t0) / 60:.1f} minutes.")
    return inv


def run(out_dir: Path, steps: int = 20, beam: int = 4, console=None, inverter=None) -> list[dict]:
    """Run the demo; ``inverter`` (an Inverter or a folder) overrides the shipped / on-the-spot one."""
    import chromadb
    from rich.console import Console
    from rich.table import Table

    from .metrics import bleu
    from .stores import open_store

    console = console or Console()
    out_dir = Path(out_dir)
    if inverter is None:
        inverter, shipped = _inverter(out_dir, console)
    else:
        from .inverter import Inverter, load_inverter

        inverter = inverter if isinstance(inverter, Inverter) else load_inverter(inverter)
        shipped = False
    embedder = inverter.embedder

    # The application side: embed and store.
    store = out_dir / "store"
    client = chromadb.PersistentClient(path=str(store), settings=chromadb.config.Settings(anonymized_telemetry=False))
    col = client.get_or_create_collection("demo", metadata={"hnsw:space": "cosine"})
    ids = [f"doc-{i}" for i in range(len(SENTENCES))]
    col.upsert(ids=ids, embeddings=embedder.embed(SENTENCES).tolist(), documents=SENTENCES)
    del col, client

    # The attacker side: read the vectors back, read-only, and invert them.
    uri = f"chroma://{store.resolve()}?collection=demo"
    with open_store(uri) as reader:
        got = {i: v for b in reader.batches() for i, v in zip(b.ids, b.vectors)}
    vectors = [got[i] for i in ids]
    console.print(f"Read {len(vectors)} vectors of dimension {len(vectors[0])} from {uri}")
    results = inverter.invert(vectors, steps=steps if inverter.corrector is not None else 0, beam=beam)

    table = Table("original", "recovered from the vector", "cosine", "BLEU", show_lines=True,
                  title=f"unembed demo: {'shipped' if shipped else inverter.model_id} inverter, {steps} steps, beam {beam}")
    rows = []
    for text, r in zip(SENTENCES, results):
        b = bleu(embedder.normalize_text(r.text), embedder.normalize_text(text))
        rows.append({"original": text, "recovered": r.text, "cosine": r.cosine, "bleu": b})
        table.add_row(text, r.text, f"{r.cosine:.3f}", f"{b:.1f}")
    console.print(table)
    s = inverter.stats
    console.print(f"{s['n']} inversions in {s['seconds']:.1f}s, {s['texts_embedded']} texts re-embedded "
                  f"in {s['embedder_calls']} embedder calls.")
    return rows
