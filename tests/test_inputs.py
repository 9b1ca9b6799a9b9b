"""Bad input is one line and exit code 2, found before anything slow loads (issue 13: defects 6, 7,
9, 10, 11 and 13)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from unembed.errors import InputError
from unembed.vectors import check_vectors, load_vectors

NOWHERE = "/nonexistent/inverter-folder"  # loading it would fail: an error about anything else came first


def cli(*args, env=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "80", **(env or {})}
    return subprocess.run([sys.executable, "-m", "unembed", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=300)


def error_line(p) -> str:
    assert p.returncode == 2, (p.returncode, p.stdout[-1000:], p.stderr[-2000:])
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert lines and "Traceback" not in p.stderr, p.stderr
    return lines[-1]


# -- defect 6: empty input ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_or_whitespace_text_is_refused_with_exit_2(text):
    line = error_line(cli("invert", "--inverter", NOWHERE, "--text", text))
    assert "empty or only whitespace" in line


# -- defect 7: rows that cannot be inverted -------------------------------------------------------------


def test_zero_norm_and_constant_rows_are_refused_naming_the_rows(tiny_inverter):
    v = np.random.default_rng(0).standard_normal((4, 384)).astype(np.float32)
    zero = v.copy()
    zero[2] = 0
    with pytest.raises(InputError, match=r"1 all-zero row\(s\) \(row 2\)"):
        tiny_inverter.invert(zero, steps=0)
    flat = v.copy()
    flat[1] = 0.05
    flat[3] = -0.05
    with pytest.raises(InputError, match=r"2 constant row\(s\) \(rows 1, 3\)"):
        tiny_inverter.invert(flat, steps=0)
    assert check_vectors(zero).shape == (4, 384)  # other uses (defences) may hold zero rows


def test_a_vector_file_of_zeros_is_refused(tmp_path):
    np.save(tmp_path / "z.npy", np.zeros((3, 8), np.float32))
    with pytest.raises(InputError, match="all-zero"):
        load_vectors(tmp_path / "z.npy")


# -- defect 9: .npz without 'vectors' -------------------------------------------------------------------


def test_npz_without_vectors_and_several_arrays_is_refused_naming_them(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "a.npz", queries=rng.standard_normal((2, 4)), docs=rng.standard_normal((3, 4)))
    with pytest.raises(InputError, match=r"no array named 'vectors'.*'queries', 'docs'"):
        load_vectors(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", embeddings=rng.standard_normal((2, 4)), ids=np.array(["x", "y"]))
    ids, arr = load_vectors(tmp_path / "b.npz")  # one array besides ids: not ambiguous
    assert ids == ["x", "y"] and arr.shape == (2, 4)
    np.savez(tmp_path / "c.npz", vectors=rng.standard_normal((2, 4)), ids=np.array(["x"]))
    with pytest.raises(InputError, match="1 ids for 2 vectors"):
        load_vectors(tmp_path / "c.npz")


# -- defect 10: the true line number ---------------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    ('{"vector": [1, 2,', r":3: not valid JSON"),
    ('[1, 2]', r":3: a line must be a JSON object"),
    ('{"vector": "abc"}', r":3: 'vector' must be a list of numbers"),
    ('{"vector": [1]}', r":3: vector of length 1, but earlier lines have 2"),
    ('{"id": 3}', r":3: no 'vector'"),
])
def test_a_malformed_jsonl_line_is_reported_by_its_true_number(tmp_path, bad, message):
    path = tmp_path / "v.jsonl"
    path.write_text('{"vector": [1, 2]}\n\n' + bad + "\n" + '{"vector": [3, 4]}\n')
    with pytest.raises(InputError, match=re.escape(str(path)) + message):
        load_vectors(path)


def test_a_line_two_error_says_line_two(tmp_path):
    path = tmp_path / "v.jsonl"
    path.write_text('{"vector": [1, 2]}\n{"vector": [1, 2}\n')
    with pytest.raises(InputError, match=r"v\.jsonl:2: not valid JSON"):
        load_vectors(path)


# -- defect 11: arguments before the inverter -----------------------------------------------------------


@pytest.mark.parametrize("args, expected", [
    (["invert", "--inverter", NOWHERE, "--text", "hello there", "--beam", "0"], "--beam must be >= 1"),
    (["invert", "--inverter", NOWHERE, "--vectors", "/nonexistent/v.npy"], "vector file /nonexistent/v.npy does not exist"),
    (["eval", "--inverter", NOWHERE, "--texts", "/nonexistent/t.txt"], "not found"),
    (["audit", "nosuch:///x", "--inverter", NOWHERE], "unknown store URI scheme 'nosuch'"),
    (["audit", "chroma:///nonexistent/store?collection=c", "--inverter", NOWHERE], "no chroma store at '/nonexistent/store'"),
    (["audit", "faiss:///nonexistent/x.index", "--inverter", NOWHERE, "--beam", "0"], "--beam must be >= 1"),
    (["audit", "not-a-uri", "--inverter", NOWHERE], "is not a store URI"),
])
def test_bad_arguments_are_refused_before_the_inverter_loads(args, expected):
    assert expected in error_line(cli(*args))


def test_an_empty_texts_file_is_refused_before_the_inverter_loads(tmp_path):
    (tmp_path / "t.txt").write_text("\n  \n")
    assert "holds no texts" in error_line(cli("eval", "--inverter", NOWHERE, "--texts", tmp_path / "t.txt"))


def test_an_audit_over_existing_results_is_refused_before_the_inverter_loads(tmp_path):
    (tmp_path / "store.index").write_bytes(b"x")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "results.jsonl").write_text('{"id": "1"}\n')
    line = error_line(cli("audit", f"faiss://{tmp_path}/store.index", "--inverter", NOWHERE, "--out", tmp_path / "out"))
    assert "--resume" in line


# -- defect 13: long commands say how long they take; tables fit 80 columns ------------------------------


@pytest.mark.parametrize("command", ["defend", "glitch"])
def test_help_of_long_commands_states_typical_cpu_time_and_how_to_shrink(command):
    p = cli(command, "--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    assert re.search(r"\d+ (s|seconds|minutes?|hours?)\b", text) and "CPU" in text, text[:800]
    assert "shrink" in text
    assert "…" not in p.stdout or command != "defend" or "--defence" not in p.stdout.split("…")[0][-200:]
