"""Token-level edits of a hypothesis, proposed by the corrector, for the inverter's search to rank.

The correction loop of Morris et al. (EMNLP 2023) rewrites whole hypotheses; with a small corrector
the sequence beam reaches a fixed point after a few steps (the same hypothesis gets the same
correction), long before the text is right. Local search in token space is the classic way out of such
a point: propose small edits and keep the one that moves the re-embedding closest to the target, as
the discrete prompt searches of HotFlip (Ebrahimi et al., ACL 2018) and AutoPrompt (Shin et al., EMNLP
2020) do with gradients. Ours stays black-box: the proposals come from the corrector's own
teacher-forced distribution over each position of the hypothesis (where it doubts the hypothesis'
token, its alternatives are the edits), and only the embedder's cosine judges them, so an edit that
does not help is never kept (the beam holds the best so far).

Each doubtful position j (the ``positions`` whose own token the corrector finds least likely, the end
of the text counting as a position whose token is EOS) yields: its ``alternatives`` most likely other
tokens in its place (an EOS in its place cuts the text there), the best of them inserted before it,
and the token deleted.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import torch

__all__ = ["proposals", "token_edits"]


def proposals(logprobs: torch.Tensor, ids: torch.Tensor, lengths: Sequence[int], eos_id: int, k: int,
              banned: Iterable[int] = ()) -> tuple[torch.Tensor, torch.Tensor]:
    """Each position's doubt and its ``k`` likeliest other tokens.

    ``logprobs`` (B, T + 1, V): teacher-forced log-probabilities of each position's token given the
    earlier ones; ``ids`` (B, T): the hypotheses, right-padded, of ``lengths`` tokens; the position after
    the last token holds EOS. Returns doubt (B, T + 1), minus the log-probability of each position's
    own token (-inf past the end), and alternatives (B, T + 1, k), never the own token nor a ``banned``
    one (EOS stays allowed: in place of a token it cuts the text there)."""
    b, t1, _ = logprobs.shape
    own = torch.cat([ids, ids.new_zeros(b, 1)], dim=1)
    length = torch.as_tensor(list(lengths), device=ids.device)
    pos = torch.arange(t1, device=ids.device)
    own[pos[None, :] == length[:, None]] = eos_id
    doubt = -logprobs.gather(2, own[..., None])[..., 0]
    doubt[pos[None, :] > length[:, None]] = -float("inf")
    lp = logprobs.clone()
    lp[..., sorted(set(banned) - {eos_id})] = -float("inf")
    lp.scatter_(2, own[..., None], -float("inf"))
    return doubt, lp.topk(k, dim=-1).indices


def token_edits(ids: Sequence[int], doubt: Sequence[float], alternatives: Sequence[Sequence[int]], positions: int,
                eos_id: int) -> list[list[int]]:
    """Edited copies of the token sequence ``ids`` (without BOS or EOS), from :func:`proposals`' row
    for it (``doubt`` and ``alternatives`` of len(ids) + 1 positions, the last one the end of the text).

    At each of the ``positions`` most doubted positions: each alternative in place (EOS in place cuts
    the text), the first non-EOS alternative inserted before it, and the token deleted. Returns the
    distinct non-empty edited sequences, most doubted position first; ``ids`` itself is never among them."""
    ids = [int(t) for t in ids]
    n = len(ids)
    doubt = [float(d) for d in doubt[:n + 1]]
    seen, out = {tuple(ids)}, []

    def add(seq: list[int]) -> None:
        if seq and tuple(seq) not in seen:
            seen.add(tuple(seq))
            out.append(seq)

    for j in sorted(range(n + 1), key=lambda p: -doubt[p])[:positions]:
        alts = [int(a) for a in alternatives[j]]
        for a in alts:
            add(ids[:j] if a == eos_id else ids[:j] + [a] + ids[j + 1:])
        inserts = [a for a in alts if a != eos_id]
        if inserts:
            add(ids[:j] + [inserts[0]] + ids[j:])
        if j < n:
            add(ids[:j] + ids[j + 1:])
    return out
