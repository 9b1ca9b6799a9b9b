"""The runs under the served folder: audits (summary.json), defence runs (results.json) and
glitch audits (summary.json of kind glitch), each with its headline figures.

Only folders below the served one are looked at (symbolic links are not followed), to a bounded
depth and number, and store URIs are shown redacted (no password or API key)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..audit.stores import redact

__all__ = ["Run", "find_runs", "read_run", "MAX_DEPTH", "MAX_RUNS"]

MAX_DEPTH, MAX_RUNS = 4, 500
SKIP = {".git", ".venv", "node_modules", "__pycache__", ".cache", "_shards"}


@dataclass
class Run:
    """One run folder: its kind, where it is (relative to the served folder), its status and figures."""

    kind: str  # audit | defend | glitch
    path: str  # relative, with forward slashes ("." for the served folder itself)
    status: str  # complete | running | refused | interrupted | ...
    title: str  # what was audited or measured (store URI redacted, model, inverter)
    figures: list[tuple[str, str]] = field(default_factory=list)
    report: str | None = None  # relative path of report.html when there is one
    settings: dict = field(default_factory=dict)  # for resuming an audit (store redacted)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "path": self.path, "status": self.status, "title": self.title,
                "figures": [list(f) for f in self.figures], "report": self.report, "settings": self.settings}


def _json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _f(value, fmt: str) -> str:
    return "n/a" if not isinstance(value, (int, float)) or isinstance(value, bool) else fmt.format(value)


def _audit(rel: str, s: dict, folder: Path) -> Run:
    store = s.get("store") or {}
    settings = dict(s.get("settings") or {})
    settings["store"] = redact(str(settings.get("store") or store.get("uri") or ""))
    figures = [("records", f"{s.get('n', 0)} of {store.get('count', '?')}"), ("cosine", _f(s.get("cosine"), "{:.3f}"))]
    if s.get("n_with_original"):
        figures += [("BLEU", _f(s.get("bleu"), "{:.1f}")), ("token F1", _f(s.get("token_f1"), "{:.1f}")),
                    ("exact", _f(s.get("exact_match"), "{:.1f}%"))]
        sens = s.get("sensitive") or {}
        found = sum((v or {}).get("found") or 0 for v in sens.values() if isinstance(v, dict))
        got = sum((v or {}).get("recovered") or 0 for v in sens.values() if isinstance(v, dict))
        if found:
            figures.append(("sensitive items recovered", f"{got} of {found}"))
    named = s.get("name_list") if isinstance(s.get("name_list"), dict) else {}
    if named.get("records_naming_a_listed_name"):
        figures.append(("listed names: right person first",
                        f"{named.get('right_first')} of {named['records_naming_a_listed_name']}"))
    return Run("audit", rel, str(s.get("status") or "unknown"), redact(str(store.get("uri") or settings["store"])),
               figures, settings={k: settings.get(k) for k in ("store", "steps", "beam", "limit", "sample", "seed")})


def _defend(rel: str, r: dict) -> Run:
    defences = [d for d in r.get("defences") or [] if isinstance(d, dict)]
    und = ((r.get("retrieval") or {}).get("undefended") or {})
    rec = r.get("recommendation") or {}
    figures = [("defences", str(len(defences))), ("undefended NDCG@10", _f(und.get("ndcg_at_10"), "{:.3f}")),
               ("threshold BLEU", _f(r.get("threshold"), "{:g}"))]
    if rec.get("spec") or rec.get("defence"):
        figures.append(("recommended", str(rec.get("spec") or rec.get("defence"))))
    sig = r.get("signature") or {}
    return Run("defend", rel, "complete", f"defences measured with {sig.get('model', 'an inverter')}", figures)


def _glitch(rel: str, s: dict) -> Run:
    model = s.get("model") or {}
    figures = [("tokens", str(s.get("n_tokens", "?"))), ("candidates", str(s.get("candidates", "?"))),
               ("verified", str(s.get("verified", "?")))]
    return Run("glitch", rel, "complete", f"vocabulary of {model.get('name', '?')}", figures)


def read_run(root: Path, folder: Path) -> Run | None:
    """The run in ``folder`` (inside ``root``), or None when it holds none."""
    rel = folder.relative_to(root).as_posix() or "."
    run = None
    summary = _json(folder / "summary.json") if (folder / "summary.json").is_file() else None
    if summary is not None:
        kind = (summary.get("signature") or {}).get("kind")
        if kind == "glitch" or ("n_tokens" in summary and "methods" in summary):
            run = _glitch(rel, summary)
        elif kind == "audit" or "embedder_check" in summary:
            run = _audit(rel, summary, folder)
    elif (folder / "results.json").is_file():
        results = _json(folder / "results.json")
        if results is not None and isinstance(results.get("defences"), list):
            run = _defend(rel, results)
    if run is not None and (folder / "report.html").is_file():
        run.report = (Path(rel) / "report.html").as_posix() if rel != "." else "report.html"
    return run


def find_runs(root: Path, max_depth: int = MAX_DEPTH, limit: int = MAX_RUNS) -> list[Run]:
    """Every run under ``root`` (depth-first, sorted by path), at most ``limit``."""
    root = Path(root).resolve()
    runs: list[Run] = []
    for here, dirs, files in os.walk(root, followlinks=False):
        here_path = Path(here)
        depth = len(here_path.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIP and not d.startswith(".") and depth < max_depth)
        if "summary.json" in files or "results.json" in files:
            run = read_run(root, here_path)
            if run is not None:
                runs.append(run)
                if len(runs) >= limit:
                    break
    return sorted(runs, key=lambda r: r.path)
