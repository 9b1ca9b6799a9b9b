"""The training loop both models share, its checkpoints, and the deterministic data order.

Checkpoints are safetensors plus a JSON file written last (the commit marker), each atomically, so a
crash leaves the previous checkpoint intact. Randomness (data order, dropout) is a pure function of
(seed, stage, step), which makes a resumed run reach the same state as an uninterrupted one. The
same loop runs on CPU, one GPU or several (``accelerate launch``): each process takes its slice of
every global batch.
"""
from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ...errors import CheckpointError, InputError, UnembedError
from ...io import atomic_write, read_json, write_json
from ...reporting import LogReporter, Reporter

__all__ = ["Batches", "lr_lambda", "save_checkpoint", "load_checkpoint", "restore_weights", "LoopSettings",
           "Fitter", "TrainingInterrupted", "accelerator", "read_checkpoint"]


class TrainingInterrupted(UnembedError):
    """Training stopped (Ctrl-C, SIGTERM or ``stop_after``) after saving a checkpoint."""


@contextlib.contextmanager
def signals_deferred():
    """Hold SIGINT and SIGTERM back until the block ends (POSIX, main thread; elsewhere a no-op).

    An optimizer step interrupted half-way would leave some parameters updated and others not, and a
    checkpoint saved then would name a step count its weights do not match: the resumed run would differ
    from an uninterrupted one. A signal sent meanwhile stays pending and is delivered as the block ends,
    so the step is either wholly done or not begun."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


_ACCELERATOR = None


def accelerator(mixed_precision: str):
    """The process's one :class:`accelerate.Accelerator`.

    accelerate keeps its state per process and cannot change the precision once set, so every
    training run of a process (a defence run fine-tunes several attackers) shares the first one;
    a later request for another precision gets the first one's, which it reports."""
    global _ACCELERATOR
    if _ACCELERATOR is None:
        from accelerate import Accelerator

        _ACCELERATOR = Accelerator(mixed_precision=mixed_precision, cpu=not torch.cuda.is_available())
    return _ACCELERATOR


class Batches:
    """Deterministic data order: global item p of the stream is perm(seed, epoch)[p mod n]."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        if n == 0:
            raise InputError("no training examples")
        self.n, self.b, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self._perms: dict[int, np.ndarray] = {}

    def perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng([self.seed, epoch]).permutation(self.n)}
        return self._perms[epoch]

    def __call__(self, step: int) -> np.ndarray:
        g = self.b * self.world
        positions = np.arange(step * g + self.rank * self.b, step * g + (self.rank + 1) * self.b)
        return np.array([self.perm(int(p // self.n))[p % self.n] for p in positions])


def lr_lambda(warmup: int, total: int) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return f




def save_checkpoint(folder: Path, model, optimizer, step: int, extra: dict) -> None:
    from safetensors.torch import save

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt = optimizer.state_dict()
    for pid, st in opt["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = (v if torch.is_tensor(v) else torch.tensor(v)).detach().cpu().contiguous()
    name = f"step-{step:08d}.safetensors"
    atomic_write(folder / name, save(tensors))
    groups = [{k: v for k, v in g.items() if k != "params"} | {"params": g["params"]} for g in opt["param_groups"]]
    write_json(folder / "checkpoint.json", {"step": step, "weights": name, "param_groups": groups, **extra})
    for old in folder.glob("step-*.safetensors"):
        if old.name != name:
            old.unlink()


def read_checkpoint(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The metadata and tensors of the checkpoint in ``folder``, or one line saying it is corrupt."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta = read_json(folder / "checkpoint.json")
    try:
        tensors = load_file(str(folder / meta["weights"]))
    except (SafetensorError, OSError, KeyError) as exc:
        raise CheckpointError(f"checkpoint in {folder} is corrupt or truncated ({exc}); delete the folder to restart that stage") from None
    return meta, tensors


def load_checkpoint(folder: Path, model, optimizer) -> tuple[int, dict]:
    meta, tensors = read_checkpoint(folder)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, pid, name = k.split(".", 2)
            state.setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return meta["step"], meta


def restore_weights(folder: Path, model: torch.nn.Module) -> None:
    """Load the model weights of the checkpoint in ``folder`` (not the optimizer)."""
    _, tensors = read_checkpoint(folder)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})


@dataclass
class LoopSettings:
    """What the loop needs of a training config (TrainConfig and the fine-tune config both have it)."""

    batch_size: int
    lr: float
    lr_pretrained: float
    weight_decay: float
    warmup_steps: int
    eval_every: int
    save_every: int
    seed: int


class Fitter:
    """Runs the loop for one model at a time under ``out/checkpoints/<stage>``, resumably."""

    def __init__(self, acc, out: Path, settings: LoopSettings, reporter: Reporter | None = None,
                 stop_after: int | None = None, precision: str = "no"):
        self.acc, self.out, self.cfg = acc, Path(out), settings
        self.reporter = reporter or LogReporter()
        self.stop_after = stop_after  # stop (as if interrupted) after this many optimizer steps
        self.steps_this_run = 0
        self.precision = precision

    def fit(self, stage: str, model: torch.nn.Module, pretrained: set[str], steps: int,
            make_batch: Callable[[np.ndarray], dict], n_items: int, evaluate: Callable[[], dict]) -> None:
        cfg, acc = self.cfg, self.acc
        folder = self.out / "checkpoints" / stage
        if (folder / "done.json").exists():
            return
        trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in trainable if n in pretrained], "lr": cfg.lr_pretrained},
            {"params": [p for n, p in trainable if n not in pretrained], "lr": cfg.lr},
        ]
        groups = [g for g in groups if g["params"]]
        optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
        for g in optimizer.param_groups:
            g["initial_lr"] = g["lr"]
        start = 0
        if (folder / "checkpoint.json").exists():
            start, _ = load_checkpoint(folder, model, optimizer)
            self.reporter.note(f"{stage}: resuming at step {start}")
        schedule = lr_lambda(cfg.warmup_steps, steps)
        model, optimizer = acc.prepare(model, optimizer)
        batches = Batches(n_items, cfg.batch_size, cfg.seed, acc.process_index, acc.num_processes)
        self.reporter.start(stage, steps, start)
        ema, window = None, []
        log_file = self.out / "log.jsonl"
        t0, seen = time.perf_counter(), 0
        completed = start  # steps whose update is in the weights
        try:
            for step in range(start, steps):
                if self.stop_after is not None and self.steps_this_run >= self.stop_after:
                    raise KeyboardInterrupt
                for g in optimizer.param_groups:
                    g["lr"] = g["initial_lr"] * schedule(step)
                torch.manual_seed(zlib.crc32(f"{cfg.seed}:{stage}:{step}".encode()))
                batch = {k: v.to(acc.device) for k, v in make_batch(batches(step)).items()}
                model.train()
                with acc.autocast():
                    loss = model(**batch)
                acc.backward(loss)
                with signals_deferred():  # the update is whole or not begun when a signal stops the run
                    acc.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    self.steps_this_run += 1
                    completed = step + 1
                seen += len(next(iter(batch.values()))) * acc.num_processes
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise UnembedError(f"{stage}: loss became {value} at step {step}; lower --lr or use --mixed-precision no")
                ema = value if ema is None else 0.98 * ema + 0.02 * value
                window.append(value)
                self.reporter.advance(stage, 1, loss=ema)
                done_steps = step + 1
                record = None
                if cfg.eval_every and acc.is_main_process and (done_steps % cfg.eval_every == 0 or done_steps == steps):
                    record = {"stage": stage, "step": done_steps, **evaluate()}
                    self.reporter.note(f"{stage} step {done_steps}: " + ", ".join(
                        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items() if k not in ("stage", "step")))
                if acc.is_main_process and (done_steps % cfg.save_every == 0 or done_steps == steps):
                    save_checkpoint(folder, acc.unwrap_model(model), optimizer, done_steps, {"loss": ema})
                if acc.is_main_process and (record or done_steps % 10 == 0):
                    elapsed = time.perf_counter() - t0
                    record = record or {"stage": stage, "step": done_steps}
                    record["loss"] = float(np.mean(window))  # mean training loss since the last record
                    window = []
                    record["examples_per_second"] = seen / max(elapsed, 1e-9)
                    with open(log_file, "a") as f:
                        f.write(json.dumps(record) + "\n")
        except KeyboardInterrupt:
            # `completed`: the steps whose update is in the weights (not `step`, which may be done or not begun)
            if acc.is_main_process and completed > start:
                save_checkpoint(folder, acc.unwrap_model(model), optimizer, completed, {"loss": ema})
            raise TrainingInterrupted(f"{stage} interrupted after step {completed}; checkpoint saved: rerun with --resume "
                                      "to continue") from None
        if acc.is_main_process:
            elapsed = time.perf_counter() - t0
            write_json(folder / "done.json", {"steps": steps, "examples_per_second": seen / max(elapsed, 1e-9),
                                               "seconds_this_run": elapsed, "precision": self.precision})
        acc.wait_for_everyone()

    def restore(self, stage: str, model: torch.nn.Module) -> None:
        """Load the last checkpoint of ``stage`` into ``model`` (after :meth:`fit`)."""
        restore_weights(self.out / "checkpoints" / stage, model)
