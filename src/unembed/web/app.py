"""The ASGI application: pages, the JSON API, the event streams and the runs' files.

API (JSON in and out; every error is ``{"error": kind, "message": one line}``):

- ``POST /api/invert``: ``{"text", "steps", "beam", "inverter"}``, or a vector file as the raw body
  (``Content-Type: application/octet-stream``, ``?filename=x.npy&row=0&steps=..&beam=..&inverter=..``).
  202 ``{"job", "position", "events"}``; **503 with ``Retry-After`` (seconds) and ``{"error":
  "busy"}`` when the queue is full**, the one busy answer; 413 when an upload is over the limit;
  400 for anything wrong with the input.
- ``GET /api/jobs/ID``: the job's state, queue position and events so far;
  ``GET /api/jobs/ID/events``: the same as server-sent events (``Last-Event-ID`` resumes);
  ``POST /api/jobs/ID/cancel``.
- ``POST /api/audits``: ``{"store", "out", "steps", "beam", "limit", "sample", "seed", "resume",
  "inverter"}``; 202 with the job, 503 busy while another audit runs. ``POST /api/glitch``:
  ``{"model", "out", "clusters", "control", "known_unused_sample", "top", "seed"}`` (unembed
  glitch's options), the same way. ``GET /api/runs``: the runs.
- ``GET /runs/PATH``: a report (or summary) file inside the served folder; anything else is 404.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import threading
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import InputError, UnembedError
from ..html import CSP as REPORT_CSP
from . import pages
from .jobs import AuditRunner, Busy, Inverters, Job, Registry, Worker, inversion_work
from .runs import find_runs
from .security import Guard, inside, is_loopback

__all__ = ["create_app", "LIMITS"]

STATIC = Path(__file__).resolve().parent / "static"
LIMITS = {"max_upload": 8_000_000, "max_text": 2000, "max_json": 65536, "steps": 20, "beam": 4, "max_steps": 50,
          "max_beam": 8, "queue": 8}
SERVED = {".html": "text/html; charset=utf-8", ".json": "application/json", ".png": "image/png",
          ".jsonl": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
VECTOR_SUFFIXES = (".npy", ".npz", ".jsonl")


class TooLarge(Exception):
    pass


def _error(status: int, kind: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": kind, "message": message}, status_code=status, headers=headers)


def _int(value, name: str, lo: int, hi: int, default=None):
    if value is None or value == "":
        if default is None:
            return None
        value = default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a whole number, not {value!r}") from None
    if not lo <= n <= hi:
        raise InputError(f"{name} must be between {lo} and {hi}, not {n}")
    return n


async def _body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused (TooLarge) past ``limit`` bytes, whether it declares its length or not."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"{what} too large: {int(declared):,} bytes, the limit is {limit:,} bytes "
                       f"({limit / 1e6:g} MB; unembed serve --max-upload sets it)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"{what} too large: over {limit:,} bytes ({limit / 1e6:g} MB; unembed serve --max-upload "
                           "sets it)")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    """The request's Content-Type without its parameters, lower-cased ("" when it sends none)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _json_body(request: Request, limit: int):
    """The request body parsed as JSON (TooLarge past ``limit`` bytes, InputError when it is not JSON)."""
    try:
        return json.loads(await _body(request, limit, "request"))
    except ValueError:
        raise InputError("the request body is not JSON") from None


def read_upload(data: bytes, filename: str, row: int) -> tuple[np.ndarray, str | None, int]:
    """One row of an uploaded vector file (read without pickle), its original text if the file has
    one (.jsonl ``text`` or ``document``), and the number of rows."""
    from ..vectors import load_vectors

    suffix = Path(filename or "").suffix.lower()
    if suffix not in VECTOR_SUFFIXES:
        raise InputError(f"upload a .npy, .npz or .jsonl file of vectors, not {filename or 'a file without a name'!r}")
    with tempfile.TemporaryDirectory(prefix="unembed-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        _, vectors = load_vectors(path)
    if row >= len(vectors):
        raise InputError(f"row {row} asked for, but the file holds {len(vectors)} row(s) (0 to {len(vectors) - 1})")
    original = None
    if suffix == ".jsonl":
        lines = [ln for ln in data.decode("utf-8", errors="replace").splitlines() if ln.strip()]
        try:
            rec = json.loads(lines[row])
            text = rec.get("text", rec.get("document"))
            original = text if isinstance(text, str) and text.strip() else None
        except (ValueError, IndexError, AttributeError):
            original = None
    return vectors[row], original, len(vectors)


def create_app(folder: str | Path = ".", inverters: dict | None = None, host: str = "127.0.0.1",
               token: str | None = None, queue_size: int = LIMITS["queue"], max_upload: int = LIMITS["max_upload"],
               embedder: str | None = None, precision: str = "auto") -> Starlette:
    """The web application serving ``folder``.

    ``inverters``: name -> an inverter spec (``"minilm"``, a folder) or a loaded Inverter; the first
    is the default. ``host``: where it will be bound; off loopback ``token`` is required."""
    if not is_loopback(host) and not token:
        raise InputError(f"serving on {host} (off loopback) needs a token: pass --token, or let unembed serve "
                         "generate one")
    root = Path(folder).resolve()
    if not root.is_dir():
        raise InputError(f"--folder {folder} is not a folder")
    limits = dict(LIMITS, max_upload=int(max_upload), queue=int(queue_size))
    invs = Inverters(inverters or {"minilm": "minilm"}, embedder=embedder, precision=precision)
    registry = Registry()
    model_lock = threading.Lock()
    worker = Worker(registry, queue_size=queue_size, model_lock=model_lock)
    audits = AuditRunner(registry, invs, model_lock, root)

    def busy(exc: Busy) -> JSONResponse:
        return _error(503, "busy", str(exc), {"Retry-After": str(exc.retry_after)})

    async def read_settings(request: Request, what: str) -> dict:
        """The JSON object of settings that starts an audit (``what``: "the audit's", ...)."""
        if _media_type(request) != "application/json":
            raise InputError(f"send {what} settings as JSON")
        p = await _json_body(request, limits["max_json"])
        if not isinstance(p, dict):
            raise InputError("send a JSON object")
        return p

    def output_folder(p: dict) -> Path:
        """The settings' ``out``: a folder strictly below the served one."""
        rel = str(p.get("out") or "").strip()
        if not rel:
            raise InputError("name an output folder inside the served folder")
        out = inside(root, rel)
        if out == root:
            raise InputError("the output folder must be a folder below the served one, not the served folder itself")
        return out

    def started(job: Job) -> JSONResponse:
        return JSONResponse({"job": job.id, "events": f"/api/jobs/{job.id}/events", "out": job.info["out"]},
                            status_code=202)

    # -- pages --------------------------------------------------------------------------------------
    async def home(request: Request):
        return HTMLResponse(pages.try_page(invs.names, limits))

    async def runs_page(request: Request):
        running = {j.info.get("out") for j in registry.all() if j.kind == "audit" and not j.finished}
        runs = await asyncio.to_thread(find_runs, root)
        return HTMLResponse(pages.runs_page(runs, str(root), invs.names, limits, running))

    async def run_file(request: Request):
        rel = request.path_params["path"]
        try:
            path = inside(root, rel)
        except InputError as exc:
            return _error(404, "not_found", str(exc))
        if path.is_dir() and (path / "report.html").is_file():
            return RedirectResponse(f"/runs/{path.relative_to(root).as_posix()}/report.html", status_code=303)
        kind = SERVED.get(path.suffix.lower())
        if kind is None or not path.is_file():
            return _error(404, "not_found", f"no report or summary at {rel!r} in the served folder")
        # a report keeps its own CSP (no script at all); everything else gets the app's
        headers = {"Content-Security-Policy": REPORT_CSP} if path.suffix.lower() == ".html" else None
        return FileResponse(path, media_type=kind, headers=headers)

    # -- the inversion API ------------------------------------------------------------------------
    async def invert(request: Request):
        ctype = _media_type(request)
        try:
            if ctype == "application/json":
                params = await _json_body(request, limits["max_json"])
                if not isinstance(params, dict):
                    raise InputError("send a JSON object: {\"text\": ..., \"steps\": ..., \"beam\": ...}")
                text = params.get("text")
                if not isinstance(text, str) or not text.strip():
                    raise InputError("no text given: type a sentence, or upload vectors")
                if len(text) > limits["max_text"]:
                    raise InputError(f"the text is {len(text):,} characters; the limit is {limits['max_text']:,}")
                vector = original = None
            elif ctype == "application/octet-stream":
                params = dict(request.query_params)
                data = await _body(request, limits["max_upload"], "upload")
                row = _int(params.get("row"), "row", 0, 10**9, 0)
                vector, original, _ = await asyncio.to_thread(read_upload, data, params.get("filename", ""), row)
                text = None
            else:
                raise InputError("send JSON ({\"text\": ...}) or a vector file as application/octet-stream")
            steps = _int(params.get("steps"), "steps", 0, limits["max_steps"], limits["steps"])
            beam = _int(params.get("beam"), "beam", 1, limits["max_beam"], limits["beam"])
            name = params.get("inverter") or invs.names[0]
            if name not in invs.names:
                raise InputError(f"unknown inverter {name!r}: this server has {', '.join(invs.names)}")
            if vector is not None and name in invs.loaded and len(vector) != invs.loaded[name].dim:
                raise InputError(f"the uploaded vectors have dimension {len(vector)} but the inverter {name!r} "
                                 f"expects {invs.loaded[name].dim}: use an inverter for the embedder that made them")
        except TooLarge as exc:
            return _error(413, "too_large", str(exc))
        except UnembedError as exc:
            return _error(400, "input", str(exc))
        job = Job("invert", {"steps": steps, "beam": beam, "inverter": name, "text": text, "original": original})
        try:
            position = worker.submit(job, inversion_work(invs, name, steps, beam, text=text, vector=vector,
                                                         original=original))
        except Busy as exc:
            return busy(exc)
        return JSONResponse({"job": job.id, "position": position, "events": f"/api/jobs/{job.id}/events"},
                            status_code=202)

    def find(request: Request) -> Job | None:
        return registry.get(request.path_params["job"])

    async def job_status(request: Request):
        job = find(request)
        if job is None:
            return _error(404, "not_found", "no such job (finished jobs are kept for a while, then forgotten)")
        out = job.status()
        out["position"] = worker.position(job) if job.kind == "invert" else None
        return JSONResponse(out)

    async def job_events(request: Request):
        job = find(request)
        if job is None:
            return _error(404, "not_found", "no such job")
        last = request.headers.get("last-event-id", "")
        start = int(last) + 1 if last.isdigit() else 0

        async def stream():
            n, quiet = start, 0.0
            while True:
                events = job.events_from(n)
                for ev in events:
                    yield f"id: {n}\nevent: {ev['type']}\ndata: {json.dumps(ev['data'], ensure_ascii=False)}\n\n"
                    n += 1
                if not events:
                    if job.finished:
                        return
                    await asyncio.sleep(0.1)
                    quiet += 0.1
                    if quiet >= 15:
                        quiet = 0.0
                        yield ": still working\n\n"
                else:
                    quiet = 0.0

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    async def job_cancel(request: Request):
        job = find(request)
        if job is None:
            return _error(404, "not_found", "no such job")
        (worker.cancel if job.kind == "invert" else audits.cancel)(job)
        return JSONResponse({"job": job.id, "cancel_requested": True})

    # -- audits and runs ----------------------------------------------------------------------------
    async def start_audit(request: Request):
        try:
            p = await read_settings(request, "the audit's")
            store = p.get("store")
            if not isinstance(store, str) or not store.strip():
                raise InputError("no store URI given (e.g. faiss:///path/index.faiss?texts=docs.jsonl)")
            out = output_folder(p)
            name = p.get("inverter") or invs.names[0]
            if name not in invs.names:
                raise InputError(f"unknown inverter {name!r}: this server has {', '.join(invs.names)}")
            args = dict(steps=_int(p.get("steps"), "steps", 0, limits["max_steps"], limits["steps"]),
                        beam=_int(p.get("beam"), "beam", 1, limits["max_beam"], limits["beam"]),
                        limit=_int(p.get("limit"), "limit", 1, 10**12), sample=_int(p.get("sample"), "sample", 1, 10**12),
                        seed=_int(p.get("seed"), "seed", 0, 2**31 - 1, 0), resume=bool(p.get("resume")))
        except TooLarge as exc:
            return _error(413, "too_large", str(exc))
        except UnembedError as exc:
            return _error(400, "input", str(exc))
        try:
            job = audits.start(store.strip(), out, out.relative_to(root).as_posix(), name, **args)
        except Busy as exc:
            return busy(exc)
        return started(job)

    async def start_glitch(request: Request):
        try:
            p = await read_settings(request, "the glitch audit's")
            model = str(p.get("model") or "minilm").strip()
            out = output_folder(p)
            settings = {"clusters": _int(p.get("clusters"), "clusters", 1, 1000, 20),
                        "control": _int(p.get("control"), "control", 1, 100000, 200),
                        "known_unused_sample": _int(p.get("known_unused_sample"), "known_unused_sample", 0, 100000, 200),
                        "seed": _int(p.get("seed"), "seed", 0, 2**31 - 1, 0)}
            if p.get("top") not in (None, ""):
                try:
                    settings["top_fraction"] = float(p["top"])
                except (TypeError, ValueError):
                    raise InputError(f"top must be a fraction, not {p['top']!r}") from None
        except TooLarge as exc:
            return _error(413, "too_large", str(exc))
        except UnembedError as exc:
            return _error(400, "input", str(exc))
        try:
            job = audits.start_glitch(model, out, out.relative_to(root).as_posix(), settings)
        except Busy as exc:
            return busy(exc)
        return started(job)

    async def runs_api(request: Request):
        runs = await asyncio.to_thread(find_runs, root)
        return JSONResponse({"folder": str(root), "runs": [r.to_dict() for r in runs]})

    async def health(request: Request):
        return JSONResponse({"ok": True, "waiting": len(worker.waiting), "queue": worker.queue_size,
                             "inverters": invs.names, "running": worker.running is not None})

    async def not_found(request: Request, exc):
        if request.url.path.startswith("/api/"):
            return _error(404, "not_found", f"no such endpoint: {request.url.path}")
        return HTMLResponse(pages.message_page("Not found", f"nothing at {request.url.path}"), status_code=404)

    async def not_allowed(request: Request, exc):
        return _error(405, "method", f"{request.method} is not allowed here")

    routes = [
        Route("/", home), Route("/runs", runs_page), Route("/runs/{path:path}", run_file),
        Route("/api/invert", invert, methods=["POST"]), Route("/api/jobs/{job}", job_status),
        Route("/api/jobs/{job}/events", job_events), Route("/api/jobs/{job}/cancel", job_cancel, methods=["POST"]),
        Route("/api/audits", start_audit, methods=["POST"]), Route("/api/glitch", start_glitch, methods=["POST"]),
        Route("/api/runs", runs_api),
        Route("/api/health", health), Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        worker.stop()

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed}, lifespan=lifespan,
                    middleware=[Middleware(Guard, token=token, loopback=is_loopback(host))])
    app.state.worker, app.state.audits, app.state.inverters, app.state.registry = worker, audits, invs, registry
    app.state.root, app.state.limits = root, limits
    return app
