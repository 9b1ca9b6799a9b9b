"""The one typer app, its two consoles, and the options every command shares.

Commands live in a module each (``inversion``, ``audit``, ``defend``, ``glitch``) and register
themselves on :data:`app`; ``unembed.cli.main`` runs it. Defaults come from the config dataclasses
(``TrainConfig``, ``DefendConfig``, ...) through :func:`default`, never typed twice.
"""
from __future__ import annotations

import inspect
from dataclasses import MISSING, fields
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Recover text from text embeddings, and measure what vectors give away.")
console = Console(stderr=True)  # progress, notes and errors
out = Console()  # results

PRECISION_HELP = "decoding precision: auto (bf16 where the hardware has it), fp32, bf16"
EDITS_HELP = ("token-level edits a step: at this many positions the corrector doubts most, its likeliest other tokens "
              "are tried in place (and inserted, and the token deleted), ranked by re-embedded cosine; 0: none. "
              "Slower (each edit is one embedded text); a stronger attacker")


def default(config_class, name: str):
    """The default of field ``name`` of a config dataclass: the one place it is written."""
    for f in fields(config_class):
        if f.name == name:
            if f.default is not MISSING:
                return f.default
            if f.default_factory is not MISSING:  # type: ignore[misc]
                return f.default_factory()  # type: ignore[misc]
            break
    raise KeyError(f"{config_class.__name__} has no default for {name}")


# The options every training command takes alike (`unembed train`, `unembed lm train`): the training
# loop's whole numbers, each default read from the command's own config class, and --resume.
LOOP_OPTIONS = ("batch_size", "warmup_steps", "eval_every", "save_every", "n_validation", "n_test", "seed")


def with_loop_options(config_class):
    """Adds :data:`LOOP_OPTIONS` (defaults from ``config_class``) and ``--resume`` to a typer command,
    after its own options; the command takes them as keyword arguments (``**loop``)."""

    def decorate(command):
        sig = inspect.signature(command)
        own = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=int,
                                   default=typer.Option(default(config_class, name)))
                 for name in LOOP_OPTIONS]
        added.append(inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                       default=typer.Option(False, "--resume",
                                                            help="continue the run in --out where it stopped")))
        command.__signature__ = sig.replace(parameters=own + added)
        command.__annotations__ = {**command.__annotations__, **{p.name: p.annotation for p in added}}
        return command

    return decorate


def check_run_args(steps: int | None = None, beam: int | None = None, batch_size: int | None = None,
                   edits: int | None = None, **positive: int | None) -> None:
    """Refuse bad numbers with one line before anything is loaded (the inverter takes seconds)."""
    from ..errors import InputError

    if steps is not None and steps < 0:
        raise InputError(f"--steps must be >= 0, not {steps}")
    if edits is not None and edits < 0:
        raise InputError(f"--edits must be >= 0, not {edits}")
    if beam is not None and beam < 1:
        raise InputError(f"--beam must be >= 1, not {beam}")
    if batch_size is not None and batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, not {batch_size}")
    for name, value in positive.items():
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be a positive integer, not {value}")


def check_texts_given(texts: list[str]) -> list[str]:
    """Texts to embed, refusing empty and whitespace-only ones (there is nothing to recover)."""
    from ..errors import InputError

    for k, t in enumerate(texts):
        if not t or not t.strip():
            raise InputError(f"text {k + 1} is empty or only whitespace: give --text a sentence to embed and recover")
    return list(texts)


def load_for_cli(inverter: str, embedder: Optional[str], precision: str = "auto"):
    """Load an inverter (and an embedder override) the way every command does."""
    from ..inversion.inverter import load_inverter

    emb = None
    if embedder:
        from ..embedders import load_embedder

        emb = load_embedder(embedder)
    return load_inverter(inverter, embedder=emb, precision=precision)
