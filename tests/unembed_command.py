"""The installed ``unembed`` command, run in a subprocess on the code under test (its ``src`` on
``PYTHONPATH``), for the tests that drive the real entry point."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import unembed

UNEMBED = shutil.which("unembed", path=str(Path(sys.executable).parent)) or "unembed"
SRC = str(Path(unembed.__file__).resolve().parents[1])  # the code under test, also for the subprocess


def run(*args, code=0):
    """``unembed ARGS...`` (offline, 200 columns wide), asserting its exit status is ``code``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", "PYTHONPATH": SRC}
    p = subprocess.run([UNEMBED, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == code, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p
