"""Inverter models. They take tensors, never embedders or stores."""
from .corrector import Corrector, CorrectorConfig
from .hypothesizer import Hypothesizer, HypothesizerConfig
from .transformer import EmbeddingProjection, Seq2Seq, TransformerConfig, load_bert_weights

__all__ = [
    "Corrector", "CorrectorConfig", "EmbeddingProjection", "Hypothesizer", "HypothesizerConfig",
    "Seq2Seq", "TransformerConfig", "load_bert_weights",
]
