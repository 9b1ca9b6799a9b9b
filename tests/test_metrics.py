import sacrebleu

from unembed import metrics


def test_bleu_is_mean_of_per_pair_corpus_bleu_not_sentence_bleu():
    preds = ["the cat sat on the mat today", "a dog"]
    refs = ["the cat sat on a mat today", "a dog barked loudly at night"]
    per_pair = [sacrebleu.corpus_bleu([p], [[r]]).score for p, r in zip(preds, refs)]
    got = metrics.score(preds, refs)
    assert abs(got["bleu"] - sum(per_pair) / 2) < 1e-9
    assert abs(got["bleu"] - sacrebleu.corpus_bleu(preds, [refs]).score) > 1e-3
    assert abs(metrics.bleu("the same five words here", "the same five words here") - 100.0) < 1e-9
    # the convention scores texts shorter than four tokens 0 even when equal (no 4-grams)
    assert metrics.bleu("same words", "same words") == 0.0


def test_token_f1_on_word_sets():
    assert metrics.token_f1("a b c", "c b a") == 100.0
    assert metrics.token_f1("a a b", "a b") == 100.0  # sets, not bags
    assert abs(metrics.token_f1("a b", "a c") - 50.0) < 1e-9
    assert metrics.token_f1("x", "y") == 0.0


def test_rouge_l_and_exact():
    assert metrics.rouge_l("a b c d", "a b c d") == 100.0
    # LCS of "a c d" and "a b c d" is 3: P=1, R=0.75
    assert abs(metrics.rouge_l("a c d", "a b c d") - 100 * 2 * 0.75 / 1.75) < 1e-9
    s = metrics.score(["Hello World.", "x"], ["hello world.", "x"])
    assert s["exact_match"] == 50.0


def test_normalisation_reports_case_sensitive_beside():
    s = metrics.score(["Hello World."], ["hello world."], normalize=str.lower, normalization_name="lower")
    assert s["exact_match"] == 100.0 and s["cased"]["exact_match"] == 0.0
    assert s["metrics_signature"]["normalization"] == "lower"
    assert "13a" in s["metrics_signature"]["bleu"]


def test_cosine_rows():
    import numpy as np

    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [-1.0, -1.0]])
    assert np.allclose(metrics.cosine_rows(a, b), [1.0, -1.0])
