"""LM inversion against Gemma 3 270M on this CPU: train in probs mode, score held-out and
out-of-distribution prompts, with the baselines. Writes results to OUT/benchmark.json.

    PYTHONPATH=src python benchmarks/lm_gemma.py --out runs/lm-gemma --train 1500 --steps 800

Prompts are seeded templates of three in-distribution registers (trivia questions, instructions,
dialogue turns) with many fillers; the out-of-distribution register (recipe steps) is never trained
on. Templated prompts are easier than the issue's corpus prompts: say so beside any number.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

SUBJECTS = ("France Japan Brazil Kenya Canada Norway Egypt India Mexico Italy Spain Chile Peru Greece Turkey Poland "
            "Sweden Ghana Nepal Cuba").split()
TOPICS = ("photosynthesis gravity inflation democracy volcanoes vaccines electricity tides rainbows earthquakes "
          "bitcoin jazz chess yoga gardening poetry algebra glaciers comets bread").split()
PEOPLE = "Anna Ben Carla David Elena Frank Grace Hugo Iris Jack Kate Leo Maya Noah Olga Paul".split()
THINGS = ("a poem a story an email a summary a haiku a letter a limerick a speech a joke a review a tweet a song").split(" ")
THINGS = [" ".join(THINGS[i:i + 2]) for i in range(0, len(THINGS), 2)]
FOODS = "onions garlic carrots potatoes rice pasta eggs butter flour tomatoes chicken beans".split()
ACTIONS = "Chop Fry Boil Stir Bake Slice Mix Roast Grate Whisk".split()


def in_distribution(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:
        return rng.choice([f"What is the capital of {rng.choice(SUBJECTS)}?",
                           f"Explain {rng.choice(TOPICS)} in simple words.",
                           f"How many people live in {rng.choice(SUBJECTS)}?",
                           f"Who invented {rng.choice(TOPICS)}?",
                           f"Why is {rng.choice(TOPICS)} important for {rng.choice(SUBJECTS)}?"])
    if kind == 1:
        return rng.choice([f"Write {rng.choice(THINGS)} about {rng.choice(TOPICS)}.",
                           f"Translate this sentence about {rng.choice(TOPICS)} into French.",
                           f"Give me three facts about {rng.choice(SUBJECTS)}.",
                           f"Summarise the history of {rng.choice(SUBJECTS)} in one paragraph."])
    a, b = rng.sample(PEOPLE, 2)
    return rng.choice([f"{a}: Hi {b}, did you read about {rng.choice(TOPICS)}?",
                       f"{a}: Are you travelling to {rng.choice(SUBJECTS)} next week?",
                       f"{a}: {b}, can you help me with {rng.choice(TOPICS)} tonight?"])


def out_of_distribution(rng: random.Random) -> str:
    a, b = rng.sample(FOODS, 2)
    return f"{rng.choice(ACTIONS)} the {a} and add the {b} after {rng.randint(2, 12)} minutes."


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/lm-gemma"))
    ap.add_argument("--access", default="probs:2")
    ap.add_argument("--train", type=int, default=1500)
    ap.add_argument("--test", type=int, default=100)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--model", default="small")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--baseline-prompts", type=int, default=50)
    ap.add_argument("--mixed-precision", default="no", choices=("no", "bf16", "fp16"),
                    help="of the inverter's training (bf16 about doubles a CPU's speed where it is native)")
    args = ap.parse_args()

    from unembed.lm import load_lm_inverter, load_target
    from unembed.lm.baselines import ask_the_model
    from unembed.lm.evaluate import evaluate_lm, uncased
    from unembed.lm.training import LMTrainConfig, train_lm

    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    prompts = sorted({in_distribution(rng) for _ in range(args.train * 3)})
    rng.shuffle(prompts)
    ood = sorted({out_of_distribution(rng) for _ in range(args.test * 3)})[: args.test]
    (args.out / "prompts.txt").write_text("\n".join(prompts[: args.train + 2 * args.test]) + "\n")
    t0 = time.time()
    target = load_target("gemma3-270m")
    load_s = time.time() - t0
    cfg = LMTrainConfig(out=str(args.out / "run"), target="gemma3-270m", access=args.access,
                        prompts=str(args.out / "prompts.txt"), train_prompts=0, n_validation=args.test // 2,
                        n_test=args.test, model=args.model, init="bert" if args.model != "tiny" else "random",
                        steps=args.steps, batch_size=args.batch_size, warmup_steps=min(100, args.steps // 10),
                        eval_every=max(100, args.steps // 4), save_every=100,
                        mixed_precision=args.mixed_precision)
    t1 = time.time()
    train_lm(cfg, target=target)
    train_s = time.time() - t1
    inv = load_lm_inverter(args.out / "run")
    test = json.loads((args.out / "run" / "splits.json").read_text())["test"]
    t2 = time.time()
    ev = evaluate_lm(inv, target, test, baselines=False).to_dict()
    ev_ood = evaluate_lm(inv, target, ood, baselines=False).to_dict()
    ask = ask_the_model(target, test[: args.baseline_prompts], normalize=uncased)
    nn = None
    from unembed.lm.evaluate import observe_for
    from unembed.metrics import score

    obs = observe_for(inv, target, test)
    nn_pred = inv.nearest(obs)
    if nn_pred:
        m = score(nn_pred, test, normalize=uncased)
        nn = {k: m[k] for k in ("bleu", "token_f1", "exact_match")}
    result = {"access": args.access, "train_prompts": args.train, "steps": args.steps, "model": args.model,
              "batch_size": args.batch_size, "mixed_precision": args.mixed_precision,
              "gemma_load_s": load_s, "train_s_incl_observe": train_s, "eval_s": time.time() - t2,
              "test": {k: ev[k] for k in ("bleu", "token_f1", "exact_match", "n", "queries_per_prompt")},
              "ood": {k: ev_ood[k] for k in ("bleu", "token_f1", "exact_match", "n")},
              "ask_the_model": ask["best"], "ask_by_suffix": ask["by_suffix"], "nearest_neighbour": nn,
              "signature": ev["signature"]["string"], "examples": ev["examples"][:8],
              "ood_examples": ev_ood["examples"][:4]}
    (args.out / "benchmark.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
