"""word-embeddings: skip-gram vectors whose similarities follow held-out contexts (against
the untrained vectors), and a character GRU well below the unigram baseline."""

import torch

from dlc.labs.word_embeddings import (
    SkipGram,
    analogy,
    context_pairs,
    neighbours,
    ppmi,
    random_windows,
    similarity_correlation,
    words_of,
)
from tests.data.available import requires_text
from tests.labs.helpers import assert_checks, run_tiny


@requires_text
def test_lab_at_tiny(runs_dir):
    result = run_tiny("word-embeddings", runs_dir, force_cpu=True)
    assert_checks(result)
    m = result.metrics
    assert m["similarity_correlation"] > m["similarity_correlation_untrained"] + 0.1
    assert m["held_bits_per_char"] < m["held_bits_untrained"] - 1
    assert m["generated"].startswith("ROMEO:\n") and len(m["generated"]) > 100
    for name in ("embedding_pca.png", "char_lm_bits.png", "neighbours.txt", "generated.txt"):
        assert (result.run_dir / name).is_file()


def test_words_and_context_pairs():
    assert words_of("First Citizen:\nWe know't, we know't.") == ["first", "citizen", "we", "know't", "we", "know't"]
    pairs = context_pairs(torch.tensor([0, 1, -1, 2]), window=1)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 1), (1, 0)]  # pairs with a dropped word are gone
    assert len(context_pairs(torch.arange(5), window=2)) == 2 * (4 + 3)


def test_ppmi_is_positive_and_high_for_a_fixed_pair():
    ids = torch.tensor([0, 1, 2, 3] * 10 + [0, 1] * 10)
    m = ppmi(ids, 4, window=1)
    assert (m >= 0).all() and m.shape == (4, 4)
    assert m[0, 1] > 0 and m[0, 2] == 0  # 0 is always next to 1, never to 2


def test_neighbours_and_analogy_on_hand_made_vectors():
    v = torch.tensor([[1.0, 0, 0], [0.9, 0.1, 0], [0, 1.0, 0], [0, 0.9, 0.1], [0, 0, 1.0]])
    assert neighbours(v, torch.arange(5))[:, 0].tolist() == [1, 0, 3, 2, 3]
    index = {w: i for i, w in enumerate("abcde")}
    assert analogy(v, index, "a", "b", "c", top=1) == [3]
    assert abs(similarity_correlation(v, torch.arange(5), v) - 1) < 1e-6


def test_windows_predict_the_next_character():
    codes = torch.arange(100)
    x, y = random_windows(codes, 8, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 10) and torch.equal(y, x + 1)


def test_skipgram_starts_with_small_input_vectors_and_zero_output_vectors():
    m = SkipGram(10, 4)
    assert m.inp.weight.abs().max() <= 0.5 / 4 and (m.out.weight == 0).all()
