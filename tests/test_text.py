"""dlc.text: tokens, vocabulary, padding, and BLEU against values computed by hand."""

import math

import pytest
import torch

from dlc.errors import InvalidArgument
from dlc.text import EOS, PAD, SOS, UNK, Vocab, corpus_bleu, ngrams, pad, tokenize


def toks(s):
    return s.split()


# -- tokens -----------------------------------------------------------------------------


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("I'm so tired!") == ["i'm", "so", "tired", "!"]
    assert tokenize("Hi.") == ["hi", "."]
    assert tokenize("Tom, wait...") == ["tom", ",", "wait", ".", ".", "."]


def test_tokenize_french_spaces_apostrophes_and_hyphens():
    # narrow no-break space before "!", typographic apostrophe, a hyphenated word
    assert tokenize("Je suis si fatigué\u202f!") == ["je", "suis", "si", "fatigué", "!"]
    assert tokenize("Qu\u2019est-ce que c'est ?") == ["qu'est-ce", "que", "c'est", "?"]
    assert tokenize("« Aujourd'hui »") == ["«", "aujourd'hui", "»"]
    assert tokenize("") == []


def test_tokenize_refuses_what_is_not_a_string():
    with pytest.raises(InvalidArgument, match="needs a string, got list"):
        tokenize(["a", "b"])


# -- vocabulary and padding -------------------------------------------------------------


def test_vocab_specials_order_and_unknown_tokens():
    v = Vocab([toks("le chat dort"), toks("le chien dort"), toks("le chat")])
    assert v.itos[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"] and (PAD, SOS, EOS, UNK) == (0, 1, 2, 3)
    assert v.itos[4:] == ["le", "chat", "dort", "chien"]  # by count, ties in order of first appearance
    assert len(v) == 8 and "chat" in v and "oiseau" not in v
    assert v.encode(toks("le oiseau dort")) == [4, UNK, 6, EOS]
    assert v.encode(toks("le chat"), sos=True, eos=False) == [SOS, 4, 5]


def test_vocab_min_count_and_max_size():
    sentences = [toks("a a a b b c")]
    assert Vocab(sentences, min_count=2).itos[4:] == ["a", "b"]
    assert Vocab(sentences, max_size=1).itos[4:] == ["a"]
    assert Vocab(sentences, max_size=0).itos == ["<pad>", "<sos>", "<eos>", "<unk>"]


def test_vocab_decode_stops_at_eos_and_drops_pad_and_sos():
    v = Vocab([toks("le chat dort")])
    assert v.decode([SOS, 4, 5, EOS, 6, PAD]) == ["le", "chat"]
    assert v.decode(torch.tensor([4, UNK, PAD, 6])) == ["le", "<unk>", "dort"]
    assert v.decode(v.encode(toks("le chat"))) == ["le", "chat"]


def test_vocab_bad_input():
    with pytest.raises(InvalidArgument, match="sentence 1 must be a list of tokens"):
        Vocab([toks("a b"), "a b"])  # a string, not a token list
    with pytest.raises(InvalidArgument, match="min_count must be a whole number >= 1, got 0"):
        Vocab([], min_count=0)
    with pytest.raises(InvalidArgument, match="max_size must be None or a whole number >= 0, got -1"):
        Vocab([], max_size=-1)
    with pytest.raises(InvalidArgument, match=r"id 9 is outside the vocabulary \(0..4\)"):
        Vocab([["a"]]).decode([4, 9])
    with pytest.raises(InvalidArgument, match="tokens must be a list of tokens"):
        Vocab([["a"]]).encode("a")


def test_pad_to_the_longest_or_a_given_length():
    x = pad([[5, 6, 2], [7, 2], [2]])
    assert x.dtype == torch.long and x.tolist() == [[5, 6, 2], [7, 2, 0], [2, 0, 0]]
    assert pad([[1], []], length=3).tolist() == [[1, 0, 0], [0, 0, 0]]
    assert pad([[1]], length=2, value=-1).tolist() == [[1, -1]]
    with pytest.raises(InvalidArgument, match="a sequence has 3 ids, more than length=2"):
        pad([[1, 2, 3]], length=2)
    with pytest.raises(InvalidArgument, match="at least one sequence"):
        pad([])


# -- BLEU -------------------------------------------------------------------------------


def test_ngrams():
    assert ngrams(toks("a b a b"), 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert ngrams(toks("a"), 2) == {}


def test_identical_translations_score_one():
    cands = [toks("the cat sat on the mat"), toks("a dog barked loudly today")]
    b = corpus_bleu(cands, [[c] for c in cands])
    assert b.score == 1.0 and b.brevity_penalty == 1.0 and b.precisions == [1.0] * 4
    assert float(b) == 1.0 and "BLEU 100.00" in str(b)


def test_no_common_word_scores_zero():
    b = corpus_bleu([toks("un chat noir dort ici")], [[toks("the black cat sleeps here")]])
    assert b.score == 0.0 and b.matches == [0, 0, 0, 0]


def test_brevity_penalty_of_a_short_exact_prefix():
    # every n-gram of the candidate is in the reference: BLEU = BP = exp(1 - 6/4)
    b = corpus_bleu([toks("the cat sat on")], [[toks("the cat sat on the mat")]])
    assert b.precisions == [1.0, 1.0, 1.0, 1.0]
    assert b.candidate_length == 4 and b.reference_length == 6
    assert b.score == pytest.approx(math.exp(-0.5), rel=1e-12)  # 0.60653


def test_clipped_counts_papineni_example():
    # Papineni et al. (2002): "the" x 7 against two references; at most 2 "the" in one reference
    refs = [toks("the cat is on the mat"), toks("there is a cat on the mat")]
    b = corpus_bleu([["the"] * 7], [refs], max_n=1)
    assert b.matches == [2] and b.totals == [7]
    assert b.reference_length == 7 and b.brevity_penalty == 1.0  # the reference of length 7 is the closest
    assert b.score == pytest.approx(2 / 7, rel=1e-12)


def test_bigram_bleu_of_a_swap():
    # unigrams 4/4, bigrams: only "a b" of "a b", "b c", "c d" is in "a b d c"
    b = corpus_bleu([toks("a b c d")], [[toks("a b d c")]], max_n=2)
    assert b.precisions == [1.0, pytest.approx(1 / 3)]
    assert b.score == pytest.approx(math.sqrt(1 / 3), rel=1e-12)


def test_corpus_bleu_sums_counts_over_sentences():
    # sentence 1 identical (4, 3, 2, 1 n-grams, all matched); sentence 2 "x y" vs "x z":
    # 1 of 2 unigrams, 0 of 1 bigram, no 3- or 4-gram; the corpus: 5/6, 3/4, 2/2, 1/1
    b = corpus_bleu([toks("a b c d"), toks("x y")], [[toks("a b c d")], [toks("x z")]])
    assert b.matches == [5, 3, 2, 1] and b.totals == [6, 4, 2, 1]
    assert b.score == pytest.approx((5 / 6 * 3 / 4) ** 0.25, rel=1e-12)  # 0.8891, not the mean of 1 and 0


def test_epsilon_smoothing_of_an_order_without_match():
    cands, refs = [toks("a b")], [[toks("a c")]]
    assert corpus_bleu(cands, refs, max_n=2).score == 0.0  # no bigram matched: no smoothing, BLEU 0
    b = corpus_bleu(cands, refs, max_n=2, epsilon=0.1)
    assert b.precisions == [0.5, pytest.approx(0.1)]
    assert b.score == pytest.approx(math.sqrt(0.05), rel=1e-12)


def test_closest_reference_length_ties_go_to_the_shorter():
    # c = 4; references of 3 and 5 words are equally close: r = 3, so no brevity penalty
    b = corpus_bleu([toks("a b c d")], [[toks("a b c"), toks("a b c d e")]])
    assert b.reference_length == 3 and b.brevity_penalty == 1.0 and b.score == 1.0
    # one reference of 5 words: BP = exp(1 - 5/4)
    b = corpus_bleu([toks("a b c d")], [[toks("a b c d e")]])
    assert b.score == pytest.approx(math.exp(-0.25), rel=1e-12)


def test_empty_candidates_score_zero():
    b = corpus_bleu([[]], [[toks("a b")]])
    assert b.score == 0.0 and b.candidate_length == 0 and b.reference_length == 2


def test_bleu_bad_input():
    with pytest.raises(InvalidArgument, match="2 candidates but 1 lists of references"):
        corpus_bleu([["a"], ["b"]], [[["a"]]])
    with pytest.raises(InvalidArgument, match="candidate 0 must be a list of tokens"):
        corpus_bleu(["a b"], [[["a", "b"]]])
    with pytest.raises(InvalidArgument, match=r"references\[0\] is one token list"):
        corpus_bleu([["a", "b"]], [["a", "b"]])
    with pytest.raises(InvalidArgument, match=r"references\[0\] must be a non-empty list"):
        corpus_bleu([["a"]], [[]])
    with pytest.raises(InvalidArgument, match="reference 1 of sentence 0 must be a list of tokens"):
        corpus_bleu([["a"]], [[["a"], "a"]])
    with pytest.raises(InvalidArgument, match="at least one candidate"):
        corpus_bleu([], [])
    with pytest.raises(InvalidArgument, match="max_n must be a whole number >= 1, got 0"):
        corpus_bleu([["a"]], [[["a"]]], max_n=0)
    with pytest.raises(InvalidArgument, match=r"epsilon must be a number in \[0, 1\), got -0.1"):
        corpus_bleu([["a"]], [[["a"]]], epsilon=-0.1)
    with pytest.raises(InvalidArgument, match="not strings"):
        corpus_bleu("a b", "a b")
