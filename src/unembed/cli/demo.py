"""The main job on embedded defaults, end to end.

Realistic sentences (names, e-mail addresses, numbers) are embedded with MiniLM and written to an
embedded Chroma store, the way an application would; the vectors are then read back through the
read-only store reader, as an attacker who copied the store would, and inverted.

The inverter is the one that ships with unembed (``load_inverter("minilm")``); no training step.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

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


def _inverter(console):
    from ..inversion.inverter import load_inverter

    inv = load_inverter("minilm")  # a clear CheckpointError when the shipped inverter is missing
    console.print("Using the shipped MiniLM inverter (src/unembed/shipped/minilm, see its MODEL_CARD.md).")
    return inv


def _name_list(console, embedder, vectors, ids: list[str], rows: list[dict]) -> None:
    """The name-list attack, which needs no inverter: the audit's list of common given names, each
    embedded once, ranked by cosine to every stored vector (``unembed audit --names FILE``)."""
    from ..audit.names import BUILTIN, load_names

    names = load_names(BUILTIN, embedder)
    hits = []
    for rid, row, r in zip(ids, rows, names.rank(vectors, [row["original"] for row in rows])):
        row["name_list"] = r
        if r.get("listed"):
            top = r["guesses"][0][0]
            hits.append(f"{rid} names {', '.join(r['listed'])}: ranked first {top} "
                        + ("[green](right)[/green]" if r["rank"] == 1 else f"[red](rank {r['rank']})[/red]"))
    if hits:
        console.print(f"Name-list attack, no inverter ({len(names.names)} common given names ranked by cosine to "
                      "each vector, as `unembed audit` does by default): " + "; ".join(hits) + ".", highlight=False)


def run(out_dir: Path, steps: int = 20, beam: int = 4, console=None, inverter=None) -> list[dict]:
    """Run the demo; ``inverter`` (an Inverter or a folder) overrides the shipped one."""
    import chromadb
    from rich.console import Console
    from rich.table import Table

    from ..metrics import bleu
    from ..audit.stores import open_store

    console = console or Console()
    out_dir = Path(out_dir)
    if inverter is None:
        inverter, shipped = _inverter(console), True
    else:
        from ..inversion.inverter import Inverter, load_inverter

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

    from ..audit import score_record

    table = Table("original", "recovered from the vector", "cosine", "BLEU", "sensitive items back", show_lines=True,
                  title=f"unembed demo: {'shipped' if shipped else inverter.model_id} inverter, {steps} steps, beam {beam}")
    rows = []
    for text, r in zip(SENTENCES, results):
        b = bleu(embedder.normalize_text(r.text), embedder.normalize_text(text))
        items = score_record(r.text, text, embedder.normalize_text)["sensitive"]
        rows.append({"original": text, "recovered": r.text, "cosine": r.cosine, "bleu": b, "sensitive": items})
        shown = "\n".join(f"{'[green]yes[/green]' if it['recovered'] else '[red]no[/red]'} {it['kind']}: {it['text']}"
                          for it in items) or "-"
        table.add_row(text, r.text, f"{r.cosine:.3f}", f"{b:.1f}", shown)
    console.print(table)
    found = [it for row in rows for it in row["sensitive"]]
    kinds = sorted({it["kind"] for it in found})
    console.print("Sensitive items recovered: " + ", ".join(
        f"{k} {sum(it['recovered'] for it in found if it['kind'] == k)} of {sum(it['kind'] == k for it in found)}"
        for k in kinds), highlight=False)
    _name_list(console, embedder, np.asarray(vectors, dtype=np.float32), ids, rows)
    s = inverter.stats
    console.print(f"{s['n']} inversions in {s['seconds']:.1f}s, {s['texts_embedded']} texts re-embedded "
                  f"in {s['embedder_calls']} embedder calls.")
    return rows
