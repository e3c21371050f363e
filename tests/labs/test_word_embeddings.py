"""word-embeddings: skip-gram vectors whose similarities follow held-out contexts (against
the untrained vectors), a character GRU well below the unigram baseline, and a seq2seq
translation model with attention whose held-out BLEU and token loss beat the untrained
model's."""

import torch

from dlc import text
from dlc.labs.word_embeddings import (
    Seq2Seq,
    SkipGram,
    analogy,
    attend,
    context_pairs,
    greedy_translate,
    neighbours,
    ppmi,
    random_windows,
    sentence_groups,
    similarity_correlation,
    word_by_word,
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
    assert m["bleu"] > m["bleu_untrained"] and m["bleu"] > m["bleu_copy"]
    assert len(m["bleu_curve"]) == m["mt_epochs"] and 0 <= min(m["bleu_curve"]) <= max(m["bleu_curve"]) <= 1
    assert m["mt_pairs"]["held_out_sentences"] > 100 and m["mt_pairs"]["train"] > 1000
    names = ("embedding_pca.png", "char_lm_bits.png", "attention.png", "translation_bleu.png")
    for name in (*names, "neighbours.txt", "generated.txt", "translations.txt"):
        assert (result.run_dir / name).is_file()
    table = (result.run_dir / "translations.txt").read_text()
    assert "seq2seq (trained):  BLEU" in table and "word by word:" in table and "references:" in table


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


# -- translation ------------------------------------------------------------------------


def test_attention_is_a_masked_softmax_of_dot_products():
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)
    k = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    context, w = attend(q, k, mask)
    assert context.shape == (2, 3, 4) and w.shape == (2, 3, 5)
    assert torch.allclose(w.sum(-1), torch.ones(2, 3, dtype=torch.float64))
    assert (w[1, :, 2:] == 0).all()  # padding gets no weight
    # by hand, for one query of the second sentence: softmax over its two real words only
    s = k[1, :2] @ q[1, 0]
    expected = torch.softmax(s, 0)
    assert torch.allclose(w[1, 0, :2], expected)
    assert torch.allclose(context[1, 0], expected @ k[1, :2])


def test_sentence_groups_keep_every_translation_and_drop_long_pairs():
    pairs = [("Go.", "Va !"), ("Go.", "Marche."), ("Hi.", "Salut !"), ("I am very very tired.", "Je suis las.")]
    groups = sentence_groups(pairs, max_tokens=4)
    assert groups == {("go", "."): [["va", "!"], ["marche", "."]], ("hi", "."): [["salut", "!"]]}


def test_word_by_word_pairs_words_by_dice_not_by_raw_counts():
    train = [(("i", "run", "."), ["je", "cours", "."]), (("i", "eat", "."), ["je", "mange", "."])] * 3
    train += [(("you", "run", "."), ["tu", "cours", "."])]
    d = word_by_word(train)
    assert d["run"] == "cours" and d["eat"] == "mange" and d["i"] == "je" and d["you"] == "tu"


def test_seq2seq_shapes_padding_and_greedy_decoding():
    torch.manual_seed(0)
    model = Seq2Seq(src_vocab=12, tgt_vocab=9, emb=6, hidden=8).eval()
    src = text.pad([[4, 5, 6, text.EOS], [7, text.EOS]])
    y_in = text.pad([[text.SOS, 4, 5], [text.SOS, 6]])
    logits = model(src, y_in)
    assert logits.shape == (2, 3, 9)
    # padding changes nothing: the short sentence alone gives the same scores
    alone = model(src[1:, :2], y_in[1:, :2])
    assert torch.allclose(alone, logits[1:, :2], atol=1e-6)
    ids, attention = greedy_translate(model, src, max_len=5)
    assert ids.shape[0] == 2 and 1 <= ids.shape[1] <= 5 and attention.shape == (2, ids.shape[1], 4)
    assert torch.allclose(attention.sum(-1), torch.ones(2, ids.shape[1]), atol=1e-6)
    assert (attention[1, :, 2:] == 0).all()
