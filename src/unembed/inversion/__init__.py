"""Embedding inversion: the models, the inverter that runs them, its evaluation and its training.

- ``models``: the encoder-decoder, hypothesizer and corrector (tensors in, tensors out);
- ``tokenization``: text <-> WordPiece ids; ``weights``: safetensors and int8 on disk;
- ``inverter``: :func:`load_inverter` and ``Inverter.invert`` (the hypothesis, correction steps and
  the sequence-level beam);
- ``evaluate``: scores with a signature; ``training``: train, continue and fine-tune (one code path).

Layer rule: models import nothing of unembed but each other; the inverter reaches the outside
world only through an embedder's ``embed(list[str]) -> array``.
"""
from .inverter import SHIPPED_DIR, Inversion, Inverter, Step, StepUpdate, load_inverter

__all__ = ["Inversion", "Inverter", "Step", "StepUpdate", "load_inverter", "SHIPPED_DIR"]
