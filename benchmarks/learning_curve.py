"""Learning curves of the GPU training runs (validation metrics against training examples seen).

    .venv/bin/python benchmarks/learning_curve.py

Reads the ``log.jsonl`` files the runs wrote (copied to benchmarks/results/gpu_training/): the shipped
model's run (small preset, warm-started from MiniLM's BERT weights: hypothesizer, then corrector),
and two hypothesizer-only controls on the same data, schedule and batch, stopped after ~5 minutes:
random initialisation (same small preset) and the base preset (6+6 layers, warm-started).
Validation = 64 validation texts, greedy, steps 0 for the hypothesizer and 1 for the corrector.
Writes benchmarks/results/learning_curve.png and prints a markdown table.
"""
import json
from pathlib import Path

HERE = Path(__file__).parent / "results" / "gpu_training"
RUNS = {"small, BERT warm start (shipped)": "small_bert_log.jsonl",
        "small, random init": "small_random_log.jsonl",
        "base, BERT warm start": "base_bert_log.jsonl"}
BATCH = 256


def curves() -> dict[str, list[dict]]:
    out = {}
    for name, f in RUNS.items():
        rows = [json.loads(line) for line in open(HERE / f)]
        out[name] = [r for r in rows if "val_bleu" in r]
    return out


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = curves()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, rows in data.items():
        for stage, style in (("hypothesizer", "-o"), ("corrector", "--s")):
            pts = [r for r in rows if r["stage"] == stage]
            if not pts:
                continue
            offset = 0 if stage == "hypothesizer" else max(r["step"] for r in rows if r["stage"] == "hypothesizer")
            x = [(offset + r["step"]) * BATCH / 1e6 for r in pts]
            for ax, key in zip(axes, ("val_bleu", "val_cosine")):
                ax.plot(x, [r[key] for r in pts], style, label=f"{name}: {stage}", markersize=4)
    for ax, title in zip(axes, ("BLEU", "cosine")):
        ax.set_xlabel("training examples seen (millions; 160,267 texts per epoch)")
        ax.set_title(f"validation {title}")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(HERE.parent / "learning_curve.png", dpi=110)
    print("| run | stage | step | examples seen | epochs | val BLEU | val token F1 | val cosine | train loss |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, rows in data.items():
        for r in rows:
            ex = r["step"] * BATCH
            print(f"| {name} | {r['stage']} | {r['step']} | {ex / 1e6:.2f}M | {ex / 160267:.1f} | {r['val_bleu']:.1f} "
                  f"| {r['val_token_f1']:.1f} | {r['val_cosine']:.3f} | {r['loss']:.2f} |")


if __name__ == "__main__":
    main()
