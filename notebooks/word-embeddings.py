# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Word embeddings, a character-level language model, and translation (EE-559 11.3)
# A word is a symbol: one-hot, every word equally far from every other. Word2vec's
# skip-gram learns a vector per word from the *distributional hypothesis*: words that
# appear in the same contexts mean similar things. For each word $c$ and each word $o$ near
# it, the model raises $\sigma(u_o \cdot v_c)$ and lowers $\sigma(u_n \cdot v_c)$ for a few
# random "negative" words $n$: words with the same neighbours end up with close vectors.
#
# The lab trains it on Shakespeare (90% of the text) and asks whether the learned
# similarities follow the contexts of the *held-out* 10%, against the untrained vectors.
# Then a GRU reads the text character by character and predicts the next one; its loss in
# bits per character is compared with the unigram baseline, and it writes some "Shakespeare".
#
# Last, words go from one language to another: a sequence-to-sequence model with attention
# learns English → French from 5,000 short sentence pairs (Tatoeba), and its translations of
# sentences it never saw are scored with BLEU.

# %%
from dlc.labs import run_lab

size = "default"  # "tiny": seconds; "full": the published numbers (CI runs "tiny")
result = run_lab("word-embeddings", size=size)
print(result.line)
for v in result.verdicts:
    print(v)

# %%
from IPython.display import Image, display

for path in result.artifacts:
    if path.suffix == ".png":
        display(Image(filename=str(path)))
print((result.run_dir / "neighbours.txt").read_text())
print(result.metrics["generated"])

# %% [markdown]
# ## Reading the results
# - The similarity of two trained vectors correlates with how much the two words share
#   their contexts in text the model never saw; the untrained vectors' does not (r ≈ 0).
# - Neighbours are often sensible (kings next to kings' names, numbers next to numbers),
#   but 180,000 words are very few for word2vec: the famous analogies
#   (king − man + woman ≈ queen) need corpora of millions to billions of words and mostly
#   fail here.
# - The character model starts at $\log_2(\text{alphabet})$ bits, passes the unigram
#   baseline (letter frequencies alone) within the first epoch and keeps going down: it
#   learns spelling, spaces and the play's layout (names in capitals followed by a colon).
#
# ## Bits per character by hand
# The unigram baseline is the cross-entropy of the held-out characters under the training
# characters' frequencies, in bits.

# %%
import math
from collections import Counter

from dlc import data

shakespeare = data.load("tinyshakespeare")
cut = int(0.9 * len(shakespeare))
freq = Counter(shakespeare[:cut])
total = sum(freq.values())
held = shakespeare[cut:]
bits = -sum(math.log2(freq[ch] / total) for ch in held if ch in freq) / len(held)
print(f"unigram: {bits:.2f} bits per character; uniform over {len(freq)} characters: {math.log2(len(freq)):.2f}")

# %% [markdown]
# ## Translation: an encoder, a decoder, and attention
# A sentence becomes a list of token ids (`dlc.text`: lower-case, punctuation split off,
# a vocabulary with `<pad>`, `<sos>`, `<eos>` and `<unk>`). The **encoder**, a GRU, reads the
# English ids and leaves one state per word. The **decoder**, another GRU started from the
# encoder's last state, writes French one word at a time: from `<sos>`, each step reads the
# previous word and scores every French word as the next; `<eos>` ends the sentence.
#
# One state vector is a narrow channel for a whole sentence. **Attention** lets each decoder
# step look back at all the encoder states: it scores each one by its dot product with the
# decoder's state, turns the scores into weights with a softmax (padding gets none), and
# adds the encoder states up with those weights into a *context* vector; the next word is
# predicted from the decoder state and the context together. The weights are a soft
# alignment: the figure above shows, for held-out sentences, which English words the model
# looked at to write each French word (often the word it translates; `<eos>` and the final
# punctuation collect the weight of words that have no single source).
#
# Training uses **teacher forcing**: the decoder reads the *reference's* previous word, so
# every position of the target is trained at once; at test time it must read its own
# previous guess (**greedy decoding**: the most likely word at each step), and a mistake can
# lead it astray. The teacher-forced loss per word is a clean held-out measure; what we
# care about is the translations themselves.

# %%
print("\n".join((result.run_dir / "translations.txt").read_text().splitlines()[:40]))

# %% [markdown]
# ## BLEU
# BLEU (Papineni et al., 2002) compares a translation with one or more references through
# their common n-grams, for n = 1 to 4: $p_n$ is the fraction of the candidate's n-grams found
# in a reference (each counted at most as often as it appears in one reference, so "the the
# the" does not score against "the cat"). Its counts are summed over the whole corpus before
# dividing. A short candidate would have high precisions by saying little, so BLEU multiplies
# the geometric mean of $p_1 \dots p_4$ by a **brevity penalty** $e^{1 - r/c}$ when the
# candidates' total length $c$ is below the references' $r$:
# $$\mathrm{BLEU} = \min(1, e^{1 - r/c}) \, \Big(\prod_{n=1}^{4} p_n\Big)^{1/4}.$$
# Here every translation of a held-out English sentence in the data is a reference, and no
# smoothing is used: an order without a single match makes BLEU 0. By hand, on two sentences:

# %%
from dlc.text import corpus_bleu, tokenize

candidates = [tokenize("je suis fatigué ."), tokenize("il est là .")]
references = [[tokenize("je suis fatigué ."), tokenize("je suis fatiguée .")], [tokenize("il est ici .")]]
b = corpus_bleu(candidates, references)
# unigrams: 4 + 3 of 8 match; bigrams 3 + 1 of 6; trigrams 2 + 0 of 4; 4-grams 1 + 0 of 2
by_hand = (7 / 8 * 4 / 6 * 2 / 4 * 1 / 2) ** 0.25
print(b, f"by hand: {by_hand:.4f}")

# %% [markdown]
# ## Reading the translation results
# - The untrained model writes the same few words whatever the input (BLEU 0); copying the
#   English scores 0 too (names and punctuation match, longer n-grams never do).
# - The word-by-word dictionary (each English word replaced by the French word most often
#   found with it) is a strong baseline on sentences this short: it gets the content words
#   but not the grammar ("suis sale ." for "I'm dirty."). The seq2seq model learns word
#   order, agreement and whole idioms from the pairs alone and writes fluent French, right
#   on some sentences ("je ne suis pas ici ."), but 4,000 pairs are very few: for words it
#   has seen a handful of times it writes a plausible sentence that says something else
#   ("je suis si malade ." for "I'm greedy."). At the default size it scores a little below
#   the dictionary; trained longer, with every word (`size="full"`), it passes it. Neural
#   translation needs data: its BLEU climbs with millions of pairs.
# - In the heat maps the decoder rests on the final "." for most words: the encoder's state
#   there has read the whole sentence, and that summary serves for the frequent words. To
#   write a noun it moves to the noun ("travail" at "job"), and a wrong noun is often
#   written while looking at the right place: the alignment worked, the vocabulary did not.
#   Trained longer (`size="full"`: 16 epochs, BLEU about 19) it looks at the word it
#   translates far more often (want → veux, job → boulot, have → j'ai).
# - The held-out loss flattens after a few epochs while the training loss keeps going down
#   (the model starts to learn its training sentences by heart); BLEU, which only counts
#   the most likely words, keeps rising a little longer, by jumps: it is a noisy measure on
#   a few hundred short sentences.
#
# ## Exercise
# 1. Train the embeddings longer (`--sgns_epochs 10`) or with more dimensions (`--dim 100`):
#    does the correlation with the held-out contexts rise? Do more analogies succeed?
# 2. Lower the sampling temperature (`--temperature 0.3`) and raise it (`--temperature 1.5`):
#    what happens to the generated text, and why?
# 3. Take attention away: make `attend` give every real source word the same weight (the
#    context is then the mean of the encoder states). How much BLEU is lost? Then try
#    Bahdanau's additive scores, $v^\top \tanh(W_q q + W_k k)$, instead of the dot product.
# 4. Train the translator longer (`--mt_epochs 30`): follow the held-out loss and BLEU in
#    `translation_bleu.png`. When would you stop, and on which measure?
