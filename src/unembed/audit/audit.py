"""Audit a vector store: read its vectors, check they fit the inverter, recover the text, measure the leak.

    job = Audit("chroma:///srv/app/store?collection=docs", inverter, "audit/", steps=20, beam=4)
    job.check()                       # dimension, norms, re-embedding of stored documents (may refuse)
    summary = job.run(progress=cb)    # streams records into audit/results.jsonl, then summary + report

Files in the output folder:

- ``results.jsonl``: one record per stored vector, appended and fsync'd after every chunk, so an
  interrupted audit loses nothing already written and ``resume=True`` skips ids already there;
- ``summary.json``: headline numbers, the embedder check, the store, the settings (written when the
  audit starts with ``"status": "running"`` and again when it ends);
- ``report.html``: one self-contained page (see :mod:`unembed.report`);
- ``run.json``: the run's identity (store, settings, inverter id, embedder), written before the first
  record; ``resume=True`` refuses a folder whose run.json (or, for older folders, summary.json)
  names another store or other settings, and a folder with results but neither;
- ``private-copies/``: where readers of stores without a read-only mode keep their private copy
  while the audit runs (mode 0700); removed when the audit ends, is interrupted (Ctrl-C, SIGTERM)
  or fails, and swept by the next audit in this folder after a SIGKILL. The report names the copy
  and says it was removed.

Resume repairs results.jsonl first (:func:`.shards.repair`): a last record without its final
newline gets one, a cut last line is dropped, invalid or repeated lines inside are dropped. The
summary says ``complete`` only when every selected record has exactly one valid record; otherwise
``incomplete``.

At scale (issue #14): ``sample=N`` audits a seeded uniform sample and reads only the sampled rows
where the store allows it (:mod:`.sampling`); every headline figure gets a 95% interval and the
store-wide estimates (:mod:`.intervals`, through the streaming :class:`.aggregate.Tally`, so the
summary and the report never hold all results); under ``torchrun`` / ``accelerate launch`` each
process inverts its own chunks and the main one merges them (:mod:`.shards`); ``adapt`` adds an
attacker fine-tuned on the store's own documents (:mod:`.adapt`) and ``advise`` the defences that
would cut the measured leakage (:mod:`.advice`).

What is measured
----------------
Before inverting (:meth:`Audit.check`), on the first ``check_size`` records of the store:

- dimension: must equal the inverter's (else the audit is refused);
- norms: their distribution; when the embedder outputs unit vectors and the store's are not unit
  length (a store that scaled them), vectors are rescaled to unit length before inversion;
- with stored documents: the documents are re-embedded and compared with the stored vectors.
  median cosine >= 0.99: ``match``; >= 0.90 (or >= 0.50 for a store flagged lossy): ``approximate``
  (lossy codes or text pre-processing; the audit proceeds); below: ``mismatch`` (refused);
- without documents nothing can prove the fit, so the inverter is probed instead: it inverts the sample
  and as many random Gaussian vectors (hypothesizer only); if its texts come no closer (median cosine
  + 0.05) to the stored vectors than to random ones, the vectors are not from its embedder (or the
  inverter is too weak to say): ``mismatch``; else ``plausible``.

A refused audit writes summary.json and report.html saying why and raises
:class:`~unembed.errors.EmbedderError`; ``force=True`` inverts anyway.

With originals, per record and on average: BLEU, token F1 and exact match (after the uncased
embedder's own normalisation, as :mod:`unembed.evaluate` does), cosine, and sensitive-item recovery.
Sensitive items are found in the *original* text by the rules in :data:`DETECTION`, claimed in the
order e-mail, date, phone, number, name (a span claimed by an earlier kind is not counted again).
An item counts as recovered when its tokens (words and punctuation marks, lowercased, after the
embedder's normalisation) appear contiguously and in order in the recovered text, so spacing
differences such as ``"maria. garcia @ example. com"`` do not matter but every character does.
Without originals, records are ranked by cosine (the attacker's own confidence) and e-mail,
phone, date and number patterns found in the recovered texts are listed.

The name-list attack (``names``, a :class:`.names.NameList`; the command line's default is the
:data:`GIVEN_NAMES` below) needs no inverter: every listed name is ranked by cosine to each stored
vector. Each record carries its top names and margin, and, with its original, the listed names it
contains and the rank of the best of them; the summary's ``name_list`` says how often the right one
came first, against a blind guess.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import time
import unicodedata
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import EmbedderError, InputError
from ..io import atomic_write
from ..signature import Signature
from ..metrics import METRIC_SETTINGS, bleu, cosine_rows, token_f1
from . import shards
from .sampling import Selection
from .stores import StoreReader, open_store, private_copies_under, redact, sweep_private_copies

log = logging.getLogger(__name__)

RESULTS, SUMMARY, REPORT, RUN, COPIES = "results.jsonl", "summary.json", "report.html", "run.json", "private-copies"
IDENTITY = ("store", "inverter", "embedder", "steps", "beam", "edits", "limit", "sample", "seed", "names")
LATER_KEYS = {"embedder": None, "edits": "token edits", "names": "a name list"}  # settings older run.json files lack
MATCH_COSINE, APPROX_COSINE, LOSSY_APPROX_COSINE, PROBE_MARGIN = 0.99, 0.90, 0.50, 0.05
KINDS = ("email", "phone", "date", "number", "name")

# --------------------------------------------------------------------------------------------------
# Sensitive items
# --------------------------------------------------------------------------------------------------

_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
          r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?")
_ORD = r"(?:st|nd|rd|th)?"
PATTERNS = {
    "email": re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])"),
    "date": re.compile(
        r"(?<!\w)(?:\d{4}-\d{1,2}-\d{1,2}"
        r"|\d{1,2}[/.]\d{1,2}[/.](?:\d{4}|\d{2})"
        rf"|\d{{1,2}}{_ORD}\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
        rf"|{_MONTH}\s+\d{{1,2}}{_ORD}(?:,?\s+\d{{4}})?"
        rf"|{_MONTH}\s+\d{{4}})(?!\w)"),
    "phone": re.compile(r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{1,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,4}(?![\w])"),
    "number": re.compile(r"(?<![\w.,])\d(?:[\d.,]*\d)?(?![\w])"),
}
_HONORIFIC = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.?\s+((?:[A-Z][\w'’-]+)(?:\s+[A-Z][\w'’-]+)?)")
_WORDS = re.compile(r"(?<![\w@.])[^\W\d_]+(?:['’-][^\W\d_]+)*")  # letters, with inner ' or - (O'Brien, Jean-Luc)


def _given(word: str) -> bool:
    """A given name of the list, accents ignored (Zoë), or a hyphenated one starting with one (Jean-Luc)."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return folded in GIVEN_NAMES or folded.split("-")[0] in GIVEN_NAMES


def _capitalised(word: str) -> bool:
    return word[0].isupper() and not word.isupper()  # 'Smith', 'McDonald', 'Zoë'; not 'NASA' or 'the'

# Common given names, written for this audit: English-speaking, European, Hispanic, South and East
# Asian, Arabic and African names that are frequent in customer, patient and employee records. Names
# that are also everyday capitalised words (Will, May, June, April, August, Mark, Bill, Rose, Hope...)
# are left out on purpose, to keep sentence-initial words from counting as names.
GIVEN_NAMES = frozenset("""
Aaron Abigail Adam Adrian Ahmed Aisha Alan Albert Alejandro Alex Alexander Alexandra Ali Alice Alicia
Alison Amanda Amelia Amir Amy Ana Andrea Andrew Angela Anil Anita Ann Anna Anne Anthony Antonio Arjun
Arthur Ashley Barbara Ben Benjamin Beth Betty Bob Brandon Brenda Brian Bruce Carl Carla Carlos Carmen
Carol Caroline Catherine Charles Charlie Charlotte Chen Chloe Chris Christian Christina Christine
Christopher Claire Claudia Daniel Daniela David Deborah Deepak Dennis Diana Diego Dmitri Donald Donna
Doris Dorothy Douglas Dylan Edward Elena Eli Elizabeth Ella Ellen Emily Emma Eric Erin Ethan Eva Evelyn
Fatima Felix Fernando Fiona Francesca Francisco Frank Gabriel Gary George Gerald Giulia Giuseppe Gloria
Grace Greg Gregory Hannah Hans Harold Harry Heather Heidi Helen Henry Hiroshi Hugo Ian Igor Ingrid Irene
Isaac Isabel Isabella Ivan Jack Jacob James Jamie Jane Janet Janice Jason Javier Jean Jennifer Jeremy
Jessica Jill Joan Joanna Joe John Jonathan Jorge Jose Joseph Joshua Joyce Juan Judith Julia Julie Justin
Karen Karl Kate Katherine Kathleen Kathy Keith Kelly Kenji Kenneth Kevin Kim Kimberly Klaus Kyle Laura
Lauren Lawrence Leah Leo Li Liam Linda Lisa Liu Logan Louis Lucas Lucia Lucy Luis Luke Madison Manuel
Marco Margaret Maria Marie Marilyn Mario Martha Martin Mary Mason Matthew Maya Megan Mei Melissa Michael
Michelle Miguel Mohamed Mohammed Muhammad Nancy Natalie Nathan Nicholas Nicole Noah Olga Olivia Omar
Oscar Pablo Pamela Paolo Patricia Patrick Paul Paula Pedro Peter Philip Pierre Priya Rachel Rafael Rahul
Ralph Randy Raj Ravi Raymond Rebecca Richard Rita Robert Roberto Roger Ronald Ruth Ryan Samantha Samuel
Sandra Sara Sarah Scott Sean Sergei Sharon Shirley Simon Sofia Sophia Sophie Stephanie Stephen Steven
Susan Takashi Teresa Terry Thomas Timothy Tom Tyler Victor Victoria Vincent Virginia Walter Wang Wei
Wendy William Xavier Yuki Yusuf Zachary Zhang Zoe
Andy Dan Dave Fred Jeff Jen Jim Ken Liz Matt Mike Nick Pete Rob Sam Steve Ted Tim Tony
""".split())

DETECTION = {
    "email": "regex: local part of letters, digits and . + - then @ then a domain with a dot and a "
             "2+ letter top-level domain",
    "date": "regex: ISO 2023-03-12; numeric 12/03/2023 or 12.03.23; '12 March 2023', '12th of March', "
            "'March 12, 2023', 'March 2023' (capitalised English month names and their abbreviations)",
    "phone": "regex: 2 to 5 groups of 2-4 digits separated by spaces, dots or hyphens, optional +country "
             "code and (area code), 7 to 15 digits in all (checked after dates, so 2023-03-12 is a date)",
    "number": "regex: any other run of digits (with . or , inside) holding at least 2 digits "
              "(single digits are not counted)",
    "name": "a capitalised word from a built-in list of ~300 common given names and short forms (English, European, "
            "Hispanic, Asian, Arabic; accents ignored, Jean-Luc counts as Jean), extended by up to two following "
            "capitalised words (surname), or "
            "up to two capitalised words after Mr/Mrs/Ms/Dr/Prof; case-sensitive in the original, so it "
            "misses names outside the list, lowercase names and surnames alone, and can take a place "
            "after a given name ('Grace Street') for a surname",
    "recovered": "an item is recovered when its tokens (words and punctuation, lowercased, after the "
                 "embedder's normalisation) appear contiguously in order in the recovered text",
}


def _claim(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    if any(start < e and s < end for s, e in spans):
        return False
    spans.append((start, end))
    return True


def find_items(text: str) -> list[dict]:
    """Sensitive items in ``text``: ``[{"kind", "text"}]`` in the order of :data:`KINDS` claims."""
    if not text:
        return []
    spans: list[tuple[int, int]] = []
    found: list[tuple[int, str, str]] = []
    for kind in ("email", "date", "phone", "number"):
        for m in PATTERNS[kind].finditer(text):
            value = m.group(0)
            digits = sum(c.isdigit() for c in value)
            if kind == "phone" and not 7 <= digits <= 15:
                continue
            if kind == "number" and digits < 2:
                continue
            if _claim(spans, m.start(), m.end()):
                found.append((m.start(), kind, value))
    for m in _HONORIFIC.finditer(text):
        if _claim(spans, m.start(1), m.end(1)):
            found.append((m.start(1), "name", m.group(1)))
    words = [m for m in _WORDS.finditer(text) if _capitalised(m.group(0))]
    i = 0
    while i < len(words):
        w = words[i]
        if _given(w.group(0)):
            j = i
            while (j + 1 < len(words) and j - i < 2 and text[words[j].end():words[j + 1].start()] == " "
                   and words[j + 1].group(0) not in _STOP_CAPS):
                j += 1
            start, end = w.start(), words[j].end()
            if _claim(spans, start, end):
                found.append((start, "name", text[start:end]))
            i = j + 1
        else:
            i += 1
    return [{"kind": k, "text": v} for _, k, v in sorted(found)]


# capitalised words that end a name rather than continue it (sentence-initial or function words)
_STOP_CAPS = frozenset("The A An And Or But In On At Of To For From With By Is Was Are Were Has Have Had "
                       "I We You He She They It This That These Those If When Then So As".split())

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def contains(haystack: list[str], needle: list[str]) -> bool:
    if not needle:
        return False
    n = len(needle)
    first = needle[0]
    return any(haystack[i] == first and haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))


def leaked_patterns(text: str) -> list[dict]:
    """E-mail, date, phone and number patterns in a recovered text (what an attacker would grep for)."""
    return [it for it in find_items(text) if it["kind"] != "name"]


# --------------------------------------------------------------------------------------------------
# The embedder check
# --------------------------------------------------------------------------------------------------


def check_fit(vectors: np.ndarray, documents: list | None, inverter, lossy: bool = False,
              probe_size: int = 16, seed: int = 0) -> dict:
    """Do these stored vectors come from the inverter's embedder? See the module docstring."""
    embedder = inverter.embedder
    vectors = np.asarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    out: dict = {"n": int(n), "embedder": embedder.name, "dim": {"store": int(dim), "inverter": int(inverter.dim),
                                                                   "ok": dim == inverter.dim}}
    if dim != inverter.dim:
        out.update(status="mismatch", rescale=False,
                   message=f"the store's vectors have dimension {dim} but the inverter expects {inverter.dim} "
                           f"({embedder.name}): use an inverter trained for the embedder that wrote the store")
        return out
    finite = np.isfinite(vectors).all(axis=1)
    norms = np.linalg.norm(vectors[finite].astype(np.float64), axis=1)
    unit = bool(embedder.normalize)
    off = bool(unit and len(norms) and np.abs(norms - 1).max() > 1e-2)
    out["norms"] = {"mean": _f(norms.mean()), "std": _f(norms.std()), "min": _f(norms.min()), "max": _f(norms.max()),
                    "expected": "1 (the embedder outputs unit vectors)" if unit else "any (the embedder does not normalise)",
                    "ok": not off}
    out["rescale"] = off
    notes = []
    if off:
        notes.append(f"stored norms range {norms.min():.3g}-{norms.max():.3g} though {embedder.name} outputs unit "
                     "vectors: they are rescaled to unit length before inversion")
    if not finite.all():
        notes.append(f"{int((~finite).sum())} of the sampled vectors hold NaN or infinite values")
    docs = [(i, d) for i, d in enumerate(documents or []) if isinstance(d, str) and d.strip()]
    out["reembed"] = out["probe"] = None
    if docs:
        rows = [i for i, _ in docs]
        fresh = embedder.embed([d for _, d in docs])
        cos = cosine_rows(fresh, vectors[rows])
        med = float(np.median(cos))
        out["reembed"] = {"n": len(rows), "median": med, "min": _f(cos.min()), "max": _f(cos.max()),
                          "share_ge_0_99": float((cos >= MATCH_COSINE).mean())}
        if med >= MATCH_COSINE:
            status = "match"
            msg = f"re-embedding {len(rows)} stored documents reproduces the stored vectors (median cosine {med:.4f})"
            if lossy:
                msg += "; the store is lossy, but its codes stay close to the embeddings"
        elif med >= APPROX_COSINE or (lossy and med >= LOSSY_APPROX_COSINE):
            status = "approximate"
            why = "the store keeps lossy codes" if lossy else "lossy storage or text pre-processing before embedding"
            msg = (f"re-embedding {len(rows)} stored documents gives vectors close to, not equal to, the stored ones "
                   f"(median cosine {med:.4f}): {why}; recovered text will be rougher")
        else:
            status = "mismatch"
            msg = (f"re-embedding {len(rows)} stored documents with {embedder.name} does not reproduce the stored vectors "
                   f"(median cosine {med:.3f}; expected >= {MATCH_COSINE}): the store was written by another embedder, "
                   "so inverting it would produce meaningless text")
    else:
        k = min(probe_size, n)
        sample = vectors[:k][finite[:k]]
        if off:
            sample = sample / np.maximum(np.linalg.norm(sample, axis=1, keepdims=True), 1e-12)
        rng = np.random.default_rng(seed)
        null = rng.standard_normal((len(sample), dim)).astype(np.float32)
        null *= (np.linalg.norm(sample, axis=1, keepdims=True) / np.linalg.norm(null, axis=1, keepdims=True))
        stored = [r.cosine for r in inverter.invert(sample, steps=0, beam=1)]
        random_ = [r.cosine for r in inverter.invert(null, steps=0, beam=1)]
        med, med_null = float(np.median(stored)), float(np.median(random_))
        out["probe"] = {"n": len(sample), "median_cosine": med, "random_median_cosine": med_null, "margin": PROBE_MARGIN}
        if med > med_null + PROBE_MARGIN:
            status = "plausible"
            msg = (f"no documents to re-embed; the inverter finds texts closer to the stored vectors (median cosine "
                   f"{med:.3f}) than to random vectors ({med_null:.3f}), as for its own embedder's vectors")
        else:
            status = "mismatch"
            msg = (f"no documents to re-embed, and the inverter finds texts no closer to the stored vectors (median "
                   f"cosine {med:.3f}) than to random vectors ({med_null:.3f}): the vectors are not from "
                   f"{embedder.name}, or the inverter is too weak to recover anything")
    out.update(status=status, message=msg, notes=notes)
    return out


def _f(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def score_record(text: str, original: str, normalize: Callable[[str], str] | None = None) -> dict:
    """Scores of one recovered text against its original, and its sensitive items (recovered or not)."""
    norm = normalize or (lambda t: t)
    p, r = norm(text).strip(), norm(original).strip()
    rec_tokens = tokens(p)
    items = []
    for it in find_items(original):
        need = tokens(norm(it["text"]))
        hit = contains(rec_tokens, need)
        entry = {"kind": it["kind"], "text": it["text"], "recovered": hit}
        if it["kind"] == "name":  # partly recovered: at least one of its words
            entry["partial"] = hit or any(contains(rec_tokens, [t]) for t in need if t.isalpha())
        items.append(entry)
    return {"bleu": bleu(p, r), "token_f1": token_f1(p, r), "exact_match": p == r,
            "exact_match_cased": text.strip() == original.strip(), "words": len(original.split()),
            "sensitive": items}


# --------------------------------------------------------------------------------------------------
# The audit
# --------------------------------------------------------------------------------------------------


class Audit:
    """One audit of one store into one output folder. ``check()`` then ``run()``; or :func:`audit`."""

    def __init__(self, store: str | StoreReader, inverter, out_dir: str | Path, steps: int = 20, beam: int = 4,
                 limit: int | None = None, sample: int | None = None, resume: bool = False, batch_size: int = 32,
                 read_batch: int = 256, seed: int = 0, check_size: int = 32, force: bool = False,
                 adapt=None, advise=None, edits: int = 0, names=None):
        for name, value in (("limit", limit), ("sample", sample)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InputError(f"--{name} must be a positive integer, not {value!r}")
        if steps < 0 or edits < 0 or beam < 1 or batch_size < 1 or read_batch < 1 or check_size < 1:
            raise InputError(f"steps and edits must be >= 0 and beam, batch sizes, check size >= 1 (got steps={steps}, "
                             f"edits={edits}, beam={beam})")
        if steps > 0 and inverter.corrector is None:
            raise InputError("this inverter has no corrector (hypothesizer only): use --steps 0")
        self.inverter = inverter
        self.embedder = inverter.embedder  # loads and checks the embedder before anything is read
        self.out = Path(out_dir)
        self.steps, self.beam, self.limit, self.sample, self.seed = steps, beam, limit, sample, seed
        self.edits = edits
        self.batch_size, self.read_batch, self.check_size, self.force = batch_size, read_batch, check_size, force
        self.results_path = self.out / RESULTS
        self.settings = {"store": redact(store if isinstance(store, str) else store.uri), "inverter": inverter.model_id,
                         "embedder": self.embedder.name, "steps": steps, "beam": beam, "edits": edits, "limit": limit,
                         "sample": sample, "seed": seed, "names": None if names is None else names.describe()}
        self.names = names  # a NameList: the name-list attack on every record (audit.names)
        self.ctx = shards.context()  # rank and process count under torchrun / accelerate launch
        self.adapt, self.advise = adapt, advise  # AdaptConfig / AdviceConfig, or None
        self.done_ids = self._prepare_out(resume)
        self.swept = [str(p) for p in sweep_private_copies(self.out / COPIES)]  # left by a killed run
        with private_copies_under(self.out / COPIES):
            self.reader = open_store(store) if isinstance(store, str) else store
        self._owns_reader = isinstance(store, str)
        try:
            self.store_count = int(self.reader.count())
        except Exception:
            self.close()
            raise
        universe = self.store_count if limit is None else min(limit, self.store_count)
        self.universe = universe
        self.selection = Selection(self.reader, universe, sample, seed, batch_size, read_batch)
        self.selected = selected = self.selection.size
        self.todo = max(0, selected - len(self.done_ids))
        self.fit: dict | None = None
        uncased = not getattr(self.embedder, "cased", True)
        self.normalize: Callable[[str], str] = self.embedder.normalize_text if uncased else (lambda s: s)
        self.normalization = (f"{self.embedder.name} text normalisation (uncased: lowercase, accents stripped)"
                              if uncased else "none")

    # -- output folder and resume -----------------------------------------------------------------
    def _prepare_out(self, resume: bool) -> set[str]:
        path = self.results_path
        if (not path.exists() or path.stat().st_size == 0) and not shards.shard_files(self.out):
            return set()
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        if not resume:
            raise InputError(f"{path} already holds results: pass --resume to continue that audit, or choose another --out")
        recorded = _read_json(self.out / RUN) or _read_json(self.out / SUMMARY)
        previous = (recorded or {}).get("settings")
        if not isinstance(previous, dict):
            raise InputError(f"{self.out} holds results but no {RUN} saying which store and settings made them: "
                             "choose another --out (or delete the folder to start again)")
        grown = _sample_grows(previous.get("sample"), self.settings["sample"])
        for key in IDENTITY:
            if key in LATER_KEYS and key not in previous:
                if key == "names" and self.names is not None and self.names.builtin:
                    self.names = self.settings["names"] = None  # an older audit, resumed as it was run
                    continue
                if LATER_KEYS[key] and self.settings[key]:
                    raise InputError(f"{self.out} holds an audit without {LATER_KEYS[key]}, not {key}="
                                     f"{self.settings[key]!r}: resume it with the same settings, or choose another --out")
                continue  # folders written before run.json recorded it
            if previous.get(key) != self.settings[key] and not (key == "sample" and grown):
                raise InputError(f"{self.out} holds an audit with {key}={previous.get(key)!r}, not "
                                 f"{self.settings[key]!r}: resume it with the same settings, or choose another --out")
        # each process repairs only the file it appends to (the main one results.jsonl, each rank its own
        # shard), and reads the others as they are: two processes never rewrite one file
        ctx = self.ctx
        own = shards.shard_path(self.out, ctx.rank, ctx.world)
        done = shards.read_ids(path, truncate=ctx.main)
        for shard in shards.shard_files(self.out):  # a sharded audit that was interrupted
            done |= shards.read_ids(shard, truncate=shard == own)
        return done

    # -- check --------------------------------------------------------------------------------------
    def check(self) -> dict:
        """Check the first records against the inverter's embedder; raise EmbedderError on a mismatch."""
        vecs, docs = [], []
        gen = self.reader.batches(self.read_batch)
        try:
            for b in gen:
                vecs.append(np.asarray(b.vectors, dtype=np.float32))
                docs.extend(b.documents if b.documents is not None else [None] * len(b.ids))
                if sum(len(v) for v in vecs) >= self.check_size:
                    break
        finally:
            gen.close()
        if not vecs:
            self.fit = {"status": "empty", "n": 0, "message": "the store holds no vectors", "rescale": False}
            return self.fit
        dims = {v.shape[1] for v in vecs if v.ndim == 2}
        if len(dims) > 1:
            raise InputError(f"the store's vectors have several dimensions ({sorted(dims)}): audit one collection at a time")
        vectors = np.concatenate(vecs)[: self.check_size]
        self.fit = check_fit(vectors, docs[: self.check_size], self.inverter, lossy=getattr(self.reader, "lossy", False),
                             seed=self.seed)
        if self.fit["status"] == "mismatch":
            if self.force and self.fit["dim"]["ok"]:
                self.fit["forced"] = True
                log.warning("embedder check failed, inverting anyway (force): %s", self.fit["message"])
            else:
                self._finish(status="refused")
                hint = "" if not self.fit["dim"]["ok"] else "; pass --force to invert anyway"
                raise EmbedderError(f"audit refused: {self.fit['message']}{hint}")
        return self.fit

    # -- run ----------------------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> dict:
        """Invert every selected record not already in results.jsonl; returns the summary."""
        if self.fit is None:
            self.check()
        ctx = self.ctx
        if ctx.main:
            self.out.mkdir(parents=True, exist_ok=True)
            atomic_write(self.out / RUN, json.dumps({"settings": self.settings, "store_count": self.store_count},
                                                   indent=2, ensure_ascii=False) + "\n")
            self._write_summary(self._summary(status="running"))
        ctx.barrier()  # every process has read what is done before any writes
        t0 = time.perf_counter()
        self._timing = {"invert_seconds": 0.0, "score_seconds": 0.0, "records": 0}
        done = 0
        rescale = bool(self.fit.get("rescale"))
        # new records go to a shard file when several processes write, or when they join records
        # already written (a resume, an extended sample): the merge keeps results.jsonl in position order
        to_shard = ctx.sharded or bool(self.done_ids)
        sink_path = shards.shard_path(self.out, ctx.rank, ctx.world) if to_shard else self.results_path
        sink_path.parent.mkdir(parents=True, exist_ok=True)
        with open(sink_path, "a", encoding="utf-8") as sink:
            # chunk k of the selection goes to rank k % world: the batches a single process inverts
            for _, chunk in self.selection.chunks(ctx.rank, ctx.world, self.done_ids):
                done += self._process(chunk, sink, rescale)
                if progress:
                    progress(done)
        seconds = time.perf_counter() - t0
        self._timing.update(seconds=seconds, records_per_second=done / seconds if seconds > 0 and done else 0.0)
        if ctx.sharded:
            self._timing = _combine_timing(ctx.gather(self._timing), ctx.world)
            ctx.barrier()  # every shard is written
        if ctx.main and shards.shard_files(self.out):
            shards.merge([self.results_path, *shards.shard_files(self.out)], self.results_path)
            shards.remove_shards(self.out)
        ctx.barrier()  # the merged results are there for every process
        if self.adapt is not None:  # the attacker fine-tuned on the store's own documents
            from .adapt import run_adaptation

            run_adaptation(self, self.adapt)
        if self.advise is not None and ctx.main:  # what to do about it
            from .advice import run_advice

            run_advice(self, self.advise)
        if not ctx.main:
            return {"status": "complete", "rank": ctx.rank}
        self.close()  # the private copy goes before the report is written, so the report can say so
        return self._finish(status=self._completeness())

    def _completeness(self) -> str:
        """"complete" when every selected record has exactly one valid record in results.jsonl."""
        valid, distinct, invalid = shards.count_records(self.results_path)
        if valid == distinct == self.selected and not invalid:
            return "complete"
        log.warning("results.jsonl holds %d valid records (%d distinct ids, %d invalid lines) for %d selected: "
                    "the audit is incomplete; rerun with --resume", valid, distinct, invalid, self.selected)
        return "incomplete"

    def _process(self, chunk, sink, rescale: bool, inverter=None) -> int:
        """Invert, score and append one chunk (with ``inverter``: another attacker, e.g. an adapted one)."""
        from ..vectors import check_vectors

        ids = [c.id for c in chunk]
        vectors = check_vectors(np.stack([np.asarray(c.vector, dtype=np.float32) for c in chunk]), self.inverter.dim,
                                what=f"stored vectors (records {ids[0]}..{ids[-1]})", invertible=True)
        if rescale:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        t = time.perf_counter()
        results = (inverter or self.inverter).invert(vectors, steps=self.steps, beam=self.beam, batch_size=len(chunk),
                                                     edits=self.edits)
        self._timing["invert_seconds"] += time.perf_counter() - t
        t = time.perf_counter()
        originals = [c.document if isinstance(c.document, str) and c.document.strip() else None for c in chunk]
        with_orig = [k for k, o in enumerate(originals) if o is not None]
        stored_cos = {}
        if with_orig:
            fresh = self.embedder.embed([originals[k] for k in with_orig])
            stored_cos = dict(zip(with_orig, cosine_rows(fresh, vectors[with_orig]).tolist()))
        # the name-list attack needs no inverter: the stock audit's records carry it, an adapted attacker's do not
        named = self.names.rank(vectors, originals) if self.names is not None and inverter is None else None
        lines = []
        for k, (rid, r) in enumerate(zip(ids, results)):
            rec = {"id": rid, "pos": int(chunk[k].pos), "text": r.text, "cosine": float(r.cosine), "steps": r.steps,
                   "stopped": r.stopped}
            orig = originals[k]
            rec["original"] = orig
            if orig is not None:
                rec.update(score_record(r.text, orig, self.normalize))
                rec["stored_cosine"] = float(stored_cos[k])
            else:
                rec["leaked_patterns"] = leaked_patterns(r.text)
            if named is not None:
                rec["names"] = named[k]
            lines.append(json.dumps(rec, ensure_ascii=False) + "\n")
        sink.write("".join(lines))
        sink.flush()
        os.fsync(sink.fileno())
        self._timing["score_seconds"] += time.perf_counter() - t
        self._timing["records"] += len(lines)
        return len(lines)

    # -- summary and report -----------------------------------------------------------------------
    def _tally(self):
        """Every result record read once, in bounded memory (:class:`.aggregate.Tally`)."""
        from .aggregate import Tally, read_records

        return Tally(seed=self.seed).extend(read_records(self.results_path))

    def _summary(self, status: str, tally=None) -> dict:
        tally = self._tally() if tally is None else tally
        s = tally.summary()
        # a random sample speaks for the records it was drawn from; the first N records (limit) only for themselves
        cut = not self.selection.random and self.universe < self.store_count
        s["intervals"] = tally.intervals(self.store_count if cut else self.universe, self.selection.random,
                                         seed=self.seed)
        s["sampling"] = {"method": self.selection.method, "how": self.selection.describe(),
                         "population": self.universe, "selected": self.selected, "seed": self.seed}
        store = self.reader.describe() if hasattr(self.reader, "describe") else {
            "uri": redact(self.reader.uri), "kind": getattr(self.reader, "kind", "store"),
            "lossy": bool(getattr(self.reader, "lossy", False)), "notes": list(getattr(self.reader, "notes", []))}
        store["count"] = self.store_count
        if self.swept:
            store["notes"] = list(store.get("notes", [])) + [
                f"a private copy left by an earlier, killed run was found and removed: {p}" for p in self.swept]
        copy = getattr(self.reader, "private_copy_path", None)
        store["private_copy"] = None if copy is None else {"path": str(copy), "removed": not Path(copy).exists()}
        s.update(status=status, store=store, embedder_check=self.fit, settings=self.settings,
                 selected=self.selected, normalization=self.normalization,
                 metrics_signature=dict(METRIC_SETTINGS, normalization=self.normalization),
                 signature=self.signature(s["n"]).to_dict(),
                 sensitive_detection=DETECTION, inverter={"model_id": self.inverter.model_id,
                                                          "embedder": self.embedder.name,
                                                          "source": self.inverter.source},
                 throughput=getattr(self, "_timing", None))
        if self.adapt is not None:
            from .adapt import adapted_summary

            s["adapted"] = adapted_summary(self)
        if self.advise is not None:
            s["advice"] = _read_json(self.out / "advice.json")
        return s

    def signature(self, n: int) -> Signature:
        """How this audit's numbers were computed (the project's one Signature, kind "audit")."""
        st = self.settings
        return Signature({
            "model": st["inverter"], "embedder": st["embedder"], "store": st["store"], "n": n,
            "selection": (f"sample{st['sample']}:seed{st['seed']}" if st.get("sample") else
                          f"first{st['limit']}" if st.get("limit") else "all"),
            "steps": st["steps"], "beam": st["beam"], **({"edits": st["edits"]} if st.get("edits") else {}),
            **({"names": f"{st['names']['names']}:{st['names']['digest']}"} if st.get("names") else {}),
            "early_stop": "yes", "precision": self.inverter.precision,
            "norm": "none" if self.normalization == "none" else "uncased",
        }, metrics=dict(METRIC_SETTINGS, normalization=self.normalization), kind="audit")

    def _write_summary(self, summary: dict) -> None:
        if not self.ctx.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write(self.out / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False))

    def _finish(self, status: str) -> dict:
        from .report import render_audit

        tally = self._tally()
        summary = self._summary(status, tally)
        if not self.ctx.main:
            return summary
        self._write_summary(summary)
        atomic_write(self.out / REPORT, render_audit(summary, tally.top(), normalize=self.normalize,
                                                     plot_records=tally.plot_records(), named=tally.named_top()))
        return summary

    def close(self) -> None:
        if self._owns_reader and getattr(self, "reader", None) is not None:
            self.reader.close()
        try:
            (self.out / COPIES).rmdir()  # empty once the copy is gone
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def summarize(records: Iterable[dict]) -> dict:
    """Headline numbers over records (see the module docstring); ``None`` where nothing was measured.
    Streams: ``records`` may be any iterable (:class:`.aggregate.Tally` does the work)."""
    from .aggregate import Tally

    return Tally().extend(records).summary()


def _sample_grows(before, now) -> bool:
    """A resumed sampled audit may grow its sample: the sample of n is part of the sample of m > n."""
    return isinstance(before, int) and isinstance(now, int) and now > before


def _combine_timing(timings: list[dict] | None, world: int) -> dict | None:
    """The throughput of a sharded run: records summed, wall time of the slowest process."""
    if not timings:
        return None
    records = sum(t["records"] for t in timings)
    seconds = max(t["seconds"] for t in timings)
    return {"invert_seconds": sum(t["invert_seconds"] for t in timings),
            "score_seconds": sum(t["score_seconds"] for t in timings), "records": records, "seconds": seconds,
            "records_per_second": records / seconds if seconds > 0 and records else 0.0, "processes": world}


def audit(store: str | StoreReader, inverter, out_dir: str | Path, progress: Callable[[int], None] | None = None,
          **kwargs) -> dict:
    """Check, then run, an :class:`Audit`; returns the summary."""
    with Audit(store, inverter, out_dir, **kwargs) as job:
        job.check()
        return job.run(progress=progress)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


__all__ = ["Audit", "audit", "check_fit", "find_items", "score_record", "summarize", "DETECTION", "KINDS"]
