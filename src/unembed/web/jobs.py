"""One model at work at a time: a worker thread with a bounded queue, and the jobs it runs.

- :class:`Worker` runs inversions one at a time in submission order. Its queue holds at most
  ``queue_size`` waiting jobs; a job submitted when it is full is refused with :class:`Busy` (the
  app answers 503 with ``Retry-After``). A waiting job knows its position (1 = next).
- :class:`AuditRunner` runs at most one audit (of a store, or a glitch audit of a vocabulary) at a time, in a thread of its own, through the same
  model lock: the audit inverts chunk by chunk, each chunk holding the lock, so an inversion typed
  on the page waits at most one chunk, and never do two requests run models at once.
- A :class:`Job` is a list of events (``queued``, ``vector``, ``step``, ``progress``, ``done``,
  ``error``, ``cancelled``) that event streams read from; finished jobs are kept, up to ``keep``.

Cancelling sets a flag that the job's own callbacks (``on_step``, the audit's ``progress``) check:
an audit stops after the chunk in hand, whose records are already in results.jsonl, and resumes
with ``resume`` (the command line's ``--resume``).
"""
from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import UnembedError
from .textdiff import word_diff

log = logging.getLogger(__name__)

__all__ = ["AuditRunner", "Busy", "Cancelled", "Inverters", "Job", "JobReporter", "Locked", "RunningFigures", "Worker",
           "hide_secrets", "inversion_work", "FINISHED"]

FINISHED = ("done", "error", "cancelled")
STRIP_MAX = 4096  # values of a vector sent to the page for its strip plot


class Busy(Exception):
    """The queue is full: try again after ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Cancelled(Exception):
    """Raised inside a job's callbacks when it was asked to stop."""


@contextlib.contextmanager
def job_outcome(job: "Job", *, what: str, log_as: str, cancelled: str = "cancelled", uri: str | None = None):
    """Runs a job's body and ends the job however the body ends: ``cancelled`` on a cancel, the error's
    own line for an :class:`UnembedError` (with ``uri``'s secrets hidden), a one-line internal error
    (the traceback logged as ``log_as``) for anything else, and "the ``what`` ended without a result"
    when the body returned without finishing the job."""
    try:
        yield
    except Cancelled:
        job.emit("cancelled", message=cancelled)
    except UnembedError as exc:
        job.emit("error", message=str(exc) if uri is None else hide_secrets(str(exc), uri))
    except Exception as exc:  # a bug, not the user's doing: logged, one line on the page
        log.exception("%s %s failed", log_as, job.id)
        job.emit("error", message=f"internal error ({type(exc).__name__}); the server log has the details")
    finally:
        if not job.finished:
            job.emit("error", message=f"the {what} ended without a result")


class Job:
    """A unit of work and the events it has produced so far (read by index: ``events_from(n)``)."""

    def __init__(self, kind: str, info: dict | None = None):
        self.id = uuid.uuid4().hex[:16]
        self.kind = kind
        self.info = info or {}
        self.state = "queued"
        self.events: list[dict] = []
        self.created = time.time()
        self.cancel_requested = False
        self.cond = threading.Condition()

    def emit(self, type_: str, **data) -> None:
        with self.cond:
            self.events.append({"type": type_, "data": data})
            if type_ in FINISHED:
                self.state = type_
            self.cond.notify_all()

    def events_from(self, n: int) -> list[dict]:
        with self.cond:
            return self.events[n:]

    def wait(self, n: int, timeout: float) -> None:
        """Block until there are more than ``n`` events, the job finished, or ``timeout`` passed."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.events) > n or self.finished, timeout)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def check_cancel(self) -> None:
        if self.cancel_requested:
            raise Cancelled

    def status(self) -> dict:
        with self.cond:
            return {"id": self.id, "kind": self.kind, "state": self.state, "info": self.info,
                    "events": list(self.events)}


class Registry:
    """Jobs by id; the oldest finished ones are forgotten beyond ``keep``."""

    def __init__(self, keep: int = 64):
        self.keep, self.jobs, self.lock = keep, collections.OrderedDict(), threading.Lock()

    def add(self, job: Job) -> None:
        with self.lock:
            self.jobs[job.id] = job
            finished = [j for j in self.jobs.values() if j.finished]
            for old in finished[: max(0, len(finished) - self.keep)]:
                del self.jobs[old.id]

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            return self.jobs.get(job_id)

    def all(self) -> list[Job]:
        with self.lock:
            return list(self.jobs.values())


class Worker:
    """One thread that runs submitted jobs one at a time, behind a bounded queue."""

    def __init__(self, registry: Registry, queue_size: int = 8, model_lock: threading.Lock | None = None):
        self.registry, self.queue_size = registry, queue_size
        self.model_lock = model_lock or threading.Lock()
        self.waiting: collections.deque[tuple[Job, Callable[[Job], None]]] = collections.deque()
        self.running: Job | None = None
        self.cond = threading.Condition()
        self.seconds = collections.deque(maxlen=20)  # recent job durations: the Retry-After estimate
        self.stopped = False
        self.thread = threading.Thread(target=self._loop, name="unembed-worker", daemon=True)
        self.thread.start()

    def retry_after(self) -> int:
        mean = sum(self.seconds) / len(self.seconds) if self.seconds else 5.0
        return int(min(120, max(1, math.ceil(mean * (len(self.waiting) + 1) / 2))))

    def submit(self, job: Job, work: Callable[[Job], None]) -> int:
        """Queue ``job``; returns its position (0: it starts now). Raises :class:`Busy` when full."""
        with self.cond:
            if len(self.waiting) >= self.queue_size:
                raise Busy(f"busy: {len(self.waiting)} inversions are waiting (the queue holds {self.queue_size}); "
                           "try again shortly", self.retry_after())
            self.registry.add(job)
            self.waiting.append((job, work))
            position = len(self.waiting) if self.running is not None else len(self.waiting) - 1
            job.emit("queued", position=position)
            self.cond.notify_all()
            return position

    def position(self, job: Job) -> int | None:
        with self.cond:
            if self.running is job:
                return 0
            for k, (j, _) in enumerate(self.waiting, 1):
                if j is job:
                    return k
            return None

    def cancel(self, job: Job) -> None:
        with self.cond:
            job.cancel_requested = True
            for item in list(self.waiting):
                if item[0] is job:
                    self.waiting.remove(item)
                    job.emit("cancelled", message="cancelled before it started")
                    self._announce()

    def _announce(self) -> None:
        for k, (j, _) in enumerate(self.waiting, 1):
            j.emit("queued", position=k)

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cond:
                self.cond.wait_for(lambda: self.waiting or self.stopped)
                if self.stopped:
                    return
                job, work = self.waiting.popleft()
                self.running = job
                if job.events and job.events[-1]["data"].get("position"):  # it waited: now it is its turn
                    job.emit("queued", position=0)
                self._announce()
            t0 = time.perf_counter()
            try:
                with job_outcome(job, what="job", log_as="job"):
                    job.state = "running"
                    with self.model_lock:
                        work(job)
            finally:
                with self.cond:
                    self.running = None
                    self.seconds.append(time.perf_counter() - t0)


class Inverters:
    """The inverters the server may use, by name, each loaded once on first use."""

    def __init__(self, specs: dict, embedder: str | None = None, precision: str = "auto"):
        if not specs:
            raise UnembedError("no inverter to serve: pass --inverter minilm or an inverter folder")
        self.specs, self.embedder, self.precision = dict(specs), embedder, precision
        self.loaded: dict = {k: v for k, v in self.specs.items() if not isinstance(v, (str, Path))}
        self.lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def get(self, name: str | None):
        name = name or self.names[0]
        if name not in self.specs:
            raise UnembedError(f"unknown inverter {name!r}: this server has {', '.join(self.names)}")
        with self.lock:
            if name not in self.loaded:
                from ..inversion import load_inverter

                emb = None
                if self.embedder:
                    from ..embedders import load_embedder

                    emb = load_embedder(self.embedder)
                self.loaded[name] = load_inverter(self.specs[name], embedder=emb, precision=self.precision)
            return self.loaded[name]


def _vector_event(vector: np.ndarray, embedder: str, source: str) -> dict:
    v = np.asarray(vector, dtype=np.float64)
    return {"dim": int(v.size), "norm": float(np.linalg.norm(v)), "embedder": embedder, "source": source,
            "values": [round(float(x), 4) for x in v[:STRIP_MAX]], "min": float(v.min()), "max": float(v.max())}


def inversion_work(inverters: Inverters, name: str | None, steps: int, beam: int, text: str | None = None,
                   vector: np.ndarray | None = None, original: str | None = None) -> Callable[[Job], None]:
    """The work of one inversion: embed ``text`` (or take ``vector``), invert it step by step."""

    def work(job: Job) -> None:
        inv = inverters.get(name)
        job.emit("loaded", inverter=name or inverters.names[0], model_id=inv.model_id)
        emb = inv.embedder
        if text is not None:
            vec = emb.embed([text])[0]
            source = f"embedded by {emb.name}"
        else:
            vec = vector
            source = f"uploaded; inverted as {emb.name}'s"
        job.emit("vector", **_vector_event(vec, emb.name, source))
        uncased = not getattr(emb, "cased", True)
        normalize = emb.normalize_text if uncased else None
        known = text if text is not None else original
        t0 = time.perf_counter()

        def on_step(update) -> None:
            job.check_cancel()
            best = update.texts[0]
            job.emit("step", step=update.step, text=best, cosine=update.cosines[0],
                     candidates=[[t, c] for t, c in update.candidates[0]], active=update.active[0],
                     diff=word_diff(best, known, normalize) if known else None,
                     seconds=time.perf_counter() - t0)

        result = inv.invert(np.asarray(vec, dtype=np.float32)[None, :], steps=steps, beam=beam, on_step=on_step)[0]
        job.emit("done", text=result.text, cosine=result.cosine, steps=result.steps, stopped=result.stopped,
                 candidates=[[t, c] for t, c in result.candidates], original=known,
                 diff=word_diff(result.text, known, normalize) if known else None,
                 seconds=time.perf_counter() - t0, texts_embedded=result.texts_embedded)

    return work


class Locked:
    """An inverter whose ``invert`` holds the model lock: what an audit is handed."""

    def __init__(self, inverter, lock: threading.Lock, job: Job | None = None):
        self._inverter, self._lock, self._job = inverter, lock, job

    def __getattr__(self, name):
        return getattr(self._inverter, name)

    def invert(self, *args, **kwargs):
        if self._job is not None:
            self._job.check_cancel()
        if not self._lock.acquire(blocking=False):
            if self._job is not None:
                self._job.emit("waiting", message="waiting for the model (an inversion is running)")
            self._lock.acquire()
        try:
            return self._inverter.invert(*args, **kwargs)
        finally:
            self._lock.release()


class RunningFigures:
    """Mean cosine, BLEU, token F1 and exact match over the records an audit has written so far,
    read incrementally from results.jsonl and its shard files (each line once)."""

    def __init__(self, out: Path):
        self.out, self.offsets = Path(out), {}
        self.n = self.n_orig = 0
        self.sums = {"cosine": 0.0, "bleu": 0.0, "token_f1": 0.0, "exact_match": 0.0}

    def files(self) -> list[Path]:
        from ..audit.shards import shard_files

        return [self.out / "results.jsonl", *shard_files(self.out)]

    def update(self) -> dict:
        for path in self.files():
            if not path.is_file():
                continue
            with open(path, "rb") as f:
                f.seek(self.offsets.get(path, 0))
                data = f.read()
            end = data.rfind(b"\n") + 1
            self.offsets[path] = self.offsets.get(path, 0) + end
            for line in data[:end].splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                self.n += 1
                self.sums["cosine"] += float(rec.get("cosine") or 0.0)
                if rec.get("original") is not None and rec.get("bleu") is not None:
                    self.n_orig += 1
                    self.sums["bleu"] += float(rec["bleu"])
                    self.sums["token_f1"] += float(rec.get("token_f1") or 0.0)
                    self.sums["exact_match"] += 100.0 * bool(rec.get("exact_match"))
        out = {"records": self.n, "cosine": self.sums["cosine"] / self.n if self.n else None}
        for k in ("bleu", "token_f1", "exact_match"):
            out[k] = self.sums[k] / self.n_orig if self.n_orig else None
        return out


def hide_secrets(message: str, uri: str) -> str:
    """``message`` with the store URI, its password and any API key in it redacted: store readers
    name their URI in their errors, and the page must never show a password."""
    from urllib.parse import parse_qsl, urlparse

    from ..audit.stores import redact

    message = message.replace(uri, redact(uri))
    try:
        parsed = urlparse(uri)
        secrets = [parsed.password] + [v for k, v in parse_qsl(parsed.query)
                                       if k.lower() in ("api_key", "apikey", "password", "token")]
    except ValueError:
        secrets = []
    for secret in secrets:
        if secret and len(secret) >= 3:
            message = message.replace(secret, "***")
    return message


class AuditRunner:
    """At most one audit at a time, in its own thread, inverting through the model lock."""

    def __init__(self, registry: Registry, inverters: Inverters, model_lock: threading.Lock, root: Path):
        self.registry, self.inverters, self.model_lock, self.root = registry, inverters, model_lock, Path(root)
        self.current: Job | None = None
        self.lock = threading.Lock()

    def _claim(self, kind: str, info: dict) -> Job:
        """A new job of ``kind``, registered as the one long job of the moment (Busy while another runs)."""
        with self.lock:
            if self.current is not None and not self.current.finished:
                raise Busy("busy: an audit is running; wait for it to finish or cancel it", 30)
            job = Job(kind, info)
            self.registry.add(job)
            self.current = job
        return job

    def _done(self, job: Job, out: Path, status, n) -> None:
        """The ``done`` event of a long job, with the figures and report it left in ``out``."""
        from .runs import read_run

        run = read_run(self.root.resolve(), out)
        job.emit("done", status=status, n=n, figures=run.figures if run else [], report=run.report if run else None)

    def start(self, store: str, out: Path, rel: str, inverter: str | None, steps: int, beam: int,
              limit: int | None, sample: int | None, seed: int, resume: bool) -> Job:
        from ..audit.stores import redact

        job = self._claim("audit", {"store": redact(store), "out": rel, "steps": steps, "beam": beam, "limit": limit,
                                    "sample": sample, "seed": seed, "resume": resume, "inverter": inverter})
        thread = threading.Thread(target=self._run, name="unembed-audit", daemon=True,
                                  args=(job, store, out, inverter, steps, beam, limit, sample, seed, resume))
        thread.start()
        return job

    def _run(self, job, store, out, inverter, steps, beam, limit, sample, seed, resume) -> None:
        from ..audit import Audit
        from ..audit.names import BUILTIN, load_names

        with job_outcome(job, what="audit", log_as="audit job", uri=store,
                         cancelled="cancelled: the records written so far are kept; resume to continue"):
            job.state = "running"
            inv = Locked(self.inverters.get(inverter), self.model_lock, job)
            # the name-list attack with the common given names, as `unembed audit` runs it by default
            with Audit(store, inv, out, steps=steps, beam=beam, limit=limit, sample=sample, resume=resume,
                       seed=seed, batch_size=8, names=load_names(BUILTIN, inv.embedder)) as audit:
                figures = RunningFigures(out)
                job.emit("started", todo=audit.todo, already=len(audit.done_ids), selected=audit.selected,
                         figures=figures.update())
                fit = audit.check()
                job.emit("checked", status=fit.get("status"), message=fit.get("message", ""))

                def progress(done: int) -> None:
                    job.emit("progress", done=done, todo=audit.todo, figures=figures.update())
                    job.check_cancel()

                summary = audit.run(progress=progress)
            self._done(job, out, summary.get("status"), summary.get("n"))

    def start_glitch(self, model: str, out: Path, rel: str, settings: dict) -> Job:
        """A glitch-token audit of ``model``'s vocabulary into ``out``; it holds the model lock while it
        runs (it computes on the whole vocabulary), and counts as the one long job of the moment."""
        job = self._claim("glitch", {"model": model, "out": rel, **settings})
        threading.Thread(target=self._run_glitch, name="unembed-glitch", daemon=True,
                         args=(job, model, out, settings)).start()
        return job

    def _run_glitch(self, job: Job, model: str, out: Path, settings: dict) -> None:
        from ..glitch import audit_vocabulary, load_vocab_model

        with job_outcome(job, what="glitch audit", log_as="glitch job",
                         cancelled="cancelled: a glitch audit starts again from the beginning"):
            job.state = "running"
            vm = load_vocab_model(model)  # a bad model is refused before anything is written
            job.emit("started", todo=0, already=0, selected=len(vm.input_matrix), figures={},
                     message=f"{len(vm.input_matrix)} tokens in the vocabulary of {vm.name} ({vm.kind})")
            if not self.model_lock.acquire(blocking=False):
                job.emit("waiting", message="waiting for the model (an inversion is running)")
                self.model_lock.acquire()
            try:
                job.check_cancel()
                result = audit_vocabulary(vm, out, reporter=JobReporter(job), **settings)
            finally:
                self.model_lock.release()
            self._done(job, out, "complete", result.n_tokens)

    def cancel(self, job: Job) -> None:
        job.cancel_requested = True


class JobReporter:
    """A :class:`unembed.reporting.Reporter` that turns a long job's stages into ``progress`` events
    (and checks for a cancel at every step)."""

    def __init__(self, job: Job):
        self.job, self.done, self.total = job, {}, {}

    def start(self, stage, total, completed=0):
        self.done[stage], self.total[stage] = completed, total
        self.job.emit("progress", stage=stage, done=completed, todo=total)
        self.job.check_cancel()

    def advance(self, stage, n=1, **info):
        self.done[stage] = self.done.get(stage, 0) + n
        self.job.emit("progress", stage=stage, done=self.done[stage], todo=self.total.get(stage, 0))
        self.job.check_cancel()

    def note(self, message):
        self.job.emit("note", message=message)

