"""The command line through its real entry point (the installed `unembed` script)."""
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

UNEMBED = shutil.which("unembed", path=str(Path(sys.executable).parent)) or "unembed"


def run(*args, check_code=0):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    p = subprocess.run([UNEMBED, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == check_code, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def one_error_line(p):
    lines = [line for line in p.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


def test_invert_text_and_vectors(tiny_run, tmp_path, minilm):
    p = run("invert", "--inverter", tiny_run, "--text", "Alice lives in Paris and works as a baker.",
            "--steps", 2, "--beam", 2, "--json")
    rec = json.loads(p.stdout.strip().splitlines()[0])
    assert rec["text"] and -1 <= rec["cosine"] <= 1 and rec["history"][0]["step"] == 0
    assert "embedder calls" in p.stderr

    vecs = tmp_path / "vecs.npy"
    np.save(vecs, minilm.embed(["Bob lives in Rome and works as a nurse.", "Erin lives in Oslo and works as a pilot."]))
    out = tmp_path / "recovered.jsonl"
    run("invert", "--inverter", tiny_run, "--vectors", vecs, "--steps", 1, "--beam", 2, "--out", out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["0", "1"]


def test_eval_json_keys(tiny_run):
    test_texts = tiny_run / "corpus" / "test.txt"
    p = run("eval", "--inverter", tiny_run, "--texts", test_texts, "--steps", 2, "--beam", 2, "--json")
    res = json.loads(p.stdout)
    for key in ("bleu", "token_f1", "exact_match", "cosine", "n", "steps", "beam", "signature", "rouge_l"):
        assert key in res
    assert res["n"] == len(test_texts.read_text().splitlines()) and res["steps"] == 2 and res["beam"] == 2
    assert 0 <= res["bleu"] <= 100 and 0 <= res["token_f1"] <= 100 and 0 <= res["exact_match"] <= 100
    sig = res["signature"]
    assert sig["norm"] == "uncased" and "cased" in res and sig["model"].startswith("tiny@")
    assert "13a" in sig["metrics"]["bleu"] and "steps:2|beam:2" in sig["string"]


def test_train_through_the_cli_and_resume(tmp_path, corpus_file):
    out = tmp_path / "run"
    args = ["train", "--out", out, "--corpus", corpus_file, "--model", "tiny", "--init", "random",
            "--hypothesizer-steps", 6, "--corrector-steps", 0, "--batch-size", 8, "--eval-every", 0,
            "--n-validation", 5, "--n-test", 5, "--mixed-precision", "no"]
    run(*args)
    assert (out / "inverter.json").exists() and not (out / "corrector.safetensors").exists()
    line = one_error_line(run(*args, check_code=2))
    assert "--resume" in line
    run(*args, "--resume")  # nothing left to do: finishes at once


@pytest.mark.parametrize("case", ["wrong_dim", "nan", "empty", "unknown_embedder", "corrupt", "no_inverter",
                                  "non_utf8", "unreachable"])
def test_bad_input_gives_one_line_and_exit_2(case, tiny_run, tmp_path):
    if case in ("wrong_dim", "nan", "empty"):
        arr = {"wrong_dim": np.random.default_rng(0).standard_normal((2, 100)), "nan": np.full((2, 384), np.nan), "empty": np.zeros((0, 384))}[case]
        f = tmp_path / "v.npy"
        np.save(f, arr.astype(np.float32))
        line = one_error_line(run("invert", "--inverter", tiny_run, "--vectors", f, check_code=2))
        assert {"wrong_dim": "dimension 100", "nan": "NaN", "empty": "no vectors"}[case] in line
    elif case == "unknown_embedder":
        line = one_error_line(run("invert", "--inverter", tiny_run, "--embedder", "no-such-model", "--text", "hi", check_code=2))
        assert "unknown embedder" in line
    elif case == "corrupt":
        broken = tmp_path / "broken"
        broken.mkdir()
        for name in ("inverter.json", "tokenizer.json", "hypothesizer.safetensors", "corrector.safetensors"):
            shutil.copy(tiny_run / name, broken / name)
        (broken / "hypothesizer.safetensors").write_bytes(b"\x00" * 100)
        line = one_error_line(run("invert", "--inverter", broken, "--text", "hi", check_code=2))
        assert "corrupt" in line
    elif case == "no_inverter":
        line = one_error_line(run("invert", "--inverter", tmp_path / "nothing", "--text", "hi", check_code=2))
        assert "unembed train" in line
    elif case == "non_utf8":
        f = tmp_path / "bad.txt"
        f.write_bytes(b"fine line\ncaf\xe9 au lait\n")
        line = one_error_line(run("train", "--out", tmp_path / "r", "--corpus", f, "--model", "tiny", check_code=2))
        assert "UTF-8" in line or "utf-8" in line
    elif case == "unreachable":
        line = one_error_line(run("embed", "--texts", tiny_run / "corpus" / "test.txt", "--out", tmp_path / "x.npy",
                                  "--embedder", "http://127.0.0.1:9/v1?model=x", check_code=2))
        assert "127.0.0.1:9" in line


# -- help and tables in an 80-column terminal (issue 13, defect 13) --------------------------------------


def help_at_80_columns(command: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "80", "OMP_NUM_THREADS": "1"}
    env.pop("TERMINAL_WIDTH", None)
    p = subprocess.run([UNEMBED, command, "--help"], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def test_defend_help_shows_the_whole_default_defence_list_uncut():
    from unembed.defences.config import DEFAULT_DEFENCES

    text = help_at_80_columns("defend")
    assert "…" not in text and "..." not in text
    flat = " ".join(line.strip(" │") for line in text.splitlines())
    flat = " ".join(flat.split())
    assert f"(default: {DEFAULT_DEFENCES.replace(',', ', ')})" in flat, flat[:3000]


@pytest.mark.parametrize("command", ["defend", "glitch"])
def test_every_help_line_of_the_long_commands_fits_80_columns(command):
    lines = help_at_80_columns(command).splitlines()
    too_long = [line for line in lines if len(line) > 80]
    assert lines and not too_long, too_long[:3]


def test_the_defend_results_table_fits_80_columns_and_cuts_no_spec():
    from rich.console import Console

    from unembed.cli.defend import results_table
    from unembed.defences.config import DEFAULT_DEFENCES
    from unembed.defences.results import DefenceResult, DefendResult
    from unembed.signature import Signature

    specs = ["none", *DEFAULT_DEFENCES.split(","), "mask:0.5", "pq:48x8"]
    rows = []
    for k, spec in enumerate(specs):  # the widest values each column can hold
        bleu = {"bleu": 100.0 - k, "token_f1": 0.0, "cosine": 0.0}
        rows.append(DefenceResult(
            defence=spec, family=spec.split(":")[0], strength=0.0, description="", recall_at_10=0.46,
            ndcg_at_10=0.467, leakage={"non_adaptive": dict(bleu), "adaptive": {**bleu, "kind": "least squares, k=1000"}},
            attacks=[], distortion=0.0, details={}, examples=[], seconds=0.0, pareto=k % 2 == 0, recommended=k == 3))
    results = DefendResult(signature=Signature({"n": 200}, kind="defend"), threshold=10.0,
                           recommendation={"text": ""}, retrieval={}, settings={}, defences=rows)
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(results_table(results))
    text = console.export_text()
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in text
    for spec in specs:
        assert spec in text, spec  # whole, not folded or cut
