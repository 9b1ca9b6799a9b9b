"""`unembed train` stopped by a real SIGTERM, then resumed (issue 13: the crash tests with real signals;
the audit's are in test_audit_reliability, defend's in test_defences, glitch's in test_glitch)."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import assert_same_weights, half_written, template_sentences


def cli(*args) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "unembed", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def finished(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err.decode(errors="replace")


def leftovers(folder: Path) -> list[Path]:
    """Half-written files (atomic writes' temporaries) and private copies left in ``folder``."""
    return half_written(folder) + [p for p in folder.rglob("unembed-store-*")]


ARGS = ["--model", "tiny", "--init", "random", "--hypothesizer-steps", 30, "--corrector-steps", 0, "--batch-size", 8,
        "--eval-every", 0, "--save-every", 3, "--warmup-steps", 2, "--n-validation", 5, "--n-test", 5,
        "--mixed-precision", "no"]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "corpus.txt"  # small: each run embeds it with MiniLM first
    path.write_text("\n".join(template_sentences(80)) + "\n")
    return path


@pytest.fixture(scope="module")
def whole(corpus_file, tmp_path_factory) -> Path:
    """An uninterrupted run: what every interrupted and resumed one must reach."""
    out = tmp_path_factory.mktemp("crash") / "whole"
    code, err = finished(cli("train", "--out", out, "--corpus", corpus_file, *ARGS))
    assert code == 0, err[-2000:]
    return out


@pytest.mark.timeout(900)
@pytest.mark.parametrize("sig,seed", [(signal.SIGTERM, 1), (signal.SIGKILL, 2), (signal.SIGTERM, 3)])
def test_a_signal_at_a_random_checkpoint_of_train_then_resume_gives_the_weights_of_an_uninterrupted_run(
        whole, corpus_file, tmp_path, sig, seed):
    """SIGTERM: one error line naming --resume (exit 2, a checkpoint saved on the way out); kill -9: no way out
    at all. Either way nothing half-written is read as valid and the resumed run's weights equal the
    uninterrupted run's."""
    parts = tmp_path / "parts"
    proc = cli("train", "--out", parts, "--corpus", corpus_file, *ARGS)
    checkpoint = parts / "checkpoints" / "hypothesizer" / "checkpoint.json"
    at = random.Random(seed).choice([3, 6, 9])  # a checkpoint (every 3 steps), then a random delay
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline and \
            (not checkpoint.exists() or json.loads(checkpoint.read_text() or "{}").get("step", 0) < at):
        time.sleep(0.02)
    time.sleep(random.Random(seed).uniform(0, 0.05))
    assert proc.poll() is None, "the run ended before the signal: nothing was interrupted"
    proc.send_signal(sig)
    code, err = finished(proc)
    if sig == signal.SIGTERM:
        # train saves a checkpoint on the way out and says so as its one error line (exit 2), not the generic 130
        assert code == 2, err[-2000:]
        lines = [line for line in err.splitlines() if "interrupted" in line]
        assert lines and "--resume" in lines[-1] and "Traceback" not in err
        assert leftovers(parts) == []
    else:
        assert code == -signal.SIGKILL
    assert not (parts / "inverter.json").exists()

    code, err = finished(cli("train", "--out", parts, "--corpus", corpus_file, *ARGS, "--resume"))
    assert code == 0, err[-2000:]
    assert leftovers(parts) == []
    assert_same_weights(whole / "hypothesizer.safetensors", parts / "hypothesizer.safetensors")
