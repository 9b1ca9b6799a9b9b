"""Verification by behaviour: does the model actually use a token?

Causal LMs: Land & Bartolo's test, prompts that ask the model to repeat the token
(:func:`verify_causal`). Encoders and embedders: the token goes into carrier sentences by id and we
measure whether it moves the sentence embedding and whether different tokens' sentences collide
(:func:`verify_encoder`); an inverter, when given, is asked to recover the token from those vectors
(:func:`inverter_check`). Tokens are put into the prompts by id through a placeholder word
(:func:`placeholder_for`), so tokens no string reaches can be tested too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InputError, UnembedError
from ..reporting import Reporter
from .models import VocabModel
from .tokenizer import Codec

__all__ = ["VERIFY_BELOW", "REJECT_ABOVE", "COLLISION_FRACTION", "INERT_FRACTION", "COLLISION_CROWD", "MIN_CONTROL",
           "TYPICAL_PAIRS_FROM", "CARRIERS", "REPEAT_PROMPTS", "fill", "placeholder_for", "placeholder_candidates",
           "verify_encoder", "verify_causal", "inverter_check", "resolve_inverter"]

VERIFY_BELOW = 0.01  # Magikarp: a token whose own probability stays below this is verified
REJECT_ABOVE = 0.1  # ... and above this rejected
COLLISION_FRACTION = 0.25  # "indistinguishable": closer to another token's sentence than 1/4 of the typical gap
INERT_FRACTION = 0.25  # "does not move the sentence": less than 1/4 of a typical token's shift
COLLISION_CROWD = 3  # a glitch token collides with a crowd; a word and its plural collide only with each other
MIN_CONTROL = 10  # encoders: the fewest control tokens that calibrate the carrier-sentence test
TYPICAL_PAIRS_FROM = 2000  # the typical gap between two tokens' sentences: pairs of at most this many controls

# Carrier sentences for encoders; {t} is the token under test.
CARRIERS = (
    "The word {t} appears in this sentence.",
    "She said {t} and then left the room.",
    "I read about {t} in the newspaper yesterday.",
)

# Repeat prompts for causal LMs, in the spirit of Land & Bartolo's verification prompts (our wording).
# Every prompt ends with the slot the model should fill with the token: the prompt given to the model
# is the text before that last {t}.
REPEAT_PROMPTS = (
    ("copy", "A copying machine prints back exactly what it is given. Its log:"
             + "\nIn: «{t}» Out: «{t}»" * 5 + "\nIn: «{t}» Out: «{t}"),
    ("say", "User: Please say «{t}» back to me, nothing else.\nAssistant: «{t}"),
    ("repeat", "The same word, written again and again:" + " {t}" * 12),
)


def fill(template: str, text: str) -> str:
    """``template`` with every ``{t}`` replaced by ``text``; a space before a slot is dropped when the
    token's text brings its own (byte-level BPE tokens decode to " word")."""
    if text[:1].isspace():
        template = template.replace(" {t}", "{t}")
    return template.replace("{t}", text)


def placeholder_for(tokenizer, templates: Sequence[str], candidates: Sequence[int]) -> tuple[int, list[list[int]]]:
    """A token whose text, put into every template, encodes back to itself in every slot.

    Returns the token and, per template, its ids (special tokens included). Substituting another id
    for the placeholder then puts that token into the slot whatever its text, as Magikarp does."""
    codec = Codec(tokenizer)
    for p in candidates:
        text = codec.decode([[p]])[0]
        encoded = codec.encode([fill(t, text) for t in templates], special=True)
        if all(e.count(p) == t.count("{t}") for e, t in zip(encoded, templates)):
            return p, encoded
    raise UnembedError("cannot build the verification inputs with this tokenizer: no word keeps its own token "
                       "inside the templates")


def placeholder_candidates(checks: dict, eligible: np.ndarray) -> list[int]:
    """Up to 50 eligible words to try as the placeholder of :func:`placeholder_for`: plain ASCII words
    of about seven letters that survive decode -> encode (``checks``: :func:`~.tokenizer.tokenizer_checks`)."""
    decoded = checks["decoded"]
    ids = [i for i in np.flatnonzero(eligible & checks["survives"]) if decoded[i].strip().isalpha()
           and decoded[i].strip().isascii() and len(decoded[i].strip()) >= 4]
    return sorted(ids, key=lambda i: (abs(len(decoded[i].strip()) - 7), i))[:50] or list(np.flatnonzero(eligible))[:50]


def verify_encoder(vm: VocabModel, tested: np.ndarray, control: np.ndarray, placeholder_pool: list[int],
                   reporter: Reporter, batch_size: int = 128) -> dict[str, Any]:
    """Put every tested token into the carrier sentences (by id) and measure the sentence embeddings.

    Per carrier: ``shift`` = 1 - cos(sentence with the token, sentence without it) and ``nearest`` =
    the highest cosine between the token's sentence and another tested token's sentence. Both are read
    against the same carrier's typical values over the random ``control`` tokens: the typical shift
    (median) and the typical gap between two tokens' sentences (median of 1 - cos over control pairs).
    A token *collides* on a carrier when at least ``COLLISION_CROWD`` other tokens' sentences are closer
    to its own than ``COLLISION_FRACTION`` of the typical gap (under-trained tokens crowd together; a word
    and its plural only pair up), and is *inert* when it moves the sentence less than ``INERT_FRACTION``
    of the typical shift. Verified: it collides, or is inert, on every carrier; uncertain: it collides
    on some carriers only; rejected: otherwise.
    """
    p, encoded = placeholder_for(vm.tokenizer, CARRIERS, placeholder_pool)
    bases = Codec(vm.tokenizer).encode([t.replace(" {t}", "") for t in CARRIERS], special=True)
    index = {int(t): k for k, t in enumerate(tested)}
    ctrl = np.array([index[int(t)] for t in control], dtype=np.int64)
    stage = "behaviour: carrier sentences"
    reporter.start(stage, len(CARRIERS) * len(tested))
    shifts, nearest, twins, crowds, vectors, typical = [], [], [], [], [], []
    for c, ids in enumerate(encoded):
        slot = ids.index(p)
        base = vm.sentence_vectors([bases[c]])[0]
        seqs = [ids[:slot] + [int(t)] + ids[slot + 1:] for t in tested]
        vecs = []
        for start in range(0, len(seqs), batch_size):
            vecs.append(vm.sentence_vectors(seqs[start:start + batch_size], batch_size))
            reporter.advance(stage, min(batch_size, len(seqs) - start))
        v = np.concatenate(vecs)
        vectors.append(v)
        shift = 1.0 - v @ base
        gap = _typical_gap(v[ctrl[:TYPICAL_PAIRS_FROM]])
        near, twin, crowd = _neighbours(v, COLLISION_FRACTION * gap)
        typical.append({"carrier": CARRIERS[c], "typical_shift": float(np.median(shift[ctrl])), "typical_gap": gap})
        shifts.append(shift)
        nearest.append(near)
        twins.append(tested[twin])
        crowds.append(crowd)
    shifts, nearest, twins, crowds = np.stack(shifts), np.stack(nearest), np.stack(twins), np.stack(crowds)
    moves = np.array([t["typical_shift"] for t in typical])[:, None]
    per_token = {int(t): _carrier_verdict(k, shifts, nearest, twins, crowds, moves) for k, t in enumerate(tested)}
    return {"kind": "carrier_sentences", "per_token": per_token, "carriers": typical, "vectors": vectors,
            "placeholder": int(p), "collision_fraction": COLLISION_FRACTION, "collision_crowd": COLLISION_CROWD,
            "inert_fraction": INERT_FRACTION}


def _typical_gap(cv: np.ndarray) -> float:
    """The median of 1 - cos over every pair of the control sentences ``cv`` (nan with fewer than two)."""
    pair = cv @ cv.T
    return float(np.median(1.0 - pair[np.triu_indices(len(cv), 1)])) if len(cv) > 1 else float("nan")


def _neighbours(v: np.ndarray, radius: float, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sentence of ``v`` (unit rows): the highest cosine to another sentence, which one that is,
    and how many other sentences lie within ``radius`` (in 1 - cos)."""
    near = np.full(len(v), -1.0, dtype=np.float32)
    twin = np.zeros(len(v), dtype=np.int64)
    crowd = np.zeros(len(v), dtype=np.int64)
    for start in range(0, len(v), chunk):
        sims = v[start:start + chunk] @ v.T
        crowd[start:start + len(sims)] = (1.0 - sims < radius).sum(1) - 1  # minus itself
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -np.inf
        twin[start:start + len(sims)] = sims.argmax(1)
        near[start:start + len(sims)] = sims.max(1)
    return near, twin, crowd


def _carrier_verdict(k: int, shifts, nearest, twins, crowds, moves) -> dict[str, Any]:
    """The verdict of tested token ``k`` from its (carrier, token) measurements."""
    col, ine = crowds[:, k] >= COLLISION_CROWD, shifts[:, k] < INERT_FRACTION * moves[:, 0]
    if col.all() or ine.all():
        verdict = "verified"
    elif col.any():
        verdict = "uncertain"
    else:  # a token inert in some sentences only is an ordinary quiet word ("immediately", "somewhere")
        verdict = "rejected"
    c = int(np.argmax(nearest[:, k]))
    why = (f"collides on {int(col.sum())}/{len(CARRIERS)} carriers (at least {int(crowds[:, k].min())} other "
           f"tokens inside the collision radius on each, {COLLISION_CROWD} needed; nearest: id {int(twins[c, k])}, "
           f"cosine {nearest[c, k]:.3f}); inert on {int(ine.sum())}/{len(CARRIERS)} (shift "
           f"{shifts[:, k].mean():.3f}, typical {moves.mean():.3f})")
    return {"verdict": verdict, "why": why, "collisions": int(col.sum()), "inert": int(ine.sum()),
            "crowd": int(crowds[:, k].min()), "shift": float(shifts[:, k].mean()),
            "nearest_cosine": float(nearest[:, k].min()), "nearest_token": int(twins[c, k])}


def verify_causal(vm: VocabModel, tested: np.ndarray, placeholder_pool: list[int], reporter: Reporter,
                  batch_size: int = 32, new_tokens: int = 3) -> dict[str, Any]:
    """Magikarp's verification: the highest probability the model gives the token itself in the first
    ``new_tokens`` greedy positions after each repeat prompt; verified below ``VERIFY_BELOW`` on every
    prompt, rejected above ``REJECT_ABOVE`` on any."""
    import torch

    templates = [t for _, t in REPEAT_PROMPTS]
    p, encoded = placeholder_for(vm.tokenizer, templates, placeholder_pool)
    lm, dev = vm.lm, vm.device
    probs = np.zeros((len(REPEAT_PROMPTS), len(tested)), dtype=np.float64)
    outputs = [[""] * len(REPEAT_PROMPTS) for _ in tested]
    stage = "behaviour: repeat prompts"
    reporter.start(stage, len(REPEAT_PROMPTS) * len(tested))
    pad = vm.tokenizer.pad_token_id
    if pad is None:
        pad = vm.tokenizer.eos_token_id if vm.tokenizer.eos_token_id is not None else 0
    for q, ids in enumerate(encoded):
        last = max(i for i, x in enumerate(ids) if x == p)
        prompt = np.array(ids[:last], dtype=np.int64)
        slots = np.flatnonzero(prompt == p)
        for start in range(0, len(tested), batch_size):
            chunk = tested[start:start + batch_size]
            batch = np.repeat(prompt[None], len(chunk), axis=0)
            batch[:, slots] = chunk[:, None]
            inputs = torch.as_tensor(batch, device=dev)
            with torch.inference_mode():
                out = lm.generate(inputs, attention_mask=torch.ones_like(inputs), max_new_tokens=new_tokens,
                                  do_sample=False, output_logits=True, return_dict_in_generate=True,
                                  pad_token_id=pad)
            rows = torch.arange(len(chunk), device=dev)
            target = torch.as_tensor(chunk, device=dev)
            step_probs = torch.stack([torch.softmax(lg.float(), -1)[rows, target] for lg in out.logits], 1)
            probs[q, start:start + len(chunk)] = step_probs.max(1).values.cpu().numpy()
            texts = vm.tokenizer.batch_decode(out.sequences[:, inputs.shape[1]:].cpu().tolist(),
                                              skip_special_tokens=False)
            for k, text in enumerate(texts):
                outputs[start + k][q] = text
            reporter.advance(stage, len(chunk))
    per_token = {int(t): _repeat_verdict(probs[:, k], outputs[k]) for k, t in enumerate(tested)}
    return {"kind": "repeat_prompts", "per_token": per_token, "placeholder": int(p), "verify_below": VERIFY_BELOW,
            "reject_above": REJECT_ABOVE, "prompts": [name for name, _ in REPEAT_PROMPTS], "new_tokens": new_tokens}


def _repeat_verdict(probs: np.ndarray, outputs: list[str]) -> dict[str, Any]:
    """The verdict of one token from its own peak probability after each repeat prompt (``probs``)
    and what the model wrote after each (``outputs``)."""
    top = float(probs.max())
    if top < VERIFY_BELOW:
        verdict, rule = "verified", f"< {VERIFY_BELOW}"
    elif top > REJECT_ABOVE:
        verdict, rule = "rejected", f"> {REJECT_ABOVE}"
    else:
        verdict, rule = "uncertain", f"between {VERIFY_BELOW} and {REJECT_ABOVE}"
    best = int(probs.argmax())
    why = (f"repeat prompts: its own probability peaks at {top:.2g}, {rule} "
           f"(prompt '{REPEAT_PROMPTS[best][0]}': the model wrote {outputs[best]!r})")
    return {"verdict": verdict, "why": why, "max_prob": top,
            "prompt_probs": {REPEAT_PROMPTS[q][0]: float(probs[q]) for q in range(len(probs))}, "outputs": outputs}


def inverter_check(vm: VocabModel, inverter, behaviour: dict, tested: np.ndarray, chosen: np.ndarray,
                   reporter: Reporter, steps: int, beam: int) -> dict[int, dict]:
    """Invert the carrier-sentence vectors of the ``chosen`` tokens; a token is recovered when the
    recovered text of any carrier, re-tokenised, holds it."""
    index = {int(t): k for k, t in enumerate(tested)}
    rows = [index[int(t)] for t in chosen]
    stage = "behaviour: inverting"
    reporter.start(stage, len(rows) * len(CARRIERS))
    found: dict[int, dict] = {int(t): {"recovered": False, "texts": []} for t in chosen}
    codec = Codec(vm.tokenizer)
    for vecs in behaviour["vectors"]:
        results = inverter.invert(vecs[rows], steps=steps, beam=beam)
        reporter.advance(stage, len(rows))
        encoded = codec.encode([r.text for r in results])
        for t, r, ids in zip(chosen, results, encoded):
            rec = found[int(t)]
            rec["texts"].append(r.text)
            rec["recovered"] = rec["recovered"] or int(t) in ids
    return found


def resolve_inverter(inverter, vm: VocabModel) -> tuple[Any, str | None]:
    """``(inverter, None)``, or ``(None, why it is not used)``: none given, a causal LM, or no shipped
    inverter of that name. A folder that is not there is an error; so is an inverter trained for
    another embedder (its fingerprint is checked)."""
    if inverter is None:
        return None, "no inverter given (pass --inverter PATH or --inverter minilm)"
    if vm.kind != "encoder":
        return None, "an inverter recovers text from embeddings: it does not apply to a causal LM"
    from ..inversion.inverter import SHIPPED_DIR, Inverter, load_inverter

    if isinstance(inverter, Inverter):
        return inverter.use_embedder(vm.embedder), None
    spec = str(inverter)
    if not Path(spec).exists():
        if "/" in spec or spec.startswith("."):
            raise InputError(f"no inverter at {spec!r}: give an inverter folder or a shipped name such as minilm")
        if not (SHIPPED_DIR / spec).exists():
            return None, f"no shipped inverter named {spec!r} in this version of unembed"
    return load_inverter(spec, embedder=vm.embedder), None
