"""Text-recovery metrics in the field's conventions, each result with a signature.

- BLEU: the mean over pairs of sacrebleu ``corpus_bleu([pred], [[ref]])`` (tokenizer 13a, exponential
  smoothing), as in Morris et al. (EMNLP 2023). This is *not* ``sentence_bleu`` and not one corpus BLEU.
- token F1: F1 between the *sets* of word tokens of prediction and reference (13a-tokenised).
- exact match: string equality, as a percentage.
- ROUGE-L: F-measure of the longest common subsequence of word tokens (Lin 2004).
- cosine: between the embedding of the prediction and the target embedding (computed by the caller,
  who holds the embedder; :func:`cosine_rows` helps).

``normalize`` (for example an uncased embedder's own lowercasing and accent stripping) is applied to
both sides before scoring; the signature says which normalisation was used, in the spirit of
sacrebleu's signatures (Post, "A Call for Clarity in Reporting BLEU Scores", WMT 2018).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import sacrebleu
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

_tok13a = Tokenizer13a()


def words(text: str) -> list[str]:
    return _tok13a(text.strip()).split()


def bleu(prediction: str, reference: str) -> float:
    """sacrebleu corpus BLEU of a single pair, 0-100."""
    return sacrebleu.corpus_bleu([prediction], [[reference]]).score


def token_f1(prediction: str, reference: str) -> float:
    """F1 of the word-token sets, 0-100. Two empty texts score 100."""
    p, r = set(words(prediction)), set(words(reference))
    if not p and not r:
        return 100.0
    common = len(p & r)
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 100.0 * 2 * precision * recall / (precision + recall)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure over word tokens, 0-100."""
    p, r = words(prediction), words(reference)
    if not p or not r:
        return 100.0 if p == r else 0.0
    prev = [0] * (len(r) + 1)
    for a in p:
        cur = [0]
        for j, b in enumerate(r):
            cur.append(prev[j] + 1 if a == b else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 100.0 * 2 * precision * recall / (precision + recall)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    return num / np.maximum(den, 1e-12)


METRIC_SETTINGS = {
    "bleu": f"sacrebleu {sacrebleu.__version__} corpus_bleu per pair, mean|tok:13a|smooth:exp|case:mixed|nrefs:1",
    "token_f1": "F1 of word-token sets|tok:13a",
    "exact_match": "string equality, percent",
    "rouge_l": "LCS F-measure over 13a word tokens",
    "cosine": "cosine(embed(prediction), target)",
}


def score_pairs(
    predictions: Sequence[str],
    references: Sequence[str],
    normalize: Callable[[str], str] | None = None,
) -> dict[str, list[float]]:
    """Per-pair scores (each 0-100) after applying ``normalize`` to both sides."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    f = normalize or (lambda s: s)
    pairs = [(f(p).strip(), f(r).strip()) for p, r in zip(predictions, references)]
    return {
        "bleu": [bleu(p, r) for p, r in pairs],
        "token_f1": [token_f1(p, r) for p, r in pairs],
        "exact_match": [100.0 * (p == r) for p, r in pairs],
        "rouge_l": [rouge_l(p, r) for p, r in pairs],
    }


def aggregate(per_pair: dict[str, Sequence[float]]) -> dict[str, float]:
    return {k: float(np.mean(v)) if len(v) else float("nan") for k, v in per_pair.items()}


def score(
    predictions: Sequence[str],
    references: Sequence[str],
    normalize: Callable[[str], str] | None = None,
    normalization_name: str = "none",
    cosines: Sequence[float] | None = None,
) -> dict:
    """Headline metrics (after ``normalize``) and, when normalising, the case-sensitive ones beside.

    Returns ``{"bleu", "token_f1", "exact_match", "rouge_l", ["cosine"], "n", "cased": {...},
    "metrics_signature"}``; bleu, token_f1, rouge_l on 0-100, exact_match a percentage.
    """
    out: dict = aggregate(score_pairs(predictions, references, normalize))
    if cosines is not None:
        out["cosine"] = float(np.mean(cosines)) if len(cosines) else float("nan")
    out["n"] = len(predictions)
    if normalize is not None:
        out["cased"] = aggregate(score_pairs(predictions, references, None))
    out["metrics_signature"] = dict(METRIC_SETTINGS, normalization=normalization_name)
    return out
