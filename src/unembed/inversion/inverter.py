"""An inverter: a folder holding a hypothesizer, a corrector and their tokenizer, and ``invert()``.

Inference follows Morris et al., "Text Embeddings Reveal (Almost) As Much As Text" (EMNLP 2023):
a first hypothesis from the hypothesizer, then correction steps; the sequence-level beam of width b
keeps, each step, the b unique candidates whose re-embedding is closest (cosine) to the target.
Differences from the reference implementation, each deliberate:

- the beam's previous candidates stay in the pool, so the best cosine never gets worse;
- every text is embedded at most once per ``invert()`` call (an in-call cache): re-queries of a paid
  embedder are wasted money;
- early stop per item fires on a cosine threshold, on a fixed point (the beam did not change, so
  further deterministic steps would repeat it) or after ``patience`` steps without improvement;
- memory stays bounded: items go through in batches and the b x b decodes in chunks of rows.

Folder layout (``save``/``load``)::

    inverter.json               format, model configs, max_tokens, embedder fingerprint, training facts
    hypothesizer.safetensors
    corrector.safetensors       (absent for a hypothesizer-only inverter)
    tokenizer.json
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..errors import CheckpointError, InputError, UnembedError
from .models import Corrector, CorrectorConfig, Hypothesizer, HypothesizerConfig, TransformerConfig
from ..io import atomic_write
from .precision import default_device, resolve_inference_precision
from .tokenization import Codec
from .weights import INT8_MIN_SIZE, load_model, save_model
from ..vectors import check_vectors

log = logging.getLogger(__name__)

FORMAT = "unembed-inverter"
FORMAT_VERSION = 1
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "shipped"


@dataclass
class Step:
    step: int
    text: str
    cosine: float


@dataclass
class StepUpdate:
    """What ``invert(on_step=...)`` is handed after each step (0: the hypothesizer's beam), for the
    items of the batch being inverted: item ``start + k`` is entry ``k`` of every list. ``texts`` and
    ``cosines``: each item's best candidate so far; ``candidates``: each item's beam, best first;
    ``active``: whether the item is still being corrected (False once it stopped early)."""

    step: int
    start: int
    texts: list[str]
    cosines: list[float]
    candidates: list[list[tuple[str, float]]]
    active: list[bool]


@dataclass
class Inversion:
    """One recovered text: the best candidate, its cosine to the target, and how it got there."""

    text: str
    cosine: float
    history: list[Step] = field(default_factory=list)
    candidates: list[tuple[str, float]] = field(default_factory=list)  # the final beam, best first
    steps: int = 0  # correction steps actually run
    stopped: str = "max_steps"  # max_steps | threshold | fixed_point | patience | no_corrector
    texts_embedded: int = 0  # embedder texts spent on this item

    def to_dict(self) -> dict:
        return asdict(self)


def _checked_fields(cls, d, where: str) -> dict:
    """``d`` (a dict from inverter.json) as the keyword arguments of dataclass ``cls``: every field
    known, of the right kind, and in range; raises ValueError naming the field."""
    if not isinstance(d, dict):
        raise ValueError(f"{where} is not an object")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ValueError(f"{where} has unknown field(s) {unknown}")
    for name, value in d.items():
        if name == "transformer":
            continue
        if name == "dropout" or name == "layer_norm_eps":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{where}.{name} must be a number in [0, 1), not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < (0 if name.endswith("_id") else 1):
            raise ValueError(f"{where}.{name} must be a {'non-negative' if name.endswith('_id') else 'positive'} "
                             f"integer, not {value!r}")
    return dict(d)


def _transformer(d, where: str) -> TransformerConfig:
    t = TransformerConfig(**_checked_fields(TransformerConfig, d, where))
    if t.d_model % t.n_heads:
        raise ValueError(f"{where}: d_model {t.d_model} is not divisible by n_heads {t.n_heads}")
    for name in ("pad_id", "bos_id", "eos_id"):
        if getattr(t, name) >= t.vocab_size:
            raise ValueError(f"{where}.{name} {getattr(t, name)} is outside the vocabulary of {t.vocab_size}")
    return t


def hypothesizer_config(d: dict) -> HypothesizerConfig:
    args = _checked_fields(HypothesizerConfig, d, "hypothesizer")
    return HypothesizerConfig(**{**args, "transformer": _transformer(d.get("transformer", {}), "hypothesizer.transformer")})


def corrector_config(d: dict) -> CorrectorConfig:
    args = _checked_fields(CorrectorConfig, d, "corrector")
    return CorrectorConfig(**{**args, "transformer": _transformer(d.get("transformer", {}), "corrector.transformer")})


#: the files of an inverter folder whose sha256 inverter.json records (``integrity``)
CHECKED_FILES = ("hypothesizer.safetensors", "corrector.safetensors", "tokenizer.json")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def config_sha256(cfg: dict) -> str:
    """The sha256 of what shapes the models (their configs, max_tokens, shared tensors), canonical JSON."""
    keys = ("hypothesizer", "corrector", "max_tokens", "corrector_shares")
    return hashlib.sha256(json.dumps({k: cfg.get(k) for k in keys}, sort_keys=True).encode()).hexdigest()


def integrity(path: Path, cfg: dict) -> dict:
    """What inverter.json records so that a changed or corrupt folder is refused on load."""
    files = {name: file_sha256(path / name) for name in CHECKED_FILES if (path / name).exists()}
    return {"files": files, "config_sha256": config_sha256(cfg)}


def check_integrity(path: Path, cfg: dict) -> None:
    """Refuse a folder whose files or model configs differ from what its inverter.json recorded."""
    rec = cfg.get("integrity")
    if rec is None:
        log.warning("%s records no checksums (saved by an older unembed): its files cannot be checked", path)
        return
    if not isinstance(rec, dict) or not isinstance(rec.get("files"), dict):
        raise CheckpointError(f"{path / 'inverter.json'} is corrupt: its integrity record is malformed")
    if rec.get("config_sha256") != config_sha256(cfg):
        raise CheckpointError(f"{path / 'inverter.json'} was changed after the inverter was saved (its model "
                              "configs no longer match their checksum): restore the file or retrain")
    for name, digest in rec["files"].items():
        if name not in CHECKED_FILES:
            raise CheckpointError(f"{path / 'inverter.json'} is corrupt: it records a checksum for unknown file {name!r}")
        if not (path / name).exists():
            raise CheckpointError(f"{path} lacks {name}, which its inverter.json records: re-copy the folder")
        if file_sha256(path / name) != digest:
            raise CheckpointError(f"{path / name} does not match the checksum in inverter.json (the file is changed, "
                                  "corrupt or truncated): re-copy the folder or retrain")


class Inverter:
    """Recovers texts from embedding vectors. Build with :func:`load_inverter` or :meth:`load`."""

    def __init__(
        self,
        hypothesizer: Hypothesizer,
        corrector: Corrector | None,
        codec: Codec,
        fingerprint: dict,
        max_tokens: int = 32,
        info: dict | None = None,
        embedder=None,
        device: str | None = None,
        precision: str = "auto",
    ):
        self.device = torch.device(device or default_device())
        self.precision = resolve_inference_precision(precision, self.device)
        self.hypothesizer = hypothesizer.to(self.device).eval()
        self.corrector = None if corrector is None else corrector.to(self.device).eval()
        self.codec = codec
        self.fingerprint = fingerprint
        self.max_tokens = max_tokens
        self.info = info or {}
        self.dim = hypothesizer.cfg.embedding_dim
        self._embedder = embedder
        self._checked = False
        self.stats: dict = {}
        self.source: str | None = None  # the folder it was loaded from

    @property
    def model_id(self) -> str:
        """A short, stable id of the weights: folder name @ sha256 of the parameters."""
        import hashlib

        h = hashlib.sha256()
        for model in (self.hypothesizer, self.corrector):
            if model is not None:
                for k, v in model.state_dict().items():
                    h.update(k.encode())
                    h.update(v.detach().float().cpu().numpy().tobytes())
        name = Path(self.source).name if self.source else "in-memory"
        return f"{name}@{h.hexdigest()[:12]}"

    # -- the embedder ---------------------------------------------------------------------------
    @property
    def embedder(self):
        """The embedder this inverter was trained for, checked against the recorded fingerprint."""
        if self._embedder is None:
            from ..embedders import load_embedder

            self._embedder = load_embedder(self.fingerprint["name"])
        if not self._checked:
            from ..embedders import check_fingerprint

            check_fingerprint(self.fingerprint, self._embedder)
            self._checked = True
        return self._embedder

    def use_embedder(self, embedder) -> "Inverter":
        """Use ``embedder`` for re-embedding (refused if it does not match the fingerprint)."""
        self._embedder, self._checked = embedder, False
        _ = self.embedder
        return self

    # -- persistence ----------------------------------------------------------------------------
    def config(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "max_tokens": self.max_tokens,
            "hypothesizer": asdict(self.hypothesizer.cfg),
            "corrector": None if self.corrector is None else asdict(self.corrector.cfg),
            "embedder": self.fingerprint,
            "info": self.info,
        }

    def shared_tensors(self) -> list[str]:
        """Corrector tensors equal to the hypothesizer's of the same name (the frozen token
        embeddings): saved once, in hypothesizer.safetensors."""
        if self.corrector is None:
            return []
        h, c = self.hypothesizer.state_dict(), self.corrector.state_dict()
        return sorted(k for k, v in c.items() if k in h and h[k].shape == v.shape and v.numel() >= INT8_MIN_SIZE
                      and torch.equal(h[k], v))

    def save(self, path: str | Path, dtype: torch.dtype | str | None = None) -> Path:
        """Write the inverter folder; ``dtype``: None (as trained), a float dtype, or "int8"."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        shared = self.shared_tensors()
        save_model(self.hypothesizer, path / "hypothesizer.safetensors", dtype)
        if self.corrector is not None:
            save_model(self.corrector, path / "corrector.safetensors", dtype, skip=shared)
        elif (path / "corrector.safetensors").exists():
            (path / "corrector.safetensors").unlink()
        self.codec.save(path / "tokenizer.json")
        cfg = self.config()
        cfg["corrector_shares"] = shared  # tensors corrector.safetensors takes from the hypothesizer
        cfg["weights_dtype"] = str(dtype or "as trained").replace("torch.", "")
        cfg["integrity"] = integrity(path, cfg)
        atomic_write(path / "inverter.json", json.dumps(cfg, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, embedder=None, device: str | None = None, precision: str = "auto") -> "Inverter":
        path = Path(path)
        cfg_file = path / "inverter.json"
        if not cfg_file.exists():
            raise CheckpointError(f"{path} is not an inverter folder (no inverter.json): train one with 'unembed train'")
        try:
            cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
            if not isinstance(cfg, dict):
                raise ValueError("it is not a JSON object")
            if cfg.get("format") != FORMAT:
                raise ValueError(f"format is {cfg.get('format')!r}")
            hcfg = hypothesizer_config(cfg["hypothesizer"])
            ccfg = None if cfg.get("corrector") is None else corrector_config(cfg["corrector"])
            if ccfg is not None and ccfg.embedding_dim != hcfg.embedding_dim:
                raise ValueError(f"corrector.embedding_dim {ccfg.embedding_dim} differs from the hypothesizer's "
                                 f"{hcfg.embedding_dim}")
            max_tokens = cfg.get("max_tokens", 32)
            if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens:
                raise ValueError(f"max_tokens must be a positive integer, not {max_tokens!r}")
            if max_tokens + 8 > hcfg.transformer.max_positions:
                raise ValueError(f"max_tokens {max_tokens} does not fit max_positions {hcfg.transformer.max_positions}")
            if not isinstance(cfg.get("embedder"), dict):
                raise ValueError("it records no embedder fingerprint")
        except RecursionError:
            raise CheckpointError(f"{cfg_file} is corrupt: JSON nested too deeply to read; restore it or retrain") from None
        except (ValueError, KeyError, TypeError, OSError) as exc:
            reason = " ".join(str(exc).split())[:300]
            raise CheckpointError(f"{cfg_file} is corrupt: {reason}; restore it or retrain") from None
        check_integrity(path, cfg)
        try:
            hyp = Hypothesizer(hcfg)
            cor = None if ccfg is None else Corrector(ccfg)
        except (ValueError, RuntimeError, TypeError, AssertionError, ZeroDivisionError) as exc:
            reason = " ".join(str(exc).split())[:300]
            raise CheckpointError(f"{cfg_file} describes models that cannot be built ({reason}); restore it or retrain") from None
        load_model(hyp, path / "hypothesizer.safetensors")
        if cor is not None:
            own = hyp.state_dict()
            shared = cfg.get("corrector_shares") or []
            if any(k not in own for k in shared):
                raise CheckpointError(f"{cfg_file} is corrupt: corrector_shares names tensors the hypothesizer lacks")
            load_model(cor, path / "corrector.safetensors", {k: own[k] for k in shared})
        codec = Codec.from_file(path / "tokenizer.json")
        inv = cls(hyp, cor, codec, cfg["embedder"], cfg.get("max_tokens", 32), cfg.get("info"), embedder, device,
                  precision)
        inv.source = str(path)
        return inv

    # -- inversion ------------------------------------------------------------------------------
    def _embed(self, texts: list[str], cache: dict[str, np.ndarray]) -> int:
        new = list(dict.fromkeys(t for t in texts if t not in cache))
        if new:
            t0 = time.perf_counter()
            for t, v in zip(new, self.embedder.embed(new)):
                cache[t] = v
            self.stats["embed_seconds"] += time.perf_counter() - t0
            self.stats["texts_embedded"] += len(new)
            self.stats["embedder_calls"] += 1
        return len(new)

    @property
    def max_len(self) -> int:
        return self.max_tokens + 8  # room for EOS and for tokenisation differences

    def _decode(self, fn: Callable, n_rows: int, chunk: int, beam: int) -> list[str]:
        """Run a generate function over rows in chunks; returns texts, ``beam`` per row."""
        out: list[str] = []
        t0 = time.perf_counter()
        for start in range(0, n_rows, chunk):
            rows = slice(start, min(start + chunk, n_rows))
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                ids = fn(rows, beam)
            out.extend(self.codec.decode(ids.cpu()))
        self.stats["decode_seconds"] += time.perf_counter() - t0
        return out

    @torch.no_grad()
    def invert(
        self,
        vectors,
        steps: int = 20,
        beam: int = 4,
        batch_size: int = 64,
        early_stop: bool = True,
        threshold: float = 0.9999,
        patience: int = 3,
        min_delta: float = 1e-4,
        progress: Callable[[int], None] | None = None,
        explore: int = 0,
        temperature: float = 1.0,
        seed: int = 0,
        on_step: Callable[[StepUpdate], None] | None = None,
        edits: int = 0,
        edit_alternatives: int = 2,
    ) -> list[Inversion]:
        """Recover one text per row of ``vectors`` (n, d).

        ``steps`` correction steps (0: hypothesizer only), sequence beam of width ``beam``.
        ``explore`` > 0 adds that many corrections *sampled* (at ``temperature``, seeded by ``seed``)
        from the best candidate at every step beside the beam's deterministic ones, so the search
        can leave a fixed point (a deterministic corrector handed the same hypothesis writes the
        same correction again); the fixed-point early stop is then replaced by ``patience``.
        ``edits`` > 0 adds token-level edits of the best candidate at every step
        (:mod:`unembed.inversion.edits`): at the ``edits`` positions whose token the corrector doubts
        most, its ``edit_alternatives`` likeliest other tokens in place, the best one inserted, and the
        token deleted; the embedder's cosine ranks them with the rest of the pool. Each edit costs
        one embedded text, so this trades speed for exact recovery near the target.
        ``progress(k)`` is called after each batch with the number of items finished;
        ``on_step(update)`` after every step of every batch with a :class:`StepUpdate` (each item's
        best text, cosine and beam so far): what a live view shows. An exception it raises stops the
        inversion (a way to cancel it); otherwise it changes nothing.
        ``self.stats`` holds embedder calls, texts embedded and where the time went.
        """
        if steps < 0 or beam < 1 or batch_size < 1 or explore < 0 or edits < 0 or edit_alternatives < 1:
            raise InputError(f"steps, explore and edits must be >= 0 and beam, batch_size, edit_alternatives >= 1 (got "
                             f"steps={steps}, beam={beam}, batch_size={batch_size}, explore={explore}, edits={edits}, "
                             f"edit_alternatives={edit_alternatives})")
        if explore and not temperature > 0:
            raise InputError(f"temperature must be > 0 to explore, got {temperature}")
        if steps > 0 and self.corrector is None:
            raise InputError("this inverter has no corrector (hypothesizer only): use --steps 0")
        vectors = check_vectors(vectors, self.dim, invertible=True)
        _ = self.embedder  # load and check before any work
        self.stats = {"embedder_calls": 0, "texts_embedded": 0, "embed_seconds": 0.0, "decode_seconds": 0.0,
                      "step_seconds": [0.0] * (steps + 1), "step_embedder_calls": [0] * (steps + 1)}
        t_start = time.perf_counter()
        results: list[Inversion] = []
        for start in range(0, len(vectors), batch_size):
            gen = torch.Generator(device=self.device).manual_seed(seed * 1_000_003 + start)
            results.extend(self._invert_batch(vectors[start:start + batch_size], steps, beam, early_stop,
                                              threshold, patience, min_delta, explore, temperature, gen,
                                              on_step, start, (edits, edit_alternatives)))
            if progress:
                progress(min(start + batch_size, len(vectors)))
        self.stats["seconds"] = time.perf_counter() - t_start
        self.stats["n"] = len(results)
        self.stats["inversions_per_second"] = len(results) / max(self.stats["seconds"], 1e-9)
        return results

    def _invert_batch(self, targets: np.ndarray, steps, beam, early_stop, threshold, patience, min_delta,
                      explore: int = 0, temperature: float = 1.0, generator: torch.Generator | None = None,
                      on_step: Callable[[StepUpdate], None] | None = None, start: int = 0,
                      edits: tuple[int, int] = (0, 1)):
        n = len(targets)
        dev = self.device
        t_step, calls_step = time.perf_counter(), self.stats["embedder_calls"]

        def step_done(step: int) -> None:
            """Time and embedder calls per step, summed over batches: the cost of stopping earlier."""
            nonlocal t_step, calls_step
            now = time.perf_counter()
            self.stats["step_seconds"][step] += now - t_step
            self.stats["step_embedder_calls"][step] += self.stats["embedder_calls"] - calls_step
            t_step, calls_step = now, self.stats["embedder_calls"]

        e = torch.from_numpy(targets).to(dev)
        unit = targets.astype(np.float64)
        unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-12)
        cache: dict[str, np.ndarray] = {}
        scored: list[dict[str, float]] = [{} for _ in range(n)]  # each text's cosine, computed once
        expanded: list[dict[str, list[str]]] = [{} for _ in range(n)]  # each candidate's corrections
        spent = [0] * n

        def cos(i: int, texts: Sequence[str]) -> list[float]:
            todo = [t for t in texts if t not in scored[i]]
            if todo:
                vs = np.stack([cache[t] for t in todo]).astype(np.float64)
                vs /= np.maximum(np.linalg.norm(vs, axis=1, keepdims=True), 1e-12)
                scored[i].update(zip(todo, (vs @ unit[i]).tolist()))
            return [scored[i][t] for t in texts]

        def select(i: int, pool: Sequence[str]) -> list[tuple[str, float]]:
            uniq = list(dict.fromkeys(pool))
            ranked = sorted(zip(uniq, cos(i, uniq)), key=lambda tc: -tc[1])
            return ranked[:beam]

        def charge(per_item: list[list[str]]):
            """Embed every text not seen yet; each is charged to the first item that asked for it."""
            todo: dict[str, None] = {}
            for i, texts in enumerate(per_item):
                for t in texts:
                    if t not in cache and t not in todo:
                        todo[t] = None
                        spent[i] += 1
            self._embed(list(todo), cache)

        # Step 0: the hypothesizer's beam (greedy when beam == 1).
        def gen_hyp(rows, b):
            return self.hypothesizer.generate(e[rows], self.max_len, num_beams=b, num_return=b)

        texts = self._decode(gen_hyp, n, max(1, 256 // beam), beam)
        pools = [texts[i * beam:(i + 1) * beam] for i in range(n)]
        charge(pools)
        beams = [select(i, pools[i]) for i in range(n)]
        results = [Inversion(text=b[0][0], cosine=b[0][1], history=[Step(0, b[0][0], b[0][1])]) for b in beams]
        active = list(range(n))
        if self.corrector is None:
            for r in results:
                r.stopped = "no_corrector"
        since_best = [0] * n
        step_done(0)
        if early_stop:
            for i in list(active):
                if beams[i][0][1] >= threshold:
                    results[i].stopped = "threshold"
                    active.remove(i)

        def report(step: int) -> None:
            if on_step is not None:
                on_step(StepUpdate(step, start, [b[0][0] for b in beams], [float(b[0][1]) for b in beams],
                                   [[(t, float(c)) for t, c in b] for b in beams],
                                   [i in active for i in range(n)]))

        report(0)

        for step in range(1, steps + 1):
            if not active:
                break
            # Decoding is deterministic given (target, hypothesis), so a candidate that stayed in
            # the beam is never expanded twice: its corrections are remembered from last time.
            rows = [(i, t) for i in active for t, _ in beams[i] if t not in expanded[i]]
            if rows:
                for (i, t), outs in zip(rows, self._correct(e, rows, cache, beam)):
                    expanded[i][t] = outs
            pools = {i: [t for t, _ in beams[i]] + [c for t, _ in beams[i] for c in expanded[i][t]] for i in active}
            if explore:
                best = [(i, beams[i][0][0]) for i in active]
                sampled = self._correct(e, best, cache, explore, temperature, generator)
                for (i, _), texts_i in zip(best, sampled):
                    pools[i].extend(texts_i)
            if edits[0]:
                best = [(i, beams[i][0][0]) for i in active]
                for (i, _), texts_i in zip(best, self._edit(e, best, cache, *edits)):
                    pools[i].extend(texts_i)
            charge([pools.get(i, []) for i in range(n)])
            for i in list(active):
                before = [t for t, _ in beams[i]]
                best_before = beams[i][0][1]
                beams[i] = select(i, pools[i])
                res = results[i]
                res.steps = step
                res.history.append(Step(step, beams[i][0][0], beams[i][0][1]))
                since_best[i] = 0 if beams[i][0][1] > best_before + min_delta else since_best[i] + 1
                if not early_stop:
                    continue
                reason = None
                if beams[i][0][1] >= threshold:
                    reason = "threshold"
                elif not explore and [t for t, _ in beams[i]] == before:
                    reason = "fixed_point"
                elif since_best[i] >= patience:
                    reason = "patience"
                if reason:
                    res.stopped = reason
                    active.remove(i)
            step_done(step)
            report(step)

        for i, res in enumerate(results):
            res.text, res.cosine = beams[i][0]
            res.candidates = list(beams[i])
            res.texts_embedded = spent[i]
        return results

    def _correct(self, e, rows, cache, k: int, temperature: float = 0.0, generator=None) -> list[list[str]]:
        """``k`` corrections of each (item, hypothesis) row: the corrector's beam of width ``k``, or,
        with a temperature, ``k`` samples. Rows are decoded shortest hypothesis first, so that each
        chunk's rows finish at about the same step (a chunk decodes until its longest row ends)."""
        dev = self.device
        order = sorted(range(len(rows)), key=lambda r: len(rows[r][1]))
        rows_sorted = [rows[r] for r in order]
        hyp_ids = self.codec.ids([t for _, t in rows_sorted], self.max_tokens + 8)
        e_rows = e[[i for i, _ in rows_sorted]]
        e_hat = torch.from_numpy(np.stack([cache[t] for _, t in rows_sorted])).to(dev)

        def gen(sl, b):
            ids, mask = self.codec.pad(hyp_ids[sl])
            args = (e_rows[sl], e_hat[sl], ids.to(dev), mask.to(dev), self.max_len)
            if temperature > 0:
                return self.corrector.sample(*args, b, temperature, generator)
            return self.corrector.generate(*args, num_beams=b, num_return=b)

        flat = self._decode(gen, len(rows_sorted), max(1, 256 // k), k)
        out: list[list[str]] = [[] for _ in rows]
        for pos, r in enumerate(order):
            out[r] = flat[pos * k:(pos + 1) * k]
        return out

    def _edit(self, e, rows, cache, positions: int, alternatives: int, chunk: int = 16) -> list[list[str]]:
        """Token-level edits of each (item, hypothesis) row, proposed by the corrector (:mod:`.edits`)."""
        from .edits import proposals, token_edits

        dev, codec = self.device, self.codec
        hyp_ids = codec.ids([t for _, t in rows], self.max_tokens + 8)
        out: list[list[str]] = []
        t0 = time.perf_counter()
        for start in range(0, len(rows), chunk):
            part = slice(start, start + chunk)
            ids, mask = codec.pad(hyp_ids[part])
            ids, mask = ids.to(dev), mask.to(dev)
            e_rows = e[[i for i, _ in rows[part]]]
            e_hat = torch.from_numpy(np.stack([cache[t] for _, t in rows[part]])).to(dev)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
                lp = self.corrector.token_logprobs(e_rows, e_hat, ids, mask)
            doubt, alts = proposals(lp, ids, [len(s) for s in hyp_ids[part]], codec.eos_id, alternatives,
                                    codec.special_ids())
            for k, seq in enumerate(hyp_ids[part]):
                edited = token_edits(seq, doubt[k].tolist(), alts[k].tolist(), positions, codec.eos_id)
                out.append(codec.decode(codec.pad(edited)[0]) if edited else [])
        self.stats["decode_seconds"] += time.perf_counter() - t0
        return out

    @torch.no_grad()
    def hypotheses(self, vectors, batch_size: int = 64) -> list[str]:
        """The hypothesizer's greedy text for each row of ``vectors``; nothing is embedded.

        The first round of the corrector's training data (Morris et al. 2023, §4)."""
        vectors = check_vectors(vectors, self.dim)
        e = torch.from_numpy(vectors).to(self.device)
        self.stats.setdefault("decode_seconds", 0.0)
        return self._decode(lambda rows, b: self.hypothesizer.generate(e[rows], self.max_len), len(e), batch_size, 1)

    @torch.no_grad()
    def corrections(self, vectors, hypotheses: Sequence[str], hypothesis_vectors, batch_size: int = 64) -> list[str]:
        """One greedy correction step of each (target, hypothesis, hypothesis embedding) row.

        The later rounds of the corrector's training data: the corrector learns from its own outputs,
        not only from the hypothesizer's (the reference trains on round 0 alone)."""
        if self.corrector is None:
            raise InputError("this inverter has no corrector (hypothesizer only)")
        vectors = check_vectors(vectors, self.dim)
        hyp_vecs = check_vectors(hypothesis_vectors, self.dim, what="hypothesis vectors")
        if not len(vectors) == len(hypotheses) == len(hyp_vecs):
            raise InputError(f"{len(vectors)} targets, {len(hypotheses)} hypotheses and {len(hyp_vecs)} hypothesis "
                             "vectors: give one of each per row")
        e = torch.from_numpy(vectors).to(self.device)
        e_hat = torch.from_numpy(hyp_vecs).to(self.device)
        ids_all = self.codec.ids(list(hypotheses), self.max_tokens + 8)
        self.stats.setdefault("decode_seconds", 0.0)

        def gen(rows, b):
            ids, mask = self.codec.pad(ids_all[rows])
            return self.corrector.generate(e[rows], e_hat[rows], ids.to(self.device), mask.to(self.device), self.max_len)

        return self._decode(gen, len(e), batch_size, 1)

    def invert_texts(self, texts: Sequence[str], **kwargs) -> list[Inversion]:
        """Embed ``texts`` with the inverter's embedder, then invert the vectors."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            raise InputError("no texts given")
        return self.invert(self.embedder.embed(list(texts)), **kwargs)


def load_inverter(spec: str | Path = "minilm", embedder=None, device: str | None = None,
                  precision: str = "auto") -> Inverter:
    """Load an inverter folder, or a shipped inverter by name (``"minilm"``).

    ``precision``: "auto" decodes in bf16 where the hardware computes it natively (CUDA with bf16,
    CPUs with AVX512-BF16 or AMX; about 1.6x faster on such a CPU), else fp32; "fp32"; "bf16".
    Candidates are always ranked by the real embedder's cosine, whatever the decoding precision."""
    path = Path(spec)
    if not path.exists() and (SHIPPED_DIR / str(spec)).exists():
        path = SHIPPED_DIR / str(spec)
    if not path.exists():
        shipped = sorted(p.name for p in SHIPPED_DIR.iterdir() if (p / "inverter.json").exists()) if SHIPPED_DIR.exists() else []
        hint = f"shipped inverters: {', '.join(shipped)}" if shipped else "no inverter ships with this version"
        raise CheckpointError(f"no inverter at '{spec}' ({hint}); train one with 'unembed train --out DIR'")
    return Inverter.load(path, embedder=embedder, device=device, precision=precision)


__all__ = ["Inverter", "Inversion", "Step", "StepUpdate", "load_inverter", "UnembedError"]
