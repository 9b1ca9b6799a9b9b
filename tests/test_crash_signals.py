"""`unembed train` stopped by a real SIGTERM, then resumed (issue 13: the crash tests with real signals;
the audit's are in test_audit_reliability, defend's in test_defences, glitch's in test_glitch)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from conftest import template_sentences


def cli(*args) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "unembed", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def finished(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err.decode(errors="replace")


def leftovers(folder: Path) -> list[Path]:
    """Half-written files (atomic writes' temporaries) and private copies left in ``folder``."""
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or p.name.startswith("unembed-store-")]


@pytest.mark.timeout(900)
def test_sigterm_during_train_then_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    corpus_file = tmp_path / "corpus.txt"  # small: each run embeds it with MiniLM first
    corpus_file.write_text("\n".join(template_sentences(80)) + "\n")
    args = ["--corpus", corpus_file, "--model", "tiny", "--init", "random", "--hypothesizer-steps", 30,
            "--corrector-steps", 0, "--batch-size", 8, "--eval-every", 0, "--save-every", 3, "--warmup-steps", 2,
            "--n-validation", 5, "--n-test", 5, "--mixed-precision", "no"]
    whole = tmp_path / "whole"
    code, err = finished(cli("train", "--out", whole, *args))
    assert code == 0, err[-2000:]

    parts = tmp_path / "parts"
    proc = cli("train", "--out", parts, *args)
    checkpoint = parts / "checkpoints" / "hypothesizer" / "checkpoint.json"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before its first checkpoint: nothing was interrupted"
    proc.send_signal(signal.SIGTERM)
    code, err = finished(proc)
    # train saves a checkpoint on the way out and says so as its one error line (exit 2), not the generic 130
    assert code == 2, err[-2000:]
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert lines and "--resume" in lines[-1] and "Traceback" not in err
    assert not (parts / "inverter.json").exists() and leftovers(parts) == []

    code, err = finished(cli("train", "--out", parts, *args, "--resume"))
    assert code == 0, err[-2000:]
    assert leftovers(parts) == []
    a, b = load_file(str(whole / "hypothesizer.safetensors")), load_file(str(parts / "hypothesizer.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert (a[k].float() - b[k].float()).abs().max().item() < 1e-6, k
