"""Every parser of user input, fuzzed: any input gives a result or one line of UnembedError, never
another exception (issue 13: every bad input one clear line).

Fuzzed: vector files (.npy, .npz, .jsonl: random bytes, and well-formed files of the wrong content),
corpus files (.txt, .jsonl), store URIs, ``--defence`` specs and inverter folders' inverter.json.
The command line is driven in-process through its real entry point (``unembed.cli.main``) for each
kind of input: exit code 2 and a single ``error:`` line on stderr, no traceback; a few cases also
as a subprocess. Examples that once broke a parser are pinned with ``@example``.
"""
from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from unembed.audit.stores import check_uri, open_store, schemes
from unembed.cli import main
from unembed.corpus import read_texts
from unembed.defences import parse_list
from unembed.errors import UnembedError
from unembed.inversion.inverter import SHIPPED_DIR, Inverter, config_sha256
from unembed.vectors import load_vectors

# derandomize: the same examples on every run, so CI never fails on a case no one has seen; fresh cases
# come from UNEMBED_FUZZ=random (fresh random examples), and each bug they find is pinned with @example.
DERANDOMIZE = os.environ.get("UNEMBED_FUZZ") != "random"
FUZZ = settings(max_examples=60, derandomize=DERANDOMIZE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOWHERE = "/nonexistent/inverter-folder"  # the inverter never loads: the input is refused or it is next

SCRATCH = Path(tempfile.mkdtemp(prefix="unembed-fuzz-"))  # every example's files; removed at exit
atexit.register(shutil.rmtree, SCRATCH, True)

DEEP = "[" * 100_000 + "]" * 100_000  # deeper than Python's JSON parser can go


def outcome(fn, *args):
    """``fn(*args)``, or the UnembedError it raised; the error must be one non-empty line. Any other
    exception, and any warning (a warning printed on stderr would break the one line), fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return fn(*args)
        except UnembedError as exc:
            message = str(exc)
            assert message.strip() and "\n" not in message and "\r" not in message, repr(message)
            return exc


def written(suffix: str, data: bytes | str) -> Path:
    folder = Path(tempfile.mkdtemp(dir=SCRATCH))
    path = folder / f"input{suffix}"
    path.write_bytes(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    return path


def cli(*args: str) -> tuple[int, str]:
    """Run the command line in this process; returns (exit code, stderr)."""
    err = io.StringIO()
    argv = sys.argv
    sys.argv = ["unembed", *args]
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, err.getvalue()


def assert_one_error_line(code: int, stderr: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, (code, stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error:"), stderr[-2000:]
    assert "Traceback" not in stderr


# -- strategies -------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
names = st.text(st.characters(codec="utf-8"), max_size=30)

dtypes = (hnp.floating_dtypes() | hnp.integer_dtypes() | hnp.boolean_dtypes() | hnp.complex_number_dtypes()
          | hnp.unicode_string_dtypes(max_len=4) | hnp.datetime64_dtypes() | hnp.byte_string_dtypes(max_len=4))
arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))


def vector_line(value) -> str:
    return json.dumps(value, allow_nan=True)


jsonl_lines = st.one_of(
    json_values.map(vector_line),  # any JSON
    st.fixed_dictionaries({"vector": json_values}, optional={"id": json_values}).map(vector_line),
    st.fixed_dictionaries({"embedding": st.lists(st.floats(width=32) | st.integers(), max_size=6)}).map(vector_line),
    st.text(max_size=40),  # not JSON
)


# -- vector files -------------------------------------------------------------------------------------


@FUZZ
@given(suffix=st.sampled_from([".npy", ".npz", ".jsonl"]), data=st.binary(max_size=400))
@example(suffix=".npy", data=b"\x93NUMPY\x01\x00\xff\xff{'descr': '<f4', 'fortran_order': False, 'shape': (9999,), }")
@example(suffix=".npz", data=b"PK\x03\x04not a zip")
@example(suffix=".jsonl", data=DEEP.encode())  # once a RecursionError
@example(suffix=".jsonl", data=b'{"vector": [1.0, 2.0]}\n\xff\xfe')
def test_any_bytes_as_a_vector_file_give_vectors_or_one_line(suffix, data):
    result = outcome(load_vectors, written(suffix, data))
    if not isinstance(result, UnembedError):
        ids, vectors = result
        assert vectors.dtype == np.float32 and vectors.ndim == 2 and np.isfinite(vectors).all()


@FUZZ
@given(array=arrays)
@example(array=np.array([[1 + 2j, 3.0]]))  # once silently cast to real with a ComplexWarning
@example(array=np.array([[1e300, 1.0]]))  # once an overflow RuntimeWarning before the error line
@example(array=np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]))
def test_any_array_saved_as_npy_gives_vectors_or_one_line(array):
    path = written(".npy", b"")
    np.save(path, array)
    result = outcome(load_vectors, path)
    if not isinstance(result, UnembedError):
        assert result[1].shape[0] >= 1 and np.isfinite(result[1]).all()


@FUZZ
@given(contents=st.dictionaries(st.sampled_from(["vectors", "ids", "embeddings", "x", "queries"]), arrays, max_size=3))
def test_any_arrays_saved_as_npz_give_vectors_or_one_line(contents):
    path = written(".npz", b"")
    np.savez(path, **contents)
    result = outcome(load_vectors, path)
    if not isinstance(result, UnembedError):
        ids, vectors = result
        assert ids is None or len(ids) == len(vectors)


@FUZZ
@given(lines=st.lists(jsonl_lines, max_size=6))
@example(lines=['{"vector": ' + DEEP + '}'])  # once a RecursionError
@example(lines=['{"vector": [1e400, 2]}'])
@example(lines=['{"vector": [%d, 2]}' % 10**400])
def test_any_json_lines_as_vectors_give_vectors_or_one_line(lines):
    outcome(load_vectors, written(".jsonl", "\n".join(lines) + "\n"))


# -- corpus files ---------------------------------------------------------------------------------------


@FUZZ
@given(suffix=st.sampled_from([".txt", ".jsonl"]),
       data=st.binary(max_size=300) | st.lists(jsonl_lines | json_values.map(lambda v: json.dumps({"text": v})),
                                               max_size=6).map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass")))
@example(suffix=".jsonl", data=DEEP.encode())  # once a RecursionError
@example(suffix=".txt", data=b"\xef\xbb\xbfcaf\xe9\n")
def test_any_corpus_file_gives_texts_or_one_line(suffix, data):
    result = outcome(read_texts, written(suffix, data))
    if not isinstance(result, UnembedError):
        assert all(isinstance(t, str) and t and t == t.strip() for t in result)


# -- store URIs ---------------------------------------------------------------------------------------------

SCHEMES = sorted({s.name for s in schemes()})
uri_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
uris = st.one_of(
    uri_text,
    st.builds(lambda s, rest: f"{s}://{rest}", st.sampled_from(SCHEMES) | st.text(max_size=8), uri_text),
)


@FUZZ
@given(uri=uris)
@example(uri="postgresql://u:secret@[bad/db")  # once a ValueError from urlparse, the password shown
@example(uri="x[/bold]://y")  # rich markup in the message once crashed the command line
@example(uri="a://b\nc")  # a newline in the message made it two lines
def test_any_store_uri_is_accepted_or_refused_in_one_line(uri):
    result = outcome(check_uri, uri)
    if isinstance(result, UnembedError):
        assert "secret" not in str(result)


@FUZZ
@given(scheme=st.just("faiss"), rest=uri_text,  # the one client that imports in a second; open_store does the rest
       query=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3))
@example(scheme="faiss", rest="x\n", query={"api_key": "secret"})  # a reader's message once quoted the raw URI
def test_a_store_uri_naming_no_store_is_refused_in_one_line(scheme, rest, query):
    folder = tempfile.mkdtemp(dir=SCRATCH)
    query_text = "&".join(f"{k}={v}" for k, v in query.items())
    uri = f"{scheme}://{folder}/missing/{rest.replace('?', '')}" + (f"?{query_text}" if query_text else "")
    result = outcome(open_store, uri)
    assert isinstance(result, UnembedError), uri
    assert "\n" not in str(result) and "\r" not in str(result) and "secret" not in str(result)


# -- defence specs ----------------------------------------------------------------------------------------

spec_parts = st.sampled_from(["none", "noise", "mask", "rotate", "int8", "binary", "pq", "pca", "ldp", "NOISE", ""])
params = st.one_of(st.text(max_size=8), st.integers().map(str), st.floats().map(str),
                   st.builds(lambda a, b: f"{a}x{b}", st.integers(-2, 300), st.integers(-2, 40)))
specs = st.one_of(st.text(max_size=30), st.builds(lambda n, p: f"{n}:{p}", spec_parts, params), spec_parts)


@FUZZ
@given(values=st.lists(st.lists(specs, min_size=1, max_size=3).map(",".join), min_size=1, max_size=3))
@example(values=["noise:[/x]"])  # rich markup in the message once crashed the command line
@example(values=["pq:99999999999999999999x8"])
@example(values=["noise:1e400", "ldp:nan"])
@example(values=["NOISE:\n:", "NONE:\n0", "0\n0"])  # a newline inside a spec once split the message
def test_any_defence_spec_is_parsed_or_refused_in_one_line(values):
    result = outcome(parse_list, values)
    if not isinstance(result, UnembedError):
        assert result and all(d.spec for d in result)


# -- inverter folders -----------------------------------------------------------------------------------------

SHIPPED = SHIPPED_DIR / "minilm"
BASE_CONFIG = json.loads((SHIPPED / "inverter.json").read_text())


def leaves(obj, prefix=()):
    """Every path into a JSON object (its fields and their fields)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield (*prefix, key)
            if key not in ("embedder", "info", "integrity"):  # large and not model-shaping
                yield from leaves(value, (*prefix, key))


PATHS = sorted(set(leaves(BASE_CONFIG)))
small_json = st.recursive(st.none() | st.booleans() | st.integers(-2, 16) | st.floats(-2, 2) | st.text(max_size=8),
                          lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                        max_size=3), max_leaves=6)


def folder_with(config_text: str) -> Path:
    """An inverter folder: the shipped inverter's files (linked) with this inverter.json."""
    folder = Path(tempfile.mkdtemp(dir=SCRATCH))
    for name in ("hypothesizer.safetensors", "corrector.safetensors", "tokenizer.json"):
        os.symlink(SHIPPED / name, folder / name)
    (folder / "inverter.json").write_text(config_text, encoding="utf-8", errors="surrogatepass")
    return folder


def mutated(path: tuple, value, delete: bool, recompute: bool) -> str:
    cfg = json.loads(json.dumps(BASE_CONFIG))
    parent = cfg
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        parent.pop(path[-1], None)
    else:
        parent[path[-1]] = value
    if recompute and isinstance(cfg.get("integrity"), dict):  # get past the checksum to the validation behind it
        cfg["integrity"]["config_sha256"] = config_sha256(cfg)
    return json.dumps(cfg)


inverter_json = st.one_of(
    st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace")),
    json_values.map(json.dumps),
    st.builds(mutated, st.sampled_from(PATHS), small_json, st.booleans(), st.booleans()),
)


@settings(max_examples=40, derandomize=DERANDOMIZE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=inverter_json)
@example(text=DEEP)  # once a RecursionError
@example(text=mutated(("hypothesizer", "transformer", "n_heads"), 7, False, True))
@example(text=mutated(("hypothesizer", "transformer", "n_encoder_layers"), 2, False, True))  # builds; weights misfit
@example(text=mutated(("corrector_shares",), ["no.such.tensor"], False, True))
@example(text=mutated(("max_tokens",), 10**6, False, True))
def test_any_inverter_json_loads_or_is_refused_in_one_line(text):
    folder = folder_with(text)
    try:
        result = outcome(Inverter.load, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert isinstance(result, (Inverter, UnembedError))


# -- the command line: exit code 2 and one line ---------------------------------------------------------------


@settings(max_examples=25, derandomize=DERANDOMIZE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(suffix=st.sampled_from([".npy", ".npz", ".jsonl"]), data=st.binary(max_size=200))
@example(suffix=".jsonl", data=DEEP.encode())
@example(suffix=".jsonl", data=b'{"vector": [1, 2], "id": "[/x]"}\n{"vector": "[/bold]"}')
def test_invert_with_any_vector_file_exits_2_with_one_line(suffix, data):
    assert_one_error_line(*cli("invert", f"--vectors={written(suffix, data)}", "--inverter", NOWHERE))


@settings(max_examples=25, derandomize=DERANDOMIZE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(suffix=st.sampled_from([".txt", ".jsonl"]), data=st.binary(max_size=200))
@example(suffix=".jsonl", data=DEEP.encode())
def test_eval_with_any_texts_file_exits_2_with_one_line(suffix, data):
    assert_one_error_line(*cli("eval", f"--texts={written(suffix, data)}", "--inverter", NOWHERE))


@settings(max_examples=25, derandomize=DERANDOMIZE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(uri=uris.filter(lambda u: not u.startswith("-")))
@example(uri="x[/bold]://y")
@example(uri="a://b\nc")
@example(uri="postgresql://u:secret@[bad/db")
def test_audit_with_any_store_uri_exits_2_with_one_line(uri, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    code, stderr = cli("audit", uri, "--inverter", NOWHERE, "--out", str(out / "a"))
    assert_one_error_line(code, stderr)
    assert "secret" not in stderr


@settings(max_examples=25, derandomize=DERANDOMIZE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=specs)
@example(spec="noise:[/x]")
@example(spec="[bold]")
def test_defend_with_any_defence_spec_exits_2_with_one_line(spec, tmp_path_factory):
    out = tmp_path_factory.mktemp("defend")
    assert_one_error_line(*cli("defend", f"--defence={spec}", "--inverter", NOWHERE, "--out", str(out / "d")))


def test_markup_in_a_malformed_uri_through_a_subprocess_is_one_line_without_the_password(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "80", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "unembed", "audit", "postgresql://u:secret@[/bold]bad/db", "--inverter",
                        NOWHERE, "--out", str(tmp_path / "o")], capture_output=True, text=True, env=env, timeout=300)
    assert_one_error_line(p.returncode, p.stderr)
    assert "secret" not in p.stderr


def test_a_complex_npy_through_a_subprocess_prints_one_line_and_no_warning(tmp_path):
    path = tmp_path / "c.npy"
    np.save(path, np.array([[1 + 2j, 3.0]]))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "unembed", "invert", "--vectors", str(path), "--inverter", NOWHERE],
                       capture_output=True, text=True, env=env, timeout=300)
    assert_one_error_line(p.returncode, p.stderr)
    assert "complex" in p.stderr
