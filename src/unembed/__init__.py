"""unembed: recover text from text embeddings, and measure what vectors give away.

    import unembed
    embedder = unembed.load_embedder("minilm")
    inverter = unembed.load_inverter("runs/minilm")
    results = inverter.invert(vectors, steps=20, beam=4)
    results[0].text, results[0].cosine, results[0].history
"""
from .embedders import Embedder, load_embedder
from .errors import UnembedError
from .inversion.inverter import Inversion, Inverter, load_inverter

__all__ = ["Embedder", "Inversion", "Inverter", "UnembedError", "load_embedder", "load_inverter"]
__version__ = "0.1.0"
