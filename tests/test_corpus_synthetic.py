"""Tests of the synthetic records sources and of entity-swap augmentation (a few thousand texts)."""
from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from itertools import islice

import pytest

pytest.importorskip("faker")
pytest.importorskip("yaml")

from unembed.audit import KINDS, find_items  # noqa: E402
from unembed.corpus import default_token_counter, load_corpus  # noqa: E402
from unembed.corpus.augment import augment, swap_entities  # noqa: E402
from unembed.corpus.cleaning import clean_text  # noqa: E402
from unembed.corpus.sources import _records, get  # noqa: E402
from unembed.corpus.sources import synthetic_records as train_module  # noqa: E402
from unembed.corpus.sources import synthetic_records_heldout as heldout_module  # noqa: E402

N = 1500  # texts per source in these tests


def docs_of(name: str, n: int = N, seed: int | None = None) -> list[list[str]]:
    module = train_module if name == "train" else heldout_module
    return list(_records.generate(_records.load_templates(name), module.SEED if seed is None else seed, n,
                                  default_token_counter()))


@pytest.fixture(scope="module")
def train_docs():
    return docs_of("train")


@pytest.fixture(scope="module")
def heldout_docs():
    return docs_of("heldout")


def digest(docs) -> str:
    return hashlib.sha256("\n\n".join("\n".join(d) for d in docs).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------------------
# The generators
# --------------------------------------------------------------------------------------------------


def test_same_seed_same_bytes_and_other_seed_other_texts(train_docs):
    assert digest(docs_of("train")) == digest(train_docs)
    other = docs_of("train", seed=train_module.SEED + 1)
    assert digest(other) != digest(train_docs)
    shared = {s for d in other for s in d} & {s for d in train_docs for s in d}
    assert len(shared) <= 0.005 * sum(len(d) for d in train_docs), shared


def test_read_is_the_seeded_generator(tmp_path, train_docs):
    """The source's read yields the seeded stream: its first documents are the generator's."""
    first = list(islice(get("synthetic_records").read(tmp_path), 300))
    assert first == train_docs[:300]
    again = list(islice(get("synthetic_records").read(tmp_path), 300))
    assert digest(again) == digest(first)


def test_templates_are_many_and_train_and_heldout_disjoint():
    train, held = _records.load_templates("train"), _records.load_templates("heldout")
    assert len(train) >= 150 and len(held) >= 40
    assert not set(train) & set(held)
    norm = lambda line: re.sub(r"\[[^\]]*\]|\{[a-z_0-9]+\}", "_", line.lower())  # noqa: E731
    assert not {norm(l) for t in train for l in t.lines} & {norm(l) for t in held for l in t.lines}
    for t in train + held:
        assert t.slots, t.lines  # no template without a value: every text is new
    assert {t.register for t in train} == {t.register for t in held} == {"correspondence", "tickets", "records",
                                                                         "contacts"}
    assert len({t.kind for t in train}) >= 20


def test_sources_are_registered_with_their_roles():
    train, held = get("synthetic_records"), get("synthetic_records_heldout")
    assert train.role == "train" and held.role == "heldout"
    assert train.kind == held.kind == "generated" and train.package == "faker"
    assert train.version == _records.FAKER_VERSION and train.cleaner is _records.clean_record
    assert train_module.TEXTS == 150_000 and heldout_module.TEXTS == 5_000
    assert train_module.SEED != heldout_module.SEED


@pytest.mark.parametrize("which", ["train", "heldout"])
def test_every_text_is_clean_and_4_to_64_tokens(which, train_docs, heldout_docs):
    docs = train_docs if which == "train" else heldout_docs
    count = default_token_counter()
    sentences = [s for d in docs for s in d]
    assert sum(_records.texts_of_document(len(d)) for d in docs) >= N
    for s in sentences:
        assert _records.clean_record(s) == s, s
    counts = count.count_batch(sentences)
    assert min(counts) >= 4 and max(counts) <= 64
    whole = count.count_batch([" ".join(d) for d in docs])
    assert max(whole) <= 64  # every passage the build forms fits max_tokens=64
    assert any(len(d) > 1 for d in docs) and any(len(d) == 1 for d in docs)
    unique = {s.casefold() for s in sentences}
    assert len(unique) >= 0.97 * len(sentences)


@pytest.mark.parametrize("which", ["train", "heldout"])
def test_each_pii_kind_appears_and_is_detected(which, train_docs, heldout_docs):
    docs = train_docs if which == "train" else heldout_docs
    sentences = [s for d in docs for s in d]
    share = Counter()
    for s in sentences:
        for kind in {it["kind"] for it in find_items(s)}:
            share[kind] += 1 / len(sentences)
    minimum = {"email": 0.1, "phone": 0.1, "date": 0.3, "number": 0.3, "name": 0.15}
    for kind in KINDS:
        assert share[kind] >= minimum[kind], (kind, share)
    assert sum(1 for s in sentences if find_items(s)) >= 0.9 * len(sentences)


def test_record_cleaner_keeps_records_the_default_cleaner_drops():
    record = "Contact: Anna Weber | anna.weber@mueller-gmbh.de | +49 30 1234567 | ticket #48213"
    assert clean_text(record) is None
    assert _records.clean_record(record) == record
    assert _records.clean_record("Dear {first}, hello there") is None  # an unfilled slot
    assert _records.clean_record("Invoice [INV-1|INV-2] is due") is None  # an unchosen alternative
    assert _records.clean_record("Пожалуйста, оплатите счёт INV-1") is None  # not Latin
    assert _records.clean_record("Total €1,250.00 and £40 due 12 March 2023") is not None
    assert _records.clean_record("Hi (Anna") is None


def test_locales_vary(train_docs):
    text = " ".join(s for d in train_docs for s in d)
    currencies = ["$", "£", "₹", "A$", "€", "R$", "zł", "kr", "USD", "GBP", "INR", "AUD", "EUR", "BRL", "PLN", "SEK"]
    assert sum(c in text for c in currencies) >= 12
    tlds = Counter(m.group(1) for m in re.finditer(r"@[\w-]+\.((?:com?\.)?[a-z]{2,3})\b", text))
    assert sum(1 for t in ("de", "fr", "es", "it", "nl", "pl", "se", "co.uk", "com.au", "com.br", "co.in") if tlds[t]) >= 9
    assert re.search(r"[éèáíóúäöüåłñçãõ]", text)  # accented names and places are kept
    # e-mail addresses are plain ASCII, derived from the name as real ones are
    emails = re.findall(r"[\w.+-]+@[\w.-]+", text)
    assert all(e.isascii() for e in emails)


def test_names_and_emails_agree():
    """A work address is derived from the person's name (anna.weber@..., aweber@...)."""
    template = _records.Template("contacts", "test", ("{full} <{work_email}>",))
    hits = 0
    for i in range(200):
        doc = _records.Doc(random.Random(i), sorted(_records.LOCALES)[i % 12])
        line = _records.render(template, doc)[0]
        name, email = line.split(" <")
        local = email.split("@")[0]
        folded = _records.ascii_fold(name).lower().replace(" ", "").replace("-", "")
        last = _records.ascii_fold(doc.person("")["last"]).lower().replace(" ", "").replace("-", "")
        first = _records.ascii_fold(doc.person("")["first"]).lower()
        hits += last[:4] in local or first[:4] in local
        assert folded
    assert hits >= 190


def test_build_with_the_synthetic_sources(monkeypatch, tmp_path):
    monkeypatch.setattr(train_module, "TEXTS", 1200)
    monkeypatch.setattr(heldout_module, "TEXTS", 300)
    c = load_corpus("sources:synthetic_records,synthetic_records_heldout", tmp_path / "out", max_tokens=64,
                    n_validation=50, n_test=50, cache_dir=tmp_path / "cache")
    m = c.manifest
    assert m["sources"]["synthetic_records"]["role"] == "in-domain"
    assert m["sources"]["synthetic_records_heldout"]["role"] == "heldout"
    assert m["heldout_sources"] == ["synthetic_records_heldout"]
    held = c.split("heldout:synthetic_records_heldout")
    assert len(held) > 200 and len(c.train) > 900
    assert not set(held) & set(c.train + c.validation + c.test)
    assert any("@" in t for t in c.train) and any(len(t.split()) > 20 for t in c.train)  # passages


# --------------------------------------------------------------------------------------------------
# Entity swapping (the sentences below are written for these tests)
# --------------------------------------------------------------------------------------------------


def test_swap_replaces_entities_and_keeps_the_frame():
    text = "Maxwell was born in Edinburgh in 1831."
    seen = set()
    for i in range(20):
        out = swap_entities(text, random.Random(i))
        assert out is not None
        m = re.fullmatch(r"(.+) was born in (.+) in (\d{4})\.", out)
        assert m, out
        assert m.group(1) != "Maxwell" and m.group(2) != "Edinburgh" and m.group(3) != "1831"
        seen.add(out)
    assert len(seen) == 20


def test_swap_kinds_each_keep_their_shape():
    rng = random.Random(3)
    out = swap_entities("Send the forms to office.manager@example.org by 2021-04-09, please.", rng)
    assert "office.manager@example.org" not in out and "2021-04-09" not in out
    assert re.fullmatch(r"Send the forms to \S+@\S+\.[a-z]+ by \d{4}-\d{2}-\d{2}, please\.", out), out
    out = swap_entities("The theatre reopened on 14 September 1998 after a fire.", random.Random(1))
    assert re.fullmatch(r"The theatre reopened on \d{1,2} [A-Z][a-z]+ \d{4} after a fire\.", out), out
    assert "14 September 1998" not in out
    out = swap_entities("The survey counted 4,318 households and 12.5 per cent were empty.", random.Random(2))
    assert re.fullmatch(r"The survey counted \d,\d{3} households and \d+\.\d per cent were empty\.", out), out
    assert out != "The survey counted 4,318 households and 12.5 per cent were empty."


def test_swap_keeps_the_order_of_years_and_titles():
    for i in range(30):
        out = swap_entities("The mill worked from 1820 to 1875 under Sir Thomas Crane.", random.Random(i))
        a, b = map(int, re.findall(r"\b\d{4}\b", out))
        assert b - a == 55 and b <= 2100
        assert "Sir " in out and "Thomas Crane" not in out


def test_swap_leaves_common_words_and_returns_none_without_entities():
    assert swap_entities("It is a common plant in gardens and hedges.", random.Random(0)) is None
    out = swap_entities("However, the Royal Society elected Brenner in 1990.", random.Random(0))
    assert out.startswith("However, the Royal Society elected ") and "Brenner" not in out
    out = swap_entities("Nutrition is the process by which an organism uses food.", random.Random(0))
    assert out is None  # a sentence-initial common noun before "is" is not a name


def test_swap_same_word_same_value_and_deterministic():
    text = "Ortega moved to Lisbon, and Lisbon stayed home to Ortega for 31 years."
    a = swap_entities(text, random.Random(7))
    assert a == swap_entities(text, random.Random(7))
    person, rest = a.split(" moved to ")
    place = rest.split(", and ")[0]
    assert a == f"{person} moved to {place}, and {place} stayed home to {person} for {rest.split(' for ')[1]}"
    assert person != "Ortega" and place != "Lisbon"


def test_augment_fraction_seed_and_no_real_text_kept():
    texts = [f"Keller opened a bakery in Dresden in {1900 + i}." for i in range(400)]
    out = augment(texts, 0.25, seed=5)
    assert 60 <= len(out) <= 140
    assert out == augment(texts, 0.25, seed=5) and out != augment(texts, 0.25, seed=6)
    assert not set(out) & set(texts)  # every copy is changed, none is the real sentence
    assert augment(texts, 0.0, seed=5) == [] and len(augment(texts, 1.0, seed=5)) == 400
    for t in out:
        assert clean_text(t) is not None
    with pytest.raises(ValueError):
        augment(texts, 1.5, seed=0)


def test_augment_module_does_not_import_audit():
    import pathlib

    import unembed.corpus.augment as A

    source = pathlib.Path(A.__file__).read_text()
    assert "audit" not in re.sub(r'""".*?"""', "", source, flags=re.S)
